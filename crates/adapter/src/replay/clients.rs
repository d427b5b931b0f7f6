//! The Kafka clients of the `dlq` commands: a consumer that reads the
//! dead-letter topics and an idempotent producer that re-publishes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
    producer::FutureProducer,
    ClientConfig,
};

use super::error::DlqError;
use crate::{secrets::redact, Config};

/// Where the brokers are and how to talk to them.
#[derive(Debug, Clone)]
pub struct Kafka {
    /// Bootstrap servers.
    pub brokers: String,
    /// Pass-through librdkafka properties (`-X`, `BRIDGE_ADAPTER_KAFKA_*`).
    pub properties: Vec<(String, String)>,
    /// How long any one broker request may take.
    pub timeout: Duration,
}

impl Kafka {
    /// The adapter's broker settings, with `timeout` for each request.
    pub fn from_config(config: &Config, timeout: Duration) -> Self {
        Self {
            brokers: config.brokers.clone(),
            properties: config.kafka_properties(),
            timeout,
        }
    }

    /// A consumer in `group` that reads by assignment, commits only when told,
    /// and reports each partition's end.
    pub fn consumer(&self, group: &str) -> Result<Arc<StreamConsumer>, DlqError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest");
        for (name, value) in &self.properties {
            client.set(name, value);
        }
        client
            .create()
            .map(Arc::new)
            .map_err(|err| self.client_error("creating the dead-letter reader", err))
    }

    /// An idempotent producer with `acks=all` (the operator's properties cannot weaken either).
    pub fn producer(&self) -> Result<FutureProducer, DlqError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &self.brokers)
            .set("message.timeout.ms", self.timeout.as_millis().to_string())
            .set("linger.ms", "5");
        for (name, value) in &self.properties {
            client.set(name, value);
        }
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(|err| self.client_error("creating the replay producer", err))
    }

    /// The partition count of every topic on the brokers; unreachable brokers are an error.
    pub async fn topics(
        &self,
        consumer: &Arc<StreamConsumer>,
    ) -> Result<HashMap<String, i32>, DlqError> {
        let timeout = self.timeout;
        let reader = consumer.clone();
        let metadata = blocking(move || reader.fetch_metadata(None, timeout))
            .await
            .map_err(|err| self.unreachable("reading the topic list", err))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|topic| topic.error().is_none())
            .map(|topic| (topic.name().to_owned(), topic.partitions().len() as i32))
            .collect())
    }

    /// [`DlqError::BrokerUnreachable`] while `doing`.
    pub fn unreachable(&self, doing: impl Into<String>, source: KafkaError) -> DlqError {
        DlqError::BrokerUnreachable {
            brokers: self.brokers.clone(),
            timeout: self.timeout,
            doing: doing.into(),
            source: Box::new(source),
        }
    }

    /// [`DlqError::Kafka`] with every secret property value redacted.
    fn client_error(&self, context: &str, err: KafkaError) -> DlqError {
        DlqError::Kafka {
            context: context.to_owned(),
            message: redact(&err.to_string(), &self.properties),
        }
    }
}

/// Runs librdkafka's blocking call `call` off the async threads.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_librdkafka_refuses_is_a_client_error_naming_it() {
        let kafka = Kafka {
            brokers: "127.0.0.1:1".into(),
            properties: vec![("no.such.property".into(), "x".into())],
            timeout: Duration::from_secs(1),
        };
        let err = kafka
            .producer()
            .err()
            .expect("librdkafka refuses the property");
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("no.such.property"), "{err}");
    }
}
