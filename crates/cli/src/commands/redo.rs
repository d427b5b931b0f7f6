//! `redo`: revert then re-apply migrations, the rollback test.

use bridge_migrate::{MigrateError, Migrator, Target};

use crate::{cli::RedoArgs, exit::Exit, output::TerminalReporter};

/// Runs `redo`.
pub async fn run(migrator: &Migrator, args: RedoArgs) -> Result<Exit, MigrateError> {
    let target = match args.all {
        true => Target::All,
        false => Target::Last(args.number.unwrap_or(1) as usize),
    };
    let mode = args.mode.mode();
    let reporter = TerminalReporter::new(mode.dry_run);
    if migrator.redo(target, mode, reporter).await?.is_empty() {
        reporter.nothing_to("redo");
    }
    Ok(Exit::Success)
}
