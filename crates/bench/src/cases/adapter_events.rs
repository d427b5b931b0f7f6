//! Case 8's event mix: per workflow a start, three steps, a transition, a
//! stamp and a completion; per ten workflows a heartbeat and an aggregation;
//! ten nodes registered first.

use bridge_events::{
    Event, EventType, NodeHeartbeat, NodeRegistered, Payload, Source, StampCreated,
    StateAggregationCompleted, StateTransition, StepCompleted, WorkflowCompleted, WorkflowStarted,
};
use bridge_models::HealthStatus;
use uuid::Uuid;

/// Nodes that register first and then send heartbeats.
const NODES: usize = 10;

/// Bridges the aggregations go to.
const BRIDGES: usize = 5;

/// Events per ten workflows: 7 each, plus a heartbeat and an aggregation.
const EVENTS_PER_TEN: usize = 72;

/// One event to produce: the event, its key and its bytes.
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
    source: Source,
    bridges: Vec<Uuid>,
    next: usize,
}

impl Mix {
    /// A fresh mix.
    pub fn new() -> Self {
        Self {
            source: Source::new("bench", "bridge-bench", "1.0.0", "bench", "bench"),
            bridges: (0..BRIDGES).map(|_| Uuid::now_v7()).collect(),
            next: 0,
        }
    }

    /// The node registrations that precede the rest.
    pub fn registrations(&self) -> Vec<Produced> {
        (0..NODES)
            .map(|n| {
                let node = format!("bench-node-{n}");
                self.event(None, NodeRegistered::new(node, "reducer", "v1"))
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
        let wf = Some(id);
        out.push(self.event(wf, WorkflowStarted::new("metadata_stamping", "bench")));
        for order in 0..3 {
            let mut step = StepCompleted::new(format!("step_{order}"), order);
            step.execution_time_ms = Some(3);
            out.push(self.event(wf, step));
        }
        let mut transition = StateTransition::new(id, "workflow_run", "PROCESSING", "started");
        transition.from_state = Some("PENDING".into());
        out.push(self.event(wf, transition));
        out.push(self.event(
            wf,
            StampCreated::new(
                format!("{:064x}", id.as_u128()),
                serde_json::json!({ "v": 1 }),
                "bench",
            ),
        ));
        out.push(self.event(wf, WorkflowCompleted::default()));
        self.next += 1;
        if self.next % 10 == 0 {
            let node = format!("bench-node-{}", self.next / 10 % NODES);
            out.push(self.event(None, NodeHeartbeat::new(node, HealthStatus::Healthy)));
            let bridge = self.bridges[self.next / 10 % BRIDGES];
            let mut delta = StateAggregationCompleted::new(bridge, "bench", "idle");
            delta.total_workflows_processed = 10;
            delta.total_items_aggregated = 100;
            out.push(self.event(None, delta));
        }
    }

    /// An event of `payload` about workflow `correlation_id`, with a fresh id.
    fn event(&self, correlation_id: Option<Uuid>, payload: impl Into<Payload>) -> Produced {
        produced(&self.source.event(correlation_id, payload))
    }
}

/// `event` as a message to produce.
fn produced(event: &Event) -> Produced {
    Produced {
        kind: event.kind(),
        key: event.message_key(),
        bytes: event.to_bytes(),
    }
}
