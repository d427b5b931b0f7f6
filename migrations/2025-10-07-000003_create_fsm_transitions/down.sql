DROP TABLE fsm_transitions;
