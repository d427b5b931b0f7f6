-- Restores the plain tables of migrations 3 and 6 with every row, from every
-- partition (those `bridge-admin retention` created included). The
-- partitioned tables are renamed first and dropped only once their rows are
-- in the plain tables, so nothing is lost (and the data guard, which counts
-- the rows of tables a down.sql drops by name, has nothing to refuse).
-- Partitions that retention detached are standalone tables, left alone.

ALTER TABLE fsm_transitions RENAME TO fsm_transitions_partitioned;
ALTER TABLE fsm_transitions_partitioned RENAME CONSTRAINT fsm_transitions_pkey TO fsm_transitions_partitioned_pkey;
ALTER INDEX fsm_transitions_entity_created_idx RENAME TO fsm_transitions_partitioned_entity_created_idx;
ALTER INDEX fsm_transitions_created_idx RENAME TO fsm_transitions_partitioned_created_idx;
ALTER TABLE metadata_stamps RENAME TO metadata_stamps_partitioned;
ALTER TABLE metadata_stamps_partitioned RENAME CONSTRAINT metadata_stamps_pkey TO metadata_stamps_partitioned_pkey;
ALTER INDEX metadata_stamps_file_hash_idx RENAME TO metadata_stamps_partitioned_file_hash_idx;
ALTER INDEX metadata_stamps_workflow_id_idx RENAME TO metadata_stamps_partitioned_workflow_id_idx;
ALTER INDEX metadata_stamps_namespace_created_idx RENAME TO metadata_stamps_partitioned_namespace_created_idx;
ALTER INDEX metadata_stamps_created_idx RENAME TO metadata_stamps_partitioned_created_idx;

-- As migration 2025-10-07-000003 creates it.
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
CREATE INDEX fsm_transitions_entity_created_idx ON fsm_transitions (entity_id, created_at, id);
CREATE INDEX fsm_transitions_created_idx ON fsm_transitions (created_at, id);

-- As migration 2025-10-07-000006 creates it.
CREATE TABLE metadata_stamps (
    id          UUID         NOT NULL DEFAULT gen_random_uuid(),
    workflow_id UUID,
    file_hash   VARCHAR(128) NOT NULL,
    stamp_data  JSONB        NOT NULL DEFAULT '{}',
    namespace   VARCHAR(255) NOT NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT metadata_stamps_pkey PRIMARY KEY (id),
    CONSTRAINT metadata_stamps_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflow_executions (id) ON DELETE SET NULL
);
CREATE INDEX metadata_stamps_file_hash_idx ON metadata_stamps (file_hash);
CREATE INDEX metadata_stamps_workflow_id_idx ON metadata_stamps (workflow_id);
CREATE INDEX metadata_stamps_namespace_created_idx
    ON metadata_stamps (namespace, created_at DESC, id DESC);
CREATE INDEX metadata_stamps_created_idx ON metadata_stamps (created_at);

INSERT INTO fsm_transitions SELECT * FROM fsm_transitions_partitioned;
INSERT INTO metadata_stamps SELECT * FROM metadata_stamps_partitioned;
DROP TABLE fsm_transitions_partitioned;
DROP TABLE metadata_stamps_partitioned;
DROP FUNCTION uuid_generate_v7();

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

COMMENT ON TABLE metadata_stamps IS 'Audit trail of metadata stamp operations.';
COMMENT ON COLUMN metadata_stamps.id IS 'Primary key of the stamp record.';
COMMENT ON COLUMN metadata_stamps.workflow_id IS 'Workflow that stamped; set to NULL when the workflow is deleted.';
COMMENT ON COLUMN metadata_stamps.file_hash IS 'BLAKE3 hash of the stamped content.';
COMMENT ON COLUMN metadata_stamps.stamp_data IS 'The complete stamp.';
COMMENT ON COLUMN metadata_stamps.namespace IS 'Multi-tenant namespace of the stamp.';
COMMENT ON COLUMN metadata_stamps.created_at IS 'When the stamp was recorded.';
COMMENT ON INDEX metadata_stamps_file_hash_idx IS 'Stamps by file_hash.';
COMMENT ON INDEX metadata_stamps_workflow_id_idx IS 'Stamps of a workflow; SET NULL on workflow delete.';
COMMENT ON INDEX metadata_stamps_namespace_created_idx IS 'Stamps of a namespace, newest first (keyset paging).';
COMMENT ON INDEX metadata_stamps_created_idx IS 'Retention: stamps older than a cut-off.';
