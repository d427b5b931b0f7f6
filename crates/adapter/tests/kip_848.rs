//! Rolling restarts under the KIP-848 consumer group protocol
//! (`--group-protocol consumer`) on librdkafka's three-broker mock cluster,
//! whose group coordinator serves it (ConsumerGroupHeartbeat, with static
//! membership): the coordinator assigns, a member joining or leaving stops
//! no other, and a static member (`--group-instance-id`) that leaves and
//! comes back within the session timeout gets its own partitions back while
//! the others keep theirs. Each ends with every row exactly once, the
//! bridge's counters the sum of the distinct deltas and each poison message
//! dead-lettered.
//!
//! The mock's coordinator has fixed settings: a 3 s heartbeat interval and
//! a 30 s session timeout, and it assigns by range (a dynamic member joining
//! or leaving may move every partition, one member's heartbeat at a time).

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

/// The adapters' consumer group (their default).
const GROUP: &str = "database_adapter_consumers";

/// The member names.
const NAMES: [&str; 3] = ["a", "b", "c"];

/// An adapter of the rig's group speaking KIP-848, static when `instance` is given.
fn member(rig: &Rig, name: &str, instance: Option<&str>) -> Adapter {
    let mut args = vec!["--group-protocol", "consumer"];
    if let Some(instance) = instance {
        args.extend(["--group-instance-id", instance]);
    }
    rig.adapter(name, &args)
}

/// Partitions revoked from `adapter` so far.
fn revoked(adapter: &Adapter) -> f64 {
    support::metric_sum(adapter, "adapter_partitions_revoked_total")
}

/// Restarts each of `adapters` in turn with SIGTERM under a steady stream of
/// 1 000 messages a second, `restart` starting the replacement of `NAMES[i]`
/// `settled` saying when the group has taken it in and `check` what must
/// hold then; at the end checks every row.
async fn rolling_restart(
    rig: &Rig,
    adapters: &mut [Adapter; 3],
    restart: impl Fn(usize) -> Adapter,
    settled: impl AsyncFn(&[Adapter; 3], usize) -> bool,
    check: impl Fn(&[Adapter; 3], usize),
) {
    support::share_every_partition(rig, &adapters.iter().collect::<Vec<_>>(), ALL_PARTITIONS).await;
    let ledger = Ledger::new(6_000, 24);
    let stop = Arc::new(AtomicBool::new(false));
    let stream = ledger.produce_steadily(rig, 1_000, Arc::clone(&stop));
    rig.wait_for_count("workflow_steps", 300).await;

    for (i, name) in NAMES.iter().enumerate() {
        let status = adapters[i].terminate();
        assert!(status.success(), "{name} exited with {status}");
        adapters[i] = restart(i);
        let done = support::wait_until(PATIENCE, || settled(adapters, i)).await;
        assert!(
            done,
            "the group did not take {name} back: owned {:?}\n{}",
            adapters.iter().map(Adapter::assigned).collect::<Vec<_>>(),
            rig.all_logs()
        );
        check(adapters, i);
    }
    stop.store(true, Ordering::SeqCst);
    let sent = stream.await.expect("the steady producer");
    assert!(
        sent < 20_000,
        "the stream ended before the rolling restart did"
    );
    // Exactly once it should be, as in group_members: a commit refused
    // while its partition moves leaves its poison to be dead-lettered again.
    ledger
        .first(sent)
        .assert_all_once_dead_letters_at_least_once(rig)
        .await;
    // And every offset read is committed, with no new message to carry it.
    let committed = support::wait_until(PATIENCE, || async {
        rig.behind(GROUP, PARTITIONS as i32).is_empty()
    })
    .await;
    assert!(
        committed,
        "offsets left uncommitted after the stream stopped: {:?}\n{}",
        rig.behind(GROUP, PARTITIONS as i32),
        rig.all_logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn static_members_restarted_one_by_one_get_their_own_partitions_back_and_the_others_keep_theirs(
) {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let mut adapters = NAMES.map(|name| member(&rig, name, Some(name)));
    support::share_every_partition(&rig, &adapters.iter().collect::<Vec<_>>(), ALL_PARTITIONS)
        .await;
    let before: Vec<BTreeSet<String>> = adapters.iter().map(Adapter::owned).collect();
    // What the group's forming took from each first process.
    let formed: Vec<f64> = adapters.iter().map(revoked).collect();
    let (before, formed) = (&before, &formed);
    rolling_restart(
        &rig,
        &mut adapters,
        |i| member(&rig, &format!("{}-again", NAMES[i]), Some(NAMES[i])),
        async |adapters: &[Adapter; 3], i| adapters[i].owned() == before[i],
        |adapters, last| {
            for (i, adapter) in adapters.iter().enumerate() {
                let since_start = match i <= last {
                    true => 0.0,
                    false => formed[i],
                };
                assert_eq!(
                    (revoked(adapter), adapter.owned()),
                    (since_start, before[i].clone()),
                    "{}, old or restarted, gave up no partition and owns what it owned\n{}",
                    NAMES[i],
                    rig.all_logs()
                );
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_members_restarted_one_by_one_lose_and_duplicate_nothing() {
    let rig = Rig::on_mock_cluster(PARTITIONS).await;
    let mut adapters = NAMES.map(|name| member(&rig, name, None));
    rolling_restart(
        &rig,
        &mut adapters,
        |i| member(&rig, &format!("{}-again", NAMES[i]), None),
        async |adapters: &[Adapter; 3], _| {
            let owned: Vec<usize> = adapters.iter().map(Adapter::assigned).collect();
            owned.iter().all(|&n| n > 0) && owned.iter().sum::<usize>() == ALL_PARTITIONS
        },
        |_, _| {},
    )
    .await;
}
