//! `bridge-adapter dlq`: dead letters listed, replayed once to their original topics (applied, or back on the dead-letter topic), and bad input refused with its exit code.

mod support;

use bridge_events::EventType;
use rdkafka::Message;
use serde_json::{json, Value};
use support::{
    dlq::{dlq_ok, dlq_on, dlq_with, event_ids, DeadLetter},
    header, Rig, PREFIX,
};
use uuid::Uuid;

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
    // Even forced through another selection, the event writes nothing
    // twice, and changes nothing in its row (an UPDATE would change xmin).
    let row = "SELECT xmin::text || ' ' || row_to_json(s)::text AS line FROM workflow_steps s";
    let before = support::lines(&rig.db, row).await;
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
    assert_eq!(
        support::lines(&rig.db, row).await,
        before,
        "the row, as it was"
    );
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
    // A valid event type whose dead-letter topic the broker lacks (no topic
    // exists under this prefix).
    for command in ["list", "replay"] {
        let missing = dlq_with(
            &brokers,
            "other.prefix",
            &[command, "--topic", "step-completed"],
        );
        assert_eq!(missing.code, 3, "{command}: {}", missing.stderr);
        assert!(
            missing
                .stderr
                .contains("the broker has no topic other.prefix.step-completed.v1.dlq"),
            "{command}: {}",
            missing.stderr
        );
    }

    let steps = EventType::StepCompleted.topic(PREFIX);
    let dlq = format!("{steps}.dlq");
    // A dead letter, a message that is not one, another dead letter.
    let first = rig.dead_letter_step(&steps, "a", 0).await;
    rig.produce_raw(&dlq, "k", b"hello", &[("trace", "x")])
        .await;
    let second = rig.dead_letter_step(&steps, "b", 1).await;
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
    for command in ["list", "replay"] {
        let unreachable = dlq_on(&closed.to_string(), &[command, "--timeout-secs", "2"]);
        assert_eq!(unreachable.code, 4, "{command}: {}", unreachable.stderr);
        assert!(
            unreachable.stderr.contains(&format!(
                "the Kafka brokers {closed} did not answer within 2s"
            )),
            "{command}: {}",
            unreachable.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_selection_replays_exactly_its_dead_letters_and_counts_the_others_as_not_selected() {
    let rig = Rig::new(1).await;
    let steps = EventType::StepCompleted.topic(PREFIX);
    let started = EventType::WorkflowStarted.topic(PREFIX);
    let hour = 3_600_000;
    let since = chrono::DateTime::parse_from_rfc3339("2026-12-07T01:00:00Z")
        .unwrap()
        .timestamp_millis();
    // Dead letter: original topic, reason, written at.
    let letters = [
        (&steps, "dependency_timeout", since - hour / 2),
        (&steps, "dependency_timeout", since),
        (&steps, "invalid_value", since + hour / 2),
        (&steps, "dependency_timeout", since + hour),
        (&started, "dependency_timeout", since + hour / 4),
        (&started, "invalid_payload", since + hour * 3 / 4),
    ];
    let mut ids = Vec::new();
    for (order, &(topic, reason, at)) in letters.iter().enumerate() {
        let event = support::step(Uuid::now_v7(), order as i32);
        let value = event.to_string();
        rig.produce_dead_letter(DeadLetter::new(topic, reason, "k", value.as_bytes()).at(at))
            .await;
        ids.push(event["event_id"].as_str().unwrap().to_owned());
    }
    let [a, b, c, d, e, f] = [0, 1, 2, 3, 4, 5].map(|i| ids[i].as_str());
    let mut on = [(&steps, 0), (&started, 0)];
    // Replays `args` for real: its report, and the event ids that came
    // back to the steps' and the workflows' topics, in order.
    let mut replay = |selection: &[&str], expected: [&[&str]; 2]| {
        let mut args = vec!["replay", "--format", "json"];
        args.extend(selection);
        let report = dlq_ok(&rig, &args);
        for ((topic, seen), expected) in on.iter_mut().zip(expected) {
            let messages = rig.read_topic(topic, *seen + expected.len());
            assert_eq!(
                event_ids(&messages[*seen..]),
                expected,
                "{selection:?} on {topic}: {report}"
            );
            *seen = messages.len();
        }
        report
    };
    let counts = |report: &Value| {
        (
            report["read"].as_u64().unwrap(),
            report["replayed"].as_u64().unwrap(),
            report["not_selected"].as_u64().unwrap(),
        )
    };

    let topic = replay(&["--topic", "step-completed"], [&[a, b, c, d], &[]]);
    assert_eq!(
        counts(&topic),
        (4, 4, 0),
        "the other topic not read: {topic}"
    );
    let reason = replay(&["--reason", "dependency_timeout"], [&[a, b, d], &[e]]);
    assert_eq!(counts(&reason), (6, 4, 2), "{reason}");
    let range = replay(
        &[
            "--since",
            "2026-12-07T01:00:00Z",
            "--until",
            "2026-12-07T02:00:00Z",
        ],
        [&[b, c], &[e, f]],
    );
    assert_eq!(
        counts(&range),
        (6, 4, 2),
        "since inclusive, until exclusive: {range}"
    );
    let events = replay(&["--event-id", c, "--event-id", e], [&[c], &[e]]);
    assert_eq!(counts(&events), (6, 2, 4), "{events}");
    let all = replay(
        &[
            "--topic",
            "step-completed",
            "--reason",
            "dependency_timeout",
            "--since",
            "2026-12-07T01:00:00Z",
            "--event-id",
            a,
            "--event-id",
            d,
        ],
        [&[d], &[]],
    );
    assert_eq!(counts(&all), (4, 1, 3), "every condition holds: {all}");
    let groups: std::collections::HashSet<_> = [&topic, &reason, &range, &events, &all]
        .iter()
        .map(|report| report["group"].clone())
        .collect();
    assert_eq!(groups.len(), 5, "a group per selection");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_whose_original_topic_is_gone_stops_the_replay_naming_it_and_records_nothing_from_it(
) {
    let rig = Rig::new(1).await;
    let brokers = rig.broker.bootstrap_servers();
    // Under this prefix the steps' topic exists, the workflows' topic does
    // not, and both dead-letter topics do; the steps' are replayed first.
    let prefix = "gone";
    let steps = EventType::StepCompleted.topic(prefix);
    let started = EventType::WorkflowStarted.topic(prefix);
    for topic in [&steps, &format!("{steps}.dlq"), &format!("{started}.dlq")] {
        rig.create_topic(topic, 1);
    }
    for (topic, order) in [(&steps, 0), (&steps, 1), (&started, 2), (&started, 3)] {
        rig.dead_letter_step(topic, "k", order).await;
    }
    let replay = [
        "replay",
        "--replay-group",
        "gone-replay",
        "--format",
        "json",
    ];
    let failed = dlq_with(&brokers, prefix, &replay);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(
        failed.stderr.contains(&format!(
            "the dead letter {started}.dlq/0/0 belongs to {started} (its dlq.topic header), which the broker does not have"
        )),
        "{}",
        failed.stderr
    );
    assert_eq!(rig.read_topic(&steps, 2).len(), 2, "the steps' replayed");
    assert_eq!(
        rig.committed("gone-replay", &format!("{steps}.dlq"), 1),
        [2]
    );
    assert_eq!(
        rig.committed("gone-replay", &format!("{started}.dlq"), 1),
        [-1],
        "nothing recorded as done on the topic it stopped at"
    );

    rig.create_topic(&started, 1);
    let again = dlq_with(&brokers, prefix, &replay);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report = again.json();
    assert_eq!(
        report["read"], 2,
        "continues at the one it stopped at: {report}"
    );
    assert_eq!(report["replayed"], 2, "{report}");
    assert_eq!(rig.read_topic(&started, 2).len(), 2);
    assert_eq!(rig.read_topic(&steps, 2).len(), 2, "none replayed twice");
    assert_eq!(
        rig.read_topic(&format!("{started}.dlq"), 2).len(),
        2,
        "nothing removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_progress_bar_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    assert!(
        script.is_ok_and(|out| out.status.success()),
        "util-linux script(1) runs the replay on a terminal; install util-linux"
    );
    let rig = Rig::new(1).await;
    let brokers = rig.broker.bootstrap_servers();
    let steps = EventType::StepCompleted.topic(PREFIX);
    for order in 0..50 {
        rig.dead_letter_step(&steps, "k", order).await;
    }
    let bar = "/50 read, ";

    // stderr a terminal: script(1) records what the terminal was sent.
    let command = format!(
        "{} --brokers {brokers} --topic-prefix {PREFIX} dlq replay --dry-run",
        env!("CARGO_BIN_EXE_bridge-adapter")
    );
    // A terminal names its type; indicatif draws nothing on a dumb one.
    let terminal = std::process::Command::new("script")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script(1)");
    let seen = String::from_utf8_lossy(&terminal.stdout);
    assert!(terminal.status.success(), "{seen}");
    assert!(seen.contains(bar), "no bar drawn on the terminal: {seen:?}");
    assert!(seen.contains("would replay 50 of 50"), "{seen:?}");

    // stderr a pipe: the same replay, no bar.
    let piped = dlq_on(&brokers, &["replay", "--dry-run"]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(
        piped.stdout.contains("would replay 50 of 50"),
        "{}",
        piped.stdout
    );
    assert!(
        !piped.stderr.contains(bar) && !piped.stderr.contains('\r'),
        "a bar drawn into a pipe: {:?}",
        piped.stderr
    );
}
