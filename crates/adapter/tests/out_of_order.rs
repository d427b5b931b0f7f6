//! Events that arrive before their workflow wait (durably) and apply when it comes; late state changes never move a finished workflow back.

mod support;

use std::time::Duration;

use bridge_events::EventType;
use support::{header, Rig, PREFIX};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn events_before_their_workflow_wait_for_it_and_then_apply() {
    let rig = Rig::new(2).await;
    let id = Uuid::now_v7();
    let node = "early-node";
    let mut adapter = rig.adapter("first", &[]);
    rig.produce_all(&[
        support::step(id, 0),
        support::step(id, 1),
        support::stamp(id),
        support::completed(id),
        support::heartbeat(node),
    ])
    .await;
    let parked = support::wait_until(support::PATIENCE, || async {
        rig.count("adapter_deferred_events").await == 5
    })
    .await;
    assert!(
        parked,
        "parked: {}\n{}",
        rig.count("adapter_deferred_events").await,
        rig.all_logs()
    );
    assert_eq!(rig.count("workflow_steps").await, 0);
    // Parked durably: a restart in between loses nothing.
    adapter.kill9();
    let _adapter = rig.adapter("second", &[]);
    rig.produce(&support::started(id)).await;
    rig.produce(&support::registered(node)).await;
    rig.wait_for_count("workflow_steps", 2).await;
    rig.wait_for_count("metadata_stamps", 1).await;
    let applied = support::wait_until(support::PATIENCE, || async {
        rig.count("adapter_deferred_events").await == 0
    })
    .await;
    assert!(applied, "{}", rig.all_logs());
    let state = support::lines(
        &rig.db,
        "SELECT current_state AS line FROM workflow_executions",
    )
    .await;
    assert_eq!(state, ["COMPLETED"]);
    let beat = support::lines(
        &rig.db,
        "SELECT health_status AS line FROM node_registrations",
    )
    .await;
    assert_eq!(beat, ["HEALTHY"]);
    assert_eq!(rig.count("workflow_steps").await, 2);
    assert_eq!(rig.count("metadata_stamps").await, 1);
    assert_eq!(rig.count("fsm_transitions").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_before_their_workflow_wait_in_memory_uncommitted_and_a_crash_loses_none() {
    let rig = Rig::new(1).await;
    let id = Uuid::now_v7();
    // Batches of one are always full, as in a backlog: early events are held.
    let hold = ["--hold-ms", "600000", "--batch-size", "1"];
    let mut adapter = rig.adapter("first", &hold);
    rig.produce_all(&[
        support::step(id, 0),
        support::step(id, 1),
        support::stamp(id),
        support::completed(id),
    ])
    .await;
    let held = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_events_held") == 4.0
    })
    .await;
    assert!(held, "{}", adapter.log_text());
    // Nothing written, nothing parked, and no offset committed past them.
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
    assert_eq!(rig.count("workflow_steps").await, 0);
    let steps = EventType::StepCompleted.topic(PREFIX);
    assert!(
        rig.committed("database_adapter_consumers", &steps, 1)
            .iter()
            .all(|&offset| offset <= 0),
        "the held steps' offsets are not committed"
    );
    // A crash loses none of them: the next adapter reads them again.
    adapter.kill9();
    let second = rig.adapter("second", &hold);
    let held_again = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&second, "adapter_events_held") == 4.0
    })
    .await;
    assert!(held_again, "{}", rig.all_logs());
    rig.produce(&support::started(id)).await;
    rig.wait_for_count("workflow_steps", 2).await;
    rig.wait_for_count("metadata_stamps", 1).await;
    let done = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&second, "adapter_events_held") == 0.0
            && rig.committed("database_adapter_consumers", &steps, 1) == [2]
    })
    .await;
    assert!(done, "{}", rig.all_logs());
    let state = support::lines(
        &rig.db,
        "SELECT current_state AS line FROM workflow_executions",
    )
    .await;
    assert_eq!(state, ["COMPLETED"]);
    assert_eq!(rig.count("workflow_steps").await, 2);
    assert_eq!(rig.count("metadata_stamps").await, 1);
    assert_eq!(rig.count("fsm_transitions").await, 1);
    assert_eq!(
        support::metric_sum(&second, "adapter_events_deferred_total"),
        0.0,
        "never parked"
    );
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_whose_workflow_never_comes_is_dead_lettered_after_the_wait() {
    let rig = Rig::new(1).await;
    let _adapter = rig.adapter("adapter", &["--deferred-max-wait-secs", "2"]);
    let orphan = Uuid::now_v7();
    rig.produce(&support::step(orphan, 0)).await;
    let topic = EventType::StepCompleted.topic(PREFIX);
    let letters = rig.read_topic(&format!("{topic}.dlq"), 1);
    assert_eq!(letters.len(), 1, "{}", rig.all_logs());
    assert_eq!(
        header(&letters[0], "dlq.reason").as_deref(),
        Some("dependency_timeout")
    );
    assert!(header(&letters[0], "dlq.error")
        .unwrap()
        .contains(&orphan.to_string()));
    assert_eq!(header(&letters[0], "dlq.offset").as_deref(), Some("0"));
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
    assert_eq!(rig.count("workflow_steps").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_state_change_never_moves_a_finished_workflow_back() {
    let rig = Rig::new(1).await;
    let adapter = rig.adapter("adapter", &[]);
    let id = Uuid::now_v7();
    rig.produce(&support::started(id)).await;
    rig.wait_for_count("workflow_executions", 1).await;
    rig.produce(&support::completed(id)).await;
    rig.wait_for_count("fsm_transitions", 1).await;
    rig.produce(&support::failed(id)).await;
    let ignored = support::wait_until(support::PATIENCE, || async {
        support::metric_sum(&adapter, "adapter_events_ignored_total") == 1.0
    })
    .await;
    assert!(ignored, "{}", adapter.log_text());
    let state = support::lines(&rig.db, "SELECT current_state || ' ' || coalesce(error_message, '-') AS line FROM workflow_executions").await;
    assert_eq!(state, ["COMPLETED -"]);
    assert_eq!(rig.count("fsm_transitions").await, 1);
    assert_eq!(rig.count("adapter_deferred_events").await, 0);
    let topic = EventType::WorkflowFailed.topic(PREFIX);
    let committed = support::wait_until(support::PATIENCE, || async {
        rig.committed("database_adapter_consumers", &topic, 1) == [1]
    })
    .await;
    assert!(committed, "the ignored event's offset is committed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rig.read_topic(&format!("{topic}.dlq"), 0).is_empty(),
        "not poison"
    );
}
