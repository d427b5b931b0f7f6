//! The pool's check-out test: a connection the server closed while idle is
//! replaced, not handed out, whether or not the `SELECT 1` round trip is on.

use bridge_testkit::TestDatabase;
use diesel::{sql_types::Integer, IntoSql};
use diesel_async::RunQueryDsl;

/// Ends every other session on the test database, as a server restart would.
async fn terminate_pooled_sessions(test_db: &TestDatabase) {
    let admin = bridge_models::Db::connect(bridge_models::DbConfig::new(test_db.url()))
        .await
        .unwrap();
    let mut conn = admin.conn().await.unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        test_db.name()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn first_query_after_termination_succeeds(test_on_checkout: bool) {
    let test_db = TestDatabase::migrated();
    let mut config = test_db.config();
    config.test_on_checkout = test_on_checkout;
    config.max_connections = 1;
    let db = bridge_models::Db::connect(config).await.unwrap();
    drop(db.conn().await.unwrap());

    terminate_pooled_sessions(&test_db).await;
    // Give the connection's driver task a moment to read the server's goodbye.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mut conn = db.conn().await.unwrap();
    let one: i32 = diesel::select(1.into_sql::<Integer>())
        .load(&mut conn)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(one, 1);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_without_the_round_trip() {
    first_query_after_termination_succeeds(false).await;
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_with_the_round_trip() {
    first_query_after_termination_succeeds(true).await;
}

#[test]
fn the_round_trip_test_is_off_by_default() {
    assert!(!bridge_models::DbConfig::new("postgres://localhost/x").test_on_checkout);
}
