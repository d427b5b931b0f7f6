//! The adapter's Prometheus metrics: names, labels, descriptions and the recorder.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

mod totals;

pub use totals::Totals;

use crate::{
    item::Item,
    outcome::{Outcome, Refusal},
};

/// What kind of Prometheus metric one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution, in buckets.
    Histogram,
}

impl Kind {
    /// `counter`, `gauge` or `histogram`, as the README's table says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric the adapter exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// The labels every sample of it carries.
    pub labels: &'static [&'static str],
    /// What it measures.
    pub help: &'static str,
}

macro_rules! metrics {
    ($($(#[$doc:meta])* $constant:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)+) => {
        $($(#[$doc])* pub const $constant: &str = $name;)+

        /// Every metric the adapter exports (the README's table lists exactly these).
        pub const CATALOG: &[Metric] = &[$(Metric {
            name: $name,
            kind: Kind::$kind,
            labels: &[$($label),*],
            help: $help,
        }),+];
    };
}

metrics! {
    /// Events consumed from Kafka.
    CONSUMED = "adapter_events_consumed_total", Counter, ["event_type"],
        "Events consumed from Kafka, by event_type (unknown when the message did not decode).";
    /// Events written or found written, parked ones included when applied.
    PERSISTED = "adapter_events_persisted_total", Counter, ["event_type"],
        "Events written or found written (redeliveries), by event_type; a parked event counts when it is applied.";
    /// Events sent to a dead-letter topic.
    DEAD_LETTERED = "adapter_events_dead_lettered_total", Counter, ["event_type", "reason"],
        "Events sent to the dead-letter topics, by event_type and reason (the dlq.reason header).";
    /// Events deliberately not written.
    IGNORED = "adapter_events_ignored_total", Counter, ["event_type", "reason"],
        "Events deliberately not written, by event_type and reason (late_state_change).";
    /// Events parked until their workflow or node arrives.
    DEFERRED = "adapter_events_deferred_total", Counter, ["event_type"],
        "Events parked until their workflow or node arrives, by event_type.";
    /// Events waiting in memory for their workflow or node (not yet parked).
    HELD = "adapter_events_held", Gauge, [],
        "Events waiting in memory for their workflow or node, before they would be parked.";
    /// Parked events applied later.
    DEFERRED_APPLIED = "adapter_deferred_events_applied_total", Counter, [],
        "Parked events applied once what they waited for arrived.";
    /// Events parked now.
    DEFERRED_WAITING = "adapter_deferred_events_waiting", Gauge, [],
        "Events parked now.";
    /// Seconds the longest-parked event has waited (0 when none is parked).
    DEFERRED_OLDEST_AGE = "adapter_deferred_events_oldest_age_seconds", Gauge, [],
        "Seconds the longest-parked event has waited; 0 when none is parked.";
    /// Events per applied batch.
    BATCH_SIZE = "adapter_batch_size", Histogram, [],
        "Events per applied batch.";
    /// Time from a batch's first message to its transaction committed.
    BATCH_SECONDS = "adapter_batch_duration_seconds", Histogram, [],
        "From a batch's first message to its transaction committed and its offsets recorded (committed to Kafka within --commit-interval-ms).";
    /// Time from an event's Kafka timestamp to its batch's transaction committed.
    EVENT_LATENCY = "adapter_event_commit_latency_seconds", Histogram, [],
        "From an event's Kafka timestamp to its batch's transaction committed (its offset follows within --commit-interval-ms).";
    /// Partitions this member owns.
    ASSIGNED = "adapter_assigned_partitions", Gauge, [],
        "Partitions this member owns now (0 between a revoke and the next assignment, and while the group gives it none).";
    /// Messages the group leaves uncommitted, seen by a member that has owned no partition for longer than the session timeout.
    UNASSIGNED_BACKLOG = "adapter_unassigned_group_backlog", Gauge, [],
        "Messages of the adapter's topics its group has not committed, while this member has owned no partition for longer than the session timeout (0 otherwise): the group is stuck and this member is not helping.";
    /// Messages behind the partition's end.
    LAG = "adapter_consumer_lag", Gauge, ["topic", "partition"],
        "Messages behind the end of the partition, by topic and partition.";
    /// Connections the pool holds.
    POOL_SIZE = "adapter_db_pool_connections", Gauge, [],
        "Connections the database pool holds.";
    /// Connections checked out of the pool.
    POOL_IN_USE = "adapter_db_pool_connections_in_use", Gauge, [],
        "Connections checked out of the database pool.";
    /// Most connections the pool may hold (`--pool-size`).
    POOL_MAX = "adapter_db_pool_connections_max", Gauge, [],
        "Most connections the database pool may hold (--pool-size).";
    /// 1 while the circuit breaker is open (database unavailable), else 0.
    CIRCUIT_OPEN = "adapter_circuit_breaker_open", Gauge, [],
        "1 while the circuit breaker is open (database unavailable), else 0.";
    /// Database failures.
    DB_ERRORS = "adapter_db_errors_total", Counter, ["kind"],
        "Database failures, by kind: retryable (the lane is retried), conflict (an unclassified failure, a deadlock among them, tried again whole) or refused (the event is dead-lettered).";
    /// Rebalances this member took part in.
    REBALANCES = "adapter_rebalances_total", Counter, ["kind"],
        "Rebalances of this member, by kind: assign, revoke or error.";
    /// Partitions taken from this member by rebalances.
    REVOKED = "adapter_partitions_revoked_total", Counter, [],
        "Partitions revoked from this member (each committed and forgotten as it goes).";
    /// Offset commits that failed (the events will be redelivered).
    COMMIT_ERRORS = "adapter_offset_commit_errors_total", Counter, [],
        "Offset commits that failed (the events are redelivered).";
}

/// Counts one event's outcome, and logs those that were not written.
pub(crate) fn outcome(item: &Item, outcome: &Outcome) {
    let kind = item.event_type_label();
    let message = &item.message;
    match outcome {
        Outcome::Persisted => metrics::counter!(PERSISTED, "event_type" => kind).increment(1),
        Outcome::Ignored(reason) => {
            tracing::info!(event_type = kind, reason = reason.as_str(), topic = %message.topic, offset = message.offset, "event ignored");
            metrics::counter!(IGNORED, "event_type" => kind, "reason" => reason.as_str())
                .increment(1)
        }
        Outcome::Deferred(waits_for) => {
            tracing::info!(event_type = kind, reason = %waits_for.reason(), "event parked");
            metrics::counter!(DEFERRED, "event_type" => kind).increment(1)
        }
        Outcome::Held(_) => {}
        Outcome::Poison(refusal) => dead_lettered(item.event_type(), message, refusal),
    }
}

/// Counts and logs one dead letter of event type `event_type` (as the envelope named it).
pub(crate) fn dead_lettered(
    event_type: Option<&str>,
    message: &crate::message::Consumed,
    refusal: &Refusal,
) {
    let reason = refusal.reason();
    let label = event_type
        .and_then(|name| name.parse::<bridge_events::EventType>().ok())
        .map_or("unknown", bridge_events::EventType::as_str);
    tracing::warn!(event_type = event_type.unwrap_or("unknown"), reason, error = %refusal, topic = %message.topic, partition = message.partition, offset = message.offset, "event dead-lettered");
    metrics::counter!(DEAD_LETTERED, "event_type" => label, "reason" => reason).increment(1);
    if matches!(refusal, Refusal::Write(_)) {
        metrics::counter!(DB_ERRORS, "kind" => "refused").increment(1);
    }
}

/// Counts parked events of the event types `types` applied.
pub(crate) fn parked_applied(types: &[&'static str]) {
    metrics::counter!(DEFERRED_APPLIED).increment(types.len() as u64);
    for &kind in types {
        metrics::counter!(PERSISTED, "event_type" => kind).increment(1);
    }
}

/// The sum over all label sets of metric `name` in Prometheus text `text`
/// (what `/metrics` serves); 0 when it is absent.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |total, value| total + value)
}

/// Installs the global Prometheus recorder and returns the handle `/metrics` renders.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let seconds = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let sizes = [
        1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(BATCH_SECONDS.into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full(EVENT_LATENCY.into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &sizes)?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// Describes every metric, so `/metrics` says what each one means.
fn describe() {
    for metric in CATALOG {
        match metric.kind {
            Kind::Counter => describe_counter!(metric.name, metric.help),
            Kind::Gauge => describe_gauge!(metric.name, metric.help),
            Kind::Histogram if metric.name.ends_with("_seconds") => {
                describe_histogram!(metric.name, Unit::Seconds, metric.help)
            }
            Kind::Histogram => describe_histogram!(metric.name, Unit::Count, metric.help),
        }
    }
}
