//! Interoperability with diesel_cli: each tool sees the other's migrations as applied,
//! because bridge-admin keeps `__diesel_schema_migrations` exactly as Diesel does.

mod support;

use std::{env, path::PathBuf, process::Command};

use bridge_testkit::TestDatabase;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use support::{code, migrate, product_migrations, run, EMBEDDED_COUNT};

/// The diesel_cli binary: `$DIESEL`, else `diesel` in Cargo's bin directory, else on `PATH`.
fn diesel_cli() -> PathBuf {
    if let Some(path) = env::var_os("DIESEL") {
        return path.into();
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    cargo_home
        .map(|home| home.join("bin/diesel"))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| "diesel".into())
}

/// Runs `diesel migration ARGS` on `db` with the product's migrations and returns stdout.
///
/// It runs in an empty directory with an empty `diesel.toml`, so diesel_cli never
/// regenerates the repository's `schema.rs`.
fn diesel_migration(db: &TestDatabase, args: &[&str]) -> String {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("diesel.toml"), "").unwrap();
    let output = Command::new(diesel_cli())
        .current_dir(project.path())
        .arg("migration")
        .args(args)
        .arg("--migration-dir")
        .arg(product_migrations())
        .args(["--database-url", db.url()])
        .output()
        .expect("diesel_cli is installed (cargo install diesel_cli), or $DIESEL names it");
    assert!(
        output.status.success(),
        "diesel migration {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json_status(db: &TestDatabase) -> Value {
    let out = run(db.url(), &["status", "--format", "json"]).expect(code::OK);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn a_database_migrated_by_diesel_cli_is_fully_applied_for_bridge_admin() {
    let db = TestDatabase::empty();
    diesel_migration(&db, &["run"]);

    let status = json_status(&db);
    assert_eq!(status["summary"]["applied"], EMBEDDED_COUNT);
    assert_eq!(status["summary"]["no_checksum"], EMBEDDED_COUNT);
    assert_eq!(status["up_to_date"], true);
    let migrations = status["migrations"].as_array().unwrap();
    assert!(migrations.iter().all(|m| m["applied_at"].is_string()));
    assert!(migrations.iter().all(|m| m["checksum"] == "missing"));
    let out = run(db.url(), &["status", "--check"]).expect(code::OK);
    assert!(
        out.stdout.contains("missing"),
        "no checksum is shown: {}",
        out.stdout
    );

    let out = run(db.url(), &["up"]).expect(code::OK);
    assert_eq!(out.stdout.trim(), "nothing to apply");
}

#[test]
fn a_database_migrated_by_bridge_admin_has_nothing_pending_for_diesel_cli() {
    let db = TestDatabase::empty();
    migrate(&db);
    assert_eq!(diesel_migration(&db, &["pending"]).trim(), "false");
}

#[test]
fn diesel_cli_reverts_what_bridge_admin_applied_and_bridge_admin_reapplies_it() {
    let db = TestDatabase::empty();
    migrate(&db);
    diesel_migration(&db, &["revert"]);
    assert_eq!(diesel_migration(&db, &["pending"]).trim(), "true");
    assert_eq!(json_status(&db)["summary"]["pending"], 1);

    let out = run(db.url(), &["up"]).expect(code::OK);
    let latest = bridge_schema::MIGRATION_SQL.last().unwrap().dir_name;
    assert!(
        out.stdout.contains(&format!("applied  {latest}")),
        "{}",
        out.stdout
    );
    let status = json_status(&db);
    assert_eq!(status["up_to_date"], true);
    assert_eq!(status["summary"]["no_checksum"], 0);
}

#[test]
fn applied_at_of_diesel_cli_migrations_is_right_when_the_server_zone_is_not_utc() {
    let db = TestDatabase::empty();
    // Sessions on this database start 5 h 30 min ahead of UTC.
    support::execute(
        &db,
        &format!(
            "ALTER DATABASE \"{}\" SET timezone = 'Asia/Kolkata'",
            db.name()
        ),
    );
    let before = Utc::now() - TimeDelta::seconds(2);
    diesel_migration(&db, &["run"]);
    let after = Utc::now() + TimeDelta::seconds(2);

    let status = json_status(&db);
    for migration in status["migrations"].as_array().unwrap() {
        let applied_at = migration["applied_at"].as_str().unwrap();
        let applied_at = DateTime::parse_from_rfc3339(applied_at).unwrap();
        assert!(
            (before..=after).contains(&applied_at.to_utc()),
            "{} applied at {applied_at}, between {before} and {after} expected",
            migration["version"]
        );
    }
}
