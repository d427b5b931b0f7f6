//! What the kit's two Kafka clusters, tansu and librdkafka's mock, share.

use crate::{MockKafka, PrivateBroker};

/// A Kafka cluster of the caller's own that clients reach on loopback ports.
pub trait KafkaCluster {
    /// The bootstrap servers, as Kafka clients take them.
    fn bootstrap_servers(&self) -> String;
    /// Creates topic `name` with `partitions` partitions; panics when it cannot.
    fn create_topic(&self, name: &str, partitions: u32);
}

impl KafkaCluster for PrivateBroker {
    fn bootstrap_servers(&self) -> String {
        PrivateBroker::bootstrap_servers(self)
    }

    fn create_topic(&self, name: &str, partitions: u32) {
        PrivateBroker::create_topic(self, name, partitions)
    }
}

impl KafkaCluster for MockKafka {
    fn bootstrap_servers(&self) -> String {
        MockKafka::bootstrap_servers(self)
    }

    fn create_topic(&self, name: &str, partitions: u32) {
        let partitions = i32::try_from(partitions).expect("fewer than 2^31 partitions");
        MockKafka::create_topic(self, name, partitions)
    }
}
