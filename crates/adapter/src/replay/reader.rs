//! Reads a dead-letter topic's partitions from where a command starts to
//! where they ended when it started.

use std::{collections::HashMap, sync::Arc};

use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
    types::RDKafkaErrorCode,
    Offset, TopicPartitionList,
};

use super::{
    clients::{blocking, Kafka},
    error::DlqError,
};
use crate::message::Consumed;

/// The offsets `[start, end)` of one partition that a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The partition.
    pub partition: i32,
    /// The first offset to read.
    pub start: i64,
    /// One past the last offset to read: the high watermark when the command started.
    pub end: i64,
}

impl Span {
    /// How many offsets it covers.
    pub fn len(&self) -> u64 {
        (self.end - self.start).max(0) as u64
    }

    /// Whether it covers nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The spans of `topic`'s `partitions`: from the consumer group's committed
/// offset when `resume` (else the first offset kept) to the high watermark.
pub async fn spans(
    kafka: &Kafka,
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    partitions: i32,
    resume: bool,
) -> Result<Vec<Span>, DlqError> {
    let reader = consumer.clone();
    let name = topic.to_owned();
    let timeout = kafka.timeout;
    let marks = blocking(move || {
        (0..partitions)
            .map(|partition| reader.fetch_watermarks(&name, partition, timeout))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|err| kafka.unreachable(format!("reading the offsets of {topic}"), err))?;
    let committed = if resume {
        let reader = consumer.clone();
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = blocking(move || reader.committed_offsets(list, timeout))
            .await
            .map_err(|err| {
                kafka.unreachable(format!("reading the replay's progress on {topic}"), err)
            })?;
        (0..partitions)
            .map(|partition| {
                match committed
                    .find_partition(topic, partition)
                    .map(|p| p.offset())
                {
                    Some(Offset::Offset(offset)) => offset,
                    _ => 0,
                }
            })
            .collect()
    } else {
        vec![0; partitions as usize]
    };
    Ok(marks
        .into_iter()
        .zip(committed)
        .enumerate()
        .map(|(partition, ((low, high), committed))| Span {
            partition: partition as i32,
            start: committed.max(low),
            end: high,
        })
        .collect())
}

/// Reads the spans of one topic, each partition in offset order.
pub struct TopicReader<'a> {
    kafka: &'a Kafka,
    consumer: Arc<StreamConsumer>,
    topic: String,
    /// Partitions not finished, with their end.
    open: HashMap<i32, i64>,
}

impl<'a> TopicReader<'a> {
    /// Assigns `consumer` the non-empty `spans` of `topic`.
    pub fn start(
        kafka: &'a Kafka,
        consumer: Arc<StreamConsumer>,
        topic: &str,
        spans: &[Span],
    ) -> Result<Self, DlqError> {
        let mut list = TopicPartitionList::new();
        let mut open = HashMap::new();
        for span in spans.iter().filter(|span| !span.is_empty()) {
            list.add_partition_offset(topic, span.partition, Offset::Offset(span.start))
                .map_err(|err| kafka.unreachable(format!("assigning {topic}"), err))?;
            open.insert(span.partition, span.end);
        }
        consumer
            .assign(&list)
            .map_err(|err| kafka.unreachable(format!("assigning {topic}"), err))?;
        Ok(Self {
            kafka,
            consumer,
            topic: topic.to_owned(),
            open,
        })
    }

    /// The next message of a span, or `None` once every span is read.
    pub(crate) async fn next(&mut self) -> Result<Option<Consumed>, DlqError> {
        loop {
            if self.open.is_empty() {
                return Ok(None);
            }
            let received = tokio::time::timeout(self.kafka.timeout, self.consumer.recv())
                .await
                .map_err(|_| {
                    self.kafka.unreachable(
                        format!("reading {}", self.topic),
                        KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut),
                    )
                })?;
            let message = match received {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(partition)) => {
                    self.open.remove(&partition);
                    continue;
                }
                Err(err) => {
                    return Err(self
                        .kafka
                        .unreachable(format!("reading {}", self.topic), err))
                }
            };
            let consumed = Consumed::from_message(&message);
            if consumed.topic != self.topic {
                continue;
            }
            let Some(&end) = self.open.get(&consumed.partition) else {
                continue;
            };
            if consumed.offset + 1 >= end {
                // Its last offset, or past it (the offsets before the end
                // held no message: a transaction marker, a compacted record):
                // the partition is done, whatever arrives on it after.
                self.open.remove(&consumed.partition);
            }
            if consumed.offset >= end {
                continue;
            }
            return Ok(Some(consumed));
        }
    }
}
