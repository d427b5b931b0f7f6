//! A table a revert would drop, with its row count.

use std::fmt;

use serde::Serialize;

/// A table a revert would drop, and its rows at the time of asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// The table as named in `down.sql`, e.g. `workflow_executions`.
    pub table: String,
    /// Its row count.
    pub rows: i64,
}

impl fmt::Display for TableRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rows {
            1 => write!(f, "{} (1 row)", self.table),
            rows => write!(f, "{} ({rows} rows)", self.table),
        }
    }
}
