//! `bridge-adapter dlq replay` over more than two progress chunks: killed
//! after its first progress commit it continues from there, and dead letters
//! arriving while it runs do not keep it from ending.

mod support;

use std::{
    process::Stdio,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use bridge_adapter::replay::republish::CHUNK;
use bridge_events::EventType;
use rdkafka::message::OwnedMessage;
use support::{
    dlq::{dlq_command, dlq_ok, event_ids, DeadLetter},
    header, Rig, PATIENCE, PREFIX,
};
use uuid::Uuid;

/// The dead-letter offset a replayed message names in `dlq.replayed_from`.
fn replayed_from(message: &OwnedMessage) -> i64 {
    let from = header(message, "dlq.replayed_from").expect("dlq.replayed_from");
    from.rsplit('/').next().unwrap().parse().expect("an offset")
}

/// Produces `count` step dead letters to the steps' dead-letter topic; their event ids.
async fn dead_letters(rig: &Rig, steps: &str, count: usize) -> Vec<String> {
    let values: Vec<String> = (0..count)
        .map(|order| support::step(Uuid::now_v7(), order as i32).to_string())
        .collect();
    for chunk in values.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|value| {
            rig.produce_dead_letter(DeadLetter::new(
                steps,
                "invalid_value",
                "k",
                value.as_bytes(),
            ))
        }))
        .await;
    }
    values
        .iter()
        .map(|value| {
            let event: serde_json::Value = serde_json::from_str(value).unwrap();
            event["event_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_killed_after_its_first_progress_commit_continues_from_it_and_republishes_nothing_it_recorded(
) {
    const LETTERS: usize = 450;
    const GROUP: &str = "killed-replay";
    let rig = Rig::new(1).await;
    let steps = EventType::StepCompleted.topic(PREFIX);
    let dlq = format!("{steps}.dlq");
    let ids = dead_letters(&rig, &steps, LETTERS).await;

    // One re-published dead letter in the producer's queue at a time, so the
    // run takes long enough to be caught between its progress commits.
    let mut first = dlq_command(&rig.broker.bootstrap_servers(), PREFIX)
        .args(["replay", "--replay-group", GROUP])
        .args(["-X", "queue.buffering.max.messages=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the replay");
    let recorded =
        support::wait_until(PATIENCE, || async { rig.committed(GROUP, &dlq, 1)[0] > 0 }).await;
    let still_running = first.try_wait().expect("waiting").is_none();
    first.kill().expect("SIGKILL");
    first.wait().expect("reaping the replay");
    assert!(recorded, "the first run never committed its progress");
    assert!(
        still_running,
        "the first run ended before it was killed; nothing to continue"
    );
    let committed = rig.committed(GROUP, &dlq, 1)[0];
    assert!(
        committed >= CHUNK as i64 && committed < LETTERS as i64,
        "progress recorded per chunk: {committed}"
    );
    let published = rig.read_topic(&steps, committed as usize).len();
    assert!(
        published >= committed as usize,
        "what is recorded as done was published: {published} < {committed}"
    );

    let second = dlq_ok(
        &rig,
        &["replay", "--replay-group", GROUP, "--format", "json"],
    );
    let rest = LETTERS as u64 - committed as u64;
    assert_eq!(second["read"], rest, "continued from {committed}: {second}");
    assert_eq!(second["replayed"], rest, "{second}");
    let all = rig.read_topic(&steps, published + rest as usize);
    assert_eq!(
        all.len(),
        published + rest as usize,
        "the first run's {published} and the second's {rest}, no more"
    );
    let (before, after) = all.split_at(published);
    assert!(
        before.iter().map(replayed_from).eq(0..published as i64),
        "the first run published from the start, in order"
    );
    assert!(
        after
            .iter()
            .map(replayed_from)
            .eq(committed..LETTERS as i64),
        "the second run published exactly what was not recorded as done"
    );
    let mut replayed = event_ids(&all);
    replayed.sort();
    replayed.dedup();
    let mut expected = ids;
    expected.sort();
    assert_eq!(
        replayed, expected,
        "every dead letter published at least once"
    );
    assert_eq!(
        rig.read_topic(&dlq, LETTERS).len(),
        LETTERS,
        "nothing removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_arriving_during_a_replay_do_not_keep_it_from_ending_and_are_left_for_the_next(
) {
    const LETTERS: usize = 20;
    let rig = Rig::new(1).await;
    let steps = EventType::StepCompleted.topic(PREFIX);
    dead_letters(&rig, &steps, LETTERS).await;

    // Dead letters keep arriving until the replay ends (or the test's patience does).
    let done = AtomicBool::new(false);
    let arriving = async {
        let deadline = Instant::now() + PATIENCE;
        let mut sent = 0;
        while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
            rig.dead_letter_step(&steps, "k", 0).await;
            sent += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (sent, done.load(Ordering::SeqCst))
    };
    let brokers = rig.broker.bootstrap_servers();
    let replaying = async {
        let output = tokio::task::spawn_blocking(move || {
            dlq_command(&brokers, PREFIX)
                .args(["replay", "--format", "json"])
                .output()
                .expect("running the replay")
        })
        .await
        .unwrap();
        done.store(true, Ordering::SeqCst);
        output
    };
    let ((sent, stopped_by_the_replay), replay) = tokio::join!(arriving, replaying);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{stderr}");
    assert!(
        stopped_by_the_replay,
        "the replay ended only once dead letters stopped arriving: {stderr}"
    );
    assert!(sent > 0, "no dead letter arrived during the replay");
    let report: serde_json::Value = serde_json::from_slice(&replay.stdout).expect("a report");
    // The span: what the topic held when the replay started, some of the
    // arriving ones included, but not those that came after.
    let span = report["read"].as_u64().expect("read") as usize;
    assert!(
        (LETTERS..LETTERS + sent).contains(&span),
        "read {span}: the {LETTERS} there before, not all {sent} that arrived: {report}"
    );
    assert_eq!(report["replayed"], span, "{report}");
    let published = rig.read_topic(&steps, span);
    assert!(
        published.iter().map(replayed_from).eq(0..span as i64),
        "exactly the span: {:?}",
        published.iter().map(replayed_from).collect::<Vec<_>>()
    );
    let rest = LETTERS + sent - span;
    let next = dlq_ok(&rig, &["replay", "--format", "json"]);
    assert_eq!(
        next["read"], rest,
        "the next run takes those that arrived after the span: {next}"
    );
    assert_eq!(next["replayed"], rest, "{next}");
}
