//! The adapter on a three-broker cluster (librdkafka's mock cluster, every
//! topic replicated on all three): a broker leading partitions stopped
//! mid-stream and started again, the group coordinator's broker stopped, and
//! transient errors on fetch, offset commit and dead-letter produce. Each
//! ends with every row exactly once, the bridge's counters the sum of the
//! distinct deltas and the dead-letter topics holding exactly the poison.
//!
//! The mock's brokers share one log and one offset store, so a stopped
//! broker loses nothing; `MockKafka` moves leadership and coordination off
//! it as a controller would.

mod support;

use bridge_events::EventType;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::{ledger::Ledger, Rig, PATIENCE, PREFIX};

/// Partitions of each event topic: one led by each broker.
const PARTITIONS: u32 = 3;

/// The adapters' consumer group (their default).
const GROUP: &str = "database_adapter_consumers";

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_leading_partitions_stopped_mid_stream_and_started_again_loses_and_duplicates_nothing(
) {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    // The coordinator stays up: this is about partition leaders.
    rig.cluster().set_group_coordinator(GROUP, 1);
    let ledger = Ledger::new(150, 6);
    let half = ledger.len() / 2;
    let _adapter = rig.adapter("adapter", &["--batch-size", "20"]);
    ledger.produce(&rig, 0, half).await;
    rig.wait_for_count("workflow_steps", 60).await;

    let led = |broker| {
        EventType::ALL
            .iter()
            .flat_map(|kind| (0..PARTITIONS as i32).map(move |p| (kind.topic(PREFIX), p)))
            .filter(|(topic, partition)| rig.cluster().leader(topic, *partition) == broker)
            .count()
    };
    assert!(led(2) > 0, "broker 2 leads event partitions");
    // The partitions it led get new leaders: writing goes on without it.
    rest_without_broker_2(&rig, &ledger, half, || {
        assert_eq!(led(2), 0, "its partitions moved")
    })
    .await;

    ledger.assert_all_once(&rig).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_group_coordinators_broker_stopped_mid_stream_loses_and_duplicates_nothing() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    rig.cluster().set_group_coordinator(GROUP, 2);
    let ledger = Ledger::new(150, 6);
    let half = ledger.len() / 2;
    let _adapter = rig.adapter("adapter", &["--batch-size", "20"]);
    ledger.produce(&rig, 0, half).await;
    rig.wait_for_count("workflow_steps", 60).await;

    // The group moves to broker 3 (and broker 2's partitions to others),
    // and back to broker 2 when it starts again.
    rest_without_broker_2(&rig, &ledger, half, || {}).await;

    ledger.assert_all_once(&rig).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_on_fetch_offset_commit_and_dead_letter_produce_lose_and_duplicate_nothing(
) {
    use RDKafkaRespErr::*;
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let ledger = Ledger::new(150, 9);
    // Everything is produced first, so that the only produce requests the
    // cluster sees afterwards are the adapter's dead letters.
    ledger.produce(&rig, 0, ledger.len()).await;
    rig.cluster().inject_errors(
        RDKafkaApiKey::Produce,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    let _adapter = rig.adapter("adapter", &["--batch-size", "20"]);
    rig.wait_for_count("workflow_steps", 60).await;
    rig.cluster().inject_errors(
        RDKafkaApiKey::Fetch,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        ],
    );
    rig.cluster().inject_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR__TRANSPORT,
        ],
    );

    ledger.assert_all_once(&rig).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_offset_commit_is_committed_again() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let ledger = Ledger::new(10, 0);
    let half = ledger.len() / 2;
    ledger.produce(&rig, 0, half).await;
    let adapter = rig.adapter("adapter", &[]);
    assert_commits_reach(&rig, half).await;

    // More errors than librdkafka retries: the next commit fails.
    rig.cluster().inject_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS; 20],
    );
    ledger.produce(&rig, half, ledger.len()).await;
    let failed = support::wait_until(PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_offset_commit_errors_total") > 0.0
    })
    .await;
    assert!(failed, "a commit failed\n{}", rig.all_logs());
    rig.cluster().clear_errors(RDKafkaApiKey::OffsetCommit);
    ledger.assert_all_once(&rig).await;
    // Nothing more arrives: the failed commit's offsets must be tried again.
    assert_commits_reach(&rig, ledger.len()).await;
}

/// Stops broker 2, runs `check`, produces the ledger from `half` on, waits
/// until 60 more steps are written without it, and starts it again.
async fn rest_without_broker_2(rig: &Rig, ledger: &Ledger, half: usize, check: impl FnOnce()) {
    rig.cluster().stop_broker(2);
    check();
    ledger.produce(rig, half, ledger.len()).await;
    let at_stop = rig.count("workflow_steps").await;
    rig.wait_for_count("workflow_steps", at_stop + 60).await;
    rig.cluster().start_broker(2);
}

/// Waits until the group's committed offsets on the event topics add up to `messages`.
async fn assert_commits_reach(rig: &Rig, messages: usize) {
    let committed = || -> i64 {
        EventType::ALL
            .iter()
            .flat_map(|kind| rig.committed(GROUP, &kind.topic(PREFIX), PARTITIONS as i32))
            .map(|offset| offset.max(0))
            .sum()
    };
    let reached = support::wait_until(PATIENCE, || async { committed() == messages as i64 }).await;
    assert!(
        reached,
        "committed {} of {messages}\n{}",
        committed(),
        rig.all_logs()
    );
}
