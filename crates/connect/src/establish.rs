//! Opening one connection.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tokio_postgres::error::SqlState;

use crate::{
    error::ConnectError,
    url::{database_name, redact_url, validate_url},
};

/// Opens one connection to `database_url`, giving up after `timeout`.
///
/// Connects through tokio-postgres directly because diesel-async's own
/// `establish` drops the cause ("connection refused") and the SQLSTATE.
pub async fn establish(
    database_url: &str,
    timeout: Duration,
) -> Result<AsyncPgConnection, ConnectError> {
    let url = validate_url(database_url)?;
    let unreachable = |reason: String| ConnectError::Unreachable {
        url: redact_url(database_url),
        reason,
    };
    let attempt = async {
        let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .map_err(|err| match err.code() {
                Some(&SqlState::INVALID_CATALOG_NAME) => ConnectError::DatabaseMissing {
                    name: database_name(&url),
                    url: redact_url(database_url),
                },
                _ => unreachable(with_causes(&err)),
            })?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|err| unreachable(err.to_string()))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(unreachable(format!("no answer within {timeout:?}"))))
}

/// `err` followed by each of its causes, e.g. "error connecting to server: Connection refused".
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        text.push_str(&format!(": {next}"));
        cause = next.source();
    }
    text
}
