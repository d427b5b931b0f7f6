//! Retention of the tables that are not partitioned: finished workflows
//! (their steps go by cascade) and nodes that stopped reporting, deleted in
//! bounded batches through an index.

use chrono::{DateTime, Utc};
use diesel::{
    sql_types::{BigInt, Timestamptz},
    QueryableByName,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::batch_limit;
use crate::{NodeRegistration, Result, WorkflowExecution};

/// Finished workflows: a final state, completed before `$1`.
const FINISHED: &str = "current_state IN ('COMPLETED', 'FAILED') AND completed_at < $1";

/// Nodes silent since before `$1` (as `NodeRegistration::list_stale`).
const STALE: &str = "(last_heartbeat < $1 OR (last_heartbeat IS NULL AND registered_at < $1))";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Deletes up to `batch` rows of `table` keyed by `key` that match `filter`
/// (binding `$1` to `cutoff`), oldest by `order` first; how many.
///
/// `key = ANY(ARRAY(…))` makes the ids an init-plan read through the index
/// that serves `filter`, then deletes through the primary key; the outer
/// filter re-checks each row, so a row that changed meanwhile (a workflow
/// reopened, a node that just sent a heartbeat) stays.
async fn delete_batch(
    conn: &mut AsyncPgConnection,
    (table, key, filter, order): (&str, &str, &str, &str),
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<usize> {
    Ok(diesel::sql_query(format!(
        "DELETE FROM {table} WHERE {filter} AND {key} = ANY(ARRAY( \
             SELECT {key} FROM {table} WHERE {filter} ORDER BY {order} LIMIT $2))"
    ))
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(batch_limit(batch)?)
    .execute(conn)
    .await?)
}

async fn count(
    conn: &mut AsyncPgConnection,
    table: &str,
    filter: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let count: Count =
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table} WHERE {filter}"))
            .bind::<Timestamptz, _>(cutoff)
            .load(conn)
            .await?
            .remove(0);
    Ok(count.n as u64)
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
        let target = ("workflow_executions", "id", FINISHED, "completed_at");
        delete_batch(conn, target, cutoff, batch).await
    }

    /// How many workflows [`delete_finished_before`](Self::delete_finished_before) would delete.
    pub async fn count_finished_before(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<u64> {
        count(conn, "workflow_executions", FINISHED, cutoff).await
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
        let target = (
            "node_registrations",
            "node_id",
            STALE,
            "last_heartbeat NULLS FIRST, node_id",
        );
        delete_batch(conn, target, cutoff, batch).await
    }

    /// How many nodes [`delete_stale`](Self::delete_stale) would delete.
    pub async fn count_stale(conn: &mut AsyncPgConnection, cutoff: DateTime<Utc>) -> Result<u64> {
        count(conn, "node_registrations", STALE, cutoff).await
    }
}
