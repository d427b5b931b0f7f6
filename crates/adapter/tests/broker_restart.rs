//! A tansu broker stopped and started again on the same port and storage
//! while the adapter consumes: the adapter reconnects by itself, and nothing
//! is lost or written twice (tansu's sqlite storage keeps the log and the
//! group's committed offsets). An adapter told to stop while the broker is
//! down stops all the same (its final commit fails), and the one after it
//! finds nothing missing and writes nothing twice.

mod support;

use std::time::Duration;

use support::{ledger::Ledger, Adapter, Rig};

#[tokio::test(flavor = "multi_thread")]
async fn tansu_restarted_mid_stream_loses_and_duplicates_nothing() {
    let (mut rig, ledger, mut adapter) = halfway().await;
    let half = ledger.len() / 2;

    rig.tansu().stop();
    // Long enough for the adapter's fetches and commits to fail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.tansu().restart();
    ledger.produce(&rig, half, ledger.len()).await;

    ledger.assert_all_once(&rig).await;
    assert!(adapter.running(), "the same adapter process carried on");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_broker_is_down_stops_the_adapter_and_its_successor_loses_and_duplicates_nothing(
) {
    let (mut rig, ledger, mut adapter) = halfway().await;
    let half = ledger.len() / 2;

    rig.tansu().stop();
    // Its commits wait for a coordinator in vain; it still stops (within
    // `terminate`'s 30 s) and cleanly.
    let status = adapter.terminate();
    assert!(status.success(), "exited {status}\n{}", rig.all_logs());
    rig.tansu().restart();
    let _successor = rig.adapter("successor", &["--batch-size", "20"]);
    ledger.produce(&rig, half, ledger.len()).await;

    // What it applied since its last commit is read again by the successor
    // and found written; a poison message among it is dead-lettered again,
    // as after a `kill -9` between a dead letter and its commit.
    ledger
        .assert_all_once_dead_letters_at_least_once(&rig)
        .await;
}

/// A tansu rig with an adapter that has written the first half of a ledger,
/// which is produced up to its half.
async fn halfway() -> (Rig, Ledger, Adapter) {
    let rig = Rig::new(2).await;
    let ledger = Ledger::new(200, 4);
    let adapter = rig.adapter("adapter", &["--batch-size", "20"]);
    ledger.produce(&rig, 0, ledger.len() / 2).await;
    rig.wait_for_count("workflow_steps", 100).await;
    (rig, ledger, adapter)
}
