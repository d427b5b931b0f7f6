//! The database itself refuses bad rows, names the constraint, and keeps related rows consistent.

use bridge_testkit::{SyncPgConnection, TestDatabase};
use bridge_tests::{exec, lines, refusal, Refusal};

const WORKFLOW: &str = "00000000-0000-0000-0000-0000000000a1";

/// Inserts the workflow `WORKFLOW` in state PENDING.
fn insert_workflow(conn: &mut SyncPgConnection) {
    exec(
        conn,
        &format!(
            "INSERT INTO workflow_executions (id, correlation_id, workflow_type, current_state, namespace, started_at)
             VALUES ('{WORKFLOW}', gen_random_uuid(), 'metadata_stamping', 'PENDING', 'ns', now())"
        ),
    );
}

fn count(conn: &mut SyncPgConnection, table: &str) -> String {
    lines(conn, &format!("SELECT count(*)::text AS line FROM {table}")).remove(0)
}

fn assert_refused_by(refused: Refusal, kind: &str, constraint: &str) {
    assert_eq!(refused.kind, kind, "{refused:?}");
    assert_eq!(
        refused.constraint.as_deref(),
        Some(constraint),
        "{refused:?}"
    );
}

#[test]
fn an_unknown_workflow_state_is_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let refused = refusal(
        conn,
        "INSERT INTO workflow_executions (correlation_id, workflow_type, current_state, namespace, started_at)
         VALUES (gen_random_uuid(), 't', 'RUNNING', 'ns', now())",
    );
    assert_refused_by(refused, "check", "workflow_executions_current_state_check");
    assert_eq!(count(conn, "workflow_executions"), "0");
}

#[test]
fn unknown_step_and_health_statuses_are_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    let refused = refusal(
        conn,
        &format!(
            "INSERT INTO workflow_steps (workflow_id, step_name, step_order, status)
             VALUES ('{WORKFLOW}', 'hash', 0, 'DONE')"
        ),
    );
    assert_refused_by(refused, "check", "workflow_steps_status_check");
    let refused = refusal(
        conn,
        "INSERT INTO node_registrations (node_id, node_type, node_version, health_status)
         VALUES ('n1', 'reducer', 'v1', 'ILL')",
    );
    assert_refused_by(refused, "check", "node_registrations_health_status_check");
}

#[test]
fn negative_durations_counters_and_orders_are_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    let cases = [
        (
            format!("UPDATE workflow_executions SET execution_time_ms = -1 WHERE id = '{WORKFLOW}'"),
            "workflow_executions_execution_time_ms_check",
        ),
        (
            format!(
                "INSERT INTO workflow_steps (workflow_id, step_name, step_order, status, execution_time_ms)
                 VALUES ('{WORKFLOW}', 'hash', 0, 'RUNNING', -5)"
            ),
            "workflow_steps_execution_time_ms_check",
        ),
        (
            format!(
                "INSERT INTO workflow_steps (workflow_id, step_name, step_order, status)
                 VALUES ('{WORKFLOW}', 'hash', -1, 'RUNNING')"
            ),
            "workflow_steps_step_order_check",
        ),
        (
            "INSERT INTO bridge_states (bridge_id, namespace, current_fsm_state, total_workflows_processed)
             VALUES (gen_random_uuid(), 'ns', 'IDLE', -1)"
                .to_owned(),
            "bridge_states_total_workflows_processed_check",
        ),
        (
            "INSERT INTO bridge_states (bridge_id, namespace, current_fsm_state, total_items_aggregated)
             VALUES (gen_random_uuid(), 'ns', 'IDLE', -1)"
                .to_owned(),
            "bridge_states_total_items_aggregated_check",
        ),
    ];
    for (sql, constraint) in cases {
        assert_refused_by(refusal(conn, &sql), "check", constraint);
    }
    assert_eq!(count(conn, "workflow_steps"), "0");
    assert_eq!(count(conn, "bridge_states"), "0");
}

#[test]
fn completion_before_start_is_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    let refused = refusal(
        conn,
        &format!(
            "UPDATE workflow_executions SET completed_at = started_at - interval '1 second'
             WHERE id = '{WORKFLOW}'"
        ),
    );
    assert_refused_by(refused, "check", "workflow_executions_completed_at_check");
}

#[test]
fn a_step_or_stamp_for_a_missing_workflow_is_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let refused = refusal(
        conn,
        "INSERT INTO workflow_steps (workflow_id, step_name, step_order, status)
         VALUES (gen_random_uuid(), 'hash', 0, 'PENDING')",
    );
    assert_refused_by(refused, "foreign key", "workflow_steps_workflow_id_fkey");
    let refused = refusal(
        conn,
        "INSERT INTO metadata_stamps (workflow_id, file_hash, namespace)
         VALUES (gen_random_uuid(), 'abc', 'ns')",
    );
    assert_refused_by(refused, "foreign key", "metadata_stamps_workflow_id_fkey");
}

#[test]
fn a_second_workflow_with_the_same_correlation_id_is_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    let refused = refusal(
        conn,
        &format!(
            "INSERT INTO workflow_executions (correlation_id, workflow_type, current_state, namespace, started_at)
             SELECT correlation_id, 't', 'PENDING', 'ns', now() FROM workflow_executions WHERE id = '{WORKFLOW}'"
        ),
    );
    assert_refused_by(refused, "unique", "workflow_executions_correlation_id_key");
    assert_eq!(count(conn, "workflow_executions"), "1");
}

#[test]
fn null_in_a_not_null_column_is_refused_naming_the_column() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let refused = refusal(
        conn,
        "INSERT INTO workflow_executions (correlation_id, workflow_type, current_state, namespace, started_at)
         VALUES (gen_random_uuid(), 't', 'PENDING', NULL, now())",
    );
    assert_eq!(refused.kind, "not null", "{refused:?}");
    assert_eq!(refused.column.as_deref(), Some("namespace"));
    let refused = refusal(
        conn,
        "INSERT INTO metadata_stamps (file_hash, namespace, stamp_data) VALUES ('abc', 'ns', NULL)",
    );
    assert_eq!(refused.column.as_deref(), Some("stamp_data"), "{refused:?}");
}

#[test]
fn text_over_its_bound_is_refused() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let cases = [
        (
            "INSERT INTO workflow_executions (correlation_id, workflow_type, current_state, namespace, started_at)
             VALUES (gen_random_uuid(), repeat('t', 101), 'PENDING', 'ns', now())",
            "character varying(100)",
        ),
        (
            "INSERT INTO node_registrations (node_id, node_type, node_version)
             VALUES (repeat('n', 256), 'reducer', 'v1')",
            "character varying(255)",
        ),
        (
            "INSERT INTO metadata_stamps (file_hash, namespace) VALUES (repeat('f', 129), 'ns')",
            "character varying(128)",
        ),
    ];
    for (sql, bound) in cases {
        let refused = refusal(conn, sql);
        assert_eq!(
            refused.message,
            format!("value too long for type {bound}"),
            "{sql}"
        );
    }
    // Exactly at the bound is accepted.
    exec(
        conn,
        "INSERT INTO metadata_stamps (file_hash, namespace) VALUES (repeat('f', 128), 'ns')",
    );
}

#[test]
fn defaults_fill_json_objects_states_and_timestamps() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    exec(
        conn,
        "INSERT INTO node_registrations (node_id, node_type, node_version) VALUES ('n1', 'registry', 'v1')",
    );
    let row = lines(
        conn,
        "SELECT concat_ws(' ', capabilities, endpoints, metadata, health_status,
                 last_heartbeat IS NULL, registered_at = updated_at) AS line
         FROM node_registrations",
    );
    assert_eq!(row, ["{} {} {} UNKNOWN t t"]);
}

#[test]
fn deleting_a_workflow_deletes_its_steps_and_keeps_its_stamps() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    exec(
        conn,
        &format!(
            "INSERT INTO workflow_steps (workflow_id, step_name, step_order, status)
             VALUES ('{WORKFLOW}', 'hash', 0, 'COMPLETED'), ('{WORKFLOW}', 'stamp', 1, 'PENDING')"
        ),
    );
    exec(
        conn,
        &format!(
            "INSERT INTO metadata_stamps (workflow_id, file_hash, namespace, stamp_data)
             VALUES ('{WORKFLOW}', 'h1', 'ns', '{{\"v\": 1}}')"
        ),
    );
    exec(
        conn,
        &format!("DELETE FROM workflow_executions WHERE id = '{WORKFLOW}'"),
    );
    assert_eq!(count(conn, "workflow_steps"), "0");
    let stamps = lines(
        conn,
        "SELECT concat_ws(' ', file_hash, workflow_id IS NULL, stamp_data) AS line FROM metadata_stamps",
    );
    assert_eq!(stamps, ["h1 t {\"v\": 1}"]);
}

#[test]
fn updated_at_moves_on_update_without_the_caller_setting_it() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    insert_workflow(conn);
    exec(
        conn,
        "INSERT INTO bridge_states (bridge_id, namespace, current_fsm_state) VALUES (gen_random_uuid(), 'ns', 'IDLE')",
    );
    exec(
        conn,
        "INSERT INTO node_registrations (node_id, node_type, node_version) VALUES ('n1', 'reducer', 'v1')",
    );
    let updates = [
        (
            "workflow_executions",
            "current_state = 'PROCESSING'",
            "created_at",
        ),
        ("bridge_states", "total_items_aggregated = 5", "created_at"),
        (
            "node_registrations",
            "health_status = 'HEALTHY'",
            "registered_at",
        ),
    ];
    for (table, set, created) in updates {
        let before = lines(
            conn,
            &format!("SELECT updated_at::text AS line FROM {table}"),
        );
        // Each statement is its own transaction, so now() moves between them.
        exec(conn, &format!("UPDATE {table} SET {set}"));
        let moved = lines(
            conn,
            &format!(
                "SELECT (updated_at > '{}'::timestamptz AND updated_at > {created})::text AS line
                 FROM {table}",
                before[0]
            ),
        );
        assert_eq!(moved, ["true"], "{table}.updated_at did not move");
    }
}

#[test]
fn the_seed_manual_check_still_works() {
    let db = TestDatabase::migrated();
    let conn = &mut db.sync_conn();
    let inserted = exec(
        conn,
        "INSERT INTO workflow_executions (correlation_id, workflow_type, current_state, namespace, started_at)
         VALUES (uuid_generate_v4(), 'metadata_stamping', 'PENDING', 'test_namespace', NOW())",
    );
    assert_eq!(inserted, 1);
    let row = lines(
        conn,
        "SELECT concat_ws(' ', current_state, namespace, metadata, completed_at IS NULL) AS line
         FROM workflow_executions",
    );
    assert_eq!(row, ["PENDING test_namespace {} t"]);
}
