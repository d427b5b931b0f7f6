//! `kill -9` of an adapter mid-stream (three times in a row, or beside another in its group) loses and duplicates nothing, counting aggregations included.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::Rig;

/// The bridge every aggregation of these tests goes to.
const BRIDGE: uuid::Uuid = uuid::Uuid::from_u128(0x0193_a1f0_0000_7000_8000_0000_0000_00b1);

/// `workflows` full lives (started, 3 steps, a transition, a stamp,
/// completed), each followed by an aggregation adding it to [`BRIDGE`].
fn lives(workflows: usize) -> Vec<Value> {
    (0..workflows)
        .flat_map(|_| {
            let mut life = support::workflow_life(3);
            life.push(support::aggregation(BRIDGE, 1));
            life
        })
        .collect()
}

/// Every row of `workflows` lives is there exactly once, and nothing waits.
async fn assert_exactly(rig: &Rig, db: &bridge_models::Db, workflows: i64) {
    let count = |table| support::count_in(db, table);
    assert_eq!(count("workflow_executions").await, workflows);
    assert_eq!(count("workflow_steps").await, 3 * workflows);
    // The state-transition event and the completion's transition.
    assert_eq!(count("fsm_transitions").await, 2 * workflows);
    assert_eq!(count("metadata_stamps").await, workflows);
    assert_eq!(count("adapter_deferred_events").await, 0);
    assert_eq!(count("bridge_state_deltas").await, workflows);
    // Counters add every delta: one applied twice would show here.
    let totals = support::lines(db, "SELECT total_workflows_processed || ' ' || total_items_aggregated AS line FROM bridge_states").await;
    assert_eq!(totals, [format!("{workflows} {}", 10 * workflows)]);
    let states = support::lines(db, "SELECT current_state || ' ' || count(*) AS line FROM workflow_executions GROUP BY current_state").await;
    assert_eq!(
        states,
        [format!("COMPLETED {workflows}")],
        "{}",
        rig.all_logs()
    );
}

/// Waits for every row of `workflows` lives.
async fn wait_for_all(rig: &Rig, db: &bridge_models::Db, workflows: i64) {
    let done = support::wait_until(support::PATIENCE * 2, || async {
        support::count_in(db, "workflow_steps").await == 3 * workflows
            && support::count_in(db, "fsm_transitions").await == 2 * workflows
            && support::count_in(db, "metadata_stamps").await == workflows
            && support::count_in(db, "adapter_deferred_events").await == 0
            && support::count_in(db, "bridge_state_deltas").await == workflows
    })
    .await;
    assert!(done, "not every row arrived\n{}", rig.all_logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_stream_then_a_restart_loses_and_duplicates_nothing() {
    let rig = Rig::new(2).await;
    let workflows = 300;
    rig.produce_all(&lives(workflows)).await;
    // Small batches, and offsets committed after every one: a commit that
    // ran ahead of the writes would be exposed at almost any moment.
    let args = ["--batch-size", "20", "--commit-interval-ms", "0"];
    let mut adapter = rig.adapter("first", &args);
    for (round, steps) in [150, 350, 550].into_iter().enumerate() {
        let reached = support::wait_until(support::PATIENCE, || async {
            rig.count("workflow_steps").await >= steps
        })
        .await;
        assert!(reached, "{}", rig.all_logs());
        adapter.kill9();
        let at_kill = rig.count("workflow_steps").await;
        assert!(
            at_kill < 3 * workflows as i64,
            "killed after the end: {at_kill}"
        );
        adapter = rig.adapter(&format!("restarted-{round}"), &args);
    }
    wait_for_all(&rig, &rig.db, workflows as i64).await;
    // Let any redelivery settle, then count again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exactly(&rig, &rig.db, workflows as i64).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_adapters_share_the_partitions_and_losing_one_loses_nothing() {
    let rig = Rig::new(4).await;
    let assigned = |adapter: &support::Adapter| {
        adapter
            .get("/health")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|health| health["partitions"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let b = rig.adapter("survivor", &["--batch-size", "20"]);
    let mut a = rig.adapter("victim", &["--batch-size", "20"]);
    // Every partition has one owner, and each adapter has some.
    let shared = support::wait_until(support::PATIENCE, || async {
        let (in_a, in_b) = (assigned(&a), assigned(&b));
        in_a > 0 && in_b > 0 && in_a + in_b == 9 * 4
    })
    .await;
    assert!(
        shared,
        "both adapters get partitions: victim {} survivor {}\n{}",
        assigned(&a),
        assigned(&b),
        rig.all_logs()
    );
    let workflows = 300;
    let events = lives(workflows);
    let (early, late) = events.split_at(events.len() / 2);
    rig.produce_all(early).await;
    let moving = support::wait_until(support::PATIENCE, || async {
        rig.count("workflow_steps").await >= 100
    })
    .await;
    assert!(moving, "{}", rig.all_logs());
    a.kill9();
    rig.produce_all(late).await;
    // tansu 0.6.0 evicts the dead member after the session timeout but
    // keeps the group's generation, and its SyncGroup then hands the
    // survivor its old assignment back: the dead member's partitions stay
    // unowned until a member joins (with Kafka the survivor takes them at
    // once). So a replacement joins, as an orchestrator would restart one.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let c = rig.adapter("replacement", &["--batch-size", "20"]);
    let owned = support::wait_until(support::PATIENCE, || async {
        assigned(&b) + assigned(&c) == 9 * 4 && assigned(&b) > 0 && assigned(&c) > 0
    })
    .await;
    assert!(
        owned,
        "every partition has an owner again\n{}",
        rig.all_logs()
    );
    wait_for_all(&rig, &rig.db, workflows as i64).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exactly(&rig, &rig.db, workflows as i64).await;
    drop((b, c));
}
