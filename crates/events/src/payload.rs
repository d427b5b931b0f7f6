//! The payload of each event type, as the JSON Schema defines it.

use bridge_models::{HealthStatus, StepStatus, WorkflowState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::EventType;

/// `{}`, the default of every free-form object.
fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Payload of `workflow-started`: a workflow to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStarted {
    /// Kind of workflow, e.g. `metadata_stamping`.
    pub workflow_type: String,
    /// Owning namespace.
    pub namespace: String,
    /// Start time; the envelope's `event_timestamp` when absent.
    pub started_at: Option<DateTime<Utc>>,
    /// `PENDING` (default) or `PROCESSING`.
    #[serde(default = "pending")]
    pub initial_state: WorkflowState,
    /// Free-form metadata.
    #[serde(default = "empty_object")]
    pub metadata: Value,
}

fn pending() -> WorkflowState {
    WorkflowState::Pending
}

/// Payload of `workflow-completed`: recorded as the transition's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCompleted {
    /// What the workflow produced, if anything.
    #[serde(default = "empty_object")]
    pub result: Value,
}

/// Payload of `workflow-failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFailed {
    /// Why it failed; stored as the workflow's `error_message`.
    pub error_message: String,
    /// A machine-readable error code, if any.
    pub error_code: Option<String>,
}

/// Payload of `step-completed`: a step to append to the workflow of the envelope's `correlation_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCompleted {
    /// Name, e.g. `hash_generation`.
    pub step_name: String,
    /// Position in the workflow, from 0.
    pub step_order: i32,
    /// `COMPLETED` (default), `FAILED`, `RUNNING` or `PENDING`.
    #[serde(default = "completed")]
    pub status: StepStatus,
    /// Duration in milliseconds.
    pub execution_time_ms: Option<i32>,
    /// Free-form input and output.
    #[serde(default = "empty_object")]
    pub step_data: Value,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
}

fn completed() -> StepStatus {
    StepStatus::Completed
}

/// Payload of `state-transition`: a transition of any entity to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateTransition {
    /// The entity that moved.
    pub entity_id: Uuid,
    /// Kind of entity, e.g. `bridge_state`.
    pub entity_type: String,
    /// State before; absent for the initial state.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// The event that caused it.
    pub transition_event: String,
    /// Free-form context.
    #[serde(default = "empty_object")]
    pub transition_data: Value,
}

/// Payload of `state-aggregation-completed`: a delta to add to a bridge's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateAggregationCompleted {
    /// The bridge.
    pub bridge_id: Uuid,
    /// Its namespace.
    pub namespace: String,
    /// Workflows processed since the last aggregation.
    #[serde(default)]
    pub total_workflows_processed: i64,
    /// Items aggregated since the last aggregation.
    #[serde(default)]
    pub total_items_aggregated: i64,
    /// Keys merged into the stored metadata.
    #[serde(default = "empty_object")]
    pub aggregation_metadata: Value,
    /// The bridge's state machine state now.
    pub current_fsm_state: String,
    /// When it aggregated; the envelope's `event_timestamp` when absent.
    pub last_aggregation_timestamp: Option<DateTime<Utc>>,
}

/// Payload of `node-registered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRegistered {
    /// Identifies the node.
    pub node_id: String,
    /// Kind of node.
    pub node_type: String,
    /// Version it runs.
    pub node_version: String,
    /// What it can do.
    #[serde(default = "empty_object")]
    pub capabilities: Value,
    /// Where it is reached.
    #[serde(default = "empty_object")]
    pub endpoints: Value,
    /// Free-form metadata.
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Health at registration; `UNKNOWN` when absent.
    #[serde(default = "unknown")]
    pub health_status: HealthStatus,
}

fn unknown() -> HealthStatus {
    HealthStatus::Unknown
}

/// Payload of `node-heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// The node reporting.
    pub node_id: String,
    /// The health it reports.
    pub health_status: HealthStatus,
    /// When; the envelope's `event_timestamp` when absent.
    pub last_heartbeat: Option<DateTime<Utc>>,
}

/// Payload of `stamp-created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampCreated {
    /// BLAKE3 hash of the stamped content.
    pub file_hash: String,
    /// The complete stamp.
    pub stamp_data: Value,
    /// Namespace of the stamp.
    pub namespace: String,
    /// True for a stamp made outside any workflow; otherwise it belongs to
    /// the workflow of the envelope's `correlation_id`.
    #[serde(default)]
    pub standalone: bool,
}

/// The payload of one event, typed by its event type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// `workflow-started`.
    WorkflowStarted(WorkflowStarted),
    /// `node-registered`.
    NodeRegistered(NodeRegistered),
    /// `step-completed`.
    StepCompleted(StepCompleted),
    /// `state-transition`.
    StateTransition(StateTransition),
    /// `state-aggregation-completed`.
    StateAggregationCompleted(StateAggregationCompleted),
    /// `node-heartbeat`.
    NodeHeartbeat(NodeHeartbeat),
    /// `stamp-created`.
    StampCreated(StampCreated),
    /// `workflow-completed`.
    WorkflowCompleted(WorkflowCompleted),
    /// `workflow-failed`.
    WorkflowFailed(WorkflowFailed),
}

macro_rules! payload_from {
    ($($variant:ident),+) => {
        impl Payload {
            /// The event type this payload belongs to.
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Self::$variant(_) => EventType::$variant,)+
                }
            }

            /// Reads the JSON payload of an event of type `kind`; why not, when it does not match.
            pub(crate) fn from_json(kind: EventType, value: Value) -> Result<Self, String> {
                Ok(match kind {
                    $(EventType::$variant => Self::$variant(
                        serde_json::from_value(value).map_err(|err| err.to_string())?,
                    ),)+
                })
            }
        }

        $(impl From<$variant> for Payload {
            fn from(payload: $variant) -> Self {
                Self::$variant(payload)
            }
        })+
    };
}

payload_from!(
    WorkflowStarted,
    NodeRegistered,
    StepCompleted,
    StateTransition,
    StateAggregationCompleted,
    NodeHeartbeat,
    StampCreated,
    WorkflowCompleted,
    WorkflowFailed
);

impl Payload {
    /// Checks what the schema says beyond field types: free-form fields are
    /// objects, a workflow starts `PENDING` or `PROCESSING`, and the events
    /// of a workflow name it (`has_correlation`).
    pub(crate) fn check(&self, has_correlation: bool) -> Result<(), String> {
        let needs_correlation = match self {
            Self::WorkflowStarted(p) => {
                if !matches!(
                    p.initial_state,
                    WorkflowState::Pending | WorkflowState::Processing
                ) {
                    return Err(format!(
                        "initial_state {} is not PENDING or PROCESSING",
                        p.initial_state
                    ));
                }
                object(&p.metadata, "metadata")?;
                true
            }
            Self::WorkflowCompleted(p) => {
                object(&p.result, "result")?;
                true
            }
            Self::WorkflowFailed(_) => true,
            Self::StepCompleted(p) => {
                object(&p.step_data, "step_data")?;
                true
            }
            Self::StateTransition(p) => {
                object(&p.transition_data, "transition_data")?;
                false
            }
            Self::StateAggregationCompleted(p) => {
                object(&p.aggregation_metadata, "aggregation_metadata")?;
                false
            }
            Self::NodeRegistered(p) => {
                object(&p.capabilities, "capabilities")?;
                object(&p.endpoints, "endpoints")?;
                object(&p.metadata, "metadata")?;
                false
            }
            Self::NodeHeartbeat(_) => false,
            Self::StampCreated(p) => {
                object(&p.stamp_data, "stamp_data")?;
                !p.standalone
            }
        };
        if needs_correlation && !has_correlation {
            return Err(format!(
                "{} needs the envelope's correlation_id",
                self.event_type()
            ));
        }
        Ok(())
    }
}

/// Ok when `value`, the free-form field `field`, is a JSON object.
fn object(value: &Value, field: &str) -> Result<(), String> {
    if value.is_object() {
        Ok(())
    } else {
        Err(format!("{field} must be an object"))
    }
}
