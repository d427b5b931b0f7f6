//! The event contract holds: samples pass the JSON Schema and decode, invalid events are refused by both, docs name every topic.

use std::path::PathBuf;

use bridge_events::{decode, EventType, DEFAULT_TOPIC_PREFIX};
use serde_json::{json, Value};

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(docs().join("events/onex-bridge-event-v1.schema.json"))
        .expect("the schema file");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn sample(kind: EventType) -> Value {
    let path = docs().join(format!("events/samples/{}.json", kind.as_str()));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("sample {}: {err}", path.display()));
    serde_json::from_str(&text).expect("the sample is JSON")
}

fn adapter_accepts(kind: EventType, event: &Value) -> bool {
    let topic = kind.topic(DEFAULT_TOPIC_PREFIX);
    decode(event.to_string().as_bytes(), Some(kind), &topic).is_ok()
}

#[test]
fn every_event_type_has_a_sample_the_schema_and_the_adapter_accept() {
    let schema = schema();
    for &kind in EventType::ALL {
        let event = sample(kind);
        let errors: Vec<String> = schema.iter_errors(&event).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{kind} sample refused by the schema: {errors:#?}"
        );
        let topic = kind.topic(DEFAULT_TOPIC_PREFIX);
        let decoded = decode(event.to_string().as_bytes(), Some(kind), &topic)
            .unwrap_or_else(|err| panic!("{kind} sample refused by the adapter: {err}"));
        assert_eq!(decoded.kind(), kind);
        assert_eq!(
            decoded.event_id.to_string(),
            event["event_id"].as_str().unwrap()
        );
        let encoded = decoded.to_bytes();
        assert!(
            schema.is_valid(&serde_json::from_slice(&encoded).unwrap()),
            "{kind}: the encoded event passes the schema"
        );
        assert_eq!(
            decode(&encoded, Some(kind), &topic).unwrap(),
            decoded,
            "{kind}: encoding and decoding again changes nothing"
        );
    }
}

/// Mutations of valid samples that break the contract.
fn invalid_events() -> Vec<(&'static str, EventType, Value)> {
    let mut cases = Vec::new();
    let mut add = |name, kind, change: &dyn Fn(&mut Value)| {
        let mut event = sample(kind);
        change(&mut event);
        cases.push((name, kind, event));
    };
    add("event_id missing", EventType::WorkflowStarted, &|e| {
        e.as_object_mut().unwrap().remove("event_id");
    });
    add("event_id not a UUID", EventType::WorkflowStarted, &|e| {
        e["event_id"] = json!("42")
    });
    add(
        "region missing (nullable, not optional)",
        EventType::WorkflowStarted,
        &|e| {
            e.as_object_mut().unwrap().remove("region");
        },
    );
    add("unknown event type", EventType::WorkflowStarted, &|e| {
        e["event_type"] = json!("workflow-paused")
    });
    add("envelope version 2", EventType::WorkflowStarted, &|e| {
        e["envelope_version"] = json!("2.0")
    });
    add("event version 2", EventType::StepCompleted, &|e| {
        e["event_version"] = json!("2")
    });
    add("metadata not an object", EventType::StepCompleted, &|e| {
        e["metadata"] = json!([1])
    });
    add("payload not an object", EventType::StepCompleted, &|e| {
        e["payload"] = json!("step")
    });
    add(
        "workflow without correlation id",
        EventType::WorkflowStarted,
        &|e| e["correlation_id"] = Value::Null,
    );
    add(
        "step without correlation id",
        EventType::StepCompleted,
        &|e| e["correlation_id"] = Value::Null,
    );
    add("step without step_name", EventType::StepCompleted, &|e| {
        e["payload"].as_object_mut().unwrap().remove("step_name");
    });
    add("step status unknown", EventType::StepCompleted, &|e| {
        e["payload"]["status"] = json!("DONE")
    });
    add(
        "step order not an integer",
        EventType::StepCompleted,
        &|e| e["payload"]["step_order"] = json!("first"),
    );
    add(
        "initial state COMPLETED",
        EventType::WorkflowStarted,
        &|e| e["payload"]["initial_state"] = json!("COMPLETED"),
    );
    add(
        "workflow metadata not an object",
        EventType::WorkflowStarted,
        &|e| e["payload"]["metadata"] = json!("x"),
    );
    add("failure without message", EventType::WorkflowFailed, &|e| {
        e["payload"]
            .as_object_mut()
            .unwrap()
            .remove("error_message");
    });
    add(
        "transition entity_id not a UUID",
        EventType::StateTransition,
        &|e| e["payload"]["entity_id"] = json!("bridge"),
    );
    add(
        "aggregation without bridge_id",
        EventType::StateAggregationCompleted,
        &|e| {
            e["payload"].as_object_mut().unwrap().remove("bridge_id");
        },
    );
    add("heartbeat health unknown", EventType::NodeHeartbeat, &|e| {
        e["payload"]["health_status"] = json!("FINE")
    });
    add(
        "registration without node_type",
        EventType::NodeRegistered,
        &|e| {
            e["payload"].as_object_mut().unwrap().remove("node_type");
        },
    );
    add("stamp data not an object", EventType::StampCreated, &|e| {
        e["payload"]["stamp_data"] = json!("x")
    });
    add(
        "linked stamp without correlation id",
        EventType::StampCreated,
        &|e| e["correlation_id"] = Value::Null,
    );
    cases
}

#[test]
fn the_schema_and_the_adapter_refuse_the_same_invalid_events() {
    let schema = schema();
    for (name, kind, event) in invalid_events() {
        assert!(
            !schema.is_valid(&event),
            "the schema accepts an event with {name}"
        );
        assert!(
            !adapter_accepts(kind, &event),
            "the adapter accepts an event with {name}"
        );
    }
}

#[test]
fn a_standalone_stamp_needs_no_correlation_id() {
    let mut event = sample(EventType::StampCreated);
    event["correlation_id"] = Value::Null;
    event["payload"]["standalone"] = json!(true);
    assert!(schema().is_valid(&event));
    assert!(adapter_accepts(EventType::StampCreated, &event));
}

#[test]
fn an_event_on_another_events_topic_is_refused() {
    let event = sample(EventType::StepCompleted);
    let topic = EventType::StampCreated.topic(DEFAULT_TOPIC_PREFIX);
    let refused = decode(
        event.to_string().as_bytes(),
        Some(EventType::StampCreated),
        &topic,
    );
    assert_eq!(refused.unwrap_err().reason(), "wrong_topic");
}

#[test]
fn the_contract_page_names_every_event_and_topic() {
    let page = std::fs::read_to_string(docs().join("events.md")).expect("docs/events.md");
    for &kind in EventType::ALL {
        assert!(
            page.contains(&format!("`{}`", kind.as_str())),
            "docs/events.md misses {kind}"
        );
        assert!(
            page.contains(&format!("`.{}.v1`", kind.as_str())),
            "docs/events.md misses the topic of {kind}"
        );
    }
    assert_eq!(
        EventType::WorkflowStarted.topic(DEFAULT_TOPIC_PREFIX),
        "dev.omninode_bridge.onex.evt.workflow-started.v1"
    );
}
