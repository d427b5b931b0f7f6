//! Bounded lock waits: a migration whose table a long transaction holds never stalls the
//! writers of that table longer than `--ddl-lock-timeout`; it is retried until the
//! transaction ends, or ends with exit code 11 naming the blocker and leaving nothing applied.

mod support;

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use bridge_testkit::TestDatabase;
use support::{
    applied_count, bridge_admin, code, count, run, LongTransaction, MigrationDir, Outcome,
    SteadyWriters,
};

/// How long the test's long transaction holds its lock.
const HELD: Duration = Duration::from_secs(10);
/// The migrations' `lock_timeout` in these tests.
const DDL_LOCK_TIMEOUT: &str = "1";
/// What a write may take beyond the lock timeout on a busy machine: generous,
/// and still far below `HELD`, the wait without the bound.
const MARGIN: Duration = Duration::from_secs(3);

const INSERT: &str = "INSERT INTO live_rows (v) VALUES (1)";

/// A table that is written live, and a pending migration that rewrites its catalog entry.
fn live_table_and_pending_alter() -> MigrationDir {
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_create_live_rows",
        "CREATE TABLE live_rows (id BIGSERIAL PRIMARY KEY, v INT NOT NULL);",
        "DROP TABLE live_rows;",
    )
    .add(
        "2030-01-01-000002_add_note",
        "ALTER TABLE live_rows ADD COLUMN note TEXT;",
        "ALTER TABLE live_rows DROP COLUMN note;",
    );
    dir
}

fn note_column_exists(db: &TestDatabase) -> bool {
    count(
        db,
        "SELECT count(*) AS n FROM information_schema.columns \
         WHERE table_name = 'live_rows' AND column_name = 'note'",
    ) == 1
}

#[test]
fn writers_wait_at_most_the_lock_timeout_and_the_migration_applies_once_the_reader_ends() {
    let db = TestDatabase::empty();
    let dir = live_table_and_pending_alter();
    let migrations = ["--migration-dir", dir.arg()];
    run(
        db.url(),
        &[&migrations[..], &["up", "--to", "2030-01-01-000001"]].concat(),
    )
    .expect(code::OK);

    let writers = SteadyWriters::start(db.url(), INSERT, 4, Duration::from_millis(20));
    let reader = LongTransaction::begin(&db, "long-reader-test", "SELECT count(*) FROM live_rows");
    let started = Instant::now();
    let child = bridge_admin()
        .args(["--database-url", db.url(), "--migration-dir", dir.arg()])
        .args([
            "--ddl-lock-timeout",
            DDL_LOCK_TIMEOUT,
            "--ddl-retry-wait",
            "0.5",
        ])
        .args(["--ddl-retry-max-wait", "2", "up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(HELD);
    assert!(
        !note_column_exists(&db),
        "nothing applied while the reader holds the table"
    );
    let pid = reader.pid;
    reader.commit();

    let out = Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);
    let took = started.elapsed();
    let (writes, worst) = writers.stop();
    assert!(
        out.stdout.contains("applied  2030-01-01-000002_add_note"),
        "{out:#?}"
    );
    assert!(note_column_exists(&db));
    assert_eq!(applied_count(&db), 2, "both migrations");
    assert!(
        took >= HELD,
        "the migration waited for the reader: {took:?}"
    );
    let bound = Duration::from_secs_f64(DDL_LOCK_TIMEOUT.parse().unwrap()) + MARGIN;
    assert!(
        worst < bound,
        "the slowest of {writes} writes took {worst:?}, more than the lock timeout and a margin \
         ({bound:?}); the reader held the table for {HELD:?}"
    );
    assert!(writes > 100, "the writers kept writing: {writes}");
    assert!(
        out.stderr
            .contains(&format!("pid {pid} (application_name \"long-reader-test\"")),
        "each retry names the blocker: {}",
        out.stderr
    );
    assert!(out.stderr.contains("retrying in"), "{}", out.stderr);
}

#[test]
fn a_migration_that_never_gets_its_lock_exits_11_naming_the_blocker_with_nothing_applied() {
    let db = TestDatabase::empty();
    let dir = live_table_and_pending_alter();
    let migrations = ["--migration-dir", dir.arg()];
    run(
        db.url(),
        &[&migrations[..], &["up", "--to", "2030-01-01-000001"]].concat(),
    )
    .expect(code::OK);
    let writers = SteadyWriters::start(db.url(), INSERT, 2, Duration::from_millis(20));
    let reader = LongTransaction::begin(&db, "long-reader-test", "SELECT count(*) FROM live_rows");

    let out = run(
        db.url(),
        &[
            &migrations[..],
            &["--ddl-lock-timeout", "0.5", "--ddl-attempts", "3"],
            &["--ddl-retry-wait", "0.2", "up"],
        ]
        .concat(),
    )
    .expect(code::DDL_LOCK_TIMEOUT);
    let (_, worst) = writers.stop();
    let pid = reader.pid;
    reader.commit();

    assert!(
        out.stderr.contains("2030-01-01-000002_add_note"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("all 3 attempts"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "blocked by pid {pid} (application_name \"long-reader-test\""
        )),
        "the error names the blocker: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing of it is applied"),
        "{}",
        out.stderr
    );
    assert!(!note_column_exists(&db), "the catalog has no trace of it");
    assert_eq!(applied_count(&db), 1, "only the first migration");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM __bridge_migration_checksums"
        ),
        1
    );
    assert!(
        worst < Duration::from_millis(500) + MARGIN,
        "writers stalled {worst:?}"
    );
}

#[test]
fn a_statement_timeout_declared_in_the_migration_ends_a_runaway_statement() {
    let db = TestDatabase::empty();
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_runaway",
        "-- bridge-migrate: statement_timeout = 500ms\nCREATE TABLE half (id INT);\nSELECT pg_sleep(30);",
        "DROP TABLE half;",
    );
    let started = Instant::now();
    let out = run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::MIGRATION_FAILED);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(out.stderr.contains("statement timeout"), "{}", out.stderr);
    assert!(!support::table_exists(&db, "half"), "rolled back");
}
