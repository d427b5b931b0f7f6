//! `NodeRegistration::heartbeat_many`: many heartbeats in one statement end
//! as the same heartbeats one by one; unknown nodes are named per heartbeat;
//! a refused timestamp writes nothing.

use bridge_models::{
    Error, HealthStatus, NewNodeRegistration, NodeHeartbeat, NodeRegistration, Result,
};
use bridge_testkit::TestDatabase;
use chrono::{Duration, NaiveDate, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;

async fn register(conn: &mut AsyncPgConnection, id: &str) -> Result<NodeRegistration> {
    NodeRegistration::register(conn, &NewNodeRegistration::new(id, "reducer", "v1.0.0")).await
}

fn beat(health: HealthStatus, minutes: i64) -> NodeHeartbeat {
    NodeHeartbeat {
        health_status: health,
        last_heartbeat: Utc::now().trunc_subsecs(6) + Duration::minutes(minutes),
    }
}

#[tokio::test]
async fn each_node_keeps_its_last_heartbeat_and_unknown_nodes_are_named() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    register(conn, "a").await?;
    register(conn, "b").await?;
    let last_of_a = beat(HealthStatus::Unhealthy, -5);
    let of_b = beat(HealthStatus::Degraded, 2);
    let results = NodeRegistration::heartbeat_many(
        conn,
        &[
            ("a", beat(HealthStatus::Degraded, 5)),
            ("ghost", beat(HealthStatus::Healthy, 0)),
            ("b", of_b),
            // Earlier than a's first, but last: kept, as one by one.
            ("a", last_of_a),
        ],
    )
    .await?;

    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
    assert!(
        matches!(&results[1], Err(Error::NotFound { .. })),
        "{:?}",
        results[1]
    );
    let a = NodeRegistration::find(conn, "a").await?;
    assert_eq!(a.health_status, HealthStatus::Unhealthy);
    assert_eq!(a.last_heartbeat, Some(last_of_a.last_heartbeat));
    let b = NodeRegistration::find(conn, "b").await?;
    assert_eq!(b.health_status, HealthStatus::Degraded);
    assert_eq!(b.last_heartbeat, Some(of_b.last_heartbeat));
    assert!(matches!(
        NodeRegistration::find(conn, "ghost").await,
        Err(Error::NotFound { .. })
    ));
    assert!(NodeRegistration::heartbeat_many(conn, &[])
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn a_refused_timestamp_names_its_row_and_writes_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let stored = register(conn, "a").await?;
    let ancient = NaiveDate::from_ymd_opt(-5000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let err = NodeRegistration::heartbeat_many(
        conn,
        &[
            ("a", beat(HealthStatus::Degraded, 0)),
            (
                "a",
                NodeHeartbeat {
                    health_status: HealthStatus::Healthy,
                    last_heartbeat: ancient,
                },
            ),
        ],
    )
    .await
    .unwrap_err();
    let Error::InvalidValue { field, problem } = &err else {
        panic!("expected InvalidValue, got {err:?}");
    };
    assert_eq!(field, "node_registrations.last_heartbeat");
    assert!(problem.contains("row 1"), "{problem}");
    assert_eq!(NodeRegistration::find(conn, "a").await?, stored);
    Ok(())
}
