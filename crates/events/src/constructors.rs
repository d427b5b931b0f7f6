//! Constructors of the payloads from their required fields; optional fields take the contract's defaults.

use bridge_models::{HealthStatus, StepStatus, WorkflowState};
use serde_json::Value;
use uuid::Uuid;

use crate::payload::*;

fn empty() -> Value {
    Value::Object(Default::default())
}

impl WorkflowStarted {
    /// A workflow of `workflow_type` in `namespace`, `PENDING`, started at the event's time.
    pub fn new(workflow_type: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            workflow_type: workflow_type.into(),
            namespace: namespace.into(),
            started_at: None,
            initial_state: WorkflowState::Pending,
            metadata: empty(),
        }
    }
}

impl Default for WorkflowCompleted {
    fn default() -> Self {
        Self { result: empty() }
    }
}

impl WorkflowFailed {
    /// A failure saying `error_message`.
    pub fn new(error_message: impl Into<String>) -> Self {
        Self {
            error_message: error_message.into(),
            error_code: None,
        }
    }
}

impl StepCompleted {
    /// Step `step_name` at `step_order`, `COMPLETED`.
    pub fn new(step_name: impl Into<String>, step_order: i32) -> Self {
        Self {
            step_name: step_name.into(),
            step_order,
            status: StepStatus::Completed,
            execution_time_ms: None,
            step_data: empty(),
            error_message: None,
        }
    }
}

impl StateTransition {
    /// `entity_id` (an `entity_type`) moved to `to_state` on `transition_event`.
    pub fn new(
        entity_id: Uuid,
        entity_type: impl Into<String>,
        to_state: impl Into<String>,
        transition_event: impl Into<String>,
    ) -> Self {
        Self {
            entity_id,
            entity_type: entity_type.into(),
            from_state: None,
            to_state: to_state.into(),
            transition_event: transition_event.into(),
            transition_data: empty(),
        }
    }
}

impl StateAggregationCompleted {
    /// An aggregation of bridge `bridge_id` in `namespace`, now in `current_fsm_state`, adding nothing yet.
    pub fn new(
        bridge_id: Uuid,
        namespace: impl Into<String>,
        current_fsm_state: impl Into<String>,
    ) -> Self {
        Self {
            bridge_id,
            namespace: namespace.into(),
            total_workflows_processed: 0,
            total_items_aggregated: 0,
            aggregation_metadata: empty(),
            current_fsm_state: current_fsm_state.into(),
            last_aggregation_timestamp: None,
        }
    }
}

impl NodeRegistered {
    /// Node `node_id` of `node_type` running `node_version`, health `UNKNOWN`.
    pub fn new(
        node_id: impl Into<String>,
        node_type: impl Into<String>,
        node_version: impl Into<String>,
    ) -> Self {
        Self {
            node_id: node_id.into(),
            node_type: node_type.into(),
            node_version: node_version.into(),
            capabilities: empty(),
            endpoints: empty(),
            metadata: empty(),
            health_status: HealthStatus::Unknown,
        }
    }
}

impl NodeHeartbeat {
    /// Node `node_id` reports `health_status` at the event's time.
    pub fn new(node_id: impl Into<String>, health_status: HealthStatus) -> Self {
        Self {
            node_id: node_id.into(),
            health_status,
            last_heartbeat: None,
        }
    }
}

impl StampCreated {
    /// A stamp of `file_hash` with `stamp_data` (an object) in `namespace`, of the event's workflow.
    pub fn new(
        file_hash: impl Into<String>,
        stamp_data: Value,
        namespace: impl Into<String>,
    ) -> Self {
        Self {
            file_hash: file_hash.into(),
            stamp_data,
            namespace: namespace.into(),
            standalone: false,
        }
    }
}
