//! `setup`: create the database if missing, then apply everything pending.

use bridge_migrate::{MigrateError, Migrator};

use crate::{exit::Exit, output::TerminalReporter};

/// Runs `setup`.
pub async fn run(migrator: &Migrator) -> Result<Exit, MigrateError> {
    let reporter = TerminalReporter::new(false);
    if migrator.setup(reporter).await?.is_empty() {
        reporter.nothing_to("apply");
    }
    Ok(Exit::Success)
}
