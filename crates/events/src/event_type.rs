//! The event types, each with a topic of its own.

use std::{fmt, str::FromStr};

/// The topic prefix `{env}.{tenant}.onex.evt` of a development deployment.
pub const DEFAULT_TOPIC_PREFIX: &str = "dev.omninode_bridge.onex.evt";

macro_rules! event_types {
    ($($variant:ident => $name:literal,)+) => {
        /// The bridge events; each has a topic of its own.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_names_its_event_type_back() {
        for &kind in EventType::ALL {
            let topic = kind.topic(DEFAULT_TOPIC_PREFIX);
            assert_eq!(
                EventType::from_topic(DEFAULT_TOPIC_PREFIX, &topic),
                Some(kind)
            );
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
            assert_eq!(EventType::from_topic("other.prefix", &topic), None);
        }
        assert_eq!(
            EventType::from_topic(DEFAULT_TOPIC_PREFIX, "dev.omninode_bridge.onex.evt.nope.v1"),
            None
        );
    }
}
