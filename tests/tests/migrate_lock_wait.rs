//! `run_pending` in a service under a long transaction: the embedded migration that builds
//! an index on a live table stalls writers at most its lock timeout, applies once the
//! transaction ends, or fails with `DdlLockTimeout` naming the blocker and applying nothing;
//! a second replica starting meanwhile waits for the first instead of failing.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use bridge_migrate::{self as migrate, LockRetry, MigrateError, Migrator, Mode, Options, Target};
use bridge_testkit::{execute, sync_connect, SyncPgConnection, TestDatabase};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{BigInt, Integer},
};

/// The pending embedded migration: `CREATE INDEX` on `workflow_executions` (a SHARE lock,
/// which every writer of the table conflicts with).
const INDEX_MIGRATION: &str = "20261125000002";
const INDEX: &str = "workflow_executions_finished_idx";
/// The migration before it, to which the test reverts.
const BEFORE: &str = "2026-11-25-000001";
const INSERT: &str = "INSERT INTO workflow_executions \
     (correlation_id, workflow_type, current_state, namespace, started_at) \
     VALUES (gen_random_uuid(), 'lock-wait-test', 'PENDING', 'tenant', now())";
/// What a write may take beyond the lock timeout on a loaded 2-core machine running tests in
/// parallel: small, and far below how long the tests hold the table.
const MARGIN: Duration = Duration::from_millis(1500);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

fn count(conn: &mut SyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(conn).unwrap().n
}

/// A migrated database with the index migration and those after it pending again.
async fn with_index_migration_pending() -> TestDatabase {
    let db = TestDatabase::migrated();
    Migrator::new(Options::new(db.url()))
        .down(
            Target::To(BEFORE.to_owned()),
            Mode::default(),
            migrate::LogReporter,
        )
        .await
        .unwrap();
    db
}

/// A session holding `workflow_executions` in an open transaction, as a slow batch writer would.
fn hold_table(url: &str) -> (SyncPgConnection, i32) {
    let mut conn = sync_connect(url).unwrap();
    execute(&mut conn, "SET application_name = 'long-writer-test'");
    execute(&mut conn, "BEGIN");
    execute(&mut conn, INSERT);
    let pid = sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut conn)
        .unwrap()
        .pid;
    (conn, pid)
}

/// Writers inserting a workflow every 20 ms each until `stop`; returns writes and the slowest.
fn writers(url: &str, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<(u64, Duration)>> {
    (0..3)
        .map(|_| {
            let mut conn = sync_connect(url).unwrap();
            let stop = Arc::clone(stop);
            thread::spawn(move || {
                let (mut writes, mut worst) = (0, Duration::ZERO);
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    execute(&mut conn, INSERT);
                    worst = worst.max(started.elapsed());
                    writes += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                (writes, worst)
            })
        })
        .collect()
}

/// Writers of `workflow_executions` at a steady pace, then a session holding the table in
/// an open transaction (returned with its pid); started off the runtime.
async fn writers_behind_a_holder(url: &str) -> (SyncPgConnection, i32, Writers) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = writers(&url, &stop);
        let (holder, pid) = hold_table(&url);
        (holder, pid, Writers { stop, handles })
    })
    .await
    .unwrap()
}

/// The writers of [`writers_behind_a_holder`].
struct Writers {
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<(u64, Duration)>>,
}

impl Writers {
    /// Stops them; returns their writes and the slowest write.
    async fn stop(self) -> (u64, Duration) {
        tokio::task::spawn_blocking(move || stop_writers(&self.stop, self.handles))
            .await
            .unwrap()
    }
}

fn stop_writers(
    stop: &AtomicBool,
    writers: Vec<thread::JoinHandle<(u64, Duration)>>,
) -> (u64, Duration) {
    stop.store(true, Ordering::Relaxed);
    writers
        .into_iter()
        .map(|writer| writer.join().unwrap())
        .fold((0, Duration::ZERO), |(n, worst), (w, slowest)| {
            (n + w, worst.max(slowest))
        })
}

fn index_state(url: &str) -> (i64, i64) {
    let mut conn = sync_connect(url).unwrap();
    let applied = count(
        &mut conn,
        &format!("SELECT count(*) AS n FROM __diesel_schema_migrations WHERE version = '{INDEX_MIGRATION}'"),
    );
    let index = count(
        &mut conn,
        &format!("SELECT count(*) AS n FROM pg_class WHERE relname = '{INDEX}'"),
    );
    (applied, index)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_pending_waits_out_a_long_transaction_without_stalling_the_writers() {
    let db = with_index_migration_pending().await;
    let url = db.url().to_owned();
    let (holder, _, writers) = writers_behind_a_holder(&url).await;

    let held = Duration::from_secs(8);
    let release = tokio::task::spawn_blocking(move || {
        thread::sleep(held);
        let mut holder = holder;
        execute(&mut holder, "COMMIT");
    });
    let started = Instant::now();
    let applied = migrate::run_pending(&url).await.unwrap();
    let took = started.elapsed();
    release.await.unwrap();
    let (writes, worst) = writers.stop().await;

    assert!(
        applied.iter().any(|step| step.version == INDEX_MIGRATION),
        "{applied:?}"
    );
    assert!(took >= held, "it waited for the transaction: {took:?}");
    let url2 = url.clone();
    let state = tokio::task::spawn_blocking(move || index_state(&url2))
        .await
        .unwrap();
    assert_eq!(state, (1, 1), "recorded and built");
    let bound = Options::DEFAULT_DDL_LOCK_TIMEOUT + MARGIN;
    assert!(
        worst < bound,
        "the slowest of {writes} writes took {worst:?} (bound {bound:?}); the table was held {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_pending_that_never_gets_its_lock_names_the_blocker_and_applies_nothing() {
    let db = with_index_migration_pending().await;
    let url = db.url().to_owned();
    let (holder, pid, writers) = writers_behind_a_holder(&url).await;

    let options = Options {
        ddl_lock_timeout: Duration::from_millis(500),
        lock_retry: LockRetry {
            attempts: 3,
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_millis(200),
        },
        ..Options::new(&url)
    };
    let err = migrate::run_pending_with(options).await.unwrap_err();
    let (writes, worst) = writers.stop().await;
    drop(holder);
    let bound = Duration::from_millis(500) + MARGIN;
    assert!(
        worst < bound,
        "the slowest of {writes} writes took {worst:?} (bound {bound:?})"
    );

    let MigrateError::DdlLockTimeout {
        ref dir_name,
        attempts,
        ref blockers,
        in_transaction,
        ..
    } = err
    else {
        panic!("expected DdlLockTimeout, got {err}");
    };
    assert!(dir_name.starts_with("2026-11-25-000002"), "{dir_name}");
    assert_eq!(attempts, 3);
    assert!(in_transaction);
    let blocker = blockers
        .iter()
        .find(|b| b.pid == pid)
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        blocker.application_name.as_deref(),
        Some("long-writer-test")
    );
    assert!(
        blocker
            .open_for()
            .is_some_and(|open| open > Duration::from_secs(1)),
        "{blocker}"
    );
    assert!(err.is_retryable());
    let state = tokio::task::spawn_blocking(move || index_state(&url))
        .await
        .unwrap();
    assert_eq!(state, (0, 0), "neither recorded nor in the catalog");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_starting_while_another_retries_waits_for_it_and_the_migration_applies_once() {
    let db = with_index_migration_pending().await;
    let url = db.url().to_owned();
    let (holder, _, writers) = writers_behind_a_holder(&url).await;
    // Short bounds, the same for both replicas: one migration may retry for
    // 8 lock timeouts of 1 s and 1.3 s of waits; the advisory-lock wait is left to its default.
    let options = Options {
        ddl_lock_timeout: Duration::from_secs(1),
        lock_retry: LockRetry {
            attempts: 8,
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_millis(200),
        },
        ..Options::new(&url)
    };
    assert_eq!(options.lock_timeout, None);

    let held = Duration::from_secs(4);
    let release = tokio::task::spawn_blocking(move || {
        thread::sleep(held);
        let mut holder = holder;
        execute(&mut holder, "COMMIT");
    });
    let started = Instant::now();
    let (first, second) = tokio::join!(
        migrate::run_pending_with(options.clone()),
        migrate::run_pending_with(options),
    );
    let took = started.elapsed();
    release.await.unwrap();
    writers.stop().await;

    let (first, second) = (
        first.expect("the first replica"),
        second.expect("the second replica waits for the migration lock instead of failing"),
    );
    let index_steps = first
        .iter()
        .chain(&second)
        .filter(|step| step.version == INDEX_MIGRATION)
        .count();
    assert_eq!(index_steps, 1, "applied exactly once: {first:?} {second:?}");
    assert!(
        first.is_empty() != second.is_empty(),
        "one replica applied the pending migrations, the other found none: {first:?} {second:?}"
    );
    assert!(took >= held, "both waited for the transaction: {took:?}");
    let state = tokio::task::spawn_blocking(move || index_state(&url))
        .await
        .unwrap();
    assert_eq!(state, (1, 1), "recorded and built");
}
