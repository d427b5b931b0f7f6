//! Human output on stdout: one line per migration, coloured only on a terminal.

use std::io::{self, IsTerminal};

use anstream::{eprint, eprintln, println};
use anstyle::{AnsiColor, Style};
use bridge_migrate::{Direction, Reporter, Script, Step, TableRows};

/// Style of what went well.
pub const GOOD: Style = AnsiColor::Green.on_default();
/// Style of what needs attention.
pub const WARN: Style = AnsiColor::Yellow.on_default();
/// Style of what is wrong.
pub const BAD: Style = AnsiColor::Red.on_default().bold();
/// Style of secondary details such as durations.
pub const DIM: Style = Style::new().dimmed();

/// Prints the engine's progress; in a dry run, everything it prints is valid SQL.
#[derive(Debug, Clone, Copy)]
pub struct TerminalReporter {
    dry_run: bool,
}

impl TerminalReporter {
    /// A reporter for a real run, or for a dry run when `dry_run`.
    pub fn new(dry_run: bool) -> Self {
        Self { dry_run }
    }
}

impl TerminalReporter {
    /// Says that there was nothing to do, as an SQL comment in a dry run.
    pub fn nothing_to(&self, what: &str) {
        let prefix = if self.dry_run { "-- " } else { "" };
        println!("{prefix}nothing to {what}");
    }
}

impl Reporter for TerminalReporter {
    fn created_database(&mut self, name: &str) {
        println!("{GOOD}created{GOOD:#}  database {name}");
    }

    fn would_run(&mut self, direction: Direction, script: &Script, sql: &str) {
        let path = script.path.join(direction.file_name());
        println!("-- {direction} {} ({})", script.dir_name, path.display());
        println!("{}", sql.trim_end());
        println!();
    }

    fn ran(&mut self, step: &Step) {
        let (style, verb) = match step.direction {
            Direction::Up => (GOOD, "applied "),
            Direction::Down => (WARN, "reverted"),
        };
        let ms = step.took.unwrap_or_default().as_secs_f64() * 1000.0;
        println!(
            "{style}{verb}{style:#} {} {DIM}({ms:.0} ms){DIM:#}",
            step.dir_name
        );
    }

    fn tables_to_drop(&mut self, tables: &[TableRows]) {
        let prefix = if self.dry_run { "-- " } else { "" };
        for table in tables {
            let style = if table.rows > 0 { BAD } else { DIM };
            println!("{prefix}{style}drops{style:#}    table {table}");
        }
    }

    fn confirm_data_loss(&mut self, _tables: &[TableRows]) -> bool {
        if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
            return false;
        }
        eprint!("Drop these tables and every row in them? [y/N] ");
        let mut answer = String::new();
        if io::stdin().read_line(&mut answer).is_err() {
            eprintln!();
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}
