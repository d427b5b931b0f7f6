//! Bounded lock waits: a migration whose table a long transaction holds never stalls the
//! writers of that table longer than `--ddl-lock-timeout`; it is retried until the
//! transaction ends (applying with `up`, reverting with `down`), or ends with exit code 11
//! naming the blocker and leaving nothing applied.

mod support;

use std::{
    process::{Child, Stdio},
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
/// What a write may take beyond the lock timeout on a loaded 2-core machine
/// running tests in parallel: small, and far below `HELD`, the wait without the bound.
const MARGIN: Duration = Duration::from_millis(1500);

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

/// `bridge-admin ARGS…` on `db` with the migrations of `dir`, under the tests'
/// `--ddl-lock-timeout` and short retry waits, running in the background.
fn spawn_bounded(db: &TestDatabase, dir: &MigrationDir, args: &[&str]) -> Child {
    bridge_admin()
        .args(["--database-url", db.url(), "--migration-dir", dir.arg()])
        .args([
            "--ddl-lock-timeout",
            DDL_LOCK_TIMEOUT,
            "--ddl-retry-wait",
            "0.5",
        ])
        .args(["--ddl-retry-max-wait", "2"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Holds `live_rows` in a long read while `args` runs in the background
/// behind it, with writers writing throughout; after `HELD` runs
/// `while_held`, then ends the read. Checks that the command succeeded, that
/// the slowest write stayed within the lock timeout and a margin, and that
/// the retries named the reader; returns what the command said and how long it took.
fn behind_a_long_read(
    db: &TestDatabase,
    dir: &MigrationDir,
    args: &[&str],
    while_held: impl FnOnce(),
) -> (Outcome, Duration) {
    let writers = SteadyWriters::start(db.url(), INSERT, 4, Duration::from_millis(20));
    let reader = LongTransaction::begin(db, "long-reader-test", "SELECT count(*) FROM live_rows");
    let started = Instant::now();
    let child = spawn_bounded(db, dir, args);
    thread::sleep(HELD);
    while_held();
    let pid = reader.pid;
    reader.commit();

    let out = Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);
    let took = started.elapsed();
    let (writes, worst) = writers.stop();
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
    (out, took)
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

    let (out, took) = behind_a_long_read(&db, &dir, &["up"], || {
        assert!(
            !note_column_exists(&db),
            "nothing applied while the reader holds the table"
        );
    });
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
}

#[test]
fn down_behind_a_long_transaction_is_retried_and_reverts_once_the_reader_ends() {
    let db = TestDatabase::empty();
    let dir = live_table_and_pending_alter();
    run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::OK);
    assert!(note_column_exists(&db));

    let (out, took) = behind_a_long_read(&db, &dir, &["down"], || {
        assert!(
            note_column_exists(&db),
            "nothing reverted while the reader holds the table"
        );
    });
    assert!(
        out.stdout.contains("reverted 2030-01-01-000002_add_note"),
        "{out:#?}"
    );
    assert!(!note_column_exists(&db));
    assert_eq!(applied_count(&db), 1, "only the first migration stays");
    assert!(took >= HELD, "the revert waited for the reader: {took:?}");
}

#[test]
fn redo_behind_a_long_transaction_is_retried_and_ends_reapplied_once_the_reader_ends() {
    let db = TestDatabase::empty();
    let dir = live_table_and_pending_alter();
    run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::OK);

    let (out, took) = behind_a_long_read(&db, &dir, &["redo"], || {
        assert!(
            note_column_exists(&db),
            "nothing reverted while the reader holds the table"
        );
    });
    assert!(
        out.stdout.contains("reverted 2030-01-01-000002_add_note")
            && out.stdout.contains("applied  2030-01-01-000002_add_note"),
        "{out:#?}"
    );
    assert!(note_column_exists(&db));
    assert_eq!(applied_count(&db), 2, "both migrations, once each");
    assert!(took >= HELD, "the redo waited for the reader: {took:?}");
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
