//! What can go wrong while migrating, with the context an operator needs.

use std::{path::PathBuf, time::Duration};

use bridge_connect::ConnectError;

use crate::{direction::Direction, lock_holder::LockHolder, table_rows::TableRows};

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

impl MigrateError {
    /// The same error, naming `database_url` (redacted) where it names a URL.
    pub(crate) fn with_url(self, database_url: &str) -> Self {
        let redacted = bridge_connect::redact_url(database_url);
        match self {
            Self::Unreachable { reason, .. } => Self::Unreachable {
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

fn holder_text(holder: &Option<LockHolder>) -> String {
    match holder {
        Some(holder) => format!("held by {holder}"),
        None => "its holder has released it since".to_owned(),
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
            ConnectError::Authentication { url, reason }
            | ConnectError::ServerBusy { url, reason }
            | ConnectError::Tls { url, reason } => Self::Unreachable { url, reason },
        }
    }
}
