#![doc = include_str!("../README.md")]

pub mod apply;
pub mod breaker;
pub mod config;
pub mod consumer;
pub mod context;
pub mod deferred;
pub mod dlq;
pub mod envelope;
pub mod error;
pub mod event;
pub mod health;
pub mod held;
pub mod message;
pub mod metrics;
pub mod replay;
pub mod sweep;

use std::{future::Future, sync::Arc, time::Duration};

use bridge_models::Db;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    ClientConfig,
};
use tokio::sync::watch;

pub use config::Config;
pub use envelope::{Envelope, EventType};
pub use error::AdapterError;

/// Runs the adapter until `shutdown` completes: consumes every event topic
/// under the prefix, serves `/health` and `/metrics`, sweeps parked events.
///
/// On shutdown the in-flight batch is finished and committed (or, while the
/// database is down, abandoned uncommitted), then the consumer leaves the group.
pub async fn run(
    config: Config,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdapterError> {
    let health = Arc::new(health::Health::default());
    health.set_circuit_open(false);
    let db = Db::connect_lazy(config.db_config()?)?;
    let properties = config.kafka_properties();
    let consumer = consumer(&config, &properties, health.clone())?;
    let letters = dlq::DeadLetters::new(&config.brokers, &properties)?;

    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| AdapterError::Http {
            addr: config.http_addr,
            source,
        })?;
    let (stop, stopped) = watch::channel(false);
    let mut http_stopped = stopped.clone();
    let router = health::router(health::HttpState {
        health: health.clone(),
        db: db.clone(),
        metrics,
    });
    let http = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = http_stopped.wait_for(|stop| *stop).await;
            })
            .await
    });
    let sweep = tokio::spawn(sweep::run(
        db.clone(),
        letters.clone(),
        health.clone(),
        Duration::from_millis(config.deferred_retry_ms.max(1)),
        Duration::from_secs(config.deferred_max_wait_secs),
        stopped.clone(),
    ));
    tracing::info!(
        brokers = %config.brokers,
        group = %config.group_id,
        prefix = %config.topic_prefix,
        http = %config.http_addr,
        "bridge-adapter started"
    );

    let looped = consumer::Loop {
        consumer: Arc::new(consumer),
        db,
        letters,
        health,
        pending_commit: Default::default(),
        config,
    };
    let signal = async {
        shutdown.await;
        tracing::info!("shutdown requested: finishing the in-flight batch");
        let _ = stop.send(true);
    };
    tokio::join!(looped.run(stopped), signal);
    let _ = sweep.await;
    let _ = http.await;
    // Dropping the consumer closes it: librdkafka leaves the group, so the
    // partitions move to the other adapters at once.
    drop(looped);
    tracing::info!("bridge-adapter stopped");
    Ok(())
}

/// Most bytes one fetch returns, unless `-X fetch.max.bytes` says otherwise
/// (librdkafka's default is 50 MB), or `-X message.max.bytes` is larger.
///
/// The events of one workflow travel on different topics. A broker that
/// fills a fetch from one partition first (tansu 0.6 does, up to 5 MB) lets
/// a backlog's topics drift apart by a whole fetch; smaller fetches keep them
/// close, so fewer events arrive before their workflow and must wait.
pub const FETCH_MAX_BYTES: u64 = 1_048_576;

/// The consumer's librdkafka settings: ours, then `properties`, which win.
///
/// Unless `properties` set `fetch.max.bytes`, it is [`FETCH_MAX_BYTES`], or
/// `message.max.bytes` when that is larger (librdkafka refuses a fetch
/// smaller than the largest message).
fn consumer_config(config: &Config, properties: &[(String, String)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000");
    for (name, value) in properties {
        client.set(name, value);
    }
    if client.get("fetch.max.bytes").is_none() {
        let largest_message = client
            .get("message.max.bytes")
            .and_then(|bytes| bytes.trim().parse::<u64>().ok())
            .unwrap_or(0);
        client.set(
            "fetch.max.bytes",
            FETCH_MAX_BYTES.max(largest_message).to_string(),
        );
    }
    client
}

/// The consumer, subscribed to every event topic under the prefix.
fn consumer(
    config: &Config,
    properties: &[(String, String)],
    health: Arc<health::Health>,
) -> Result<StreamConsumer<context::AdapterContext>, AdapterError> {
    let consumer: StreamConsumer<context::AdapterContext> = consumer_config(config, properties)
        .create_with_context(context::AdapterContext::new(health))
        .map_err(|err| AdapterError::kafka("creating the consumer", err))?;
    let topics: Vec<String> = EventType::ALL
        .iter()
        .map(|kind| kind.topic(&config.topic_prefix))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|err| AdapterError::kafka("subscribing to the event topics", err))?;
    Ok(consumer)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The consumer librdkafka makes of `args` (no broker needed), and its `fetch.max.bytes`.
    fn fetch_max_bytes(args: &[&str]) -> String {
        let config =
            Config::parse_from(std::iter::once("bridge-adapter").chain(args.iter().copied()));
        let client = consumer_config(&config, &config.kafka_properties());
        if let Err(err) = client.create::<rdkafka::consumer::BaseConsumer>() {
            panic!("librdkafka refuses {args:?}: {err}");
        }
        client.get("fetch.max.bytes").expect("set").to_owned()
    }

    #[test]
    fn fetches_are_small_unless_the_operator_or_the_largest_message_says_otherwise() {
        assert_eq!(fetch_max_bytes(&[]), FETCH_MAX_BYTES.to_string());
        assert_eq!(
            fetch_max_bytes(&["-X", "fetch.max.bytes=52428800"]),
            "52428800"
        );
        assert_eq!(
            fetch_max_bytes(&["-X", "message.max.bytes=4000000"]),
            "4000000"
        );
    }
}
