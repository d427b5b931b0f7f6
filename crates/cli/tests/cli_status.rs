//! `bridge-admin status`: text and JSON, `--check`, and unknown or changed migrations.

mod support;

use std::fs;

use bridge_testkit::TestDatabase;
use serde_json::Value;
use support::{code, execute, migrate, run, MigrationDir, EMBEDDED_COUNT};

fn json_status(url: &str, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.extend(["status", "--format", "json"]);
    let out = run(url, &args).expect(code::OK);
    serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", out.stdout))
}

fn states(status: &Value) -> Vec<&str> {
    status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect()
}

#[test]
fn status_of_an_empty_database_lists_every_migration_as_pending_and_changes_nothing() {
    let db = TestDatabase::empty();
    let out = run(db.url(), &["status"]).expect(code::OK);
    assert_eq!(
        out.stdout.matches(" pending ").count(),
        EMBEDDED_COUNT,
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains(&format!("0 applied, {EMBEDDED_COUNT} pending")));
    assert!(!support::table_exists(&db, "__diesel_schema_migrations"));
}

#[test]
fn check_fails_while_anything_is_pending_and_passes_when_up_to_date() {
    let db = TestDatabase::empty();
    run(db.url(), &["status", "--check"]).expect(code::CHECK_FAILED);
    migrate(&db);
    let out = run(db.url(), &["status", "--check"]).expect(code::OK);
    assert!(out
        .stdout
        .contains(&format!("{EMBEDDED_COUNT} applied, 0 pending")));
}

#[test]
fn json_status_parses_and_lists_every_migration() {
    let db = TestDatabase::empty();
    run(db.url(), &["up", "--to", "2025-10-07-000003"]).expect(code::OK);
    let status = json_status(db.url(), &[]);
    let migrations = status["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), EMBEDDED_COUNT);
    for (migration, sql) in migrations.iter().zip(bridge_schema::MIGRATION_SQL) {
        assert_eq!(migration["version"], sql.version());
        assert_eq!(migration["dir_name"], sql.dir_name);
    }
    let expected: Vec<&str> = (0..EMBEDDED_COUNT)
        .map(|n| if n < 4 { "applied" } else { "pending" })
        .collect();
    assert_eq!(states(&status), expected);
    assert!(migrations[0]["applied_at"].is_string());
    assert_eq!(migrations[0]["checksum"], "match");
    assert!(migrations[6]["applied_at"].is_null());
    assert!(migrations[6]["checksum"].is_null());
    assert_eq!(status["up_to_date"], false);
    assert_eq!(status["summary"]["pending"], EMBEDDED_COUNT - 4);
    assert_eq!(status["database"], db.url());
}

#[test]
fn an_edited_migration_shows_as_changed_and_fails_the_check() {
    let db = TestDatabase::empty();
    let dir = MigrationDir::copy_of_product();
    run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::OK);
    let up_sql = dir
        .path()
        .join("2025-10-07-000003_create_fsm_transitions/up.sql");
    let edited = fs::read_to_string(&up_sql).unwrap() + "\n-- edited after it was applied\n";
    fs::write(&up_sql, edited).unwrap();

    let status = json_status(db.url(), &["--migration-dir", dir.arg()]);
    let changed: Vec<&Value> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["checksum"] == "changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["version"], "20251007000003");
    assert_eq!(status["summary"]["changed"], 1);

    let out = run(
        db.url(),
        &["--migration-dir", dir.arg(), "status", "--check"],
    )
    .expect(code::CHECK_FAILED);
    assert!(out.stdout.contains("changed"), "{}", out.stdout);
}

#[test]
fn a_migration_unknown_to_the_binary_is_reported_and_fails_the_check() {
    let db = TestDatabase::empty();
    let newer = MigrationDir::copy_of_product();
    newer.add(
        "2099-01-01-000001_add_future_table",
        "CREATE TABLE future_table (id INT PRIMARY KEY);",
        "DROP TABLE future_table;",
    );
    run(db.url(), &["--migration-dir", newer.arg(), "up"]).expect(code::OK);

    // The embedded migrations lack the newer one.
    let status = json_status(db.url(), &[]);
    let last = status["migrations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["state"], "unknown");
    assert_eq!(last["version"], "20990101000001");
    assert_eq!(last["dir_name"], "2099-01-01-000001_add_future_table");
    run(db.url(), &["status", "--check"]).expect(code::CHECK_FAILED);

    // Reverting it needs its down.sql, which this binary does not have.
    let out = run(db.url(), &["down"]).expect(code::MIGRATION_FAILED);
    assert!(out.stderr.contains("20990101000001"), "{}", out.stderr);
}

#[test]
fn a_migration_applied_without_a_checksum_is_reported_without_failing() {
    let db = TestDatabase::empty();
    migrate(&db);
    execute(
        &db,
        "DELETE FROM __bridge_migration_checksums WHERE version = '20251007000001'",
    );
    let status = json_status(db.url(), &[]);
    assert_eq!(status["migrations"][1]["checksum"], "missing");
    assert_eq!(status["summary"]["no_checksum"], 1);
    assert_eq!(status["up_to_date"], true);
    let out = run(db.url(), &["status", "--check"]).expect(code::OK);
    assert!(out.stdout.contains("1 missing checksum"), "{}", out.stdout);
}
