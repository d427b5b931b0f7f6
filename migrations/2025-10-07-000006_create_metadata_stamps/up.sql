-- Audit trail of metadata stamp operations; outlives its workflow.
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

-- Serves: MetadataStamp::find_by_file_hash.
CREATE INDEX metadata_stamps_file_hash_idx ON metadata_stamps (file_hash);
-- Serves: MetadataStamp::list_for_workflow, and the ON DELETE SET NULL lookup.
CREATE INDEX metadata_stamps_workflow_id_idx ON metadata_stamps (workflow_id);
-- Serves: MetadataStamp::list_by_namespace, newest first, keyset-paged.
CREATE INDEX metadata_stamps_namespace_created_idx
    ON metadata_stamps (namespace, created_at DESC, id DESC);
-- Serves: MetadataStamp::delete_older_than (retention: older than a cut-off).
CREATE INDEX metadata_stamps_created_idx ON metadata_stamps (created_at);

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
