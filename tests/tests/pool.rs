//! The pool tells an unreachable server from an exhausted pool, never shows a
//! password, and hands out idle connections in the configured order.

use std::time::{Duration, Instant};

use bridge_models::{CheckoutOrder, Db, DbConfig, Error};
use bridge_testkit::TestDatabase;
use diesel::{dsl::sql, select, sql_types::Integer};
use diesel_async::RunQueryDsl;

#[tokio::test]
async fn a_closed_port_is_unreachable_within_the_connect_timeout() {
    let mut config = DbConfig::new("postgres://bridge:hunter2@127.0.0.1:1/omninode_bridge");
    config.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = Db::connect(config)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let Error::Unreachable { url, .. } = &err else {
        panic!("expected Unreachable, got {err:?}");
    };
    assert_eq!(url, "postgres://bridge:***@127.0.0.1:1/omninode_bridge");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn a_lazy_pool_on_a_dead_server_reports_unreachable_not_timeout() {
    let mut config = DbConfig::new("postgres://postgres@127.0.0.1:1/omninode_bridge");
    config.checkout_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(200);
    let db = Db::connect_lazy(config).expect("a well-formed URL");
    let err = db
        .conn()
        .await
        .map(drop)
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn an_exhausted_pool_times_out_on_check_out() {
    let test_db = TestDatabase::migrated();
    let mut config = test_db.config();
    config.max_connections = 1;
    config.checkout_timeout = Duration::from_millis(300);
    let db = Db::connect(config)
        .await
        .expect("the test database answers");
    let held = db.conn().await.expect("the one connection");
    let err = db
        .conn()
        .await
        .map(drop)
        .expect_err("no connection is free");
    assert!(
        matches!(err, Error::PoolTimeout(timeout) if timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    drop(held);
    db.conn().await.expect("free again once returned");
}

#[tokio::test]
async fn a_malformed_url_is_a_configuration_error() {
    for url in ["not a url", "mysql://localhost/omninode_bridge"] {
        let err = Db::connect(DbConfig::new(url)).await.expect_err(url);
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
    }
}

#[test]
fn debug_output_of_the_config_hides_the_password() {
    let config = DbConfig::new("postgres://app:hunter2@db/omninode_bridge");
    let shown = format!("{config:?}");
    assert!(shown.contains("app:***@db"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// The server process behind each of `checkouts` check-outs made one after
/// another, from a pool of `order` that first opened three connections.
async fn backends_in_turn(order: CheckoutOrder, checkouts: usize) -> Vec<i32> {
    let test_db = TestDatabase::migrated();
    let mut config = test_db.config();
    config.max_connections = 3;
    config.checkout_order = order;
    let db = Db::connect(config)
        .await
        .expect("the test database answers");
    let pid = || async {
        let mut conn = db.conn().await.expect("a free connection");
        select(sql::<Integer>("pg_backend_pid()"))
            .load::<i32>(&mut conn)
            .await
            .expect("the server answers")
            .remove(0)
    };
    // Three connections checked out at once, then all idle.
    let opened = futures_util::future::join_all((0..3).map(|_| db.conn())).await;
    assert_eq!(opened.iter().filter(|conn| conn.is_ok()).count(), 3);
    drop(opened);
    let mut pids = Vec::new();
    for _ in 0..checkouts {
        pids.push(pid().await);
    }
    pids
}

#[tokio::test]
async fn most_recently_used_checkout_keeps_reusing_one_connection() {
    assert_eq!(CheckoutOrder::default(), CheckoutOrder::MostRecentlyUsed);
    let pids = backends_in_turn(CheckoutOrder::MostRecentlyUsed, 6).await;
    assert!(pids.iter().all(|pid| *pid == pids[0]), "{pids:?}");
}

#[tokio::test]
async fn least_recently_used_checkout_rotates_over_every_connection() {
    let pids = backends_in_turn(CheckoutOrder::LeastRecentlyUsed, 6).await;
    assert_eq!(pids[..3], pids[3..], "the same rotation twice: {pids:?}");
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{pids:?}");
}
