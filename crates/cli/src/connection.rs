//! Which database to work on, and how: the global options turned into engine
//! options, and the one connection of the commands that query through `bridge_models`.

use std::time::Duration;

use bridge_connect::{database_url_from_env, redact_url};
use bridge_migrate::{LockRetry, MigrateError, MigrationSource, Options};
use bridge_models::Error;

use crate::cli::Global;

/// `application_name` of every connection this binary opens.
const APPLICATION_NAME: &str = "bridge-admin";

/// Engine options from the global flags, the environment and `.env`.
pub fn options(global: &Global) -> Result<Options, MigrateError> {
    let database_url = match &global.database_url {
        Some(url) => url.clone(),
        None => url_from_environment()?,
    };
    Ok(Options {
        source: match &global.migration_dir {
            Some(dir) => MigrationSource::Directory(dir.clone()),
            None => MigrationSource::Embedded,
        },
        wait: global.wait.map(Duration::from_secs),
        lock_timeout: global.lock_timeout.map(Duration::from_secs),
        ddl_lock_timeout: global.ddl_lock_timeout.0,
        lock_retry: LockRetry {
            attempts: global.ddl_attempts,
            first_wait: global.ddl_retry_wait.0,
            max_wait: global.ddl_retry_max_wait.0,
        },
        application_name: APPLICATION_NAME.to_owned(),
        ..Options::new(database_url)
    })
}

/// `DATABASE_URL` (the environment's, else `.env`'s), else the `PG*` variables, else the default.
fn url_from_environment() -> Result<String, MigrateError> {
    match dotenvy::dotenv() {
        Err(err) if !err.not_found() => {
            return Err(MigrateError::Config(format!("reading .env: {err}")));
        }
        _ => {}
    }
    database_url_from_env().map_err(|err| MigrateError::Config(err.to_string()))
}

/// Opens one connection to the database of `options` (for retention, the one
/// it holds its lock on), retrying an unreachable server while `--wait` lasts.
pub async fn connect(options: &Options) -> Result<diesel_async::AsyncPgConnection, Error> {
    let mut url = bridge_connect::validate_url(&options.database_url)?;
    if !url.query_pairs().any(|(key, _)| key == "application_name") {
        url.query_pairs_mut()
            .append_pair("application_name", &options.application_name);
    }
    let deadline = options.wait.map(|wait| tokio::time::Instant::now() + wait);
    loop {
        match bridge_connect::establish(url.as_str(), options.connect_timeout).await {
            Ok(conn) => return Ok(conn),
            Err(err @ bridge_connect::ConnectError::Unreachable { .. })
                if deadline.is_some_and(|deadline| tokio::time::Instant::now() < deadline) =>
            {
                tracing::info!("{err}; retrying until the server answers");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(with_url_of(Error::from(err), options)),
        }
    }
}

/// `err`, naming the URL as given rather than with our `application_name`.
fn with_url_of(err: Error, options: &Options) -> Error {
    match err {
        Error::Unreachable { reason, .. } => Error::Unreachable {
            url: redact_url(&options.database_url),
            reason,
        },
        other => other,
    }
}
