//! A member that owns no partition while its group leaves messages
//! uncommitted is not healthy: the group is stuck and this member is not
//! helping (a broker that never handed it the partitions of a dead member).

use std::time::Duration;

use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    Offset, TopicPartitionList,
};

use super::Loop;
use crate::{context::AdapterContext, metrics as m};

/// How long the group-wide lookups may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// librdkafka's default `session.timeout.ms`.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// How often an unassigned member looks at its group's backlog.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(2);

impl Loop {
    /// Marks `/health` unhealthy when this member has owned no partition for
    /// longer than the session timeout while its topics hold messages its
    /// group has not committed; healthy again once they are committed.
    pub(super) async fn check_unassigned(&self) {
        let Some(unassigned) = self.health.unassigned_for() else {
            return;
        };
        if unassigned < self.session_timeout() {
            return;
        }
        let consumer = self.consumer.clone();
        let topics = self.config.event_topics();
        let backlog = tokio::task::spawn_blocking(move || uncommitted(&consumer, &topics)).await;
        match backlog {
            Ok(Ok(messages)) => {
                metrics::gauge!(m::UNASSIGNED_BACKLOG).set(messages as f64);
                self.health.set_starved((messages > 0).then(|| format!(
                    "no partition assigned for {}s while the group has {messages} messages not committed",
                    unassigned.as_secs()
                )));
            }
            Ok(Err(err)) => tracing::warn!(%err, "looking up the group's uncommitted messages"),
            Err(err) => tracing::warn!(%err, "the group backlog lookup failed"),
        }
    }

    /// The consumer's `session.timeout.ms`, as the operator set it or librdkafka's default.
    fn session_timeout(&self) -> Duration {
        self.config
            .kafka_properties()
            .iter()
            .rev()
            .find(|(name, _)| name == "session.timeout.ms")
            .and_then(|(_, value)| value.trim().parse().ok())
            .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_millis)
    }
}

/// Messages of `topics` past the group's committed offsets (past the
/// partition's start where it committed none).
fn uncommitted(
    consumer: &StreamConsumer<AdapterContext>,
    topics: &[String],
) -> rdkafka::error::KafkaResult<i64> {
    let metadata = consumer.fetch_metadata(None, LOOKUP_TIMEOUT)?;
    let mut partitions = TopicPartitionList::new();
    for topic in metadata.topics() {
        if topics.iter().any(|name| name == topic.name()) {
            for partition in topic.partitions() {
                partitions.add_partition(topic.name(), partition.id());
            }
        }
    }
    let committed = consumer.committed_offsets(partitions, LOOKUP_TIMEOUT)?;
    let mut behind = 0;
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), LOOKUP_TIMEOUT)?;
        let from = match element.offset() {
            Offset::Offset(offset) => offset,
            _ => low,
        };
        behind += (high - from).max(0);
    }
    Ok(behind)
}
