//! A session the server ends during a call is `ConnectionLost`, which says a retry can succeed, and the pool replaces the connection.

use std::time::Duration;

use bridge_models::{Error, Result, StateChange, WorkflowExecution, WorkflowState};
use bridge_testkit::TestDatabase;
use bridge_tests::{fixtures::workflow, number};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_terminated_mid_call_is_connection_lost() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let created = workflow(&mut *db.conn().await?).await?;
    // Another session holds the workflow's row, so the state change waits on it.
    let mut holder = AsyncPgConnection::establish(test_db.url())
        .await
        .expect("a session");
    diesel::sql_query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    diesel::sql_query(format!(
        "SELECT 1 FROM workflow_executions WHERE id = '{}' FOR UPDATE",
        created.id
    ))
    .execute(&mut holder)
    .await
    .expect("lock");
    let call = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut conn = db.conn().await?;
            let change = StateChange::new(WorkflowState::Processing, "start");
            WorkflowExecution::transition(&mut conn, created.id, &change).await
        })
    };

    let mut admin = AsyncPgConnection::establish(test_db.url())
        .await
        .expect("a session");
    let terminated = loop {
        let ended = number(
            &mut admin,
            &format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE datname = '{}' AND wait_event_type = 'Lock'",
                test_db.name()
            ),
        )
        .await;
        if ended > 0 || call.is_finished() {
            break ended;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let result = call.await.expect("the call ran");
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");

    assert_eq!(terminated, 1);
    assert!(
        matches!(result, Err(Error::ConnectionLost(_))),
        "{result:?}"
    );
    assert!(result.unwrap_err().is_retryable());
    let mut conn = db.conn().await?;
    assert_eq!(
        WorkflowExecution::find(&mut conn, created.id)
            .await?
            .current_state,
        WorkflowState::Pending,
        "the lost call changed nothing"
    );
    Ok(())
}
