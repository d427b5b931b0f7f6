//! Adapters coming and going in one consumer group on a three-broker cluster
//! (librdkafka's mock cluster): one of three killed with `-9`, a rolling
//! restart under a steady stream, one joining mid-drain, one killed and
//! restarted at once. Each ends with every row exactly once, the bridge's
//! counters the sum of the distinct deltas and the dead-letter topics
//! holding each poison message and nothing else (at least once: a commit
//! failing while its partition is revoked leaves the next owner to read it
//! again, as the adapter README says).
//!
//! What the mock cannot play: static membership (KIP-345) over the classic
//! protocol. Its classic coordinator records `group.instance.id` but matches
//! members by member id only, so a restarted static member is a second
//! member and the first stays until its session times out, where Kafka
//! would hand the restarted one its old partitions at once. Its KIP-848
//! coordinator matches static members by instance id: `kip_848.rs` plays
//! static membership there.
//! Assignment is the adapter's default, cooperative-sticky (KIP-429): it
//! runs in the clients over the classic protocol, which the mock serves.

mod support;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use support::{ledger::Ledger, Adapter, Rig};

/// Partitions of each event topic.
const PARTITIONS: u32 = 3;

/// Event partitions in all: nine event topics.
const ALL_PARTITIONS: usize = 9 * PARTITIONS as usize;

/// Small batches, so that a drain lasts long enough to interrupt.
const SMALL_BATCHES: [&str; 2] = ["--batch-size", "10"];

/// Waits until `adapters` own every partition between them, each some.
async fn share_every_partition(rig: &Rig, adapters: &[&Adapter]) {
    support::share_every_partition(rig, adapters, ALL_PARTITIONS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_of_three_killed_hands_its_partitions_to_the_survivors_which_drain_them() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let a = rig.adapter("a", &SMALL_BATCHES);
    let b = rig.adapter("b", &SMALL_BATCHES);
    let mut victim = rig.adapter("victim", &SMALL_BATCHES);
    share_every_partition(&rig, &[&a, &b, &victim]).await;
    let ledger = Ledger::new(300, 6);
    let half = ledger.len() / 2;
    ledger.produce(&rig, 0, half).await;
    rig.wait_for_count("workflow_steps", 100).await;

    victim.kill9();
    ledger.produce(&rig, half, ledger.len()).await;
    // No replacement: the survivors take the dead member's partitions once
    // its session times out.
    share_every_partition(&rig, &[&a, &b]).await;

    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_of_three_under_a_steady_stream_loses_and_duplicates_nothing() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let mut adapters = [
        rig.adapter("a", &[]),
        rig.adapter("b", &[]),
        rig.adapter("c", &[]),
    ];
    share_every_partition(&rig, &adapters.iter().collect::<Vec<_>>()).await;
    // 1 000 messages a second, from before the first restart until after the last.
    let ledger = Ledger::new(6_000, 24);
    let stop = Arc::new(AtomicBool::new(false));
    let stream = ledger.produce_steadily(&rig, 1_000, Arc::clone(&stop));
    rig.wait_for_count("workflow_steps", 300).await;

    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let status = adapters[i].terminate();
        assert!(status.success(), "{name} exited with {status}");
        adapters[i] = rig.adapter(&format!("{name}-again"), &[]);
        share_every_partition(&rig, &adapters.iter().collect::<Vec<_>>()).await;
    }
    stop.store(true, Ordering::SeqCst);
    let sent = stream.await.expect("the steady producer");
    assert!(
        sent < 20_000,
        "the stream ended before the rolling restart did"
    );
    let ledger = ledger.first(sent);

    // Exactly once it should be: SIGTERM commits what was dead-lettered.
    // But a commit refused during a rebalance is dropped (see
    // kafka_cluster::a_failed_offset_commit_is_committed_again), and the
    // partition's next owner dead-letters its poison again.
    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adapter_joining_mid_drain_takes_partitions_and_nothing_is_read_twice() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let ledger = Ledger::new(400, 6);
    ledger.produce(&rig, 0, ledger.len()).await;
    let first = rig.adapter("first", &["--batch-size", "2"]);
    rig.wait_for_count("workflow_steps", 150).await;

    let second = rig.adapter("second", &["--batch-size", "2"]);
    share_every_partition(&rig, &[&first, &second]).await;
    let steps = rig.count("workflow_steps").await;
    assert!(
        steps < 3 * 400,
        "the drain ended before the second adapter joined: lengthen it"
    );

    // Exactly once it should be, as for the rolling restart above.
    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
    assert!(
        support::metric_sum(&second, "adapter_events_consumed_total") > 0.0,
        "the second adapter drained its share\n{}",
        rig.all_logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adapter_killed_and_restarted_at_once_loses_and_duplicates_nothing() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let ledger = Ledger::new(300, 6);
    ledger.produce(&rig, 0, ledger.len()).await;
    let mut first = rig.adapter("first", &SMALL_BATCHES);
    rig.wait_for_count("workflow_steps", 150).await;

    first.kill9();
    let at_kill = rig.count("workflow_steps").await;
    assert!(at_kill < 3 * 300, "killed after the end: {at_kill}");
    // Same group, straight away: the dead member is still in it until its
    // session times out; then the new one gets every partition.
    let again = rig.adapter("again", &SMALL_BATCHES);
    share_every_partition(&rig, &[&again]).await;

    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
}
