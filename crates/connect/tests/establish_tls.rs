//! TLS as `sslmode` and `sslrootcert` say, against private clusters that
//! serve a certificate for `localhost` signed by a CA of the test's own.

mod support;

use bridge_connect::{establish, ConnectError};
use bridge_testkit::{PrivateCluster, TestCa};
use support::{refused, uses_tls, TIMEOUT};

/// A CA and a running cluster serving TLS with a certificate it signed for `localhost`.
fn tls_cluster() -> (TestCa, PrivateCluster) {
    let ca = TestCa::new("bridge test CA");
    let cluster = PrivateCluster::builder()
        .tls(&ca.server_cert(&["localhost"]))
        .start();
    (ca, cluster)
}

/// The cluster's URL with `host` and `query`.
fn url(cluster: &PrivateCluster, host: &str, query: &str) -> String {
    let mut url = url::Url::parse(&cluster.url()).unwrap();
    url.set_host(Some(host)).unwrap();
    url.set_query(Some(query).filter(|query| !query.is_empty()));
    url.into()
}

fn verify(mode: &str, ca: &TestCa) -> String {
    format!("sslmode={mode}&sslrootcert={}", ca.cert_path().display())
}

#[track_caller]
fn assert_tls_error(err: &ConnectError, says: &str) {
    assert!(
        matches!(err, ConnectError::Tls { reason, .. } if reason.contains(says)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn verify_full_with_the_right_ca_and_host_encrypts_the_connection() {
    let (ca, cluster) = tls_cluster();
    let mut conn = establish(
        &url(&cluster, "localhost", &verify("verify-full", &ca)),
        TIMEOUT,
    )
    .await
    .expect("verify-full accepts the server");
    assert!(uses_tls(&mut conn).await);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_by_verify_full_verify_ca_and_require() {
    let (_ca, cluster) = tls_cluster();
    let other = TestCa::new("some other CA");
    for mode in ["verify-full", "verify-ca", "require"] {
        let err = refused(&url(&cluster, "localhost", &verify(mode, &other))).await;
        assert_tls_error(&err, "UnknownIssuer");
    }
}

#[tokio::test]
async fn verify_full_refuses_a_host_the_certificate_does_not_name_and_verify_ca_accepts_it() {
    let (ca, cluster) = tls_cluster();
    let err = refused(&url(&cluster, "127.0.0.1", &verify("verify-full", &ca))).await;
    assert_tls_error(&err, "not valid for name");

    let mut conn = establish(
        &url(&cluster, "127.0.0.1", &verify("verify-ca", &ca)),
        TIMEOUT,
    )
    .await
    .expect("verify-ca checks the chain only");
    assert!(uses_tls(&mut conn).await);
}

#[tokio::test]
async fn require_prefer_and_no_sslmode_encrypt_without_a_root_certificate() {
    let (_ca, cluster) = tls_cluster();
    for query in ["sslmode=require", "sslmode=prefer", ""] {
        let mut conn = establish(&url(&cluster, "127.0.0.1", query), TIMEOUT)
            .await
            .unwrap_or_else(|err| panic!("{query}: {err}"));
        assert!(uses_tls(&mut conn).await, "{query:?} did not use TLS");
    }
}

#[tokio::test]
async fn disable_stays_plaintext_on_a_server_that_offers_tls() {
    let (_ca, cluster) = tls_cluster();
    let mut conn = establish(&url(&cluster, "localhost", "sslmode=disable"), TIMEOUT)
        .await
        .expect("plaintext is accepted");
    assert!(!uses_tls(&mut conn).await);
}

#[tokio::test]
async fn require_fails_against_a_server_without_tls_where_prefer_falls_back() {
    let cluster = PrivateCluster::builder().start();
    let err = refused(&url(&cluster, "127.0.0.1", "sslmode=require")).await;
    assert_tls_error(&err, "server does not support TLS");

    let mut conn = establish(&url(&cluster, "127.0.0.1", "sslmode=prefer"), TIMEOUT)
        .await
        .expect("prefer takes plaintext");
    assert!(!uses_tls(&mut conn).await);
}

#[tokio::test]
async fn a_missing_root_certificate_file_is_a_tls_error_naming_it() {
    let (ca, cluster) = tls_cluster();
    let missing = ca.dir().join("no-such-root.crt");
    let query = format!("sslmode=verify-full&sslrootcert={}", missing.display());
    let err = refused(&url(&cluster, "localhost", &query)).await;
    assert_tls_error(&err, "no-such-root.crt");
}
