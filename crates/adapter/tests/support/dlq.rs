//! `bridge-adapter dlq` run as a child process, and dead letters written straight to a `.dlq` topic.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use rdkafka::{
    message::{Header, OwnedHeaders, OwnedMessage},
    producer::FutureRecord,
    Message,
};
use serde_json::Value;

use super::{Rig, PREFIX};

/// What one `bridge-adapter dlq` command printed, and its exit code.
pub struct DlqRun {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl DlqRun {
    /// Stdout as JSON; panics with both outputs when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("{err}: stdout {}\nstderr {}", self.stdout, self.stderr))
    }
}

/// `bridge-adapter --brokers <brokers> --topic-prefix <prefix> dlq`, with a clean
/// environment and no stdin; the caller adds the subcommand.
pub fn dlq_command(brokers: &str, prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridge-adapter"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--brokers", brokers, "--topic-prefix", prefix, "dlq"])
        .stdin(Stdio::null());
    command
}

/// Runs `bridge-adapter dlq <args>` against `brokers` under `prefix`.
pub fn dlq_with(brokers: &str, prefix: &str, args: &[&str]) -> DlqRun {
    let output = dlq_command(brokers, prefix)
        .args(args)
        .output()
        .expect("running bridge-adapter dlq");
    DlqRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `bridge-adapter dlq <args>` against `brokers` under the tests' prefix.
pub fn dlq_on(brokers: &str, args: &[&str]) -> DlqRun {
    dlq_with(brokers, PREFIX, args)
}

/// Runs `bridge-adapter dlq <args>` against the rig's broker; panics unless
/// it exits 0; its stdout as JSON.
pub fn dlq_ok(rig: &Rig, args: &[&str]) -> Value {
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

/// The `event_id` of each message's JSON value (`-` where it has none).
pub fn event_ids(messages: &[OwnedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|message| {
            message
                .payload()
                .and_then(|value| serde_json::from_slice::<Value>(value).ok())
                .and_then(|value| value["event_id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "-".into())
        })
        .collect()
}

/// The headers that make a message on `<original>.dlq` a dead letter of `reason`.
pub fn dead_letter_headers(original: &str, reason: &str) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "dlq.reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "dlq.topic",
            value: Some(original),
        })
}

/// A dead letter as the adapter writes one, for [`Rig::produce_dead_letter`].
pub struct DeadLetter<'a> {
    /// `dlq.topic`: the topic it came from; it goes to `<original>.dlq`.
    pub original: &'a str,
    /// `dlq.reason`.
    pub reason: &'a str,
    /// The original key.
    pub key: &'a str,
    /// The original value.
    pub value: &'a [u8],
    /// Its Kafka timestamp in ms since the epoch (default: when produced).
    pub at_ms: Option<i64>,
}

impl<'a> DeadLetter<'a> {
    /// A dead letter of `reason` from `original`, stamped when produced.
    pub fn new(original: &'a str, reason: &'a str, key: &'a str, value: &'a [u8]) -> Self {
        Self {
            original,
            reason,
            key,
            value,
            at_ms: None,
        }
    }

    /// The same, with the Kafka timestamp `at_ms`.
    pub fn at(self, at_ms: i64) -> Self {
        Self {
            at_ms: Some(at_ms),
            ..self
        }
    }
}

impl Rig {
    /// Creates `name` with `partitions` on the rig's broker.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        self.broker.create_topic(name, partitions);
    }

    /// Produces a step of a new workflow, numbered `order`, as an
    /// `invalid_value` dead letter of `original` keyed `key`; its value.
    pub async fn dead_letter_step(&self, original: &str, key: &str, order: i32) -> String {
        let value = super::step(uuid::Uuid::now_v7(), order).to_string();
        self.produce_dead_letter(DeadLetter::new(
            original,
            "invalid_value",
            key,
            value.as_bytes(),
        ))
        .await;
        value
    }

    /// Produces `letter` to `<original>.dlq` with the `dlq.reason` and
    /// `dlq.topic` headers, and waits for the ack.
    pub async fn produce_dead_letter(&self, letter: DeadLetter<'_>) {
        let topic = bridge_events::dlq_topic(letter.original);
        let mut record = FutureRecord::to(&topic)
            .key(letter.key)
            .payload(letter.value)
            .headers(dead_letter_headers(letter.original, letter.reason));
        if let Some(at) = letter.at_ms {
            record = record.timestamp(at);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(err, _)| panic!("producing to {topic}: {err}"));
    }
}
