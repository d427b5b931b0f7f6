//! A consumed (or parked) message with its decoded event.

use bridge_events::{decode, DecodeError, Event, EventType};

use crate::{deferred::DeferredEvent, deferred::WaitsFor, message::Consumed};

/// A message with its decoded event (or why it is not one).
#[derive(Debug, Clone)]
pub struct Item {
    /// The message as consumed (or as parked).
    pub message: Consumed,
    /// Its event, or why it is none.
    pub event: Result<Event, DecodeError>,
    /// Whether, if it must wait, it may wait in memory rather than be parked.
    pub may_hold: bool,
}

impl Item {
    /// Decodes `message`, expecting the event type its topic names under `prefix`.
    pub fn decode(message: Consumed, prefix: &str) -> Self {
        let expected = EventType::from_topic(prefix, &message.topic);
        let event = decode(&message.payload, expected, &message.topic);
        Self {
            message,
            event,
            may_hold: false,
        }
    }

    /// A parked event, decoded again.
    pub fn parked(row: &DeferredEvent) -> Self {
        Self {
            message: row.message(),
            event: decode(&row.payload, None, &row.topic),
            may_hold: false,
        }
    }

    /// The envelope's `event_type`, whenever the message decoded that far.
    pub fn event_type(&self) -> Option<&str> {
        match &self.event {
            Ok(event) => Some(event.kind().as_str()),
            Err(err) => err.event_type(),
        }
    }

    /// The metrics label of its event type: one of the nine, or `unknown`.
    pub fn event_type_label(&self) -> &'static str {
        self.event
            .as_ref()
            .map_or("unknown", |event| event.kind().as_str())
    }

    /// What it brings that other events may wait for: its workflow or node.
    pub fn arrival(&self) -> Option<WaitsFor> {
        use bridge_events::Payload;
        let event = self.event.as_ref().ok()?;
        match &event.payload {
            Payload::WorkflowStarted(_) => event.correlation_id.map(WaitsFor::Workflow),
            Payload::NodeRegistered(node) => Some(WaitsFor::Node(node.node_id.clone())),
            _ => None,
        }
    }
}

/// Whether the items are fresh from Kafka (park what must wait) or already parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Consumed now: events that must wait are parked.
    Kafka,
    /// Re-applied from the parking table: they stay parked.
    Parked,
}
