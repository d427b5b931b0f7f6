//! A consumed Kafka message, copied out of librdkafka's buffers.

use rdkafka::message::{BorrowedMessage, Headers, Message};

/// One message as consumed: where it came from and its original bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumed {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
    /// The message key, if any.
    pub key: Option<Vec<u8>>,
    /// The message value; empty for a tombstone.
    pub payload: Vec<u8>,
    /// The headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The producer's (or broker's) timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl Consumed {
    /// Copies `message` out of the consumer's buffers.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}
