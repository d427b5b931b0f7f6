//! bridge-admin against servers that refuse, fill up, speak TLS or go away
//! mid-command: the exit codes 8 (authentication), 9 (server busy), 10 (TLS)
//! and 4 (connection lost, not "migration failed"), what `--wait` retries,
//! and that an interrupted `up` can simply be rerun.

mod support;

use std::{
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use bridge_testkit::{
    execute, sync_connect, PrivateCluster, SyncPgConnection, TestCa, TestDatabase,
};
use support::{bridge_admin, code, run, MigrationDir, Outcome};

/// `bridge-admin --database-url URL ARGS…`, started in the background.
fn spawn(url: &str, args: &[&str]) -> Child {
    bridge_admin()
        .arg("--database-url")
        .arg(url)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bridge-admin starts")
}

/// Polls `condition` every 50 ms for up to 20 s; panics naming `what` if it never holds.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_refused_password_exits_8_at_once_even_with_wait() {
    let cluster = PrivateCluster::builder()
        .hba("host all all 127.0.0.1/32 scram-sha-256")
        .start();
    cluster.psql("CREATE ROLE app LOGIN CREATEDB PASSWORD 'right-pw'");
    cluster.psql("CREATE DATABASE bridge OWNER app");

    let started = Instant::now();
    let url = cluster.url_for("app", Some("wr0ng-pw"), "bridge");
    let out = run(&url, &["--wait", "20", "up"]).expect(code::AUTHENTICATION);
    assert!(started.elapsed() < Duration::from_secs(5), "--wait retried");
    assert!(out.stderr.contains("authentication"), "{}", out.stderr);
    assert!(out.stderr.contains("pg_hba.conf"), "{}", out.stderr);
    assert!(!out.stderr.contains("is the server up"), "{}", out.stderr);
    assert!(!out.stderr.contains("wr0ng-pw"), "{}", out.stderr);

    let unknown_role = cluster.url_for("nobody", Some("right-pw"), "bridge");
    run(&unknown_role, &["status"]).expect(code::AUTHENTICATION);
    let right = cluster.url_for("app", Some("right-pw"), "bridge");
    run(&right, &["up"]).expect(code::OK);
}

#[test]
fn a_full_server_exits_9_and_wait_connects_once_a_slot_frees() {
    let cluster = PrivateCluster::builder()
        .conf("max_connections", "3")
        .conf("superuser_reserved_connections", "0")
        .start();
    let url = cluster.create_database("bridge");
    let mut slots: Vec<_> = (0..3)
        .map(|_| sync_connect(&url).expect("a free slot"))
        .collect();

    let out = run(&url, &["up"]).expect(code::SERVER_BUSY);
    assert!(out.stderr.contains("server busy"), "{}", out.stderr);
    assert!(out.stderr.contains("--wait"), "{}", out.stderr);

    let mut waiting = spawn(&url, &["--wait", "30", "up"]);
    thread::sleep(Duration::from_millis(1500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "still waiting for a slot"
    );
    slots.pop();
    Outcome::from(waiting.wait_with_output().unwrap()).expect(code::OK);
}

#[test]
fn tls_verify_full_with_the_right_ca_exits_0_and_with_another_ca_exits_10() {
    let ca = TestCa::new("bridge test CA");
    let cluster = PrivateCluster::builder()
        .tls(&ca.server_cert(&["localhost"]))
        .start();
    cluster.create_database("bridge");
    let url = |ca: &TestCa| {
        format!(
            "postgres://postgres@localhost:{}/bridge?sslmode=verify-full&sslrootcert={}",
            cluster.port(),
            ca.cert_path().display()
        )
    };

    run(&url(&ca), &["up"]).expect(code::OK);
    run(&url(&ca), &["status", "--check"]).expect(code::OK);

    let started = Instant::now();
    let other = TestCa::new("some other CA");
    let out = run(&url(&other), &["--wait", "20", "status"]).expect(code::TLS);
    assert!(started.elapsed() < Duration::from_secs(5), "--wait retried");
    assert!(out.stderr.contains("TLS failed"), "{}", out.stderr);
    assert!(out.stderr.contains("sslrootcert"), "{}", out.stderr);
}

/// Migrations whose second blocks on table `gate` (which the test creates and
/// locks first): the first is applied, the second is in flight until the
/// lock is released.
fn gated_migrations() -> MigrationDir {
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_first",
        "CREATE TABLE first_table (id INT);",
        "DROP TABLE first_table;",
    )
    .add(
        "2030-01-01-000002_gated",
        "CREATE TABLE gated_table (id INT);\nLOCK TABLE gate IN ACCESS SHARE MODE;",
        "DROP TABLE gated_table;",
    );
    dir
}

/// SQL ending the bridge-admin session of `database` once it waits on a
/// lock; counts the sessions it ended.
fn terminate_waiting_bridge_admin(database: &str) -> String {
    format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = '{database}' AND application_name = 'bridge-admin' \
           AND wait_event_type = 'Lock'"
    )
}

/// Asserts `out` reports the gated migration's lost connection, not a failed migration.
#[track_caller]
fn assert_lost_while_gated(out: &Outcome) {
    assert!(
        out.stderr
            .contains("connection to the database lost while applying 2030-01-01-000002_gated"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("rolled back") && out.stderr.contains("rerun"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("failed (up)"), "{}", out.stderr);
    assert!(!out.stderr.contains("is the server up"), "{}", out.stderr);
}

#[test]
fn a_terminated_session_during_up_is_a_lost_connection_and_up_can_be_rerun() {
    let db = TestDatabase::empty();
    let migrations = gated_migrations();
    let mut gate = db.sync_conn();
    execute(&mut gate, "CREATE TABLE gate (id INT)");
    execute(&mut gate, "BEGIN");
    execute(&mut gate, "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");

    let up = spawn(db.url(), &["--migration-dir", migrations.arg(), "up"]);
    let terminate = terminate_waiting_bridge_admin(db.name());
    wait_until("bridge-admin waits on the gate", || {
        support::count(&db, &terminate) == 1
    });
    let out = Outcome::from(up.wait_with_output().unwrap()).expect(code::UNREACHABLE);
    assert_lost_while_gated(&out);
    assert!(support::table_exists(&db, "first_table"));
    assert!(
        !support::table_exists(&db, "gated_table"),
        "the server rolled the gated migration back"
    );

    execute(&mut gate, "ROLLBACK");
    run(db.url(), &["--migration-dir", migrations.arg(), "up"]).expect(code::OK);
    assert!(support::table_exists(&db, "gated_table"));
    assert_eq!(support::applied_count(&db), 2);
}

/// A private cluster whose database `bridge` holds table `gate`, locked by
/// a session of the test, and bridge-admin's `up` of the gated migrations
/// waiting on it.
struct GatedUp {
    cluster: PrivateCluster,
    url: String,
    up: Child,
    /// Holds the lock until the server goes away.
    _gate: SyncPgConnection,
}

impl GatedUp {
    fn start(migrations: &MigrationDir) -> Self {
        let cluster = PrivateCluster::builder().start();
        let url = cluster.create_database("bridge");
        cluster.psql_in("bridge", "CREATE TABLE gate (id INT)");
        let mut gate = sync_connect(&url).unwrap();
        execute(&mut gate, "BEGIN");
        execute(&mut gate, "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
        let up = spawn(&url, &["--migration-dir", migrations.arg(), "up"]);
        wait_until("bridge-admin waits on the gate", || {
            cluster
                .psql_in(
                    "bridge",
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE application_name = 'bridge-admin' AND wait_event_type = 'Lock'",
                )
                .trim()
                == "1"
        });
        Self {
            cluster,
            url,
            up,
            _gate: gate,
        }
    }
}

/// The tables of `bridge` on `cluster` the gated migrations create.
fn created_tables(cluster: &PrivateCluster) -> String {
    cluster.psql_in(
        "bridge",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
         WHERE tablename IN ('first_table', 'gated_table')",
    )
}

#[test]
fn a_server_restart_during_up_is_a_lost_connection_and_up_can_be_rerun() {
    let migrations = gated_migrations();
    // `_gate` stays bound: the lock must hold until the server goes away.
    let GatedUp {
        cluster,
        url,
        up,
        _gate,
    } = GatedUp::start(&migrations);
    cluster.restart();
    let out = Outcome::from(up.wait_with_output().unwrap()).expect(code::UNREACHABLE);
    assert_lost_while_gated(&out);
    assert_eq!(created_tables(&cluster).trim(), "first_table");

    run(&url, &["--migration-dir", migrations.arg(), "up"]).expect(code::OK);
    assert_eq!(created_tables(&cluster).trim(), "first_table,gated_table");
}

#[test]
fn a_crash_during_up_is_a_lost_connection_then_unreachable_until_the_server_is_back() {
    let migrations = gated_migrations();
    // `_gate` stays bound: the lock must hold until the server goes away.
    let GatedUp {
        cluster,
        url,
        up,
        _gate,
    } = GatedUp::start(&migrations);
    cluster.stop_immediate();
    let out = Outcome::from(up.wait_with_output().unwrap()).expect(code::UNREACHABLE);
    assert_lost_while_gated(&out);

    let out = run(&url, &["--migration-dir", migrations.arg(), "up"]).expect(code::UNREACHABLE);
    assert!(out.stderr.contains("is the server up"), "{}", out.stderr);
    cluster.start();
    run(&url, &["--migration-dir", migrations.arg(), "up"]).expect(code::OK);
    assert_eq!(created_tables(&cluster).trim(), "first_table,gated_table");
}
