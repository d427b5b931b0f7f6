//! The consumer group protocol the adapter's members speak.

use clap::ValueEnum;

/// How a group's partitions are assigned (librdkafka's `group.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum GroupProtocol {
    /// The classic protocol: the members assign, cooperative-sticky unless
    /// `-X partition.assignment.strategy` says otherwise; every Kafka broker.
    #[default]
    Classic,
    /// KIP-848: the group coordinator assigns and moves partitions member by
    /// member, with no group-wide join (Kafka 4.0 and later); the session
    /// timeout and heartbeat interval are the broker's settings.
    Consumer,
}

impl GroupProtocol {
    /// librdkafka's name of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Consumer => "consumer",
        }
    }
}
