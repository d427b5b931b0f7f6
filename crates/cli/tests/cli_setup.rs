//! `bridge-admin setup`: creates a missing database and migrates it, also when run concurrently.

mod support;

use std::process::Stdio;

use bridge_testkit::{server_url, sync_connect, TestDatabase};
use diesel::RunQueryDsl;
use support::{applied_count, bridge_admin, code, run, EMBEDDED_COUNT};

/// A test database name whose database does not exist yet; dropped (if made) with the value.
fn missing_database() -> TestDatabase {
    let db = TestDatabase::empty();
    let mut server = sync_connect(&server_url()).unwrap();
    diesel::sql_query(format!(r#"DROP DATABASE "{}""#, db.name()))
        .execute(&mut server)
        .unwrap();
    db
}

#[test]
fn setup_creates_the_database_and_applies_everything() {
    let db = missing_database();
    let out = run(db.url(), &["setup"]).expect(code::OK);
    assert!(
        out.stdout
            .starts_with(&format!("created  database {}", db.name())),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("applied ").count(), EMBEDDED_COUNT);
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);

    let again = run(db.url(), &["setup"]).expect(code::OK);
    assert_eq!(again.stdout.trim(), "nothing to apply");
}

#[test]
fn setup_on_an_existing_database_only_applies_what_is_pending() {
    let db = TestDatabase::empty();
    run(db.url(), &["up", "--to", "2025-10-07-000001"]).expect(code::OK);
    let out = run(db.url(), &["setup"]).expect(code::OK);
    assert!(!out.stdout.contains("created"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("applied ").count(), EMBEDDED_COUNT - 2);
}

#[test]
fn concurrent_setups_create_and_migrate_once() {
    let db = missing_database();
    let children: Vec<_> = (0..3)
        .map(|_| {
            bridge_admin()
                .args(["--database-url", db.url(), "setup"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let out = support::Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);
        applied += out.stdout.matches("applied ").count();
    }
    assert_eq!(applied, EMBEDDED_COUNT);
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}
