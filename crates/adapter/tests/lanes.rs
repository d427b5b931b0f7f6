//! Lanes: a batch's partitions applied at once on separate connections.
//! One lane blocked does not block the others; one workflow's and one
//! bridge's events spread over partitions (and repeated across them) come
//! out exact; a deadlock between a lane and another transaction is tried
//! again, never dead-lettered.

mod support;

use std::time::Duration;

use bridge_models::PooledConnection;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use support::{Adapter, Rig};
use uuid::Uuid;

/// How long a lane may take to land while another is blocked.
const LANE_PATIENCE: Duration = Duration::from_secs(20);

/// The first bridge of a test: sorts before [`BRIDGE_B`], so a lane locks it first.
const BRIDGE_A: &str = "00000000-0000-7000-8000-00000000000a";
/// The second bridge of a test.
const BRIDGE_B: &str = "00000000-0000-7000-8000-00000000000b";

/// Creates bridge `id` at zero.
async fn bridge(conn: &mut PooledConnection<'_>, id: &str) {
    conn.batch_execute(&format!(
        "INSERT INTO bridge_states (bridge_id, namespace, current_fsm_state) VALUES ('{id}', 'it', 'idle')"
    ))
    .await
    .unwrap();
}

/// Bridge `id`'s workflow total.
async fn total(rig: &Rig, id: &str) -> Vec<String> {
    support::lines(
        &rig.db,
        &format!(
            "SELECT total_workflows_processed::text AS line FROM bridge_states WHERE bridge_id = '{id}'"
        ),
    )
    .await
}

/// The value of `adapter_db_errors_total{kind="conflict"}`.
fn conflicts(adapter: &Adapter) -> f64 {
    let (_, body) = adapter.get("/metrics").unwrap_or_default();
    body.lines()
        .filter_map(|line| line.strip_prefix("adapter_db_errors_total{kind=\"conflict\"} "))
        .filter_map(|value| value.parse::<f64>().ok())
        .sum()
}

/// How many sessions of the rig's database wait for a lock.
async fn lock_waiters(rig: &Rig) -> usize {
    support::lines(
        &rig.db,
        "SELECT pid::text AS line FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .await
    .len()
}

/// Whether exactly one session of the rig's database waits for a lock.
async fn someone_waits_for_a_lock(rig: &Rig) -> bool {
    lock_waiters(rig).await == 1
}

/// How many sessions of the rig's database are inside a transaction, this one aside.
async fn in_transaction(rig: &Rig) -> usize {
    support::lines(
        &rig.db,
        "SELECT pid::text AS line FROM pg_stat_activity
         WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
    )
    .await
    .len()
}

/// Opens a transaction on `conn` and runs `sql` in it; it stays open.
async fn begin(conn: &mut PooledConnection<'_>, sql: &str) {
    conn.batch_execute(&format!("BEGIN; {sql}")).await.unwrap();
}

/// Waits until `check` holds, failing the test with `what` and the adapter's log if it never does.
async fn expect<F, Fut>(adapter: &Adapter, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let held = support::wait_until(support::PATIENCE, check).await;
    assert!(held, "{what}\n{}", adapter.log_text());
}

/// Adapter flags with no sweep and no hold expiry: what waits for another
/// lane's arrival is applied when the batch lands, or never.
const NO_SWEEP: [&str; 6] = [
    "--apply-concurrency",
    "2",
    "--hold-ms",
    "600000",
    "--deferred-retry-ms",
    "600000",
];

#[tokio::test(flavor = "multi_thread")]
async fn an_early_event_held_while_another_lane_brings_its_workflow_is_applied_when_the_batch_lands(
) {
    let rig = Rig::new(2).await;
    let id = Uuid::now_v7();
    let started = support::started(id);
    // Batches of one are full: the step waits in memory.
    let adapter = rig.adapter("held", &[&NO_SWEEP[..], &["--batch-size", "1"]].concat());
    rig.produce_to(&support::step(id, 0), 1).await;
    expect(&adapter, "the step is held", || async {
        support::metric_sum(&adapter, "adapter_events_held") == 1.0
    })
    .await;
    // An uncommitted row with the workflow's id keeps the workflow's lane
    // waiting while the step's lane (it comes due with its workflow) looks for it.
    let mut blocker = rig.db.conn().await.unwrap();
    let workflow = started["event_id"].as_str().unwrap().to_owned();
    begin(
        &mut blocker,
        &format!(
            "INSERT INTO workflow_executions (id, correlation_id, workflow_type, current_state, namespace, started_at)
             VALUES ('{workflow}', gen_random_uuid(), 't', 'PENDING', 'ns', now())"
        ),
    )
    .await;
    rig.produce_to(&started, 0).await;
    expect(
        &adapter,
        "the workflow's lane waits, the step's is done",
        || async { someone_waits_for_a_lock(&rig).await && in_transaction(&rig).await == 2 },
    )
    .await;
    blocker.batch_execute("ROLLBACK").await.unwrap();

    expect(&adapter, "the step is applied", || async {
        rig.count("workflow_steps").await == 1
            && support::metric_sum(&adapter, "adapter_events_held") == 0.0
    })
    .await;
    assert_eq!(rig.count("workflow_executions").await, 1);
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_parked_while_another_lane_brings_its_workflow_is_applied_when_the_batch_lands() {
    let rig = Rig::new(2).await;
    let id = Uuid::now_v7();
    let (mut hold_a, mut hold_b) = (rig.db.conn().await.unwrap(), rig.db.conn().await.unwrap());
    bridge(&mut hold_a, BRIDGE_A).await;
    bridge(&mut hold_a, BRIDGE_B).await;
    let (a, b) = (
        BRIDGE_A.parse::<Uuid>().unwrap(),
        BRIDGE_B.parse::<Uuid>().unwrap(),
    );
    // One partial batch: the workflow and bridge A's delta on partition 0,
    // a step of the workflow and bridge B's delta on partition 1.
    rig.produce_to(&support::started(id), 0).await;
    rig.produce_to(&support::aggregation(a, 1), 0).await;
    rig.produce_to(&support::step(id, 0), 1).await;
    rig.produce_to(&support::aggregation(b, 2), 1).await;
    let lock = |bridge: &str| {
        format!(
            "UPDATE bridge_states SET total_workflows_processed = 100 WHERE bridge_id = '{bridge}'"
        )
    };
    begin(&mut hold_a, &lock(BRIDGE_A)).await;
    begin(&mut hold_b, &lock(BRIDGE_B)).await;
    let adapter = rig.adapter("parked", &NO_SWEEP);
    // Both lanes wait for their bridge, the step's lane having found no workflow.
    expect(&adapter, "both lanes wait", || async {
        lock_waiters(&rig).await == 2
    })
    .await;
    // The workflow's lane commits first: the step's parking is not visible to it.
    hold_a.batch_execute("ROLLBACK").await.unwrap();
    expect(&adapter, "the workflow's lane is done", || async {
        lock_waiters(&rig).await == 1 && rig.count("workflow_executions").await == 1
    })
    .await;
    hold_b.batch_execute("ROLLBACK").await.unwrap();

    expect(&adapter, "the parked step is applied", || async {
        rig.count("workflow_steps").await == 1 && rig.count("adapter_deferred_events").await == 0
    })
    .await;
    assert_eq!(total(&rig, BRIDGE_A).await, ["1"]);
    assert_eq!(total(&rig, BRIDGE_B).await, ["2"]);
    // Counted once the follow-up's commit returns, a moment after its rows are visible.
    expect(
        &adapter,
        "the step counted as a parked event applied",
        || async { support::metric_sum(&adapter, "adapter_deferred_events_applied_total") == 1.0 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lane_blocked_on_a_row_lock_leaves_the_other_lanes_landing() {
    let rig = Rig::new(2).await;
    let mut blocker = rig.db.conn().await.unwrap();
    bridge(&mut blocker, BRIDGE_A).await;
    let id = BRIDGE_A.parse::<Uuid>().unwrap();
    // One batch: a delta of the blocked bridge on partition 0, three
    // workflows' whole lives on partition 1.
    rig.produce_to(&support::aggregation(id, 1), 0).await;
    for life in (0..3).map(|_| support::workflow_life(2)) {
        for event in &life {
            rig.produce_to(event, 1).await;
        }
    }
    blocker
        .batch_execute(&format!(
            "BEGIN; UPDATE bridge_states SET total_workflows_processed = 100 WHERE bridge_id = '{BRIDGE_A}'"
        ))
        .await
        .unwrap();
    let adapter = rig.adapter("lanes", &["--apply-concurrency", "2"]);

    let landed = support::wait_until(LANE_PATIENCE, || async {
        support::lines(
            &rig.db,
            "SELECT count(*)::text AS line FROM workflow_executions WHERE current_state = 'COMPLETED'",
        )
        .await
            == ["3"]
    })
    .await;
    assert!(
        landed,
        "partition 1's lane did not land while partition 0's waited\n{}",
        adapter.log_text()
    );
    assert_eq!(
        total(&rig, BRIDGE_A).await,
        ["0"],
        "the blocked lane wrote nothing yet"
    );
    blocker.batch_execute("COMMIT").await.unwrap();

    let applied = support::wait_until(support::PATIENCE, || async {
        total(&rig, BRIDGE_A).await == ["101"]
    })
    .await;
    assert!(applied, "{}", adapter.log_text());
    assert_eq!(rig.count("workflow_steps").await, 6);
    assert_eq!(rig.count("metadata_stamps").await, 3);
    assert_eq!(rig.count("bridge_state_deltas").await, 1);
    assert_eq!(
        support::metric_sum(&adapter, "adapter_events_dead_lettered_total"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_workflow_and_one_bridge_spread_over_partitions_and_repeated_come_out_exact() {
    const PARTITIONS: usize = 4;
    const WORKFLOWS: usize = 40;
    const DELTAS: i64 = 80;
    let rig = Rig::new(PARTITIONS as u32).await;
    let ids: Vec<Uuid> = (0..WORKFLOWS).map(|_| Uuid::now_v7()).collect();
    let on = |n: usize, k: usize| ((n + k) % PARTITIONS) as i32;
    // First what waits: each workflow's steps, stamp and completion on the
    // three partitions its start will not be on, one step repeated.
    let mut early = Vec::new();
    for (n, &id) in ids.iter().enumerate() {
        let first = support::step(id, 0);
        early.push((first.clone(), on(n, 1)));
        early.push((support::step(id, 1), on(n, 2)));
        early.push((support::stamp(id), on(n, 3)));
        early.push((support::completed(id), on(n, 1)));
        early.push((first, on(n, 3)));
    }
    for (event, partition) in &early {
        rig.produce_to(event, *partition).await;
    }
    let adapter = rig.adapter(
        "spread",
        &[
            "--apply-concurrency",
            "4",
            "--batch-size",
            "20",
            // No sweep and no expiry: what waits for another lane's arrival
            // is applied by the batch's landing, or never.
            "--hold-ms",
            "600000",
            "--deferred-retry-ms",
            "600000",
        ],
    );
    let waiting = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_events_held")
            + rig.count("adapter_deferred_events").await as f64
            == early.len() as f64
    })
    .await;
    assert!(waiting, "{}", adapter.log_text());
    assert!(
        support::metric_sum(&adapter, "adapter_events_held") > 0.0,
        "some wait in memory"
    );
    // Then the workflows, each on its own partition and again on another,
    // and two bridges' deltas over every partition, a third of them twice.
    let bridges = [Uuid::now_v7(), Uuid::now_v7()];
    let mut sum = 0;
    let mut late = Vec::new();
    for (n, &id) in ids.iter().enumerate() {
        let started = support::started(id);
        late.push((started.clone(), on(n, 0)));
        late.push((started, on(n, 2)));
    }
    for n in 0..DELTAS {
        let delta = support::aggregation(bridges[n as usize % 2], n + 1);
        sum += n + 1;
        late.push((delta.clone(), on(n as usize, 0)));
        if n % 3 == 0 {
            late.push((delta, on(n as usize, 1)));
        }
    }
    for (event, partition) in &late {
        rig.produce_to(event, *partition).await;
    }

    let done = support::wait_until(support::PATIENCE, || async {
        rig.count("metadata_stamps").await == WORKFLOWS as i64
            && rig.count("workflow_steps").await == 2 * WORKFLOWS as i64
            && support::lines(
                &rig.db,
                "SELECT count(*)::text AS line FROM workflow_executions WHERE current_state = 'COMPLETED'",
            )
            .await
                == [WORKFLOWS.to_string()]
            && rig.count("adapter_deferred_events").await == 0
            && support::metric_sum(&adapter, "adapter_events_held") == 0.0
            && support::lines(
                &rig.db,
                "SELECT coalesce(sum(total_workflows_processed), 0)::text AS line FROM bridge_states",
            )
            .await
                == [sum.to_string()]
    })
    .await;
    assert!(
        done,
        "held {}, parked {}, steps {}\n{}",
        support::metric_sum(&adapter, "adapter_events_held"),
        rig.count("adapter_deferred_events").await,
        rig.count("workflow_steps").await,
        adapter.log_text()
    );
    assert_eq!(rig.count("workflow_executions").await, WORKFLOWS as i64);
    assert_eq!(rig.count("fsm_transitions").await, WORKFLOWS as i64);
    assert_eq!(rig.count("bridge_state_deltas").await, DELTAS);
    assert_eq!(
        support::lines(
            &rig.db,
            "SELECT sum(total_items_aggregated)::text AS line FROM bridge_states"
        )
        .await,
        [(sum * 10).to_string()]
    );
    assert_eq!(
        support::metric_sum(&adapter, "adapter_events_dead_lettered_total"),
        0.0
    );
    support::assert_emitted_as_catalogued(&adapter);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deadlock_with_another_transaction_is_tried_again_never_dead_lettered() {
    let rig = Rig::new(1).await;
    let mut other = rig.db.conn().await.unwrap();
    bridge(&mut other, BRIDGE_A).await;
    bridge(&mut other, BRIDGE_B).await;
    let (a, b) = (
        BRIDGE_A.parse::<Uuid>().unwrap(),
        BRIDGE_B.parse::<Uuid>().unwrap(),
    );
    // One batch, one lane: the lane locks A, then waits for B.
    rig.produce_to(&support::aggregation(a, 1), 0).await;
    rig.produce_to(&support::aggregation(b, 2), 0).await;
    // PostgreSQL looks for a deadlock once, deadlock_timeout after a
    // session starts to wait. The lane's sessions look after 5 s, time for
    // the test to close the circle however loaded the machine; the other
    // transaction, holding B, looks after 60 s: the lane finds the circle
    // and is the one aborted.
    other
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET deadlock_timeout = '5s'",
            rig.database.name()
        ))
        .await
        .unwrap();
    other
        .batch_execute(&format!(
            "BEGIN; SET LOCAL deadlock_timeout = '60s';
             UPDATE bridge_states SET total_workflows_processed = total_workflows_processed + 1000 WHERE bridge_id = '{BRIDGE_B}'"
        ))
        .await
        .unwrap();
    let adapter = rig.adapter("deadlock", &[]);
    let waiting = support::wait_until(support::PATIENCE, || someone_waits_for_a_lock(&rig)).await;
    assert!(
        waiting,
        "the lane never waited for B\n{}",
        adapter.log_text()
    );
    // Closes the circle: this waits for A until the lane is aborted.
    diesel::sql_query(format!(
        "UPDATE bridge_states SET total_workflows_processed = total_workflows_processed + 1000 WHERE bridge_id = '{BRIDGE_A}'"
    ))
    .execute(&mut *other)
    .await
    .expect("the lane, not this transaction, is the deadlock's victim");
    other.batch_execute("COMMIT").await.unwrap();

    let applied = support::wait_until(support::PATIENCE, || async {
        total(&rig, BRIDGE_A).await == ["1001"] && total(&rig, BRIDGE_B).await == ["1002"]
    })
    .await;
    assert!(
        applied,
        "A {:?}, B {:?}\n{}",
        total(&rig, BRIDGE_A).await,
        total(&rig, BRIDGE_B).await,
        adapter.log_text()
    );
    assert!(
        conflicts(&adapter) >= 1.0,
        "the deadlock was not tried again as a conflict\n{}",
        adapter.log_text()
    );
    assert!(
        adapter.log_text().contains("deadlock"),
        "{}",
        adapter.log_text()
    );
    assert_eq!(rig.count("bridge_state_deltas").await, 2);
    assert_eq!(
        support::metric_sum(&adapter, "adapter_events_dead_lettered_total"),
        0.0
    );
}
