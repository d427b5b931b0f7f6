//! Batch ingests (`ingest_many`): rows stored as given and in order, counts of new rows, redeliveries skipped.
//!
//! Failed ingests are tested beside failed appends in `models_errors.rs`.

use bridge_models::{
    FsmTransition, NewFsmTransition, NewWorkflowStep, Result, StepStatus, WorkflowStep,
    MAX_BIND_PARAMS,
};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::{new_transition, workflow};
use serde_json::json;
use uuid::Uuid;

/// The caller's half of a stored transition, to compare with what was ingested.
fn as_new(stored: &FsmTransition) -> NewFsmTransition {
    NewFsmTransition {
        id: None,
        entity_id: stored.entity_id,
        entity_type: stored.entity_type.clone(),
        from_state: stored.from_state.clone(),
        to_state: stored.to_state.clone(),
        transition_event: stored.transition_event.clone(),
        transition_data: stored.transition_data.clone(),
    }
}

#[tokio::test]
async fn ingesting_transitions_above_the_bind_parameter_limit_stores_each_as_given_in_order(
) -> Result<()> {
    const ROWS: usize = 12_000;
    const { assert!(ROWS * 7 > MAX_BIND_PARAMS) };
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let new: Vec<_> = (0..ROWS).map(|n| new_transition(entity, n)).collect();

    let count = FsmTransition::ingest_many(conn, &new).await?;

    assert_eq!(count, ROWS);
    let history = FsmTransition::history(conn, entity).await?;
    assert_eq!(history.iter().map(as_new).collect::<Vec<_>>(), new);
    assert!(
        history.iter().all(|t| t.id.get_version_num() == 7),
        "ids are generated UUIDv7"
    );
    assert!(
        history
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "created_at follows the input order"
    );
    Ok(())
}

#[tokio::test]
async fn re_ingesting_supplied_ids_counts_only_new_rows_and_keeps_the_stored_values() -> Result<()>
{
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let with_id = |n| NewFsmTransition {
        id: Some(Uuid::now_v7()),
        ..new_transition(entity, n)
    };
    let first: Vec<_> = (0..3).map(with_id).collect();
    assert_eq!(FsmTransition::ingest_many(conn, &first).await?, 3);
    let stored = FsmTransition::history(conn, entity).await?;

    // A redelivery of two stored rows (one with a changed value), one new
    // row, and the new row repeated within the batch.
    let changed = NewFsmTransition {
        to_state: "CHANGED".into(),
        ..first[1].clone()
    };
    let fresh = with_id(3);
    let redelivery = [first[0].clone(), changed, fresh.clone(), fresh.clone()];
    let count = FsmTransition::ingest_many(conn, &redelivery).await?;

    assert_eq!(count, 1, "only the fresh row is new");
    let history = FsmTransition::history(conn, entity).await?;
    assert_eq!(history.len(), 4);
    assert_eq!(history[..3], stored[..], "stored rows are not overwritten");
    assert_eq!(history[3].id, fresh.id.unwrap());
    assert_eq!(FsmTransition::ingest_many(conn, &[]).await?, 0);
    Ok(())
}

#[tokio::test]
async fn ingesting_steps_stores_every_field() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let mut failed = NewWorkflowStep::new(workflow.id, "stamp_write", 1);
    failed.status = StepStatus::Failed;
    failed.execution_time_ms = Some(17);
    failed.step_data = json!({"path": "/tmp/x"});
    failed.error_message = Some("read-only file system".into());
    let new = [NewWorkflowStep::new(workflow.id, "validation", 0), failed];

    assert_eq!(WorkflowStep::ingest_many(conn, &new).await?, 2);

    let listed = WorkflowStep::list_for_workflow(conn, workflow.id).await?;
    let read_back: Vec<_> = listed
        .iter()
        .map(|s| NewWorkflowStep {
            id: None,
            workflow_id: s.workflow_id,
            step_name: s.step_name.clone(),
            step_order: s.step_order,
            status: s.status,
            execution_time_ms: s.execution_time_ms,
            step_data: s.step_data.clone(),
            error_message: s.error_message.clone(),
        })
        .collect();
    assert_eq!(read_back, new);
    Ok(())
}
