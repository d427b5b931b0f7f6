//! A real deadlock between two sessions: PostgreSQL aborts one (SQLSTATE 40P01), the other commits, and the victim's error is what `bridge-models` documents.
//!
//! diesel-async names only SQLSTATE 40001 (`SerializationFailure`) among the
//! transaction-rollback codes, and diesel's `DatabaseErrorInformation` has no
//! accessor for the code, so a deadlock reaches the data layer as an
//! unclassified server error with a localised message. The crate classifies
//! by SQLSTATE only, never by message text, so it stays `Error::Database`,
//! not retryable; this test fails, and the documentation must change, the day
//! the driver passes 40P01 on.

use std::sync::Arc;

use bridge_models::{BridgeState, BridgeStateDelta, Error, Result};
use bridge_testkit::TestDatabase;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use tokio::sync::Barrier;
use uuid::Uuid;

/// A delta adding one workflow to `bridge`.
fn one_more(bridge: Uuid) -> BridgeStateDelta {
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    delta.total_workflows_processed = 1;
    delta
}

/// In one transaction: a delta to `first`, then (once the other session
/// holds its first row too) a delta to `second`.
async fn cross(
    conn: &mut AsyncPgConnection,
    first: Uuid,
    second: Uuid,
    both_locked: Arc<Barrier>,
) -> Result<()> {
    conn.transaction(async |conn| {
        BridgeState::apply_delta(conn, &one_more(first)).await?;
        both_locked.wait().await;
        BridgeState::apply_delta(conn, &one_more(second)).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_deadlock_aborts_one_session_with_an_unclassified_error_and_the_other_commits(
) -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    {
        let conn = &mut db.conn().await?;
        BridgeState::apply_delta(
            conn,
            &BridgeStateDelta::new(Uuid::now_v7(), x, "tenant-a", "NEW"),
        )
        .await?;
        BridgeState::apply_delta(
            conn,
            &BridgeStateDelta::new(Uuid::now_v7(), y, "tenant-a", "NEW"),
        )
        .await?;
    }
    let (mut a, mut b) = (db.conn().await?, db.conn().await?);
    let both_locked = Arc::new(Barrier::new(2));

    let (left, right) = tokio::join!(
        cross(&mut a, x, y, both_locked.clone()),
        cross(&mut b, y, x, both_locked),
    );

    let (won, lost) = match (left, right) {
        (Ok(()), Err(err)) | (Err(err), Ok(())) => ((), err),
        other => panic!("exactly one session should be the deadlock victim: {other:?}"),
    };
    let () = won;
    assert!(
        matches!(lost, Error::Database(_)),
        "a deadlock (40P01) is an unclassified server error: {lost:?}"
    );
    assert!(!lost.is_retryable(), "{lost:?}");
    // The winner's two deltas committed; the victim's were rolled back.
    let conn = &mut db.conn().await?;
    let totals = BridgeState::find(conn, x).await?.total_workflows_processed
        + BridgeState::find(conn, y).await?.total_workflows_processed;
    assert_eq!(totals, 2);
    Ok(())
}
