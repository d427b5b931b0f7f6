//! What `/health` reports, kept up to date by the consumer loop and
//! librdkafka's statistics, and the HTTP routes that serve it and `/metrics`.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use bridge_models::Db;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::Statistics;
use serde::Serialize;

/// How long `/health` waits for the database to answer.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One assigned partition's position, from librdkafka's statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset; `null` before the group commits one.
    pub committed_offset: Option<i64>,
    /// The offset after the partition's last message; `null` until the broker tells.
    pub high_watermark: Option<i64>,
    /// Messages behind the end: from the committed offset, or from the
    /// partition's start before the first commit; `null` while unknown.
    pub lag: Option<i64>,
    /// The offset this member fetches next; `null` before it starts.
    pub position: Option<i64>,
    /// librdkafka's fetch state: `active` while fetching; `offset-query` or
    /// `offset-wait` while it looks for where to start; `stopped`, `none`.
    pub fetch_state: String,
}

/// The adapter's state, shared by the consumer loop and the HTTP server.
#[derive(Debug, Default)]
pub struct Health {
    circuit_open: AtomicBool,
    broker_up: AtomicBool,
    cluster: Mutex<ClusterReport>,
    partitions: Mutex<BTreeMap<(String, i32), PartitionLag>>,
    assignment: Mutex<Assignment>,
    last_db_error: Mutex<Option<String>>,
    failure: Mutex<Option<String>>,
    /// Since when this member has owned no partition; `None` while it owns some.
    unassigned_since: Mutex<Option<Instant>>,
    /// Why this member, owning no partition, is not healthy.
    starved: Mutex<Option<String>>,
}

impl Health {
    /// Records whether the circuit breaker is open.
    pub fn set_circuit_open(&self, open: bool) {
        self.circuit_open.store(open, Ordering::Relaxed);
        metrics::gauge!(crate::metrics::CIRCUIT_OPEN).set(if open { 1.0 } else { 0.0 });
    }

    /// Whether the circuit breaker is open.
    pub fn circuit_open(&self) -> bool {
        self.circuit_open.load(Ordering::Relaxed)
    }

    /// Records the latest database error, or that the database answered.
    pub fn set_db_error(&self, error: Option<String>) {
        *self.last_db_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// Takes in librdkafka's periodic statistics: broker state and partition lag.
    pub fn record_statistics(&self, stats: &Statistics) {
        let up = stats
            .brokers
            .values()
            .any(|broker| broker.nodeid >= 0 && broker.state == "UP");
        self.broker_up.store(up, Ordering::Relaxed);
        let brokers = stats
            .brokers
            .values()
            .filter(|broker| broker.nodeid >= 0)
            .map(|broker| BrokerReport {
                name: broker.nodename.clone(),
                node_id: broker.nodeid,
                state: broker.state.clone(),
            })
            .collect();
        let group = stats.cgrp.as_ref().map(|group| GroupReport {
            state: group.state.clone(),
            join_state: group.join_state.clone(),
            rebalances: group.rebalance_cnt,
            assigned_partitions: group.assignment_size,
        });
        *self.cluster.lock().unwrap_or_else(|p| p.into_inner()) = ClusterReport { brokers, group };
        let mut partitions = BTreeMap::new();
        for (topic, topic_stats) in &stats.topics {
            for (&partition, p) in &topic_stats.partitions {
                if partition < 0 || !p.desired {
                    continue;
                }
                let committed_offset = offset(p.committed_offset);
                let high_watermark = offset(p.hi_offset);
                // An empty partition is 0 behind, committed or not.
                let from = committed_offset
                    .or(offset(p.lo_offset))
                    .or((high_watermark == Some(0)).then_some(0));
                let lag = high_watermark
                    .zip(from)
                    .map(|(high, from)| (high - from).max(0));
                if let Some(lag) = lag {
                    metrics::gauge!(crate::metrics::LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(lag as f64);
                }
                let lag = PartitionLag {
                    topic: topic.clone(),
                    partition,
                    committed_offset,
                    high_watermark,
                    lag,
                    position: offset(p.next_offset),
                    fetch_state: p.fetch_state.clone(),
                };
                partitions.insert((topic.clone(), partition), lag);
            }
        }
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = partitions;
    }

    /// Records the partitions this member owns now (none when `owned` is `None`).
    pub fn set_assignment(&self, owned: Option<&rdkafka::TopicPartitionList>) {
        let assignment = owned.map(by_topic).unwrap_or_default();
        let partitions: usize = assignment.values().map(Vec::len).sum();
        *self.assignment.lock().unwrap_or_else(|p| p.into_inner()) = assignment;
        metrics::gauge!(crate::metrics::ASSIGNED).set(partitions as f64);
        let mut since = self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if partitions > 0 {
            *since = None;
            self.set_starved(None);
            metrics::gauge!(crate::metrics::UNASSIGNED_BACKLOG).set(0.0);
        } else if since.is_none() {
            *since = Some(Instant::now());
        }
    }

    /// How long this member has owned no partition; `None` while it owns some.
    pub fn unassigned_for(&self) -> Option<Duration> {
        let since = *self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        since.map(|since| since.elapsed())
    }

    /// Records why this member, owning no partition, is not healthy, or that it is again.
    pub fn set_starved(&self, reason: Option<String>) {
        *self.starved.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// Marks the adapter failed (a task it needs died): `/health` answers 503 with `reason`.
    pub fn set_failed(&self, reason: String) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    /// Why the adapter failed, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets the partitions this member gives up: they leave `/health`
    /// at once and their lag gauges drop to 0 (their new owner reports them).
    pub fn forget(&self, revoked: &rdkafka::TopicPartitionList) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for element in revoked.elements() {
            let key = (element.topic().to_owned(), element.partition());
            partitions.remove(&key);
            metrics::gauge!(crate::metrics::LAG, "topic" => key.0, "partition" => key.1.to_string())
                .set(0.0);
        }
    }

    fn partitions(&self) -> Vec<PartitionLag> {
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Partition numbers by topic, in order.
pub type Assignment = BTreeMap<String, Vec<i32>>;

/// `list`'s partition numbers by topic, in order.
pub fn by_topic(list: &rdkafka::TopicPartitionList) -> Assignment {
    let mut by_topic = Assignment::new();
    for element in list.elements() {
        by_topic
            .entry(element.topic().to_owned())
            .or_default()
            .push(element.partition());
    }
    for numbers in by_topic.values_mut() {
        numbers.sort_unstable();
    }
    by_topic
}

/// The `/health` document.
/// The brokers seen and the consumer group, as librdkafka's statistics last said.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterReport {
    /// Each broker of the cluster this member knows, with its connection state.
    pub brokers: Vec<BrokerReport>,
    /// This member's consumer group; `null` before librdkafka reports it.
    pub group: Option<GroupReport>,
}

/// One broker as this member sees it.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerReport {
    /// `host:port`.
    pub name: String,
    /// Its node id.
    pub node_id: i32,
    /// librdkafka's connection state, e.g. `UP`, `DOWN`, `CONNECT`.
    pub state: String,
}

/// This member's view of its consumer group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// librdkafka's group state, e.g. `up`, `wait-coord`.
    pub state: String,
    /// Its join state, e.g. `steady`, `wait-join`.
    pub join_state: String,
    /// Rebalances this member went through.
    pub rebalances: i64,
    /// Partitions assigned to this member.
    pub assigned_partitions: i32,
}

#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// Whether the database answered `SELECT 1`, and the error if not.
    pub database: ComponentReport,
    /// The pool's connections.
    pub pool: PoolReport,
    /// Whether a Kafka broker connection is up.
    pub broker: ComponentReport,
    /// The brokers this member sees and its consumer group, from librdkafka's statistics.
    pub cluster: ClusterReport,
    /// `closed` (writing) or `open` (database unavailable, partitions paused).
    pub circuit_breaker: &'static str,
    /// The partitions this member owns now, by topic, as of its last rebalance.
    pub assignment: Assignment,
    /// Each assigned partition's committed offset, end and lag.
    pub partitions: Vec<PartitionLag>,
    /// Why this member is unhealthy though it runs: it has owned no
    /// partition for longer than the session timeout while its group leaves
    /// messages uncommitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unassigned: Option<String>,
    /// Why the adapter is stopping, when a task it needs died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Whether one dependency is usable.
#[derive(Debug, Serialize)]
pub struct ComponentReport {
    /// True when usable.
    pub ok: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The pool's connections.
#[derive(Debug, Serialize)]
pub struct PoolReport {
    /// Connections held.
    pub connections: u32,
    /// Connections idle.
    pub idle: u32,
    /// Connections checked out.
    pub in_use: u32,
    /// Most connections allowed.
    pub max: u32,
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The adapter's state.
    pub health: Arc<Health>,
    /// The database, probed by `/health`.
    pub db: Db,
    /// The Prometheus recorder, when installed.
    pub metrics: Option<PrometheusHandle>,
}

/// The routes: `/health` and `/metrics`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

async fn health(State(state): State<HttpState>) -> impl IntoResponse {
    let database = probe(&state.db).await;
    let pool = pool_report(&state.db);
    let broker_up = state.health.broker_up.load(Ordering::Relaxed);
    let circuit_open = state.health.circuit_open();
    let failure = state.health.failure();
    let unassigned = state
        .health
        .starved
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let healthy =
        database.is_ok() && broker_up && !circuit_open && failure.is_none() && unassigned.is_none();
    let report = HealthReport {
        status: if healthy { "healthy" } else { "unhealthy" },
        database: ComponentReport {
            ok: database.is_ok(),
            error: database.err(),
        },
        pool,
        broker: ComponentReport {
            ok: broker_up,
            error: (!broker_up).then(|| "no broker connection is up".to_owned()),
        },
        cluster: state
            .health
            .cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        circuit_breaker: if circuit_open { "open" } else { "closed" },
        assignment: state
            .health
            .assignment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        partitions: state.health.partitions(),
        unassigned,
        failure,
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report))
}

/// A librdkafka offset, or `None` for its sentinels (-1 end, -1001 invalid, ...).
fn offset(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

async fn probe(db: &Db) -> Result<(), String> {
    let attempt = async {
        let mut conn = db.conn().await.map_err(|err| err.to_string())?;
        diesel_async::RunQueryDsl::execute(diesel::sql_query("SELECT 1"), &mut *conn)
            .await
            .map_err(|err| err.to_string())
    };
    match tokio::time::timeout(DB_PROBE_TIMEOUT, attempt).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(format!("no answer within {DB_PROBE_TIMEOUT:?}")),
    }
}

fn pool_report(db: &Db) -> PoolReport {
    let state = db.pool_state();
    let in_use = state.connections.saturating_sub(state.idle_connections);
    metrics::gauge!(crate::metrics::POOL_SIZE).set(state.connections);
    metrics::gauge!(crate::metrics::POOL_IN_USE).set(in_use);
    metrics::gauge!(crate::metrics::POOL_MAX).set(db.config().max_connections);
    PoolReport {
        connections: state.connections,
        idle: state.idle_connections,
        in_use,
        max: db.config().max_connections,
    }
}

async fn render_metrics(State(state): State<HttpState>) -> impl IntoResponse {
    pool_report(&state.db);
    let body = state
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
}
