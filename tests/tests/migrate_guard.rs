//! The data guard: which tables a revert would drop, with their rows, before anything changes.

use std::{fs, path::PathBuf};

use bridge_migrate::{MigrationSource, Migrator, Mode, Options, Reporter, TableRows, Target};
use bridge_testkit::TestDatabase;

/// A Diesel migrations directory with one migration, removed on drop.
struct MigrationsDir(PathBuf);

impl MigrationsDir {
    fn new(up: &str, down: &str) -> Self {
        let root = std::env::temp_dir().join(format!("bridge-guard-{}", uuid::Uuid::new_v4()));
        let migration = root.join("2025-01-01-000001_tables");
        fs::create_dir_all(&migration).unwrap();
        fs::write(migration.join("up.sql"), up).unwrap();
        fs::write(migration.join("down.sql"), down).unwrap();
        Self(root)
    }
}

impl Drop for MigrationsDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Keeps what the guard reported.
#[derive(Default)]
struct Reported(std::sync::Arc<std::sync::Mutex<Vec<TableRows>>>);

impl Reporter for Reported {
    fn tables_to_drop(&mut self, tables: &[TableRows]) {
        self.0.lock().unwrap().extend_from_slice(tables);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_counts_each_existing_table_in_the_order_dropped() {
    let dir = MigrationsDir::new(
        "CREATE TABLE a (n int); CREATE TABLE b (n int); CREATE TABLE c (n int);\n\
         INSERT INTO a VALUES (1), (2); INSERT INTO c VALUES (1);",
        "DROP TABLE IF EXISTS never_created; DROP TABLE c; DROP TABLE a, b;",
    );
    let db = TestDatabase::empty();
    let mut options = Options::new(db.url());
    options.source = MigrationSource::Directory(dir.0.clone());
    let migrator = Migrator::new(options);
    migrator
        .up(None, Mode::default(), Reported::default())
        .await
        .unwrap();

    let reported = Reported::default();
    let tables = std::sync::Arc::clone(&reported.0);
    let dry_run = Mode {
        dry_run: true,
        force: false,
    };
    migrator.down(Target::All, dry_run, reported).await.unwrap();

    let tables: Vec<(String, i64)> = tables
        .lock()
        .unwrap()
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(tables, [("c".into(), 1), ("a".into(), 2), ("b".into(), 0)]);
}
