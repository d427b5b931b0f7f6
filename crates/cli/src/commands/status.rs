//! `status`: every migration's state, as a table or as JSON, optionally as a check.

use bridge_connect::redact_url;
use bridge_migrate::{
    ChecksumState, InvalidIndex, MigrateError, MigrationStatus, Migrator, State, Status, Summary,
};
use serde::Serialize;

use crate::{
    cli::{Format, StatusArgs},
    exit::Exit,
    output::{BAD, DIM, GOOD, WARN},
};

/// The JSON document of `status --format json`; its fields are stable.
#[derive(Serialize)]
struct Document<'a> {
    database: String,
    up_to_date: bool,
    summary: Summary,
    migrations: &'a [MigrationStatus],
    invalid_indexes: &'a [InvalidIndex],
}

/// Runs `status`.
pub async fn run(migrator: &Migrator, args: StatusArgs) -> Result<Exit, MigrateError> {
    let status = migrator.status().await?;
    let database = redact_url(&migrator.options().database_url);
    match args.format {
        Format::Json => print_json(&status, database),
        Format::Text => print_text(&status, &database),
    }
    Ok(match args.check && !status.is_up_to_date() {
        true => Exit::CheckFailed,
        false => Exit::Success,
    })
}

fn print_json(status: &Status, database: String) {
    let document = Document {
        database,
        up_to_date: status.is_up_to_date(),
        summary: status.summary(),
        migrations: &status.migrations,
        invalid_indexes: &status.invalid_indexes,
    };
    let json = serde_json::to_string_pretty(&document).expect("the status document serialises");
    anstream::println!("{json}");
}

fn print_text(status: &Status, database: &str) {
    anstream::println!("Database: {database}");
    anstream::println!(
        "{:<16} {:<8} {:<26} {:<12} NAME",
        "VERSION",
        "STATE",
        "APPLIED AT",
        "CHECKSUM"
    );
    for migration in &status.migrations {
        print_line(migration);
    }
    for index in &status.invalid_indexes {
        anstream::println!(
            "{BAD}INVALID{BAD:#} index {}.{} on {}: a concurrent build failed (or is running); \
             see \"Adding a migration\" in the README to recover",
            index.schema,
            index.name,
            index.table
        );
    }
    let Summary {
        applied,
        pending,
        unknown,
        changed,
        no_checksum,
        invalid_indexes,
    } = status.summary();
    anstream::println!(
        "{applied} applied, {pending} pending, {unknown} unknown, {changed} changed, {no_checksum} missing checksum, {invalid_indexes} invalid indexes"
    );
}

fn print_line(migration: &MigrationStatus) {
    let (state_style, state) = match migration.state {
        State::Applied => (GOOD, "applied"),
        State::Pending => (WARN, "pending"),
        State::Unknown => (BAD, "unknown"),
    };
    let checksum_style = match migration.checksum {
        Some(ChecksumState::Match) => GOOD,
        Some(ChecksumState::Changed) => BAD,
        Some(ChecksumState::Missing) | None => DIM,
    };
    let checksum = migration.checksum.map_or("-", ChecksumState::as_str);
    let applied_at = migration.applied_at.map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    );
    anstream::println!(
        "{:<16} {state_style}{state:<8}{state_style:#} {applied_at:<26} {checksum_style}{checksum:<12}{checksum_style:#} {}",
        migration.version,
        migration.dir_name.as_deref().unwrap_or("(not in this binary)"),
    );
}
