//! The start-up migration function: applies each pending migration exactly once, under the lock.

use bridge_migrate::{self as migrate, Migrator, Options, State};
use bridge_schema::MIGRATION_SQL;
use bridge_testkit::TestDatabase;
use diesel::{prelude::*, sql_query, sql_types::BigInt};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(db: &TestDatabase, table: &str) -> i64 {
    let mut conn = db.sync_conn();
    sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread")]
async fn run_pending_applies_every_migration_then_nothing() {
    let db = TestDatabase::empty();
    let first = migrate::run_pending(db.url()).await.unwrap();
    assert_eq!(first.len(), MIGRATION_SQL.len());
    let second = migrate::run_pending(db.url()).await.unwrap();
    assert!(second.is_empty());

    let n = MIGRATION_SQL.len() as i64;
    let counts = tokio::task::spawn_blocking(move || {
        (
            count(&db, "__diesel_schema_migrations"),
            count(&db, migrate::CHECKSUM_TABLE),
        )
    })
    .await
    .unwrap();
    assert_eq!(counts, (n, n));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_run_pending_calls_apply_each_migration_once() {
    let db = TestDatabase::empty();
    let runs = (0..4).map(|_| {
        let url = db.url().to_owned();
        tokio::spawn(async move { migrate::run_pending(&url).await.unwrap().len() })
    });
    let mut applied = 0;
    for run in runs.collect::<Vec<_>>() {
        applied += run.await.unwrap();
    }
    assert_eq!(applied, MIGRATION_SQL.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_database_is_up_to_date_with_every_checksum() {
    let db = TestDatabase::empty();
    migrate::run_pending(db.url()).await.unwrap();
    let status = Migrator::new(Options::new(db.url()))
        .status()
        .await
        .unwrap();
    assert!(status.is_up_to_date());
    assert!(status.migrations.iter().all(|m| m.state == State::Applied));
    assert_eq!(status.summary().no_checksum, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn run_pending_works_on_a_current_thread_runtime_and_releases_the_lock() {
    let db = TestDatabase::empty();
    let applied = migrate::run_pending(db.url()).await.unwrap();
    assert_eq!(applied.len(), MIGRATION_SQL.len());

    // The first run's session, and with it the migration lock, ended with the call.
    let mut options = Options::new(db.url());
    options.lock_timeout = Some(std::time::Duration::from_secs(2));
    let again = Migrator::new(options)
        .up(None, migrate::Mode::default(), migrate::LogReporter)
        .await
        .unwrap();
    assert!(again.is_empty());
}
