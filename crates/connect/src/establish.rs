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
/// `establish` drops the cause ("connection refused") and the SQLSTATE,
/// which tell the failures of [`ConnectError`] apart.
pub async fn establish(
    database_url: &str,
    timeout: Duration,
) -> Result<AsyncPgConnection, ConnectError> {
    let url = validate_url(database_url)?;
    let config: tokio_postgres::Config = database_url.parse().map_err(|err| {
        ConnectError::Config(format!(
            "invalid database URL {}: {err}",
            redact_url(database_url)
        ))
    })?;
    let redacted = redact_url(database_url);
    let attempt = async {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|err| classify(&err, &url, &redacted))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|err| ConnectError::Unreachable {
                url: redacted.clone(),
                reason: err.to_string(),
            })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectError::Unreachable {
                url: redacted.clone(),
                reason: format!("no answer within {timeout:?}"),
            })
        })
}

/// The [`ConnectError`] for a failed connection attempt, by SQLSTATE where
/// the server sent one (never by its message, which follows `lc_messages`).
fn classify(err: &tokio_postgres::Error, parsed: &url::Url, redacted: &str) -> ConnectError {
    let url = redacted.to_owned();
    let reason = with_causes(err);
    let Some(code) = err.code() else {
        // Refused before the server said why: tokio-postgres's own kinds.
        return match err.to_string() {
            text if text.starts_with("authentication error") => {
                ConnectError::Authentication { url, reason }
            }
            text if text.starts_with("invalid configuration") => {
                ConnectError::Config(format!("{reason} (connecting to {url})"))
            }
            _ => ConnectError::Unreachable { url, reason },
        };
    };
    match code.code() {
        _ if *code == SqlState::INVALID_CATALOG_NAME => ConnectError::DatabaseMissing {
            name: database_name(parsed),
            url,
        },
        // 28000 invalid_authorization_specification, 28P01 invalid_password.
        class if class.starts_with("28") => ConnectError::Authentication { url, reason },
        _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            ConnectError::Authentication { url, reason }
        }
        // 53300 too_many_connections, 53200 out_of_memory, …
        class if class.starts_with("53") => ConnectError::ServerBusy { url, reason },
        // 57P03 cannot_connect_now (starting up, shutting down), 08 connection exceptions.
        class if class.starts_with("57") || class.starts_with("08") => {
            ConnectError::Unreachable { url, reason }
        }
        _ => ConnectError::Config(format!("{reason} (connecting to {url})")),
    }
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
