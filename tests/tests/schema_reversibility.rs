//! Every migration applies, reverts and re-applies to the same catalog; all down leaves a fresh database.

use bridge_schema::MIGRATIONS;
use bridge_testkit::TestDatabase;
use bridge_tests::{assert_same_catalog, catalog_snapshot, lines};
use diesel::{migration::MigrationSource, pg::Pg};
use diesel_migrations::MigrationHarness;

#[test]
fn each_migration_reverts_cleanly_and_reapplies_identically() {
    let db = TestDatabase::empty();
    let conn = &mut db.sync_conn();
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).expect("embedded migrations");
    assert_eq!(
        migrations.len(),
        11,
        "the initial setup, the six tables, partitioned audit tables, retention index, \
         applied-delta ids and the adapter's parked events"
    );
    // Creates Diesel's bookkeeping table, which running one migration expects.
    assert!(conn.applied_migrations().expect("bookkeeping").is_empty());
    for migration in &migrations {
        let name = migration.name().to_string();
        let before = catalog_snapshot(conn);
        conn.run_migration(migration).expect(&name);
        let applied = catalog_snapshot(conn);
        assert_ne!(applied, before, "{name} changed nothing");

        conn.revert_migration(migration).expect(&name);
        assert_eq!(
            catalog_snapshot(conn),
            before,
            "{name}: down.sql left a trace"
        );

        conn.run_migration(migration).expect(&name);
        assert_eq!(
            catalog_snapshot(conn),
            applied,
            "{name}: re-applying differs"
        );
    }
}

#[test]
fn all_up_then_all_down_leaves_the_database_as_fresh() {
    let fresh = TestDatabase::empty();
    let fresh_snapshot = catalog_snapshot(&mut fresh.sync_conn());
    let db = TestDatabase::empty();
    let conn = &mut db.sync_conn();

    conn.run_pending_migrations(MIGRATIONS).expect("all up");
    let migrated = catalog_snapshot(conn);
    assert_same_catalog(
        &migrated,
        &catalog_snapshot(&mut TestDatabase::migrated().sync_conn()),
        "migrating from empty differs from the test kit's template",
    );

    conn.revert_all_migrations(MIGRATIONS).expect("all down");
    assert_same_catalog(
        &catalog_snapshot(conn),
        &fresh_snapshot,
        "all down is not fresh",
    );
    let recorded = lines(
        conn,
        "SELECT version AS line FROM __diesel_schema_migrations",
    );
    assert!(
        recorded.is_empty(),
        "still recorded as applied: {recorded:?}"
    );

    conn.run_pending_migrations(MIGRATIONS)
        .expect("all up again");
    assert_same_catalog(&catalog_snapshot(conn), &migrated, "all up again differs");
}
