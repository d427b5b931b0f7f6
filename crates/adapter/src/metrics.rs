//! The adapter's Prometheus metrics: names, descriptions and the recorder.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events consumed from Kafka, by `event_type`.
pub const CONSUMED: &str = "adapter_events_consumed_total";
/// Events written (or found written: redeliveries), by `event_type`.
pub const PERSISTED: &str = "adapter_events_persisted_total";
/// Events sent to a dead-letter topic, by `event_type` and `reason`.
pub const DEAD_LETTERED: &str = "adapter_events_dead_lettered_total";
/// Events deliberately not written, by `event_type` and `reason`.
pub const IGNORED: &str = "adapter_events_ignored_total";
/// Events parked until their workflow or node arrives, by `event_type`.
pub const DEFERRED: &str = "adapter_events_deferred_total";
/// Events waiting in memory for their workflow or node (not yet parked).
pub const HELD: &str = "adapter_events_held";
/// Parked events applied later.
pub const DEFERRED_APPLIED: &str = "adapter_deferred_events_applied_total";
/// Events parked now.
pub const DEFERRED_WAITING: &str = "adapter_deferred_events_waiting";
/// Seconds the longest-parked event has waited (0 when none is parked).
pub const DEFERRED_OLDEST_AGE: &str = "adapter_deferred_events_oldest_age_seconds";
/// Events per applied batch.
pub const BATCH_SIZE: &str = "adapter_batch_size";
/// Time from a batch's first message to its offsets committed.
pub const BATCH_SECONDS: &str = "adapter_batch_duration_seconds";
/// Time from an event's Kafka timestamp to its offset committed.
pub const EVENT_LATENCY: &str = "adapter_event_commit_latency_seconds";
/// Messages behind the partition's end, by `topic` and `partition`.
pub const LAG: &str = "adapter_consumer_lag";
/// Connections the pool holds.
pub const POOL_SIZE: &str = "adapter_db_pool_connections";
/// Connections checked out of the pool.
pub const POOL_IN_USE: &str = "adapter_db_pool_connections_in_use";
/// Most connections the pool may hold (`--pool-size`).
pub const POOL_MAX: &str = "adapter_db_pool_connections_max";
/// 1 while the circuit breaker is open (database unavailable), else 0.
pub const CIRCUIT_OPEN: &str = "adapter_circuit_breaker_open";
/// Database failures, by `kind` (`retryable` or `refused`).
pub const DB_ERRORS: &str = "adapter_db_errors_total";
/// Offset commits that failed (the events will be redelivered).
pub const COMMIT_ERRORS: &str = "adapter_offset_commit_errors_total";

/// Every metric the adapter registers, as `/metrics` names it (a histogram
/// `h` is served as `h_bucket`, `h_sum` and `h_count`).
pub const ALL: [&str; 19] = [
    CONSUMED,
    PERSISTED,
    DEAD_LETTERED,
    IGNORED,
    DEFERRED,
    HELD,
    DEFERRED_APPLIED,
    DEFERRED_WAITING,
    DEFERRED_OLDEST_AGE,
    BATCH_SIZE,
    BATCH_SECONDS,
    EVENT_LATENCY,
    LAG,
    POOL_SIZE,
    POOL_IN_USE,
    POOL_MAX,
    CIRCUIT_OPEN,
    DB_ERRORS,
    COMMIT_ERRORS,
];

/// The histograms among [`ALL`].
pub const HISTOGRAMS: [&str; 3] = [BATCH_SIZE, BATCH_SECONDS, EVENT_LATENCY];

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
    describe_counter!(CONSUMED, "Events consumed from Kafka, by event_type.");
    describe_counter!(
        PERSISTED,
        "Events written or found written (redeliveries), by event_type."
    );
    describe_counter!(
        DEAD_LETTERED,
        "Events sent to <topic>.dlq, by event_type and reason."
    );
    describe_counter!(
        IGNORED,
        "Events deliberately not written, by event_type and reason."
    );
    describe_counter!(
        DEFERRED,
        "Events parked until their workflow or node arrives."
    );
    describe_counter!(
        DEFERRED_APPLIED,
        "Parked events applied once what they waited for arrived."
    );
    describe_gauge!(DEFERRED_WAITING, "Events parked now.");
    describe_gauge!(
        DEFERRED_OLDEST_AGE,
        "Seconds the longest-parked event has waited (0 when none is parked)."
    );
    describe_gauge!(
        HELD,
        "Events waiting in memory for their workflow or node, before they would be parked."
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Events per applied batch.");
    describe_histogram!(
        BATCH_SECONDS,
        Unit::Seconds,
        "From a batch's first message to its offsets committed."
    );
    describe_histogram!(
        EVENT_LATENCY,
        Unit::Seconds,
        "From an event's Kafka timestamp to its offset committed."
    );
    describe_gauge!(
        LAG,
        "Messages behind the end of the partition, by topic and partition."
    );
    describe_gauge!(POOL_SIZE, "Connections the database pool holds.");
    describe_gauge!(POOL_IN_USE, "Connections checked out of the database pool.");
    describe_gauge!(
        POOL_MAX,
        "Most connections the database pool may hold (--pool-size)."
    );
    describe_gauge!(
        CIRCUIT_OPEN,
        "1 while the circuit breaker is open (database unavailable), else 0."
    );
    describe_counter!(
        DB_ERRORS,
        "Database failures, by kind (retryable, refused)."
    );
    describe_counter!(
        COMMIT_ERRORS,
        "Offset commits that failed (the events are redelivered)."
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_lists_every_metric_name_declared_here() {
        let mut declared: Vec<&str> = include_str!("metrics.rs")
            .lines()
            .filter(|line| line.starts_with("pub const") && line.contains(": &str = \""))
            .filter_map(|line| line.split('"').nth(1))
            .collect();
        let mut all = super::ALL.to_vec();
        declared.sort_unstable();
        all.sort_unstable();
        assert_eq!(all, declared);
    }
}
