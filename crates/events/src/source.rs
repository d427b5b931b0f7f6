//! Who publishes an event, and building events from it.

use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use crate::{Event, Payload};

/// The publishing node as every envelope names it: the `source_*` fields,
/// the environment and the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The emitting node, e.g. `orchestrator-v1.0.0-3f2a`.
    pub node_id: String,
    /// The emitting service, e.g. `omninode-bridge-orchestrator`.
    pub service: String,
    /// Version of the emitting service.
    pub version: String,
    /// Instance of the emitting service (host, pod).
    pub instance: String,
    /// Deployment environment, e.g. `dev`.
    pub environment: String,
    /// Region, if any.
    pub region: Option<String>,
}

impl Source {
    /// A source of `service` at `version`, node `node_id`, instance `instance`, in `environment`.
    pub fn new(
        node_id: impl Into<String>,
        service: impl Into<String>,
        version: impl Into<String>,
        instance: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        Self {
            node_id: node_id.into(),
            service: service.into(),
            version: version.into(),
            instance: instance.into(),
            environment: environment.into(),
            region: None,
        }
    }

    /// A new event of `payload`, about the workflow `correlation_id` if any:
    /// a fresh UUIDv7 event id, the current time, version 1.0, and the
    /// partition key the contract names ([`Event::message_key`]).
    pub fn event(&self, correlation_id: Option<Uuid>, payload: impl Into<Payload>) -> Event {
        let payload = payload.into();
        let mut event = Event {
            envelope_version: "1.0".into(),
            event_id: Uuid::now_v7(),
            event_type: payload.event_type().as_str().into(),
            event_version: "1.0".into(),
            event_timestamp: Utc::now(),
            source_node_id: self.node_id.clone(),
            source_service: self.service.clone(),
            source_version: self.version.clone(),
            source_instance: self.instance.clone(),
            correlation_id,
            causation_id: None,
            environment: self.environment.clone(),
            region: self.region.clone(),
            partition_key: None,
            payload,
            metadata: Value::Object(Default::default()),
        };
        event.partition_key = Some(event.message_key());
        event
    }
}
