//! Partitions given to two members at once are still written exactly once.
//!
//! tansu 0.6's group coordinator completes a rebalance without waiting for
//! every member to rejoin: it takes a member's metadata from before that
//! member's last assignment, so the leader's cooperative-sticky assignor
//! sees it owning nothing and hands its partitions to another member, while
//! it keeps fetching them until its next heartbeat tells it of the
//! rebalance. tansu also accepts the offset commits it stamps with its old
//! generation (a Kafka broker refuses them). Rolling restarts of three
//! adapters (heartbeats every 3 s, librdkafka's default) make this happen,
//! within the first three restarts in every run seen. Both owners apply
//! the same events; every row must still be written once (each write is
//! absorbed by its event id), and nothing lost.

mod support;

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use support::{ledger::Ledger, Adapter, Rig, PATIENCE};

/// Partitions of each event topic.
const PARTITIONS: u32 = 3;

/// Event partitions in all: nine event topics.
const ALL_PARTITIONS: usize = 9 * PARTITIONS as usize;

/// Restarts at most, one member after another, until tansu gives a partition to two.
const MOST_RESTARTS: usize = 9;

#[tokio::test(flavor = "multi_thread")]
async fn partitions_tansu_gives_two_members_at_once_are_written_exactly_once() {
    let rig = Rig::new(PARTITIONS).await;
    let mut adapters = [
        rig.adapter("a", &[]),
        rig.adapter("b", &[]),
        rig.adapter("c", &[]),
    ];
    let mut twice = settle(&rig, &adapters).await;
    let ledger = Ledger::new(6_000, 24);
    let stop = Arc::new(AtomicBool::new(false));
    let stream = ledger.produce_steadily(&rig, 1_000, Arc::clone(&stop));
    rig.wait_for_count("workflow_steps", 300).await;

    // A rolling restart, and more rounds while no partition was seen owned twice.
    let mut restarts = 0;
    while restarts < 3 || (twice.is_empty() && restarts < MOST_RESTARTS) {
        let i = restarts % 3;
        let status = adapters[i].terminate();
        assert!(status.success(), "member {i} exited with {status}");
        restarts += 1;
        adapters[i] = rig.adapter(&format!("{i}-{restarts}"), &[]);
        twice.extend(settle(&rig, &adapters).await);
    }
    stop.store(true, Ordering::SeqCst);
    let sent = stream.await.expect("the steady producer");
    let ledger = ledger.first(sent);
    assert!(
        !twice.is_empty(),
        "in {restarts} restarts tansu gave no partition to two members at once: this test no longer plays its fault\n{}",
        rig.all_logs()
    );

    // Both owners dead-letter a poison message they read.
    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
}

/// Waits until `adapters` share every partition, one owner each; the
/// partitions seen owned by two meanwhile.
async fn settle(rig: &Rig, adapters: &[Adapter; 3]) -> BTreeSet<String> {
    let adapters: Vec<&Adapter> = adapters.iter().collect();
    support::settle(rig, &adapters, ALL_PARTITIONS, 2 * PATIENCE).await
}
