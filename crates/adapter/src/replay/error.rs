//! Why a `dlq` command failed, and the exit code each failure gets.

use std::time::Duration;

use rdkafka::error::KafkaError;

/// A failed `dlq list` or `dlq replay`; each kind has an exit code of its own.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// A `--topic` names no event topic under the prefix, or the broker lacks its dead-letter topic.
    #[error("--topic {given:?}: {problem}")]
    UnknownTopic {
        /// The name as given.
        given: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A chosen dead letter's original topic (its `dlq.topic` header) is not on the broker.
    #[error("the dead letter {from} belongs to {topic} (its dlq.topic header), which the broker does not have; nothing from it onwards was published or recorded as done (create the topic, or check --brokers, then rerun)")]
    OriginalTopicMissing {
        /// `<dlq topic>/<partition>/<offset>`.
        from: String,
        /// The original topic.
        topic: String,
    },
    /// The brokers did not answer in time (or stopped answering mid-command).
    #[error("the Kafka brokers {brokers} did not answer within {}s while {doing}: {source}; retry when they are reachable (a replay continues where it stopped)", timeout.as_secs())]
    BrokerUnreachable {
        /// The bootstrap servers.
        brokers: String,
        /// How long the command waited.
        timeout: Duration,
        /// What the command was doing.
        doing: String,
        /// librdkafka's error.
        source: Box<KafkaError>,
    },
    /// A message on a dead-letter topic lacks what the adapter writes on a dead letter.
    #[error("{topic} partition {partition} offset {offset} is not a dead letter: {problem}; nothing was published or removed from it onwards (pass --skip-invalid to replay past it)")]
    NotADeadLetter {
        /// The dead-letter topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// The message's offset.
        offset: i64,
        /// Which header is missing or wrong.
        problem: String,
    },
    /// The broker did not acknowledge a re-published dead letter.
    #[error("re-publishing the dead letter {from} to {to}: {source}; its chunk is not recorded as done, so rerunning continues from it (duplicates are absorbed by event id)")]
    Publish {
        /// `<dlq topic>/<partition>/<offset>`.
        from: String,
        /// The original topic.
        to: String,
        /// librdkafka's error.
        source: Box<KafkaError>,
    },
    /// The replay's progress (its group's offsets) could not be committed.
    #[error("recording the progress of replay group {group}: {source}; rerunning re-publishes at most the last chunk, which the adapter absorbs by event id")]
    Progress {
        /// The replay's consumer group.
        group: String,
        /// librdkafka's error.
        source: Box<KafkaError>,
    },
    /// A Kafka client could not be created, or failed otherwise.
    #[error("{context}: {message}")]
    Kafka {
        /// What was being done.
        context: String,
        /// The error, with secret property values redacted.
        message: String,
    },
}

impl DlqError {
    /// The process exit code; 2 is clap's, for usage errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Kafka { .. } => 1,
            Self::UnknownTopic { .. } | Self::OriginalTopicMissing { .. } => 3,
            Self::BrokerUnreachable { .. } => 4,
            Self::NotADeadLetter { .. } => 5,
            Self::Publish { .. } => 6,
            Self::Progress { .. } => 7,
        }
    }

    /// Whether running the same command again can succeed without changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::BrokerUnreachable { .. } | Self::Publish { .. } | Self::Progress { .. }
        )
    }
}
