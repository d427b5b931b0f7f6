//! Databases left behind by killed test runs are removed; those still in use stay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bridge_testkit::{execute, remove_leftovers, server_url, SyncPgConnection};
use diesel::{sql_types::BigInt, Connection, QueryableByName, RunQueryDsl};

/// A test database name as a process `pid` would have made it an hour ago.
fn hour_old_name(pid: u32, counter: u32) -> String {
    let at = SystemTime::now() - Duration::from_secs(3600);
    let nanos = at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    format!("bridge_test_{pid:08x}{counter:08x}{nanos:016x}")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn exists(server: &mut SyncPgConnection, name: &str) -> bool {
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result::<Count>(server)
    .unwrap()
    .n == 1
}

#[test]
fn leftovers_of_dead_processes_are_dropped_and_databases_in_use_are_kept() {
    // No process has this id: Linux caps pids at 2^22.
    let dead = u32::MAX - 1;
    let leftover = hour_old_name(dead, 1);
    let in_use = hour_old_name(dead, 2);
    let ours = hour_old_name(std::process::id(), 3);
    let mut server = SyncPgConnection::establish(&server_url()).unwrap();
    for name in [&leftover, &in_use, &ours] {
        execute(&mut server, &format!(r#"CREATE DATABASE "{name}""#));
    }
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_path(&in_use);
    let session = SyncPgConnection::establish(url.as_str()).unwrap();

    // Another test process may get there first, so ask the server, not the list.
    remove_leftovers();

    assert!(!exists(&mut server, &leftover), "the leftover is dropped");
    assert!(
        exists(&mut server, &in_use),
        "a database with a session stays"
    );
    assert!(
        exists(&mut server, &ours),
        "a running process's database stays"
    );
    drop(session);
    for name in [&in_use, &ours] {
        execute(
            &mut server,
            &format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#),
        );
    }
}
