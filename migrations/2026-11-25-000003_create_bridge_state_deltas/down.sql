DROP TABLE bridge_state_deltas;
