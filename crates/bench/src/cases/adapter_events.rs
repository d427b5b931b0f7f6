//! Case 8's event mix: per workflow a start, three steps, a transition, a
//! stamp and a completion; per ten workflows a heartbeat and an aggregation;
//! ten nodes registered first.

use bridge_adapter::EventType;
use serde_json::{json, Value};
use uuid::Uuid;

/// Nodes that register first and then send heartbeats.
const NODES: usize = 10;

/// Bridges the aggregations go to.
const BRIDGES: usize = 5;

/// Events per ten workflows: 7 each, plus a heartbeat and an aggregation.
const EVENTS_PER_TEN: usize = 72;

/// One event to produce: its type and envelope.
pub struct Produced {
    /// Its type (which names its topic).
    pub kind: EventType,
    /// Its key.
    pub key: String,
    /// The envelope, serialized.
    pub bytes: Vec<u8>,
}

/// Makes the mix, a workflow at a time.
pub struct Mix {
    bridges: Vec<Uuid>,
    next: usize,
}

impl Mix {
    /// A fresh mix.
    pub fn new() -> Self {
        Self {
            bridges: (0..BRIDGES).map(|_| Uuid::now_v7()).collect(),
            next: 0,
        }
    }

    /// The node registrations that precede the rest.
    pub fn registrations(&self) -> Vec<Produced> {
        (0..NODES)
            .map(|n| {
                let node = format!("bench-node-{n}");
                envelope(
                    EventType::NodeRegistered,
                    None,
                    &node,
                    json!({ "node_id": node, "node_type": "reducer", "node_version": "v1" }),
                )
            })
            .collect()
    }

    /// At least `events` events (whole workflows), after the registrations.
    pub fn take(&mut self, events: usize) -> Vec<Produced> {
        let mut out = Vec::with_capacity(events + EVENTS_PER_TEN);
        while out.len() < events {
            self.workflow(&mut out);
        }
        out
    }

    /// One workflow's events, plus every tenth a heartbeat and an aggregation.
    fn workflow(&mut self, out: &mut Vec<Produced>) {
        let id = Uuid::now_v7();
        let key = id.to_string();
        let wf = Some(id);
        out.push(envelope(
            EventType::WorkflowStarted,
            wf,
            &key,
            json!({ "workflow_type": "metadata_stamping", "namespace": "bench" }),
        ));
        for order in 0..3 {
            out.push(envelope(
                EventType::StepCompleted,
                wf,
                &key,
                json!({ "step_name": format!("step_{order}"), "step_order": order, "execution_time_ms": 3 }),
            ));
        }
        out.push(envelope(
            EventType::StateTransition,
            wf,
            &key,
            json!({ "entity_id": id, "entity_type": "workflow_run", "from_state": "PENDING",
                    "to_state": "PROCESSING", "transition_event": "started" }),
        ));
        out.push(envelope(
            EventType::StampCreated,
            wf,
            &key,
            json!({ "file_hash": format!("{:064x}", id.as_u128()), "stamp_data": { "v": 1 }, "namespace": "bench" }),
        ));
        out.push(envelope(EventType::WorkflowCompleted, wf, &key, json!({})));
        self.next += 1;
        if self.next % 10 == 0 {
            let node = format!("bench-node-{}", self.next / 10 % NODES);
            out.push(envelope(
                EventType::NodeHeartbeat,
                None,
                &node,
                json!({ "node_id": node, "health_status": "HEALTHY" }),
            ));
            let bridge = self.bridges[self.next / 10 % BRIDGES];
            out.push(envelope(
                EventType::StateAggregationCompleted,
                None,
                &bridge.to_string(),
                json!({ "bridge_id": bridge, "namespace": "bench", "total_workflows_processed": 10,
                        "total_items_aggregated": 100, "current_fsm_state": "idle" }),
            ));
        }
    }
}

/// An ONEX v1 envelope of `kind` with a fresh event id.
fn envelope(kind: EventType, correlation_id: Option<Uuid>, key: &str, payload: Value) -> Produced {
    let value = json!({
        "envelope_version": "1.0",
        "event_id": Uuid::now_v7(),
        "event_type": kind.as_str(),
        "event_version": "1.0",
        "event_timestamp": chrono::Utc::now(),
        "source_node_id": "bench",
        "source_service": "bridge-bench",
        "source_version": "1.0.0",
        "source_instance": "bench",
        "correlation_id": correlation_id,
        "causation_id": null,
        "environment": "bench",
        "region": null,
        "partition_key": key,
        "payload": payload,
        "metadata": {}
    });
    Produced {
        kind,
        key: key.to_owned(),
        bytes: value.to_string().into_bytes(),
    }
}
