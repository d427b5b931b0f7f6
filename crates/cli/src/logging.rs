//! Logs on stderr through `tracing`, as loud as `-v` / `-q` ask.

use std::io::{self, IsTerminal};

use tracing_subscriber::EnvFilter;

use crate::cli::Global;

/// Installs the stderr logger; `RUST_LOG`, when set, overrides `-v` and `-q`.
pub fn init(global: &Global) {
    let directives = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,bridge_admin=info,bridge_migrate=info",
        (false, 1) => "warn,bridge_admin=debug,bridge_migrate=debug",
        (false, _) => "debug,bridge_admin=trace,bridge_migrate=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}
