//! The sweep keeps the parking table's statistics fresh while a backlog fills it.

use bridge_adapter::refresh_statistics;
use bridge_testkit::TestDatabase;
use diesel::{sql_types::BigInt, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Parks `rows` made-up events, offsets from `from`.
async fn park(conn: &mut AsyncPgConnection, from: i64, rows: i64) {
    diesel::sql_query(format!(
        "INSERT INTO adapter_deferred_events (topic, kafka_partition, kafka_offset, event_id, \
         event_type, waits_for_kind, waits_for_key, payload, header_names, header_values, reason) \
         SELECT 't', 0, g, gen_random_uuid(), 'step-completed', 'workflow', g::text, '\\x00', \
         '{{}}', '{{}}', 'waits' FROM generate_series({from}, {}) g",
        from + rows - 1
    ))
    .execute(conn)
    .await
    .expect("parked");
}

/// The planner's row count of the parking table; -1 before its first ANALYZE.
async fn planner_rows(conn: &mut AsyncPgConnection) -> i64 {
    diesel::sql_query(
        "SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'adapter_deferred_events'",
    )
    .load::<Number>(conn)
    .await
    .expect("reltuples")
    .pop()
    .expect("the table")
    .n
}

#[tokio::test]
async fn a_parking_table_a_backlog_fills_is_analyzed_and_small_or_shrinking_changes_are_not() {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await.expect("a pool");
    let mut conn = db.conn().await.expect("a connection");
    park(&mut conn, 0, 1_500).await;
    assert_ne!(planner_rows(&mut conn).await, 1_500, "not analyzed yet");

    let mut analyzed_at = 0;
    refresh_statistics(&db, 1_500, &mut analyzed_at).await;
    assert_eq!(analyzed_at, 1_500);
    assert_eq!(planner_rows(&mut conn).await, 1_500);

    park(&mut conn, 1_500, 100).await;
    refresh_statistics(&db, 1_600, &mut analyzed_at).await;
    assert_eq!(analyzed_at, 1_500, "growth under a fifth waits");
    assert_eq!(planner_rows(&mut conn).await, 1_500);

    refresh_statistics(&db, 200, &mut analyzed_at).await;
    assert_eq!(analyzed_at, 200, "a shrink is remembered");
    assert_eq!(
        planner_rows(&mut conn).await,
        1_500,
        "but left to autovacuum"
    );
    refresh_statistics(&db, 1_600, &mut analyzed_at).await;
    assert_eq!(analyzed_at, 1_600, "growth from there analyzes again");
    assert_eq!(planner_rows(&mut conn).await, 1_600);
}
