//! Payloads of the bridge events, and decoding a message into the write it asks for.

use bridge_models::{
    BridgeStateDelta, HealthStatus, NewFsmTransition, NewNodeRegistration, NewWorkflowExecution,
    NodeHeartbeat, StateChange, StepStatus, WorkflowState,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::envelope::{empty_object, is_v1, Envelope, EventType};

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
pub struct NodeHeartbeatPayload {
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

/// The write one event asks for, decoded and checked against the contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create a workflow.
    CreateWorkflow(NewWorkflowExecution),
    /// Move the workflow with this correlation id.
    ChangeState {
        /// Its correlation id.
        correlation_id: Uuid,
        /// The move.
        change: StateChange,
    },
    /// Append a step to the workflow with this correlation id (its row id still unknown).
    AppendStep {
        /// The workflow's correlation id.
        correlation_id: Uuid,
        /// The step's id (the event id).
        id: Uuid,
        /// The payload.
        step: StepCompleted,
    },
    /// Record a transition.
    RecordTransition(NewFsmTransition),
    /// Apply a bridge-state delta.
    ApplyDelta(BridgeStateDelta),
    /// Register a node.
    RegisterNode(NewNodeRegistration),
    /// Record a heartbeat of a node.
    Heartbeat {
        /// The node.
        node_id: String,
        /// The beat.
        beat: NodeHeartbeat,
    },
    /// Record a stamp, of the workflow with this correlation id unless standalone.
    RecordStamp {
        /// The workflow's correlation id; `None` for a standalone stamp.
        correlation_id: Option<Uuid>,
        /// The stamp's id (the event id).
        id: Uuid,
        /// The payload.
        stamp: StampCreated,
    },
}

/// One decoded event: its envelope's identity and the write it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The envelope's `event_id`.
    pub id: Uuid,
    /// The event type.
    pub kind: EventType,
    /// What to write.
    pub write: Write,
}

/// Why a message is not a valid event; it goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an envelope (a field missing or of the wrong type).
    #[error("not an ONEX v1 envelope: {0}")]
    Envelope(String),
    /// `event_type` names no event this adapter knows.
    #[error("{0}")]
    UnknownType(String),
    /// A version other than 1.x.
    #[error("unsupported {field} {version:?}: this adapter reads 1.x")]
    Version {
        /// `envelope_version` or `event_version`.
        field: &'static str,
        /// The version found.
        version: String,
    },
    /// The event arrived on another event's topic.
    #[error("event_type {event_type:?} arrived on topic {topic:?}")]
    WrongTopic {
        /// The envelope's event type.
        event_type: String,
        /// The topic it came from.
        topic: String,
    },
    /// The payload does not match the event's schema.
    #[error("{event_type} payload refused: {reason}")]
    Payload {
        /// The event type.
        event_type: EventType,
        /// What is wrong.
        reason: String,
    },
}

impl DecodeError {
    /// A short, stable name for metrics and the `dlq.reason` header.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Envelope(_) => "invalid_envelope",
            Self::UnknownType(_) => "unknown_event_type",
            Self::Version { .. } => "unsupported_version",
            Self::WrongTopic { .. } => "wrong_topic",
            Self::Payload { .. } => "invalid_payload",
        }
    }
}

/// Decodes message bytes into the event they carry, for a message consumed
/// from `topic` whose expected event type is `expected` (when the topic says).
pub fn decode(
    bytes: &[u8],
    expected: Option<EventType>,
    topic: &str,
) -> Result<Event, DecodeError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|err| DecodeError::Envelope(err.to_string()))?;
    if !envelope.metadata.is_object() || !envelope.payload.is_object() {
        return Err(DecodeError::Envelope(
            "payload and metadata must be JSON objects".into(),
        ));
    }
    for (field, version) in [
        ("envelope_version", &envelope.envelope_version),
        ("event_version", &envelope.event_version),
    ] {
        if !is_v1(version) {
            return Err(DecodeError::Version {
                field,
                version: version.clone(),
            });
        }
    }
    let kind: EventType = envelope
        .event_type
        .parse()
        .map_err(DecodeError::UnknownType)?;
    if expected.is_some_and(|expected| expected != kind) {
        return Err(DecodeError::WrongTopic {
            event_type: envelope.event_type.clone(),
            topic: topic.to_owned(),
        });
    }
    let write = to_write(kind, &envelope).map_err(|reason| DecodeError::Payload {
        event_type: kind,
        reason,
    })?;
    Ok(Event {
        id: envelope.event_id,
        kind,
        write,
    })
}

/// The id of the audit row an event writes (a transition, a stamp, the
/// transition of a state change): the event id itself when it is a UUIDv7,
/// else a UUIDv7 of the event's time whose remaining 80 bits are the event
/// id's last 10 bytes.
///
/// The audit tables are partitioned by the month in a UUIDv7's time, so
/// their ids must be UUIDv7; producers commonly send UUIDv4 event ids. The
/// derived id is the same on every delivery of the event (so a redelivery
/// stays a no-op) and falls in the month the event happened.
pub fn audit_id(envelope: &Envelope) -> Uuid {
    let event_id = envelope.event_id;
    if event_id.get_version_num() == 7 {
        return event_id;
    }
    let millis = u64::try_from(envelope.event_timestamp.timestamp_millis()).unwrap_or(0);
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&event_id.as_bytes()[6..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid()
}

/// The write `envelope`, of type `kind`, asks for; the reason when its payload is refused.
fn to_write(kind: EventType, envelope: &Envelope) -> Result<Write, String> {
    let id = envelope.event_id;
    let audit_id = audit_id(envelope);
    let at = envelope.event_timestamp.trunc_subsecs(6);
    let correlation = || {
        envelope
            .correlation_id
            .ok_or_else(|| format!("{kind} needs the envelope's correlation_id"))
    };
    Ok(match kind {
        EventType::WorkflowStarted => {
            let p: WorkflowStarted = payload(envelope)?;
            if !matches!(
                p.initial_state,
                WorkflowState::Pending | WorkflowState::Processing
            ) {
                return Err(format!(
                    "initial_state {} is not PENDING or PROCESSING",
                    p.initial_state
                ));
            }
            let mut new = NewWorkflowExecution::new(correlation()?, p.workflow_type, p.namespace);
            new.id = Some(id);
            new.current_state = p.initial_state;
            new.started_at = p.started_at.map_or(at, |t| t.trunc_subsecs(6));
            new.metadata = object(p.metadata, "metadata")?;
            Write::CreateWorkflow(new)
        }
        EventType::WorkflowCompleted => {
            let p: WorkflowCompleted = payload(envelope)?;
            let mut change =
                StateChange::new(WorkflowState::Completed, kind.as_str()).with_id(audit_id);
            change.data = serde_json::json!({ "result": p.result });
            Write::ChangeState {
                correlation_id: correlation()?,
                change,
            }
        }
        EventType::WorkflowFailed => {
            let p: WorkflowFailed = payload(envelope)?;
            let mut change =
                StateChange::new(WorkflowState::Failed, kind.as_str()).with_id(audit_id);
            change.data = serde_json::json!({ "error_code": p.error_code });
            change.error_message = Some(p.error_message);
            Write::ChangeState {
                correlation_id: correlation()?,
                change,
            }
        }
        EventType::StepCompleted => {
            let mut step: StepCompleted = payload(envelope)?;
            step.step_data = object(step.step_data, "step_data")?;
            Write::AppendStep {
                correlation_id: correlation()?,
                id,
                step,
            }
        }
        EventType::StateTransition => {
            let p: StateTransition = payload(envelope)?;
            Write::RecordTransition(NewFsmTransition {
                id: Some(audit_id),
                entity_id: p.entity_id,
                entity_type: p.entity_type,
                from_state: p.from_state,
                to_state: p.to_state,
                transition_event: p.transition_event,
                transition_data: object(p.transition_data, "transition_data")?,
            })
        }
        EventType::StateAggregationCompleted => {
            let p: StateAggregationCompleted = payload(envelope)?;
            Write::ApplyDelta(BridgeStateDelta {
                id,
                bridge_id: p.bridge_id,
                namespace: p.namespace,
                total_workflows_processed: p.total_workflows_processed,
                total_items_aggregated: p.total_items_aggregated,
                aggregation_metadata: object(p.aggregation_metadata, "aggregation_metadata")?,
                current_fsm_state: p.current_fsm_state,
                last_aggregation_timestamp: Some(
                    p.last_aggregation_timestamp
                        .map_or(at, |t| t.trunc_subsecs(6)),
                ),
            })
        }
        EventType::NodeRegistered => {
            let p: NodeRegistered = payload(envelope)?;
            Write::RegisterNode(NewNodeRegistration {
                node_id: p.node_id,
                node_type: p.node_type,
                node_version: p.node_version,
                capabilities: object(p.capabilities, "capabilities")?,
                endpoints: object(p.endpoints, "endpoints")?,
                metadata: object(p.metadata, "metadata")?,
                health_status: p.health_status,
            })
        }
        EventType::NodeHeartbeat => {
            let p: NodeHeartbeatPayload = payload(envelope)?;
            Write::Heartbeat {
                node_id: p.node_id,
                beat: NodeHeartbeat {
                    health_status: p.health_status,
                    last_heartbeat: p.last_heartbeat.map_or(at, |t| t.trunc_subsecs(6)),
                },
            }
        }
        EventType::StampCreated => {
            let stamp: StampCreated = payload(envelope)?;
            if !stamp.stamp_data.is_object() {
                return Err("stamp_data must be an object".into());
            }
            let correlation_id = if stamp.standalone {
                None
            } else {
                Some(correlation()?)
            };
            Write::RecordStamp {
                correlation_id,
                id: audit_id,
                stamp,
            }
        }
    })
}

/// The envelope's payload as `T`, or why not.
fn payload<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, String> {
    T::deserialize(&envelope.payload).map_err(|err| err.to_string())
}

/// `value` when it is a JSON object; free-form fields must be objects.
fn object(value: Value, field: &str) -> Result<Value, String> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!("{field} must be an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Envelope {
        let path = format!(
            "{}/../../docs/events/samples/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn an_audit_id_is_a_uuid_v7_of_the_event_time_and_the_same_on_every_delivery() {
        let mut envelope = sample("state-transition");
        envelope.event_id = Uuid::new_v4();

        let id = audit_id(&envelope);

        assert_eq!(id.get_version_num(), 7);
        assert_eq!(audit_id(&envelope), id);
        let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(
            (seconds as i64 * 1_000 + i64::from(nanos / 1_000_000)),
            envelope.event_timestamp.timestamp_millis()
        );
        let other = Envelope {
            event_id: Uuid::new_v4(),
            ..envelope.clone()
        };
        assert_ne!(audit_id(&other), id, "another event, another id");
        let v7 = Uuid::now_v7();
        assert_eq!(
            audit_id(&Envelope {
                event_id: v7,
                ..envelope
            }),
            v7
        );
    }
}
