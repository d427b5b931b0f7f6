//! Opening the migration connection: URL checks, `application_name`, retries
//! while the server starts, and creating a missing database.

use std::{cell::RefCell, future::Future, time::Duration};

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{
    async_connection_wrapper::{AsyncConnectionWrapper, BlockOn},
    AsyncPgConnection, RunQueryDsl,
};
use percent_encoding::percent_decode_str;
use tokio::{
    runtime::Runtime,
    time::{sleep, Instant},
};
use tokio_postgres::error::SqlState;
use url::Url;

use super::{error::MigrateError, options::Options, Result};
use crate::config::{redact_url, validate_url};

/// A blocking connection for Diesel's migration harness; open it with
/// [`ThisThread`] inside [`on_own_runtime`].
pub(crate) type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection, ThisThread>;

thread_local! {
    /// The runtime [`on_own_runtime`] runs its work on, while it does.
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Runs `work` on a blocking thread with a current-thread runtime of its own,
/// which [`ThisThread`] drives.
///
/// A connection opened there has its I/O task on that one thread too, so a
/// round trip hands nothing over between threads (on the shared runtime each
/// one woke a worker and then the blocking thread again). The runtime, and
/// with it the connection and the session's migration lock, ends when `work`
/// returns or panics.
pub(crate) async fn on_own_runtime<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // Fails only when the OS refuses an epoll or timer descriptor; the
        // panic then reaches the caller as MigrateError::Task.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        RUNTIME.set(Some(runtime));
        /// Drops the runtime however `work` ends.
        struct Ends;
        impl Drop for Ends {
            fn drop(&mut self) {
                drop(RUNTIME.take());
            }
        }
        let _ends = Ends;
        work()
    })
    .await?
}

/// Blocks on the runtime [`on_own_runtime`] set up on this thread.
pub(crate) struct ThisThread;

impl BlockOn for ThisThread {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        RUNTIME.with_borrow(|runtime| {
            runtime
                .as_ref()
                .expect("migration connections live inside on_own_runtime")
                .block_on(future)
        })
    }

    fn get_runtime() -> Self {
        Self
    }
}

/// How long to pause between connection attempts while waiting for the server.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Connects to the database of `options`, retrying until `options.wait` runs out.
pub(crate) async fn connect(options: &Options) -> Result<AsyncPgConnection> {
    let url = with_application_name(&options.database_url, &options.application_name)?;
    let deadline = options.wait.map(|wait| Instant::now() + wait);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match establish(&url, options.connect_timeout).await {
            Ok(conn) => return Ok(conn),
            Err(failure) => classify(failure, &options.database_url),
        };
        match deadline {
            Some(deadline) if retryable(&err) && Instant::now() < deadline => {
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
    let mut url = checked_url(url)?;
    if !url.query_pairs().any(|(key, _)| key == "application_name") {
        url.query_pairs_mut().append_pair("application_name", name);
    }
    Ok(url.into())
}

fn checked_url(url: &str) -> Result<Url> {
    validate_url(url).map_err(|err| match err {
        crate::Error::Config(message) => MigrateError::Config(message),
        other => MigrateError::Config(other.to_string()),
    })
}

/// The URL of the server's `postgres` database, and the name of the one `url` names.
fn maintenance_url(url: &str) -> Result<(String, String)> {
    let mut url = checked_url(url)?;
    let name = database_name(&url);
    url.set_path("/postgres");
    Ok((url.into(), name))
}

fn database_name(url: &Url) -> String {
    percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned()
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Why one connection attempt failed.
enum ConnectFailure {
    /// The server answered that the database does not exist.
    DatabaseMissing,
    /// Anything else, with the whole cause chain.
    Other(String),
}

/// One connection attempt, giving up after `timeout`.
///
/// Connects through tokio-postgres directly because diesel-async's own
/// `establish` drops the cause ("connection refused") and the SQLSTATE.
async fn establish(url: &str, timeout: Duration) -> Result<AsyncPgConnection, ConnectFailure> {
    let attempt = async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|err| match err.code() {
                Some(&SqlState::INVALID_CATALOG_NAME) => ConnectFailure::DatabaseMissing,
                _ => ConnectFailure::Other(with_causes(&err)),
            })?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|err| ConnectFailure::Other(err.to_string()))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectFailure::Other(format!(
                "no answer within {timeout:?}"
            )))
        })
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

/// The engine error for a failed attempt on `url`.
fn classify(failure: ConnectFailure, url: &str) -> MigrateError {
    match failure {
        ConnectFailure::DatabaseMissing => MigrateError::DatabaseMissing {
            name: Url::parse(url)
                .map(|url| database_name(&url))
                .unwrap_or_default(),
            url: redact_url(url),
        },
        ConnectFailure::Other(reason) => MigrateError::Unreachable {
            url: redact_url(url),
            reason,
        },
    }
}

fn retryable(err: &MigrateError) -> bool {
    matches!(err, MigrateError::Unreachable { .. })
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
