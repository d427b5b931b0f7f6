//! Offsets of revoked partitions are committed before they go: a rebalance re-delivers nothing already applied, and each member reports only what it owns.

mod support;

use bridge_events::EventType;
use serde_json::Value;
use support::{Rig, PATIENCE, PREFIX};

const GROUP: &str = "database_adapter_consumers";

/// The summed committed offsets of every event topic (2 partitions each).
fn committed(rig: &Rig) -> i64 {
    EventType::ALL
        .iter()
        .flat_map(|kind| rig.committed(GROUP, &kind.topic(PREFIX), 2))
        .map(|offset| offset.max(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_commits_what_was_applied_so_the_next_owner_reads_none_of_it_again() {
    let rig = Rig::new(2).await;
    let events: Vec<Value> = (0..50).flat_map(|_| support::workflow_life(2)).collect();
    rig.produce_all(&events).await;
    // No interval commit comes within the test.
    let never = ["--commit-interval-ms", "600000"];
    let first = rig.adapter("first", &never);
    rig.wait_for_count("workflow_steps", 100).await;
    rig.wait_for_count("metadata_stamps", 50).await;
    let done = support::wait_until(PATIENCE, || async {
        support::metric_sum(&first, "adapter_events_persisted_total") == events.len() as f64
    })
    .await;
    assert!(done, "{}", first.log_text());
    assert_eq!(committed(&rig), 0, "nothing committed before the interval");

    // A second member joins: the partitions that move to it are revoked from
    // the first, and what the first applied of them is committed as they go.
    let second = rig.adapter("second", &never);
    let settled = support::wait_until(PATIENCE, || async {
        second
            .get("/health")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|health| health["partitions"].as_array().map(Vec::len))
            .is_some_and(|partitions| partitions > 0)
    })
    .await;
    assert!(
        settled,
        "the second member got partitions\n{}",
        rig.all_logs()
    );
    assert!(
        committed(&rig) > 0,
        "the moved partitions' offsets were committed\n{}",
        rig.all_logs()
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        support::metric_sum(&second, "adapter_events_consumed_total"),
        0.0,
        "the second member re-read nothing"
    );
    assert!(first
        .log_text()
        .contains("committed the revoked partitions' applied offsets"));
    assert!(support::metric_sum(&first, "adapter_partitions_revoked_total") > 0.0);
    // Each member's /health lists only what it owns now: together the two
    // list each partition once.
    let listed = |adapter: &support::Adapter| -> Vec<(String, i64)> {
        let (_, body) = adapter.get("/health").expect("/health answers");
        let health: Value = serde_json::from_str(&body).expect("JSON");
        health["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let topic = p["topic"].as_str().unwrap().to_owned();
                (topic, p["partition"].as_i64().unwrap())
            })
            .collect()
    };
    let each_once = support::wait_until(PATIENCE, || async {
        let mut both = listed(&first);
        both.extend(listed(&second));
        let total = both.len();
        both.sort();
        both.dedup();
        total == both.len() && total == 2 * EventType::ALL.len()
    })
    .await;
    assert!(each_once, "{:?} {:?}", listed(&first), listed(&second));
}
