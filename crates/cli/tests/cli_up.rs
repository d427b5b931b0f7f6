//! `bridge-admin up`: applies pending migrations once, `--to`, `--dry-run`, output and logging.

mod support;

use bridge_testkit::TestDatabase;
use support::{applied_count, code, run, table_exists, EMBEDDED_COUNT};

#[test]
fn up_applies_every_migration_with_one_line_and_duration_each() {
    let db = TestDatabase::empty();
    let out = run(db.url(), &["up"]).expect(code::OK);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), EMBEDDED_COUNT, "{}", out.stdout);
    for (line, sql) in lines.iter().zip(bridge_schema::MIGRATION_SQL) {
        assert!(line.starts_with("applied "), "{line}");
        assert!(line.contains(sql.dir_name), "{line}");
        assert!(line.ends_with(" ms)"), "{line}");
    }
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}

#[test]
fn a_second_up_has_nothing_to_apply() {
    let db = TestDatabase::empty();
    run(db.url(), &["up"]).expect(code::OK);
    let out = run(db.url(), &["up"]).expect(code::OK);
    assert_eq!(out.stdout.trim(), "nothing to apply");
    assert_eq!(applied_count(&db), EMBEDDED_COUNT as i64);
}

#[test]
fn up_to_a_version_stops_after_it() {
    let db = TestDatabase::empty();
    run(db.url(), &["up", "--to", "2025-10-07-000002"]).expect(code::OK);
    assert!(table_exists(&db, "workflow_steps"));
    assert!(!table_exists(&db, "fsm_transitions"));
    assert_eq!(applied_count(&db), 3);

    // Diesel's form of the version works too.
    run(db.url(), &["up", "--to", "20251007000004"]).expect(code::OK);
    assert_eq!(applied_count(&db), 5);
}

#[test]
fn up_to_an_unknown_version_is_a_usage_error_and_changes_nothing() {
    let db = TestDatabase::empty();
    let out = run(db.url(), &["up", "--to", "1999-01-01-000000"]).expect(code::USAGE);
    assert!(
        out.stderr.contains("unknown migration version"),
        "{}",
        out.stderr
    );
    assert!(!table_exists(&db, "__diesel_schema_migrations"));
}

#[test]
fn dry_run_prints_the_sql_and_changes_nothing() {
    let db = TestDatabase::empty();
    let out = run(db.url(), &["up", "--dry-run"]).expect(code::OK);
    assert!(out.stdout.contains("CREATE TABLE workflow_executions"));
    assert!(out
        .stdout
        .contains("-- up 2025-10-07-000006_create_metadata_stamps"));
    assert!(!table_exists(&db, "workflow_executions"));
    assert!(!table_exists(&db, "__diesel_schema_migrations"));
    assert!(!table_exists(&db, "__bridge_migration_checksums"));

    let out = run(db.url(), &["up", "--dry-run", "--to", "00000000000000"]).expect(code::OK);
    assert!(out.stdout.contains("diesel_manage_updated_at"));
    assert!(
        !out.stdout.contains("workflow_executions"),
        "{}",
        out.stdout
    );
}

#[test]
fn output_is_plain_when_piped_and_coloured_when_forced() {
    let db = TestDatabase::empty();
    let plain = run(db.url(), &["up", "--to", "00000000000000"]).expect(code::OK);
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);

    let mut forced = support::bridge_admin();
    forced
        .env("CLICOLOR_FORCE", "1")
        .args(["--database-url", db.url(), "up"]);
    let coloured = support::run_command(&mut forced).expect(code::OK);
    assert!(coloured.stdout.contains("\x1b["), "{:?}", coloured.stdout);
}

#[test]
fn quiet_logs_nothing_and_verbose_logs_the_lock() {
    let db = TestDatabase::empty();
    let quiet = run(db.url(), &["-q", "up"]).expect(code::OK);
    assert_eq!(quiet.stderr, "");
    let verbose = run(db.url(), &["-v", "up"]).expect(code::OK);
    assert!(
        verbose.stderr.contains("migration lock acquired"),
        "{}",
        verbose.stderr
    );
    let default = run(db.url(), &["up"]).expect(code::OK);
    assert!(!default.stderr.contains("DEBUG"), "{}", default.stderr);
}
