//! The one error type of the data layer.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use uuid::Uuid;

use crate::state::WorkflowState;

/// Result of every data-layer operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, told apart so callers can react to each case; see
/// [`Error::is_retryable`].
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
    /// A value the caller gave is refused before anything is sent, e.g. text
    /// longer than its column's bound.
    #[error("invalid {field}: {problem}")]
    InvalidValue {
        /// What holds the value, e.g. `workflow_steps.step_name`.
        field: String,
        /// What is wrong with it, e.g. `101 characters, at most 100`.
        problem: String,
    },
    /// The workflow state machine does not allow this move; nothing was written.
    #[error("workflow {workflow_id} cannot move from {from} to {to}")]
    IllegalTransition {
        /// The workflow.
        workflow_id: Uuid,
        /// Its state now.
        from: WorkflowState,
        /// The state asked for.
        to: WorkflowState,
    },
    /// No pooled connection became free within the check-out timeout.
    #[error("timed out after {0:?} waiting for a pooled database connection")]
    PoolTimeout(Duration),
    /// The server could not be reached, did not answer, or is starting or shutting down.
    #[error("database unreachable at {url}: {reason}")]
    Unreachable {
        /// The URL, with any password redacted.
        url: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The server refused who we are: wrong password, unknown role, no right to connect.
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
    /// The connection broke during the call (server restart, terminated
    /// session, network). A write may or may not have committed: retry it
    /// with the same ids, which makes the retry a no-op if it had.
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// The server aborted the statement to resolve a conflict with another
    /// transaction (a serialization failure, SQLSTATE 40001); nothing was
    /// written.
    ///
    /// A deadlock (40P01) is not reported here: diesel-async passes no
    /// SQLSTATE but 40001's on, and this crate never classifies by message
    /// text, so a deadlock arrives as [`Error::Database`], not retryable
    /// (`tests/tests/models_deadlock.rs`).
    #[error("transaction conflict, nothing written: {0}")]
    Conflict(String),
    /// The configuration is unusable: a malformed database URL, a TLS setting
    /// that cannot be met, a database that does not exist.
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

    /// An [`Error::InvalidValue`] for `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidValue {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The violated constraint's name, when this is a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::ConstraintViolation { constraint, .. } => Some(constraint),
            _ => None,
        }
    }

    /// Whether the same call, made again unchanged, can succeed later.
    ///
    /// True for failures of the server or the network (unreachable, busy,
    /// connection lost, pool exhausted) and for conflicts between
    /// transactions; false for bad input, missing rows, refused moves and
    /// configuration, which stay wrong however often they are retried. A
    /// write retried after an error is idempotent only when its ids were
    /// supplied by the caller.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::PoolTimeout(_)
                | Self::Unreachable { .. }
                | Self::ServerBusy { .. }
                | Self::ConnectionLost(_)
                | Self::Conflict(_)
        )
    }

    /// True for an error whose cause only the connection can tell: a server
    /// error without a class diesel knows, which a terminated session also gives.
    pub(crate) fn is_unclassified(&self) -> bool {
        matches!(
            self,
            Self::Database(DieselError::DatabaseError(DatabaseErrorKind::Unknown, _))
        )
    }
}

impl From<bridge_connect::ConnectError> for Error {
    fn from(err: bridge_connect::ConnectError) -> Self {
        use bridge_connect::ConnectError as Connect;
        match err {
            Connect::Config(message) => Self::Config(message),
            Connect::Unreachable { url, reason } => Self::Unreachable { url, reason },
            Connect::DatabaseMissing { name, url } => {
                Self::Config(format!("database {name:?} does not exist at {url}"))
            }
            Connect::Authentication { url, reason } => Self::Authentication { url, reason },
            Connect::ServerBusy { url, reason } => Self::ServerBusy { url, reason },
            Connect::Tls { url, reason } => Self::Config(format!("TLS failed at {url}: {reason}")),
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
        // diesel-async derives these kinds from the SQLSTATE, never from the
        // message text, which follows the server's lc_messages.
        let kind = match db_kind {
            DatabaseErrorKind::CheckViolation => ConstraintKind::Check,
            DatabaseErrorKind::UniqueViolation => ConstraintKind::Unique,
            DatabaseErrorKind::NotNullViolation => ConstraintKind::NotNull,
            DatabaseErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
            DatabaseErrorKind::SerializationFailure => {
                return Self::Conflict(info.message().to_owned())
            }
            // No SQLSTATE: the request never got an answer (socket closed, I/O error).
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
                return Self::ConnectionLost(info.message().to_owned())
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
