//! One module per subcommand: each turns its arguments into one library call and prints.

mod down;
mod inspect;
mod nodes;
mod redo;
mod retention;
mod setup;
mod status;
mod up;

use bridge_migrate::Migrator;

use crate::{
    cli::Command,
    exit::{Exit, Failure},
};

/// Runs `command` with `migrator` (whose options also say where retention, `inspect` and
/// `nodes` connect).
pub async fn run(command: Command, migrator: Migrator) -> Result<Exit, Failure> {
    Ok(match command {
        Command::Setup => setup::run(&migrator).await?,
        Command::Up(args) => up::run(&migrator, args).await?,
        Command::Down(args) => down::run(&migrator, args).await?,
        Command::Redo(args) => redo::run(&migrator, args).await?,
        Command::Status(args) => status::run(&migrator, args).await?,
        Command::Retention(args) => retention::run(migrator.options(), args).await?,
        Command::Inspect(args) => inspect::run(migrator.options(), args).await?,
        Command::Nodes(args) => nodes::run(migrator.options(), args).await?,
    })
}
