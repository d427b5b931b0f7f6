-- The two append-only audit tables become range-partitioned by id, one
-- partition per UTC month, so that retention drops a month of rows as one
-- table (milliseconds, almost no WAL, no bloat) instead of deleting them row
-- by row. Why by id and not by created_at: docs/schema.md, "Partitioned
-- audit tables".
--
-- Ids are UUIDv7: their first 48 bits are the Unix time in milliseconds, so
-- ids sort by time and a month is one contiguous id range, from the UUID
-- whose time is the month's first millisecond (rest zero) to the next
-- month's. PRIMARY KEY (id) contains the partition key and stays valid on the
-- partitioned table: a redelivered row with the same id still conflicts
-- (ON CONFLICT (id) DO NOTHING), whatever partition it is routed to, because
-- the id alone decides the partition.
--
-- Partitions are named <table>_pYYYYMM; <table>_default holds ids that fit
-- no month (ids other than UUIDv7 written before this migration, or times
-- outside the months created). `bridge-admin retention` creates months
-- ahead, moving any default rows of a new month into it, and drops months
-- older than each table's window. diesel.toml keeps partitions out of
-- schema.rs.

-- A UUIDv7 made in the database (PostgreSQL 13-17 have no built-in one): the
-- column default, so rows written by hand land in the current month too.
CREATE FUNCTION uuid_generate_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
COMMENT ON FUNCTION uuid_generate_v7() IS 'A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, random rest; default id of the partitioned audit tables.';

-- The old tables step aside under other names, with their index names.
ALTER TABLE fsm_transitions RENAME TO fsm_transitions_plain;
ALTER TABLE fsm_transitions_plain RENAME CONSTRAINT fsm_transitions_pkey TO fsm_transitions_plain_pkey;
ALTER INDEX fsm_transitions_entity_created_idx RENAME TO fsm_transitions_plain_entity_created_idx;
ALTER INDEX fsm_transitions_created_idx RENAME TO fsm_transitions_plain_created_idx;
ALTER TABLE metadata_stamps RENAME TO metadata_stamps_plain;
ALTER TABLE metadata_stamps_plain RENAME CONSTRAINT metadata_stamps_pkey TO metadata_stamps_plain_pkey;
ALTER INDEX metadata_stamps_file_hash_idx RENAME TO metadata_stamps_plain_file_hash_idx;
ALTER INDEX metadata_stamps_workflow_id_idx RENAME TO metadata_stamps_plain_workflow_id_idx;
ALTER INDEX metadata_stamps_namespace_created_idx RENAME TO metadata_stamps_plain_namespace_created_idx;
ALTER INDEX metadata_stamps_created_idx RENAME TO metadata_stamps_plain_created_idx;

CREATE TABLE fsm_transitions (
    id               UUID         NOT NULL DEFAULT uuid_generate_v7(),
    entity_id        UUID         NOT NULL,
    entity_type      VARCHAR(100) NOT NULL,
    from_state       VARCHAR(50),
    to_state         VARCHAR(50)  NOT NULL,
    transition_event VARCHAR(100) NOT NULL,
    transition_data  JSONB        NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT fsm_transitions_pkey PRIMARY KEY (id)
) PARTITION BY RANGE (id);

-- Serves: FsmTransition::history (one entity, in time order; id breaks ties
-- between rows written in one transaction, which share now()).
CREATE INDEX fsm_transitions_entity_created_idx ON fsm_transitions (entity_id, created_at, id);
-- Serves: FsmTransition::recent (newest first) and
-- FsmTransition::delete_older_than (rows of the default partition by age).
CREATE INDEX fsm_transitions_created_idx ON fsm_transitions (created_at, id);

CREATE TABLE metadata_stamps (
    id          UUID         NOT NULL DEFAULT uuid_generate_v7(),
    workflow_id UUID,
    file_hash   VARCHAR(128) NOT NULL,
    stamp_data  JSONB        NOT NULL DEFAULT '{}',
    namespace   VARCHAR(255) NOT NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT metadata_stamps_pkey PRIMARY KEY (id),
    CONSTRAINT metadata_stamps_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflow_executions (id) ON DELETE SET NULL
) PARTITION BY RANGE (id);

-- Serves: MetadataStamp::find_by_file_hash.
CREATE INDEX metadata_stamps_file_hash_idx ON metadata_stamps (file_hash);
-- Serves: MetadataStamp::list_for_workflow, and the ON DELETE SET NULL lookup.
CREATE INDEX metadata_stamps_workflow_id_idx ON metadata_stamps (workflow_id);
-- Serves: MetadataStamp::list_by_namespace, newest first, keyset-paged.
CREATE INDEX metadata_stamps_namespace_created_idx
    ON metadata_stamps (namespace, created_at DESC, id DESC);
-- Serves: MetadataStamp::delete_older_than (rows of the default partition by age).
CREATE INDEX metadata_stamps_created_idx ON metadata_stamps (created_at);

-- One partition per month from the oldest UUIDv7 row (at most 24 months
-- back) to the month after this one, and the default partition.
DO $$
DECLARE
    parent     text;
    this_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    oldest     timestamptz;
    month      timestamptz;
BEGIN
    FOREACH parent IN ARRAY ARRAY['fsm_transitions', 'metadata_stamps'] LOOP
        EXECUTE format(
            $sql$SELECT to_timestamp(min((('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48))::bigint) / 1000.0)
                 FROM %I WHERE substr(id::text, 15, 1) = '7'
                   AND id >= (lpad(to_hex((extract(epoch FROM $1) * 1000)::bigint), 12, '0') || repeat('0', 20))::uuid$sql$,
            parent || '_plain')
            INTO oldest USING this_month - interval '24 months';
        month := LEAST(date_trunc('month', COALESCE(oldest, this_month) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', this_month);
        WHILE month <= this_month + interval '1 month' LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                parent || '_p' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM'), parent,
                lpad(to_hex((extract(epoch FROM month) * 1000)::bigint), 12, '0') || repeat('0', 20),
                lpad(to_hex((extract(epoch FROM month + interval '1 month') * 1000)::bigint), 12, '0') || repeat('0', 20));
            month := month + interval '1 month';
        END LOOP;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', parent || '_default', parent);
    END LOOP;
END
$$;

INSERT INTO fsm_transitions SELECT * FROM fsm_transitions_plain;
INSERT INTO metadata_stamps SELECT * FROM metadata_stamps_plain;
DROP TABLE fsm_transitions_plain;
DROP TABLE metadata_stamps_plain;

COMMENT ON TABLE fsm_transitions IS 'Append-only audit of state-machine transitions; one partition per month of id time.';
COMMENT ON COLUMN fsm_transitions.id IS 'Primary key of the transition; a UUIDv7, whose time picks the monthly partition.';
COMMENT ON COLUMN fsm_transitions.entity_id IS 'The workflow, bridge or other entity that moved; no foreign key.';
COMMENT ON COLUMN fsm_transitions.entity_type IS 'Kind of entity, e.g. workflow or bridge_state.';
COMMENT ON COLUMN fsm_transitions.from_state IS 'State before the transition; NULL for the initial state.';
COMMENT ON COLUMN fsm_transitions.to_state IS 'State after the transition.';
COMMENT ON COLUMN fsm_transitions.transition_event IS 'Event that caused the transition.';
COMMENT ON COLUMN fsm_transitions.transition_data IS 'Free-form transition context; empty object when none.';
COMMENT ON COLUMN fsm_transitions.created_at IS 'When the transition was recorded.';
COMMENT ON INDEX fsm_transitions_entity_created_idx IS 'FsmTransition::history: one entity in time order.';
COMMENT ON INDEX fsm_transitions_created_idx IS 'FsmTransition::recent, newest first; FsmTransition::delete_older_than.';

COMMENT ON TABLE metadata_stamps IS 'Audit trail of metadata stamp operations; one partition per month of id time.';
COMMENT ON COLUMN metadata_stamps.id IS 'Primary key of the stamp record; a UUIDv7, whose time picks the monthly partition.';
COMMENT ON COLUMN metadata_stamps.workflow_id IS 'Workflow that stamped; set to NULL when the workflow is deleted.';
COMMENT ON COLUMN metadata_stamps.file_hash IS 'BLAKE3 hash of the stamped content.';
COMMENT ON COLUMN metadata_stamps.stamp_data IS 'The complete stamp.';
COMMENT ON COLUMN metadata_stamps.namespace IS 'Multi-tenant namespace of the stamp.';
COMMENT ON COLUMN metadata_stamps.created_at IS 'When the stamp was recorded.';
COMMENT ON INDEX metadata_stamps_file_hash_idx IS 'MetadataStamp::find_by_file_hash.';
COMMENT ON INDEX metadata_stamps_workflow_id_idx IS 'MetadataStamp::list_for_workflow; SET NULL on workflow delete.';
COMMENT ON INDEX metadata_stamps_namespace_created_idx IS 'MetadataStamp::list_by_namespace, newest first (keyset paging).';
COMMENT ON INDEX metadata_stamps_created_idx IS 'MetadataStamp::delete_older_than: default-partition rows by age.';
