//! Opening the migration connection: URL checks, `application_name`, retries
//! while the server starts, and creating a missing database.

use std::time::Duration;

use bridge_connect::{database_name, establish, validate_url};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::time::{sleep, Instant};

use crate::{error::MigrateError, options::Options, Result};

/// How long to pause between connection attempts while waiting for the server.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Connects to the database of `options`, retrying until `options.wait` runs
/// out while the failure is retryable (unreachable, busy); a refused
/// password, a bad URL or a TLS failure ends it at once.
pub(crate) async fn connect(options: &Options) -> Result<AsyncPgConnection> {
    let url = with_application_name(&options.database_url, &options.application_name)?;
    let deadline = options.wait.map(|wait| Instant::now() + wait);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match establish(&url, options.connect_timeout).await {
            Ok(conn) => return Ok(conn),
            // Report the URL as the caller gave it, without our application_name.
            Err(err) => MigrateError::from(err).with_url(&options.database_url),
        };
        match deadline {
            Some(deadline) if err.is_retryable() && Instant::now() < deadline => {
                if attempt == 1 {
                    tracing::info!("{err}; retrying until the server answers");
                } else {
                    tracing::debug!("attempt {attempt}: {err}");
                }
                sleep(RETRY_PAUSE.min(deadline - Instant::now())).await;
            }
            _ => return Err(err),
        }
    }
}

/// Creates the database of `options` on its server; false when it already exists.
pub(crate) async fn create_database(options: &Options) -> Result<bool> {
    let (maintenance, name) = maintenance_url(&options.database_url)?;
    let maintenance = Options {
        database_url: maintenance,
        ..options.clone()
    };
    let mut conn = connect(&maintenance).await?;
    let sql = format!("CREATE DATABASE {}", quote_ident(&name));
    match diesel::sql_query(sql).execute(&mut conn).await {
        Ok(_) => Ok(true),
        // Another `setup` created it since we connected: PostgreSQL says "already
        // exists", or, when both creations race, violates its catalog's unique index.
        Err(DieselError::DatabaseError(kind, info))
            if info.message().ends_with("already exists")
                || matches!(kind, DatabaseErrorKind::UniqueViolation) =>
        {
            Ok(false)
        }
        Err(err) => Err(MigrateError::database("creating the database")(err)),
    }
}

/// `url` checked and given `application_name`, unless it names one already.
fn with_application_name(url: &str, name: &str) -> Result<String> {
    let mut url = validate_url(url)?;
    if !url.query_pairs().any(|(key, _)| key == "application_name") {
        url.query_pairs_mut().append_pair("application_name", name);
    }
    Ok(url.into())
}

/// The URL of the server's `postgres` database, and the name of the one `url` names.
fn maintenance_url(url: &str) -> Result<(String, String)> {
    let mut url = validate_url(url)?;
    let name = database_name(&url);
    url.set_path("/postgres");
    Ok((url.into(), name))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_name_is_added_unless_given() {
        assert_eq!(
            with_application_name("postgres://h/db", "bridge-admin").unwrap(),
            "postgres://h/db?application_name=bridge-admin"
        );
        assert_eq!(
            with_application_name("postgres://h/db?application_name=x", "bridge-admin").unwrap(),
            "postgres://h/db?application_name=x"
        );
    }

    #[test]
    fn maintenance_url_keeps_the_server_and_names_the_database() {
        let (url, name) = maintenance_url("postgres://u:p@h:1/my%20db?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u:p@h:1/postgres?sslmode=disable");
        assert_eq!(name, "my db");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn malformed_urls_are_configuration_errors() {
        assert!(matches!(
            with_application_name("not a url", "x"),
            Err(MigrateError::Config(_))
        ));
    }
}
