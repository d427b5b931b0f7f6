//! How the engine tells its caller what it is doing, one migration at a time.

use std::time::Duration;

use crate::{source::Script, table_rows::TableRows};

pub use crate::direction::Direction;

/// A migration run in one direction, or that would run in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Diesel's version of the migration.
    pub version: String,
    /// Its directory name.
    pub dir_name: String,
    /// Whether it was applied or reverted.
    pub direction: Direction,
    /// How long it took, bookkeeping included; `None` in a dry run.
    pub took: Option<Duration>,
}

impl Step {
    /// `script` run in `direction`, taking `took`.
    pub(crate) fn of(script: &Script, direction: Direction, took: Option<Duration>) -> Self {
        Self {
            version: script.version.clone(),
            dir_name: script.dir_name.clone(),
            direction,
            took,
        }
    }
}

/// Receives the engine's progress; every method has a silent default.
///
/// Runs on the engine's blocking thread, so it may block (e.g. to prompt).
pub trait Reporter: Send + 'static {
    /// The database did not exist and `setup` created it.
    fn created_database(&mut self, _name: &str) {}

    /// A dry run: this migration's SQL would run in `direction`.
    fn would_run(&mut self, _direction: Direction, _script: &Script, _sql: &str) {}

    /// A migration finished.
    fn ran(&mut self, _step: &Step) {}

    /// The tables a revert is about to drop, with their rows; called before any change.
    fn tables_to_drop(&mut self, _tables: &[TableRows]) {}

    /// Asked when tables to drop hold rows and nobody forced it: proceed anyway?
    fn confirm_data_loss(&mut self, _tables: &[TableRows]) -> bool {
        false
    }
}

/// A reporter that logs each migration through `tracing`; for services.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogReporter;

impl Reporter for LogReporter {
    fn ran(&mut self, step: &Step) {
        tracing::info!(
            version = %step.version,
            took_ms = step.took.unwrap_or_default().as_millis(),
            "migration {} {}", step.dir_name, step.direction
        );
    }
}
