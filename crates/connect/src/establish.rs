//! Opening one connection.

use std::{error::Error as _, time::Duration};

use diesel_async::AsyncPgConnection;
use tokio_postgres::error::SqlState;

use crate::{
    error::ConnectError,
    redact::redact_url,
    tls::TlsSettings,
    url::{database_name, validate_url},
};

/// Opens one connection to `database_url`, giving up after `timeout`.
///
/// TLS follows the URL's `sslmode` and `sslrootcert` as in libpq (see the
/// crate documentation). Connects through tokio-postgres directly because
/// diesel-async's own `establish` uses no TLS and drops the cause
/// ("connection refused") and the SQLSTATE, which tell the failures of
/// [`ConnectError`] apart.
pub async fn establish(
    database_url: &str,
    timeout: Duration,
) -> Result<AsyncPgConnection, ConnectError> {
    let url = validate_url(database_url)?;
    let redacted = redact_url(database_url);
    let (driver_url, tls) = TlsSettings::split(&url)?;
    let config: tokio_postgres::Config = driver_url
        .parse()
        .map_err(|err| ConnectError::Config(format!("invalid database URL {redacted}: {err}")))?;
    let connector = tls.connector(&redacted)?;
    let attempt = async {
        let (client, connection) = config
            .connect(connector)
            .await
            .map_err(|err| classify(&err, &url, &redacted, &tls))?;
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
fn classify(
    err: &tokio_postgres::Error,
    parsed: &url::Url,
    redacted: &str,
    tls: &TlsSettings,
) -> ConnectError {
    let url = redacted.to_owned();
    let mut reason = with_causes(err);
    if let Some(code) = err.code() {
        // The code says what the (possibly localised) message means.
        reason.push_str(&format!(" (SQLSTATE {})", code.code()));
    }
    let Some(code) = err.code() else {
        // Failed before the server said why: tokio-postgres's own kinds,
        // told apart by its fixed (English, never localised) texts.
        let kind = err.to_string();
        let cause = err.source().map(ToString::to_string).unwrap_or_default();
        return match kind.as_str() {
            "error performing TLS handshake" => tls.failed(redacted, reason),
            "authentication error" => ConnectError::Authentication { url, reason },
            // The server asked for a password and the URL has none.
            "invalid configuration" if cause == "password missing" => {
                ConnectError::Authentication {
                    url,
                    reason: "the server asks for a password and none was given".to_owned(),
                }
            }
            "invalid configuration" | "invalid connection string" => {
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
        // 28000 invalid_authorization_specification (no such role, no
        // pg_hba.conf entry), 28P01 invalid_password.
        class if class.starts_with("28") => ConnectError::Authentication { url, reason },
        // No CONNECT privilege on the database.
        _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            ConnectError::Authentication { url, reason }
        }
        // 53300 too_many_connections, 53200 out_of_memory, …
        class if class.starts_with("53") => ConnectError::ServerBusy { url, reason },
        // 57P03 cannot_connect_now (starting up, shutting down), 57P01
        // admin_shutdown, 08 connection exceptions.
        class if class.starts_with("57") || class.starts_with("08") => {
            ConnectError::Unreachable { url, reason }
        }
        // 42704 unrecognised setting in `options`, 22023 invalid value, …
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
