#![doc = include_str!("../README.md")]

mod apply;
mod breaker;
mod config;
mod consumer;
mod context;
mod deferred;
mod dlq;
mod error;
mod group_protocol;
mod health;
mod held;
mod item;
mod message;
pub mod metrics;
mod offsets;
mod outcome;
mod plan;
pub mod replay;
mod secrets;
mod sweep;
mod tasks;

use std::{future::Future, sync::Arc, time::Duration};

use bridge_events::Event;
use bridge_models::Db;
use diesel_async::AsyncPgConnection;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    ClientConfig,
};
use tokio::sync::watch;

pub use config::Config;
pub use deferred::WaitsFor;
pub use error::AdapterError;
pub use group_protocol::GroupProtocol;
pub use outcome::{IgnoreReason, Outcome, Refusal};
pub use sweep::refresh_statistics;

/// Runs the adapter until `shutdown` completes: consumes every event topic
/// under the prefix, serves `/health` and `/metrics`, sweeps parked events.
///
/// On shutdown the in-flight batch is finished and committed (or, while the
/// database is down, abandoned uncommitted), then the consumer leaves the
/// group. When the HTTP server or the sweep stops by itself, `/health`
/// turns 503, the in-flight batch is finished the same way, and the adapter
/// returns [`AdapterError::TaskDied`].
pub async fn run(
    config: Config,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdapterError> {
    config.validate()?;
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
    let http_addr = config.http_addr;
    let (stop, stopped) = watch::channel(false);
    let mut http_stopped = stopped.clone();
    let totals = metrics.clone();
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

    let looped = consumer::Loop::new(consumer, db, letters, health.clone(), config);
    let mut tasks = tasks::Tasks { http, sweep };
    let supervise = async {
        let died = tasks.watch(shutdown, &health).await;
        let _ = stop.send(true);
        died
    };
    let ((), died) = tokio::join!(looped.run(stopped), supervise);
    // Dropping the consumer closes it: librdkafka leaves the group, so the
    // partitions move to the other adapters at once.
    drop(looped);
    let result = tasks.finish(died, http_addr).await;
    match totals.map(|handle| metrics::Totals::of(&handle.render())) {
        Some(totals) => tracing::info!(
            events_consumed = totals.consumed,
            events_persisted = totals.persisted,
            events_dead_lettered = totals.dead_lettered,
            partitions_revoked = totals.revoked,
            "bridge-adapter stopped"
        ),
        None => tracing::info!("bridge-adapter stopped"),
    }
    result
}

/// Applies decoded `events` in one transaction, as the adapter applies a
/// batch (the same plan and calls), and returns each one's outcome; nothing
/// is parked: an event whose workflow or node is not stored comes back
/// [`Outcome::Deferred`]. Benchmarks and embedding services use it to write
/// events without Kafka.
pub async fn apply_events(
    conn: &mut AsyncPgConnection,
    events: Vec<Event>,
) -> bridge_models::Result<Vec<Outcome>> {
    let items: Vec<item::Item> = events
        .into_iter()
        .map(|event| item::Item {
            message: message::Consumed::default(),
            event: Ok(event),
            may_hold: false,
        })
        .collect();
    apply::apply_batch(conn, &items, item::Source::Parked).await
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
        .set("statistics.interval.ms", "1000")
        .set("group.protocol", config.group_protocol.as_str())
        // Incremental rebalances (KIP-429): a member joining or leaving
        // moves only the partitions that change owner; the others keep
        // being consumed. `-X partition.assignment.strategy=range` restores
        // eager rebalancing.
        .set("partition.assignment.strategy", "cooperative-sticky");
    if let Some(instance) = &config.group_instance_id {
        client.set("group.instance.id", instance);
    }
    for (name, value) in properties {
        client.set(name, value);
    }
    // Under KIP-848 (the flag, or `-X group.protocol=consumer`) the broker
    // assigns: librdkafka refuses a client-side strategy, so ours goes; one
    // the operator set stays, for librdkafka to name.
    let operators = |name: &str| properties.iter().any(|(set, _)| set == name);
    if client.get("group.protocol") == Some(GroupProtocol::Consumer.as_str())
        && !operators("partition.assignment.strategy")
    {
        client.remove("partition.assignment.strategy");
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
    let topics = config.event_topics();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|err| AdapterError::kafka("subscribing to the event topics", err))?;
    Ok(consumer)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use rdkafka::consumer::BaseConsumer;

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

    #[test]
    fn rebalances_are_cooperative_unless_the_operator_says_otherwise() {
        let strategy = |args: &[&str]| {
            let config =
                Config::parse_from(std::iter::once("bridge-adapter").chain(args.iter().copied()));
            let client = consumer_config(&config, &config.kafka_properties());
            client
                .get("partition.assignment.strategy")
                .map(str::to_owned)
        };
        assert_eq!(strategy(&[]).as_deref(), Some("cooperative-sticky"));
        assert_eq!(
            strategy(&["-X", "partition.assignment.strategy=range"]).as_deref(),
            Some("range")
        );
    }

    #[test]
    fn under_kip_848_the_broker_assigns_and_librdkafka_takes_the_settings() {
        let client = |args: &[&str]| {
            let config =
                Config::parse_from(std::iter::once("bridge-adapter").chain(args.iter().copied()));
            consumer_config(&config, &config.kafka_properties())
        };
        let classic = client(&[]);
        assert_eq!(classic.get("group.protocol"), Some("classic"));
        for kip_848 in [
            client(&["--group-protocol", "consumer"]),
            client(&["-X", "group.protocol=consumer"]),
        ] {
            assert_eq!(kip_848.get("group.protocol"), Some("consumer"));
            assert_eq!(kip_848.get("partition.assignment.strategy"), None);
            let created: Result<BaseConsumer, _> = kip_848.create();
            assert!(created.is_ok(), "{:?}", created.err());
        }
        let refused: Result<BaseConsumer, _> = client(&[
            "--group-protocol",
            "consumer",
            "-X",
            "session.timeout.ms=6000",
        ])
        .create();
        let err = refused
            .err()
            .expect("librdkafka refuses a classic setting")
            .to_string();
        assert!(err.contains("session.timeout.ms"), "{err}");
    }

    #[test]
    fn a_group_instance_id_makes_the_member_static() {
        let config = Config::parse_from(["bridge-adapter", "--group-instance-id", "adapter-0"]);
        let client = consumer_config(&config, &config.kafka_properties());
        assert_eq!(client.get("group.instance.id"), Some("adapter-0"));
        let config = Config::parse_from(["bridge-adapter"]);
        let client = consumer_config(&config, &config.kafka_properties());
        assert_eq!(client.get("group.instance.id"), None);
    }
}
