//! The migration engine: applies, reverts and inspects the bridge migrations.
//!
//! Everything `bridge-admin` does is a call into this module, and services
//! run the same machinery at start-up through [`run_pending`]. Migrations run
//! through Diesel's own harness, so `__diesel_schema_migrations` stays exactly
//! as `diesel migration run` keeps it; on top of that this engine
//!
//! - takes a PostgreSQL session advisory lock ([`MIGRATION_LOCK_KEY`]) before
//!   reading what is pending, waiting at most [`Options::lock_timeout`] and
//!   then naming the session that holds it;
//! - runs each migration in its own transaction, keeping the ones before a
//!   failure;
//! - records a SHA-256 of each `up.sql` in `__bridge_migration_checksums`, so
//!   [`Migrator::status`] can tell edited migrations apart;
//! - refuses to revert migrations that drop tables holding rows unless forced
//!   (the data guard).
//!
//! The connection is a blocking [`AsyncConnectionWrapper`](diesel_async::async_connection_wrapper::AsyncConnectionWrapper)
//! on a blocking thread with a current-thread runtime of its own (queries and
//! the connection's I/O on one thread), so every public operation is `async`
//! and needs a Tokio runtime with its blocking pool.
//!
//! ```no_run
//! # async fn start() -> Result<(), bridge_models::migrate::MigrateError> {
//! let config = bridge_models::DbConfig::from_env().expect("a database URL");
//! let applied = bridge_models::migrate::run_pending(&config).await?;
//! println!("{} migrations applied", applied.len());
//! # Ok(()) }
//! ```

mod checksum;
mod connect;
mod error;
mod guard;
mod history;
mod lock;
mod migrator;
mod options;
mod plan;
mod report;
mod session;
mod source;
mod status;

pub use checksum::CHECKSUM_TABLE;
pub use error::{MigrateError, Result};
pub use guard::TableRows;
pub use lock::{LockHolder, MIGRATION_LOCK_KEY};
pub use migrator::Migrator;
pub use options::{Mode, Options, Target};
pub use report::{Direction, LogReporter, Reporter, Step};
pub use source::{MigrationSource, Script};
pub use status::{ChecksumState, MigrationStatus, State, Status, Summary};

use crate::config::DbConfig;

/// Applies every pending embedded migration under the migration lock; for service start-up.
///
/// Uses `config`'s URL and connect timeout and the defaults of [`Options`];
/// returns the migrations it applied (none when another instance got there first).
pub async fn run_pending(config: &DbConfig) -> Result<Vec<Step>> {
    Migrator::new(Options::from_config(config))
        .up(None, Mode::default(), LogReporter)
        .await
}
