//! The dead-letter producer: poison messages to `<topic>.dlq`, original
//! bytes and headers, plus headers naming the error and where it came from.

use std::time::Duration;

use futures_util::future::try_join_all;
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    ClientConfig,
};

use bridge_events::dlq_topic;
use rdkafka::error::KafkaError;

use crate::{error::AdapterError, message::Consumed};

/// The names of the headers a dead letter carries beside the original ones.
pub mod header {
    /// Short stable reason, e.g. `invalid_payload`.
    pub const REASON: &str = "dlq.reason";
    /// The full error.
    pub const ERROR: &str = "dlq.error";
    /// The topic the message was consumed from.
    pub const TOPIC: &str = "dlq.topic";
    /// The partition it was consumed from.
    pub const PARTITION: &str = "dlq.partition";
    /// Its offset in that partition.
    pub const OFFSET: &str = "dlq.offset";
    /// The event type, when the message decoded that far; empty otherwise.
    pub const EVENT_TYPE: &str = "dlq.event_type";
    /// Set by `bridge-adapter dlq replay` on a re-published message: the
    /// dead letter it came from, `<dlq topic>/<partition>/<offset>`.
    pub const REPLAYED_FROM: &str = "dlq.replayed_from";
    /// Every header the adapter adds when it dead-letters a message.
    pub const ADDED: [&str; 6] = [REASON, ERROR, TOPIC, PARTITION, OFFSET, EVENT_TYPE];
}

/// How long one dead-letter delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One message to dead-letter, with why.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// The original message.
    pub message: &'a Consumed,
    /// Short stable reason, e.g. `invalid_payload`.
    pub reason: &'a str,
    /// The full error.
    pub error: String,
    /// The event type, when known.
    pub event_type: Option<&'a str>,
}

/// A dead letter the broker did not acknowledge: the offset stays uncommitted and it is sent again.
#[derive(Debug, thiserror::Error)]
#[error("dead-lettering to {topic}: {source}")]
pub struct DeadLetterError {
    /// The dead-letter topic.
    pub topic: String,
    /// librdkafka's error.
    #[source]
    pub source: KafkaError,
}

/// Sends dead letters with `acks=all` and waits for each delivery.
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
}

impl DeadLetters {
    /// A producer on `brokers` with the pass-through librdkafka `properties`.
    pub fn new(brokers: &str, properties: &[(String, String)]) -> Result<Self, AdapterError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("message.timeout.ms", "10000")
            .set("linger.ms", "0");
        for (name, value) in properties {
            config.set(name, value);
        }
        let producer = config
            .create()
            .map_err(|err| AdapterError::kafka("creating the dead-letter producer", err))?;
        Ok(Self { producer })
    }

    /// Sends every letter and waits until the broker has them all; any failure fails the call.
    pub async fn send_all(&self, letters: &[DeadLetter<'_>]) -> Result<(), DeadLetterError> {
        try_join_all(letters.iter().map(|letter| self.send(letter))).await?;
        Ok(())
    }

    async fn send(&self, letter: &DeadLetter<'_>) -> Result<(), DeadLetterError> {
        let message = letter.message;
        let topic = dlq_topic(&message.topic);
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len() + 6);
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let partition = message.partition.to_string();
        let offset = message.offset.to_string();
        for (key, value) in [
            (header::REASON, letter.reason),
            (header::ERROR, letter.error.as_str()),
            (header::TOPIC, message.topic.as_str()),
            (header::PARTITION, &partition),
            (header::OFFSET, &offset),
            (header::EVENT_TYPE, letter.event_type.unwrap_or("")),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(&topic)
            .payload(&message.payload)
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key);
        }
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(source, _)| DeadLetterError { topic, source })
    }
}
