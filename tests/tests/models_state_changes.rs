//! Workflow state changes: only the state machine's moves, and a redelivered change (same id) changes nothing.

use bridge_models::{Error, FsmTransition, Result, StateChange, WorkflowExecution, WorkflowState};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::{new_workflow, workflow};
use uuid::Uuid;

use WorkflowState::{Completed, Failed, Processing};

#[tokio::test]
async fn every_move_outside_the_state_machine_is_refused_and_writes_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    for from in WorkflowState::ALL {
        for to in WorkflowState::ALL {
            let mut new = new_workflow();
            new.current_state = *from;
            let created = WorkflowExecution::create(conn, &new).await?;

            let result =
                WorkflowExecution::transition(conn, created.id, &StateChange::new(*to, "e")).await;

            let history = FsmTransition::history(conn, created.id).await?;
            if from.can_move_to(*to) {
                let (moved, _) = result?;
                assert_eq!(moved.current_state, *to);
                assert_eq!(history.len(), 1);
            } else {
                match result {
                    Err(Error::IllegalTransition {
                        workflow_id,
                        from: f,
                        to: t,
                    }) => assert_eq!((workflow_id, f, t), (created.id, *from, *to)),
                    other => panic!("{from} -> {to}: expected IllegalTransition, got {other:?}"),
                }
                assert!(history.is_empty(), "{from} -> {to} recorded {history:?}");
                assert_eq!(WorkflowExecution::find(conn, created.id).await?, created);
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_late_start_never_reopens_a_completed_workflow() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    let (completed, _) =
        WorkflowExecution::transition(conn, created.id, &StateChange::new(Completed, "done"))
            .await?;

    let late = StateChange::new(Processing, "start");
    let result = WorkflowExecution::transition(conn, created.id, &late).await;

    assert!(
        matches!(
            result,
            Err(Error::IllegalTransition {
                from: Completed,
                to: Processing,
                ..
            })
        ),
        "{result:?}"
    );
    let stored = WorkflowExecution::find(conn, created.id).await?;
    assert_eq!(stored, completed);
    assert!(stored.completed_at.is_some());
    Ok(())
}

#[tokio::test]
async fn a_redelivered_change_returns_what_is_stored_and_records_nothing_twice() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    let start = StateChange::new(Processing, "start").with_id(Uuid::now_v7());
    let finish = StateChange::new(Completed, "done").with_id(Uuid::now_v7());
    let (_, started) = WorkflowExecution::transition(conn, created.id, &start).await?;
    let (finished, _) = WorkflowExecution::transition(conn, created.id, &finish).await?;

    // Again, in any order: each returns the workflow as it is and its own transition.
    let (again_finish, finish_record) =
        WorkflowExecution::transition(conn, created.id, &finish).await?;
    let (again_start, start_record) =
        WorkflowExecution::transition(conn, created.id, &start).await?;

    assert_eq!(started.id, start.id.unwrap());
    assert_eq!(start_record, started);
    assert_eq!(finish_record.id, finish.id.unwrap());
    assert_eq!(again_finish, finished);
    assert_eq!(
        again_start, finished,
        "a late redelivery moves nothing back"
    );
    assert_eq!(FsmTransition::history(conn, created.id).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_change_id_reused_for_another_change_is_refused() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    let id = Uuid::now_v7();
    WorkflowExecution::transition(
        conn,
        created.id,
        &StateChange::new(Processing, "start").with_id(id),
    )
    .await?;

    let reused = StateChange::new(Failed, "error").with_id(id);
    let result = WorkflowExecution::transition(conn, created.id, &reused).await;

    assert!(
        matches!(&result, Err(Error::InvalidValue { field, .. }) if field == "state change id"),
        "{result:?}"
    );
    let stored = WorkflowExecution::find(conn, created.id).await?;
    assert_eq!(stored.current_state, Processing);
    assert_eq!(FsmTransition::history(conn, created.id).await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_change_delivered_by_eight_tasks_at_once_is_recorded_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let created = workflow(&mut *db.conn().await?).await?;
    let change = StateChange::new(Completed, "done").with_id(Uuid::now_v7());

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (db, change) = (db.clone(), change.clone());
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            WorkflowExecution::transition(conn, created.id, &change).await
        });
    }
    let mut transitions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (workflow, transition) = joined.expect("task panicked")?;
        assert_eq!(workflow.current_state, Completed);
        transitions.push(transition);
    }

    let conn = &mut db.conn().await?;
    let history = FsmTransition::history(conn, created.id).await?;
    assert_eq!(history.len(), 1);
    assert!(transitions.iter().all(|t| *t == history[0]));
    Ok(())
}

#[tokio::test]
async fn a_change_by_correlation_id_moves_that_workflow_and_is_idempotent() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    let other = workflow(conn).await?;
    let change = StateChange::new(Failed, "error").with_id(Uuid::now_v7());

    let (moved, _) =
        WorkflowExecution::transition_by_correlation_id(conn, created.correlation_id, &change)
            .await?;
    let (again, _) =
        WorkflowExecution::transition_by_correlation_id(conn, created.correlation_id, &change)
            .await?;
    let missing =
        WorkflowExecution::transition_by_correlation_id(conn, Uuid::new_v4(), &change).await;

    assert_eq!((moved.id, moved.current_state), (created.id, Failed));
    assert_eq!(again, moved);
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    assert_eq!(WorkflowExecution::find(conn, other.id).await?, other);
    assert_eq!(FsmTransition::history(conn, created.id).await?.len(), 1);
    Ok(())
}
