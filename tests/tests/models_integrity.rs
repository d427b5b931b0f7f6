//! Integrity of writes: `Ok` only once committed, bad input refused before sending and naming the field, stored JSON always readable.

use bridge_models::{
    BridgeState, BridgeStateDelta, Error, FsmTransition, MetadataStamp, NewMetadataStamp,
    NewNodeRegistration, NewWorkflowStep, NodeRegistration, PageRequest, Result, StateChange,
    WorkflowExecution, WorkflowState, WorkflowStep, MAX_JSON_DEPTH, MAX_READ_JSON_DEPTH,
    TEXT_COLUMN_BOUNDS,
};
use bridge_testkit::TestDatabase;
use bridge_tests::{
    count_rows, exec_async,
    fixtures::{new_transition, new_workflow, workflow},
    lines,
};
use diesel_async::AsyncPgConnection;
use serde_json::{json, Value};
use uuid::Uuid;

/// JSON nested `depth` levels deep: `[[…[]…]]`.
fn nested(depth: usize) -> Value {
    (1..depth).fold(json!([]), |inner, _| json!([inner]))
}

/// Makes every commit that wrote to `table` fail, as a deferred constraint
/// trigger does: the statement succeeds, the commit does not.
async fn fail_commits_of(conn: &mut AsyncPgConnection, table: &str) {
    exec_async(
        conn,
        "CREATE OR REPLACE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql \
         AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$",
    )
    .await;
    exec_async(
        conn,
        &format!(
            "CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT OR UPDATE ON {table} \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit()"
        ),
    )
    .await;
}

fn assert_not_ok<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(err) => assert!(
            err.to_string().contains("refused at commit"),
            "{what}: {err}"
        ),
        Ok(row) => panic!("{what}: Ok({row:?}) although the commit failed"),
    }
}

#[tokio::test]
async fn a_single_row_write_whose_commit_fails_is_an_error_and_stores_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let parent = workflow(conn).await?;
    for table in [
        "workflow_executions",
        "workflow_steps",
        "fsm_transitions",
        "metadata_stamps",
        "node_registrations",
        "bridge_states",
    ] {
        fail_commits_of(conn, table).await;
    }
    let before = (
        count_rows(conn, "workflow_executions").await,
        count_rows(conn, "fsm_transitions").await,
    );

    assert_not_ok(
        WorkflowExecution::create(conn, &new_workflow()).await,
        "create",
    );
    assert_not_ok(
        WorkflowExecution::transition(
            conn,
            parent.id,
            &StateChange::new(WorkflowState::Processing, "start"),
        )
        .await,
        "transition",
    );
    assert_not_ok(
        WorkflowStep::append(conn, &NewWorkflowStep::new(parent.id, "validation", 0)).await,
        "step",
    );
    assert_not_ok(
        FsmTransition::append(conn, &new_transition(Uuid::new_v4(), 0)).await,
        "append",
    );
    let stamp = NewMetadataStamp {
        id: None,
        workflow_id: None,
        file_hash: "f".repeat(64),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };
    assert_not_ok(MetadataStamp::append(conn, &stamp).await, "stamp");
    assert_not_ok(
        NodeRegistration::register(conn, &NewNodeRegistration::new("node-1", "reducer", "v1"))
            .await,
        "register",
    );
    let delta = BridgeStateDelta::new(Uuid::new_v4(), Uuid::new_v4(), "tenant-a", "IDLE");
    assert_not_ok(BridgeState::apply_delta(conn, &delta).await, "delta");

    let after = (
        count_rows(conn, "workflow_executions").await,
        count_rows(conn, "fsm_transitions").await,
    );
    assert_eq!(after, before);
    for table in [
        "workflow_steps",
        "metadata_stamps",
        "node_registrations",
        "bridge_states",
        "bridge_state_deltas",
    ] {
        assert_eq!(count_rows(conn, table).await, 0, "{table}");
    }
    assert_eq!(
        WorkflowExecution::find(conn, parent.id)
            .await?
            .current_state,
        WorkflowState::Pending
    );
    Ok(())
}

#[tokio::test]
async fn json_nested_too_deep_is_refused_naming_the_field_and_nothing_is_written() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let mut deep = new_transition(entity, 1);
    deep.transition_data = nested(MAX_JSON_DEPTH + 1);
    let mut fine = new_transition(entity, 0);
    fine.transition_data = nested(MAX_JSON_DEPTH);
    let batch: Vec<_> = (0..1_000)
        .map(|n| {
            if n == 999 {
                deep.clone()
            } else {
                new_transition(entity, n)
            }
        })
        .collect();

    let single = FsmTransition::append(conn, &deep).await;
    let appended = FsmTransition::append_many(conn, &batch).await;
    let ingested = FsmTransition::ingest_many(conn, &batch).await;
    let mut new = new_workflow();
    new.metadata = json!({"deep": nested(MAX_JSON_DEPTH)});
    let workflow = WorkflowExecution::create(conn, &new).await;

    for (result, row) in [
        (single.map(|_| ()), ""),
        (appended.map(|_| ()), " (row 999 of the batch)"),
        (ingested.map(|_| ()), " (row 999 of the batch)"),
    ] {
        match result {
            Err(Error::InvalidValue { field, problem }) => {
                assert_eq!(field, "fsm_transitions.transition_data");
                assert_eq!(
                    problem,
                    format!("JSON nested more than {MAX_JSON_DEPTH} levels deep{row}")
                );
            }
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }
    assert!(
        matches!(&workflow, Err(Error::InvalidValue { field, .. }) if field == "workflow_executions.metadata"),
        "{workflow:?}"
    );
    assert!(FsmTransition::history(conn, entity).await?.is_empty());
    let stored = FsmTransition::append(conn, &fine).await?;
    assert_eq!(stored.transition_data, fine.transition_data);
    Ok(())
}

#[tokio::test]
async fn json_stored_deeper_by_another_writer_still_reads_and_lists() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let ok = FsmTransition::append(conn, &new_transition(entity, 0)).await?;
    let depth = 1_000;
    exec_async(
        conn,
        &format!(
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event, transition_data) \
             VALUES ('{}', '{entity}', 'workflow', 'S1', 'other-writer', (repeat('[', {depth}) || repeat(']', {depth}))::jsonb)",
            Uuid::now_v7()
        ),
    )
    .await;

    let history = FsmTransition::history(conn, entity).await?;
    let recent = FsmTransition::recent(conn, PageRequest::first(10)).await?;

    assert_eq!(history.len(), 2);
    assert_eq!(history[0], ok);
    assert_eq!(history[1].transition_data, nested(depth));
    assert_eq!(recent.items.len(), 2);
    Ok(())
}

#[tokio::test]
async fn json_deeper_than_reads_decode_is_an_unexpected_value_not_a_crash() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let id = Uuid::now_v7();
    let depth = MAX_READ_JSON_DEPTH + 1;
    exec_async(
        conn,
        &format!(
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event, transition_data) \
             VALUES ('{id}', '{id}', 'workflow', 'S1', 'other-writer', (repeat('[', {depth}) || repeat(']', {depth}))::jsonb)"
        ),
    )
    .await;

    let result = FsmTransition::find(conn, id).await;

    assert!(
        matches!(
            &result,
            Err(Error::UnexpectedValue {
                what: "JSON document",
                ..
            })
        ),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn nul_bytes_are_refused_naming_the_field() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let parent = workflow(conn).await?;
    let mut step = NewWorkflowStep::new(parent.id, "valid\0ation", 0);
    let by_name = WorkflowStep::append(conn, &step).await;
    step.step_name = "validation".into();
    step.error_message = Some("bad\0".into());
    let by_message = WorkflowStep::append(conn, &step).await;
    step.error_message = None;
    step.step_data = json!({"k": "v\u{0}"});
    let by_data = WorkflowStep::append(conn, &step).await;

    for (result, field) in [
        (by_name, "workflow_steps.step_name"),
        (by_message, "workflow_steps.error_message"),
        (by_data, "workflow_steps.step_data"),
    ] {
        assert!(
            matches!(&result, Err(Error::InvalidValue { field: f, .. }) if f == field),
            "{field}: {result:?}"
        );
    }
    assert!(WorkflowStep::list_for_workflow(conn, parent.id)
        .await?
        .is_empty());
    Ok(())
}

#[test]
fn the_declared_text_bounds_are_the_catalog_s() {
    // `adapter_*` tables belong to bridge-adapter, which writes them itself.
    let test_db = TestDatabase::migrated();
    let mut catalog = lines(
        &mut test_db.sync_conn(),
        "SELECT table_name || '.' || column_name || ' ' || character_maximum_length AS line \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND character_maximum_length IS NOT NULL AND table_name NOT LIKE '\\_\\_%' \
         AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition) \
           AND table_name NOT LIKE 'adapter\\_%' \
         ORDER BY 1",
    );
    let mut declared: Vec<String> = TEXT_COLUMN_BOUNDS
        .iter()
        .map(|(table, column, bound)| format!("{table}.{column} {bound}"))
        .collect();
    catalog.sort();
    declared.sort();
    assert_eq!(declared, catalog);
}

#[test]
fn errors_say_whether_a_retry_can_succeed() {
    let retryable = [
        Error::ConnectionLost("closed".into()),
        Error::ServerBusy {
            url: String::new(),
            reason: String::new(),
        },
        Error::Unreachable {
            url: String::new(),
            reason: String::new(),
        },
        Error::PoolTimeout(std::time::Duration::from_secs(1)),
        Error::Conflict("serialization".into()),
    ];
    let final_ = [
        Error::invalid("t.c", "bad"),
        Error::not_found("workflow execution", 1),
        Error::Authentication {
            url: String::new(),
            reason: String::new(),
        },
        Error::Config("bad URL".into()),
        Error::IllegalTransition {
            workflow_id: Uuid::nil(),
            from: WorkflowState::Completed,
            to: WorkflowState::Pending,
        },
    ];
    assert!(retryable.iter().all(Error::is_retryable));
    assert!(!final_.iter().any(Error::is_retryable));
}
