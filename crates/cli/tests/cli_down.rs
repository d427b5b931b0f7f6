//! `bridge-admin down`: `-n`, `--to`, `--all`, `--dry-run`, and the data guard with `--force`.

mod support;

use bridge_testkit::TestDatabase;
use support::{applied_count, code, execute, migrate, run, table_exists, EMBEDDED_COUNT};

const ALL: i64 = EMBEDDED_COUNT as i64;

fn add_transition(db: &TestDatabase) {
    execute(
        db,
        "INSERT INTO fsm_transitions (entity_id, entity_type, to_state, transition_event) \
         VALUES (gen_random_uuid(), 'workflow', 'PENDING', 'created')",
    );
}

#[test]
fn down_reverts_only_the_latest_by_default() {
    let db = TestDatabase::empty();
    let all = support::migrate_six_tables(&db);
    let out = run(db.url(), &["down"]).expect(code::OK);
    assert!(out
        .stdout
        .contains("reverted 2025-10-07-000006_create_metadata_stamps"));
    assert!(!table_exists(&db, "metadata_stamps"));
    assert!(table_exists(&db, "node_registrations"));
    assert_eq!(applied_count(&db), all - 1);
    assert_eq!(
        support::count(
            &db,
            "SELECT count(*) AS n FROM __bridge_migration_checksums"
        ),
        all - 1,
        "the reverted migration's checksum is forgotten"
    );
}

#[test]
fn down_n_reverts_that_many_latest_first() {
    let db = TestDatabase::empty();
    let all = support::migrate_six_tables(&db);
    let out = run(db.url(), &["down", "-n", "2"]).expect(code::OK);
    let reverted: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("reverted"))
        .collect();
    assert_eq!(reverted.len(), 2);
    assert!(reverted[0].contains("000006") && reverted[1].contains("000005"));
    assert_eq!(applied_count(&db), all - 2);
}

#[test]
fn down_to_a_version_keeps_that_version() {
    let db = TestDatabase::empty();
    migrate(&db);
    run(db.url(), &["down", "--to", "2025-10-07-000002"]).expect(code::OK);
    assert!(table_exists(&db, "workflow_steps"));
    assert!(!table_exists(&db, "fsm_transitions"));
    assert_eq!(applied_count(&db), 3);
    run(db.url(), &["down", "--to", "2025-12-31-999999"]).expect(code::USAGE);
}

#[test]
fn down_all_reverts_everything_and_then_has_nothing_to_revert() {
    let db = TestDatabase::empty();
    migrate(&db);
    run(db.url(), &["down", "--all"]).expect(code::OK);
    assert_eq!(applied_count(&db), 0);
    assert!(!table_exists(&db, "workflow_executions"));
    let out = run(db.url(), &["down"]).expect(code::OK);
    assert_eq!(out.stdout.trim(), "nothing to revert");
}

#[test]
fn dry_run_prints_the_down_sql_and_changes_nothing() {
    let db = TestDatabase::empty();
    migrate(&db);
    add_transition(&db);
    let out = run(db.url(), &["down", "--all", "--dry-run"]).expect(code::OK);
    assert!(out.stdout.contains("DROP TABLE workflow_executions;"));
    assert!(out
        .stdout
        .contains("-- drops    table fsm_transitions (1 row)"));
    assert!(out
        .stdout
        .lines()
        .all(|line| line.is_empty() || !line.starts_with("reverted")));
    assert_eq!(applied_count(&db), ALL);
}

#[test]
fn the_data_guard_refuses_to_drop_rows_and_force_proceeds() {
    let db = TestDatabase::empty();
    migrate(&db);
    add_transition(&db);

    let refused = run(db.url(), &["down", "--to", "2025-10-07-000002"]).expect(code::DATA_GUARD);
    assert!(
        refused.stdout.contains("fsm_transitions (1 row)"),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("fsm_transitions (1 row)"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(applied_count(&db), ALL, "nothing was reverted");
    assert!(table_exists(&db, "metadata_stamps"));

    run(db.url(), &["down", "--to", "2025-10-07-000002", "--force"]).expect(code::OK);
    assert!(!table_exists(&db, "fsm_transitions"));
    assert_eq!(applied_count(&db), 3);
}

#[test]
fn empty_tables_need_no_confirmation() {
    let db = TestDatabase::empty();
    support::migrate_six_tables(&db);
    add_transition(&db);
    // Reverting everything after 000004 (000005, 000006 and later ones)
    // drops only empty tables; the row in fsm_transitions is safe.
    let out = run(db.url(), &["down", "--to", "2025-10-07-000004"]).expect(code::OK);
    assert!(
        out.stdout.contains("metadata_stamps (0 rows)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        support::count(&db, "SELECT count(*) AS n FROM fsm_transitions"),
        1
    );
}

/// `bridge-admin --database-url URL ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn at_a_terminal(url: &str, args: &str, answer: &str) -> support::Outcome {
    use std::{io::Write, process::Stdio};
    let command_line = format!(
        "{} --database-url {url} {args}",
        env!("CARGO_BIN_EXE_bridge-admin")
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

#[test]
fn at_a_terminal_the_guard_asks_and_obeys_the_answer() {
    let db = TestDatabase::empty();
    migrate(&db);
    add_transition(&db);

    let declined = at_a_terminal(db.url(), "down --all", "n\n").expect(code::DATA_GUARD);
    assert!(declined.stdout.contains("[y/N]"), "{}", declined.stdout);
    assert_eq!(applied_count(&db), ALL);

    at_a_terminal(db.url(), "down --all", "y\n").expect(code::OK);
    assert_eq!(applied_count(&db), 0);
}
