//! Retention of the append-only audit tables: deleting rows older than a cut-off.
//!
//! Deletes go in bounded batches, oldest first, through each table's
//! `created_at` index, so a large purge never holds locks on millions of rows
//! in one transaction and can run beside live traffic.

use chrono::{DateTime, Utc};

use crate::{error::Error, Result};

/// Most rows one retention call deletes.
pub const MAX_RETENTION_BATCH: u32 = 100_000;

/// `batch` as a LIMIT, refusing zero and anything above [`MAX_RETENTION_BATCH`].
fn batch_limit(batch: u32) -> Result<i64> {
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
