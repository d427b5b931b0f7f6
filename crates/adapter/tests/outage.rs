//! The database stopped mid-stream: the adapter pauses, reports it, resumes by itself, and loses and duplicates nothing.

mod support;

use std::time::Duration;

use bridge_events::EventType;
use bridge_models::{Db, DbConfig};
use bridge_testkit::PrivateCluster;
use serde_json::Value;
use support::{Rig, PREFIX};

#[tokio::test(flavor = "multi_thread")]
async fn a_database_stopped_mid_stream_pauses_the_adapter_and_nothing_is_lost() {
    let rig = Rig::new(2).await;
    let cluster = PrivateCluster::builder().start();
    let url = cluster.create_migrated_database("adapter_outage");
    let db = Db::connect(DbConfig::new(&url))
        .await
        .expect("the private cluster answers");
    let adapter = rig.adapter_on(
        &url,
        "adapter",
        &["--batch-size", "20", "--db-timeout-ms", "500"],
    );
    let workflows = 200;
    let events: Vec<Value> = (0..workflows)
        .flat_map(|_| support::workflow_life(3))
        .collect();
    let (early, late) = events.split_at(events.len() / 2);
    rig.produce_all(early).await;
    let moving = support::wait_until(support::PATIENCE, || async {
        support::count_in(&db, "workflow_steps").await >= 60
    })
    .await;
    assert!(moving, "{}", rig.all_logs());

    cluster.stop_fast();
    rig.produce_all(late).await;
    let health = || {
        adapter.get("/health").map(|(code, body)| {
            (
                code,
                serde_json::from_str::<Value>(&body).unwrap_or_default(),
            )
        })
    };
    let open = support::wait_until(support::PATIENCE, || async {
        matches!(health(), Some((503, ref h)) if h["circuit_breaker"] == "open" && h["database"]["ok"] == false)
    })
    .await;
    assert!(
        open,
        "health while the database is down: {:?}\n{}",
        health(),
        adapter.log_text()
    );
    assert_eq!(
        support::metric_sum(&adapter, "adapter_circuit_breaker_open"),
        1.0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.start();
    let done = support::wait_until(support::PATIENCE * 2, || async {
        support::count_in(&db, "workflow_steps").await == 3 * workflows
            && support::count_in(&db, "metadata_stamps").await == workflows
            && support::count_in(&db, "fsm_transitions").await == 2 * workflows
            && support::count_in(&db, "adapter_deferred_events").await == 0
    })
    .await;
    assert!(done, "after the restart\n{}", adapter.log_text());
    let closed = support::wait_until(support::PATIENCE, || async {
        matches!(health(), Some((200, ref h)) if h["circuit_breaker"] == "closed")
    })
    .await;
    assert!(closed, "health after the restart: {:?}", health());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        support::count_in(&db, "workflow_executions").await,
        workflows
    );
    assert_eq!(
        support::count_in(&db, "workflow_steps").await,
        3 * workflows
    );
    assert_eq!(
        support::count_in(&db, "fsm_transitions").await,
        2 * workflows
    );
    assert_eq!(support::count_in(&db, "metadata_stamps").await, workflows);
    let states = support::lines(&db, "SELECT current_state || ' ' || count(*) AS line FROM workflow_executions GROUP BY current_state").await;
    assert_eq!(states, [format!("COMPLETED {workflows}")]);
    // An outage is not poison: nothing was dead-lettered.
    assert_eq!(
        support::metric_sum(&adapter, "adapter_events_dead_lettered_total"),
        0.0
    );
    for &kind in EventType::ALL {
        assert!(
            rig.read_topic(&format!("{}.dlq", kind.topic(PREFIX)), 0)
                .is_empty(),
            "{kind} dead-lettered"
        );
    }
}
