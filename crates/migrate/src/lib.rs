#![doc = include_str!("../README.md")]

mod blocker;
mod checksum;
mod connect;
mod direction;
mod error;
mod guard;
mod history;
mod invalid_index;
mod lock;
mod lock_holder;
mod lock_retry;
mod lock_wait;
mod lost;
mod migrator;
mod observer;
mod options;
mod plan;
mod report;
mod runtime;
mod session;
mod source;
mod statement_timeout;
mod status;
mod table_rows;
mod timeout_setting;

pub use blocker::Blocker;
pub use checksum::CHECKSUM_TABLE;
pub use error::{InFlight, MigrateError, Result};
pub use invalid_index::InvalidIndex;
pub use lock::MIGRATION_LOCK_KEY;
pub use lock_holder::LockHolder;
pub use lock_retry::LockRetry;
pub use migrator::Migrator;
pub use options::{Mode, Options, Target};
pub use report::{Direction, LogReporter, Reporter, Step};
pub use source::{MigrationSource, Script};
pub use status::{ChecksumState, MigrationStatus, State, Status, Summary};
pub use table_rows::TableRows;

/// Applies every pending embedded migration under the migration lock; for service start-up.
///
/// Uses the defaults of [`Options`] on `database_url`; returns the migrations
/// it applied (none when another instance got there first).
pub async fn run_pending(database_url: &str) -> Result<Vec<Step>> {
    run_pending_with(Options::new(database_url)).await
}

/// Applies every pending migration of `options.source` under the migration
/// lock and the bounds of `options`; for start-up with other lock timeouts or retries.
pub async fn run_pending_with(options: Options) -> Result<Vec<Step>> {
    Migrator::new(options)
        .up(None, Mode::default(), LogReporter)
        .await
}
