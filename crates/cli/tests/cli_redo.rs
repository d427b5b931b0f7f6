//! `bridge-admin redo`: the rollback test leaves the schema as it was; `-n`, `--all`, guard.

mod support;

use bridge_testkit::TestDatabase;
use support::{applied_count, code, execute, migrate, run, schema_dump, EMBEDDED_COUNT};

#[test]
fn redo_all_on_a_fresh_database_leaves_the_schema_identical() {
    let db = TestDatabase::empty();
    migrate(&db);
    let before = schema_dump(&db);
    assert!(before.contains("CREATE TABLE public.workflow_executions"));
    let out = run(db.url(), &["redo", "--all"]).expect(code::OK);
    assert_eq!(out.stdout.matches("reverted").count(), EMBEDDED_COUNT);
    assert_eq!(out.stdout.matches("applied ").count(), EMBEDDED_COUNT);
    assert_eq!(schema_dump(&db), before);
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}

#[test]
fn redo_reverts_and_reapplies_the_latest_by_default() {
    let db = TestDatabase::empty();
    support::migrate_six_tables(&db);
    let out = run(db.url(), &["redo"]).expect(code::OK);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.contains("drops"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("reverted") && lines[0].contains("000006"));
    assert!(lines[1].starts_with("applied") && lines[1].contains("000006"));
}

#[test]
fn redo_n_reapplies_in_version_order() {
    let db = TestDatabase::empty();
    support::migrate_six_tables(&db);
    let out = run(db.url(), &["redo", "-n", "3"]).expect(code::OK);
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("reverted") || l.starts_with("applied"))
        .map(|l| &l[l.find("000").unwrap()..l.find('_').unwrap()])
        .collect();
    assert_eq!(
        order,
        ["000006", "000005", "000004", "000004", "000005", "000006"]
    );
}

#[test]
fn redo_dry_run_prints_down_then_up_and_changes_nothing() {
    let db = TestDatabase::empty();
    support::migrate_six_tables(&db);
    let before = schema_dump(&db);
    let out = run(db.url(), &["redo", "--dry-run"]).expect(code::OK);
    let down = out.stdout.find("DROP TABLE metadata_stamps").unwrap();
    let up = out.stdout.find("CREATE TABLE metadata_stamps").unwrap();
    assert!(down < up, "{}", out.stdout);
    assert_eq!(schema_dump(&db), before);
}

#[test]
fn redo_is_guarded_like_down() {
    let db = TestDatabase::empty();
    support::migrate_six_tables(&db);
    execute(
        &db,
        "INSERT INTO node_registrations (node_id, node_type, node_version) \
         VALUES ('reducer-1', 'reducer', 'v1')",
    );
    run(db.url(), &["redo", "-n", "2"]).expect(code::DATA_GUARD);
    assert_eq!(
        support::count(&db, "SELECT count(*) AS n FROM node_registrations"),
        1
    );
    run(db.url(), &["redo", "-n", "2", "--force"]).expect(code::OK);
    assert_eq!(
        support::count(&db, "SELECT count(*) AS n FROM node_registrations"),
        0
    );
}
