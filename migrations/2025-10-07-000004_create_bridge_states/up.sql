-- Reducer aggregation state, one row per bridge, written by upsert.
CREATE TABLE bridge_states (
    bridge_id                  UUID         NOT NULL,
    namespace                  VARCHAR(255) NOT NULL,
    total_workflows_processed  BIGINT       NOT NULL DEFAULT 0,
    total_items_aggregated     BIGINT       NOT NULL DEFAULT 0,
    aggregation_metadata       JSONB        NOT NULL DEFAULT '{}',
    current_fsm_state          VARCHAR(50)  NOT NULL,
    last_aggregation_timestamp TIMESTAMPTZ,
    created_at                 TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at                 TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT bridge_states_pkey PRIMARY KEY (bridge_id),
    CONSTRAINT bridge_states_total_workflows_processed_check CHECK (total_workflows_processed >= 0),
    CONSTRAINT bridge_states_total_items_aggregated_check CHECK (total_items_aggregated >= 0)
);

-- Serves: BridgeState::list_by_namespace.
CREATE INDEX bridge_states_namespace_idx ON bridge_states (namespace);

SELECT diesel_manage_updated_at('bridge_states');

COMMENT ON TABLE bridge_states IS 'Reducer aggregation state, one row per bridge.';
COMMENT ON COLUMN bridge_states.bridge_id IS 'Identifies the bridge; primary key.';
COMMENT ON COLUMN bridge_states.namespace IS 'Multi-tenant namespace of the bridge.';
COMMENT ON COLUMN bridge_states.total_workflows_processed IS 'Workflows processed so far; only grows, never negative.';
COMMENT ON COLUMN bridge_states.total_items_aggregated IS 'Items aggregated so far; only grows, never negative.';
COMMENT ON COLUMN bridge_states.aggregation_metadata IS 'Free-form aggregation state; empty object when none.';
COMMENT ON COLUMN bridge_states.current_fsm_state IS 'Current state of the bridge state machine.';
COMMENT ON COLUMN bridge_states.last_aggregation_timestamp IS 'When the reducer last aggregated into this row.';
COMMENT ON COLUMN bridge_states.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN bridge_states.updated_at IS 'When the row last changed; kept by trigger.';
COMMENT ON INDEX bridge_states_namespace_idx IS 'Bridge states of a namespace.';
