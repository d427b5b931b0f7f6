//! What can go wrong while migrating, with the context an operator needs.

use std::{path::PathBuf, time::Duration};

use bridge_connect::ConnectError;

use crate::{
    blocker::{self, Blocker},
    direction::Direction,
    lock_holder::LockHolder,
    table_rows::TableRows,
};

/// Result of every migration operation.
pub type Result<T, E = MigrateError> = std::result::Result<T, E>;

/// Why a migration operation failed; each variant carries what to fix.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The configuration is unusable, e.g. a malformed database URL.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A version named on the command line is not a known migration.
    #[error("unknown migration version {version:?}; known versions: {known}")]
    UnknownVersion {
        /// The version asked for.
        version: String,
        /// The versions of the migration source, comma-separated.
        known: String,
    },
    /// The migrations directory is missing or malformed.
    #[error("cannot read migrations from {path}: {reason}")]
    Source {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("database unreachable at {url}: {reason}")]
    Unreachable {
        /// The URL, with any password redacted.
        url: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The server refused who we are: a wrong password, an unknown role, no
    /// password where one is needed, no right to connect.
    #[error("authentication or authorisation failed at {url}: {reason}")]
    Authentication {
        /// The URL, with any password redacted.
        url: String,
        /// The server's reason.
        reason: String,
    },
    /// The server has no connection slot (or other resource) free for now.
    #[error("database server busy at {url}: {reason}")]
    ServerBusy {
        /// The URL, with any password redacted.
        url: String,
        /// The server's reason, e.g. too many connections.
        reason: String,
    },
    /// TLS could not be set up as `sslmode` demands.
    #[error("TLS failed at {url}: {reason}")]
    Tls {
        /// The URL, with any password redacted.
        url: String,
        /// What failed: no TLS on the server, an untrusted certificate, another host's.
        reason: String,
    },
    /// The connection broke in the middle of the command: the server
    /// restarted or stopped, the session was terminated, the network failed.
    #[error("connection to the database lost while {during}: {reason}; {}", lost_text(.in_flight))]
    ConnectionLost {
        /// What the engine was doing, e.g. `applying 2025-10-07-000001_create_workflow_executions`.
        during: String,
        /// The migration that was running, if one was, and whether it ran in a
        /// transaction (which the server rolled back).
        in_flight: Option<InFlight>,
        /// The error that showed the connection was gone.
        reason: String,
    },
    /// The server answered, but the database does not exist.
    #[error("database {name:?} does not exist at {url}; `bridge-admin setup` creates it")]
    DatabaseMissing {
        /// The database name.
        name: String,
        /// The URL, with any password redacted.
        url: String,
    },
    /// Another session held the migration lock for the whole lock timeout.
    #[error("migration lock not acquired within {waited:?}: {}", holder_text(.holder))]
    LockTimeout {
        /// How long this session waited.
        waited: Duration,
        /// The session holding the lock, when it could still be found.
        holder: Option<LockHolder>,
    },
    /// A migration's statements waited longer than `ddl_lock_timeout` for a
    /// table lock on every attempt; each attempt was rolled back, or, for
    /// `run_in_transaction = false`, is not recorded as applied.
    #[error(
        "migration {dir_name} ({direction}) did not get its locks: lock_timeout ({lock_timeout:?}) \
         fired on all {attempts} attempts over {elapsed:.1?}; {}; {}",
        blocker::blockers_text(.blockers),
        lock_wait_outcome(.dir_name, *.in_transaction, .left_invalid)
    )]
    DdlLockTimeout {
        /// Directory name of the migration.
        dir_name: String,
        /// Whether it was being applied or reverted.
        direction: Direction,
        /// How many attempts were made.
        attempts: u32,
        /// The `lock_timeout` of each attempt.
        lock_timeout: Duration,
        /// From the first attempt to the last one's failure.
        elapsed: Duration,
        /// The sessions that blocked the last attempt, as seen while it waited.
        blockers: Vec<Blocker>,
        /// Whether it ran in a transaction (so nothing of it stays); false for
        /// `run_in_transaction = false`, whose earlier statements may have committed.
        in_transaction: bool,
        /// The indexes its `CREATE INDEX CONCURRENTLY` statements left `INVALID`
        /// when even the last drop of them timed out (only outside a
        /// transaction); `status` reports them, and the next run drops them
        /// before building them again.
        left_invalid: Vec<String>,
    },
    /// A migration's SQL failed; it was rolled back and the ones before it kept.
    #[error("migration {dir_name} failed ({direction}) in {}: {message}", path.display())]
    MigrationFailed {
        /// Directory name of the migration, e.g. `2025-10-07-000001_create_workflow_executions`.
        dir_name: String,
        /// Its `up.sql` or `down.sql`.
        path: PathBuf,
        /// Whether it was being applied or reverted.
        direction: Direction,
        /// The server's error.
        message: String,
    },
    /// A migration to revert is recorded in the database but not in the migration source.
    #[error(
        "migration {version} is applied but not in the migration source, so it cannot be reverted"
    )]
    UnknownApplied {
        /// The version found in `__diesel_schema_migrations`.
        version: String,
    },
    /// Reverting would drop tables that hold rows, and nobody forced or confirmed it.
    #[error("refusing to drop tables that hold rows: {}", tables_text(.tables))]
    DataGuard {
        /// The tables the revert drops, with their row counts.
        tables: Vec<TableRows>,
    },
    /// A bookkeeping query failed.
    #[error("{context}: {source}")]
    Database {
        /// What the engine was doing.
        context: &'static str,
        /// The database's error.
        source: diesel::result::Error,
    },
    /// The blocking migration task panicked or was cancelled.
    #[error("migration task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The migration a lost connection was running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its directory name.
    pub dir_name: String,
    /// Whether it was being applied or reverted.
    pub direction: Direction,
    /// Whether it ran in a transaction, which the server rolled back when
    /// the connection ended; false for `run_in_transaction = false`.
    pub in_transaction: bool,
}

impl MigrateError {
    /// Whether running the same command again later, unchanged, can
    /// succeed: the server may come up, free a connection slot or the lock,
    /// or stay connected, and a session blocking a migration's tables may end;
    /// a refused password, a bad URL or a failed migration stay as they are.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::ServerBusy { .. }
                | Self::ConnectionLost { .. }
                | Self::LockTimeout { .. }
                | Self::DdlLockTimeout { .. }
        )
    }

    /// The same error, naming `database_url` (redacted) where it names a URL.
    pub(crate) fn with_url(self, database_url: &str) -> Self {
        let redacted = bridge_connect::redact_url(database_url);
        match self {
            Self::Unreachable { reason, .. } => Self::Unreachable {
                url: redacted,
                reason,
            },
            Self::Authentication { reason, .. } => Self::Authentication {
                url: redacted,
                reason,
            },
            Self::ServerBusy { reason, .. } => Self::ServerBusy {
                url: redacted,
                reason,
            },
            Self::Tls { reason, .. } => Self::Tls {
                url: redacted,
                reason,
            },
            Self::DatabaseMissing { name, .. } => Self::DatabaseMissing {
                name,
                url: redacted,
            },
            other => other,
        }
    }

    /// Wraps a database error with what the engine was doing.
    pub(crate) fn database(context: &'static str) -> impl FnOnce(diesel::result::Error) -> Self {
        move |source| Self::Database { context, source }
    }
}

fn lock_wait_outcome(dir_name: &str, in_transaction: bool, left_invalid: &[String]) -> String {
    if in_transaction {
        return format!("{dir_name} was rolled back each time, so nothing of it is applied");
    }
    let invalid = match left_invalid {
        [] => String::new(),
        names => format!(
            "; the index(es) {} its build left stay INVALID (status lists them; the next run \
             drops them and builds them again)",
            names.join(", ")
        ),
    };
    format!(
        "{dir_name} runs outside a transaction, so it is not recorded as applied, but statements \
         before the one that waited may have committed{invalid}: check the database before \
         rerunning"
    )
}

fn holder_text(holder: &Option<LockHolder>) -> String {
    match holder {
        Some(holder) => format!("held by {holder}"),
        None => "its holder has released it since".to_owned(),
    }
}

fn lost_text(in_flight: &Option<InFlight>) -> String {
    let Some(InFlight {
        dir_name,
        direction,
        in_transaction,
    }) = in_flight
    else {
        return "no migration was running; rerun the command".to_owned();
    };
    match (in_transaction, direction) {
        (true, Direction::Up) => format!(
            "the server rolled back the transaction of {dir_name}, so it is not applied (the \
             migrations before it are); rerun the command"
        ),
        (true, Direction::Down) => format!(
            "the server rolled back the transaction of {dir_name}, so it is still applied (the \
             ones reverted before it stay reverted); rerun the command"
        ),
        (false, _) => format!(
            "{dir_name} runs outside a transaction, so {} it may be partly done: check the \
             database before rerunning the command",
            direction.verb()
        ),
    }
}

fn tables_text(tables: &[TableRows]) -> String {
    tables
        .iter()
        .filter(|table| table.rows > 0)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<ConnectError> for MigrateError {
    fn from(err: ConnectError) -> Self {
        match err {
            ConnectError::Config(message) => Self::Config(message),
            ConnectError::Unreachable { url, reason } => Self::Unreachable { url, reason },
            ConnectError::DatabaseMissing { name, url } => Self::DatabaseMissing { name, url },
            ConnectError::Authentication { url, reason } => Self::Authentication { url, reason },
            ConnectError::ServerBusy { url, reason } => Self::ServerBusy { url, reason },
            ConnectError::Tls { url, reason } => Self::Tls { url, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(in_transaction: bool) -> MigrateError {
        MigrateError::ConnectionLost {
            during: "applying 2030-01-01-000001_x".to_owned(),
            in_flight: Some(InFlight {
                dir_name: "2030-01-01-000001_x".to_owned(),
                direction: Direction::Up,
                in_transaction,
            }),
            reason: "connection closed".to_owned(),
        }
    }

    #[test]
    fn only_failures_that_can_pass_later_are_retryable() {
        let at = |reason: &str| (String::from("postgres://h/db"), reason.to_owned());
        let (url, reason) = at("x");
        assert!(MigrateError::Unreachable { url, reason }.is_retryable());
        let (url, reason) = at("too many clients");
        assert!(MigrateError::ServerBusy { url, reason }.is_retryable());
        assert!(lost(true).is_retryable());
        let (url, reason) = at("password authentication failed");
        assert!(!MigrateError::Authentication { url, reason }.is_retryable());
        let (url, reason) = at("UnknownIssuer");
        assert!(!MigrateError::Tls { url, reason }.is_retryable());
        assert!(!MigrateError::Config("bad".to_owned()).is_retryable());
    }

    fn lock_wait_failed(in_transaction: bool, left_invalid: &[&str]) -> MigrateError {
        MigrateError::DdlLockTimeout {
            dir_name: "2030-01-01-000002_add_note".to_owned(),
            direction: Direction::Up,
            attempts: 3,
            lock_timeout: Duration::from_millis(500),
            elapsed: Duration::from_secs(2),
            blockers: vec![Blocker {
                pid: 42,
                application_name: Some("reader".to_owned()),
                state: Some("idle in transaction".to_owned()),
                open_seconds: Some(12.34),
            }],
            in_transaction,
            left_invalid: left_invalid.iter().map(|name| name.to_string()).collect(),
        }
    }

    #[test]
    fn a_migration_that_never_got_its_locks_names_its_blockers_and_may_be_retried() {
        let err = lock_wait_failed(true, &[]);
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(
            text.contains(
                "blocked by pid 42 (application_name \"reader\", idle in transaction, open for 12.3 s)"
            ),
            "{text}"
        );
        assert!(text.contains("all 3 attempts"), "{text}");
        assert!(text.contains("nothing of it is applied"), "{text}");
        let outside = lock_wait_failed(false, &[]).to_string();
        assert!(outside.contains("not recorded as applied"), "{outside}");
        assert!(outside.contains("may have committed"), "{outside}");
        assert!(!outside.contains("INVALID"), "{outside}");
        let left = lock_wait_failed(false, &["t_a_idx"]).to_string();
        assert!(
            left.contains("the index(es) t_a_idx its build left stay INVALID"),
            "{left}"
        );
    }

    #[test]
    fn a_lost_connection_says_what_became_of_the_migration_in_flight() {
        let rolled_back = lost(true).to_string();
        assert!(
            rolled_back.contains(
                "rolled back the transaction of 2030-01-01-000001_x, so it is not applied"
            ),
            "{rolled_back}"
        );
        assert!(rolled_back.contains("rerun the command"), "{rolled_back}");
        let partial = lost(false).to_string();
        assert!(partial.contains("may be partly done"), "{partial}");
    }

    #[test]
    fn connect_errors_keep_their_kind() {
        let url = "postgres://h/db".to_owned();
        let reason = "r".to_owned();
        let cases = [
            ConnectError::Authentication {
                url: url.clone(),
                reason: reason.clone(),
            },
            ConnectError::ServerBusy {
                url: url.clone(),
                reason: reason.clone(),
            },
            ConnectError::Tls { url, reason },
        ];
        let converted: Vec<MigrateError> = cases.into_iter().map(MigrateError::from).collect();
        assert!(matches!(converted[0], MigrateError::Authentication { .. }));
        assert!(matches!(converted[1], MigrateError::ServerBusy { .. }));
        assert!(matches!(converted[2], MigrateError::Tls { .. }));
    }
}
