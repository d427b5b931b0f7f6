#![doc = include_str!("../README.md")]

mod constructors;
mod decode;
mod envelope;
mod event_type;
mod payload;
#[cfg(feature = "producer")]
mod producer;
mod source;

pub use decode::{decode, DecodeError, MAX_JSON_DEPTH};
pub use envelope::{Envelope, Event};
pub use event_type::{dlq_topic, EventType, DEFAULT_TOPIC_PREFIX};
pub use payload::{
    NodeHeartbeat, NodeRegistered, Payload, StampCreated, StateAggregationCompleted,
    StateTransition, StepCompleted, WorkflowCompleted, WorkflowFailed, WorkflowStarted,
};
#[cfg(feature = "producer")]
pub use producer::{Delivery, PublishError, Publisher};
pub use source::Source;
