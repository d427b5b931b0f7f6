//! A failing migration is rolled back and reported with the server's error and its file;
//! the migrations before it stay applied.

mod support;

use bridge_testkit::TestDatabase;
use support::{applied_count, code, run, table_exists, MigrationDir};

fn migrations_with_a_broken_second_one() -> MigrationDir {
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_create_first",
        "CREATE TABLE first_table (id INT PRIMARY KEY);",
        "DROP TABLE first_table;",
    )
    .add(
        "2030-01-01-000002_break_halfway",
        "CREATE TABLE half_made (id INT PRIMARY KEY);\n\
         INSERT INTO no_such_table VALUES (1);",
        "DROP TABLE half_made;",
    )
    .add(
        "2030-01-01-000003_never_reached",
        "CREATE TABLE never_reached (id INT PRIMARY KEY);",
        "DROP TABLE never_reached;",
    );
    dir
}

#[test]
fn a_failing_migration_keeps_the_earlier_ones_and_leaves_no_trace_of_itself() {
    let db = TestDatabase::empty();
    let dir = migrations_with_a_broken_second_one();
    let out = run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::MIGRATION_FAILED);

    assert!(out
        .stdout
        .contains("applied  2030-01-01-000001_create_first"));
    assert!(
        out.stderr.contains("2030-01-01-000002_break_halfway"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("up.sql"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(r#"relation "no_such_table" does not exist"#),
        "the server's error is shown: {}",
        out.stderr
    );

    assert!(table_exists(&db, "first_table"));
    assert!(
        !table_exists(&db, "half_made"),
        "the failing migration was rolled back"
    );
    assert!(!table_exists(&db, "never_reached"));
    assert_eq!(applied_count(&db), 1);
    assert_eq!(
        support::count(
            &db,
            "SELECT count(*) AS n FROM __bridge_migration_checksums"
        ),
        1
    );
}

#[test]
fn a_failing_down_migration_is_rolled_back_too() {
    let db = TestDatabase::empty();
    let dir = MigrationDir::new();
    dir.add(
        "2030-01-01-000001_bad_down",
        "CREATE TABLE kept (id INT PRIMARY KEY);",
        "DROP TABLE kept; DROP TABLE no_such_table;",
    );
    run(db.url(), &["--migration-dir", dir.arg(), "up"]).expect(code::OK);
    let out = run(db.url(), &["--migration-dir", dir.arg(), "down"]).expect(code::MIGRATION_FAILED);
    assert!(out.stderr.contains("down.sql"), "{}", out.stderr);
    assert!(table_exists(&db, "kept"));
    assert_eq!(applied_count(&db), 1);
}

#[test]
fn a_missing_migrations_directory_is_a_usage_error() {
    let db = TestDatabase::empty();
    let out = run(
        db.url(),
        &["--migration-dir", "/nonexistent/migrations", "up"],
    )
    .expect(code::USAGE);
    assert!(
        out.stderr.contains("/nonexistent/migrations"),
        "{}",
        out.stderr
    );
}
