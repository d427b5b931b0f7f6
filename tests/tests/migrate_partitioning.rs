//! The migration that partitions the audit tables keeps every row, up and
//! down, with partitions that retention created in place; the data guard
//! lets its down run without `--force`, since nothing is lost.

use bridge_migrate::{LogReporter, Migrator, Mode, Options, Target};
use bridge_models::retention::{self, Month, PartitionedTable};
use bridge_schema::MIGRATIONS;
use bridge_testkit::TestDatabase;
use bridge_tests::{exec, lines};
use chrono::{Duration, Utc};
use diesel::{migration::MigrationSource, pg::Pg};
use diesel_migrations::MigrationHarness;

/// Migrations before the partitioning one: the initial setup and the six tables.
const BEFORE_PARTITIONING: usize = 7;

/// A fingerprint of every row of both audit tables, and where each row lives.
fn rows(db: &TestDatabase) -> (Vec<String>, Vec<String>) {
    let conn = &mut db.sync_conn();
    let digest = lines(
        conn,
        "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) AS line FROM fsm_transitions t
         UNION ALL
         SELECT count(*) || ' ' || md5(string_agg(s::text, '|' ORDER BY id)) FROM metadata_stamps s",
    );
    let homes = lines(
        conn,
        "SELECT tableoid::regclass || ' ' || count(*) AS line FROM fsm_transitions GROUP BY tableoid
         UNION ALL
         SELECT tableoid::regclass || ' ' || count(*) FROM metadata_stamps GROUP BY tableoid
         ORDER BY 1",
    );
    (digest, homes)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn partitioning_keeps_every_row_up_and_down_with_retention_partitions_in_place() {
    let db = TestDatabase::empty();
    {
        let conn = &mut db.sync_conn();
        let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap();
        // Creates Diesel's bookkeeping table, which running one migration expects.
        assert!(conn.applied_migrations().unwrap().is_empty());
        for migration in &migrations[..BEFORE_PARTITIONING] {
            conn.run_migration(migration).unwrap();
        }
        // Rows as the plain tables hold them: UUIDv4 ids (the old column
        // default) and UUIDv7 ids of this month and of two months ago.
        let two_months_ago = (Utc::now() - Duration::days(62)).timestamp_millis();
        let statements = [
            "INSERT INTO workflow_executions (id, correlation_id, workflow_type, current_state, namespace, started_at)
             VALUES ('00000000-0000-0000-0000-0000000000a1', gen_random_uuid(), 't', 'PENDING', 'ns', now())"
                .to_owned(),
            // UUIDv4 ids from the old default, their first byte pinned to
            // 0xff: a random v4 id reads as a UUIDv7 time of any month, so
            // about one run in a hundred would route one to a monthly
            // partition instead of the default one.
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event, transition_data)
             SELECT ('ff' || substr(gen_random_uuid()::text, 3))::uuid,
                    gen_random_uuid(), 'workflow', 'S' || g, 'e', jsonb_build_object('n', g)
             FROM generate_series(1, 300) g"
                .to_owned(),
            format!(
                "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event, created_at)
                 SELECT (lpad(to_hex({two_months_ago}::bigint + g), 12, '0') || '70008000'
                         || lpad(to_hex(g), 12, '0'))::uuid,
                        gen_random_uuid(), 'workflow', 'S', 'e', now() - interval '62 days'
                 FROM generate_series(1, 50) g"
            ),
            "INSERT INTO fsm_transitions (id, entity_id, entity_type, to_state, transition_event)
             SELECT (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || '70008000'
                     || lpad(to_hex(g), 12, '0'))::uuid, gen_random_uuid(), 'workflow', 'S', 'e'
             FROM generate_series(1, 50) g"
                .to_owned(),
            "INSERT INTO metadata_stamps (id, workflow_id, file_hash, namespace, stamp_data)
             SELECT ('ff' || substr(gen_random_uuid()::text, 3))::uuid, CASE WHEN g % 2 = 0 THEN '00000000-0000-0000-0000-0000000000a1'::uuid END,
                    md5(g::text), 'ns', jsonb_build_object('g', g)
             FROM generate_series(1, 100) g"
                .to_owned(),
        ];
        for sql in &statements {
            exec(conn, sql);
        }
    }
    let (plain, _) = rows(&db);
    assert!(
        plain[0].starts_with("400 ") && plain[1].starts_with("100 "),
        "{plain:?}"
    );

    db.sync_conn().run_pending_migrations(MIGRATIONS).unwrap();

    let (partitioned, homes) = rows(&db);
    assert_eq!(partitioned, plain, "the same rows after partitioning");
    let older = Month::of(Utc::now() - Duration::days(62));
    let now = Month::of(Utc::now());
    for home in [
        format!(
            "fsm_transitions_p{:04}{:02} 50",
            older.year(),
            older.month()
        ),
        format!("fsm_transitions_p{:04}{:02} 50", now.year(), now.month()),
        "fsm_transitions_default 300".to_owned(),
        "metadata_stamps_default 100".to_owned(),
    ] {
        assert!(homes.contains(&home), "no {home:?} in {homes:?}");
    }

    // Retention adds a month far ahead; then down, through the engine and
    // its data guard, without --force.
    let url = db.url().to_owned();
    block_on(async {
        let mut conn = bridge_connect::establish(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let ahead = Month::of(Utc::now() + Duration::days(200));
        for table in PartitionedTable::ALL {
            retention::ensure_partitions(
                &mut conn,
                table,
                ahead,
                ahead,
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap();
        }
        let reverted = Migrator::new(Options::new(url.clone()))
            .down(
                Target::To("20251007000006".into()),
                Mode::default(),
                LogReporter,
            )
            .await
            .expect("the data guard lets a down that keeps every row through");
        let reverted: Vec<&str> = reverted.iter().map(|step| step.dir_name.as_str()).collect();
        assert!(
            reverted.contains(&"2026-11-25-000001_partition_audit_tables"),
            "{reverted:?}"
        );
    });

    let (restored, homes) = rows(&db);
    assert_eq!(restored, plain, "the same rows after reverting");
    assert_eq!(homes, ["fsm_transitions 400", "metadata_stamps 100"]);
    let kinds = lines(
        &mut db.sync_conn(),
        "SELECT relname || ' ' || relkind::text AS line FROM pg_class
         WHERE relname IN ('fsm_transitions', 'metadata_stamps') ORDER BY 1",
    );
    assert_eq!(kinds, ["fsm_transitions r", "metadata_stamps r"]);
    let leftovers = lines(
        &mut db.sync_conn(),
        "SELECT relname AS line FROM pg_class WHERE relname ~ '_(p[0-9]{6}|default|partitioned|plain)$'",
    );
    assert!(leftovers.is_empty(), "{leftovers:?}");

    db.sync_conn().run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(rows(&db).0, plain, "the same rows after partitioning again");
}
