//! bridge-admin: apply, revert and inspect the bridge database migrations.
//!
//! Parsing and printing only: every action is a call into
//! `bridge_migrate`, and errors become exit codes in [`exit`].

mod cli;
mod commands;
mod connection;
mod exit;
mod logging;
mod output;

use std::process::ExitCode;

use anstream::eprintln;
use bridge_migrate::{MigrateError, Migrator};
use clap::Parser;

use crate::{cli::Cli, exit::Exit, output::BAD};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    let outcome = match connection::options(&cli.global) {
        Ok(options) => commands::run(cli.command, Migrator::new(options)).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => {
            report(&err);
            Exit::for_error(&err).into()
        }
    }
}

/// Prints `err` on stderr, with what to do about it where that is not obvious.
fn report(err: &MigrateError) {
    eprintln!("{BAD}error:{BAD:#} {err}");
    let hint = match err {
        MigrateError::DataGuard { .. } => "rerun with --force to drop them and their rows",
        MigrateError::LockTimeout { .. } => {
            "another migration is running; wait for it or raise --lock-timeout"
        }
        MigrateError::Unreachable { .. } => {
            "is the server up? --wait SECONDS retries while it starts"
        }
        MigrateError::ConnectionLost { .. } => {
            "the server restarted or ended the session; once it is back, rerun the same command"
        }
        MigrateError::Authentication { .. } => {
            "check the user and password of the URL (or PGUSER, PGPASSWORD) and the server's \
             pg_hba.conf; retrying does not help"
        }
        MigrateError::ServerBusy { .. } => {
            "the server has no connection slot free; --wait SECONDS retries until one frees, \
             or raise max_connections"
        }
        MigrateError::Tls { .. } => {
            "check sslmode and sslrootcert in the URL: verify-ca and verify-full need the CA \
             that signed the server's certificate, verify-full also a host name it names"
        }
        _ => return,
    };
    eprintln!("hint: {hint}");
}
