//! `up`: apply pending migrations, optionally only up to a version or as a dry run.

use bridge_migrate::{MigrateError, Migrator, Mode};

use crate::{cli::UpArgs, exit::Exit, output::TerminalReporter};

/// Runs `up`.
pub async fn run(migrator: &Migrator, args: UpArgs) -> Result<Exit, MigrateError> {
    let mode = Mode {
        dry_run: args.dry_run,
        force: false,
    };
    let reporter = TerminalReporter::new(args.dry_run);
    if migrator
        .up(args.to.as_deref(), mode, reporter)
        .await?
        .is_empty()
    {
        reporter.nothing_to("apply");
    }
    Ok(Exit::Success)
}
