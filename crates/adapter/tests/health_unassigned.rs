//! A member the group gives no partition is unhealthy once that has lasted
//! longer than the session timeout while the group leaves messages
//! uncommitted, and healthy again once they are committed.

mod support;

use diesel_async::SimpleAsyncConnection;
use support::{Adapter, Rig};
use uuid::Uuid;

/// The bridge whose row the test locks to stall the member that owns every partition.
const BRIDGE: &str = "00000000-0000-7000-8000-0000000000b1";

/// Range assignment of one partition per topic gives every partition to
/// one member; a short session timeout makes the other's wait short.
const FLAGS: [&str; 4] = [
    "-X",
    "partition.assignment.strategy=range",
    "-X",
    "session.timeout.ms=6000",
];

/// `/health`'s status code and body.
fn health(adapter: &Adapter) -> (u16, String) {
    adapter.get("/health").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_without_partitions_while_the_group_lags_is_unhealthy_until_the_lag_is_committed()
{
    let rig = Rig::new(1).await;
    let first = rig.adapter("first", &FLAGS);
    let second = rig.adapter("second", &FLAGS);
    let owned = |adapter: &Adapter| support::metric_sum(adapter, "adapter_assigned_partitions");
    let steady = |adapter: &Adapter| {
        let (code, body) = health(adapter);
        code == 200 && body.contains("\"join_state\":\"steady\"")
    };
    let split = support::wait_until(support::PATIENCE, || async {
        steady(&first)
            && steady(&second)
            && owned(&first) + owned(&second) == 9.0
            && (owned(&first) == 0.0 || owned(&second) == 0.0)
    })
    .await;
    assert!(split, "one member owns every partition\n{}", rig.all_logs());
    let (busy, idle) = if owned(&first) == 0.0 {
        (&second, &first)
    } else {
        (&first, &second)
    };
    // Poison, dead-lettered by the busy member: the dead-letter topic holds
    // a message no group reads, which is no backlog of this group.
    let steps = bridge_events::EventType::StepCompleted.topic(support::PREFIX);
    rig.produce_raw(&steps, "", b"not json", &[]).await;
    let dead_lettered = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(busy, "adapter_events_dead_lettered_total") == 1.0
    })
    .await;
    assert!(dead_lettered, "{}", rig.all_logs());
    assert_eq!(health(idle).0, 200, "no lag yet: {}", health(idle).1);

    // The busy member's batch waits for a row the test holds: its offsets
    // stay uncommitted while the idle member owns nothing.
    let mut blocker = rig.db.conn().await.unwrap();
    blocker
        .batch_execute(&format!(
            "INSERT INTO bridge_states (bridge_id, namespace, current_fsm_state) VALUES ('{BRIDGE}', 'it', 'idle');
             BEGIN; UPDATE bridge_states SET total_workflows_processed = 1 WHERE bridge_id = '{BRIDGE}'"
        ))
        .await
        .unwrap();
    rig.produce(&support::aggregation(BRIDGE.parse::<Uuid>().unwrap(), 1))
        .await;
    let unhealthy = support::wait_until(support::PATIENCE, || async {
        let (code, body) = health(idle);
        code == 503 && body.contains("\"unassigned\":\"no partition assigned for")
    })
    .await;
    assert!(unhealthy, "{}\n{}", health(idle).1, rig.all_logs());
    assert_eq!(
        support::metric_sum(idle, "adapter_unassigned_group_backlog"),
        1.0,
        "the one uncommitted delta"
    );
    assert_eq!(health(busy).0, 200, "{}", health(busy).1);

    blocker.batch_execute("COMMIT").await.unwrap();
    let healthy = support::wait_until(support::PATIENCE, || async { health(idle).0 == 200 }).await;
    assert!(healthy, "{}\n{}", health(idle).1, rig.all_logs());
    assert!(!health(idle).1.contains("unassigned"));
    assert_eq!(
        support::metric_sum(idle, "adapter_unassigned_group_backlog"),
        0.0
    );
    support::assert_emitted_as_catalogued(idle);
    assert_eq!(rig.count("bridge_state_deltas").await, 1);
}
