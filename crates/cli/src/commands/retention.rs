//! `retention`: one retention pass (`bridge_models::retention::run`), reported as text or JSON.

use bridge_connect::redact_url;
use bridge_migrate::Options;
use bridge_models::retention::{
    self, PartitionChange, RetentionError, RetentionPolicy, RetentionReport,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    cli::{Format, RetentionArgs},
    connection,
    exit::Exit,
    output::{DIM, GOOD, WARN},
};

/// The JSON document of `retention --format json`; its fields are stable.
#[derive(Serialize)]
struct Document<'a> {
    database: String,
    #[serde(flatten)]
    report: &'a RetentionReport,
}

/// Runs `retention` on the database of `options`.
pub async fn run(options: &Options, args: RetentionArgs) -> Result<Exit, RetentionError> {
    let defaults = RetentionPolicy::default();
    let policy = RetentionPolicy {
        transitions_days: args.transitions_days,
        stamps_days: args.stamps_days,
        workflows_days: args.workflows_days,
        nodes_days: args.nodes_days,
        ahead_days: args.ahead_days,
        batch_size: args.batch_size,
        detach: args.detach,
        dry_run: args.dry_run,
        lock_timeout: options.lock_timeout.unwrap_or(defaults.lock_timeout),
        ..defaults
    };
    let mut conn = connection::connect(options).await?;
    let report = retention::run(&mut conn, &policy).await?;
    let database = redact_url(&options.database_url);
    match args.format {
        Format::Json => {
            let document = Document {
                database,
                report: &report,
            };
            let json = serde_json::to_string_pretty(&document).expect("the report serialises");
            anstream::println!("{json}");
        }
        Format::Text => print_text(&report, &database),
    }
    Ok(Exit::Success)
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

fn print_text(report: &RetentionReport, database: &str) {
    let (would, mode) = match report.dry_run {
        true => ("would ", " (dry run: nothing changed)"),
        false => ("", ""),
    };
    anstream::println!("Database: {database}");
    anstream::println!("Retention as of {} UTC{mode}", day(report.now));
    for table in &report.partitioned {
        anstream::println!(
            "{} (months wholly before {} go):",
            table.table.name(),
            day(table.cutoff)
        );
        for change in &table.created {
            let moved = match change.rows {
                0 => String::new(),
                rows => format!(", {rows} rows moved in from the default partition"),
            };
            anstream::println!(
                "  {GOOD}{would}create{GOOD:#} {} {DIM}({}{moved}){DIM:#}",
                change.name,
                range(change)
            );
        }
        for change in &table.removed {
            let estimated = if change.rows_estimated { "about " } else { "" };
            anstream::println!(
                "  {WARN}{would}{}{WARN:#} {} {DIM}({}, {estimated}{} rows){DIM:#}",
                table.removal,
                change.name,
                range(change),
                change.rows
            );
        }
        if table.created.is_empty() && table.removed.is_empty() {
            anstream::println!("  {DIM}no partition to create or remove{DIM:#}");
        }
        if table.default_rows_deleted > 0 || table.default_rows_left > 0 {
            anstream::println!(
                "  default partition: {would}delete {} old rows, {} left",
                table.default_rows_deleted,
                table.default_rows_left
            );
        }
    }
    anstream::println!(
        "workflow_executions: {would}delete {} finished workflows (with their steps) completed before {}",
        report.workflows.deleted,
        day(report.workflows.cutoff)
    );
    anstream::println!(
        "node_registrations: {would}delete {} nodes silent since before {}",
        report.nodes.deleted,
        day(report.nodes.cutoff)
    );
}

fn range(change: &PartitionChange) -> String {
    let end = |at: Option<DateTime<Utc>>| {
        at.map_or("unbounded".to_owned(), |at| {
            at.format("%Y-%m-%d").to_string()
        })
    };
    format!("ids of {} to {}", end(change.from), end(change.to))
}
