//! bridge-admin: apply, revert and inspect the bridge database migrations,
//! run retention, and show workflows and nodes.
//!
//! Parsing and printing only: every action is a call into `bridge_migrate`
//! or `bridge_models`, and errors become exit codes in [`exit`].

mod cli;
mod commands;
mod connection;
mod exit;
mod logging;
mod output;
mod seconds;

use std::process::ExitCode;

use anstream::eprintln;
use bridge_migrate::{MigrateError, Migrator};
use bridge_models::retention::RetentionError;
use clap::Parser;

use crate::{
    cli::Cli,
    exit::{Exit, Failure},
    output::BAD,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    let outcome = match connection::options(&cli.global) {
        Ok(options) => commands::run(cli.command, Migrator::new(options)).await,
        Err(err) => Err(err.into()),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(failure) => {
            report(&failure);
            Exit::for_failure(&failure).into()
        }
    }
}

/// Prints `failure` on stderr, with what to do about it where that is not obvious.
fn report(failure: &Failure) {
    eprintln!("{BAD}error:{BAD:#} {failure}");
    let unreachable = "is the server up? --wait SECONDS retries while it starts";
    let hint = match failure {
        Failure::Migrate(MigrateError::DataGuard { .. }) => {
            "rerun with --force to drop them and their rows"
        }
        Failure::Migrate(MigrateError::LockTimeout { .. }) => {
            "another migration is running; wait for it or raise --lock-timeout"
        }
        Failure::Migrate(MigrateError::DdlLockTimeout { .. }) => {
            "the sessions named above held (or queued for) the migration's tables throughout; end \
             them or wait until they finish, then rerun; --ddl-attempts and \
             --ddl-retry-max-wait wait longer"
        }
        Failure::Migrate(MigrateError::Unreachable { .. }) => unreachable,
        Failure::Retention(RetentionError::LockTimeout { .. }) => {
            "another retention run is under way; this one has nothing to add, or raise --lock-timeout"
        }
        Failure::Retention(RetentionError::Data(bridge_models::Error::Unreachable { .. }))
        | Failure::Data(bridge_models::Error::Unreachable { .. }) => unreachable,
        Failure::Data(bridge_models::Error::NotFound { .. }) => {
            "inspect workflow takes a workflow's id or its correlation id; check the database URL \
             names the database the workflow was written to"
        }
        Failure::Migrate(MigrateError::ConnectionLost { .. }) => {
            "the server restarted or ended the session; once it is back, rerun the same command"
        }
        Failure::Migrate(MigrateError::Authentication { .. }) => {
            "check the user and password of the URL (or PGUSER, PGPASSWORD) and the server's \
             pg_hba.conf; retrying does not help"
        }
        Failure::Migrate(MigrateError::ServerBusy { .. }) => {
            "the server has no connection slot free; --wait SECONDS retries until one frees, \
             or raise max_connections"
        }
        Failure::Migrate(MigrateError::Tls { .. }) => {
            "check sslmode and sslrootcert in the URL: verify-ca and verify-full need the CA \
             that signed the server's certificate, verify-full also a host name it names"
        }
        _ => return,
    };
    eprintln!("hint: {hint}");
}
