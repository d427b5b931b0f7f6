//! Errors: constraint violations name their constraint, over-long text is an invalid value, failed batches (appends and ingests) write nothing, lookups say what was not found.

use bridge_models::{
    ConstraintKind, Error, FsmTransition, MetadataStamp, NewFsmTransition, NewMetadataStamp,
    NewWorkflowExecution, NewWorkflowStep, Result, WorkflowExecution, WorkflowStep,
};
use bridge_testkit::TestDatabase;
use bridge_tests::{assert_violates, fixtures::new_workflow};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_second_workflow_with_the_same_correlation_id_violates_its_unique_key() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let first = WorkflowExecution::create(conn, &new_workflow()).await?;

    let duplicate = NewWorkflowExecution::new(first.correlation_id, "other", "tenant-a");
    let result = WorkflowExecution::create(conn, &duplicate).await;

    assert_violates(
        result,
        ConstraintKind::Unique,
        "workflow_executions_correlation_id_key",
    );
    Ok(())
}

#[tokio::test]
async fn rows_pointing_at_a_missing_workflow_violate_their_foreign_keys() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let missing = Uuid::now_v7();

    let orphan = NewWorkflowStep::new(missing, "validation", 0);
    let step = WorkflowStep::append(conn, &orphan).await;
    let ingested = WorkflowStep::ingest_many(conn, &[orphan]).await;
    let stamp = NewMetadataStamp {
        id: None,
        workflow_id: Some(missing),
        file_hash: "h1".into(),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };
    let stamp = MetadataStamp::append(conn, &stamp).await;

    assert_violates(
        step,
        ConstraintKind::ForeignKey,
        "workflow_steps_workflow_id_fkey",
    );
    assert_violates(
        ingested,
        ConstraintKind::ForeignKey,
        "workflow_steps_workflow_id_fkey",
    );
    assert_violates(
        stamp,
        ConstraintKind::ForeignKey,
        "metadata_stamps_workflow_id_fkey",
    );
    Ok(())
}

#[tokio::test]
async fn negative_orders_and_durations_are_refused_naming_the_field() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow()).await?;

    let negative_order = NewWorkflowStep::new(workflow.id, "validation", -1);
    let mut negative_time = NewWorkflowStep::new(workflow.id, "validation", 0);
    negative_time.execution_time_ms = Some(-5);

    assert_invalid(
        WorkflowStep::append(conn, &negative_order).await,
        "workflow_steps.step_order",
        "-1 is negative",
    );
    assert_invalid(
        WorkflowStep::append(conn, &negative_time).await,
        "workflow_steps.execution_time_ms",
        "-5 is negative",
    );
    assert!(WorkflowStep::list_for_workflow(conn, workflow.id)
        .await?
        .is_empty());
    Ok(())
}

/// Asserts `result` was refused before sending, naming `field` and `problem`.
fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, field: &str, problem: &str) {
    match result {
        Err(Error::InvalidValue {
            field: actual_field,
            problem: actual_problem,
        }) => assert_eq!(
            (actual_field.as_str(), actual_problem.as_str()),
            (field, problem)
        ),
        other => panic!("expected {field} refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_batch_with_one_bad_row_writes_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow()).await?;
    let batch = [
        NewWorkflowStep::new(workflow.id, "validation", 0),
        NewWorkflowStep::new(workflow.id, "hash_generation", -1),
    ];

    let appended = WorkflowStep::append_many(conn, &batch).await;
    let ingested = WorkflowStep::ingest_many(conn, &batch).await;

    for result in [appended.map(|rows| rows.len()), ingested] {
        assert_invalid(
            result,
            "workflow_steps.step_order",
            "-1 is negative (row 1 of the batch)",
        );
    }
    assert!(WorkflowStep::list_for_workflow(conn, workflow.id)
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn text_longer_than_its_column_is_an_invalid_value() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut long_type = new_workflow();
    long_type.workflow_type = "x".repeat(101);
    let long_hash = NewMetadataStamp {
        id: None,
        workflow_id: None,
        file_hash: "f".repeat(129),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };

    let workflow = WorkflowExecution::create(conn, &long_type).await;
    let stamp = MetadataStamp::append(conn, &long_hash).await;

    assert_invalid(
        workflow,
        "workflow_executions.workflow_type",
        "101 characters, at most 100",
    );
    assert_invalid(
        stamp,
        "metadata_stamps.file_hash",
        "129 characters, at most 128",
    );
    Ok(())
}

#[tokio::test]
async fn a_transition_batch_with_text_too_long_fails_whole_as_an_invalid_value() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let transition = |to_state: String| NewFsmTransition {
        id: None,
        entity_id: entity,
        entity_type: "workflow".into(),
        from_state: None,
        to_state,
        transition_event: "start".into(),
        transition_data: json!({}),
    };

    let batch = [transition("PENDING".into()), transition("x".repeat(51))];

    let appended = FsmTransition::append_many(conn, &batch).await;
    let ingested = FsmTransition::ingest_many(conn, &batch).await;

    for result in [appended.map(|rows| rows.len()), ingested] {
        assert_invalid(
            result,
            "fsm_transitions.to_state",
            "51 characters, at most 50 (row 1 of the batch)",
        );
    }
    assert!(FsmTransition::history(conn, entity).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn not_found_names_the_entity_and_the_key() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let missing = Uuid::now_v7();

    let by_id = WorkflowExecution::find(conn, missing).await.unwrap_err();
    let by_correlation = WorkflowExecution::find_by_correlation_id(conn, missing)
        .await
        .unwrap_err();
    let stamp = MetadataStamp::find(conn, missing).await.unwrap_err();

    assert_eq!(
        by_id.to_string(),
        format!("workflow execution not found: {missing}")
    );
    assert_eq!(
        by_correlation.to_string(),
        format!("workflow execution not found: correlation id {missing}")
    );
    assert_eq!(
        stamp.to_string(),
        format!("metadata stamp not found: {missing}")
    );
    Ok(())
}
