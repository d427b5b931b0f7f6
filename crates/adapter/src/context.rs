//! The consumer's librdkafka context: statistics into [`Health`], rebalances counted and logged.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance},
    ClientContext, Statistics, TopicPartitionList,
};

use crate::{
    health::{by_topic, Health},
    metrics as m,
    offsets::Uncommitted,
};

/// Called by librdkafka from inside the consumer's poll, which the loop
/// keeps calling while a batch is applied.
pub struct AdapterContext {
    /// Where statistics go.
    pub health: Arc<Health>,
    /// Incremented by every rebalance; the loop compares it to spot one during a batch's collection.
    pub rebalances: AtomicU64,
    /// Offsets applied and not yet committed; those of revoked partitions are committed before they go.
    pub uncommitted: Arc<Uncommitted>,
}

impl AdapterContext {
    /// A context reporting into `health`.
    pub fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            rebalances: AtomicU64::new(0),
            uncommitted: Arc::default(),
        }
    }

    /// How many rebalances happened so far.
    pub fn rebalance_count(&self) -> u64 {
        self.rebalances.load(Ordering::SeqCst)
    }
}

impl ClientContext for AdapterContext {
    fn stats(&self, statistics: Statistics) {
        self.health.record_statistics(&statistics);
    }
}

impl ConsumerContext for AdapterContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Ok(assignment) = consumer.assignment() else {
            self.health.set_assignment(None);
            return;
        };
        self.health.set_assignment(Some(&assignment));
        // librdkafka's answer to the assign call is not reported back
        // (rust-rdkafka drops it): a refused one shows here.
        if let Rebalance::Assign(given) = rebalance {
            let missing = given
                .elements()
                .iter()
                .filter(|e| {
                    assignment
                        .find_partition(e.topic(), e.partition())
                        .is_none()
                })
                .count();
            if missing > 0 {
                tracing::warn!(
                    missing,
                    given = %named(given),
                    "partitions the group assigned are missing from the consumer's assignment"
                );
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), which = %named(partitions), "partitions revoked");
                metrics::counter!(m::REBALANCES, "kind" => "revoke").increment(1);
                metrics::counter!(m::REVOKED).increment(partitions.count() as u64);
                self.health.forget(partitions);
                // What was applied for them is committed before they go, so
                // their next owner starts after it. Their events in flight
                // now are not recorded when they land: the next owner reads
                // them again and finds them written.
                let applied = self.uncommitted.take_revoked(partitions);
                if applied.count() > 0 {
                    match consumer.commit(&applied, CommitMode::Sync) {
                        Ok(()) => tracing::info!(
                            partitions = applied.count(),
                            "committed the revoked partitions' applied offsets"
                        ),
                        Err(err) => {
                            metrics::counter!(m::COMMIT_ERRORS).increment(1);
                            tracing::warn!(%err, "committing the revoked partitions' offsets failed; their next owner reads them again")
                        }
                    }
                }
            }
            Rebalance::Assign(partitions) => {
                metrics::counter!(m::REBALANCES, "kind" => "assign").increment(1);
                tracing::info!(partitions = partitions.count(), which = %named(partitions), "partitions assigned")
            }
            Rebalance::Error(err) => {
                metrics::counter!(m::REBALANCES, "kind" => "error").increment(1);
                tracing::warn!(%err, "rebalance error")
            }
        }
    }
}

/// `partitions` as `topic[0,2] other[1]`, for the log.
fn named(partitions: &TopicPartitionList) -> String {
    by_topic(partitions)
        .into_iter()
        .map(|(topic, numbers)| {
            let numbers: Vec<String> = numbers.iter().map(i32::to_string).collect();
            format!("{topic}[{}]", numbers.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_by_topic_in_order() {
        let mut list = TopicPartitionList::new();
        list.add_partition("b", 2);
        list.add_partition("a", 1);
        list.add_partition("b", 0);
        assert_eq!(named(&list), "a[1] b[0,2]");
    }
}
