//! What a retention run did (or, in a dry run, would do); serialisable as a
//! stable JSON document.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{PartitionedTable, RetentionPolicy};

/// Everything one run did, table by table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Whether nothing was changed (a dry run).
    pub dry_run: bool,
    /// The time the windows were measured from.
    pub now: DateTime<Utc>,
    /// The policy the run applied.
    pub policy: RetentionPolicy,
    /// The partitioned audit tables.
    pub partitioned: Vec<PartitionedReport>,
    /// Finished workflows deleted (their steps went with them).
    pub workflows: RowsReport,
    /// Silent nodes deleted.
    pub nodes: RowsReport,
}

/// What happened to one partitioned table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionedReport {
    /// The parent table.
    pub table: PartitionedTable,
    /// Months wholly before this time are removed.
    pub cutoff: DateTime<Utc>,
    /// Partitions created (ahead, or to cover a requested range).
    pub created: Vec<PartitionChange>,
    /// Partitions dropped, or detached when the policy says so.
    pub removed: Vec<PartitionChange>,
    /// What happened to [`removed`](Self::removed).
    pub removal: Removal,
    /// Rows of the default partition deleted for being older than the cutoff.
    pub default_rows_deleted: u64,
    /// Rows left in the default partition (ids that fit no month); should be 0.
    pub default_rows_left: u64,
}

/// How a run removes old partitions; `drop` or `detach` in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// `DROP TABLE`: the rows are gone.
    Drop,
    /// `DETACH PARTITION`: the month stays as a table of its own, for archiving.
    Detach,
}

impl Removal {
    /// The word the reports use, `drop` or `detach`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Detach => "detach",
        }
    }
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One partition created or removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionChange {
    /// The partition's table name.
    pub name: String,
    /// First instant of the ids it holds.
    pub from: Option<DateTime<Utc>>,
    /// First instant after them.
    pub to: Option<DateTime<Utc>>,
    /// Rows it held when removed, or rows moved into it from the default
    /// partition when created.
    pub rows: i64,
    /// Whether `rows` is the planner's estimate (partitions of a million rows or more).
    pub rows_estimated: bool,
}

/// Rows deleted from one table in batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowsReport {
    /// The table.
    pub table: &'static str,
    /// Rows older than this time went.
    pub cutoff: DateTime<Utc>,
    /// How many (in a dry run: would go).
    pub deleted: u64,
    /// In how many DELETE statements (0 in a dry run).
    pub batches: u32,
}

impl RetentionReport {
    /// Whether the run changed (or would change) anything.
    pub fn changed_anything(&self) -> bool {
        self.partitioned.iter().any(|table| {
            !table.created.is_empty() || !table.removed.is_empty() || table.default_rows_deleted > 0
        }) || self.workflows.deleted > 0
            || self.nodes.deleted > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_reads_as_the_word_the_json_report_always_had() {
        assert_eq!(serde_json::to_string(&Removal::Drop).unwrap(), r#""drop""#);
        assert_eq!(
            serde_json::to_string(&Removal::Detach).unwrap(),
            r#""detach""#
        );
        assert_eq!(Removal::Detach.to_string(), "detach");
    }
}
