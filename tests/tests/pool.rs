//! The pool tells an unreachable server from an exhausted pool and never shows a password.

use std::time::{Duration, Instant};

use bridge_models::{Db, DbConfig, Error};
use bridge_testkit::TestDatabase;

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
