//! How and where to migrate, and what a command asks for.

use std::time::Duration;

use crate::{lock_retry::LockRetry, source::MigrationSource};
use bridge_connect::redact_url;

/// Where to migrate and how patiently.
#[derive(Clone, PartialEq, Eq)]
pub struct Options {
    /// PostgreSQL connection URL; may carry a password, so never log it raw.
    pub database_url: String,
    /// The migrations to apply.
    pub source: MigrationSource,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// Keep retrying an unreachable server this long; `None` fails at once.
    pub wait: Option<Duration>,
    /// How long to wait for the migration (advisory) lock another run holds
    /// before failing; `None` (the default) follows the retry window of the
    /// DDL bounds below, as [`Options::lock_wait`] says.
    pub lock_timeout: Option<Duration>,
    /// How long each statement of a migration may wait for a table lock
    /// (PostgreSQL's `lock_timeout`) before its attempt is rolled back and
    /// retried as `lock_retry` says; zero waits as long as PostgreSQL does, unbounded.
    pub ddl_lock_timeout: Duration,
    /// How often, and after what waits, a migration whose `ddl_lock_timeout` fired is tried again.
    pub lock_retry: LockRetry,
    /// `application_name` of the migration connections, shown to whoever waits for the lock.
    pub application_name: String,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("database_url", &redact_url(&self.database_url))
            .field("source", &self.source)
            .field("connect_timeout", &self.connect_timeout)
            .field("wait", &self.wait)
            .field("lock_timeout", &self.lock_timeout)
            .field("ddl_lock_timeout", &self.ddl_lock_timeout)
            .field("lock_retry", &self.lock_retry)
            .field("application_name", &self.application_name)
            .finish()
    }
}

impl Options {
    /// What the default wait for the migration lock adds to the longest
    /// retry window of one migration: one minute, for the holder's other work.
    pub const LOCK_WAIT_MARGIN: Duration = Duration::from_secs(60);

    /// The default `lock_timeout` of every migration statement: two seconds,
    /// the longest that writers queued behind a waiting migration wait.
    pub const DEFAULT_DDL_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

    /// The embedded migrations on `database_url`, with the default timeouts.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            source: MigrationSource::Embedded,
            connect_timeout: Duration::from_secs(5),
            wait: None,
            lock_timeout: None,
            ddl_lock_timeout: Self::DEFAULT_DDL_LOCK_TIMEOUT,
            lock_retry: LockRetry::default(),
            application_name: "bridge-migrate".to_owned(),
        }
    }
}

impl Options {
    /// How long this run waits for the migration lock: `lock_timeout` when
    /// set, else as long as a run holding the lock with these same bounds
    /// may retry one migration ([`LockRetry::longest_window`] of
    /// `ddl_lock_timeout`) plus [`LOCK_WAIT_MARGIN`](Self::LOCK_WAIT_MARGIN),
    /// so that a replica starting while another retries waits for it instead
    /// of failing: about 6.5 minutes with the defaults.
    pub fn lock_wait(&self) -> Duration {
        self.lock_timeout.unwrap_or_else(|| {
            self.lock_retry.longest_window(self.ddl_lock_timeout) + Self::LOCK_WAIT_MARGIN
        })
    }
}

/// How a command runs: for real or as a dry run, guarded or forced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// Report the SQL that would run and change nothing.
    pub dry_run: bool,
    /// Revert even when that drops tables holding rows.
    pub force: bool,
}

/// Which applied migrations to revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The latest `n`.
    Last(usize),
    /// Every one after this version; the version itself stays applied.
    To(String),
    /// All of them.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lock_wait_outlasts_the_retry_window_of_the_lock_holder() {
        let defaults = Options::new("postgres://h/db");
        let window = defaults
            .lock_retry
            .longest_window(defaults.ddl_lock_timeout);
        assert_eq!(defaults.lock_wait(), window + Options::LOCK_WAIT_MARGIN);
        assert!(
            defaults.lock_wait() > Duration::from_secs(6 * 60),
            "{:?}",
            defaults.lock_wait()
        );

        // A caller who changes the retry policy (or the DDL bound) but not the lock wait.
        let patient = Options {
            ddl_lock_timeout: Duration::from_secs(5),
            lock_retry: LockRetry {
                attempts: 30,
                ..LockRetry::default()
            },
            ..defaults.clone()
        };
        let window = patient.lock_retry.longest_window(Duration::from_secs(5));
        assert!(window > Duration::from_secs(15 * 60), "{window:?}");
        assert_eq!(patient.lock_wait(), window + Options::LOCK_WAIT_MARGIN);

        let explicit = Options {
            lock_timeout: Some(Duration::from_secs(3)),
            ..patient
        };
        assert_eq!(
            explicit.lock_wait(),
            Duration::from_secs(3),
            "an explicit value wins"
        );
    }
}
