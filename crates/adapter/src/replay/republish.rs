//! `dlq replay`: re-publishes the chosen dead letters to their original
//! topics, recording how far it got in a consumer group of the selection's own.
//!
//! Each run reads every dead-letter partition from the group's committed
//! offset to the end it had when the run started. A chosen dead letter is
//! produced (idempotent producer, `acks=all`); after every [`CHUNK`] the run
//! waits for all acknowledgements and only then commits the offsets read, so
//! a second run starts after what the first finished. A crash between an
//! acknowledgement and its commit re-publishes at most that chunk, which the
//! adapter absorbs by event id.

use std::{collections::HashMap, sync::Arc, time::Duration};

use indicatif::ProgressBar;
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    Offset, TopicPartitionList,
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    clients::{blocking, Kafka},
    error::DlqError,
    letter::Letter,
    reader::{spans, Span, TopicReader},
    selection::{Selection, Verdict},
    topics,
};
use crate::dlq::header;

/// Most re-published dead letters awaiting acknowledgement before the progress is committed.
pub const CHUNK: usize = 200;

/// What a replay is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Which dead letters.
    pub selection: Selection,
    /// Report what would be re-published; publish and commit nothing.
    pub dry_run: bool,
    /// Count and pass over messages that are not dead letters instead of stopping at the first.
    pub skip_invalid: bool,
    /// The consumer group recording progress; default: [`Selection::group_id`].
    pub group: Option<String>,
}

/// What a replay did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The consumer group that records its progress.
    pub group: String,
    /// Whether nothing was published or committed.
    pub dry_run: bool,
    /// Messages read from the dead-letter topics in this run.
    pub read: u64,
    /// Dead letters re-published and acknowledged (dry: that would be).
    pub replayed: u64,
    /// Dead letters outside the selection.
    pub not_selected: u64,
    /// Dead letters that came back from an earlier replay, skipped.
    pub replayed_before: u64,
    /// Messages that are not dead letters, passed over under `--skip-invalid`.
    pub not_dead_letters: u64,
    /// The dead letters a dry run would re-publish.
    pub letters: Vec<Replayed>,
}

/// One dead letter a dry run would re-publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// `<dlq topic>/<partition>/<offset>`.
    pub from: String,
    /// The original topic.
    pub to: String,
    /// `dlq.reason`.
    pub reason: String,
    /// The envelope's event id, when it has one.
    pub event_id: Option<Uuid>,
}

/// Replays the dead letters `options` chooses from the dead-letter topics
/// under `prefix`, advancing `progress` per message read.
pub async fn replay(
    kafka: &Kafka,
    prefix: &str,
    options: &ReplayOptions,
    progress: &ProgressBar,
) -> Result<ReplayReport, DlqError> {
    let selection = &options.selection;
    let wanted = topics::resolve(prefix, &selection.topics)?;
    let group = options
        .group
        .clone()
        .unwrap_or_else(|| selection.group_id(&wanted));
    let consumer = kafka.consumer(&group)?;
    let existing = kafka.topics(&consumer).await?;
    let found = topics::on_broker(wanted, !selection.topics.is_empty(), &existing)?;
    let producer = match options.dry_run {
        true => None,
        false => Some(kafka.producer()?),
    };
    let mut plan = Vec::with_capacity(found.len());
    for (topic, partitions) in found {
        let spans = spans(kafka, &consumer, &topic, partitions, true).await?;
        plan.push((topic, spans));
    }
    progress.set_length(
        plan.iter()
            .flat_map(|(_, spans)| spans)
            .map(Span::len)
            .sum(),
    );
    tracing::info!(%group, dry_run = options.dry_run, "replaying dead letters");
    let mut run = Run {
        kafka,
        options,
        consumer,
        producer,
        existing,
        progress,
        report: ReplayReport {
            group,
            dry_run: options.dry_run,
            ..ReplayReport::default()
        },
    };
    for (topic, spans) in plan {
        run.topic(&topic, &spans).await?;
    }
    progress.finish_and_clear();
    Ok(run.report)
}

/// One replay under way.
struct Run<'a> {
    kafka: &'a Kafka,
    options: &'a ReplayOptions,
    consumer: Arc<StreamConsumer>,
    producer: Option<FutureProducer>,
    /// Topic to partition count, on the broker.
    existing: HashMap<String, i32>,
    progress: &'a ProgressBar,
    report: ReplayReport,
}

/// Re-published dead letters not yet acknowledged, and the offsets read since the last commit.
#[derive(Default)]
struct Chunk {
    deliveries: Vec<(String, String, DeliveryFuture)>,
    /// Partition to the next offset to read.
    read_to: HashMap<i32, i64>,
}

impl Run<'_> {
    /// Replays `spans` of dead-letter topic `topic`.
    async fn topic(&mut self, topic: &str, spans: &[Span]) -> Result<(), DlqError> {
        let mut reader = TopicReader::start(self.kafka, self.consumer.clone(), topic, spans)?;
        let mut chunk = Chunk::default();
        while let Some(message) = reader.next().await? {
            self.progress.inc(1);
            self.report.read += 1;
            let (partition, offset) = (message.partition, message.offset);
            match Letter::parse(message) {
                Ok(letter) => {
                    if let Err(err) = self.take(letter, &mut chunk).await {
                        // What was produced before it is awaited and recorded;
                        // it and what follows are not.
                        self.flush(topic, &mut chunk).await?;
                        return Err(err);
                    }
                }
                Err(problem) if self.options.skip_invalid => {
                    tracing::warn!(%topic, partition, offset, %problem, "not a dead letter; passed over");
                    self.report.not_dead_letters += 1;
                }
                Err(problem) => {
                    self.flush(topic, &mut chunk).await?;
                    return Err(DlqError::NotADeadLetter {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        problem,
                    });
                }
            }
            chunk.read_to.insert(partition, offset + 1);
            if chunk.deliveries.len() >= CHUNK {
                self.flush(topic, &mut chunk).await?;
            }
        }
        self.flush(topic, &mut chunk).await
    }

    /// Re-publishes `letter` when the selection takes it; counts it either way.
    async fn take(&mut self, letter: Letter, chunk: &mut Chunk) -> Result<(), DlqError> {
        match self.options.selection.verdict(&letter) {
            Verdict::NotSelected => self.report.not_selected += 1,
            Verdict::ReplayedBefore => self.report.replayed_before += 1,
            Verdict::Selected => match &self.producer {
                None => {
                    self.report.replayed += 1;
                    self.report.letters.push(Replayed {
                        from: letter.position(),
                        to: letter.original_topic.clone(),
                        reason: letter.reason.clone(),
                        event_id: letter.event_id(),
                    });
                }
                Some(producer) => {
                    let delivery = publish(producer, &letter, &self.existing).await?;
                    chunk
                        .deliveries
                        .push((letter.position(), letter.original_topic, delivery));
                }
            },
        }
        Ok(())
    }

    /// Waits for every acknowledgement of `chunk`, then commits the offsets it read.
    async fn flush(&mut self, topic: &str, chunk: &mut Chunk) -> Result<(), DlqError> {
        for (from, to, delivery) in chunk.deliveries.drain(..) {
            match delivery.await {
                Ok(Ok(_)) => self.report.replayed += 1,
                Ok(Err((source, _))) => {
                    return Err(DlqError::Publish {
                        from,
                        to,
                        source: Box::new(source),
                    })
                }
                Err(_) => {
                    return Err(DlqError::Publish {
                        from,
                        to,
                        source: Box::new(KafkaError::Canceled),
                    })
                }
            }
        }
        if self.options.dry_run || chunk.read_to.is_empty() {
            chunk.read_to.clear();
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &chunk.read_to {
            offsets
                .add_partition_offset(topic, partition, Offset::Offset(next))
                .map_err(|source| self.progress_error(source))?;
        }
        chunk.read_to.clear();
        let consumer = self.consumer.clone();
        blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(|source| self.progress_error(source))
    }

    fn progress_error(&self, source: KafkaError) -> DlqError {
        DlqError::Progress {
            group: self.report.group.clone(),
            source: Box::new(source),
        }
    }
}

/// Produces `letter` to its original topic, with its original key, value and
/// headers plus `dlq.replayed_from`, to its original partition while the
/// topic still has it (else the key decides); the acknowledgement to await.
async fn publish(
    producer: &FutureProducer,
    letter: &Letter,
    existing: &HashMap<String, i32>,
) -> Result<DeliveryFuture, DlqError> {
    let from = letter.position();
    let Some(&partitions) = existing.get(&letter.original_topic) else {
        return Err(DlqError::OriginalTopicMissing {
            from,
            topic: letter.original_topic.clone(),
        });
    };
    let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len() + 1);
    for (key, value) in &letter.headers {
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    headers = headers.insert(Header {
        key: header::REPLAYED_FROM,
        value: Some(from.as_bytes()),
    });
    let mut record = FutureRecord::<[u8], [u8]>::to(&letter.original_topic)
        .payload(&letter.payload)
        .headers(headers);
    if let Some(key) = &letter.key {
        record = record.key(key);
    }
    if let Some(partition) = letter.original_partition.filter(|p| *p < partitions) {
        record = record.partition(partition);
    }
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((source, _)) => {
                return Err(DlqError::Publish {
                    from,
                    to: letter.original_topic.clone(),
                    source: Box::new(source),
                })
            }
        }
    }
}
