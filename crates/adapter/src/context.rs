//! The consumer's librdkafka context: statistics into [`Health`], rebalances counted and logged.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use rdkafka::{
    consumer::{BaseConsumer, ConsumerContext, Rebalance},
    ClientContext, Statistics,
};

use crate::health::Health;

/// Called by librdkafka from inside the consumer's poll, so never while a batch is being applied.
pub struct AdapterContext {
    /// Where statistics go.
    pub health: Arc<Health>,
    /// Incremented by every rebalance; the loop compares it to spot one during a batch's collection.
    pub rebalances: AtomicU64,
}

impl AdapterContext {
    /// A context reporting into `health`.
    pub fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            rebalances: AtomicU64::new(0),
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
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions revoked")
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned")
            }
            Rebalance::Error(err) => tracing::warn!(%err, "rebalance error"),
        }
    }
}
