//! Bridge states: deltas add atomically (also under concurrency), a redelivered delta changes nothing, negative deltas and foreign namespaces are refused; find; list by namespace.

use bridge_models::{AppliedDelta, BridgeState, BridgeStateDelta, Error, Result};
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
    let mut first = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    first.total_workflows_processed = 3;
    first.total_items_aggregated = 30;
    first.aggregation_metadata = json!({"batches": 1, "source": "kafka"});
    first.last_aggregation_timestamp = Some(later);

    let inserted = BridgeState::apply_delta(conn, &first).await?;
    let mut second = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "IDLE");
    second.total_workflows_processed = 2;
    second.total_items_aggregated = 5;
    second.aggregation_metadata = json!({"batches": 2});
    second.last_aggregation_timestamp = Some(earlier);
    let updated = BridgeState::apply_delta(conn, &second).await?;

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
            let mut delta =
                BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
            delta.total_workflows_processed = 1;
            delta.total_items_aggregated = 2;
            for _ in 0..1_000 {
                delta.id = Uuid::now_v7();
                BridgeState::apply_delta(conn, &delta).await?;
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
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    delta.total_items_aggregated = 10;
    let stored = BridgeState::apply_delta(conn, &delta).await?;

    delta.id = Uuid::now_v7();
    delta.total_items_aggregated = -1;
    let err = BridgeState::apply_delta(conn, &delta).await.unwrap_err();

    let Error::InvalidValue { field, problem } = &err else {
        panic!("expected InvalidValue, got {err:?}");
    };
    assert_eq!(field, "bridge_states.total_items_aggregated");
    assert!(problem.contains("-1"), "{problem}");
    assert_eq!(BridgeState::find(conn, bridge).await?, stored);
    Ok(())
}

#[tokio::test]
async fn an_upsert_from_another_namespace_is_refused() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    delta.total_workflows_processed = 1;
    let stored = BridgeState::apply_delta(conn, &delta).await?;

    delta.id = Uuid::now_v7();
    delta.namespace = "tenant-b".into();
    let result = BridgeState::apply_delta(conn, &delta).await;

    assert!(
        matches!(&result, Err(Error::InvalidValue { field, .. }) if field == "bridge_states.namespace"),
        "{result:?}"
    );
    assert_eq!(BridgeState::find(conn, bridge).await?, stored);
    assert!(
        matches!(
            AppliedDelta::find(conn, delta.id).await,
            Err(Error::NotFound { .. })
        ),
        "a refused delta is not recorded, so its redelivery is refused again"
    );
    Ok(())
}

#[tokio::test]
async fn listing_by_namespace_never_returns_other_namespaces() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut tenant_a = Vec::new();
    for n in 0..3 {
        let a = BridgeState::apply_delta(
            conn,
            &BridgeStateDelta::new(Uuid::now_v7(), Uuid::now_v7(), "tenant-a", "IDLE"),
        )
        .await?;
        tenant_a.push(a);
        let b = BridgeStateDelta::new(
            Uuid::now_v7(),
            Uuid::now_v7(),
            format!("tenant-b{n}"),
            "IDLE",
        );
        BridgeState::apply_delta(conn, &b).await?;
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

#[tokio::test]
async fn a_redelivered_delta_changes_nothing_and_returns_the_stored_state() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    delta.total_workflows_processed = 2;
    delta.total_items_aggregated = 20;
    let applied = BridgeState::apply_delta(conn, &delta).await?;
    let mut other = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "IDLE");
    other.total_items_aggregated = 1;
    let after_other = BridgeState::apply_delta(conn, &other).await?;

    let redelivered = BridgeState::apply_delta(conn, &delta).await?;

    assert_eq!(applied.total_items_aggregated, 20);
    assert_eq!(redelivered, after_other, "the stored state, unchanged");
    assert_eq!(redelivered.total_workflows_processed, 2);
    assert_eq!(redelivered.total_items_aggregated, 21);
    assert_eq!(redelivered.current_fsm_state, "IDLE");
    let recorded = AppliedDelta::find(conn, delta.id).await?;
    assert_eq!(
        (recorded.bridge_id, recorded.total_items_aggregated),
        (bridge, 20)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_delta_delivered_by_eight_tasks_at_once_counts_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let bridge = Uuid::now_v7();
    let mut delta = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "AGGREGATING");
    delta.total_items_aggregated = 5;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (db, delta) = (db.clone(), delta.clone());
        tasks.spawn(async move {
            let conn = &mut db.conn().await?;
            BridgeState::apply_delta(conn, &delta).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task panicked")?;
    }

    let state = BridgeState::find(&mut *db.conn().await?, bridge).await?;
    assert_eq!(state.total_items_aggregated, 5);
    Ok(())
}

#[tokio::test]
async fn applied_delta_ids_older_than_a_cut_off_are_forgotten_and_recent_ones_kept() -> Result<()> {
    use bridge_schema::bridge_state_deltas;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;

    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let bridge = Uuid::now_v7();
    let old = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "IDLE");
    let recent = BridgeStateDelta::new(Uuid::now_v7(), bridge, "tenant-a", "IDLE");
    BridgeState::apply_delta(conn, &old).await?;
    BridgeState::apply_delta(conn, &recent).await?;
    diesel::update(bridge_state_deltas::table.find(old.id))
        .set(bridge_state_deltas::created_at.eq(Utc::now() - Duration::days(40)))
        .execute(conn)
        .await?;

    let forgotten =
        AppliedDelta::delete_older_than(conn, Utc::now() - Duration::days(30), 100).await?;

    assert_eq!(forgotten, 1);
    assert!(matches!(
        AppliedDelta::find(conn, old.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(AppliedDelta::find(conn, recent.id).await?.bridge_id, bridge);
    Ok(())
}
