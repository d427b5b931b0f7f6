//! The adapter's settings, from flags and the environment.

use std::{net::SocketAddr, time::Duration};

use bridge_events::DEFAULT_TOPIC_PREFIX;
use clap::Parser;

use crate::group_protocol::GroupProtocol;

/// Consumes the bridge's events from Kafka into PostgreSQL.
///
/// Every flag also reads an environment variable (shown in brackets). Any
/// librdkafka property passes through with `-X name=value`, or as
/// `BRIDGE_ADAPTER_KAFKA_<NAME>` with dots written as underscores
/// (`BRIDGE_ADAPTER_KAFKA_SECURITY_PROTOCOL=SASL_SSL`). The database is
/// `DATABASE_URL`, else the libpq `PG*` variables. Without a subcommand it
/// runs the adapter; `dlq` lists and replays dead letters.
#[derive(Clone, Parser)]
#[command(name = "bridge-adapter", version, args_override_self = true)]
pub struct Config {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(
        long,
        env = "BRIDGE_ADAPTER_BROKERS",
        default_value = "localhost:9092",
        global = true
    )]
    pub brokers: String,
    /// Consumer group; adapters in one group share the partitions.
    #[arg(
        long,
        env = "BRIDGE_ADAPTER_GROUP_ID",
        default_value = "database_adapter_consumers"
    )]
    pub group_id: String,
    /// Topic prefix: topics are `{prefix}.{event}.v1`.
    #[arg(long, env = "BRIDGE_ADAPTER_TOPIC_PREFIX", default_value = DEFAULT_TOPIC_PREFIX, global = true)]
    pub topic_prefix: String,
    /// Most events applied in one batch (one transaction).
    #[arg(long, env = "BRIDGE_ADAPTER_BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,
    /// How long a batch waits for more events after its first, in milliseconds.
    #[arg(long, env = "BRIDGE_ADAPTER_LINGER_MS", default_value_t = 5)]
    pub linger_ms: u64,
    /// Database URL; without it, the `PG*` variables or the built-in default.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Static membership: this member's `group.instance.id` (KIP-345), kept
    /// across restarts, so a restart within the session timeout moves no partition.
    #[arg(long, env = "BRIDGE_ADAPTER_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Consumer group protocol: `classic`, or `consumer` (KIP-848, Kafka 4.0
    /// and later: the broker assigns, and a member joining or leaving stops no other).
    #[arg(long, env = "BRIDGE_ADAPTER_GROUP_PROTOCOL", value_enum, default_value_t = GroupProtocol::Classic)]
    pub group_protocol: GroupProtocol,
    /// Most time between offset commits, in ms; offsets are also committed
    /// when partitions are revoked and at shutdown. 0 commits after every batch.
    #[arg(long, env = "BRIDGE_ADAPTER_COMMIT_INTERVAL_MS", default_value_t = 250)]
    pub commit_interval_ms: u64,
    /// Most transactions applying one batch at once, each on its own
    /// connection: its partitions are split over this many lanes. Below `--pool-size`.
    #[arg(long, env = "BRIDGE_ADAPTER_APPLY_CONCURRENCY", default_value_t = 4)]
    pub apply_concurrency: usize,
    /// Most database connections the pool keeps.
    #[arg(long, env = "BRIDGE_ADAPTER_POOL_SIZE", default_value_t = 8)]
    pub pool_size: u32,
    /// How long connecting to, or waiting for, a database connection may take, in milliseconds.
    #[arg(long, env = "BRIDGE_ADAPTER_DB_TIMEOUT_MS", default_value_t = 2000)]
    pub db_timeout_ms: u64,
    /// Address of the HTTP server for `/health` and `/metrics`.
    #[arg(long, env = "BRIDGE_ADAPTER_HTTP_ADDR", default_value = "0.0.0.0:8062")]
    pub http_addr: SocketAddr,
    /// How long an event may wait for its workflow or node before it is dead-lettered, in seconds.
    #[arg(
        long,
        env = "BRIDGE_ADAPTER_DEFERRED_MAX_WAIT_SECS",
        default_value_t = 300
    )]
    pub deferred_max_wait_secs: u64,
    /// How long an event that came before its workflow or node, in a full
    /// batch (a backlog), waits in memory (its offset uncommitted) before it
    /// is parked, in milliseconds; 0 parks at once.
    #[arg(long, env = "BRIDGE_ADAPTER_HOLD_MS", default_value_t = 10_000)]
    pub hold_ms: u64,
    /// Most events waiting in memory at once; past it, they are parked at once.
    #[arg(long, env = "BRIDGE_ADAPTER_HOLD_MAX_EVENTS", default_value_t = 20_000)]
    pub hold_max_events: usize,
    /// How often parked events are retried, in milliseconds.
    #[arg(long, env = "BRIDGE_ADAPTER_DEFERRED_RETRY_MS", default_value_t = 1000)]
    pub deferred_retry_ms: u64,
    /// First delay before retrying a database that failed, in milliseconds.
    #[arg(long, env = "BRIDGE_ADAPTER_RETRY_INITIAL_MS", default_value_t = 100)]
    pub retry_initial_ms: u64,
    /// Longest delay between retries of a database that failed, in milliseconds.
    #[arg(long, env = "BRIDGE_ADAPTER_RETRY_MAX_MS", default_value_t = 5000)]
    pub retry_max_ms: u64,
    /// Print the topics the adapter reads and the dead-letter topics it writes, one a line, and exit.
    #[arg(long)]
    pub print_topics: bool,
    /// A librdkafka property for the consumer and the dead-letter producer (and the `dlq` commands' clients), `name=value`; repeatable.
    #[arg(short = 'X', long = "kafka", value_name = "NAME=VALUE", value_parser = parse_property, global = true)]
    pub kafka: Vec<(String, String)>,
    /// What to do instead of running the adapter, if anything.
    #[command(subcommand)]
    pub command: Option<crate::replay::cli::Command>,
}

/// Splits `name=value`.
fn parse_property(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

/// The env prefix of librdkafka properties.
const KAFKA_ENV_PREFIX: &str = "BRIDGE_ADAPTER_KAFKA_";

impl Config {
    /// Every topic the adapter needs: each event's topic, then each dead-letter topic.
    pub fn topics(&self) -> Vec<String> {
        let events = self.event_topics();
        let letters: Vec<String> = events.iter().map(|t| bridge_events::dlq_topic(t)).collect();
        events.into_iter().chain(letters).collect()
    }

    /// The topics the adapter consumes: each event's topic.
    pub fn event_topics(&self) -> Vec<String> {
        bridge_events::EventType::ALL
            .iter()
            .map(|kind| kind.topic(&self.topic_prefix))
            .collect()
    }

    /// The librdkafka properties from the environment, then from `-X` (which win).
    pub fn kafka_properties(&self) -> Vec<(String, String)> {
        let mut properties: Vec<(String, String)> = std::env::vars()
            .filter_map(|(name, value)| {
                let property = name.strip_prefix(KAFKA_ENV_PREFIX)?;
                Some((property.to_ascii_lowercase().replace('_', "."), value))
            })
            .collect();
        properties.sort();
        properties.extend(self.kafka.iter().cloned());
        properties
    }

    /// Refuses settings that cannot work together, naming the flag.
    pub fn validate(&self) -> Result<(), crate::AdapterError> {
        let invalid = |flag: &'static str, problem: String| {
            Err(crate::AdapterError::InvalidSetting { flag, problem })
        };
        if self.apply_concurrency == 0 {
            return invalid("--apply-concurrency", "must be at least 1".into());
        }
        if self.apply_concurrency >= self.pool_size as usize {
            return invalid(
                "--apply-concurrency",
                format!(
                    "{} must be below --pool-size ({}): each lane holds a connection, and the parked-event sweep needs one",
                    self.apply_concurrency, self.pool_size
                ),
            );
        }
        Ok(())
    }

    /// How long an early event may wait in memory.
    pub fn hold(&self) -> Duration {
        Duration::from_millis(self.hold_ms)
    }

    /// The batch linger.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }

    /// Most time between offset commits.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// The database URL: the flag or `DATABASE_URL`, else the `PG*` variables.
    pub fn database_url(&self) -> Result<String, bridge_connect::ConnectError> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => bridge_connect::database_url_from_env(),
        }
    }

    /// The pool settings.
    pub fn db_config(&self) -> Result<bridge_models::DbConfig, bridge_connect::ConnectError> {
        let mut config = bridge_models::DbConfig::new(self.database_url()?);
        config.max_connections = self.pool_size.max(1);
        config.connect_timeout = Duration::from_millis(self.db_timeout_ms);
        config.checkout_timeout = Duration::from_millis(self.db_timeout_ms);
        Ok(config)
    }
}

/// Every setting, with the database password and Kafka secrets (`sasl.password`, ...) taken out.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("group_protocol", &self.group_protocol)
            .field("topic_prefix", &self.topic_prefix)
            .field("batch_size", &self.batch_size)
            .field("linger_ms", &self.linger_ms)
            .field("commit_interval_ms", &self.commit_interval_ms)
            .field(
                "database_url",
                &self.database_url.as_deref().map(bridge_connect::redact_url),
            )
            .field("apply_concurrency", &self.apply_concurrency)
            .field("pool_size", &self.pool_size)
            .field("db_timeout_ms", &self.db_timeout_ms)
            .field("http_addr", &self.http_addr)
            .field("deferred_max_wait_secs", &self.deferred_max_wait_secs)
            .field("hold_ms", &self.hold_ms)
            .field("hold_max_events", &self.hold_max_events)
            .field("deferred_retry_ms", &self.deferred_retry_ms)
            .field("retry_initial_ms", &self.retry_initial_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("print_topics", &self.print_topics)
            .field("kafka", &crate::secrets::redacted(&self.kafka_properties()))
            .field("command", &self.command)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_password_and_no_kafka_secret() {
        let config = Config::parse_from([
            "bridge-adapter",
            "--database-url",
            "postgres://app:db-pa55word@db.internal/omninode_bridge",
            "-X",
            "sasl.password=kafka-s3cret",
            "-X",
            "ssl.key.password=key-s3cret",
            "-X",
            "sasl.username=bridge",
        ]);
        let shown = format!("{config:?}");
        for secret in ["db-pa55word", "kafka-s3cret", "key-s3cret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("sasl.username") && shown.contains("bridge"));
        assert!(shown.contains("db.internal"));
    }

    #[test]
    fn apply_concurrency_must_leave_the_pool_a_connection_and_the_error_names_the_flag() {
        let parse = |lanes: &str, pool: &str| {
            Config::parse_from([
                "bridge-adapter",
                "--apply-concurrency",
                lanes,
                "--pool-size",
                pool,
            ])
            .validate()
        };
        assert!(parse("4", "8").is_ok());
        assert!(parse("1", "2").is_ok());
        for (lanes, pool) in [("4", "4"), ("0", "8")] {
            let err = parse(lanes, pool).unwrap_err().to_string();
            assert!(err.starts_with("--apply-concurrency: "), "{err}");
        }
        assert!(Config::parse_from(["bridge-adapter"]).validate().is_ok());
    }

    #[test]
    fn kafka_properties_pass_through_from_flags() {
        let config = Config::parse_from([
            "bridge-adapter",
            "-X",
            "security.protocol=SASL_SSL",
            "--kafka",
            "sasl.mechanism=SCRAM-SHA-512",
        ]);
        let properties = config.kafka_properties();
        assert!(properties.contains(&("security.protocol".into(), "SASL_SSL".into())));
        assert!(properties.contains(&("sasl.mechanism".into(), "SCRAM-SHA-512".into())));
        assert_eq!(config.group_id, "database_adapter_consumers");
        assert_eq!(config.http_addr.port(), 8062);
    }
}
