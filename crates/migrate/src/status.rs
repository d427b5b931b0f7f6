//! Which migrations are applied, pending, unknown to the source, or changed since applied.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{checksum::Recorded, history::AppliedRow, invalid_index::InvalidIndex, source::Script};

/// Every migration of the source and of the database, in version order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// One entry per version.
    pub migrations: Vec<MigrationStatus>,
    /// Indexes a failed `CREATE INDEX CONCURRENTLY` left invalid (or being built right now).
    pub invalid_indexes: Vec<InvalidIndex>,
}

/// The state of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// Diesel's version, e.g. `20251007000001`.
    pub version: String,
    /// Directory name; `None` for an unknown migration that this engine never applied.
    pub dir_name: Option<String>,
    /// Applied, pending or unknown.
    pub state: State,
    /// When it was applied: as recorded with its checksum, else per `__diesel_schema_migrations`.
    pub applied_at: Option<DateTime<Utc>>,
    /// How its recorded checksum compares; `None` unless applied and known.
    pub checksum: Option<ChecksumState>,
}

/// Whether a migration is in the database, in the source, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In the source and applied.
    Applied,
    /// In the source, not applied yet.
    Pending,
    /// Applied, but not in the source (e.g. applied by a newer binary).
    Unknown,
}

/// How an applied migration's recorded checksum compares with its `up.sql` now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumState {
    /// Recorded and equal.
    Match,
    /// Recorded and different: `up.sql` was edited after it was applied.
    Changed,
    /// Not recorded: applied by another tool such as `diesel migration run`.
    Missing,
}

impl ChecksumState {
    /// The word for this state, the same in text output and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Changed => "changed",
            Self::Missing => "missing",
        }
    }
}

/// Counts of a [`Status`], for summaries and checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Applied migrations known to the source.
    pub applied: usize,
    /// Migrations not applied yet.
    pub pending: usize,
    /// Applied migrations the source does not know.
    pub unknown: usize,
    /// Applied migrations whose `up.sql` changed since.
    pub changed: usize,
    /// Applied migrations with no recorded checksum.
    pub no_checksum: usize,
    /// Invalid indexes: a concurrent build failed (or is running).
    pub invalid_indexes: usize,
}

impl Status {
    /// Compares the source with what the database records.
    pub(crate) fn compare(
        scripts: &[Script],
        applied: &[AppliedRow],
        recorded: &HashMap<String, Recorded>,
        invalid_indexes: Vec<InvalidIndex>,
    ) -> Self {
        let applied_at: HashMap<&str, DateTime<Utc>> = applied
            .iter()
            .map(|row| (row.version.as_str(), row.run_on))
            .collect();
        let mut migrations: Vec<MigrationStatus> = scripts
            .iter()
            .map(|script| known(script, applied_at.get(script.version.as_str()), recorded))
            .collect();
        migrations.extend(
            applied
                .iter()
                .filter(|row| !scripts.iter().any(|script| script.version == row.version))
                .map(|row| unknown(row, recorded)),
        );
        migrations.sort_by(|a, b| a.version.cmp(&b.version));
        Self {
            migrations,
            invalid_indexes,
        }
    }

    /// How many migrations are in each state.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            invalid_indexes: self.invalid_indexes.len(),
            ..Summary::default()
        };
        for migration in &self.migrations {
            match migration.state {
                State::Applied => summary.applied += 1,
                State::Pending => summary.pending += 1,
                State::Unknown => summary.unknown += 1,
            }
            match migration.checksum {
                Some(ChecksumState::Changed) => summary.changed += 1,
                Some(ChecksumState::Missing) => summary.no_checksum += 1,
                _ => {}
            }
        }
        summary
    }

    /// True when nothing is pending, unknown or changed and no index is
    /// invalid; a missing checksum is fine.
    pub fn is_up_to_date(&self) -> bool {
        let summary = self.summary();
        summary.pending == 0
            && summary.unknown == 0
            && summary.changed == 0
            && summary.invalid_indexes == 0
    }
}

fn known(
    script: &Script,
    applied_at: Option<&DateTime<Utc>>,
    recorded: &HashMap<String, Recorded>,
) -> MigrationStatus {
    let recorded = recorded.get(&script.version);
    let checksum = applied_at.map(|_| match recorded {
        None => ChecksumState::Missing,
        Some(row) if row.sha256 == script.checksum => ChecksumState::Match,
        Some(_) => ChecksumState::Changed,
    });
    // Our own record is exact; Diesel's `run_on` has no zone.
    let applied_at = applied_at.map(|run_on| recorded.map_or(*run_on, |row| row.applied_at));
    MigrationStatus {
        version: script.version.clone(),
        dir_name: Some(script.dir_name.clone()),
        state: match applied_at {
            Some(_) => State::Applied,
            None => State::Pending,
        },
        applied_at,
        checksum,
    }
}

fn unknown(row: &AppliedRow, recorded: &HashMap<String, Recorded>) -> MigrationStatus {
    MigrationStatus {
        version: row.version.clone(),
        dir_name: recorded.get(&row.version).map(|row| row.dir_name.clone()),
        state: State::Unknown,
        applied_at: Some(
            recorded
                .get(&row.version)
                .map_or(row.run_on, |r| r.applied_at),
        ),
        checksum: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_words_are_the_same_in_text_and_json() {
        for state in [
            ChecksumState::Match,
            ChecksumState::Changed,
            ChecksumState::Missing,
        ] {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
        }
    }
}
