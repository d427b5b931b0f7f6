//! Batched workflow state changes (`transition_many_by_correlation_id`): each change's outcome is the single call's, changes to one workflow apply in input order, redeliveries (also concurrent ones) change nothing, locks are taken in id order.

use std::collections::HashMap;

use bridge_models::{
    Error, FsmTransition, NewWorkflowExecution, Result, StateChange, WorkflowExecution,
    WorkflowState,
};
use bridge_schema::workflow_executions;
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::{new_workflow, workflow};
use diesel::{dsl::sql, prelude::*, sql_types::Bool};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use WorkflowState::{Completed, Failed, Pending, Processing};

/// Workflows and change ids of one twin of the mixed scenario.
struct World {
    /// The scenario's workflows by name, as created (and prepared).
    workflows: Vec<(&'static str, WorkflowExecution)>,
    /// Change ids by name.
    ids: Vec<(&'static str, Uuid)>,
    /// A correlation id no workflow has.
    missing: Uuid,
    /// A change already applied to workflow `again`, to deliver again.
    applied: StateChange,
}

impl World {
    /// Creates the workflows of the scenario: `done` completed, `again` with
    /// `applied` applied, the others pending.
    async fn create(conn: &mut AsyncPgConnection) -> Result<Self> {
        let mut workflows = Vec::new();
        for name in ["p1", "done", "again", "p4", "p5", "p6"] {
            workflows.push((name, workflow(conn).await?));
        }
        let done = StateChange::new(Completed, "done");
        WorkflowExecution::transition(conn, workflows[1].1.id, &done).await?;
        let applied = StateChange::new(Processing, "start").with_id(Uuid::now_v7());
        WorkflowExecution::transition(conn, workflows[2].1.id, &applied).await?;
        let ids = ["id0", "id2", "id4", "id9"].map(|name| (name, Uuid::now_v7()));
        Ok(Self {
            workflows,
            ids: ids.into(),
            missing: Uuid::new_v4(),
            applied,
        })
    }

    fn workflow(&self, name: &str) -> &WorkflowExecution {
        &self.workflows.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn id(&self, name: &str) -> Uuid {
        self.ids.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// The mixed batch: legal, illegal, missing, redelivered, and workflows
    /// named two or three times (by workflow and by change id).
    fn changes(&self) -> Vec<(Uuid, StateChange)> {
        let at = |name| self.workflow(name).correlation_id;
        vec![
            (
                at("p1"),
                StateChange::new(Processing, "start").with_id(self.id("id0")),
            ),
            (at("done"), StateChange::new(Processing, "late start")),
            (
                self.missing,
                StateChange::new(Completed, "done").with_id(self.id("id2")),
            ),
            (at("again"), self.applied.clone()),
            (
                at("p1"),
                StateChange {
                    error_message: Some("finished late".into()),
                    ..StateChange::new(Completed, "done").with_id(self.id("id4"))
                },
            ),
            (
                at("p4"),
                StateChange {
                    data: json!({"code": 7}),
                    error_message: Some("boom".into()),
                    ..StateChange::new(Failed, "error")
                },
            ),
            (at("p4"), StateChange::new(Processing, "late start")),
            (
                at("p5"),
                StateChange::new(Processing, "start").with_id(self.id("id0")),
            ),
            (at("p5"), StateChange::new(Completed, "done")),
            (
                at("p6"),
                StateChange::new(Processing, "start").with_id(self.id("id9")),
            ),
            (
                at("p6"),
                StateChange::new(Processing, "start").with_id(self.id("id9")),
            ),
        ]
    }

    /// `text` with every id of this world replaced by its name, so the two twins compare.
    fn named(&self, text: String) -> String {
        let mut text = text.replace(&self.missing.to_string(), "missing");
        for (name, workflow) in &self.workflows {
            text = text.replace(&workflow.id.to_string(), &format!("{name}.id"));
            text = text.replace(&workflow.correlation_id.to_string(), &format!("{name}.cid"));
        }
        for (name, id) in &self.ids {
            text = text.replace(&id.to_string(), name);
        }
        text = text.replace(&self.applied.id.unwrap().to_string(), "applied");
        text
    }

    /// `outcome`, described with this world's names.
    fn describe<T>(&self, outcome: &Result<T>) -> String {
        match outcome {
            Ok(_) => "ok".into(),
            Err(err) => self.named(format!("{err:?}")),
        }
    }

    /// Each workflow as it is now and its transitions, described with this world's names.
    async fn state(&self, conn: &mut AsyncPgConnection) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for (name, created) in &self.workflows {
            let now = WorkflowExecution::find(conn, created.id).await?;
            lines.push(format!(
                "{name}: {} completed {} ms {} error {:?}",
                now.current_state,
                now.completed_at.is_some(),
                now.execution_time_ms.is_some(),
                now.error_message
            ));
            for t in FsmTransition::history(conn, created.id).await? {
                let named = self.named(t.id.to_string());
                let id = if named.contains('-') { "new" } else { &named };
                lines.push(format!(
                    "  {id} {:?} -> {} by {} {}",
                    t.from_state, t.to_state, t.transition_event, t.transition_data
                ));
            }
        }
        Ok(lines)
    }
}

#[tokio::test]
async fn each_change_of_a_mixed_batch_has_the_single_calls_outcome_in_input_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let (batch_world, single_world) = (World::create(conn).await?, World::create(conn).await?);

    let batch =
        WorkflowExecution::transition_many_by_correlation_id(conn, &batch_world.changes()).await?;
    let mut single = Vec::new();
    for (correlation_id, change) in single_world.changes() {
        single.push(
            WorkflowExecution::transition_by_correlation_id(conn, correlation_id, &change).await,
        );
    }

    let described: Vec<_> = batch.iter().map(|o| batch_world.describe(o)).collect();
    let expected: Vec<_> = single.iter().map(|o| single_world.describe(o)).collect();
    assert_eq!(described, expected);
    let (done, p4) = (
        batch_world.workflow("done").id,
        batch_world.workflow("p4").id,
    );
    assert!(
        matches!(
            &batch[..],
            [
                Ok(()),
                Err(Error::IllegalTransition { workflow_id: w1, from: Completed, to: Processing }),
                Err(Error::NotFound { .. }),
                Ok(()),
                Ok(()),
                Ok(()),
                Err(Error::IllegalTransition { workflow_id: w6, from: Failed, to: Processing }),
                Err(Error::InvalidValue { .. }),
                Ok(()),
                Ok(()),
                Ok(()),
            ] if *w1 == done && *w6 == p4
        ),
        "{described:#?}"
    );
    assert_eq!(
        batch_world.state(conn).await?,
        single_world.state(conn).await?
    );

    let p1 = batch_world.workflow("p1");
    let history = FsmTransition::history(conn, p1.id).await?;
    let moves: Vec<_> = history
        .iter()
        .map(|t| (t.id, t.from_state.as_deref(), t.to_state.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (batch_world.id("id0"), Some("PENDING"), "PROCESSING"),
            (batch_world.id("id4"), Some("PROCESSING"), "COMPLETED"),
        ]
    );
    let p1 = WorkflowExecution::find(conn, p1.id).await?;
    assert!(p1.completed_at.is_some() && p1.execution_time_ms.is_some());
    assert_eq!(p1.error_message.as_deref(), Some("finished late"));
    Ok(())
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing_and_has_the_same_outcomes() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let (w1, w2) = (workflow(conn).await?, workflow(conn).await?);
    let change = |to, event| StateChange::new(to, event).with_id(Uuid::now_v7());
    let changes = [
        (w1.correlation_id, change(Processing, "start")),
        (w1.correlation_id, change(Completed, "done")),
        (w2.correlation_id, change(Failed, "error")),
        (w2.correlation_id, change(Processing, "late start")),
    ];

    let first = WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await?;
    let rows = [
        WorkflowExecution::find(conn, w1.id).await?,
        WorkflowExecution::find(conn, w2.id).await?,
    ];
    let histories = [
        FsmTransition::history(conn, w1.id).await?,
        FsmTransition::history(conn, w2.id).await?,
    ];
    let again = WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await?;

    for outcomes in [&first, &again] {
        assert!(
            matches!(
                &outcomes[..],
                [
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Err(Error::IllegalTransition {
                        from: Failed,
                        to: Processing,
                        ..
                    })
                ]
            ),
            "{outcomes:?}"
        );
    }
    assert_eq!(rows[0].current_state, Completed);
    assert_eq!(histories[0].len() + histories[1].len(), 3);
    assert_eq!(WorkflowExecution::find(conn, w1.id).await?, rows[0]);
    assert_eq!(WorkflowExecution::find(conn, w2.id).await?, rows[1]);
    assert_eq!(FsmTransition::history(conn, w1.id).await?, histories[0]);
    assert_eq!(FsmTransition::history(conn, w2.id).await?, histories[1]);
    let none: &[(Uuid, StateChange)] = &[];
    assert!(
        WorkflowExecution::transition_many_by_correlation_id(conn, none)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_bad_change_is_named_and_nothing_is_written() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    let good = StateChange::new(Processing, "start");
    let cases = [
        (
            StateChange::new(Completed, "done").with_id(Uuid::new_v4()),
            "state change id",
            "UUIDv4",
        ),
        (
            StateChange::new(Completed, "e".repeat(101)),
            "fsm_transitions.transition_event",
            "101 characters, at most 100",
        ),
    ];

    for (bad, field, problem) in cases {
        let changes = [
            (created.correlation_id, good.clone()),
            (created.correlation_id, bad),
        ];
        let result = WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await;

        assert!(
            matches!(&result, Err(Error::InvalidValue { field: f, problem: p })
                if f == field && p.contains(problem) && p.ends_with("(row 1 of the batch)")),
            "{result:?}"
        );
    }
    assert_eq!(WorkflowExecution::find(conn, created.id).await?, created);
    assert!(FsmTransition::history(conn, created.id).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_batch_locks_its_workflows_in_id_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    // Random ids, so neither the insertion order nor the input order is the id order.
    let mut created = Vec::new();
    for _ in 0..20 {
        let new = NewWorkflowExecution {
            id: Some(Uuid::new_v4()),
            ..new_workflow()
        };
        created.push(WorkflowExecution::create(conn, &new).await?);
    }
    let mut by_id: Vec<Uuid> = created.iter().map(|w| w.id).collect();
    by_id.sort();
    let held = by_id[10];
    let changes: HashMap<_, _> = created
        .iter()
        .map(|w| {
            (
                w.id,
                (w.correlation_id, StateChange::new(Processing, "start")),
            )
        })
        .collect();
    let changes: Vec<_> = created
        .iter()
        .rev()
        .map(|w| changes[&w.id].clone())
        .collect();

    // Another transaction holds the middle workflow: the batch locks those
    // before it and waits there.
    let blocker = &mut db.conn().await?;
    diesel::sql_query("BEGIN").execute(blocker).await?;
    workflow_executions::table
        .find(held)
        .select(workflow_executions::id)
        .for_update()
        .load::<Uuid>(blocker)
        .await?;
    let batch = tokio::spawn({
        let db = db.clone();
        async move {
            let conn = &mut db.conn().await?;
            WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await
        }
    });
    let waiting = sql::<Bool>(
        "EXISTS (SELECT 1 FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock')",
    );
    let mut polls = 0;
    while !diesel::select(waiting.clone()).load::<bool>(conn).await?[0] {
        polls += 1;
        assert!(polls < 500, "the batch never waited for the held workflow");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut free = workflow_executions::table
        .select(workflow_executions::id)
        .for_update()
        .skip_locked()
        .load::<Uuid>(conn)
        .await?;
    diesel::sql_query("ROLLBACK").execute(blocker).await?;
    let outcomes = batch.await.expect("batch task panicked")?;

    free.sort();
    assert_eq!(
        free,
        by_id[11..],
        "locked: exactly the ids below the held one"
    );
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    for id in by_id {
        assert_eq!(
            WorkflowExecution::find(conn, id).await?.current_state,
            Processing
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_workflow_named_twice_moves_twice_in_input_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let created = workflow(conn).await?;
    assert_eq!(created.current_state, Pending);
    let cid = created.correlation_id;
    let changes = [
        (cid, StateChange::new(Pending, "restart")),
        (cid, StateChange::new(Processing, "start")),
        (cid, StateChange::new(Completed, "done")),
        (cid, StateChange::new(Failed, "late error")),
    ];

    let outcomes = WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await?;

    // Each refusal names the state the changes before it left.
    assert!(
        matches!(
            &outcomes[..],
            [
                Err(Error::IllegalTransition {
                    from: Pending,
                    to: Pending,
                    ..
                }),
                Ok(()),
                Ok(()),
                Err(Error::IllegalTransition {
                    from: Completed,
                    to: Failed,
                    ..
                })
            ]
        ),
        "{outcomes:?}"
    );
    let history = FsmTransition::history(conn, created.id).await?;
    let moves: Vec<_> = history
        .iter()
        .map(|t| (t.from_state.as_deref(), t.to_state.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (Some("PENDING"), "PROCESSING"),
            (Some("PROCESSING"), "COMPLETED")
        ]
    );
    assert!(history[0].created_at <= history[1].created_at);
    let stored = WorkflowExecution::find(conn, created.id).await?;
    assert_eq!(stored.current_state, Completed);
    assert!(stored.completed_at.is_some() && stored.execution_time_ms.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_delivered_by_eight_tasks_at_once_is_recorded_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let (w1, w2) = {
        let conn = &mut db.conn().await?;
        (workflow(conn).await?, workflow(conn).await?)
    };
    let changes = vec![
        (
            w2.correlation_id,
            StateChange::new(Completed, "done").with_id(Uuid::now_v7()),
        ),
        (
            w1.correlation_id,
            StateChange::new(Failed, "error").with_id(Uuid::now_v7()),
        ),
    ];

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (db, changes) = (db.clone(), changes.clone());
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let outcomes = joined.expect("task panicked")?;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }

    let conn = &mut db.conn().await?;
    for (workflow, (_, change)) in [(&w2, &changes[0]), (&w1, &changes[1])] {
        let history = FsmTransition::history(conn, workflow.id).await?;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].id, change.id.unwrap());
        assert_eq!(
            WorkflowExecution::find(conn, workflow.id)
                .await?
                .current_state,
            change.to
        );
    }
    Ok(())
}

/// Statements this session keeps prepared whose text starts with `prefix`.
async fn prepared(conn: &mut AsyncPgConnection, prefix: &str) -> i64 {
    bridge_tests::number(
        conn,
        &format!(
            "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE '{prefix}%'"
        ),
    )
    .await
}

#[tokio::test]
async fn the_batch_statements_are_planned_with_each_batch_not_cached() -> Result<()> {
    // A generic plan cached while the tables were small keeps scanning them
    // whole once they are big; these two run once per adapter batch.
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    for _ in 0..8 {
        let created = workflow(conn).await?;
        let change = StateChange::new(Processing, "start").with_id(Uuid::now_v7());
        let moved = WorkflowExecution::transition_many_by_correlation_id(
            conn,
            &[(created.correlation_id, change)],
        )
        .await?;
        assert!(moved[0].is_ok(), "{moved:?}");
        let found =
            WorkflowExecution::ids_by_correlation_ids(conn, &[created.correlation_id]).await?;
        assert_eq!(found, vec![(created.correlation_id, created.id)]);
        WorkflowExecution::find(conn, created.id).await?;
    }
    // A lookup by id is cached as usual: the probe sees the session's statements.
    assert!(prepared(conn, "SELECT \"workflow_executions\".\"id\"").await > 0);
    assert_eq!(prepared(conn, "WITH input AS").await, 0);
    assert_eq!(
        prepared(
            conn,
            "SELECT \"workflow_executions\".\"correlation_id\", \"workflow_executions\".\"id\""
        )
        .await,
        0
    );
    Ok(())
}
