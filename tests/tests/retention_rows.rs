//! Retention of the tables that are not partitioned: finished workflows older
//! than their window go with their steps (their stamps stay, unlinked), and
//! nodes silent for longer than theirs go; nothing else does.

use std::collections::BTreeSet;

use bridge_models::{
    retention::{self, RetentionPolicy},
    MetadataStamp, NewMetadataStamp, NewNodeRegistration, NewWorkflowStep, NodeRegistration,
    Result, StateChange, WorkflowExecution, WorkflowState, WorkflowStep,
};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::workflow;
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

async fn lines(conn: &mut AsyncPgConnection, sql: &str) -> Result<BTreeSet<String>> {
    Ok(diesel::sql_query(sql)
        .load::<Line>(conn)
        .await?
        .into_iter()
        .map(|row| row.line)
        .collect())
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) -> Result<()> {
    diesel::sql_query(sql).execute(conn).await?;
    Ok(())
}

/// A workflow moved to `state` (if any), finished `days_ago` days ago, with two steps.
async fn workflow_in(
    conn: &mut AsyncPgConnection,
    state: Option<WorkflowState>,
    days_ago: i64,
) -> Result<Uuid> {
    let workflow = workflow(conn).await?;
    if let Some(state) = state {
        WorkflowExecution::transition(conn, workflow.id, &StateChange::new(state, "test")).await?;
    }
    for order in 0..2 {
        WorkflowStep::append(conn, &NewWorkflowStep::new(workflow.id, "step", order)).await?;
    }
    exec(
        conn,
        &format!(
            "UPDATE workflow_executions SET started_at = now() - interval '{} days',
                 completed_at = CASE WHEN completed_at IS NOT NULL THEN now() - interval '{days_ago} days' END,
                 created_at = now() - interval '{} days'
             WHERE id = '{}'",
            days_ago + 1,
            days_ago + 1,
            workflow.id
        ),
    )
    .await?;
    Ok(workflow.id)
}

#[tokio::test]
async fn finished_workflows_and_silent_nodes_older_than_their_windows_go_and_nothing_else(
) -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let old_completed = workflow_in(conn, Some(WorkflowState::Completed), 40).await?;
    let old_failed = workflow_in(conn, Some(WorkflowState::Failed), 31).await?;
    let old_failed_too = workflow_in(conn, Some(WorkflowState::Failed), 100).await?;
    let recent_completed = workflow_in(conn, Some(WorkflowState::Completed), 29).await?;
    let old_pending = workflow_in(conn, None, 100).await?;
    let old_processing = workflow_in(conn, Some(WorkflowState::Processing), 100).await?;
    let stamp = MetadataStamp::append(
        conn,
        &NewMetadataStamp {
            id: None,
            workflow_id: Some(old_completed),
            file_hash: "ab".repeat(32),
            stamp_data: json!({}),
            namespace: "tenant-a".into(),
        },
    )
    .await?;
    for node in [
        "beat-8-days-ago",
        "never-beat-10-days",
        "beat-now",
        "never-beat-1-day",
    ] {
        NodeRegistration::register(conn, &NewNodeRegistration::new(node, "reducer", "v1")).await?;
    }
    exec(conn, "UPDATE node_registrations SET last_heartbeat = now() - interval '8 days' WHERE node_id = 'beat-8-days-ago'").await?;
    exec(conn, "UPDATE node_registrations SET registered_at = now() - interval '10 days' WHERE node_id = 'never-beat-10-days'").await?;
    exec(
        conn,
        "UPDATE node_registrations SET last_heartbeat = now() WHERE node_id = 'beat-now'",
    )
    .await?;
    exec(conn, "UPDATE node_registrations SET registered_at = now() - interval '1 day' WHERE node_id = 'never-beat-1-day'").await?;
    let policy = RetentionPolicy {
        workflows_days: 30,
        nodes_days: 7,
        batch_size: 2,
        ..Default::default()
    };

    let report = retention::run(conn, &policy).await.unwrap();

    let ids = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<BTreeSet<_>>();
    let kept = ids(&[recent_completed, old_pending, old_processing]);
    assert_eq!(
        lines(conn, "SELECT id::text AS line FROM workflow_executions").await?,
        kept
    );
    assert_eq!(
        lines(
            conn,
            "SELECT DISTINCT workflow_id::text AS line FROM workflow_steps"
        )
        .await?,
        kept,
        "the steps of deleted workflows went with them"
    );
    assert_eq!(
        MetadataStamp::find(conn, stamp.id).await?.workflow_id,
        None,
        "the stamp stays, unlinked"
    );
    assert_eq!(
        lines(conn, "SELECT node_id::text AS line FROM node_registrations").await?,
        ["beat-now", "never-beat-1-day"].map(String::from).into()
    );
    assert_eq!(report.workflows.deleted, 3);
    assert_eq!(report.workflows.batches, 2, "batches of 2: 2 + 1");
    assert_eq!(report.nodes.deleted, 2);
    let _ = (old_failed, old_failed_too);

    let again = retention::run(conn, &policy).await.unwrap();
    assert_eq!((again.workflows.deleted, again.nodes.deleted), (0, 0));
    Ok(())
}
