//! A dead letter read back from `<topic>.dlq`: why it was dead-lettered, and
//! the original message as the adapter consumed it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{dlq::header, message::Consumed};

/// One dead letter: where it sits, the `dlq.*` headers, and the original key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// Its partition.
    pub dlq_partition: i32,
    /// Its offset there.
    pub dlq_offset: i64,
    /// `dlq.reason`, e.g. `dependency_timeout`.
    pub reason: String,
    /// `dlq.topic`: the topic it was consumed from, where a replay sends it.
    pub original_topic: String,
    /// `dlq.partition`: the partition it was consumed from.
    pub original_partition: Option<i32>,
    /// `dlq.event_type`, when the message decoded that far.
    pub event_type: Option<String>,
    /// The original key.
    pub key: Option<Vec<u8>>,
    /// The original value.
    pub payload: Vec<u8>,
    /// The original headers: without the `dlq.*` ones the adapter or a replay added.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// `dlq.replayed_from`: the dead letter an earlier replay re-published this one from.
    pub replayed_from: Option<String>,
    /// When it was dead-lettered (the dead letter's Kafka timestamp).
    pub written_at: Option<DateTime<Utc>>,
}

impl Letter {
    /// Reads `message`, consumed from a dead-letter topic; the problem when
    /// it is not a dead letter of that topic.
    pub(crate) fn parse(message: Consumed) -> Result<Self, String> {
        let text = |name: &str| {
            message
                .headers
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .and_then(|(_, value)| value.as_deref())
                .map(|value| String::from_utf8_lossy(value).into_owned())
        };
        let reason = text(header::REASON)
            .filter(|reason| !reason.is_empty())
            .ok_or_else(|| format!("no {} header", header::REASON))?;
        let original_topic = text(header::TOPIC)
            .filter(|topic| !topic.is_empty())
            .ok_or_else(|| format!("no {} header", header::TOPIC))?;
        let expected = bridge_events::dlq_topic(&original_topic);
        if expected != message.topic {
            return Err(format!(
                "its {} header names {original_topic}, whose dead-letter topic is {expected}",
                header::TOPIC
            ));
        }
        let original_partition = match text(header::PARTITION) {
            None => None,
            Some(partition) => Some(partition.parse().map_err(|_| {
                format!(
                    "its {} header {partition:?} is not a partition",
                    header::PARTITION
                )
            })?),
        };
        let replayed_from = text(header::REPLAYED_FROM);
        let event_type = text(header::EVENT_TYPE).filter(|kind| !kind.is_empty());
        let headers = message
            .headers
            .into_iter()
            .filter(|(key, _)| {
                key != header::REPLAYED_FROM && !header::ADDED.contains(&key.as_str())
            })
            .collect();
        Ok(Self {
            dlq_topic: message.topic,
            dlq_partition: message.partition,
            dlq_offset: message.offset,
            reason,
            original_topic,
            original_partition,
            event_type,
            key: message.key,
            payload: message.payload,
            headers,
            replayed_from,
            written_at: message
                .timestamp_ms
                .and_then(DateTime::from_timestamp_millis),
        })
    }

    /// Where it sits: `<dlq topic>/<partition>/<offset>`, the value of `dlq.replayed_from`.
    pub fn position(&self) -> String {
        format!(
            "{}/{}/{}",
            self.dlq_topic, self.dlq_partition, self.dlq_offset
        )
    }

    /// The `event_id` of its envelope, when the value is JSON that has one.
    pub fn event_id(&self) -> Option<Uuid> {
        #[derive(serde::Deserialize)]
        struct Id {
            event_id: Uuid,
        }
        serde_json::from_slice::<Id>(&self.payload)
            .ok()
            .map(|id| id.event_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumed(headers: &[(&str, &str)]) -> Consumed {
        Consumed {
            topic: "p.step-completed.v1.dlq".into(),
            partition: 0,
            offset: 7,
            key: Some(b"k".to_vec()),
            payload: br#"{"event_id":"0190b8a6-7e4e-7c9a-9b1e-0a0b0c0d0e0f"}"#.to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
            timestamp_ms: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn a_dead_letter_keeps_only_its_original_headers() {
        let letter = Letter::parse(consumed(&[
            ("trace", "abc"),
            ("dlq.replayed_from", "p.step-completed.v1.dlq/0/1"),
            ("dlq.reason", "dependency_timeout"),
            ("dlq.error", "waited"),
            ("dlq.topic", "p.step-completed.v1"),
            ("dlq.partition", "2"),
            ("dlq.offset", "9"),
            ("dlq.event_type", "step-completed"),
        ]))
        .expect("a dead letter");
        assert_eq!(
            letter.headers,
            [("trace".to_string(), Some(b"abc".to_vec()))]
        );
        assert_eq!(letter.reason, "dependency_timeout");
        assert_eq!(letter.original_partition, Some(2));
        assert_eq!(
            letter.replayed_from.as_deref(),
            Some("p.step-completed.v1.dlq/0/1")
        );
        assert_eq!(letter.position(), "p.step-completed.v1.dlq/0/7");
        assert_eq!(
            letter.event_id().map(|id| id.to_string()).as_deref(),
            Some("0190b8a6-7e4e-7c9a-9b1e-0a0b0c0d0e0f")
        );
    }

    #[test]
    fn a_message_without_the_dead_letter_headers_is_refused() {
        let problem = Letter::parse(consumed(&[("trace", "abc")])).unwrap_err();
        assert_eq!(problem, "no dlq.reason header");
        let problem = Letter::parse(consumed(&[
            ("dlq.reason", "invalid_payload"),
            ("dlq.topic", "p.stamp-created.v1"),
        ]))
        .unwrap_err();
        assert!(problem.contains("p.stamp-created.v1.dlq"), "{problem}");
    }
}
