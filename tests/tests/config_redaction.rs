//! The pool's settings and errors never show a password, not even of a URL
//! the `url` crate cannot parse (a bad port, a bad host, a password with an
//! unescaped `/`).

use bridge_models::{Db, DbConfig, Error};

const MALFORMED: [&str; 4] = [
    "postgres://app:s3cret-pw@db:99999/bridge",
    "postgres://app:s3cret-pw@[bad/bridge",
    "postgres://app:s3cret-pw@d b/bridge",
    "postgres://app:s3cret-pw/x@db/bridge",
];

#[test]
fn debug_output_and_the_redacted_url_hide_the_password() {
    for url in MALFORMED {
        let config = DbConfig::new(url);
        let shown = format!("{config:?} {}", config.redacted_url());
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("app:***@"), "{shown}");
    }
}

#[tokio::test]
async fn connecting_with_a_malformed_url_is_a_configuration_error_without_the_password() {
    for url in MALFORMED {
        let err = Db::connect(DbConfig::new(url)).await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
    }
}
