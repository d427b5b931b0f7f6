//! `/health` and `/metrics` say what the adapter does; SIGTERM commits what was written and leaves the group.

mod support;

use bridge_events::EventType;
use serde_json::Value;
use support::{Rig, PREFIX};

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_every_component_and_metrics_count_by_type() {
    let rig = Rig::new(1).await;
    // A Kafka secret the broker never asks for (PLAINTEXT): it must appear nowhere.
    const SECRET: &str = "kafka-s3cret-value";
    let adapter = rig.adapter("adapter", &["-X", &format!("sasl.password={SECRET}")]);
    let events = support::workflow_life(2);
    rig.produce_all(&events).await;
    rig.wait_for_count("metadata_stamps", 1).await;
    let healthy = support::wait_until(support::PATIENCE, || async {
        matches!(adapter.get("/health"), Some((200, _)))
    })
    .await;
    assert!(
        healthy,
        "{:?}\n{}",
        adapter.get("/health"),
        adapter.log_text()
    );
    let (_, body) = adapter.get("/health").unwrap();
    let health: Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["database"]["ok"], true);
    assert_eq!(health["broker"]["ok"], true);
    assert_eq!(health["circuit_breaker"], "closed");
    assert!(health["pool"]["max"].as_u64().unwrap() >= 1);
    let brokers = health["cluster"]["brokers"].as_array().unwrap();
    assert!(
        brokers.iter().any(|b| b["state"] == "UP"),
        "the broker seen: {health}"
    );
    assert_eq!(
        health["cluster"]["group"]["assigned_partitions"], 9,
        "{health}"
    );
    assert_eq!(health["cluster"]["group"]["state"], "up", "{health}");
    let partitions = health["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 9, "one per event topic: {health}");
    let listed: std::collections::BTreeSet<String> = partitions
        .iter()
        .map(|p| format!("{}/{}", p["topic"].as_str().unwrap(), p["partition"]))
        .collect();
    assert_eq!(
        support::assignment(&health),
        listed,
        "the assignment names the partitions listed: {health}"
    );
    assert!(partitions
        .iter()
        .all(|p| p["topic"].as_str().unwrap().starts_with(PREFIX)));
    assert!(
        partitions.iter().all(|p| p["fetch_state"].is_string()),
        "{health}"
    );
    for field in ["lag", "committed_offset", "high_watermark", "position"] {
        assert!(
            partitions
                .iter()
                .all(|p| p[field].is_null() || p[field].as_i64().is_some_and(|n| n >= 0)),
            "{field}: no librdkafka sentinel (-1, -1001) in /health: {health}"
        );
    }

    let consumed = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_events_persisted_total") == events.len() as f64
    })
    .await;
    assert!(consumed);
    let (code, text) = adapter.get("/metrics").unwrap();
    assert_eq!(code, 200);
    for name in [
        "adapter_events_consumed_total{event_type=\"step-completed\"} 2",
        "adapter_events_persisted_total{event_type=\"workflow-started\"} 1",
        "adapter_batch_size_bucket",
        "adapter_batch_duration_seconds_bucket",
        "adapter_event_commit_latency_seconds_bucket",
        "adapter_consumer_lag{",
        "adapter_db_pool_connections ",
        "adapter_db_pool_connections_in_use ",
        "adapter_circuit_breaker_open 0",
        "# TYPE adapter_events_consumed_total counter",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    support::assert_emitted_as_catalogued(&adapter);
    let (_, health) = adapter.get("/health").unwrap();
    assert!(!health.contains(SECRET) && !text.contains(SECRET));
    assert!(
        !rig.all_logs().contains(SECRET),
        "a Kafka secret in the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_commits_what_was_written_and_leaves_the_group() {
    let rig = Rig::new(2).await;
    let workflows = 200;
    let events: Vec<Value> = (0..workflows)
        .flat_map(|_| support::workflow_life(3))
        .collect();
    rig.produce_all(&events).await;
    // No interval commit comes within the test: what is committed, the
    // shutdown commits.
    let mut first = rig.adapter(
        "first",
        &["--batch-size", "20", "--commit-interval-ms", "600000"],
    );
    let moving = support::wait_until(support::PATIENCE, || async {
        rig.count("workflow_steps").await >= 90
    })
    .await;
    assert!(moving, "{}", rig.all_logs());
    let status = first.terminate();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        first.log_text()
    );
    // Its last line gives its lifetime totals, in plain text (no colour
    // codes in a log file): every event it took was a step, workflow or
    // stamp of the backlog, and each counts once.
    let totals = bridge_adapter::metrics::Totals::from_log(&first.log_text())
        .unwrap_or_else(|| panic!("no totals on the stop line:\n{}", first.log_text()));
    // Committed offsets account for exactly what was written: steps stored
    // or parked, nothing written uncommitted, nothing committed unwritten.
    let steps_topic = EventType::StepCompleted.topic(PREFIX);
    let committed: i64 = rig
        .committed("database_adapter_consumers", &steps_topic, 2)
        .iter()
        .map(|&offset| offset.max(0))
        .sum();
    let parked = support::lines(&rig.db, "SELECT count(*)::text AS line FROM adapter_deferred_events WHERE event_type = 'step-completed'").await;
    let written = rig.count("workflow_steps").await + parked[0].parse::<i64>().unwrap();
    assert_eq!(
        committed, written,
        "committed step offsets against steps written"
    );
    let taken = totals.consumed as i64;
    assert!(
        taken >= committed && taken <= events.len() as i64,
        "{taken} events consumed, {committed} steps committed, {} produced",
        events.len()
    );
    assert_eq!(totals.dead_lettered, 0);
    let _second = rig.adapter("second", &["--batch-size", "20"]);
    rig.wait_for_count("workflow_steps", 3 * workflows).await;
    rig.wait_for_count("metadata_stamps", workflows).await;
    let drained = support::wait_until(support::PATIENCE, || async {
        rig.count("adapter_deferred_events").await == 0
    })
    .await;
    assert!(drained);
    assert_eq!(rig.count("workflow_steps").await, 3 * workflows);
    assert_eq!(rig.count("workflow_executions").await, workflows);
}
