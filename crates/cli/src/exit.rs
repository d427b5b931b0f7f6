//! The exit codes, and the one place that maps errors to them.

use std::process::ExitCode;

use bridge_migrate::MigrateError;
use bridge_models::{retention::RetentionError, Error as DataError};

/// Why a command failed: the migration engine's error, retention's, or a query's.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// From `setup`, `up`, `down`, `redo` or `status`.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// From `retention`.
    #[error(transparent)]
    Retention(#[from] RetentionError),
    /// From `inspect` or `nodes`.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// How `bridge-admin` ends; the numbers are documented in `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Success = 0,
    /// An unexpected database error.
    Failure = 1,
    /// Bad usage or configuration: a malformed URL, an unknown version, a missing database.
    Usage = 2,
    /// `status --check` found pending, unknown or changed migrations, or an invalid index.
    CheckFailed = 3,
    /// The database server could not be reached, or the connection to it was lost.
    Unreachable = 4,
    /// Another run held the migration (or retention) lock for the whole lock timeout.
    LockTimeout = 5,
    /// A migration failed and was rolled back.
    MigrationFailed = 6,
    /// The data guard refused to drop tables that hold rows.
    DataGuard = 7,
    /// The server refused the credentials or the right to connect.
    Authentication = 8,
    /// The server had no connection slot free.
    ServerBusy = 9,
    /// TLS could not be set up as `sslmode` demands.
    Tls = 10,
    /// A migration's statements never got their table locks within `--ddl-lock-timeout`.
    DdlLockTimeout = 11,
    /// What `inspect` was asked for does not exist.
    NotFound = 12,
}

impl Exit {
    /// The exit code for `failure`.
    pub fn for_failure(failure: &Failure) -> Self {
        match failure {
            Failure::Migrate(err) => Self::for_error(err),
            Failure::Retention(RetentionError::LockTimeout { .. }) => Self::LockTimeout,
            Failure::Retention(RetentionError::Data(err)) | Failure::Data(err) => {
                Self::for_data(err)
            }
        }
    }

    /// The exit code for the data layer's `err`.
    pub fn for_data(err: &DataError) -> Self {
        match err {
            DataError::Unreachable { .. } | DataError::ConnectionLost(_) => Self::Unreachable,
            DataError::Authentication { .. } => Self::Authentication,
            DataError::ServerBusy { .. } => Self::ServerBusy,
            DataError::Config(_) | DataError::InvalidValue { .. } => Self::Usage,
            DataError::NotFound { .. } => Self::NotFound,
            _ => Self::Failure,
        }
    }

    /// The exit code for `err`.
    pub fn for_error(err: &MigrateError) -> Self {
        match err {
            MigrateError::Config(_)
            | MigrateError::UnknownVersion { .. }
            | MigrateError::Source { .. }
            | MigrateError::DatabaseMissing { .. } => Self::Usage,
            MigrateError::Unreachable { .. } | MigrateError::ConnectionLost { .. } => {
                Self::Unreachable
            }
            MigrateError::Authentication { .. } => Self::Authentication,
            MigrateError::ServerBusy { .. } => Self::ServerBusy,
            MigrateError::Tls { .. } => Self::Tls,
            MigrateError::LockTimeout { .. } => Self::LockTimeout,
            MigrateError::DdlLockTimeout { .. } => Self::DdlLockTimeout,
            MigrateError::MigrationFailed { .. } | MigrateError::UnknownApplied { .. } => {
                Self::MigrationFailed
            }
            MigrateError::DataGuard { .. } => Self::DataGuard,
            MigrateError::Database { .. } | MigrateError::Task(_) => Self::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
