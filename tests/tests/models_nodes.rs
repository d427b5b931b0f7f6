//! Node registrations: register and re-register (upsert), heartbeat, list all, by type and health, and stale, deregister.

use bridge_models::{
    Error, HealthStatus, NewNodeRegistration, NodeHeartbeat, NodeRegistration, Result,
};
use bridge_testkit::TestDatabase;
use chrono::{Duration, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

async fn register(
    conn: &mut AsyncPgConnection,
    id: &str,
    node_type: &str,
) -> Result<NodeRegistration> {
    NodeRegistration::register(conn, &NewNodeRegistration::new(id, node_type, "v1.0.0")).await
}

#[tokio::test]
async fn registering_a_node_round_trips_every_field() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut new = NewNodeRegistration::new("orchestrator-v1.0.0-3f2a", "orchestrator", "v1.0.0");
    new.capabilities = json!({"stamping": true});
    new.endpoints = json!({"http": "http://10.0.0.5:8060"});
    new.metadata = json!({"zone": "eu-1"});

    let node = NodeRegistration::register(conn, &new).await?;

    assert_eq!(node.node_id, "orchestrator-v1.0.0-3f2a");
    assert_eq!(node.node_type, "orchestrator");
    assert_eq!(node.node_version, "v1.0.0");
    assert_eq!(node.capabilities, new.capabilities);
    assert_eq!(node.endpoints, new.endpoints);
    assert_eq!(node.metadata, new.metadata);
    assert_eq!(node.health_status, HealthStatus::Unknown);
    assert_eq!(node.last_heartbeat, None);
    assert_eq!(NodeRegistration::find(conn, &node.node_id).await?, node);
    Ok(())
}

#[tokio::test]
async fn re_registering_updates_the_node_and_keeps_its_history() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let first = register(conn, "reducer-1", "reducer").await?;
    let beat = NodeHeartbeat::now(HealthStatus::Healthy);
    NodeRegistration::heartbeat(conn, "reducer-1", &beat).await?;

    let mut again = NewNodeRegistration::new("reducer-1", "reducer", "v1.1.0");
    again.endpoints = json!({"grpc": "10.0.0.6:9000"});
    let updated = NodeRegistration::register(conn, &again).await?;

    assert_eq!(updated.node_version, "v1.1.0");
    assert_eq!(updated.endpoints, json!({"grpc": "10.0.0.6:9000"}));
    assert_eq!(updated.health_status, HealthStatus::Unknown);
    assert_eq!(updated.registered_at, first.registered_at);
    assert_eq!(updated.last_heartbeat, Some(beat.last_heartbeat));
    Ok(())
}

#[tokio::test]
async fn a_heartbeat_sets_health_and_time_and_needs_a_registered_node() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let node = register(conn, "registry-1", "registry").await?;

    let beat = NodeHeartbeat::now(HealthStatus::Degraded);
    let beaten = NodeRegistration::heartbeat(conn, &node.node_id, &beat).await?;

    assert_eq!(beaten.health_status, HealthStatus::Degraded);
    assert_eq!(beaten.last_heartbeat, Some(beat.last_heartbeat));
    assert_eq!(NodeRegistration::find(conn, &node.node_id).await?, beaten);
    let err = NodeRegistration::heartbeat(conn, "ghost", &beat)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { entity: "node registration", key } if key == "ghost"),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn listing_by_type_and_health_returns_only_matching_nodes() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let healthy = NodeHeartbeat::now(HealthStatus::Healthy);
    for (id, node_type, health) in [
        ("reducer-b", "reducer", HealthStatus::Healthy),
        ("reducer-a", "reducer", HealthStatus::Healthy),
        ("reducer-c", "reducer", HealthStatus::Unhealthy),
        ("orchestrator-a", "orchestrator", HealthStatus::Healthy),
    ] {
        register(conn, id, node_type).await?;
        NodeRegistration::heartbeat(
            conn,
            id,
            &NodeHeartbeat {
                health_status: health,
                ..healthy
            },
        )
        .await?;
    }

    let listed =
        NodeRegistration::list_by_type_and_health(conn, "reducer", HealthStatus::Healthy).await?;

    let ids: Vec<_> = listed.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["reducer-a", "reducer-b"]);
    let unknown =
        NodeRegistration::list_by_type_and_health(conn, "reducer", HealthStatus::Unknown).await?;
    assert!(unknown.is_empty());
    Ok(())
}

#[tokio::test]
async fn stale_nodes_are_those_silent_since_before_the_cutoff() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let now = Utc::now().trunc_subsecs(6);
    for (id, minutes_ago) in [("old", 30), ("older", 60), ("fresh", 1)] {
        register(conn, id, "reducer").await?;
        let beat = NodeHeartbeat {
            health_status: HealthStatus::Healthy,
            last_heartbeat: now - Duration::minutes(minutes_ago),
        };
        NodeRegistration::heartbeat(conn, id, &beat).await?;
    }
    register(conn, "silent", "reducer").await?;

    let cutoff = now - Duration::minutes(10);
    let stale = NodeRegistration::list_stale(conn, cutoff).await?;
    let ids: Vec<_> = stale.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(
        ids,
        ["older", "old"],
        "a node registered after the cutoff is not stale yet"
    );

    let later = Utc::now() + Duration::minutes(1);
    let stale = NodeRegistration::list_stale(conn, later).await?;
    let ids: Vec<_> = stale.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["silent", "older", "old", "fresh"]);
    Ok(())
}

#[tokio::test]
async fn listing_all_returns_every_node_by_id_with_when_it_went_silent() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let beat = NodeHeartbeat {
        health_status: HealthStatus::Degraded,
        last_heartbeat: Utc::now().trunc_subsecs(6) - Duration::minutes(5),
    };
    for (id, node_type) in [
        ("registry-1", "registry"),
        ("orchestrator-1", "orchestrator"),
    ] {
        register(conn, id, node_type).await?;
    }
    NodeRegistration::heartbeat(conn, "registry-1", &beat).await?;

    let nodes = NodeRegistration::list_all(conn).await?;

    let ids: Vec<_> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["orchestrator-1", "registry-1"]);
    assert_eq!(
        nodes[0].silent_since(),
        nodes[0].registered_at,
        "no heartbeat yet"
    );
    assert_eq!(nodes[1].silent_since(), beat.last_heartbeat);
    assert_eq!(nodes[1].health_status, HealthStatus::Degraded);
    Ok(())
}

#[tokio::test]
async fn deregistering_removes_the_node_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    register(conn, "reducer-1", "reducer").await?;

    assert!(NodeRegistration::deregister(conn, "reducer-1").await?);
    assert!(!NodeRegistration::deregister(conn, "reducer-1").await?);
    let gone = NodeRegistration::find(conn, "reducer-1").await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    Ok(())
}
