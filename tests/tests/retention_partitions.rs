//! Retention of the partitioned audit tables: months created ahead, months
//! wholly older than the window dropped (and no row of a younger month),
//! default-partition rows by age, idempotent appends across partitions, ids
//! other than UUIDv7 refused, dry runs, and two runs at once.

use std::collections::BTreeSet;

use bridge_models::{
    retention::{self, Month, PartitionedTable, RetentionError, RetentionPolicy},
    Error, FsmTransition, MetadataStamp, NewFsmTransition, NewMetadataStamp, Result,
};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::new_transition;
use chrono::{DateTime, Duration, Utc};
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

const DDL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A UUIDv7 made at `at`.
fn id_at(at: DateTime<Utc>) -> Uuid {
    let nanos = at.timestamp_subsec_nanos();
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp() as u64,
        nanos,
    ))
}

/// The month `offset` months from the current one (negative: earlier).
fn month(offset: i32) -> Month {
    let mut month = Month::of(Utc::now());
    for _ in offset..0 {
        month = Month::of(month.start() - Duration::days(1));
    }
    for _ in 0..offset {
        month = month.next();
    }
    month
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

async fn lines(conn: &mut AsyncPgConnection, sql: &str) -> Result<Vec<String>> {
    Ok(diesel::sql_query(sql)
        .load::<Line>(conn)
        .await?
        .into_iter()
        .map(|row| row.line)
        .collect())
}

/// Partition names of `table`.
async fn partitions(conn: &mut AsyncPgConnection, table: &str) -> Result<BTreeSet<String>> {
    let sql = format!(
        "SELECT c.relname::text AS line FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = '{table}'::regclass"
    );
    Ok(lines(conn, &sql).await?.into_iter().collect())
}

/// The partition holding the row with id `id` of `table`.
async fn partition_of(conn: &mut AsyncPgConnection, table: &str, id: Uuid) -> Result<String> {
    let sql = format!("SELECT tableoid::regclass::text AS line FROM {table} WHERE id = '{id}'");
    Ok(lines(conn, &sql).await?.remove(0))
}

/// Every id of `table`.
async fn ids(conn: &mut AsyncPgConnection, table: &str) -> Result<BTreeSet<Uuid>> {
    let sql = format!("SELECT id::text AS line FROM {table}");
    Ok(lines(conn, &sql)
        .await?
        .iter()
        .map(|id| id.parse().unwrap())
        .collect())
}

/// A UUIDv4 id as the old column default made, its first byte pinned to
/// 0xff so that no monthly partition can hold it: a random one reads as a
/// UUIDv7 time of any month and now and then lands in one.
fn legacy_id() -> Uuid {
    let mut bytes = *Uuid::new_v4().as_bytes();
    bytes[0] = 0xff;
    Uuid::from_bytes(bytes)
}

/// A transition with id `id`.
fn transition_with(id: Uuid) -> NewFsmTransition {
    NewFsmTransition {
        id: Some(id),
        ..new_transition(Uuid::new_v4(), 0)
    }
}

fn stamp_with(id: Uuid) -> NewMetadataStamp {
    NewMetadataStamp {
        id: Some(id),
        workflow_id: None,
        file_hash: format!("{:064x}", id.as_u128()),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    }
}

/// Creates the partitions of both tables from `first` to `last` months from now.
async fn months(conn: &mut AsyncPgConnection, first: i32, last: i32) -> Result<()> {
    for table in PartitionedTable::ALL {
        retention::ensure_partitions(conn, table, month(first), month(last), DDL_WAIT).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_run_creates_every_month_up_to_ahead_days_and_writes_land_in_them() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let now = Utc::now();
    let policy = RetentionPolicy {
        ahead_days: 100,
        ..Default::default()
    };

    let report = retention::run_at(conn, &policy, now).await.unwrap();

    let far = now + Duration::days(100);
    for table in ["fsm_transitions", "metadata_stamps"] {
        let have = partitions(conn, table).await?;
        for month in Month::of(now).through(Month::of(far)) {
            let name = format!("{table}_p{:04}{:02}", month.year(), month.month());
            assert!(have.contains(&name), "no {name} in {have:?}");
        }
    }
    assert!(report.partitioned.iter().all(|t| !t.created.is_empty()));
    let (transition, stamp) = (id_at(far), id_at(far - Duration::days(1)));
    FsmTransition::append(conn, &transition_with(transition)).await?;
    MetadataStamp::append(conn, &stamp_with(stamp)).await?;
    let month = Month::of(far);
    let suffix = format!("_p{:04}{:02}", month.year(), month.month());
    assert_eq!(
        partition_of(conn, "fsm_transitions", transition).await?,
        format!("fsm_transitions{suffix}")
    );
    assert!(partition_of(conn, "metadata_stamps", stamp)
        .await?
        .starts_with("metadata_stamps_p"));

    let again = retention::run_at(conn, &policy, now).await.unwrap();
    assert!(again.partitioned.iter().all(|t| t.created.is_empty()));
    Ok(())
}

#[tokio::test]
async fn retention_drops_exactly_the_months_wholly_older_than_each_window() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    months(conn, -6, 0).await?;
    // The first and the last millisecond of every month from 6 months ago
    // to this one, in both tables; plus a row of the default partition.
    let mut by_month = Vec::new();
    for offset in -6..=0 {
        let m = month(offset);
        let first = m.start();
        let last = m.end() - Duration::milliseconds(1);
        let mut month_ids = Vec::new();
        for at in [first, last] {
            let id = id_at(at);
            FsmTransition::append(conn, &transition_with(id)).await?;
            MetadataStamp::append(conn, &stamp_with(id)).await?;
            month_ids.push(id);
        }
        by_month.push((offset, month_ids));
    }
    // A row with a generated id (this month), and a recent legacy row with a
    // UUIDv4 id (the default partition): both stay.
    let current = FsmTransition::append(conn, &new_transition(Uuid::new_v4(), 0)).await?;
    let legacy = legacy_id();
    diesel::sql_query(format!(
        "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event) \
         VALUES ('{legacy}', gen_random_uuid(), 'workflow', 'S0', 'legacy')"
    ))
    .execute(conn)
    .await?;
    // The cut-offs fall inside the month 3 months back (transitions) and 5
    // months back (stamps): that month stays whole.
    let now = Utc::now();
    let days_to = |offset| (now - (month(offset).start() + Duration::days(10))).num_days() as u32;
    let policy = RetentionPolicy {
        transitions_days: days_to(-3),
        stamps_days: days_to(-5),
        ..Default::default()
    };

    let report = retention::run_at(conn, &policy, now).await.unwrap();

    let kept = |since: i32| -> BTreeSet<Uuid> {
        by_month
            .iter()
            .filter(|(offset, _)| *offset >= since)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    };
    let mut expected = kept(-3);
    expected.extend([current.id, legacy]);
    assert_eq!(ids(conn, "fsm_transitions").await?, expected);
    assert_eq!(ids(conn, "metadata_stamps").await?, kept(-5));
    let removed: Vec<_> = report.partitioned[0]
        .removed
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let expected: Vec<_> = (-6..=-4)
        .map(|offset| PartitionedTable::FsmTransitions.partition_name(month(offset)))
        .collect();
    assert_eq!(removed, expected);
    assert!(report.partitioned[0].removed.iter().all(|p| p.rows == 2));
    assert_eq!(report.partitioned[1].removed.len(), 1);
    Ok(())
}

#[tokio::test]
async fn default_partition_rows_go_by_age_and_are_moved_into_a_month_created_for_them() -> Result<()>
{
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    // Ids of a month 5 months ahead have no partition yet: default.
    let later = month(5).start() + Duration::days(3);
    let early = FsmTransition::append(conn, &transition_with(id_at(later))).await?;
    assert_eq!(
        partition_of(conn, "fsm_transitions", early.id).await?,
        "fsm_transitions_default"
    );
    // Two legacy (v4) rows, one recorded 200 days ago.
    for (days_ago, n) in [(200, 1), (1, 2)] {
        diesel::sql_query(format!(
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event, created_at) \
             VALUES ('{}', gen_random_uuid(), 'workflow', 'S{n}', 'legacy', now() - interval '{days_ago} days')",
            legacy_id()
        ))
        .execute(conn)
        .await?;
    }
    let policy = RetentionPolicy {
        ahead_days: 31 * 6,
        ..Default::default()
    };

    let report = retention::run_at(conn, &policy, Utc::now()).await.unwrap();

    let created = &report.partitioned[0].created;
    let target = PartitionedTable::FsmTransitions.partition_name(Month::of(later));
    assert!(created.iter().any(|p| p.name == target && p.rows == 1));
    assert_eq!(
        partition_of(conn, "fsm_transitions", early.id).await?,
        target
    );
    assert_eq!(report.partitioned[0].default_rows_deleted, 1);
    assert_eq!(report.partitioned[0].default_rows_left, 1);
    let left = lines(
        conn,
        "SELECT to_state::text AS line FROM fsm_transitions_default",
    )
    .await?;
    assert_eq!(left, ["S2"]);
    Ok(())
}

#[tokio::test]
async fn a_redelivered_id_is_a_no_op_in_every_month_single_and_batch() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    months(conn, -2, 0).await?;
    // One id in each of three months, one beyond every month (default).
    let times = [
        month(-2).start() + Duration::hours(1),
        month(-1).end() - Duration::milliseconds(1),
        Utc::now(),
        month(9).start(),
    ];
    let new: Vec<_> = times.iter().map(|at| transition_with(id_at(*at))).collect();
    let stored = FsmTransition::append_many(conn, &new).await?;
    let mut homes = BTreeSet::new();
    for row in &stored {
        homes.insert(partition_of(conn, "fsm_transitions", row.id).await?);
    }
    assert_eq!(homes.len(), 4, "four partitions: {homes:?}");

    // Redelivered with other values: single, append_many, ingest_many.
    let changed: Vec<_> = new
        .iter()
        .map(|row| NewFsmTransition {
            to_state: "CHANGED".into(),
            ..row.clone()
        })
        .collect();
    for row in &changed {
        let again = FsmTransition::append(conn, row).await?;
        assert!(stored.contains(&again));
    }
    assert_eq!(FsmTransition::append_many(conn, &changed).await?, stored);
    assert_eq!(FsmTransition::ingest_many(conn, &changed).await?, 0);
    // The row in the default partition moves into its month once that is
    // created; a redelivery after the move is still a no-op.
    retention::ensure_partitions(
        conn,
        PartitionedTable::FsmTransitions,
        month(9),
        month(9),
        DDL_WAIT,
    )
    .await?;
    assert_eq!(FsmTransition::ingest_many(conn, &changed).await?, 0);
    assert_eq!(FsmTransition::append(conn, &changed[3]).await?, stored[3]);
    let mut expected: Vec<_> = stored.iter().map(|row| row.id).collect();
    expected.sort();
    assert_eq!(
        ids(conn, "fsm_transitions")
            .await?
            .into_iter()
            .collect::<Vec<_>>(),
        expected
    );

    // Stamps: one per month, each redelivered once.
    for at in times {
        let new = stamp_with(id_at(at));
        let first = MetadataStamp::append(conn, &new).await?;
        let again = MetadataStamp::append(
            conn,
            &NewMetadataStamp {
                stamp_data: json!({"changed": true}),
                ..new
            },
        )
        .await?;
        assert_eq!(again, first);
    }
    assert_eq!(ids(conn, "metadata_stamps").await?.len(), times.len());
    Ok(())
}

#[tokio::test]
async fn ids_other_than_uuid_v7_are_refused_before_anything_is_sent() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let v4 = Uuid::new_v4();
    let batch = [new_transition(v4, 0), transition_with(v4)];
    let refused = [
        FsmTransition::append(conn, &transition_with(v4))
            .await
            .map(|_| ()),
        FsmTransition::append_many(conn, &batch).await.map(|_| ()),
        FsmTransition::ingest_many(conn, &batch).await.map(|_| ()),
        MetadataStamp::append(conn, &stamp_with(v4))
            .await
            .map(|_| ()),
    ];
    for (result, field) in refused.into_iter().zip([
        "fsm_transitions.id",
        "fsm_transitions.id",
        "fsm_transitions.id",
        "metadata_stamps.id",
    ]) {
        match result {
            Err(Error::InvalidValue {
                field: actual,
                problem,
            }) => {
                assert_eq!(actual, field);
                assert!(problem.contains("UUIDv7"), "{problem}");
            }
            other => panic!("expected InvalidValue naming {field}, got {other:?}"),
        }
    }
    assert!(ids(conn, "fsm_transitions").await?.is_empty());
    assert!(ids(conn, "metadata_stamps").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_dry_run_reports_the_work_and_changes_nothing() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    months(conn, -5, -5).await?;
    FsmTransition::append(conn, &transition_with(id_at(month(-5).start()))).await?;
    let before = partitions(conn, "fsm_transitions").await?;
    let policy = RetentionPolicy {
        transitions_days: 31,
        ahead_days: 100,
        dry_run: true,
        ..Default::default()
    };

    let dry = retention::run(conn, &policy).await.unwrap();

    assert_eq!(partitions(conn, "fsm_transitions").await?, before);
    assert_eq!(ids(conn, "fsm_transitions").await?.len(), 1);
    let real = retention::run(
        conn,
        &RetentionPolicy {
            dry_run: false,
            ..policy
        },
    )
    .await
    .unwrap();
    let names = |report: &retention::RetentionReport| {
        report.partitioned[0]
            .created
            .iter()
            .chain(&report.partitioned[0].removed)
            .map(|p| (p.name.clone(), p.rows))
            .collect::<Vec<_>>()
    };
    assert!(!names(&dry).is_empty());
    assert_eq!(names(&dry), names(&real));
    assert!(ids(conn, "fsm_transitions").await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_both_succeed_and_remove_each_month_once() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    {
        let conn = &mut db.conn().await?;
        months(conn, -8, -1).await?;
    }
    let policy = RetentionPolicy {
        transitions_days: 1,
        stamps_days: 1,
        ..Default::default()
    };
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (url, policy) = (test_db.url().to_owned(), policy.clone());
            tokio::spawn(async move {
                let mut conn = bridge_connect::establish(&url, DDL_WAIT).await.unwrap();
                retention::run(&mut conn, &policy).await
            })
        })
        .collect();
    let mut removed = Vec::new();
    for run in runs {
        let report = run.await.expect("no panic").expect("both runs succeed");
        for table in report.partitioned {
            removed.extend(table.removed.into_iter().map(|p| p.name));
        }
    }
    removed.sort();
    let mut expected: Vec<_> = PartitionedTable::ALL
        .iter()
        .flat_map(|table| (-8..=-1).map(|offset| table.partition_name(month(offset))))
        .collect();
    expected.sort();
    assert_eq!(removed, expected, "each month removed by exactly one run");
    Ok(())
}

#[tokio::test]
async fn a_held_lock_makes_a_run_time_out_naming_the_holder() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let holder = &mut db.conn().await?;
    diesel::sql_query(format!(
        "SELECT pg_advisory_lock({})",
        retention::RETENTION_LOCK_KEY
    ))
    .execute(holder)
    .await?;
    let conn = &mut db.conn().await?;
    let policy = RetentionPolicy {
        lock_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };

    let err = retention::run(conn, &policy).await.unwrap_err();

    match err {
        RetentionError::LockTimeout {
            holder: Some(holder),
            ..
        } => assert!(holder.starts_with("pid "), "{holder}"),
        other => panic!("expected a lock timeout, got {other:?}"),
    }
    // Nothing was done: the months ahead were not created.
    let ahead = PartitionedTable::FsmTransitions.partition_name(month(2));
    assert!(!partitions(conn, "fsm_transitions").await?.contains(&ahead));
    diesel::sql_query(format!(
        "SELECT pg_advisory_unlock({})",
        retention::RETENTION_LOCK_KEY
    ))
    .execute(holder)
    .await?;
    Ok(())
}
