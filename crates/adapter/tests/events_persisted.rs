//! Every event type reaches its table; redelivered events change nothing.

mod support;

use bridge_events::EventType;
use serde_json::Value;
use support::{Rig, PREFIX};

fn sample(kind: EventType) -> Value {
    let path = format!(
        "{}/../../docs/events/samples/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        kind.as_str()
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The samples, plus a start for the failed sample's workflow, so every event applies.
fn all_samples() -> Vec<Value> {
    let mut events: Vec<Value> = EventType::ALL.iter().map(|&kind| sample(kind)).collect();
    let failed = sample(EventType::WorkflowFailed);
    let mut second = sample(EventType::WorkflowStarted);
    second["event_id"] = "0193a1f0-0001-7000-8000-00000000000a".into();
    second["correlation_id"] = failed["correlation_id"].clone();
    events.push(second);
    events
}

async fn assert_rows(rig: &Rig) {
    assert_eq!(rig.count("workflow_executions").await, 2);
    assert_eq!(rig.count("workflow_steps").await, 1);
    // One recorded transition, plus the two state changes.
    assert_eq!(rig.count("fsm_transitions").await, 3);
    assert_eq!(rig.count("bridge_states").await, 1);
    assert_eq!(rig.count("bridge_state_deltas").await, 1);
    assert_eq!(rig.count("node_registrations").await, 1);
    assert_eq!(rig.count("metadata_stamps").await, 1);
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
    let states = support::lines(&rig.db, "SELECT current_state || ' ' || coalesce(error_message, '-') AS line FROM workflow_executions ORDER BY 1").await;
    assert_eq!(states, ["COMPLETED -", "FAILED hash service unavailable"]);
    let totals = support::lines(&rig.db, "SELECT total_workflows_processed || ' ' || total_items_aggregated AS line FROM bridge_states").await;
    assert_eq!(totals, ["3 120"]);
    let heartbeat = support::lines(&rig.db, "SELECT health_status || ' ' || (last_heartbeat IS NOT NULL) AS line FROM node_registrations").await;
    assert_eq!(heartbeat, ["HEALTHY true"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_type_is_written_and_a_redelivery_changes_nothing() {
    let rig = Rig::new(2).await;
    let events = all_samples();
    rig.produce_all(&events).await;
    let adapter = rig.adapter("adapter", &[]);
    rig.wait_for_count("workflow_executions", 2).await;
    support::wait_until(support::PATIENCE, || async {
        rig.count("metadata_stamps").await == 1
            && rig.count("fsm_transitions").await == 3
            && rig.count("node_registrations").await == 1
    })
    .await;
    // Let the last batch's offsets commit, then deliver everything again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_rows(&rig).await;
    rig.produce_all(&events).await;
    let total = events.len() as f64 * 2.0;
    let consumed = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_events_persisted_total")
            + support::metric_sum(&adapter, "adapter_events_ignored_total")
            >= total
    })
    .await;
    assert!(
        consumed,
        "the redelivery was not consumed:\n{}",
        adapter.log_text()
    );
    assert_rows(&rig).await;
    let committed = rig.committed(
        "database_adapter_consumers",
        &EventType::WorkflowStarted.topic(PREFIX),
        2,
    );
    assert_eq!(
        committed.iter().map(|&offset| offset.max(0)).sum::<i64>(),
        4,
        "{committed:?}"
    );
}
