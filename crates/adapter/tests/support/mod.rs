//! Shared rig of the adapter's broker tests: a private tansu broker (or a
//! three-broker mock cluster) with every event topic, a private migrated database, a producer, and the real
//! `bridge-adapter` binary run as child processes.
#![allow(dead_code)]

pub mod dlq;
pub mod ledger;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use bridge_events::{
    Event, EventType, NodeHeartbeat, NodeRegistered, Payload, Source, StampCreated,
    StateAggregationCompleted, StateTransition, StepCompleted, WorkflowCompleted, WorkflowFailed,
    WorkflowStarted,
};
use bridge_models::{Db, HealthStatus};
use bridge_testkit::{MockKafka, PrivateBroker, TestDatabase};
use diesel::{sql_types::BigInt, QueryableByName};
use diesel_async::RunQueryDsl;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::{Header, Headers, Message, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Offset, TopicPartitionList,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// The topic prefix every test uses (each has a broker of its own).
pub const PREFIX: &str = "it.omninode_bridge.onex.evt";

/// How long a test waits for rows to appear.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The Kafka a rig's adapters read from.
pub enum Broker {
    /// A private tansu broker.
    Tansu(PrivateBroker),
    /// librdkafka's three-broker mock cluster.
    Mock(MockKafka),
}

impl Broker {
    /// The bootstrap servers.
    pub fn bootstrap_servers(&self) -> String {
        match self {
            Self::Tansu(broker) => broker.bootstrap_servers(),
            Self::Mock(cluster) => cluster.bootstrap_servers(),
        }
    }

    fn create_topic(&self, name: &str, partitions: u32) {
        match self {
            Self::Tansu(broker) => broker.create_topic(name, partitions),
            Self::Mock(cluster) => cluster.create_topic(name, partitions as i32),
        }
    }
}

/// Broker, database and producer of one test.
pub struct Rig {
    /// The broker.
    pub broker: Broker,
    /// The database the adapters write to.
    pub database: TestDatabase,
    /// A pool on it, for assertions.
    pub db: Db,
    producer: FutureProducer,
    /// Where adapter logs go.
    pub logs: tempfile::TempDir,
}

impl Rig {
    /// A broker with every event topic (`partitions` each, one for the
    /// dead-letter topics) and a migrated database.
    pub async fn new(partitions: u32) -> Self {
        Self::on(Broker::Tansu(PrivateBroker::start()), partitions).await
    }

    /// As [`new`](Self::new), on a three-broker mock cluster.
    pub async fn on_mock_cluster(partitions: u32) -> Self {
        mock_errors_to_stderr();
        Self::on(Broker::Mock(MockKafka::start()), partitions).await
    }

    /// The mock cluster; panics on a tansu rig.
    pub fn cluster(&self) -> &MockKafka {
        match &self.broker {
            Broker::Mock(cluster) => cluster,
            Broker::Tansu(_) => panic!("a tansu rig has no mock cluster"),
        }
    }

    /// The tansu broker; panics on a mock-cluster rig.
    pub fn tansu(&mut self) -> &mut PrivateBroker {
        match &mut self.broker {
            Broker::Tansu(broker) => broker,
            Broker::Mock(_) => panic!("a mock-cluster rig has no tansu broker"),
        }
    }

    async fn on(broker: Broker, partitions: u32) -> Self {
        for &kind in EventType::ALL {
            broker.create_topic(&kind.topic(PREFIX), partitions);
            broker.create_topic(&format!("{}.dlq", kind.topic(PREFIX)), 1);
        }
        let database = TestDatabase::migrated();
        let db = database.db().await.expect("the test database answers");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .set("acks", "all")
            .set("linger.ms", "1")
            .create()
            .expect("a producer");
        Self {
            broker,
            database,
            db,
            producer,
            logs: tempfile::tempdir().expect("a log directory"),
        }
    }

    /// An adapter process on this rig's broker and database, started with `args` added.
    pub fn adapter(&self, name: &str, args: &[&str]) -> Adapter {
        self.adapter_on(self.database.url(), name, args)
    }

    /// An adapter process writing to `database_url`.
    pub fn adapter_on(&self, database_url: &str, name: &str, args: &[&str]) -> Adapter {
        let port = free_port();
        let log = self.logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("an adapter log");
        let child = Command::new(env!("CARGO_BIN_EXE_bridge-adapter"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            // ADAPTER_TEST_LOG overrides the adapters' log filter, e.g.
            // `info,librdkafka=debug` with `-X debug=cgrp` in a test's args.
            .env(
                "RUST_LOG",
                std::env::var("ADAPTER_TEST_LOG").unwrap_or("info,librdkafka=warn".into()),
            )
            .args(["--brokers", &self.broker.bootstrap_servers()])
            .args(["--topic-prefix", PREFIX])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--batch-size", "50", "--linger-ms", "20"])
            // Early events wait in memory briefly, then park; a test's own
            // `--hold-ms` overrides it.
            .args(["--hold-ms", "300"])
            .args([
                "--deferred-retry-ms",
                "200",
                "--retry-initial-ms",
                "100",
                "--retry-max-ms",
                "500",
            ])
            // Short sessions and heartbeats are the member's settings under
            // the classic protocol only; under KIP-848 the broker's.
            .args(match kip_848(args) {
                false => &[
                    "-X",
                    "session.timeout.ms=6000",
                    "-X",
                    "heartbeat.interval.ms=500",
                ][..],
                true => &[],
            })
            .args(["-X", "topic.metadata.refresh.interval.ms=2000"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log handle"))
            .stderr(file)
            .spawn()
            .expect("starting bridge-adapter");
        Adapter {
            child,
            port,
            log,
            name: name.to_owned(),
        }
    }

    /// A handle on the rig's producer.
    pub fn producer(&self) -> FutureProducer {
        self.producer.clone()
    }

    /// Produces `event` to its event type's topic, keyed by its partition key, and waits for the ack.
    pub async fn produce(&self, event: &Value) {
        let kind: EventType = event["event_type"].as_str().unwrap().parse().unwrap();
        let key = event["partition_key"].as_str().unwrap_or("").to_owned();
        self.produce_raw(&kind.topic(PREFIX), &key, event.to_string().as_bytes(), &[])
            .await;
    }

    /// Produces `event` to partition `partition` of its event type's topic, whatever its key.
    pub async fn produce_to(&self, event: &Value, partition: i32) {
        let kind: EventType = event["event_type"].as_str().unwrap().parse().unwrap();
        let topic = kind.topic(PREFIX);
        let key = event["partition_key"].as_str().unwrap_or("").to_owned();
        let value = event.to_string();
        let record = FutureRecord::to(&topic)
            .key(&key)
            .payload(&value)
            .partition(partition);
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(err, _)| panic!("producing to {topic}/{partition}: {err}"));
    }

    /// Produces `events` concurrently, each acknowledged.
    pub async fn produce_all(&self, events: &[Value]) {
        for chunk in events.chunks(500) {
            futures_util::future::join_all(chunk.iter().map(|event| self.produce(event))).await;
        }
    }

    /// Produces raw bytes with headers.
    pub async fn produce_raw(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: &[(&str, &str)],
    ) {
        let mut owned = OwnedHeaders::new();
        for (name, value) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(*value),
            });
        }
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(owned);
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(err, _)| panic!("producing to {topic}: {err}"));
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        count_in(&self.db, table).await
    }

    /// Waits until `table` holds `expected` rows; panics with the adapters' logs after `PATIENCE`.
    pub async fn wait_for_count(&self, table: &str, expected: i64) {
        let found = wait_until(PATIENCE, || async { self.count(table).await >= expected }).await;
        assert!(
            found,
            "{table} holds {} rows, expected {expected}\n{}",
            self.count(table).await,
            self.all_logs()
        );
    }

    /// Every adapter log, for failure messages.
    pub fn all_logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap().flatten() {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = body
                .lines()
                .filter(|line| !line.contains("event parked"))
                .rev()
                .take(60)
                .collect();
            text.push_str(&format!("--- {} ---\n", entry.path().display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Reads every message on `topic` until `expected` arrived or `PATIENCE` passed.
    pub fn read_topic(&self, topic: &str, expected: usize) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap_servers())
            .set("group.id", format!("reader-{}", Uuid::now_v7()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("a reader");
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&partitions).expect("assigning the reader");
        let mut messages = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while messages.len() < expected && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                messages.push(message.detach());
            }
        }
        // A little longer, to see any message too many.
        let settle = Instant::now() + Duration::from_secs(1);
        while Instant::now() < settle {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                messages.push(message.detach());
            }
        }
        messages
    }

    /// A consumer of `group` that only reads offsets (it never subscribes).
    fn reader_of(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap_servers())
            .set("group.id", group)
            .create()
            .expect("an offsets reader")
    }

    /// The committed offsets of `group` on `topic`'s `partitions`.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
        committed_by(&self.reader_of(group), topic, partitions)
    }

    /// The event partitions (`partitions` per topic) whose offset committed by
    /// `group` is short of the partition's end, as `topic[partition] committed/end`.
    pub fn behind(&self, group: &str, partitions: i32) -> Vec<String> {
        let consumer = self.reader_of(group);
        let mut behind = Vec::new();
        for &kind in EventType::ALL {
            let topic = kind.topic(PREFIX);
            let committed = committed_by(&consumer, &topic, partitions);
            for (partition, committed) in (0..).zip(committed) {
                let (_, end) = consumer
                    .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                    .expect("watermarks");
                // -1: nothing committed, which an empty partition needs none of.
                if committed.max(0) < end {
                    behind.push(format!("{topic}[{partition}] {committed}/{end}"));
                }
            }
        }
        behind
    }
}

/// The offsets committed on `topic`'s `partitions` by the group of `consumer` (-1 where none is).
fn committed_by(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Vec<i64> {
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(offset) => offset,
                _ => -1,
            },
        )
        .collect()
}

/// A header's value as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// Rows in `table` of `db`.
pub async fn count_in(db: &Db, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await.expect("a connection");
    let rows: Vec<Count> = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .load(&mut conn)
        .await
        .expect("counting rows");
    rows[0].n
}

/// Polls `check` every 100 ms until true or `timeout`; whether it became true.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check().await
}

/// One `bridge-adapter` child process; killed when dropped.
pub struct Adapter {
    child: Child,
    port: u16,
    /// Its log file.
    pub log: PathBuf,
    name: String,
}

impl Adapter {
    /// `kill -9`: no chance to commit anything.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the adapter");
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop after SIGTERM:\n{}\nits threads:\n{}",
                self.name,
                self.log_text(),
                self.backtraces()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every thread's stack, by gdb if it is installed, to say where a hung adapter waits.
    fn backtraces(&self) -> String {
        Command::new("gdb")
            .args(["-p", &self.child.id().to_string(), "-batch"])
            .args(["-ex", "thread apply all bt"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_else(|err| format!("(gdb: {err})"))
    }

    /// The loopback port of its HTTP server (`/health`, `/metrics`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("waiting").is_none()
    }

    /// GET `path` on its HTTP server: status and body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut response = agent
            .get(&format!("http://127.0.0.1:{}{path}", self.port))
            .call()
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.body_mut().read_to_string().ok()?))
    }

    /// The partitions its `/health` says it owns, as `topic/partition` (none when it does not answer).
    pub fn owned(&self) -> BTreeSet<String> {
        self.get("/health")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .map(|health| assignment(&health))
            .unwrap_or_default()
    }

    /// How many partitions its `/health` says it owns (0 when it does not answer).
    pub fn assigned(&self) -> usize {
        self.owned().len()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_text());
        }
    }
}

/// Waits until `adapters` own all `partitions` between them, each some and
/// none owned by two.
pub async fn share_every_partition(rig: &Rig, adapters: &[&Adapter], partitions: usize) {
    settle(rig, adapters, partitions, PATIENCE).await;
}

/// As [`share_every_partition`], waiting at most `patience`; the partitions
/// seen owned by two adapters in two readings in a row meanwhile.
pub async fn settle(
    rig: &Rig,
    adapters: &[&Adapter],
    partitions: usize,
    patience: Duration,
) -> BTreeSet<String> {
    let deadline = Instant::now() + patience;
    let mut twice = BTreeSet::new();
    let mut before = BTreeSet::new();
    loop {
        let owned: Vec<BTreeSet<String>> = adapters.iter().map(|a| a.owned()).collect();
        let mut seen = BTreeSet::new();
        let mut now = BTreeSet::new();
        for partition in owned.iter().flatten() {
            if !seen.insert(partition) {
                now.insert(partition.clone());
            }
        }
        twice.extend(now.intersection(&before).cloned());
        before = now;
        if before.is_empty() && seen.len() == partitions && owned.iter().all(|o| !o.is_empty()) {
            return twice;
        }
        assert!(
            Instant::now() < deadline,
            "partitions owned: {owned:?} of {partitions}\n{}",
            rig.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partitions a `/health` document's `assignment` names, as `topic/partition`.
pub fn assignment(health: &Value) -> BTreeSet<String> {
    let by_topic: BTreeMap<String, Vec<i32>> =
        serde_json::from_value(health["assignment"].clone()).unwrap_or_default();
    by_topic
        .into_iter()
        .flat_map(|(topic, numbers)| numbers.into_iter().map(move |n| format!("{topic}/{n}")))
        .collect()
}

/// The mock cluster's own errors (librdkafka's `MOCK` log facility, e.g.
/// why it could not listen again on a broker's port) go to stderr, which
/// keeps them when librdkafka's assertion that follows aborts the test
/// process.
fn mock_errors_to_stderr() {
    use std::io::Write;
    struct MockErrors;
    impl log::Log for MockErrors {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.target() == "librdkafka" && metadata.level() <= log::Level::Error
        }
        fn log(&self, record: &log::Record) {
            let message = record.args().to_string();
            if self.enabled(record.metadata()) && message.starts_with("librdkafka: MOCK ") {
                // Past the test harness's capture, which an abort never prints.
                let _ = writeln!(std::io::stderr(), "{message}");
            }
        }
        fn flush(&self) {}
    }
    if log::set_logger(&MockErrors).is_ok() {
        log::set_max_level(log::LevelFilter::Error);
    }
}

/// Whether `args` choose the KIP-848 consumer group protocol.
fn kip_848(args: &[&str]) -> bool {
    args.windows(2)
        .any(|pair| pair == ["--group-protocol", "consumer"])
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The source every test event names.
pub fn source() -> Source {
    Source::new(
        "orchestrator-test",
        "omninode-bridge-orchestrator",
        "1.0.0",
        "test",
        "it",
    )
}

/// `event` as the JSON a producer sends (tests of poison edit it).
pub fn json(event: &Event) -> Value {
    serde_json::to_value(event).expect("an event serializes")
}

/// An event of `payload` about workflow `correlation_id`, with a fresh UUIDv7 id.
pub fn event(correlation_id: Option<Uuid>, payload: impl Into<Payload>) -> Value {
    json(&source().event(correlation_id, payload))
}

/// `workflow-started` for `correlation_id`.
pub fn started(correlation_id: Uuid) -> Value {
    event(
        Some(correlation_id),
        WorkflowStarted::new("metadata_stamping", "it"),
    )
}

/// `step-completed` number `order` of `correlation_id`.
pub fn step(correlation_id: Uuid, order: i32) -> Value {
    event(
        Some(correlation_id),
        StepCompleted::new(format!("step_{order}"), order),
    )
}

/// `state-transition` of workflow `correlation_id` (as an entity).
pub fn transition(correlation_id: Uuid, to: &str) -> Value {
    event(
        Some(correlation_id),
        StateTransition::new(correlation_id, "workflow_run", to, "moved"),
    )
}

/// `stamp-created` of `correlation_id`.
pub fn stamp(correlation_id: Uuid) -> Value {
    event(
        Some(correlation_id),
        StampCreated::new(
            format!("{:x}", correlation_id.as_u128()),
            json!({"v": 1}),
            "it",
        ),
    )
}

/// `workflow-completed` of `correlation_id`.
pub fn completed(correlation_id: Uuid) -> Value {
    event(Some(correlation_id), WorkflowCompleted::default())
}

/// `workflow-failed` of `correlation_id`.
pub fn failed(correlation_id: Uuid) -> Value {
    event(Some(correlation_id), WorkflowFailed::new("late failure"))
}

/// `node-registered` of `node_id`.
pub fn registered(node_id: &str) -> Value {
    event(None, NodeRegistered::new(node_id, "reducer", "v1"))
}

/// `node-heartbeat` of `node_id`.
pub fn heartbeat(node_id: &str) -> Value {
    event(None, NodeHeartbeat::new(node_id, HealthStatus::Healthy))
}

/// `state-aggregation-completed` adding `workflows` to bridge `bridge_id`.
pub fn aggregation(bridge_id: Uuid, workflows: i64) -> Value {
    let mut delta = StateAggregationCompleted::new(bridge_id, "it", "idle");
    delta.total_workflows_processed = workflows;
    delta.total_items_aggregated = workflows * 10;
    event(None, delta)
}

/// A workflow's full life: started, `steps` steps, a transition, a stamp, completed.
pub fn workflow_life(steps: i32) -> Vec<Value> {
    let id = Uuid::now_v7();
    let mut events = vec![started(id)];
    events.extend((0..steps).map(|order| step(id, order)));
    events.push(transition(id, "PROCESSING"));
    events.push(stamp(id));
    events.push(completed(id));
    events
}

/// The `line` column of `sql`'s rows.
pub async fn lines(db: &Db, sql: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = db.conn().await.expect("a connection");
    let rows: Vec<Line> = diesel::sql_query(sql).load(&mut conn).await.expect(sql);
    rows.into_iter().map(|row| row.line).collect()
}

/// The sum over all label sets of metric `name` on `adapter`'s `/metrics`.
pub fn metric_sum(adapter: &Adapter, name: &str) -> f64 {
    let Some((_, body)) = adapter.get("/metrics") else {
        return 0.0;
    };
    bridge_adapter::metrics::sum(&body, name)
}

/// Asserts that every sample `adapter` serves on `/metrics` is of a metric
/// in the catalog (the README's table), with exactly its labels.
pub fn assert_emitted_as_catalogued(adapter: &Adapter) {
    let (_, body) = adapter.get("/metrics").expect("/metrics answers");
    let mut seen = 0;
    for line in body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
    {
        let series = line.rsplit_once(' ').expect("name and value").0;
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        let metric = bridge_adapter::metrics::CATALOG
            .iter()
            .find(|metric| {
                name == metric.name
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name.strip_suffix(suffix) == Some(metric.name))
            })
            .unwrap_or_else(|| panic!("{name} is served but not in the catalog"));
        let mut keys: Vec<&str> = labels
            .trim_end_matches('}')
            .split(',')
            .filter_map(|pair| pair.split_once('=').map(|(key, _)| key))
            .filter(|key| !matches!(*key, "le" | "quantile"))
            .collect();
        keys.sort_unstable();
        let mut expected = metric.labels.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "labels of {line}");
        seen += 1;
    }
    assert!(seen > 0, "no samples served");
}
