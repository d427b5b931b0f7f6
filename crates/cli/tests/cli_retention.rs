//! `bridge-admin retention`: two runs at once (as from cron on two hosts) both
//! succeed and remove each old month once; a held retention lock makes a run
//! exit 5 naming the holder; the JSON report; a dry run changes nothing.

mod support;

use std::process::Stdio;

use bridge_models::retention::{self, Month, PartitionedTable, RETENTION_LOCK_KEY};
use bridge_testkit::TestDatabase;
use chrono::{Duration, Utc};
use diesel::RunQueryDsl;
use support::{bridge_admin, code, count, run, Outcome};

/// Creates the partitions of both tables for the months 12 to 3 months ago.
fn old_months(db: &TestDatabase) -> usize {
    let (first, last) = (
        Month::of(Utc::now() - Duration::days(366)),
        Month::of(Utc::now() - Duration::days(93)),
    );
    let url = db.url().to_owned();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut conn = bridge_connect::establish(&url, std::time::Duration::from_secs(5))
                .await
                .unwrap();
            let mut created = 0;
            for table in PartitionedTable::ALL {
                created += retention::ensure_partitions(
                    &mut conn,
                    table,
                    first,
                    last,
                    std::time::Duration::from_secs(5),
                )
                .await
                .unwrap()
                .len();
            }
            created
        })
}

fn partitions(db: &TestDatabase) -> i64 {
    count(
        db,
        "SELECT count(*) AS n FROM pg_inherits \
         WHERE inhparent IN ('fsm_transitions'::regclass, 'metadata_stamps'::regclass)",
    )
}

const SHORT_WINDOWS: [&str; 5] = [
    "retention",
    "--transitions-days",
    "30",
    "--stamps-days",
    "30",
];

#[test]
fn two_runs_at_once_both_succeed_and_drop_each_old_month_once() {
    let db = TestDatabase::migrated();
    let old = old_months(&db);
    let before = partitions(&db);
    let children: Vec<_> = (0..2)
        .map(|_| {
            bridge_admin()
                .args(["--database-url", db.url()])
                .args(SHORT_WINDOWS)
                .args(["--format", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut dropped, mut created) = (Vec::new(), Vec::new());
    for child in children {
        let out = Outcome::from(child.wait_with_output().unwrap()).expect(code::OK);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        for table in report["partitioned"].as_array().unwrap() {
            for (list, names) in [("removed", &mut dropped), ("created", &mut created)] {
                for partition in table[list].as_array().unwrap() {
                    names.push(partition["name"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let unique: std::collections::BTreeSet<_> = dropped.iter().collect();
    assert_eq!(
        unique.len(),
        dropped.len(),
        "a month dropped twice: {dropped:?}"
    );
    assert_eq!(dropped.len(), old, "{dropped:?}");
    let unique: std::collections::BTreeSet<_> = created.iter().collect();
    assert_eq!(
        unique.len(),
        created.len(),
        "a month created twice: {created:?}"
    );
    assert_eq!(partitions(&db), before - old as i64 + created.len() as i64);
}

#[test]
fn a_held_retention_lock_makes_a_run_exit_5_naming_the_holder() {
    let db = TestDatabase::migrated();
    let mut holder = db.sync_conn();
    diesel::sql_query(format!("SELECT pg_advisory_lock({RETENTION_LOCK_KEY})"))
        .execute(&mut holder)
        .unwrap();
    let before = partitions(&db);

    let out = run(db.url(), &["--lock-timeout", "0", "retention"]).expect(code::LOCK_TIMEOUT);

    assert!(
        out.stderr.contains("retention lock not acquired"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("held by pid "), "{}", out.stderr);
    assert_eq!(partitions(&db), before, "nothing was changed");
    // The migration lock is another key: migrations still run.
    run(db.url(), &["--lock-timeout", "0", "up"]).expect(code::OK);
}

#[test]
fn a_dry_run_prints_what_it_would_do_and_changes_nothing() {
    let db = TestDatabase::migrated();
    let old = old_months(&db);
    let before = partitions(&db);
    let mut args = SHORT_WINDOWS.to_vec();
    args.push("--dry-run");

    let out = run(db.url(), &args).expect(code::OK);

    assert_eq!(partitions(&db), before);
    assert!(
        out.stdout.contains("(dry run: nothing changed)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("would drop").count(),
        old,
        "{}",
        out.stdout
    );
    let real = run(db.url(), &SHORT_WINDOWS).expect(code::OK);
    assert_eq!(
        real.stdout.matches("  drop ").count(),
        old,
        "{}",
        real.stdout
    );
    let ahead = out.stdout.matches("would create").count();
    assert_eq!(real.stdout.matches("  create ").count(), ahead);
    assert_eq!(partitions(&db), before - old as i64 + ahead as i64);
}
