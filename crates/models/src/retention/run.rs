//! The retention routine: one call does everything a run does, under the
//! retention lock, each change in a short transaction of its own.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;

use super::{
    lock,
    partitions::{self, Month, Partition, PartitionedTable},
    report::{PartitionChange, PartitionedReport, Removal, RetentionReport, RowsReport},
    RetentionError, RetentionPolicy,
};
use crate::{NodeRegistration, Result, WorkflowExecution};

/// Awaits `$delete` (a batch delete returning `Result<usize>`) until a batch
/// comes back short of `$batch`; evaluates to `(rows, statements)`.
macro_rules! in_batches {
    ($batch:expr, $delete:expr) => {{
        let (mut rows, mut statements) = (0u64, 0u32);
        loop {
            let deleted = $delete.await?;
            rows += deleted as u64;
            statements += 1;
            if deleted < $batch as usize {
                break (rows, statements);
            }
        }
    }};
}

/// Runs retention now; see [`run_at`].
pub async fn run(
    conn: &mut AsyncPgConnection,
    policy: &RetentionPolicy,
) -> Result<RetentionReport, RetentionError> {
    run_at(conn, policy, Utc::now()).await
}

/// Runs retention as of `now`: for each audit table, creates the monthly
/// partitions up to `ahead_days` after `now` and drops (or detaches) those
/// wholly older than the table's window; deletes default-partition rows,
/// finished workflows and silent nodes older than their windows, in batches.
///
/// Takes the retention lock first (waiting up to `lock_timeout`) unless it
/// is a dry run, which only reads. Use a connection of its own or return it
/// to its pool only once this has finished: the lock belongs to the session
/// until released at the end.
pub async fn run_at(
    conn: &mut AsyncPgConnection,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, RetentionError> {
    policy.validate()?;
    if policy.dry_run {
        return Ok(steps(conn, policy, now).await?);
    }
    lock::acquire(conn, policy.lock_timeout).await?;
    let outcome = steps(conn, policy, now).await;
    let released = lock::release(conn).await;
    let report = outcome?;
    released?;
    Ok(report)
}

/// Creates the partitions of every month of `table` from `first` to `last`
/// that no partition covers yet, moving default-partition rows into them;
/// what it created. Takes no lock: for tests, tools and back-fills.
pub async fn ensure_partitions(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    first: Month,
    last: Month,
    ddl_lock_timeout: std::time::Duration,
) -> Result<Vec<PartitionChange>> {
    let existing = partitions::list(conn, table).await?;
    create_missing(conn, table, &existing, first, last, false, ddl_lock_timeout).await
}

async fn steps(
    conn: &mut AsyncPgConnection,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport> {
    let mut partitioned = Vec::new();
    for table in PartitionedTable::ALL {
        let days = match table {
            PartitionedTable::FsmTransitions => policy.transitions_days,
            PartitionedTable::MetadataStamps => policy.stamps_days,
        };
        partitioned.push(partitioned_table(conn, policy, table, now, days).await?);
    }
    let workflows_cutoff = days_before(now, policy.workflows_days);
    let workflows = if policy.dry_run {
        let deleted = WorkflowExecution::count_finished_before(conn, workflows_cutoff).await?;
        (deleted, 0)
    } else {
        in_batches!(
            policy.batch_size,
            WorkflowExecution::delete_finished_before(conn, workflows_cutoff, policy.batch_size)
        )
    };
    let nodes_cutoff = days_before(now, policy.nodes_days);
    let nodes = if policy.dry_run {
        (NodeRegistration::count_stale(conn, nodes_cutoff).await?, 0)
    } else {
        in_batches!(
            policy.batch_size,
            NodeRegistration::delete_stale(conn, nodes_cutoff, policy.batch_size)
        )
    };
    Ok(RetentionReport {
        dry_run: policy.dry_run,
        now,
        policy: policy.clone(),
        partitioned,
        workflows: RowsReport {
            table: "workflow_executions",
            cutoff: workflows_cutoff,
            deleted: workflows.0,
            batches: workflows.1,
        },
        nodes: RowsReport {
            table: "node_registrations",
            cutoff: nodes_cutoff,
            deleted: nodes.0,
            batches: nodes.1,
        },
    })
}

fn days_before(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

async fn partitioned_table(
    conn: &mut AsyncPgConnection,
    policy: &RetentionPolicy,
    table: PartitionedTable,
    now: DateTime<Utc>,
    days: u32,
) -> Result<PartitionedReport> {
    let cutoff = days_before(now, days);
    let existing = partitions::list(conn, table).await?;
    let ahead = now + Duration::days(i64::from(policy.ahead_days));
    let created = create_missing(
        conn,
        table,
        &existing,
        Month::of(now),
        Month::of(ahead),
        policy.dry_run,
        policy.ddl_lock_timeout,
    )
    .await?;

    let mut removed = Vec::new();
    for partition in existing.iter().filter(|p| p.wholly_before(cutoff)) {
        let (rows, rows_estimated) = partitions::rows(conn, partition).await?;
        if !policy.dry_run {
            partitions::remove(
                conn,
                table,
                partition,
                policy.detach,
                policy.ddl_lock_timeout,
            )
            .await?;
        }
        let (from, to) = partition.range.unwrap_or_default();
        removed.push(PartitionChange {
            name: partition.name.clone(),
            from,
            to,
            rows,
            rows_estimated,
        });
    }

    let has_default = existing.iter().any(|p| p.range.is_none());
    let (mut default_rows_deleted, mut default_rows_left) = (0, 0);
    if has_default {
        let (all, old) = partitions::default_rows(conn, table, cutoff).await?;
        if policy.dry_run {
            (default_rows_deleted, default_rows_left) = (old as u64, (all - old) as u64);
        } else {
            let batch = i64::from(policy.batch_size);
            (default_rows_deleted, _) = in_batches!(
                policy.batch_size,
                partitions::delete_old_default_rows(conn, table, cutoff, batch)
            );
            default_rows_left = partitions::default_rows(conn, table, cutoff).await?.0 as u64;
        }
    }
    Ok(PartitionedReport {
        table,
        cutoff,
        created,
        removed,
        removal: if policy.detach {
            Removal::Detach
        } else {
            Removal::Drop
        },
        default_rows_deleted,
        default_rows_left,
    })
}

/// Creates (or in a dry run, only lists) the partitions of the months
/// `first..=last` of `table` that no partition in `existing` overlaps.
async fn create_missing(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    existing: &[Partition],
    first: Month,
    last: Month,
    dry_run: bool,
    ddl_lock_timeout: std::time::Duration,
) -> Result<Vec<PartitionChange>> {
    let has_default = existing.iter().any(|p| p.range.is_none());
    let mut created = Vec::new();
    for month in first.through(last) {
        if existing.iter().any(|p| overlaps(p, month)) {
            continue;
        }
        let rows = match (dry_run, has_default) {
            (true, true) => partitions::default_rows_in(conn, table, month).await?,
            (true, false) => 0,
            (false, _) => {
                partitions::create(conn, table, month, has_default, ddl_lock_timeout).await?
            }
        };
        created.push(PartitionChange {
            name: table.partition_name(month),
            from: Some(month.start()),
            to: Some(month.end()),
            rows,
            rows_estimated: false,
        });
    }
    Ok(created)
}

/// Whether `partition` (not the default) holds any id of `month`.
fn overlaps(partition: &Partition, month: Month) -> bool {
    match partition.range {
        None => false,
        Some((from, to)) => {
            from.is_none_or(|from| from < month.end()) && to.is_none_or(|to| to > month.start())
        }
    }
}
