//! `bridge-adapter dlq`: dead letters listed, replayed once to their original topics (applied, or back on the dead-letter topic), and bad input refused with its exit code.

mod support;

use std::process::Command;

use bridge_events::EventType;
use rdkafka::Message;
use serde_json::{json, Value};
use support::{header, Rig, PREFIX};
use uuid::Uuid;

/// What one `bridge-adapter` command printed, and its exit code.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as JSON; panics with both outputs when it is not.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("{err}: stdout {}\nstderr {}", self.stdout, self.stderr))
    }
}

/// Runs `bridge-adapter dlq <args>` against `brokers`.
fn dlq_on(brokers: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_bridge-adapter"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--brokers", brokers, "--topic-prefix", PREFIX, "dlq"])
        .args(args)
        .output()
        .expect("running bridge-adapter dlq");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `bridge-adapter dlq <args>` against the rig's broker; panics unless it exits 0.
fn dlq_ok(rig: &Rig, args: &[&str]) -> Value {
    let run = dlq_on(&rig.broker.bootstrap_servers(), args);
    assert_eq!(
        run.code,
        0,
        "dlq {args:?}: {}\n{}",
        run.stderr,
        rig.all_logs()
    );
    run.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dependency_timeout_dead_letter_replayed_after_its_workflow_came_is_applied_once() {
    let rig = Rig::new(1).await;
    let _adapter = rig.adapter("adapter", &["--deferred-max-wait-secs", "2"]);
    let id = Uuid::now_v7();
    let step = support::step(id, 0);
    let steps = EventType::StepCompleted.topic(PREFIX);
    let dlq = format!("{steps}.dlq");
    rig.produce_raw(
        &steps,
        "wf-key",
        step.to_string().as_bytes(),
        &[("trace", "t-1")],
    )
    .await;
    let letters = rig.read_topic(&dlq, 1);
    assert_eq!(letters.len(), 1, "{}", rig.all_logs());
    assert_eq!(
        header(&letters[0], "dlq.reason").as_deref(),
        Some("dependency_timeout")
    );
    rig.produce(&support::started(id)).await;
    rig.wait_for_count("workflow_executions", 1).await;

    let replay = [
        "replay",
        "--reason",
        "dependency_timeout",
        "--format",
        "json",
    ];
    let report = dlq_ok(&rig, &replay);
    assert_eq!(report["replayed"], 1, "{report}");
    assert_eq!(report["dry_run"], false);
    rig.wait_for_count("workflow_steps", 1).await;
    let rows = support::lines(
        &rig.db,
        "SELECT id::text || ' ' || step_name || ' ' || step_order AS line FROM workflow_steps",
    )
    .await;
    assert_eq!(
        rows,
        [format!("{} step_0 0", step["event_id"].as_str().unwrap())]
    );
    let published = rig.read_topic(&steps, 2);
    assert_eq!(published.len(), 2, "the original and its replay");
    let replayed = &published[1];
    assert_eq!(replayed.key(), Some(&b"wf-key"[..]), "original key");
    assert_eq!(replayed.payload(), published[0].payload(), "original value");
    assert_eq!(
        header(replayed, "trace").as_deref(),
        Some("t-1"),
        "original headers"
    );
    assert_eq!(
        header(replayed, "dlq.replayed_from"),
        Some(format!("{dlq}/0/0")),
        "where it came from"
    );
    assert_eq!(
        header(replayed, "dlq.reason"),
        None,
        "dead-letter headers dropped"
    );

    // The same command again continues after the first: nothing to re-publish.
    let again = dlq_ok(&rig, &replay);
    assert_eq!(again["replayed"], 0, "{again}");
    assert_eq!(again["group"], report["group"]);
    assert_eq!(rig.read_topic(&steps, 2).len(), 2, "nothing re-published");
    // Even forced through another selection, the event writes nothing twice.
    let forced = dlq_ok(
        &rig,
        &[
            "replay",
            "--event-id",
            step["event_id"].as_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(forced["replayed"], 1, "{forced}");
    let consumed = support::wait_until(support::PATIENCE, || async {
        rig.committed("database_adapter_consumers", &steps, 1) == [3]
    })
    .await;
    assert!(consumed, "{}", rig.all_logs());
    assert_eq!(rig.count("workflow_steps").await, 1);
    assert_eq!(
        rig.read_topic(&dlq, 1).len(),
        1,
        "the dead letter stays, no new one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_poison_returns_to_the_dead_letter_topic_with_its_reason_once() {
    let rig = Rig::new(1).await;
    let _adapter = rig.adapter("adapter", &[]);
    let started = EventType::WorkflowStarted.topic(PREFIX);
    let dlq = format!("{started}.dlq");
    rig.produce_raw(&started, "k1", b"{not json", &[("trace", "abc")])
        .await;
    assert_eq!(rig.read_topic(&dlq, 1).len(), 1, "{}", rig.all_logs());

    let replay = ["replay", "--topic", "workflow-started", "--format", "json"];
    let report = dlq_ok(&rig, &replay);
    assert_eq!(report["replayed"], 1, "{report}");
    let letters = rig.read_topic(&dlq, 2);
    assert_eq!(letters.len(), 2, "{}", rig.all_logs());
    let back = &letters[1];
    assert_eq!(
        header(back, "dlq.reason").as_deref(),
        Some("invalid_envelope")
    );
    assert_eq!(back.payload(), Some(&b"{not json"[..]));
    assert_eq!(back.key(), Some(&b"k1"[..]));
    assert_eq!(header(back, "trace").as_deref(), Some("abc"));
    assert_eq!(header(back, "dlq.topic"), Some(started.clone()));
    assert_eq!(
        header(back, "dlq.offset").as_deref(),
        Some("1"),
        "the replayed copy"
    );
    assert_eq!(
        header(back, "dlq.replayed_from"),
        Some(format!("{dlq}/0/0"))
    );

    // Run again: the first is done, the one that came back is skipped.
    let again = dlq_ok(&rig, &replay);
    assert_eq!(again["replayed"], 0, "{again}");
    assert_eq!(again["replayed_before"], 1, "{again}");
    assert_eq!(rig.read_topic(&started, 2).len(), 2, "nothing re-published");
    assert_eq!(rig.read_topic(&dlq, 2).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_counts_dead_letters_by_topic_and_reason_and_a_dry_run_publishes_nothing() {
    let rig = Rig::new(1).await;
    let started = EventType::WorkflowStarted.topic(PREFIX);
    let steps = EventType::StepCompleted.topic(PREFIX);
    rig.produce_raw(&started, "a", b"{not json", &[]).await;
    rig.produce_raw(&started, "b", b"[]", &[]).await;
    let mut refused = support::step(Uuid::now_v7(), 0);
    refused["payload"]["status"] = json!("DONE");
    rig.produce(&refused).await;
    let _adapter = rig.adapter("adapter", &[]);
    assert_eq!(
        rig.read_topic(&format!("{started}.dlq"), 2).len(),
        2,
        "{}",
        rig.all_logs()
    );
    assert_eq!(rig.read_topic(&format!("{steps}.dlq"), 1).len(), 1);

    let listing = dlq_ok(&rig, &["list", "--format", "json"]);
    assert_eq!(listing["dead_letters"], 3, "{listing}");
    assert_eq!(listing["not_dead_letters"], 0);
    let groups: Vec<(String, String, u64, u64)> = listing["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["topic"].as_str().unwrap().to_owned(),
                g["reason"].as_str().unwrap().to_owned(),
                g["count"].as_u64().unwrap(),
                g["under_1h"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (steps.clone(), "invalid_payload".to_owned(), 1, 1),
            (started.clone(), "invalid_envelope".to_owned(), 2, 2),
        ]
    );
    let text = dlq_on(
        &rig.broker.bootstrap_servers(),
        &["list", "--topic", "workflow-started"],
    );
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("invalid_envelope") && text.stdout.contains("2 dead letters"),
        "{}",
        text.stdout
    );

    let dry = dlq_ok(&rig, &["replay", "--dry-run", "--format", "json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["replayed"], 3, "{dry}");
    assert_eq!(dry["letters"].as_array().unwrap().len(), 3);
    assert_eq!(dry["letters"][0]["to"], steps.as_str());
    assert_eq!(rig.read_topic(&started, 2).len(), 2, "nothing published");
    assert_eq!(rig.read_topic(&steps, 1).len(), 1, "nothing published");
    let group = dry["group"].as_str().unwrap();
    assert_eq!(
        rig.committed(group, &format!("{started}.dlq"), 1),
        [-1],
        "no progress recorded"
    );
    // So the real run still finds all three.
    let real = dlq_ok(&rig, &["replay", "--format", "json"]);
    assert_eq!(real["group"], dry["group"]);
    assert_eq!(real["replayed"], 3, "{real}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_topics_messages_that_are_not_dead_letters_and_unreachable_brokers_get_their_exit_codes(
) {
    let rig = Rig::new(1).await;
    let brokers = rig.broker.bootstrap_servers();
    let unknown = dlq_on(&brokers, &["replay", "--topic", "workflow-paused"]);
    assert_eq!(unknown.code, 3, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("--topic \"workflow-paused\""),
        "{}",
        unknown.stderr
    );
    assert_eq!(
        dlq_on(
            &brokers,
            &["list", "--topic", "other.prefix.step-completed.v1"]
        )
        .code,
        3
    );

    let steps = EventType::StepCompleted.topic(PREFIX);
    let dlq = format!("{steps}.dlq");
    // A dead letter, a message that is not one, another dead letter.
    let letter = |event: &Value| {
        let headers = [
            ("dlq.reason", "invalid_value"),
            ("dlq.topic", steps.as_str()),
        ];
        (event.to_string(), headers)
    };
    let (first, headers) = letter(&support::step(Uuid::now_v7(), 0));
    rig.produce_raw(&dlq, "a", first.as_bytes(), &headers).await;
    rig.produce_raw(&dlq, "k", b"hello", &[("trace", "x")])
        .await;
    let (second, headers) = letter(&support::step(Uuid::now_v7(), 1));
    rig.produce_raw(&dlq, "b", second.as_bytes(), &headers)
        .await;
    for _ in 0..2 {
        let refused = dlq_on(&brokers, &["replay"]);
        assert_eq!(refused.code, 5, "{}", refused.stderr);
        assert!(
            refused.stderr.contains(&format!(
                "{dlq} partition 0 offset 1 is not a dead letter: no dlq.reason header"
            )),
            "{}",
            refused.stderr
        );
    }
    // The first run published what came before it, the second continued after that.
    let published = rig.read_topic(&steps, 1);
    assert_eq!(published.len(), 1, "only the first dead letter, once");
    assert_eq!(published[0].payload(), Some(first.as_bytes()));
    assert_eq!(rig.read_topic(&dlq, 3).len(), 3, "nothing removed");
    let listing = dlq_ok(&rig, &["list", "--format", "json"]);
    assert_eq!(listing["dead_letters"], 2, "{listing}");
    assert_eq!(listing["not_dead_letters"], 1, "{listing}");
    assert_eq!(listing["first_not_dead_letter"], format!("{dlq}/0/1"));
    let skipped = dlq_ok(&rig, &["replay", "--skip-invalid", "--format", "json"]);
    assert_eq!(skipped["read"], 2, "{skipped}");
    assert_eq!(skipped["not_dead_letters"], 1, "{skipped}");
    assert_eq!(skipped["replayed"], 1);
    let published = rig.read_topic(&steps, 2);
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].payload(), Some(second.as_bytes()));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = dlq_on(&closed.to_string(), &["list", "--timeout-secs", "2"]);
    assert_eq!(unreachable.code, 4, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains("did not answer"),
        "{}",
        unreachable.stderr
    );
}
