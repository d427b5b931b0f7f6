//! The command line: global options and one struct per subcommand.

use std::path::PathBuf;

use bridge_migrate::{LockRetry, Mode, Options};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::seconds::Seconds;

const AFTER_HELP: &str = "\
Connection: --database-url, else DATABASE_URL (environment or .env), else the PG* variables
(PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD), else postgres://postgres@localhost:5432/omninode_bridge.
TLS as libpq: sslmode=disable|prefer (default)|require|verify-ca|verify-full, sslrootcert=FILE.
Passwords are never printed.

Exit codes:
  0   success
  1   unexpected database error
  2   usage or configuration error (bad flag, malformed URL, unknown version, missing database)
  3   status --check found pending, unknown or changed migrations, or an INVALID index
  4   database unreachable, or the connection lost mid-command (rerun it)
  5   migration or retention lock not acquired within --lock-timeout
  6   a migration failed (rolled back; the ones before it stay applied)
  7   refused by the data guard (tables to drop hold rows; use --force)
  8   authentication or authorisation refused (wrong password, unknown role, no CONNECT right)
  9   server busy: no connection slot free (--wait retries)
  10  TLS failed (server without TLS under sslmode=require, untrusted certificate, wrong host)
  11  a migration's table locks not acquired: --ddl-lock-timeout fired on each of --ddl-attempts;
      the error names the blocking sessions. In a transaction: rolled back, nothing of it applied.
      With run_in_transaction = false: not recorded as applied, but statements before the one
      that waited may have committed, and an index its build left INVALID may stay (status lists
      it; the next run drops it and builds it again)
  12  not found (inspect: no workflow has that id or correlation id)

Example:
  DATABASE_URL=postgres://app@db/omninode_bridge bridge-admin --wait 30 setup";

const RETENTION_HELP: &str = "\
Every step is idempotent and runs under an advisory lock of its own, so it is safe from cron every
few minutes and from several hosts at once: a second run waits for the first (up to --lock-timeout),
then finds nothing left to do. Partitions are whole UTC months of id time; a month is dropped once
all of it is older than the window, so rows stay up to a month beyond it.

Examples:
  bridge-admin retention --dry-run
  bridge-admin retention --transitions-days 30 --format json
  */5 * * * *  bridge-admin -q retention   (crontab line; a run still going holds the lock)";

/// Applies, reverts and inspects the bridge database migrations, runs retention, and shows
/// workflows and nodes.
#[derive(Debug, Parser)]
#[command(name = "bridge-admin", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Database to work on [default: DATABASE_URL, then PG* variables, then localhost]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Keep retrying an unreachable or busy server for up to SECONDS [default: fail at once]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Give up waiting for another run's migration (or retention) lock after SECONDS [default:
    /// migrations: the --ddl-* retry window + 60, about 390; retention: 60]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
    /// Roll a migration back, to retry it, when a statement waits SECONDS for a table lock
    #[arg(long, global = true, value_name = "SECONDS",
          default_value_t = Seconds(Options::DEFAULT_DDL_LOCK_TIMEOUT))]
    pub ddl_lock_timeout: Seconds,
    /// Try each migration at most N times when its table lock wait times out
    #[arg(long, global = true, value_name = "N", default_value_t = LockRetry::default().attempts,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ddl_attempts: u32,
    /// Wait SECONDS after the first timed-out attempt, doubling each time, jittered
    #[arg(long, global = true, value_name = "SECONDS",
          default_value_t = Seconds(LockRetry::default().first_wait))]
    pub ddl_retry_wait: Seconds,
    /// Wait at most SECONDS between two attempts
    #[arg(long, global = true, value_name = "SECONDS",
          default_value_t = Seconds(LockRetry::default().max_wait))]
    pub ddl_retry_max_wait: Seconds,
    /// Read migrations from DIR instead of those built into this binary
    #[arg(long, global = true, value_name = "DIR")]
    pub migration_dir: Option<PathBuf>,
    /// Log more on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Log only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if it does not exist, then apply all pending migrations
    #[command(
        after_help = "Example:\n  bridge-admin --database-url postgres://postgres@localhost/omninode_bridge setup"
    )]
    Setup,
    /// Apply pending migrations in order
    #[command(
        after_help = "Examples:\n  bridge-admin up\n  bridge-admin up --to 2025-10-07-000003 --dry-run"
    )]
    Up(UpArgs),
    /// Revert applied migrations, the latest first (default: only the latest)
    #[command(
        after_help = "Examples:\n  bridge-admin down\n  bridge-admin down -n 2 --dry-run\n  bridge-admin down --to 2025-10-07-000001 --force"
    )]
    Down(DownArgs),
    /// Revert then re-apply migrations (default: the latest); on success the schema is as before
    #[command(after_help = "Examples:\n  bridge-admin redo\n  bridge-admin redo --all")]
    Redo(RedoArgs),
    /// Show every migration: applied or pending, when, unknown or changed since applied
    #[command(
        after_help = "Examples:\n  bridge-admin status\n  bridge-admin status --check --format json"
    )]
    Status(StatusArgs),
    /// Create audit partitions ahead, drop old ones, delete finished workflows and silent nodes
    #[command(after_help = RETENTION_HELP)]
    Retention(RetentionArgs),
    /// Show one stored object with everything recorded about it
    Inspect(InspectArgs),
    /// List registered nodes with their health and heartbeat age
    #[command(after_help = NODES_HELP)]
    Nodes(NodesArgs),
}

const INSPECT_WORKFLOW_HELP: &str = "\
ID is the workflow's id or its correlation id (a UUID); the id is tried first. Steps are listed in
step_order, transitions and stamps oldest first; stamps of every namespace are shown. Exit code 12
when no workflow has that id or correlation id, 2 when ID is not a UUID.

Examples:
  bridge-admin inspect workflow 0199a3c2-5f1e-7b4a-9c3d-2e8f6a1b0c9d
  bridge-admin inspect workflow 0199a3c2-5f1e-7b4a-9c3d-2e8f6a1b0c9d --format json";

const NODES_HELP: &str = "\
A node is stale when its last heartbeat (or, before its first, its registration) is older than
--stale-after; stale nodes are marked, whatever health they last reported.

Examples:
  bridge-admin nodes
  bridge-admin nodes --stale-after 300 --format json";

/// Arguments of `inspect`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  bridge-admin inspect workflow 0199a3c2-5f1e-7b4a-9c3d-2e8f6a1b0c9d"
)]
pub struct InspectArgs {
    /// What to show.
    #[command(subcommand)]
    pub target: InspectTarget,
}

/// What `inspect` shows.
#[derive(Debug, Subcommand)]
pub enum InspectTarget {
    /// A workflow: its row, its steps in order, its transitions and its stamps
    #[command(after_help = INSPECT_WORKFLOW_HELP)]
    Workflow(InspectWorkflowArgs),
}

/// Arguments of `inspect workflow`.
#[derive(Debug, Args)]
pub struct InspectWorkflowArgs {
    /// The workflow's id or correlation id
    #[arg(value_name = "ID")]
    pub id: Uuid,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `nodes`.
#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Mark a node stale when it has been silent for more than SECONDS
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub stale_after: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Stop after applying this version (e.g. 2025-10-07-000003 or 20251007000003)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Print the SQL that would run and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Revert the latest N migrations
    #[arg(short = 'n', long = "number", value_name = "N", conflicts_with_all = ["to", "all"],
          value_parser = clap::value_parser!(u32).range(1..))]
    pub number: Option<u32>,
    /// Revert every migration after VERSION; VERSION itself stays applied
    #[arg(long, value_name = "VERSION", conflicts_with = "all")]
    pub to: Option<String>,
    /// Revert every applied migration
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub mode: RevertMode,
}

/// Arguments of `redo`.
#[derive(Debug, Args)]
pub struct RedoArgs {
    /// Redo the latest N migrations
    #[arg(short = 'n', long = "number", value_name = "N", conflicts_with = "all",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub number: Option<u32>,
    /// Redo every applied migration
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub mode: RevertMode,
}

/// The options `down` and `redo` share: dry run and force.
#[derive(Debug, Args)]
pub struct RevertMode {
    /// Change nothing: print the SQL and the tables that would be dropped
    #[arg(long)]
    pub dry_run: bool,
    /// Drop tables even when they hold rows
    #[arg(long)]
    pub force: bool,
}

impl RevertMode {
    /// The migration library's mode for these options.
    pub fn mode(&self) -> Mode {
        Mode {
            dry_run: self.dry_run,
            force: self.force,
        }
    }
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit with code 3 when anything is pending, unknown or changed, or an index is INVALID
    #[arg(long)]
    pub check: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `retention`; the defaults are `RetentionPolicy::default()`'s.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// Drop fsm_transitions months wholly older than DAYS
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = days(1))]
    pub transitions_days: u32,
    /// Drop metadata_stamps months wholly older than DAYS
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = days(1))]
    pub stamps_days: u32,
    /// Delete COMPLETED and FAILED workflows (with their steps) finished more than DAYS ago
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = days(1))]
    pub workflows_days: u32,
    /// Delete nodes without a heartbeat (or, before any, a registration) for DAYS
    #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = days(1))]
    pub nodes_days: u32,
    /// Create the partitions of every month up to DAYS from now
    #[arg(long, value_name = "DAYS", default_value_t = 60, value_parser = days(0))]
    pub ahead_days: u32,
    /// Most rows one DELETE removes
    #[arg(long, value_name = "ROWS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(bridge_models::retention::MAX_RETENTION_BATCH)))]
    pub batch_size: u32,
    /// Detach old partitions (kept as tables of their own, to archive) instead of dropping them
    #[arg(long)]
    pub detach: bool,
    /// Report what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// A day count from `min` to `RetentionPolicy::MAX_DAYS`.
fn days(min: u32) -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32)
        .range(i64::from(min)..=i64::from(bridge_models::retention::RetentionPolicy::MAX_DAYS))
}

/// How `status`, `retention`, `inspect` and `nodes` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people
    Text,
    /// A stable JSON document for programs
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn the_lock_timeout_help_states_the_default_wait() {
        // The defaults of `Options::new` are the CLI's defaults.
        let options = bridge_migrate::Options::new("postgres://localhost/unused");
        let seconds = (options.lock_wait().as_secs_f64() / 10.0).round() * 10.0;
        let help = super::Cli::command()
            .get_arguments()
            .find(|arg| arg.get_id() == "lock_timeout")
            .and_then(|arg| arg.get_help().map(ToString::to_string))
            .expect("--lock-timeout has help");
        assert!(
            help.contains(&format!("about {seconds}")),
            "the help says {help:?}; the default is {:?}",
            options.lock_wait()
        );
    }
}
