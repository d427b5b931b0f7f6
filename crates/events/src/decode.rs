//! Reading a message value into an [`Event`], or the reason it is none.

use serde::Deserialize;

use crate::{envelope::is_v1, Envelope, Event, EventType, Payload};

/// How deeply a message's JSON may nest, counting the envelope object itself
/// (serde_json's recursion limit): a deeper message is `invalid_envelope`.
pub const MAX_JSON_DEPTH: usize = 127;

/// Why a message is not a valid event; it goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, nested too deeply, or not an envelope (a field missing or of the wrong type).
    #[error("not an ONEX v1 envelope: {reason}")]
    Envelope {
        /// The envelope's `event_type`, when it could be read.
        event_type: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// `event_type` names no event the contract knows.
    #[error("unknown event type {event_type:?}")]
    UnknownType {
        /// The envelope's `event_type`.
        event_type: String,
    },
    /// A version other than 1.x.
    #[error("unsupported {field} {version:?}: this contract is 1.x")]
    Version {
        /// The envelope's `event_type`.
        event_type: String,
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
            Self::Envelope { .. } => "invalid_envelope",
            Self::UnknownType { .. } => "unknown_event_type",
            Self::Version { .. } => "unsupported_version",
            Self::WrongTopic { .. } => "wrong_topic",
            Self::Payload { .. } => "invalid_payload",
        }
    }

    /// The envelope's `event_type`, whenever the message decoded that far.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            Self::Envelope { event_type, .. } => event_type.as_deref(),
            Self::UnknownType { event_type }
            | Self::Version { event_type, .. }
            | Self::WrongTopic { event_type, .. } => Some(event_type),
            Self::Payload { event_type, .. } => Some(event_type.as_str()),
        }
    }
}

/// Decodes a message value consumed from `topic` into the event it carries;
/// `expected` is the event type the topic names, when it names one.
pub fn decode(
    bytes: &[u8],
    expected: Option<EventType>,
    topic: &str,
) -> Result<Event, DecodeError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|err| DecodeError::Envelope {
            event_type: event_type_of(bytes),
            reason: err.to_string(),
        })?;
    if !envelope.metadata.is_object() || !envelope.payload.is_object() {
        return Err(DecodeError::Envelope {
            event_type: Some(envelope.event_type),
            reason: "payload and metadata must be JSON objects".into(),
        });
    }
    for (field, version) in [
        ("envelope_version", &envelope.envelope_version),
        ("event_version", &envelope.event_version),
    ] {
        if !is_v1(version) {
            return Err(DecodeError::Version {
                field,
                version: version.clone(),
                event_type: envelope.event_type.clone(),
            });
        }
    }
    let Ok(kind) = envelope.event_type.parse::<EventType>() else {
        return Err(DecodeError::UnknownType {
            event_type: envelope.event_type,
        });
    };
    if expected.is_some_and(|expected| expected != kind) {
        return Err(DecodeError::WrongTopic {
            event_type: envelope.event_type,
            topic: topic.to_owned(),
        });
    }
    let refused = |reason| DecodeError::Payload {
        event_type: kind,
        reason,
    };
    let has_correlation = envelope.correlation_id.is_some();
    envelope.try_map_payload(|payload| {
        let payload = Payload::from_json(kind, payload).map_err(refused)?;
        payload.check(has_correlation).map_err(refused)?;
        Ok(payload)
    })
}

/// The `event_type` of a message that is not a whole envelope, when it is a
/// JSON object with a string `event_type` (only read on that error path;
/// serde_json skips the other fields without recursing).
fn event_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct TypeOnly {
        event_type: String,
    }
    serde_json::from_slice::<TypeOnly>(bytes)
        .ok()
        .map(|only| only.event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid `workflow-started` whose JSON nests `depth` levels, counting the envelope.
    fn nested(depth: usize) -> Vec<u8> {
        let metadata = "{\"a\":".repeat(depth - 2) + "{}" + &"}".repeat(depth - 2);
        format!(
            r#"{{"envelope_version":"1","event_id":"0193a1f0-0001-7000-8000-000000000001",
            "event_type":"workflow-started","event_version":"1","event_timestamp":"2026-01-01T00:00:00Z",
            "source_node_id":"n","source_service":"s","source_version":"1","source_instance":"i",
            "correlation_id":"0193a1f0-0001-7000-8000-000000000002","causation_id":null,
            "environment":"e","region":null,"partition_key":null,
            "payload":{{"workflow_type":"t","namespace":"n"}},"metadata":{metadata}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn json_nested_up_to_the_limit_decodes_and_deeper_is_an_invalid_envelope_of_its_type() {
        assert!(decode(&nested(MAX_JSON_DEPTH), None, "t").is_ok());
        let err = decode(&nested(MAX_JSON_DEPTH + 1), None, "t").unwrap_err();
        assert_eq!(err.reason(), "invalid_envelope");
        assert_eq!(err.event_type(), Some("workflow-started"));
    }
}
