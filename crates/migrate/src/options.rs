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
    /// How long to wait for the migration (advisory) lock before failing.
    pub lock_timeout: Duration,
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
    /// The default lock timeout: one minute.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

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
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
            ddl_lock_timeout: Self::DEFAULT_DDL_LOCK_TIMEOUT,
            lock_retry: LockRetry::default(),
            application_name: "bridge-migrate".to_owned(),
        }
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
