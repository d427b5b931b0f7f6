//! Bridge states: upsert adds deltas atomically (also under concurrency), refuses negative deltas and foreign namespaces; find; list by namespace.

use bridge_models::{BridgeState, Error, NewBridgeState, Result};
use bridge_testkit::TestDatabase;
use chrono::{Duration, SubsecRound, Utc};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn the_first_upsert_inserts_and_later_ones_add_their_deltas() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let later = Utc::now().trunc_subsecs(6);
    let earlier = later - Duration::minutes(5);
    let mut first = NewBridgeState::new(bridge, "tenant-a", "AGGREGATING");
    first.total_workflows_processed = 3;
    first.total_items_aggregated = 30;
    first.aggregation_metadata = json!({"batches": 1, "source": "kafka"});
    first.last_aggregation_timestamp = Some(later);

    let inserted = BridgeState::upsert(conn, &first).await?;
    let mut second = NewBridgeState::new(bridge, "tenant-a", "IDLE");
    second.total_workflows_processed = 2;
    second.total_items_aggregated = 5;
    second.aggregation_metadata = json!({"batches": 2});
    second.last_aggregation_timestamp = Some(earlier);
    let updated = BridgeState::upsert(conn, &second).await?;

    assert_eq!(inserted.bridge_id, bridge);
    assert_eq!(inserted.namespace, "tenant-a");
    assert_eq!(inserted.total_workflows_processed, 3);
    assert_eq!(inserted.total_items_aggregated, 30);
    assert_eq!(inserted.aggregation_metadata, first.aggregation_metadata);
    assert_eq!(inserted.current_fsm_state, "AGGREGATING");
    assert_eq!(inserted.last_aggregation_timestamp, Some(later));
    assert_eq!(updated.total_workflows_processed, 5);
    assert_eq!(updated.total_items_aggregated, 35);
    assert_eq!(
        updated.aggregation_metadata,
        json!({"batches": 2, "source": "kafka"}),
        "keys merge"
    );
    assert_eq!(updated.current_fsm_state, "IDLE");
    assert_eq!(
        updated.last_aggregation_timestamp,
        Some(later),
        "never moves back"
    );
    assert_eq!(updated.created_at, inserted.created_at);
    assert_eq!(BridgeState::find(conn, bridge).await?, updated);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_adding_a_thousand_each_end_at_exactly_eight_thousand() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let bridge = Uuid::now_v7();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            let mut delta = NewBridgeState::new(bridge, "tenant-a", "AGGREGATING");
            delta.total_workflows_processed = 1;
            delta.total_items_aggregated = 2;
            for _ in 0..1_000 {
                BridgeState::upsert(conn, &delta).await?;
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task panicked")?;
    }

    let state = BridgeState::find(&mut *db.conn().await?, bridge).await?;
    assert_eq!(state.total_workflows_processed, 8_000);
    assert_eq!(state.total_items_aggregated, 16_000);
    Ok(())
}

#[tokio::test]
async fn negative_deltas_are_refused_and_change_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let mut delta = NewBridgeState::new(bridge, "tenant-a", "AGGREGATING");
    delta.total_items_aggregated = 10;
    let stored = BridgeState::upsert(conn, &delta).await?;

    delta.total_items_aggregated = -1;
    let err = BridgeState::upsert(conn, &delta).await.unwrap_err();

    let Error::InvalidValue(message) = &err else {
        panic!("expected InvalidValue, got {err:?}");
    };
    assert!(
        message.contains("total_items_aggregated") && message.contains("-1"),
        "{message}"
    );
    assert_eq!(BridgeState::find(conn, bridge).await?, stored);
    Ok(())
}

#[tokio::test]
async fn an_upsert_from_another_namespace_is_refused() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let mut delta = NewBridgeState::new(bridge, "tenant-a", "AGGREGATING");
    delta.total_workflows_processed = 1;
    let stored = BridgeState::upsert(conn, &delta).await?;

    delta.namespace = "tenant-b".into();
    let result = BridgeState::upsert(conn, &delta).await;

    assert!(matches!(result, Err(Error::InvalidValue(_))), "{result:?}");
    assert_eq!(BridgeState::find(conn, bridge).await?, stored);
    Ok(())
}

#[tokio::test]
async fn listing_by_namespace_never_returns_other_namespaces() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut tenant_a = Vec::new();
    for n in 0..3 {
        let a = BridgeState::upsert(
            conn,
            &NewBridgeState::new(Uuid::now_v7(), "tenant-a", "IDLE"),
        )
        .await?;
        tenant_a.push(a);
        let b = NewBridgeState::new(Uuid::now_v7(), format!("tenant-b{n}"), "IDLE");
        BridgeState::upsert(conn, &b).await?;
    }
    tenant_a.sort_by_key(|state| state.bridge_id);

    assert_eq!(
        BridgeState::list_by_namespace(conn, "tenant-a").await?,
        tenant_a
    );
    assert!(BridgeState::list_by_namespace(conn, "tenant-c")
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn finding_an_unknown_bridge_is_not_found() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();

    let err = BridgeState::find(conn, bridge).await.unwrap_err();

    assert_eq!(err.to_string(), format!("bridge state not found: {bridge}"));
    Ok(())
}
