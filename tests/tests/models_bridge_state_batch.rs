//! `BridgeState::apply_deltas`: many deltas in one call end exactly where the
//! same deltas applied one by one end; redeliveries and repeats count once; a
//! refused delta refuses the call and writes nothing.

use bridge_models::{AppliedDelta, BridgeState, BridgeStateDelta, Error, Result};
use bridge_testkit::TestDatabase;
use chrono::{Duration, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

/// A delta for `bridge` adding `workflows` and `items`, with `metadata`,
/// moving to `state` at `minutes` from now.
fn delta(
    bridge: Uuid,
    workflows: i64,
    items: i64,
    metadata: serde_json::Value,
    state: &str,
    minutes: i64,
) -> BridgeStateDelta {
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", state);
    delta.total_workflows_processed = workflows;
    delta.total_items_aggregated = items;
    delta.aggregation_metadata = metadata;
    delta.last_aggregation_timestamp =
        Some(Utc::now().trunc_subsecs(6) + Duration::minutes(minutes));
    delta
}

/// What the row holds that deltas decide (not its insert and update times).
async fn decided(conn: &mut AsyncPgConnection, bridge: Uuid) -> Result<serde_json::Value> {
    let row = BridgeState::find(conn, bridge).await?;
    Ok(json!({
        "namespace": row.namespace,
        "workflows": row.total_workflows_processed,
        "items": row.total_items_aggregated,
        "metadata": row.aggregation_metadata,
        "state": row.current_fsm_state,
        "at": row.last_aggregation_timestamp,
    }))
}

/// The same deltas for other bridge ids (`from` -> `to`).
fn moved(deltas: &[BridgeStateDelta], from: &[Uuid], to: &[Uuid]) -> Vec<BridgeStateDelta> {
    deltas
        .iter()
        .map(|delta| {
            let mut copy = delta.clone();
            copy.id = Uuid::now_v7();
            let at = from.iter().position(|&b| b == delta.bridge_id).unwrap();
            copy.bridge_id = to[at];
            copy
        })
        .collect()
}

#[tokio::test]
async fn a_batch_ends_where_the_same_deltas_one_by_one_end() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = vec![
        delta(a, 1, 10, json!({"x": 1, "keep": true}), "AGGREGATING", 5),
        delta(b, 2, 20, json!({"y": 1}), "AGGREGATING", 3),
        delta(a, 3, 30, json!({"x": 2}), "IDLE", -5),
        // Not an object: merged by PostgreSQL, so not folded with the others.
        delta(a, 4, 40, json!(["listed"]), "DONE", 1),
        delta(a, 5, 50, json!({"z": 3}), "IDLE", 2),
        // Earlier than the bridge's last: the stored time keeps the later.
        delta(b, 6, 60, json!({}), "DONE", 0),
    ];
    assert_eq!(BridgeState::apply_deltas(conn, &batch).await?, 6);

    let (c, d) = (Uuid::now_v7(), Uuid::now_v7());
    for one in moved(&batch, &[a, b], &[c, d]) {
        BridgeState::apply_delta(conn, &one).await?;
    }
    assert_eq!(decided(conn, a).await?, decided(conn, c).await?);
    assert_eq!(decided(conn, b).await?, decided(conn, d).await?);
    assert_eq!(decided(conn, a).await?["workflows"], 13);
    assert_eq!(decided(conn, b).await?["state"], "DONE");
    for one in &batch {
        AppliedDelta::find(conn, one.id).await?;
    }
    Ok(())
}

#[tokio::test]
async fn redelivered_and_repeated_deltas_count_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let first = delta(bridge, 1, 10, json!({"a": 1}), "AGGREGATING", 0);
    let second = delta(bridge, 2, 20, json!({"b": 2}), "IDLE", 1);
    assert_eq!(
        BridgeState::apply_deltas(conn, &[first.clone(), first.clone()]).await?,
        1
    );
    assert_eq!(
        BridgeState::apply_deltas(conn, &[first.clone(), second.clone(), second.clone()]).await?,
        1
    );
    let row = BridgeState::find(conn, bridge).await?;
    assert_eq!(row.total_workflows_processed, 3);
    assert_eq!(row.total_items_aggregated, 30);
    assert_eq!(row.aggregation_metadata, json!({"a": 1, "b": 2}));
    assert_eq!(row.current_fsm_state, "IDLE");
    assert_eq!(BridgeState::apply_deltas(conn, &[]).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_refused_delta_refuses_the_batch_naming_its_row_and_writes_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let stored = BridgeState::apply_delta(conn, &delta(bridge, 1, 1, json!({}), "IDLE", 0)).await?;

    let good = delta(bridge, 1, 1, json!({}), "IDLE", 0);
    let negative = delta(bridge, -1, 1, json!({}), "IDLE", 0);
    let err = BridgeState::apply_deltas(conn, &[good.clone(), negative])
        .await
        .unwrap_err();
    let Error::InvalidValue { field, problem } = &err else {
        panic!("expected InvalidValue, got {err:?}");
    };
    assert_eq!(field, "bridge_states.total_workflows_processed");
    assert!(problem.contains("row 1"), "{problem}");

    let mut foreign = delta(bridge, 1, 1, json!({}), "IDLE", 0);
    foreign.namespace = "tenant-b".into();
    let err = BridgeState::apply_deltas(conn, &[good.clone(), foreign.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { field, .. } if field == "bridge_states.namespace"),
        "{err:?}"
    );

    assert_eq!(BridgeState::find(conn, bridge).await?, stored);
    for id in [good.id, foreign.id] {
        assert!(matches!(
            AppliedDelta::find(conn, id).await,
            Err(Error::NotFound { .. })
        ));
    }
    Ok(())
}
