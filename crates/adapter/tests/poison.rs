//! Poison messages reach `<topic>.dlq` with their bytes and headers naming the error, and never block their partition.

mod support;

use bridge_events::EventType;
use serde_json::json;
use support::{header, Rig, PREFIX};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn poison_goes_to_the_dead_letter_topic_and_the_rest_is_written() {
    // One partition per topic: poison sits between good events of the same partition.
    let rig = Rig::new(1).await;
    let started_topic = EventType::WorkflowStarted.topic(PREFIX);
    let steps_topic = EventType::StepCompleted.topic(PREFIX);
    let first = Uuid::now_v7();
    let second = Uuid::now_v7();
    rig.produce(&support::started(first)).await;
    rig.produce_raw(&started_topic, "k1", b"{not json", &[("trace", "abc")])
        .await;
    let mut unknown = support::started(Uuid::now_v7());
    unknown["event_type"] = json!("workflow-paused");
    rig.produce_raw(&started_topic, "k2", unknown.to_string().as_bytes(), &[])
        .await;
    let mut refused = support::step(first, 1);
    refused["payload"]["status"] = json!("DONE");
    rig.produce(&refused).await;
    // Same correlation id under another event id: the database refuses it (unique).
    let mut duplicate = support::started(first);
    duplicate["event_id"] = json!(Uuid::now_v7());
    rig.produce(&duplicate).await;
    // Over the column's bound: refused before sending.
    let mut too_long = support::step(first, 2);
    too_long["payload"]["step_name"] = json!("x".repeat(101));
    rig.produce(&too_long).await;
    rig.produce(&support::started(second)).await;
    rig.produce(&support::step(first, 0)).await;
    rig.produce(&support::step(second, 0)).await;
    // A valid event on another event's topic.
    let misplaced = support::started(Uuid::now_v7());
    rig.produce_raw(&steps_topic, "k3", misplaced.to_string().as_bytes(), &[])
        .await;

    let adapter = rig.adapter("adapter", &[]);
    rig.wait_for_count("workflow_executions", 2).await;
    rig.wait_for_count("workflow_steps", 2).await;

    let started_dlq = rig.read_topic(&format!("{started_topic}.dlq"), 3);
    let reasons: Vec<_> = started_dlq
        .iter()
        .map(|m| header(m, "dlq.reason").unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_envelope",
            "unknown_event_type",
            "constraint_violation"
        ],
        "{}",
        rig.all_logs()
    );
    assert_eq!(
        header(&started_dlq[0], "dlq.event_type").as_deref(),
        Some("")
    );
    assert_eq!(
        header(&started_dlq[1], "dlq.event_type").as_deref(),
        Some("workflow-paused"),
        "the envelope's event_type, read though unknown"
    );
    let garbage = &started_dlq[0];
    assert_eq!(
        rdkafka::Message::payload(garbage),
        Some(&b"{not json"[..]),
        "original bytes"
    );
    assert_eq!(rdkafka::Message::key(garbage), Some(&b"k1"[..]));
    assert_eq!(
        header(garbage, "trace").as_deref(),
        Some("abc"),
        "original headers kept"
    );
    assert_eq!(
        header(garbage, "dlq.topic").as_deref(),
        Some(started_topic.as_str())
    );
    assert_eq!(header(garbage, "dlq.partition").as_deref(), Some("0"));
    assert_eq!(header(garbage, "dlq.offset").as_deref(), Some("1"));
    assert!(header(garbage, "dlq.error")
        .unwrap()
        .contains("not an ONEX v1 envelope"));
    assert_eq!(header(&started_dlq[2], "dlq.offset").as_deref(), Some("3"));

    let steps_dlq = rig.read_topic(&format!("{steps_topic}.dlq"), 3);
    let reasons: Vec<_> = steps_dlq
        .iter()
        .map(|m| header(m, "dlq.reason").unwrap())
        .collect();
    assert_eq!(reasons, ["invalid_payload", "invalid_value", "wrong_topic"]);
    let types: Vec<_> = steps_dlq
        .iter()
        .map(|m| header(m, "dlq.event_type").unwrap())
        .collect();
    assert_eq!(
        types,
        ["step-completed", "step-completed", "workflow-started"],
        "the envelope's event_type whenever it was read"
    );

    assert_eq!(rig.count("workflow_executions").await, 2);
    assert_eq!(rig.count("workflow_steps").await, 2);
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
    assert!(
        support::wait_until(support::PATIENCE, || async {
            rig.committed("database_adapter_consumers", &started_topic, 1) == [5]
                && rig.committed("database_adapter_consumers", &steps_topic, 1) == [5]
        })
        .await,
        "offsets past the poison are committed"
    );
    assert_eq!(
        support::metric_sum(&adapter, "adapter_db_errors_total"),
        2.0,
        "the two refusals of the database (constraint, bound) count as kind=refused"
    );
    support::assert_emitted_as_catalogued(&adapter);
}
