//! Workflow executions: create, find (by id, correlation id, or either), state changes with their transitions, update, delete, paged lists.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use bridge_models::{
    Error, FsmTransition, NewWorkflowExecution, PageRequest, Result, StateChange,
    WorkflowExecution, WorkflowExecutionChangeset, WorkflowState,
};
use bridge_testkit::TestDatabase;
use chrono::{Duration, Utc};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

fn new_workflow(namespace: &str) -> NewWorkflowExecution {
    NewWorkflowExecution::new(Uuid::new_v4(), "metadata_stamping", namespace)
}

#[tokio::test]
async fn creating_a_workflow_round_trips_every_field() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = new_workflow("tenant-a");
    new.metadata = json!({"source": "s3://bucket/file", "size": 42});

    let created = WorkflowExecution::create(conn, &new).await?;

    assert_eq!(created.id.get_version_num(), 7, "generated ids are UUIDv7");
    assert_eq!(created.correlation_id, new.correlation_id);
    assert_eq!(created.workflow_type, "metadata_stamping");
    assert_eq!(created.current_state, WorkflowState::Pending);
    assert_eq!(created.namespace, "tenant-a");
    assert_eq!(created.started_at, new.started_at);
    assert_eq!(created.completed_at, None);
    assert_eq!(created.execution_time_ms, None);
    assert_eq!(created.error_message, None);
    assert_eq!(created.metadata, new.metadata);
    assert_eq!(WorkflowExecution::find(conn, created.id).await?, created);
    assert_eq!(
        WorkflowExecution::find_by_correlation_id(conn, new.correlation_id).await?,
        created
    );
    Ok(())
}

#[tokio::test]
async fn finding_by_id_or_correlation_id_takes_either_and_prefers_the_id() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let key = Uuid::now_v7();
    // Stored first (so a scan meets it first): the workflow whose correlation id is `key`...
    let mut clash = new_workflow("tenant-a");
    clash.correlation_id = key;
    let second = WorkflowExecution::create(conn, &clash).await?;
    // ...then the one whose id is `key`.
    let mut new = new_workflow("tenant-a");
    new.id = Some(key);
    let first = WorkflowExecution::create(conn, &new).await?;

    let by_id = WorkflowExecution::find_by_id_or_correlation_id(conn, second.id).await?;
    let by_correlation =
        WorkflowExecution::find_by_id_or_correlation_id(conn, first.correlation_id).await?;
    let ambiguous = WorkflowExecution::find_by_id_or_correlation_id(conn, first.id).await?;
    let unknown = Uuid::new_v4();
    let missing = WorkflowExecution::find_by_id_or_correlation_id(conn, unknown).await;

    assert_eq!(by_id, second);
    assert_eq!(by_correlation, first);
    assert_eq!(ambiguous, first, "an id wins over a correlation id");
    match missing {
        Err(Error::NotFound { key, .. }) => {
            assert_eq!(key, format!("id or correlation id {unknown}"))
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn re_creating_a_workflow_with_its_id_returns_the_stored_row() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = new_workflow("tenant-a");
    new.id = Some(Uuid::new_v4());
    let first = WorkflowExecution::create(conn, &new).await?;

    let mut redelivered = new.clone();
    redelivered.workflow_type = "something_else".into();
    let second = WorkflowExecution::create(conn, &redelivered).await?;

    assert_eq!(first.id, new.id.unwrap());
    assert_eq!(second, first, "the stored row wins, unchanged");
    let page = WorkflowExecution::list_by_namespace_and_state(
        conn,
        "tenant-a",
        WorkflowState::Pending,
        PageRequest::first(10),
    )
    .await?;
    assert_eq!(page.items, vec![first]);
    Ok(())
}

#[tokio::test]
async fn a_state_change_writes_exactly_one_transition() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow("tenant-a")).await?;
    let mut change = StateChange::new(WorkflowState::Processing, "start");
    change.data = json!({"worker": 3});

    let (moved, transition) = WorkflowExecution::transition(conn, workflow.id, &change).await?;

    assert_eq!(moved.current_state, WorkflowState::Processing);
    assert_eq!(moved.completed_at, None);
    assert_eq!(WorkflowExecution::find(conn, workflow.id).await?, moved);
    let history = FsmTransition::history(conn, workflow.id).await?;
    assert_eq!(history, vec![transition]);
    let only = &history[0];
    assert_eq!(only.entity_type, WorkflowExecution::ENTITY_TYPE);
    assert_eq!(only.from_state.as_deref(), Some("PENDING"));
    assert_eq!(only.to_state, "PROCESSING");
    assert_eq!(only.transition_event, "start");
    assert_eq!(only.transition_data, json!({"worker": 3}));
    Ok(())
}

#[tokio::test]
async fn reaching_a_terminal_state_sets_completion_time_and_nothing_leaves_it() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = new_workflow("tenant-a");
    new.started_at -= Duration::milliseconds(1_500);
    let workflow = WorkflowExecution::create(conn, &new).await?;

    let mut fail = StateChange::new(WorkflowState::Failed, "hash_error");
    fail.error_message = Some("disk full".into());
    let (failed, _) = WorkflowExecution::transition(conn, workflow.id, &fail).await?;

    let completed_at = failed
        .completed_at
        .expect("a terminal state sets completed_at");
    assert!(completed_at >= failed.started_at && completed_at <= Utc::now());
    let millis = failed.execution_time_ms.expect("and execution_time_ms");
    assert!((1_500..60_000).contains(&millis), "{millis} ms");
    assert_eq!(failed.error_message.as_deref(), Some("disk full"));

    let retry = StateChange::new(WorkflowState::Pending, "retry");
    let refused = WorkflowExecution::transition(conn, workflow.id, &retry).await;
    assert!(
        matches!(
            refused,
            Err(Error::IllegalTransition {
                from: WorkflowState::Failed,
                to: WorkflowState::Pending,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(WorkflowExecution::find(conn, workflow.id).await?, failed);
    let history = FsmTransition::history(conn, workflow.id).await?;
    let moves: Vec<_> = history
        .iter()
        .map(|t| (t.from_state.as_deref(), t.to_state.as_str()))
        .collect();
    assert_eq!(moves, [(Some("PENDING"), "FAILED")]);
    Ok(())
}

#[tokio::test]
async fn a_workflow_whose_start_lies_ahead_completes_at_its_start() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = new_workflow("tenant-a");
    // The caller's clock runs an hour ahead of ours.
    new.started_at += Duration::hours(1);
    let workflow = WorkflowExecution::create(conn, &new).await?;

    let done = StateChange::new(WorkflowState::Completed, "done");
    let (completed, _) = WorkflowExecution::transition(conn, workflow.id, &done).await?;

    assert_eq!(completed.completed_at, Some(workflow.started_at));
    assert_eq!(completed.execution_time_ms, Some(0));
    Ok(())
}

/// Records every statement a connection starts and every one it prepares for its cache.
#[derive(Default, Clone)]
struct Statements {
    started: Arc<Mutex<Vec<String>>>,
    cached: Arc<Mutex<Vec<String>>>,
}

impl Instrumentation for Statements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                self.started.lock().unwrap().push(query.to_string());
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                self.cached.lock().unwrap().push(sql.to_owned());
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_state_change_is_one_cached_statement() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow("tenant-a")).await?;
    let statements = Statements::default();
    conn.set_instrumentation(statements.clone());

    for (to, event) in [
        (WorkflowState::Processing, "start"),
        (WorkflowState::Completed, "done"),
    ] {
        WorkflowExecution::transition(conn, workflow.id, &StateChange::new(to, event)).await?;
    }

    let started = statements.started.lock().unwrap().clone();
    assert_eq!(started.len(), 2, "one statement per change: {started:#?}");
    assert_eq!(statements.cached.lock().unwrap().len(), 1, "prepared once");
    Ok(())
}

#[tokio::test]
async fn a_state_change_of_a_missing_workflow_is_not_found_and_records_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let missing = Uuid::now_v7();

    let change = StateChange::new(WorkflowState::Processing, "start");
    let err = WorkflowExecution::transition(conn, missing, &change)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::NotFound { entity: "workflow execution", key } if *key == missing.to_string()),
        "{err:?}"
    );
    assert!(FsmTransition::history(conn, missing).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_state_changes_queue_and_chain_their_from_states() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let workflow = WorkflowExecution::create(&mut *db.conn().await?, &new_workflow("ns")).await?;
    let targets = [WorkflowState::Processing, WorkflowState::Completed];

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        let db = db.clone();
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            let change = StateChange::new(targets[task % 2], format!("task-{task}"));
            WorkflowExecution::transition(conn, workflow.id, &change).await
        });
    }
    let mut moved = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task panicked") {
            Ok(_) => moved += 1,
            Err(Error::IllegalTransition { .. }) => {}
            Err(other) => return Err(other),
        }
    }

    let conn = &mut db.conn().await?;
    let history = FsmTransition::history(conn, workflow.id).await?;
    assert_eq!(history.len(), moved);
    assert!((1..=2).contains(&moved), "{history:?}");
    assert_eq!(history[0].from_state.as_deref(), Some("PENDING"));
    for pair in history.windows(2) {
        assert_eq!(
            pair[1].from_state.as_deref(),
            Some(pair[0].to_state.as_str())
        );
    }
    let last = WorkflowExecution::find(conn, workflow.id).await?;
    assert_eq!(last.current_state, WorkflowState::Completed);
    assert_eq!(last.current_state.as_str(), history[moved - 1].to_state);
    Ok(())
}

#[tokio::test]
async fn updating_a_workflow_changes_only_the_given_fields() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow("tenant-a")).await?;

    let changes = WorkflowExecutionChangeset {
        metadata: Some(json!({"retries": 1})),
        ..Default::default()
    };
    let updated = WorkflowExecution::update(conn, workflow.id, &changes).await?;

    assert_eq!(updated.metadata, json!({"retries": 1}));
    assert_eq!(updated.current_state, workflow.current_state);
    assert_eq!(updated.error_message, None);
    assert!(updated.updated_at >= workflow.updated_at);
    assert_eq!(WorkflowExecution::find(conn, workflow.id).await?, updated);
    let missing = WorkflowExecution::update(conn, Uuid::now_v7(), &changes).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    Ok(())
}

/// Creates `count` workflows in `namespace` and `state`; half of them in one
/// transaction, so their `created_at` ties and only `id` orders them.
async fn seed(
    conn: &mut AsyncPgConnection,
    namespace: &str,
    state: WorkflowState,
    count: usize,
) -> Result<HashSet<Uuid>> {
    let mut ids = HashSet::new();
    let make = |_| {
        let mut new = new_workflow(namespace);
        new.current_state = state;
        new
    };
    let tied: Vec<_> = (0..count / 2).map(make).collect();
    let created = conn
        .transaction(async |conn| {
            let mut rows = Vec::new();
            for new in &tied {
                rows.push(WorkflowExecution::create(conn, new).await?);
            }
            Ok::<_, Error>(rows)
        })
        .await?;
    ids.extend(created.iter().map(|row| row.id));
    for new in (count / 2..count).map(make) {
        ids.insert(WorkflowExecution::create(conn, &new).await?.id);
    }
    Ok(ids)
}

#[tokio::test]
async fn listing_by_namespace_and_state_pages_every_row_exactly_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let expected = seed(conn, "tenant-a", WorkflowState::Processing, 37).await?;
    seed(conn, "tenant-b", WorkflowState::Processing, 6).await?;
    seed(conn, "tenant-a", WorkflowState::Pending, 4).await?;

    let mut seen = Vec::new();
    let mut request = Some(PageRequest::first(5));
    while let Some(page) = request {
        let page = WorkflowExecution::list_by_namespace_and_state(
            conn,
            "tenant-a",
            WorkflowState::Processing,
            page,
        )
        .await?;
        assert!(page.items.len() <= 5);
        seen.extend(page.items);
        request = page.next;
    }

    let ids: Vec<Uuid> = seen.iter().map(|row| row.id).collect();
    assert_eq!(ids.len(), 37, "no row twice");
    assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), expected);
    assert!(seen
        .iter()
        .all(|row| row.namespace == "tenant-a" && row.current_state == WorkflowState::Processing));
    assert!(
        seen.windows(2)
            .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)),
        "newest first"
    );
    Ok(())
}

#[tokio::test]
async fn an_out_of_range_page_size_is_refused() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    for limit in [0, PageRequest::MAX_LIMIT + 1] {
        let result = WorkflowExecution::list_by_namespace_and_state(
            conn,
            "tenant-a",
            WorkflowState::Pending,
            PageRequest::first(limit),
        )
        .await;
        assert!(
            matches!(result, Err(Error::InvalidValue { .. })),
            "{result:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn deleting_a_workflow_reports_whether_it_existed() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow("tenant-a")).await?;

    assert!(WorkflowExecution::delete(conn, workflow.id).await?);
    assert!(!WorkflowExecution::delete(conn, workflow.id).await?);
    let gone = WorkflowExecution::find(conn, workflow.id).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    Ok(())
}
