//! The migration lock: eight concurrent `up`s apply each migration once; a held lock
//! makes `up` wait, then time out naming the holder, or proceed once released.

mod support;

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use bridge_migrate::MIGRATION_LOCK_KEY;
use bridge_testkit::{SyncPgConnection, TestDatabase};
use diesel::{sql_types::Integer, QueryableByName, RunQueryDsl};
use support::{applied_count, bridge_admin, code, count, run, Outcome, EMBEDDED_COUNT};

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// A session of the test holding the migration lock on `db`; returns it and its pid.
fn hold_lock(db: &TestDatabase) -> (SyncPgConnection, i32) {
    let mut conn = db.sync_conn();
    diesel::sql_query("SET application_name = 'lock-holder-test'")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn)
        .unwrap();
    let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut conn)
        .unwrap()
        .pid;
    (conn, pid)
}

#[test]
fn eight_concurrent_ups_all_succeed_and_apply_each_migration_once() {
    let db = TestDatabase::empty();
    let children: Vec<_> = (0..8)
        .map(|_| {
            bridge_admin()
                .args(["--database-url", db.url(), "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<Outcome> = children
        .into_iter()
        .map(|child| Outcome::from(child.wait_with_output().unwrap()).expect(code::OK))
        .collect();

    for sql in bridge_schema::MIGRATION_SQL {
        let line = format!("applied  {} ", sql.dir_name);
        let times: usize = outcomes
            .iter()
            .map(|o| o.stdout.matches(&line).count())
            .sum();
        assert_eq!(times, 1, "{} applied {times} times", sql.dir_name);
    }
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
    let checksums = count(
        &db,
        "SELECT count(*) AS n FROM __bridge_migration_checksums",
    );
    assert_eq!(checksums, EMBEDDED_COUNT as i64);
}

#[test]
fn a_held_lock_times_out_with_a_message_naming_its_holder() {
    let db = TestDatabase::empty();
    let (_holder, pid) = hold_lock(&db);
    let started = Instant::now();
    let out = run(db.url(), &["--lock-timeout", "1", "up"]).expect(code::LOCK_TIMEOUT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(
        out.stderr.contains(&format!("held by pid {pid} ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("lock-holder-test"), "{}", out.stderr);
    assert!(out.stderr.contains("connected since"), "{}", out.stderr);
    assert!(
        !support::table_exists(&db, "__diesel_schema_migrations"),
        "nothing was read or made"
    );
}

#[test]
fn every_changing_command_takes_the_lock() {
    let db = TestDatabase::empty();
    support::migrate(&db);
    let (_holder, _) = hold_lock(&db);
    for args in [
        &["setup"][..],
        &["up"],
        &["up", "--dry-run"],
        &["down"],
        &["redo"],
    ] {
        let mut args = args.to_vec();
        args.splice(0..0, ["--lock-timeout", "0"]);
        run(db.url(), &args).expect(code::LOCK_TIMEOUT);
    }
    run(db.url(), &["status"]).expect(code::OK);
}

#[test]
fn a_waiting_up_shows_as_bridge_admin_and_proceeds_when_the_lock_is_released() {
    let db = TestDatabase::empty();
    let (mut holder, _) = hold_lock(&db);
    let child = bridge_admin()
        .args(["--database-url", db.url(), "--lock-timeout", "30", "up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Waiting means: it failed to take the lock and has finished looking up the holder.
    let waiting = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'bridge-admin' \
           AND state = 'idle' AND query LIKE '%pg_locks%'",
        db.name()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&db, &waiting) == 0 {
        assert!(
            Instant::now() < deadline,
            "bridge-admin never waited for the lock"
        );
        thread::sleep(Duration::from_millis(50));
    }
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .execute(&mut holder)
        .unwrap();

    let out = Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);
    assert!(
        out.stderr
            .contains("waiting up to 30s for the migration lock"),
        "{}",
        out.stderr
    );
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}
