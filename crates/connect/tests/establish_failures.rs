//! How `establish` tells failures apart, against real servers: refused
//! credentials, invalid options, a full server, a stopped server, a missing
//! database; and that no password shows in any of them.

mod support;

use bridge_connect::{establish, ConnectError};
use bridge_testkit::{server_url, PrivateCluster};
use support::{refused, TIMEOUT};

/// Asserts `err` shows `password` nowhere, in its message or its Debug form.
#[track_caller]
fn assert_no_password(err: &ConnectError, password: &str) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(password), "{shown}");
}

#[tokio::test]
async fn a_wrong_password_a_missing_role_or_no_password_is_an_authentication_error() {
    let cluster = PrivateCluster::builder()
        .hba("host all all 127.0.0.1/32 scram-sha-256")
        .start();
    cluster.psql("CREATE ROLE app LOGIN PASSWORD 'right-pw'");

    let wrong = refused(&cluster.url_for("app", Some("wrong-pw"), "postgres")).await;
    assert!(
        matches!(&wrong, ConnectError::Authentication { reason, .. } if reason.contains("28P01")),
        "{wrong:?}"
    );
    assert_no_password(&wrong, "wrong-pw");

    let missing_role = refused(&cluster.url_for("nobody", Some("right-pw"), "postgres")).await;
    assert!(
        matches!(missing_role, ConnectError::Authentication { .. }),
        "{missing_role:?}"
    );

    let no_password = refused(&cluster.url_for("app", None, "postgres")).await;
    assert!(
        matches!(no_password, ConnectError::Authentication { .. }),
        "{no_password:?}"
    );

    for err in [&wrong, &missing_role, &no_password] {
        assert!(!err.is_retryable(), "{err:?}");
    }
    establish(
        &cluster.url_for("app", Some("right-pw"), "postgres"),
        TIMEOUT,
    )
    .await
    .expect("the right password is accepted");
}

#[tokio::test]
async fn an_unknown_role_on_a_trusting_server_is_an_authentication_error() {
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_username("no_such_role_anywhere").unwrap();
    let err = refused(url.as_str()).await;
    assert!(
        matches!(&err, ConnectError::Authentication { reason, .. } if reason.contains("28000")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_invalid_option_is_a_configuration_error() {
    let server = server_url();
    for query in [
        "options=-c%20no_such_setting%3D1",
        "options=-c%20statement_timeout%3Dsoon",
        "no_such_key=1",
        "sslmode=allow",
    ] {
        let err = refused(&format!("{server}?{query}")).await;
        assert!(matches!(err, ConnectError::Config(_)), "{query}: {err:?}");
        assert!(!err.is_retryable(), "{query}");
    }
}

#[tokio::test]
async fn a_missing_database_is_told_by_name() {
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_path("bridge_no_such_database");
    let err = refused(url.as_str()).await;
    assert!(
        matches!(&err, ConnectError::DatabaseMissing { name, .. } if name == "bridge_no_such_database"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_out_of_connection_slots_is_busy_and_retryable() {
    let cluster = PrivateCluster::builder()
        .conf("max_connections", "3")
        .conf("superuser_reserved_connections", "0")
        .start();
    let url = cluster.url();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(establish(&url, TIMEOUT).await.expect("a free slot"));
    }
    let err = refused(&url).await;
    assert!(
        matches!(&err, ConnectError::ServerBusy { reason, .. } if reason.contains("53300")),
        "{err:?}"
    );
    assert!(err.is_retryable());

    held.pop();
    establish(&url, TIMEOUT)
        .await
        .expect("a slot is free again");
}

#[tokio::test]
async fn a_stopped_server_is_unreachable_and_retryable() {
    let cluster = PrivateCluster::builder().start();
    establish(&cluster.url(), TIMEOUT).await.expect("it runs");
    cluster.stop_fast();
    let err = refused(&cluster.url()).await;
    assert!(
        matches!(&err, ConnectError::Unreachable { reason, .. } if reason.contains("refused")),
        "{err:?}"
    );
    assert!(err.is_retryable());

    cluster.start();
    establish(&cluster.url(), TIMEOUT)
        .await
        .expect("it runs again");
}

#[tokio::test]
async fn malformed_urls_are_configuration_errors_without_their_password() {
    for url in [
        "postgres://u:s3cret-pw@host:99999/db",
        "postgres://u:s3cret-pw@[bad/db",
        "postgres://u:s3cret-pw@ho st/db",
        "postgres://u:s3cret-pw/x@host/db",
    ] {
        let err = refused(url).await;
        assert!(matches!(err, ConnectError::Config(_)), "{url}: {err:?}");
        assert_no_password(&err, "s3cret-pw");
    }
}
