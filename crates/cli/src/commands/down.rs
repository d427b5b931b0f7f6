//! `down`: revert applied migrations behind the data guard.

use bridge_migrate::{MigrateError, Migrator, Target};

use crate::{cli::DownArgs, exit::Exit, output::TerminalReporter};

/// Runs `down`.
pub async fn run(migrator: &Migrator, args: DownArgs) -> Result<Exit, MigrateError> {
    let target = match (args.all, args.to, args.number) {
        (true, _, _) => Target::All,
        (false, Some(version), _) => Target::To(version),
        (false, None, number) => Target::Last(number.unwrap_or(1) as usize),
    };
    let mode = args.mode.mode();
    let reporter = TerminalReporter::new(mode.dry_run);
    if migrator.down(target, mode, reporter).await?.is_empty() {
        reporter.nothing_to("revert");
    }
    Ok(Exit::Success)
}
