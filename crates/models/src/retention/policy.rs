//! What one retention run keeps and removes: a window per table, how far
//! ahead to create partitions, batch size, dry run.

use std::time::Duration;

use serde::Serialize;

use super::MAX_RETENTION_BATCH;
use crate::{Error, Result};

// `Result` here is the crate's; serde's needs the std one.
type SerResult<T, E> = std::result::Result<T, E>;

/// The settings of one retention run; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Drop `fsm_transitions` months wholly older than this many days (default 90).
    pub transitions_days: u32,
    /// Drop `metadata_stamps` months wholly older than this many days (default 365).
    pub stamps_days: u32,
    /// Delete COMPLETED and FAILED workflows (with their steps) that finished
    /// more than this many days ago (default 90).
    pub workflows_days: u32,
    /// Delete nodes whose last heartbeat (or registration, before any
    /// heartbeat) is older than this many days (default 7).
    pub nodes_days: u32,
    /// Create the audit tables' partitions of every month up to this many
    /// days from now (default 60: this month and the next one or two).
    pub ahead_days: u32,
    /// Most rows one DELETE removes (1 to [`MAX_RETENTION_BATCH`], default 10 000).
    pub batch_size: u32,
    /// Detach old partitions (they stay as tables of their own, for
    /// archiving) instead of dropping them.
    pub detach: bool,
    /// Report what would be done and change nothing.
    pub dry_run: bool,
    /// How long to wait for another run's retention lock (default 60 s).
    #[serde(serialize_with = "seconds")]
    pub lock_timeout: Duration,
    /// How long each partition change waits for its table locks before the
    /// run fails, leaving the work to the next run (default 5 s); bounds how
    /// long queries queue behind it.
    #[serde(serialize_with = "seconds")]
    pub ddl_lock_timeout: Duration,
}

/// A duration as (fractional) seconds in the JSON report.
fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> SerResult<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            transitions_days: 90,
            stamps_days: 365,
            workflows_days: 90,
            nodes_days: 7,
            ahead_days: 60,
            batch_size: 10_000,
            detach: false,
            dry_run: false,
            lock_timeout: Duration::from_secs(60),
            ddl_lock_timeout: Duration::from_secs(5),
        }
    }
}

impl RetentionPolicy {
    /// Most days a window or `ahead_days` may be (a century).
    pub const MAX_DAYS: u32 = 36_500;

    /// Refuses windows of zero days (they would remove everything up to
    /// now), values above [`Self::MAX_DAYS`] and unbounded batches.
    pub fn validate(&self) -> Result<()> {
        for (name, days, min) in [
            ("transitions_days", self.transitions_days, 1),
            ("stamps_days", self.stamps_days, 1),
            ("workflows_days", self.workflows_days, 1),
            ("nodes_days", self.nodes_days, 1),
            ("ahead_days", self.ahead_days, 0),
        ] {
            if days < min || days > Self::MAX_DAYS {
                return Err(Error::invalid(
                    format!("retention {name}"),
                    format!("{days} is outside {min}..={}", Self::MAX_DAYS),
                ));
            }
        }
        if self.batch_size == 0 || self.batch_size > MAX_RETENTION_BATCH {
            return Err(Error::invalid(
                "retention batch_size",
                format!("{} is outside 1..={MAX_RETENTION_BATCH}", self.batch_size),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_zero_windows_are_not() {
        assert!(RetentionPolicy::default().validate().is_ok());
        for policy in [
            RetentionPolicy {
                transitions_days: 0,
                ..Default::default()
            },
            RetentionPolicy {
                batch_size: 0,
                ..Default::default()
            },
            RetentionPolicy {
                ahead_days: RetentionPolicy::MAX_DAYS + 1,
                ..Default::default()
            },
        ] {
            assert!(matches!(policy.validate(), Err(Error::InvalidValue { .. })));
        }
    }
}
