//! The one error type of the data layer.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Result of every data-layer operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, told apart so callers can react to each case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row asked for does not exist.
    #[error("{entity} not found: {key}")]
    NotFound {
        /// Which kind of row, e.g. `workflow execution`.
        entity: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// The database refused the row: a CHECK, UNIQUE, NOT NULL or foreign key constraint.
    #[error("constraint {constraint:?} violated ({kind:?}): {message}")]
    ConstraintViolation {
        /// Which class of constraint refused the row.
        kind: ConstraintKind,
        /// The constraint name, e.g. `workflow_steps_status_check`; empty when the server gives none.
        constraint: String,
        /// The server's message.
        message: String,
    },
    /// A value does not fit its column, e.g. text longer than its `VARCHAR` bound.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// No pooled connection became free within the check-out timeout.
    #[error("timed out after {0:?} waiting for a pooled database connection")]
    PoolTimeout(Duration),
    /// The server could not be reached or refused the connection.
    #[error("database unreachable at {url}: {reason}")]
    Unreachable {
        /// The URL, with any password redacted.
        url: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The configuration is unusable, e.g. a malformed database URL.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A value read back from the database is not one this crate knows.
    #[error("unexpected {what} {value:?} read from the database")]
    UnexpectedValue {
        /// What was being decoded, e.g. `workflow state`.
        what: &'static str,
        /// The value found.
        value: String,
    },
    /// Any other database error.
    #[error(transparent)]
    Database(DieselError),
}

/// The class of constraint that refused a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// A `CHECK` constraint.
    Check,
    /// A `UNIQUE` or primary-key constraint.
    Unique,
    /// A `NOT NULL` column.
    NotNull,
    /// A `FOREIGN KEY`.
    ForeignKey,
}

impl Error {
    /// A [`Error::NotFound`] for the `entity` row with key `key`.
    pub fn not_found(entity: &'static str, key: impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// The violated constraint's name, when this is a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::ConstraintViolation { constraint, .. } => Some(constraint),
            _ => None,
        }
    }
}

impl From<bridge_connect::ConnectError> for Error {
    fn from(err: bridge_connect::ConnectError) -> Self {
        use bridge_connect::ConnectError as Connect;
        match err {
            Connect::Config(message) => Self::Config(message),
            Connect::Unreachable { url, reason } => Self::Unreachable { url, reason },
            Connect::DatabaseMissing { name, url } => Self::Unreachable {
                url,
                reason: format!("database {name:?} does not exist"),
            },
            Connect::Authentication { url, reason }
            | Connect::ServerBusy { url, reason }
            | Connect::Tls { url, reason } => Self::Unreachable { url, reason },
        }
    }
}

impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        if let Some(unexpected) = unexpected_value(&err) {
            return unexpected;
        }
        let DieselError::DatabaseError(db_kind, info) = &err else {
            return Self::Database(err);
        };
        let kind = match db_kind {
            DatabaseErrorKind::CheckViolation => ConstraintKind::Check,
            DatabaseErrorKind::UniqueViolation => ConstraintKind::Unique,
            DatabaseErrorKind::NotNullViolation => ConstraintKind::NotNull,
            DatabaseErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
            // 22001 string_data_right_truncation: text over its VARCHAR bound.
            _ if info.message().contains("too long") => {
                return Self::InvalidValue(info.message().to_owned())
            }
            _ => return Self::Database(err),
        };
        let constraint = match (info.constraint_name(), kind, info.column_name()) {
            (Some(name), _, _) => name.to_owned(),
            // PostgreSQL names no constraint for NOT NULL; name the column instead.
            (None, ConstraintKind::NotNull, Some(column)) => {
                format!("{}.{column}", info.table_name().unwrap_or_default())
            }
            _ => String::new(),
        };
        Self::ConstraintViolation {
            kind,
            constraint,
            message: info.message().to_owned(),
        }
    }
}

/// The [`Error::UnexpectedValue`] a `FromSql` impl of this crate raised while
/// loading a row; Diesel wraps it, so search the whole source chain.
fn unexpected_value(err: &DieselError) -> Option<Error> {
    let DieselError::DeserializationError(cause) = err else {
        return None;
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&**cause);
    while let Some(current) = cause {
        if let Some(Error::UnexpectedValue { what, value }) = current.downcast_ref::<Error>() {
            return Some(Error::UnexpectedValue {
                what,
                value: value.clone(),
            });
        }
        cause = current.source();
    }
    None
}
