//! Which database to migrate, and how: the global options turned into engine options.

use std::time::Duration;

use bridge_connect::database_url_from_env;
use bridge_migrate::{LockRetry, MigrateError, MigrationSource, Options};

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
        lock_timeout: Duration::from_secs(global.lock_timeout),
        ddl_lock_timeout: global.ddl_lock_timeout,
        lock_retry: LockRetry {
            attempts: global.ddl_attempts,
            first_wait: global.ddl_retry_wait,
            max_wait: global.ddl_retry_max_wait,
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
