//! Workflow steps and FSM transitions: single and batch appends (above the bind-parameter limit), idempotency, ordering, paging.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use bridge_models::{
    FsmTransition, NewFsmTransition, NewWorkflowStep, PageRequest, Result, StepStatus,
    WorkflowStep, WorkflowStepChangeset, MAX_BIND_PARAMS,
};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::{new_transition, workflow};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn steps_appended_one_and_many_list_in_step_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let other = self::workflow(conn).await?;

    let mut last = NewWorkflowStep::new(workflow.id, "stamp_write", 2);
    last.status = StepStatus::Failed;
    last.execution_time_ms = Some(17);
    last.step_data = json!({"path": "/tmp/x"});
    last.error_message = Some("read-only file system".into());
    let single = WorkflowStep::append(conn, &last).await?;
    let many = WorkflowStep::append_many(
        conn,
        &[
            NewWorkflowStep::new(workflow.id, "hash_generation", 1),
            NewWorkflowStep::new(workflow.id, "validation", 0),
            NewWorkflowStep::new(other.id, "validation", 0),
        ],
    )
    .await?;

    assert_eq!(single.id.get_version_num(), 7);
    assert_eq!(single.workflow_id, workflow.id);
    assert_eq!(single.step_name, "stamp_write");
    assert_eq!(single.step_order, 2);
    assert_eq!(single.status, StepStatus::Failed);
    assert_eq!(single.execution_time_ms, Some(17));
    assert_eq!(single.step_data, json!({"path": "/tmp/x"}));
    assert_eq!(
        single.error_message.as_deref(),
        Some("read-only file system")
    );
    let names: Vec<_> = many.iter().map(|s| s.step_name.as_str()).collect();
    assert_eq!(
        names,
        ["hash_generation", "validation", "validation"],
        "input order"
    );

    let listed = WorkflowStep::list_for_workflow(conn, workflow.id).await?;
    assert_eq!(listed, vec![many[1].clone(), many[0].clone(), single]);
    assert_eq!(
        WorkflowStep::list_for_workflow(conn, other.id).await?,
        vec![many[2].clone()]
    );
    Ok(())
}

#[tokio::test]
async fn re_appending_steps_with_their_ids_is_a_no_op() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let mut step = NewWorkflowStep::new(workflow.id, "validation", 0);
    step.id = Some(Uuid::new_v4());
    let first = WorkflowStep::append(conn, &step).await?;

    let again = WorkflowStep::append(conn, &step).await?;
    let mut fresh = NewWorkflowStep::new(workflow.id, "hash_generation", 1);
    fresh.id = Some(Uuid::new_v4());
    let batch = WorkflowStep::append_many(conn, &[step.clone(), fresh]).await?;

    assert_eq!(again, first);
    assert_eq!(batch[0], first);
    assert_eq!(
        WorkflowStep::list_for_workflow(conn, workflow.id)
            .await?
            .len(),
        2
    );
    Ok(())
}

#[tokio::test]
async fn updating_a_step_changes_only_the_given_fields() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let step =
        WorkflowStep::append(conn, &NewWorkflowStep::new(workflow.id, "validation", 0)).await?;

    let running = WorkflowStepChangeset {
        status: Some(StepStatus::Running),
        ..Default::default()
    };
    let updated = WorkflowStep::update(conn, step.id, &running).await?;
    let done = WorkflowStepChangeset {
        status: Some(StepStatus::Completed),
        execution_time_ms: Some(250),
        step_data: Some(json!({"ok": true})),
        ..Default::default()
    };
    let finished = WorkflowStep::update(conn, step.id, &done).await?;

    assert_eq!(
        updated,
        WorkflowStep {
            status: StepStatus::Running,
            ..step.clone()
        }
    );
    assert_eq!(finished.status, StepStatus::Completed);
    assert_eq!(finished.execution_time_ms, Some(250));
    assert_eq!(finished.step_data, json!({"ok": true}));
    assert_eq!(finished.error_message, None);
    assert_eq!(WorkflowStep::find(conn, step.id).await?, finished);
    assert_eq!(
        WorkflowStep::update(conn, step.id, &Default::default()).await?,
        finished
    );
    Ok(())
}

#[tokio::test]
async fn a_transition_round_trips_and_re_appending_it_is_a_no_op() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = new_transition(Uuid::new_v4(), 0);
    new.id = Some(Uuid::now_v7());

    let stored = FsmTransition::append(conn, &new).await?;
    let again = FsmTransition::append(conn, &new).await?;

    assert_eq!(stored.id, new.id.unwrap());
    assert_eq!(stored.entity_id, new.entity_id);
    assert_eq!(stored.entity_type, "bridge_state");
    assert_eq!(stored.from_state, None);
    assert_eq!(stored.to_state, "S0");
    assert_eq!(stored.transition_event, "event-0");
    assert_eq!(stored.transition_data, json!({"n": 0}));
    assert_eq!(again, stored);
    assert_eq!(
        FsmTransition::history(conn, new.entity_id).await?,
        vec![stored]
    );
    Ok(())
}

#[tokio::test]
async fn history_lists_one_entitys_transitions_in_the_order_recorded() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let (entity, other) = (Uuid::new_v4(), Uuid::new_v4());
    let first = FsmTransition::append(conn, &new_transition(entity, 0)).await?;
    let rest = FsmTransition::append_many(
        conn,
        &[
            new_transition(entity, 1),
            new_transition(other, 0),
            new_transition(entity, 2),
        ],
    )
    .await?;

    let history = FsmTransition::history(conn, entity).await?;

    assert_eq!(history, vec![first, rest[0].clone(), rest[2].clone()]);
    assert_eq!(
        FsmTransition::history(conn, other).await?,
        vec![rest[1].clone()]
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_append_above_the_bind_parameter_limit_stores_every_row() -> Result<()> {
    const ROWS: usize = 12_000;
    const {
        assert!(
            ROWS * 8 > MAX_BIND_PARAMS,
            "one statement could carry the batch"
        )
    };
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let new: Vec<_> = (0..ROWS).map(|n| new_transition(entity, n)).collect();

    let stored = FsmTransition::append_many(conn, &new).await?;

    assert_eq!(stored.len(), ROWS);
    let history = FsmTransition::history(conn, entity).await?;
    assert_eq!(history.len(), ROWS);
    let to_states: Vec<_> = history.iter().map(|t| t.to_state.clone()).collect();
    let expected: Vec<_> = (0..ROWS).map(|n| format!("S{n}")).collect();
    assert_eq!(to_states, expected, "every row, in the order given");
    assert_eq!(history, stored);
    Ok(())
}

#[tokio::test]
async fn a_step_batch_above_the_bind_parameter_limit_stores_every_row() -> Result<()> {
    const ROWS: usize = 8_000;
    const { assert!(ROWS * 9 > MAX_BIND_PARAMS) };
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let new: Vec<_> = (0..ROWS)
        .map(|n| NewWorkflowStep::new(workflow.id, format!("step-{n}"), n as i32))
        .collect();

    WorkflowStep::append_many(conn, &new).await?;

    let listed = WorkflowStep::list_for_workflow(conn, workflow.id).await?;
    let orders: Vec<i32> = listed.iter().map(|s| s.step_order).collect();
    assert_eq!(orders, (0..ROWS as i32).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn re_appending_a_transition_batch_is_a_no_op() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let new: Vec<_> = (0..5)
        .map(|n| NewFsmTransition {
            id: Some(Uuid::now_v7()),
            ..new_transition(entity, n)
        })
        .collect();

    let first = FsmTransition::append_many(conn, &new).await?;
    let again = FsmTransition::append_many(conn, &new).await?;

    assert_eq!(again, first);
    assert_eq!(FsmTransition::history(conn, entity).await?, first);
    assert!(FsmTransition::append_many(conn, &[]).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_batch_with_some_stored_ids_returns_the_stored_rows_in_input_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let with_id = |n| NewFsmTransition {
        id: Some(Uuid::now_v7()),
        ..new_transition(entity, n)
    };
    let (old_a, old_b) = (with_id(0), with_id(1));
    let stored_a = FsmTransition::append(conn, &old_a).await?;
    let stored_b = FsmTransition::append(conn, &old_b).await?;
    // A redelivery carries the stored ids; its other values do not overwrite.
    let redelivered_b = NewFsmTransition {
        to_state: "CHANGED".into(),
        ..old_b.clone()
    };
    let (fresh, supplied) = (new_transition(entity, 2), with_id(3));

    let batch = FsmTransition::append_many(
        conn,
        &[
            fresh.clone(),
            redelivered_b,
            supplied.clone(),
            old_a.clone(),
            old_a,
        ],
    )
    .await?;

    assert_eq!(batch.len(), 5);
    assert_eq!(batch[0].to_state, fresh.to_state);
    assert_eq!(batch[1], stored_b);
    assert_eq!(batch[2].id, supplied.id.unwrap());
    assert_eq!(batch[3], stored_a);
    assert_eq!(batch[4], stored_a);
    let history = FsmTransition::history(conn, entity).await?;
    assert_eq!(
        history,
        vec![stored_a, stored_b, batch[0].clone(), batch[2].clone()]
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_of_70_000_rows_is_stored_in_order() -> Result<()> {
    const ROWS: usize = 70_000;
    const {
        assert!(
            ROWS > MAX_BIND_PARAMS,
            "even one bind per row would not fit"
        )
    };
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let entity = Uuid::new_v4();
    let workflow = workflow(conn).await?;
    let transitions: Vec<_> = (0..ROWS).map(|n| new_transition(entity, n)).collect();
    let steps: Vec<_> = (0..ROWS)
        .map(|n| NewWorkflowStep::new(workflow.id, "step", n as i32))
        .collect();

    let stored = FsmTransition::append_many(conn, &transitions).await?;
    let stored_steps = WorkflowStep::append_many(conn, &steps).await?;

    assert_eq!(FsmTransition::history(conn, entity).await?, stored);
    assert_eq!(stored.len(), ROWS);
    assert!(stored
        .iter()
        .enumerate()
        .all(|(n, row)| row.to_state == format!("S{n}")));
    assert_eq!(
        WorkflowStep::list_for_workflow(conn, workflow.id).await?,
        stored_steps
    );
    assert_eq!(stored_steps.len(), ROWS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_from_concurrent_tasks_each_store_every_row() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let entity = Uuid::new_v4();

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..4 {
        let db = db.clone();
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            // Half the tasks supply their ids, half leave them to the crate.
            let new: Vec<_> = (0..100)
                .map(|n| NewFsmTransition {
                    id: (task % 2 == 0).then(Uuid::now_v7),
                    ..new_transition(entity, n)
                })
                .collect();
            FsmTransition::append_many(conn, &new).await
        });
    }
    let mut stored = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let batch = joined.expect("task panicked")?;
        assert_eq!(batch.len(), 100);
        stored.extend(batch.into_iter().map(|t| t.id));
    }

    let conn = &mut db.conn().await?;
    let history = FsmTransition::history(conn, entity).await?;
    assert_eq!(history.len(), 400);
    assert_eq!(
        history.into_iter().map(|t| t.id).collect::<HashSet<_>>(),
        stored
    );
    Ok(())
}

/// Records the SQL of every statement the connection prepares and caches.
struct CachedStatements(Arc<Mutex<Vec<String>>>);

impl Instrumentation for CachedStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::CacheQuery { sql, .. } = event {
            self.0.lock().unwrap().push(sql.to_owned());
        }
    }
}

#[tokio::test]
async fn appends_of_any_size_share_one_cached_statement_per_table_and_form() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn).await?;
    let cached = Arc::new(Mutex::new(Vec::new()));
    conn.set_instrumentation(CachedStatements(Arc::clone(&cached)));

    for size in [1, 7, 100] {
        let transitions: Vec<_> = (0..size)
            .map(|n| new_transition(Uuid::new_v4(), n))
            .collect();
        let steps: Vec<_> = (0..size)
            .map(|n| NewWorkflowStep::new(workflow.id, "step", n as i32))
            .collect();
        FsmTransition::append_many(conn, &transitions).await?;
        WorkflowStep::append_many(conn, &steps).await?;
        FsmTransition::append(conn, &transitions[0]).await?;
        WorkflowStep::append(conn, &steps[0]).await?;
    }

    let cached = cached.lock().unwrap().clone();
    let inserts: Vec<_> = cached
        .iter()
        .filter(|sql| sql.starts_with("INSERT"))
        .map(|sql| sql.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        inserts,
        [
            r#"INSERT INTO fsm_transitions"#,
            r#"INSERT INTO workflow_steps"#,
            r#"INSERT INTO "fsm_transitions""#,
            r#"INSERT INTO "workflow_steps""#,
        ],
        "prepared once per table, batch and single: {cached:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn recent_transitions_page_newest_first_with_every_row_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut expected = HashSet::new();
    for entity in 0..4 {
        let new: Vec<_> = (0..10)
            .map(|n| new_transition(Uuid::from_u128(entity), n))
            .collect();
        expected.extend(
            FsmTransition::append_many(conn, &new)
                .await?
                .into_iter()
                .map(|t| t.id),
        );
    }

    let mut seen = Vec::new();
    let mut request = Some(PageRequest::first(7));
    while let Some(page) = request {
        let page = FsmTransition::recent(conn, page).await?;
        seen.extend(page.items);
        request = page.next;
    }

    assert_eq!(seen.len(), 40);
    assert_eq!(seen.iter().map(|t| t.id).collect::<HashSet<_>>(), expected);
    assert!(seen
        .windows(2)
        .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)));
    Ok(())
}
