//! Publishing events: an idempotent `acks=all` producer that picks the topic and key the contract names.

use std::time::Duration;

use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    ClientConfig,
};

use crate::Event;

/// Where the broker stored a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic, `{prefix}.{event}.v1`.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The producer could not be created (a bad librdkafka property).
    #[error("creating the producer: {0}")]
    Create(#[source] KafkaError),
    /// The event breaks the contract; publishing it again cannot succeed.
    #[error("event {event_id} breaks the contract: {reason}")]
    Invalid {
        /// The event's id.
        event_id: uuid::Uuid,
        /// What is wrong.
        reason: String,
    },
    /// The broker did not acknowledge the event within the delivery timeout, or refused it.
    #[error("publishing to {topic}: {source}")]
    Delivery {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
}

impl PublishError {
    /// Whether publishing the same event again can succeed (the adapter
    /// absorbs a duplicate by its event id).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Create(_) | Self::Invalid { .. } => false,
            Self::Delivery { source, .. } => !matches!(
                source.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::MessageSizeTooLarge
                        | RDKafkaErrorCode::InvalidMessageSize
                        | RDKafkaErrorCode::TopicAuthorizationFailed
                        | RDKafkaErrorCode::ClusterAuthorizationFailed
                        | RDKafkaErrorCode::Fatal
                )
            ),
        }
    }
}

/// Publishes events to the topics under a prefix, each acknowledged by every in-sync replica.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A producer on `brokers` for the topics under `prefix`: idempotent,
    /// `acks=all`, then the librdkafka `properties` (e.g. SASL and TLS), which win.
    pub fn new(
        brokers: &str,
        prefix: &str,
        properties: &[(String, String)],
    ) -> Result<Self, PublishError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5");
        for (name, value) in properties {
            config.set(name, value);
        }
        let timeout = config
            .get("message.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(300), Duration::from_millis);
        Ok(Self {
            producer: config.create().map_err(PublishError::Create)?,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// Publishes `event` to its topic, keyed as the contract says, and
    /// waits for the broker's acknowledgement.
    pub async fn publish(&self, event: &Event) -> Result<Delivery, PublishError> {
        let invalid = |reason: String| PublishError::Invalid {
            event_id: event.event_id,
            reason,
        };
        if event.event_type != event.kind().as_str() {
            return Err(invalid(format!(
                "event_type {:?} but a {} payload",
                event.event_type,
                event.kind()
            )));
        }
        event
            .payload
            .check(event.correlation_id.is_some())
            .map_err(invalid)?;
        let topic = event.kind().topic(&self.prefix);
        let key = event.message_key();
        let bytes = event.to_bytes();
        let record = FutureRecord::to(&topic).key(&key).payload(&bytes);
        match self.producer.send(record, self.timeout).await {
            Ok(delivered) => Ok(Delivery {
                topic,
                partition: delivered.partition,
                offset: delivered.offset,
            }),
            Err((source, _)) => Err(PublishError::Delivery { topic, source }),
        }
    }
}
