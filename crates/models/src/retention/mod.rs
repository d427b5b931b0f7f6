//! Retention: what `bridge-admin retention` runs, and services may run on a timer.
//!
//! [`run`] does one whole retention pass under an advisory lock of its own
//! ([`RETENTION_LOCK_KEY`]), so that runs from cron on several hosts at once
//! do the work once: it creates the monthly partitions of `fsm_transitions`
//! and `metadata_stamps` ahead of time, drops (or detaches) those wholly older
//! than each table's window, and deletes finished workflows (with their
//! steps), silent nodes and old rows of the default partitions in bounded
//! batches. [`RetentionPolicy`] holds the windows; [`RetentionReport`] says
//! what was done.
//!
//! Below it, the batched deletes of single tables: `delete_older_than` on the
//! audit tables (the way to shed rows before they were partitioned; on the
//! partitioned tables it reads every partition), and
//! [`WorkflowExecution::delete_finished_before`](crate::WorkflowExecution::delete_finished_before),
//! [`NodeRegistration::delete_stale`](crate::NodeRegistration::delete_stale).
//! The default partitions are emptied by age with the same kind of batch,
//! on the default partition's own table.
//! Deletes go in bounded batches, oldest first, through an index, so a large
//! purge never holds locks on millions of rows in one transaction and can run
//! beside live traffic.

mod lock;
mod partitions;
mod policy;
mod report;
mod rows;
mod run;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{error::Error, Result};

pub use lock::RETENTION_LOCK_KEY;
pub use partitions::{uuid_v7_bound, uuid_v7_time, Month, PartitionedTable};
pub use policy::RetentionPolicy;
pub use report::{PartitionChange, PartitionedReport, Removal, RetentionReport, RowsReport};
pub use run::{ensure_partitions, run, run_at};

/// Why a retention run failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// Another run held the retention lock for the whole lock timeout.
    #[error("retention lock not acquired within {waited:?}{}", holder.as_deref().map(|h| format!("; held by {h}")).unwrap_or_default())]
    LockTimeout {
        /// How long this run waited.
        waited: Duration,
        /// The session holding it, when it could be found.
        holder: Option<String>,
    },
    /// A database or validation error, as the rest of the crate reports them.
    #[error(transparent)]
    Data(#[from] Error),
}

/// Most rows one retention call deletes.
pub const MAX_RETENTION_BATCH: u32 = 100_000;

/// `batch` as a LIMIT, refusing zero and anything above [`MAX_RETENTION_BATCH`].
pub(crate) fn batch_limit(batch: u32) -> Result<i64> {
    if batch == 0 || batch > MAX_RETENTION_BATCH {
        return Err(Error::invalid(
            "retention batch",
            format!("{batch} is outside 1..={MAX_RETENTION_BATCH}"),
        ));
    }
    Ok(i64::from(batch))
}

/// Implements `delete_older_than` for a row type over its append-only table.
macro_rules! retention {
    ($row:ty, $table:ident) => {
        impl $row {
            /// Deletes up to `batch` rows recorded before `cutoff`, oldest
            /// first, and returns how many; call again until it returns 0.
            pub async fn delete_older_than(
                conn: &mut diesel_async::AsyncPgConnection,
                cutoff: DateTime<Utc>,
                batch: u32,
            ) -> Result<usize> {
                use bridge_schema::$table;
                use diesel::prelude::*;
                use diesel_async::RunQueryDsl;

                // Two index-driven statements: the ids through the created_at
                // index, then `id = ANY($1)` through the primary key. A single
                // `id IN (sub-select)` lets the planner hash-join over a
                // sequential scan of the whole table.
                let oldest: Vec<uuid::Uuid> = $table::table
                    .select($table::id)
                    .filter($table::created_at.lt(cutoff))
                    .order($table::created_at)
                    .limit(batch_limit(batch)?)
                    .load(conn)
                    .await?;
                if oldest.is_empty() {
                    return Ok(0);
                }
                let deleted = diesel::delete($table::table.filter($table::id.eq_any(oldest)));
                Ok(deleted.execute(conn).await?)
            }
        }
    };
}

retention!(crate::FsmTransition, fsm_transitions);
retention!(crate::MetadataStamp, metadata_stamps);
retention!(crate::AppliedDelta, bridge_state_deltas);
