//! Case 6: shedding the oldest 30 days of 90 days of transitions (9 000 000
//! rows at 100 000 a day; 3 000 000 go): ours, `retention::run` dropping the
//! month's partition, against what a user would otherwise run on the plain
//! table: `FsmTransition::delete_older_than` in batches of 10 000 until none
//! is left, then VACUUM. Seconds and WAL bytes (`pg_current_wal_lsn()`
//! before and after; server-wide, so other sessions' writes would count).

use std::time::{Duration, Instant};

use bridge_models::{
    retention::{self, Month, PartitionedTable, RetentionPolicy},
    FsmTransition,
};
use bridge_testkit::TestDatabase;
use chrono::{DateTime, TimeZone, Utc};

use super::plain_tables;
use crate::{
    direct::Direct,
    report::{Row, Target, Unit},
    BenchResult, Context,
};

/// The first day of the data: April, 30 days, is the month that goes.
fn first_day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap()
}

/// Days of data: April, May and June to the 29th.
const DAYS: i64 = 90;

/// Rows per DELETE of the limit, the retention default.
const BATCH: u32 = 10_000;

/// Loads `per_day` transitions a day for [`DAYS`] days from [`first_day`],
/// UUIDv7 ids of their `created_at`, then ANALYZE and CHECKPOINT.
async fn load(direct: &Direct, per_day: u64) -> BenchResult<()> {
    let rows = per_day * DAYS as u64;
    let spacing_us = 86_400_000_000 / per_day;
    direct
        .batch(&format!(
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, to_state, \
                 transition_event, transition_data, created_at) \
             SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '70008006' \
                     || lpad(to_hex(j), 12, '0'))::uuid, \
                 ('00000001-0000-4000-8000-' || lpad(to_hex(j * 2654435761 % 1000003), 12, '0'))::uuid, \
                 'workflow', 'PENDING', 'PROCESSING', 'start', '{{}}', t \
             FROM generate_series(0::bigint, {rows} - 1) AS j, \
                 LATERAL (SELECT '{start}'::timestamptz + j * {spacing_us} * interval '1 microsecond' AS t) AS ts; \
             ANALYZE fsm_transitions; CHECKPOINT",
            start = first_day().to_rfc3339(),
        ))
        .await
}

/// The server's WAL position in bytes.
async fn wal(direct: &Direct) -> BenchResult<f64> {
    let lsn = direct
        .column("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text")
        .await?;
    Ok(lsn.first().ok_or("no WAL position")?.parse()?)
}

/// Seconds and WAL bytes of `work`.
async fn measured<F: std::future::Future<Output = BenchResult<u64>>>(
    direct: &Direct,
    work: F,
) -> BenchResult<(f64, f64, u64)> {
    let before = wal(direct).await?;
    let started = Instant::now();
    let rows = work.await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, wal(direct).await? - before, rows))
}

/// Rows of case 6: seconds and WAL bytes, ours beside the limit.
pub async fn run(ctx: &Context) -> BenchResult<Vec<Row>> {
    let per_day = if ctx.scale.quick { 1_000 } else { 100_000 };
    let now = first_day() + chrono::Duration::days(DAYS);
    let cutoff = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
    let window = (now - cutoff).num_days() as u32;

    // Ours: the partitioned table.
    let ours_db = TestDatabase::migrated();
    let direct = Direct::connect(ours_db.url()).await?;
    let pool = ctx.pool(&ours_db).await?;
    let mut conn = pool.conn().await?;
    let (first, last) = (Month::of(first_day()), Month::of(now));
    let ddl_wait = Duration::from_secs(5);
    retention::ensure_partitions(
        &mut conn,
        PartitionedTable::FsmTransitions,
        first,
        last,
        ddl_wait,
    )
    .await?;
    let loading = Instant::now();
    load(&direct, per_day).await?;
    eprintln!(
        "case 6: loaded {} transitions in {:.1} s",
        per_day * DAYS as u64,
        loading.elapsed().as_secs_f64()
    );
    // Everything but the drop happens first: months ahead, nothing old yet.
    let policy = |transitions_days| RetentionPolicy {
        transitions_days,
        ..RetentionPolicy::default()
    };
    retention::run_at(&mut conn, &policy(DAYS as u32 + 31), now).await?;
    let april = "fsm_transitions_p202504";
    let shed: u64 = direct
        .column(&format!("SELECT count(*) FROM {april}"))
        .await?
        .first()
        .ok_or("no count")?
        .parse()?;
    direct.batch("CHECKPOINT").await?;
    let (ours_s, ours_wal, _) = measured(&direct, async {
        let report = retention::run_at(&mut conn, &policy(window), now).await?;
        let removed = &report.partitioned[0].removed;
        match removed.as_slice() {
            [dropped] if dropped.name == april => Ok(0),
            other => Err(format!("expected only {april} dropped, got {other:?}").into()),
        }
    })
    .await?;
    drop(conn);

    // The limit: the plain table, the same rows.
    let plain_db = plain_tables::database().await?;
    let plain = Direct::connect(plain_db.url()).await?;
    let plain_pool = ctx.pool(&plain_db).await?;
    let mut conn = plain_pool.conn().await?;
    load(&plain, per_day).await?;
    let (limit_s, limit_wal, deleted) = measured(&plain, async {
        let mut deleted = 0;
        loop {
            let rows = FsmTransition::delete_older_than(&mut conn, cutoff, BATCH).await?;
            deleted += rows as u64;
            if rows == 0 {
                break;
            }
        }
        plain.batch("VACUUM fsm_transitions").await?;
        Ok(deleted)
    })
    .await?;
    if deleted != shed {
        return Err(format!("the limit deleted {deleted} rows, ours dropped {shed}").into());
    }

    let case = format!(
        "6 shed oldest 30 of 90 days ({:.1} M of {:.1} M transitions)",
        shed as f64 / 1e6,
        (per_day * DAYS as u64) as f64 / 1e6
    );
    let limit = format!("DELETE {BATCH}/batch + VACUUM");
    Ok(vec![
        Row::measured(
            &case,
            Unit::Seconds,
            ours_s,
            &limit,
            limit_s,
            Target::Under { value: 1.0 },
        )
        .with_note("retention::run_at: the month's partition dropped"),
        Row::measured(
            &case,
            Unit::WalBytes,
            ours_wal,
            &limit,
            limit_wal,
            Target::None,
        ),
    ])
}
