//! Migrations with `run_in_transaction = false` (concurrent index builds) run under the same
//! lock bounds and retries, and `status` reports an index a failed concurrent build left
//! invalid, which the next run drops before building it again.

mod support;

use std::{
    fs,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use bridge_testkit::TestDatabase;
use support::{bridge_admin, code, count, execute, run, LongTransaction, MigrationDir, Outcome};

const CREATE_TABLE: &str = "CREATE TABLE live_rows (id BIGSERIAL PRIMARY KEY, v INT NOT NULL);";

/// `dir` with a table, then a migration outside a transaction running `up`.
fn with_concurrent_build(up: &str, down: &str) -> MigrationDir {
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_create_live_rows",
        CREATE_TABLE,
        "DROP TABLE live_rows;",
    )
    .add("2030-01-01-000002_index_v", up, down);
    fs::write(
        dir.path().join("2030-01-01-000002_index_v/metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    dir
}

/// A database with `live_rows` applied and the concurrent build of
/// `live_rows_v_idx` pending, and a writer's transaction left open on the table.
fn index_pending_behind_a_writer() -> (TestDatabase, MigrationDir, LongTransaction) {
    let db = TestDatabase::empty();
    let dir = with_concurrent_build(
        "CREATE INDEX CONCURRENTLY live_rows_v_idx ON live_rows (v);",
        "DROP INDEX CONCURRENTLY live_rows_v_idx;",
    );
    run(
        db.url(),
        &[
            "--migration-dir",
            dir.arg(),
            "up",
            "--to",
            "2030-01-01-000001",
        ],
    )
    .expect(code::OK);
    let writer = LongTransaction::begin(
        &db,
        "long-writer-test",
        "INSERT INTO live_rows (v) VALUES (1)",
    );
    (db, dir, writer)
}

/// That `out`, a successful `up`, dropped the invalid index `before` left,
/// built it valid, and that `status --check` finds everything applied.
fn assert_rebuilt(db: &TestDatabase, dir: &MigrationDir, out: &Outcome, before: &str) {
    assert!(
        out.stderr
            .contains("dropped the invalid index(es) live_rows_v_idx"),
        "what {before} left invalid was dropped before building again: {}",
        out.stderr
    );
    assert!(index_is_valid(db, "live_rows_v_idx"));
    let status = run(
        db.url(),
        &["--migration-dir", dir.arg(), "status", "--check"],
    )
    .expect(code::OK);
    assert!(
        status.stdout.contains("2 applied, 0 pending")
            && status.stdout.contains("0 invalid indexes"),
        "{}",
        status.stdout
    );
}

fn index_is_valid(db: &TestDatabase, name: &str) -> bool {
    count(
        db,
        &format!(
            "SELECT count(*) AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = '{name}' AND i.indisvalid"
        ),
    ) == 1
}

#[test]
fn a_concurrent_build_behind_a_long_transaction_is_retried_and_ends_valid() {
    // A writer's open transaction: the build must wait for it before it can finish.
    let (db, dir, writer) = index_pending_behind_a_writer();
    let held = Duration::from_secs(6);
    let started = Instant::now();
    let child = bridge_admin()
        .args(["--database-url", db.url(), "--migration-dir", dir.arg()])
        .args([
            "--ddl-lock-timeout",
            "1",
            "--ddl-retry-wait",
            "0.5",
            "--ddl-retry-max-wait",
            "1",
        ])
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(held);
    writer.commit();
    let out = Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);

    assert!(started.elapsed() >= held);
    assert!(
        out.stderr.contains("retrying in"),
        "the build timed out and was retried: {}",
        out.stderr
    );
    assert_rebuilt(&db, &dir, &out, "the timed-out attempt");
}

#[test]
fn a_concurrent_build_that_never_gets_its_lock_exits_11_and_status_reports_what_is_left() {
    // A writer's open transaction: the build, and dropping what it left, wait for it.
    let (db, dir, writer) = index_pending_behind_a_writer();
    let migrations = ["--migration-dir", dir.arg()];
    let out = run(
        db.url(),
        &[
            &migrations[..],
            &["--ddl-lock-timeout", "0.5", "--ddl-attempts", "2"],
            &["--ddl-retry-wait", "0.2", "up"],
        ]
        .concat(),
    )
    .expect(code::DDL_LOCK_TIMEOUT);
    for said in [
        "2030-01-01-000002_index_v (up) did not get its locks".to_owned(),
        "all 2 attempts".to_owned(),
        format!(
            "blocked by pid {} (application_name \"long-writer-test\"",
            writer.pid
        ),
        "runs outside a transaction, so it is not recorded as applied".to_owned(),
        "the index(es) live_rows_v_idx its build left stay INVALID".to_owned(),
        "the next run drops them and builds them again".to_owned(),
    ] {
        assert!(out.stderr.contains(&said), "{said:?} in {}", out.stderr);
    }

    let status = run(
        db.url(),
        &[&migrations[..], &["status", "--check"]].concat(),
    )
    .expect(code::CHECK_FAILED);
    assert!(
        status
            .stdout
            .lines()
            .any(|line| line.contains(" pending ") && line.ends_with("2030-01-01-000002_index_v")),
        "{}",
        status.stdout
    );
    for said in [
        "INVALID index public.live_rows_v_idx on live_rows",
        "1 applied, 1 pending",
        "1 invalid indexes",
    ] {
        assert!(
            status.stdout.contains(said),
            "{said:?} in {}",
            status.stdout
        );
    }

    // The README's recovery: once the blocker is gone, run `up` again.
    writer.commit();
    let out = run(db.url(), &[&migrations[..], &["up"]].concat()).expect(code::OK);
    assert_rebuilt(&db, &dir, &out, "the failed run");
}

#[test]
fn status_reports_an_index_a_failed_concurrent_build_left_invalid_until_it_is_dropped() {
    let db = TestDatabase::empty();
    let dir = with_concurrent_build(
        "CREATE UNIQUE INDEX CONCURRENTLY live_rows_v_key ON live_rows (v);",
        "DROP INDEX CONCURRENTLY live_rows_v_key;",
    );
    let migrations = ["--migration-dir", dir.arg()];
    run(
        db.url(),
        &[&migrations[..], &["up", "--to", "2030-01-01-000001"]].concat(),
    )
    .expect(code::OK);
    execute(&db, "INSERT INTO live_rows (v) VALUES (7), (7)");
    let out = run(db.url(), &[&migrations[..], &["up"]].concat()).expect(code::MIGRATION_FAILED);
    assert!(
        out.stderr.contains("could not create unique index"),
        "{}",
        out.stderr
    );

    let status = run(
        db.url(),
        &[&migrations[..], &["status", "--check"]].concat(),
    )
    .expect(code::CHECK_FAILED);
    assert!(
        status
            .stdout
            .contains("INVALID index public.live_rows_v_key on live_rows"),
        "{}",
        status.stdout
    );
    let json = run(
        db.url(),
        &[&migrations[..], &["status", "--format", "json"]].concat(),
    )
    .expect(code::OK);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(document["invalid_indexes"][0]["name"], "live_rows_v_key");
    assert_eq!(document["summary"]["invalid_indexes"], 1);

    // The README's recovery: drop it, fix the data, rerun.
    execute(&db, "DROP INDEX CONCURRENTLY live_rows_v_key");
    execute(
        &db,
        "DELETE FROM live_rows WHERE id = (SELECT max(id) FROM live_rows)",
    );
    run(db.url(), &[&migrations[..], &["up"]].concat()).expect(code::OK);
    assert!(index_is_valid(&db, "live_rows_v_key"));
    run(
        db.url(),
        &[&migrations[..], &["status", "--check"]].concat(),
    )
    .expect(code::OK);
}
