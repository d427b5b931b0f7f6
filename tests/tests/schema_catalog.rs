//! The migrated catalog matches docs/schema.md: columns, constraints, indexes, triggers, comments.

use bridge_testkit::TestDatabase;
use bridge_tests::{lines, COLUMNS, CONSTRAINTS, INDEXES, TRIGGERS};
use chrono::Datelike;

/// Every column: type, nullability and default, as docs/schema.md specifies them.
const EXPECTED_COLUMNS: &[&str] = &[
    "adapter_deferred_events.topic character varying(249) NOT NULL",
    "adapter_deferred_events.kafka_partition integer NOT NULL",
    "adapter_deferred_events.kafka_offset bigint NOT NULL",
    "adapter_deferred_events.event_id uuid NOT NULL",
    "adapter_deferred_events.event_type character varying(100) NOT NULL",
    "adapter_deferred_events.waits_for_kind character varying(20) NOT NULL",
    "adapter_deferred_events.waits_for_key character varying(255) NOT NULL",
    "adapter_deferred_events.message_key bytea",
    "adapter_deferred_events.payload bytea NOT NULL",
    "adapter_deferred_events.header_names text[] NOT NULL DEFAULT '{}'::text[]",
    "adapter_deferred_events.header_values bytea[] NOT NULL DEFAULT '{}'::bytea[]",
    "adapter_deferred_events.reason text NOT NULL",
    "adapter_deferred_events.first_seen timestamp with time zone NOT NULL DEFAULT now()",
    "adapter_deferred_events.last_attempt timestamp with time zone NOT NULL DEFAULT now()",
    "adapter_deferred_events.attempts integer NOT NULL DEFAULT 1",
    "bridge_state_deltas.id uuid NOT NULL",
    "bridge_state_deltas.bridge_id uuid NOT NULL",
    "bridge_state_deltas.total_workflows_processed bigint NOT NULL",
    "bridge_state_deltas.total_items_aggregated bigint NOT NULL",
    "bridge_state_deltas.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "bridge_states.bridge_id uuid NOT NULL",
    "bridge_states.namespace character varying(255) NOT NULL",
    "bridge_states.total_workflows_processed bigint NOT NULL DEFAULT 0",
    "bridge_states.total_items_aggregated bigint NOT NULL DEFAULT 0",
    "bridge_states.aggregation_metadata jsonb NOT NULL DEFAULT '{}'::jsonb",
    "bridge_states.current_fsm_state character varying(50) NOT NULL",
    "bridge_states.last_aggregation_timestamp timestamp with time zone",
    "bridge_states.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "bridge_states.updated_at timestamp with time zone NOT NULL DEFAULT now()",
    "fsm_transitions.id uuid NOT NULL DEFAULT uuid_generate_v7()",
    "fsm_transitions.entity_id uuid NOT NULL",
    "fsm_transitions.entity_type character varying(100) NOT NULL",
    "fsm_transitions.from_state character varying(50)",
    "fsm_transitions.to_state character varying(50) NOT NULL",
    "fsm_transitions.transition_event character varying(100) NOT NULL",
    "fsm_transitions.transition_data jsonb NOT NULL DEFAULT '{}'::jsonb",
    "fsm_transitions.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "metadata_stamps.id uuid NOT NULL DEFAULT uuid_generate_v7()",
    "metadata_stamps.workflow_id uuid",
    "metadata_stamps.file_hash character varying(128) NOT NULL",
    "metadata_stamps.stamp_data jsonb NOT NULL DEFAULT '{}'::jsonb",
    "metadata_stamps.namespace character varying(255) NOT NULL",
    "metadata_stamps.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "node_registrations.node_id character varying(255) NOT NULL",
    "node_registrations.node_type character varying(100) NOT NULL",
    "node_registrations.node_version character varying(50) NOT NULL",
    "node_registrations.capabilities jsonb NOT NULL DEFAULT '{}'::jsonb",
    "node_registrations.endpoints jsonb NOT NULL DEFAULT '{}'::jsonb",
    "node_registrations.metadata jsonb NOT NULL DEFAULT '{}'::jsonb",
    "node_registrations.health_status character varying(50) NOT NULL DEFAULT 'UNKNOWN'::character varying",
    "node_registrations.last_heartbeat timestamp with time zone",
    "node_registrations.registered_at timestamp with time zone NOT NULL DEFAULT now()",
    "node_registrations.updated_at timestamp with time zone NOT NULL DEFAULT now()",
    "workflow_executions.id uuid NOT NULL DEFAULT gen_random_uuid()",
    "workflow_executions.correlation_id uuid NOT NULL",
    "workflow_executions.workflow_type character varying(100) NOT NULL",
    "workflow_executions.current_state character varying(50) NOT NULL",
    "workflow_executions.namespace character varying(255) NOT NULL",
    "workflow_executions.started_at timestamp with time zone NOT NULL",
    "workflow_executions.completed_at timestamp with time zone",
    "workflow_executions.execution_time_ms integer",
    "workflow_executions.error_message text",
    "workflow_executions.metadata jsonb NOT NULL DEFAULT '{}'::jsonb",
    "workflow_executions.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "workflow_executions.updated_at timestamp with time zone NOT NULL DEFAULT now()",
    "workflow_steps.id uuid NOT NULL DEFAULT gen_random_uuid()",
    "workflow_steps.workflow_id uuid NOT NULL",
    "workflow_steps.step_name character varying(100) NOT NULL",
    "workflow_steps.step_order integer NOT NULL",
    "workflow_steps.status character varying(50) NOT NULL",
    "workflow_steps.execution_time_ms integer",
    "workflow_steps.step_data jsonb NOT NULL DEFAULT '{}'::jsonb",
    "workflow_steps.error_message text",
    "workflow_steps.created_at timestamp with time zone NOT NULL DEFAULT now()",
];

/// Primary keys, the correlation_id UNIQUE, foreign keys with their ON DELETE
/// rules, and the CHECKs on states, counters, durations and time order.
const EXPECTED_CONSTRAINTS: &[&str] = &[
    "adapter_deferred_events adapter_deferred_events_attempts_check CHECK ((attempts >= 1))",
    "adapter_deferred_events adapter_deferred_events_kafka_offset_check CHECK ((kafka_offset >= 0))",
    "adapter_deferred_events adapter_deferred_events_kafka_partition_check CHECK ((kafka_partition >= 0))",
    "adapter_deferred_events adapter_deferred_events_pkey PRIMARY KEY (topic, kafka_partition, kafka_offset)",
    "adapter_deferred_events adapter_deferred_events_waits_for_kind_check CHECK (((waits_for_kind)::text = ANY ((ARRAY['workflow'::character varying, 'node'::character varying])::text[])))",
    "bridge_state_deltas bridge_state_deltas_pkey PRIMARY KEY (id)",
    "bridge_state_deltas bridge_state_deltas_total_items_aggregated_check CHECK ((total_items_aggregated >= 0))",
    "bridge_state_deltas bridge_state_deltas_total_workflows_processed_check CHECK ((total_workflows_processed >= 0))",
    "bridge_states bridge_states_pkey PRIMARY KEY (bridge_id)",
    "bridge_states bridge_states_total_items_aggregated_check CHECK ((total_items_aggregated >= 0))",
    "bridge_states bridge_states_total_workflows_processed_check CHECK ((total_workflows_processed >= 0))",
    "fsm_transitions fsm_transitions_pkey PRIMARY KEY (id)",
    "metadata_stamps metadata_stamps_pkey PRIMARY KEY (id)",
    "metadata_stamps metadata_stamps_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES workflow_executions(id) ON DELETE SET NULL",
    "node_registrations node_registrations_health_status_check CHECK (((health_status)::text = ANY ((ARRAY['HEALTHY'::character varying, 'DEGRADED'::character varying, 'UNHEALTHY'::character varying, 'UNKNOWN'::character varying])::text[])))",
    "node_registrations node_registrations_pkey PRIMARY KEY (node_id)",
    "workflow_executions workflow_executions_completed_at_check CHECK ((completed_at >= started_at))",
    "workflow_executions workflow_executions_correlation_id_key UNIQUE (correlation_id)",
    "workflow_executions workflow_executions_current_state_check CHECK (((current_state)::text = ANY ((ARRAY['PENDING'::character varying, 'PROCESSING'::character varying, 'COMPLETED'::character varying, 'FAILED'::character varying])::text[])))",
    "workflow_executions workflow_executions_execution_time_ms_check CHECK ((execution_time_ms >= 0))",
    "workflow_executions workflow_executions_pkey PRIMARY KEY (id)",
    "workflow_steps workflow_steps_execution_time_ms_check CHECK ((execution_time_ms >= 0))",
    "workflow_steps workflow_steps_pkey PRIMARY KEY (id)",
    "workflow_steps workflow_steps_status_check CHECK (((status)::text = ANY ((ARRAY['PENDING'::character varying, 'RUNNING'::character varying, 'COMPLETED'::character varying, 'FAILED'::character varying])::text[])))",
    "workflow_steps workflow_steps_step_order_check CHECK ((step_order >= 0))",
    "workflow_steps workflow_steps_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES workflow_executions(id) ON DELETE CASCADE",
];

/// One index per query the data-access API runs (plus the key indexes); on
/// the partitioned audit tables, the parent's (`ON ONLY`), which every
/// partition copies.
const EXPECTED_INDEXES: &[&str] = &[
    "CREATE INDEX adapter_deferred_events_first_seen_idx ON public.adapter_deferred_events USING btree (first_seen)",
    "CREATE INDEX adapter_deferred_events_waits_for_idx ON public.adapter_deferred_events USING btree (waits_for_kind, waits_for_key)",
    "CREATE UNIQUE INDEX adapter_deferred_events_pkey ON public.adapter_deferred_events USING btree (topic, kafka_partition, kafka_offset)",
    "CREATE INDEX bridge_state_deltas_created_at_idx ON public.bridge_state_deltas USING btree (created_at)",
    "CREATE INDEX bridge_states_namespace_idx ON public.bridge_states USING btree (namespace)",
    "CREATE INDEX fsm_transitions_created_idx ON ONLY public.fsm_transitions USING btree (created_at, id)",
    "CREATE INDEX fsm_transitions_entity_created_idx ON ONLY public.fsm_transitions USING btree (entity_id, created_at, id)",
    "CREATE INDEX metadata_stamps_created_idx ON ONLY public.metadata_stamps USING btree (created_at)",
    "CREATE INDEX metadata_stamps_file_hash_idx ON ONLY public.metadata_stamps USING btree (file_hash)",
    "CREATE INDEX metadata_stamps_namespace_created_idx ON ONLY public.metadata_stamps USING btree (namespace, created_at DESC, id DESC)",
    "CREATE INDEX metadata_stamps_workflow_id_idx ON ONLY public.metadata_stamps USING btree (workflow_id)",
    "CREATE INDEX node_registrations_last_heartbeat_idx ON public.node_registrations USING btree (last_heartbeat)",
    "CREATE INDEX node_registrations_type_health_idx ON public.node_registrations USING btree (node_type, health_status)",
    "CREATE INDEX workflow_executions_finished_idx ON public.workflow_executions USING btree (completed_at) WHERE ((current_state)::text = ANY ((ARRAY['COMPLETED'::character varying, 'FAILED'::character varying])::text[]))",
    "CREATE INDEX workflow_executions_namespace_state_created_idx ON public.workflow_executions USING btree (namespace, current_state, created_at DESC, id DESC)",
    "CREATE INDEX workflow_steps_workflow_order_idx ON public.workflow_steps USING btree (workflow_id, step_order)",
    "CREATE UNIQUE INDEX bridge_state_deltas_pkey ON public.bridge_state_deltas USING btree (id)",
    "CREATE UNIQUE INDEX bridge_states_pkey ON public.bridge_states USING btree (bridge_id)",
    "CREATE UNIQUE INDEX fsm_transitions_pkey ON ONLY public.fsm_transitions USING btree (id)",
    "CREATE UNIQUE INDEX metadata_stamps_pkey ON ONLY public.metadata_stamps USING btree (id)",
    "CREATE UNIQUE INDEX node_registrations_pkey ON public.node_registrations USING btree (node_id)",
    "CREATE UNIQUE INDEX workflow_executions_correlation_id_key ON public.workflow_executions USING btree (correlation_id)",
    "CREATE UNIQUE INDEX workflow_executions_pkey ON public.workflow_executions USING btree (id)",
    "CREATE UNIQUE INDEX workflow_steps_pkey ON public.workflow_steps USING btree (id)",
];

/// `updated_at` is kept by Diesel's trigger on the three tables that have it.
const EXPECTED_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.bridge_states FOR EACH ROW EXECUTE FUNCTION diesel_set_updated_at()",
    "CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.node_registrations FOR EACH ROW EXECUTE FUNCTION diesel_set_updated_at()",
    "CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.workflow_executions FOR EACH ROW EXECUTE FUNCTION diesel_set_updated_at()",
];

fn assert_lines(what: &str, actual: Vec<String>, expected: &[&str]) {
    let missing: Vec<_> = expected
        .iter()
        .filter(|line| !actual.iter().any(|have| have == *line))
        .collect();
    let unexpected: Vec<_> = actual
        .iter()
        .filter(|line| !expected.contains(&line.as_str()))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{what} drifted from docs/schema.md\nmissing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
}

#[test]
fn columns_match_the_specification() {
    let db = TestDatabase::migrated();
    assert_lines(
        "columns",
        lines(&mut db.sync_conn(), COLUMNS),
        EXPECTED_COLUMNS,
    );
}

#[test]
fn constraints_match_the_specification() {
    let db = TestDatabase::migrated();
    assert_lines(
        "constraints",
        lines(&mut db.sync_conn(), CONSTRAINTS),
        EXPECTED_CONSTRAINTS,
    );
}

#[test]
fn indexes_match_the_specification() {
    let db = TestDatabase::migrated();
    assert_lines(
        "indexes",
        lines(&mut db.sync_conn(), INDEXES),
        EXPECTED_INDEXES,
    );
}

#[test]
fn updated_at_triggers_exist_where_rows_change() {
    let db = TestDatabase::migrated();
    assert_lines(
        "triggers",
        lines(&mut db.sync_conn(), TRIGGERS),
        EXPECTED_TRIGGERS,
    );
}

#[test]
fn the_tables_of_the_specification_exist_and_nothing_else() {
    let db = TestDatabase::migrated();
    let tables = lines(
        &mut db.sync_conn(),
        "SELECT relname AS line FROM pg_class
         WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')
           AND NOT relispartition
         ORDER BY 1",
    );
    assert_eq!(
        tables,
        [
            "__bridge_migration_checksums",
            "__diesel_schema_migrations",
            "adapter_deferred_events",
            "bridge_state_deltas",
            "bridge_states",
            "fsm_transitions",
            "metadata_stamps",
            "node_registrations",
            "workflow_executions",
            "workflow_steps",
        ]
    );
}

#[test]
fn every_table_column_and_index_carries_a_comment() {
    let db = TestDatabase::migrated();
    let uncommented = lines(
        &mut db.sync_conn(),
        "SELECT c.relname AS line FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'i', 'I')
           AND NOT c.relispartition AND c.relname NOT LIKE '\\_\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
           AND obj_description(c.oid, 'pg_class') IS NULL
         UNION ALL
         SELECT c.relname || '.' || a.attname FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
           AND NOT c.relispartition AND c.relname NOT LIKE '\\_\\_%'
           AND col_description(c.oid, a.attnum) IS NULL
         ORDER BY 1",
    );
    assert!(
        uncommented.is_empty(),
        "without a COMMENT: {uncommented:#?}"
    );
}

#[test]
fn every_foreign_key_is_served_by_an_index() {
    let db = TestDatabase::migrated();
    // A foreign key without an index on its leading columns makes every
    // delete of a parent row scan the child table.
    let unindexed = lines(
        &mut db.sync_conn(),
        "SELECT k.conrelid::regclass || '.' || k.conname AS line
         FROM pg_constraint k
         WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace
           AND NOT EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = k.conrelid
               AND (i.indkey::int2[])[0:array_length(k.conkey, 1) - 1] = k.conkey)
         ORDER BY 1",
    );
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:#?}"
    );
}

#[test]
fn the_audit_tables_are_partitioned_by_id_month_with_this_and_next_month_and_a_default() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let keys = lines(
        conn,
        "SELECT c.relname || ' ' || pg_get_partkeydef(c.oid) AS line FROM pg_class c
         WHERE c.relkind = 'p' AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
    );
    assert_eq!(
        keys,
        ["fsm_transitions RANGE (id)", "metadata_stamps RANGE (id)"]
    );
    let now = chrono::Utc::now();
    let month = |offset: u32| {
        let first = now.date_naive().with_day(1).unwrap();
        first
            .checked_add_months(chrono::Months::new(offset))
            .unwrap()
            .format("%Y%m")
            .to_string()
    };
    let partitions = lines(conn, bridge_tests::PARTITIONS);
    for table in ["fsm_transitions", "metadata_stamps"] {
        for wanted in [
            format!("{table} {table}_p{} FOR VALUES FROM", month(0)),
            format!("{table} {table}_p{} FOR VALUES FROM", month(1)),
            format!("{table} {table}_default DEFAULT"),
        ] {
            assert!(
                partitions.iter().any(|line| line.starts_with(&wanted)),
                "no {wanted:?} in {partitions:#?}"
            );
        }
    }
}
