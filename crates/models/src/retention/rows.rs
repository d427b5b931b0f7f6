//! Retention of the tables that are not partitioned: finished workflows
//! (their steps go by cascade) and nodes that stopped reporting, deleted in
//! bounded batches through an index.
//!
//! Each batch is two statements in Diesel's DSL, as `delete_older_than` on
//! the audit tables: the oldest keys through the index that serves the
//! filter, then `DELETE … WHERE <filter> AND key = ANY($keys)` through the
//! primary key. The filter is checked again in the DELETE, so a row that
//! changed between the two (a workflow reopened, a node that just sent a
//! heartbeat) stays. A single `key IN (sub-select)` would let the planner
//! hash-join over a sequential scan of the whole table.

use bridge_schema::{node_registrations, workflow_executions};
use chrono::{DateTime, Utc};
use diesel::{dsl, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::batch_limit;
use crate::{NodeRegistration, Result, WorkflowExecution, WorkflowState};

/// Finished workflows: a final state, completed before `cutoff`.
#[dsl::auto_type]
fn finished_before(cutoff: DateTime<Utc>) -> _ {
    let done: [WorkflowState; 2] = [WorkflowState::Completed, WorkflowState::Failed];
    workflow_executions::current_state
        .eq_any(done)
        .and(workflow_executions::completed_at.lt(cutoff))
}

/// Nodes silent since before `cutoff` (as `NodeRegistration::list_stale`).
#[dsl::auto_type]
fn stale_before(cutoff: DateTime<Utc>) -> _ {
    node_registrations::last_heartbeat
        .lt(cutoff)
        .or(node_registrations::last_heartbeat
            .is_null()
            .and(node_registrations::registered_at.lt(cutoff)))
}

impl WorkflowExecution {
    /// Deletes up to `batch` COMPLETED or FAILED workflows that completed
    /// before `cutoff`, the longest finished first, with their steps (their
    /// stamps stay, unlinked); how many. Call again until it returns 0.
    pub async fn delete_finished_before(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
        batch: u32,
    ) -> Result<usize> {
        use workflow_executions as we;
        let oldest: Vec<uuid::Uuid> = we::table
            .filter(finished_before(cutoff))
            .order(we::completed_at)
            .limit(batch_limit(batch)?)
            .select(we::id)
            .load(conn)
            .await?;
        if oldest.is_empty() {
            return Ok(0);
        }
        let deleted = diesel::delete(
            we::table
                .filter(finished_before(cutoff))
                .filter(we::id.eq_any(oldest)),
        );
        Ok(deleted.execute(conn).await?)
    }

    /// How many workflows [`delete_finished_before`](Self::delete_finished_before) would delete.
    pub async fn count_finished_before(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<u64> {
        let mut counted: Vec<i64> = workflow_executions::table
            .filter(finished_before(cutoff))
            .count()
            .load(conn)
            .await?;
        Ok(counted.pop().unwrap_or(0).unsigned_abs())
    }
}

impl NodeRegistration {
    /// Deletes up to `batch` nodes silent since before `cutoff` (as
    /// [`list_stale`](Self::list_stale) finds them), longest silent first;
    /// how many. Call again until it returns 0.
    pub async fn delete_stale(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
        batch: u32,
    ) -> Result<usize> {
        use node_registrations as nr;
        let oldest: Vec<String> = nr::table
            .filter(stale_before(cutoff))
            .order((nr::last_heartbeat.asc().nulls_first(), nr::node_id))
            .limit(batch_limit(batch)?)
            .select(nr::node_id)
            .load(conn)
            .await?;
        if oldest.is_empty() {
            return Ok(0);
        }
        let deleted = diesel::delete(
            nr::table
                .filter(stale_before(cutoff))
                .filter(nr::node_id.eq_any(oldest)),
        );
        Ok(deleted.execute(conn).await?)
    }

    /// How many nodes [`delete_stale`](Self::delete_stale) would delete.
    pub async fn count_stale(conn: &mut AsyncPgConnection, cutoff: DateTime<Utc>) -> Result<u64> {
        let mut counted: Vec<i64> = node_registrations::table
            .filter(stale_before(cutoff))
            .count()
            .load(conn)
            .await?;
        Ok(counted.pop().unwrap_or(0).unsigned_abs())
    }
}
