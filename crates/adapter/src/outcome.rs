//! What became of one event, and why one is refused.

use std::sync::Arc;

use bridge_events::DecodeError;

use crate::deferred::WaitsFor;

/// What became of one event.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Written (or found written before: a redelivery).
    Persisted,
    /// Deliberately not written.
    Ignored(IgnoreReason),
    /// Parked until what it waits for arrives.
    Deferred(WaitsFor),
    /// Kept in memory until what it waits for arrives (or it is parked):
    /// nothing written, its offset not committed.
    Held(WaitsFor),
    /// Refused: goes to the dead-letter topic.
    Poison(Refusal),
}

/// Why an event was deliberately not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A state change the workflow's state machine refuses, e.g. on a finished workflow.
    LateStateChange,
}

impl IgnoreReason {
    /// The `reason` label of `adapter_events_ignored_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LateStateChange => "late_state_change",
        }
    }
}

/// Why an event goes to the dead-letter topic.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// The message is not a valid event.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The database (or the models crate's checks) refused its write.
    #[error(transparent)]
    Write(Arc<bridge_models::Error>),
    /// It waited in the parking table longer than `--deferred-max-wait-secs`.
    #[error("{waited} (parked since {since})")]
    DependencyTimeout {
        /// What it waited for.
        waited: String,
        /// When it was first parked.
        since: chrono::DateTime<chrono::Utc>,
    },
}

impl Refusal {
    /// A refusal of the write, by the database or the models crate.
    pub fn write(err: bridge_models::Error) -> Self {
        Self::Write(Arc::new(err))
    }

    /// The `dlq.reason` header and the metrics `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Decode(err) => err.reason(),
            Self::Write(err) => match **err {
                bridge_models::Error::ConstraintViolation { .. } => "constraint_violation",
                bridge_models::Error::InvalidValue { .. } => "invalid_value",
                _ => "database_refused",
            },
            Self::DependencyTimeout { .. } => "dependency_timeout",
        }
    }
}
