//! What `bridge_events::Publisher` publishes passes the JSON Schema, is keyed as the contract says, and lands in the database through the adapter.

mod support;

use bridge_events::{
    NodeHeartbeat, NodeRegistered, PublishError, Publisher, StampCreated,
    StateAggregationCompleted, StateTransition, StepCompleted, WorkflowCompleted, WorkflowStarted,
};
use bridge_models::HealthStatus;
use rdkafka::Message;
use serde_json::{json, Value};
use support::{Rig, PREFIX};
use uuid::Uuid;

fn schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/events/onex-bridge-event-v1.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

#[tokio::test(flavor = "multi_thread")]
async fn published_events_pass_the_schema_and_land_in_the_database() {
    let rig = Rig::new(1).await;
    let publisher =
        Publisher::new(&rig.broker.bootstrap_servers(), PREFIX, &[]).expect("a publisher");
    let source = support::source();
    let workflow = Uuid::now_v7();
    let bridge = Uuid::now_v7();
    let mut delta = StateAggregationCompleted::new(bridge, "it", "idle");
    delta.total_workflows_processed = 3;
    let events = vec![
        source.event(None, NodeRegistered::new("node-1", "reducer", "v1")),
        source.event(
            Some(workflow),
            WorkflowStarted::new("metadata_stamping", "it"),
        ),
        source.event(Some(workflow), StepCompleted::new("hash", 0)),
        source.event(Some(workflow), StepCompleted::new("stamp", 1)),
        source.event(
            Some(workflow),
            StateTransition::new(workflow, "workflow_run", "PROCESSING", "started"),
        ),
        source.event(
            Some(workflow),
            StampCreated::new("ab".repeat(32), json!({ "v": 1 }), "it"),
        ),
        source.event(None, delta),
        source.event(None, NodeHeartbeat::new("node-1", HealthStatus::Healthy)),
        source.event(Some(workflow), WorkflowCompleted::default()),
    ];
    for event in &events {
        let delivery = publisher.publish(event).await.expect("published");
        assert_eq!(delivery.topic, event.kind().topic(PREFIX));
    }

    let schema = schema();
    for event in &events {
        let topic = event.kind().topic(PREFIX);
        let messages = rig.read_topic(&topic, 1);
        let message = messages
            .iter()
            .find(|m| {
                serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap()["event_id"]
                    == event.event_id.to_string()
            })
            .unwrap_or_else(|| panic!("{topic} holds the event"));
        let value: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let errors: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{topic}: {errors:#?}");
        assert_eq!(
            message.key(),
            Some(event.message_key().as_bytes()),
            "{topic}: keyed as the contract says"
        );
    }
    assert_eq!(events[1].message_key(), workflow.to_string());
    assert_eq!(events[0].message_key(), "node-1");
    assert_eq!(events[6].message_key(), bridge.to_string());

    let _adapter = rig.adapter("adapter", &[]);
    rig.wait_for_count("workflow_steps", 2).await;
    rig.wait_for_count("metadata_stamps", 1).await;
    rig.wait_for_count("fsm_transitions", 2).await;
    let state = support::lines(
        &rig.db,
        "SELECT current_state || ' ' || id::text AS line FROM workflow_executions",
    )
    .await;
    assert_eq!(state, [format!("COMPLETED {}", events[1].event_id)]);
    let totals = support::lines(
        &rig.db,
        "SELECT total_workflows_processed::text AS line FROM bridge_states",
    )
    .await;
    assert_eq!(totals, ["3"]);
    let beat = support::lines(
        &rig.db,
        "SELECT health_status AS line FROM node_registrations",
    )
    .await;
    assert_eq!(beat, ["HEALTHY"]);
}

#[tokio::test]
async fn an_event_that_breaks_the_contract_is_refused_before_it_is_sent() {
    // No broker: nothing is sent, so none is needed.
    let publisher = Publisher::new("127.0.0.1:1", PREFIX, &[]).expect("a publisher");
    let mut step = support::source().event(None, StepCompleted::new("hash", 0));
    let refused = publisher.publish(&step).await.unwrap_err();
    assert!(
        matches!(&refused, PublishError::Invalid { reason, .. } if reason.contains("correlation_id")),
        "{refused}"
    );
    assert!(!refused.is_retryable());

    step.correlation_id = Some(Uuid::now_v7());
    step.event_type = "workflow-started".into();
    let refused = publisher.publish(&step).await.unwrap_err();
    assert!(matches!(refused, PublishError::Invalid { .. }), "{refused}");
}
