-- Append-only audit of state-machine transitions of any entity.
CREATE TABLE fsm_transitions (
    id               UUID         NOT NULL DEFAULT gen_random_uuid(),
    entity_id        UUID         NOT NULL,
    entity_type      VARCHAR(100) NOT NULL,
    from_state       VARCHAR(50),
    to_state         VARCHAR(50)  NOT NULL,
    transition_event VARCHAR(100) NOT NULL,
    transition_data  JSONB        NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT fsm_transitions_pkey PRIMARY KEY (id)
);

-- Serves: FsmTransition::history (one entity, in time order; id breaks ties
-- between rows written in one transaction, which share now()).
CREATE INDEX fsm_transitions_entity_created_idx ON fsm_transitions (entity_id, created_at, id);
-- Serves: FsmTransition::recent (newest first) and
-- FsmTransition::delete_older_than (retention: older than a cut-off).
CREATE INDEX fsm_transitions_created_idx ON fsm_transitions (created_at, id);

COMMENT ON TABLE fsm_transitions IS 'Append-only audit of state-machine transitions.';
COMMENT ON COLUMN fsm_transitions.id IS 'Primary key of the transition.';
COMMENT ON COLUMN fsm_transitions.entity_id IS 'The workflow, bridge or other entity that moved; no foreign key.';
COMMENT ON COLUMN fsm_transitions.entity_type IS 'Kind of entity, e.g. workflow or bridge_state.';
COMMENT ON COLUMN fsm_transitions.from_state IS 'State before the transition; NULL for the initial state.';
COMMENT ON COLUMN fsm_transitions.to_state IS 'State after the transition.';
COMMENT ON COLUMN fsm_transitions.transition_event IS 'Event that caused the transition.';
COMMENT ON COLUMN fsm_transitions.transition_data IS 'Free-form transition context; empty object when none.';
COMMENT ON COLUMN fsm_transitions.created_at IS 'When the transition was recorded.';
COMMENT ON INDEX fsm_transitions_entity_created_idx IS 'Transition history of one entity in time order.';
COMMENT ON INDEX fsm_transitions_created_idx IS 'Recent transitions; retention by age.';
