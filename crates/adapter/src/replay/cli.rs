//! The `dlq` subcommand's arguments, its output, and its exit codes.

use std::{process::ExitCode, time::Duration};

use clap::{Args, Subcommand, ValueEnum};

use super::{
    clients::Kafka, error::DlqError, list, progress, replay, selection::Selection, ReplayOptions,
    ReplayReport,
};
use crate::Config;

/// What `bridge-adapter` does instead of running the adapter.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List or replay the dead letters on the `<topic>.dlq` topics (nothing is ever removed from them).
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// The `dlq` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum DlqCommand {
    /// Count the dead letters by original topic, reason and age.
    List(ListArgs),
    /// Re-publish chosen dead letters to their original topics; a second run continues where the first stopped.
    Replay(ReplayArgs),
}

/// Flags of every `dlq` subcommand.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Output: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How long any one broker request may take before the broker counts as unreachable, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}

/// `dlq list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this event's dead letters: an event type, its topic or its `.dlq` topic; repeatable.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Output and timeout.
    #[command(flatten)]
    pub common: Common,
}

/// `dlq replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Which dead letters.
    #[command(flatten)]
    pub selection: Selection,
    /// Show what would be re-published; publish nothing and record no progress.
    #[arg(long)]
    pub dry_run: bool,
    /// Pass over messages that are not dead letters instead of stopping at the first (exit code 5).
    #[arg(long)]
    pub skip_invalid: bool,
    /// The consumer group that records progress; default: one derived from the selection.
    #[arg(long, value_name = "GROUP")]
    pub replay_group: Option<String>,
    /// Output and timeout.
    #[command(flatten)]
    pub common: Common,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// Runs `command` with the adapter's broker settings; results on stdout,
/// errors on stderr, and the exit code of [`DlqError::exit_code`].
pub async fn run(config: &Config, command: DlqCommand) -> ExitCode {
    match execute(config, command).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bridge-adapter dlq: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Runs `command`; what to print.
async fn execute(config: &Config, command: DlqCommand) -> Result<String, DlqError> {
    match command {
        DlqCommand::List(args) => {
            let kafka = Kafka::from_config(config, timeout(&args.common));
            let bar = progress::bar(0);
            let listing = list(&kafka, &config.topic_prefix, &args.topics, &bar).await?;
            Ok(match args.common.format {
                Format::Text => listing.text(),
                Format::Json => json(&listing),
            })
        }
        DlqCommand::Replay(args) => {
            let kafka = Kafka::from_config(config, timeout(&args.common));
            let options = ReplayOptions {
                selection: args.selection,
                dry_run: args.dry_run,
                skip_invalid: args.skip_invalid,
                group: args.replay_group,
            };
            let bar = progress::bar(0);
            let report = replay(&kafka, &config.topic_prefix, &options, &bar).await?;
            Ok(match args.common.format {
                Format::Text => text(&report),
                Format::Json => json(&report),
            })
        }
    }
}

fn timeout(common: &Common) -> Duration {
    Duration::from_secs(common.timeout_secs.max(1))
}

fn json(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// A replay report for people.
fn text(report: &ReplayReport) -> String {
    let mut text = String::new();
    for letter in &report.letters {
        let id = letter
            .event_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| "-".into());
        text.push_str(&format!(
            "would replay {} -> {} ({}, event {id})\n",
            letter.from, letter.to, letter.reason
        ));
    }
    let verb = if report.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    text.push_str(&format!(
        "{verb} {} of {} messages read (replay group {}); {} not selected, {} replayed before (use --include-replayed), {} not dead letters\n",
        report.replayed,
        report.read,
        report.group,
        report.not_selected,
        report.replayed_before,
        report.not_dead_letters
    ));
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn broker_flags_work_before_and_after_dlq_and_no_subcommand_runs_the_adapter() {
        let adapter =
            Config::try_parse_from(["bridge-adapter", "--brokers", "b:1"]).expect("adapter flags");
        assert!(adapter.command.is_none());
        let before = Config::try_parse_from(["bridge-adapter", "--brokers", "b:1", "dlq", "list"])
            .expect("broker flags before dlq");
        let after = Config::parse_from([
            "bridge-adapter",
            "dlq",
            "replay",
            "--brokers",
            "b:1",
            "-X",
            "a=b",
            "--dry-run",
        ]);
        assert_eq!(before.brokers, "b:1");
        assert_eq!(after.brokers, "b:1");
        assert_eq!(after.kafka, [("a".to_owned(), "b".to_owned())]);
        assert!(matches!(
            after.command,
            Some(Command::Dlq(DlqCommand::Replay(ReplayArgs {
                dry_run: true,
                ..
            })))
        ));
        assert!(Config::try_parse_from([
            "bridge-adapter",
            "dlq",
            "replay",
            "--since",
            "yesterday"
        ])
        .is_err());
    }
}
