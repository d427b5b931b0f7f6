//! The ONEX v1 envelope every bridge event travels in, and the event types.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The ONEX v1 envelope: who sent the event, when, about what, and the payload.
///
/// Every field is required, as the JSON Schema says; the optional ones may be `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope format version: `1` or `1.<minor>`.
    pub envelope_version: String,
    /// Unique id of the event; becomes the id of the row, state change or delta it writes.
    pub event_id: Uuid,
    /// What happened, e.g. `workflow-started`; must match the topic.
    pub event_type: String,
    /// Payload version: `1` or `1.<minor>`.
    pub event_version: String,
    /// When the event happened at its source.
    pub event_timestamp: DateTime<Utc>,
    /// The emitting node, e.g. `orchestrator-v1.0.0-3f2a`.
    pub source_node_id: String,
    /// The emitting service, e.g. `omninode-bridge-orchestrator`.
    pub source_service: String,
    /// Version of the emitting service.
    pub source_version: String,
    /// Instance of the emitting service (host, pod).
    pub source_instance: String,
    /// The workflow the event belongs to; required by workflow, step and stamp events.
    #[serde(deserialize_with = "Option::deserialize")]
    pub correlation_id: Option<Uuid>,
    /// The event that caused this one, if any.
    #[serde(deserialize_with = "Option::deserialize")]
    pub causation_id: Option<Uuid>,
    /// Deployment environment, e.g. `dev`.
    pub environment: String,
    /// Region of the source, if any.
    #[serde(deserialize_with = "Option::deserialize")]
    pub region: Option<String>,
    /// The key the producer partitioned by, if any.
    #[serde(deserialize_with = "Option::deserialize")]
    pub partition_key: Option<String>,
    /// The event's data: the row to write (see the event contract).
    pub payload: Value,
    /// Free-form context; `{}` when none.
    pub metadata: Value,
}

/// `{}`, the default of every free-form object.
pub(crate) fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Whether `version` is `1` or `1.<minor>[.<patch>]`.
pub(crate) fn is_v1(version: &str) -> bool {
    let mut parts = version.split('.');
    parts.next() == Some("1")
        && parts.all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

macro_rules! event_types {
    ($($variant:ident => $name:literal,)+) => {
        /// The bridge events the adapter persists; each has a topic of its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(#[doc = concat!("`", $name, "`")] $variant,)+
        }

        impl EventType {
            /// Every event type, in the order a batch applies them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name used in `event_type` and in the topic, e.g. `workflow-started`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl FromStr for EventType {
            type Err = String;

            fn from_str(name: &str) -> Result<Self, String> {
                match name {
                    $($name => Ok(Self::$variant),)+
                    other => Err(format!("unknown event type {other:?}")),
                }
            }
        }
    };
}

// Declared in apply order: what others depend on comes first.
event_types! {
    WorkflowStarted => "workflow-started",
    NodeRegistered => "node-registered",
    StepCompleted => "step-completed",
    StateTransition => "state-transition",
    StateAggregationCompleted => "state-aggregation-completed",
    NodeHeartbeat => "node-heartbeat",
    StampCreated => "stamp-created",
    WorkflowCompleted => "workflow-completed",
    WorkflowFailed => "workflow-failed",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventType {
    /// Topic of this event under `prefix`: `{prefix}.{event}.v1`, e.g.
    /// `dev.omninode_bridge.onex.evt.workflow-started.v1`.
    pub fn topic(self, prefix: &str) -> String {
        format!("{prefix}.{}.v1", self.as_str())
    }

    /// The event type whose topic under `prefix` is `topic`.
    pub fn from_topic(prefix: &str, topic: &str) -> Option<Self> {
        let name = topic
            .strip_prefix(prefix)?
            .strip_prefix('.')?
            .strip_suffix(".v1")?;
        name.parse().ok()
    }
}

/// The dead-letter topic of `topic`: `<topic>.dlq`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}
