//! The ONEX v1 envelope every bridge event travels in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{EventType, Payload};

/// The ONEX v1 envelope: who sent the event, when, about what, and the payload.
///
/// Every field is required, as the JSON Schema says; the optional ones may be
/// `null`. `P` is the payload: raw JSON as read off the wire, or [`Payload`]
/// once decoded (an [`Event`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = Value> {
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
    pub payload: P,
    /// Free-form context; `{}` when none.
    pub metadata: Value,
}

impl<P> Envelope<P> {
    /// The same envelope with the payload `f` makes of this one's.
    pub fn try_map_payload<Q, E>(
        self,
        f: impl FnOnce(P) -> Result<Q, E>,
    ) -> Result<Envelope<Q>, E> {
        Ok(Envelope {
            payload: f(self.payload)?,
            envelope_version: self.envelope_version,
            event_id: self.event_id,
            event_type: self.event_type,
            event_version: self.event_version,
            event_timestamp: self.event_timestamp,
            source_node_id: self.source_node_id,
            source_service: self.source_service,
            source_version: self.source_version,
            source_instance: self.source_instance,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            environment: self.environment,
            region: self.region,
            partition_key: self.partition_key,
            metadata: self.metadata,
        })
    }
}

/// A decoded event: an envelope whose payload matched its event type's schema.
pub type Event = Envelope<Payload>;

impl Event {
    /// The event type, as its payload says.
    pub fn kind(&self) -> EventType {
        self.payload.event_type()
    }

    /// The id of the audit row this event writes (a transition, a stamp, the
    /// transition of a state change): the event id itself when it is a
    /// UUIDv7, else a UUIDv7 of the event's time whose remaining 80 bits are
    /// the event id's last 10 bytes.
    ///
    /// The audit tables are partitioned by the month in a UUIDv7's time, so
    /// their ids must be UUIDv7; producers commonly send UUIDv4 event ids.
    /// The derived id is the same on every delivery of the event (so a
    /// redelivery stays a no-op) and falls in the month the event happened.
    pub fn audit_id(&self) -> Uuid {
        audit_id(self.event_id, self.event_timestamp)
    }

    /// The message key the contract names: the node id for node events, the
    /// bridge id for aggregations, else the correlation id, else (a
    /// standalone stamp, a transition outside any workflow) the entity or
    /// event id; so one workflow's events of one type stay in one partition.
    pub fn message_key(&self) -> String {
        match &self.payload {
            Payload::NodeRegistered(p) => p.node_id.clone(),
            Payload::NodeHeartbeat(p) => p.node_id.clone(),
            Payload::StateAggregationCompleted(p) => p.bridge_id.to_string(),
            Payload::StateTransition(p) => self.correlation_id.unwrap_or(p.entity_id).to_string(),
            _ => self.correlation_id.unwrap_or(self.event_id).to_string(),
        }
    }

    /// The event as the JSON bytes of a message value.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes: its maps have string keys")
    }
}

/// See [`Event::audit_id`].
fn audit_id(event_id: Uuid, at: DateTime<Utc>) -> Uuid {
    if event_id.get_version_num() == 7 {
        return event_id;
    }
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&event_id.as_bytes()[6..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid()
}

/// Whether `version` is `1` or `1.<minor>[.<patch>]`.
pub(crate) fn is_v1(version: &str) -> bool {
    let mut parts = version.split('.');
    parts.next() == Some("1")
        && parts.all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_id_is_a_uuid_v7_of_the_event_time_and_the_same_on_every_delivery() {
        let at = Utc::now();
        let event_id = Uuid::new_v4();

        let id = audit_id(event_id, at);

        assert_eq!(id.get_version_num(), 7);
        assert_eq!(audit_id(event_id, at), id);
        let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(
            seconds as i64 * 1_000 + i64::from(nanos / 1_000_000),
            at.timestamp_millis()
        );
        assert_ne!(
            audit_id(Uuid::new_v4(), at),
            id,
            "another event, another id"
        );
        let v7 = Uuid::now_v7();
        assert_eq!(audit_id(v7, at), v7);
    }

    #[test]
    fn versions_one_and_its_minors_are_read_others_are_not() {
        for ok in ["1", "1.0", "1.2.3"] {
            assert!(is_v1(ok), "{ok}");
        }
        for refused in ["2", "1.", "1.x", "", "01", "10"] {
            assert!(!is_v1(refused), "{refused}");
        }
    }
}
