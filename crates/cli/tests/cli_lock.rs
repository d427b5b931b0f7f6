//! The migration lock: eight concurrent `up`s apply each migration once; a held lock
//! makes `up` wait, then time out naming the holder, or proceed once released.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{ChildStderr, Stdio},
    sync::mpsc::{self, Receiver},
    thread::{self, JoinHandle},
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
    let (mut holder, pid) = hold_lock(&db);
    let mut child = bridge_admin()
        .args(["--database-url", db.url(), "--lock-timeout", "30", "up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Waiting is what bridge-admin says on stderr: read it as it comes, and
    // release the lock only once it has said so. (Watching pg_stat_activity
    // for its one holder look-up instead raced: that state lasts one 100 ms
    // poll, which a loaded machine's polling can miss.)
    let (lines, stderr) = stderr_lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("waiting up to 30s for the migration lock") => break line,
            Ok(_) => {}
            Err(_) => panic!("bridge-admin never said it waits for the lock"),
        }
    };
    assert!(
        waiting.contains(&format!("held by pid {pid} ")),
        "{waiting}"
    );
    assert!(waiting.contains("lock-holder-test"), "{waiting}");
    let shown = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'bridge-admin'",
        db.name()
    );
    assert_eq!(
        count(&db, &shown),
        1,
        "the waiting session shows as bridge-admin"
    );
    assert_eq!(
        applied_count_or_zero(&db),
        0,
        "nothing applied while waiting"
    );

    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .execute(&mut holder)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr.join().unwrap();
    let out = Outcome::from(std::process::Output { stderr, ..output }).expect(code::OK);
    assert!(out.stdout.contains("applied "), "{}", out.stdout);
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}

/// Each line of `stderr` as it arrives, and all of it once it closes.
fn stderr_lines(stderr: ChildStderr) -> (Receiver<String>, JoinHandle<Vec<u8>>) {
    let (send, receive) = mpsc::channel();
    let all = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("UTF-8 stderr");
            all.extend_from_slice(line.as_bytes());
            all.push(b'\n');
            let _ = send.send(line);
        }
        all
    });
    (receive, all)
}

/// The applied migrations, zero while Diesel's table does not exist.
fn applied_count_or_zero(db: &TestDatabase) -> i64 {
    match support::table_exists(db, "__diesel_schema_migrations") {
        true => applied_count(db),
        false => 0,
    }
}
