-- The aggregation deltas applied to bridge_states, by id: a delta delivered
-- again finds its id here and changes nothing.
CREATE TABLE bridge_state_deltas (
    id                        UUID        NOT NULL,
    bridge_id                 UUID        NOT NULL,
    total_workflows_processed BIGINT      NOT NULL,
    total_items_aggregated    BIGINT      NOT NULL,
    created_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT bridge_state_deltas_pkey PRIMARY KEY (id),
    CONSTRAINT bridge_state_deltas_total_workflows_processed_check CHECK (total_workflows_processed >= 0),
    CONSTRAINT bridge_state_deltas_total_items_aggregated_check CHECK (total_items_aggregated >= 0)
);

-- Serves: AppliedDelta::delete_older_than (retention).
CREATE INDEX bridge_state_deltas_created_at_idx ON bridge_state_deltas (created_at);

COMMENT ON TABLE bridge_state_deltas IS 'Aggregation deltas applied to bridge_states, one row per delta id; makes a redelivered delta a no-op.';
COMMENT ON COLUMN bridge_state_deltas.id IS 'The delta id the reducer gave (e.g. its event id); primary key.';
COMMENT ON COLUMN bridge_state_deltas.bridge_id IS 'The bridge the delta was applied to (no FK: kept when the bridge state goes).';
COMMENT ON COLUMN bridge_state_deltas.total_workflows_processed IS 'Workflows the delta added; never negative.';
COMMENT ON COLUMN bridge_state_deltas.total_items_aggregated IS 'Items the delta added; never negative.';
COMMENT ON COLUMN bridge_state_deltas.created_at IS 'When the delta was applied.';
COMMENT ON INDEX bridge_state_deltas_created_at_idx IS 'Deltas applied before a cut-off (retention).';
