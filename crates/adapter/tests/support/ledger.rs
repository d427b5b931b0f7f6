//! A workload whose every row is known in advance (full workflow lives,
//! aggregations of distinct deltas, poison) and the check that the database
//! holds each row exactly once and the dead-letter topics exactly the poison.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bridge_events::EventType;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message, Offset, TopicPartitionList,
};
use uuid::Uuid;

use super::{Rig, PATIENCE, PREFIX};

/// The bridge every aggregation of a ledger goes to.
const BRIDGE: Uuid = Uuid::from_u128(0x0193_a1f0_0000_7000_8000_0000_0000_00c2);

/// Steps in each workflow's life.
const STEPS: i64 = 3;

/// One message to produce.
#[derive(Clone, Debug)]
pub struct Record {
    topic: String,
    key: String,
    value: Vec<u8>,
}

/// Everything a scenario produces, and what it must find.
pub struct Ledger {
    records: Arc<Vec<Record>>,
    /// Where each workflow's messages (its poison included) end in `records`.
    ends: Arc<Vec<usize>>,
    workflows: i64,
    /// The poison's text, sorted.
    poison: Vec<String>,
    /// The poison's text, in `records` order.
    poison_sent: Vec<String>,
}

impl Ledger {
    /// `workflows` lives (started, 3 steps, a transition, a stamp,
    /// completed), the `n`th followed by an aggregation adding `n` to one
    /// bridge (so a delta applied twice shows in its counters), with one
    /// undecodable message after every `workflows / poison` of them.
    pub fn new(workflows: usize, poison: usize) -> Self {
        let every = workflows.checked_div(poison).unwrap_or(usize::MAX).max(1);
        let mut records = Vec::new();
        let mut ends = Vec::new();
        let mut bad = Vec::new();
        for n in 1..=workflows {
            let mut life = super::workflow_life(STEPS as i32);
            life.push(super::aggregation(BRIDGE, n as i64));
            records.extend(life.iter().map(|event| {
                let kind: EventType = event["event_type"].as_str().unwrap().parse().unwrap();
                Record {
                    topic: kind.topic(PREFIX),
                    key: event["partition_key"].as_str().unwrap_or("").to_owned(),
                    value: event.to_string().into_bytes(),
                }
            }));
            if n % every == 0 && bad.len() < poison {
                let kind = EventType::ALL[bad.len() % EventType::ALL.len()];
                let value = format!("{{poison {} {}", bad.len(), Uuid::now_v7());
                records.push(Record {
                    topic: kind.topic(PREFIX),
                    key: format!("poison-{}", bad.len()),
                    value: value.clone().into_bytes(),
                });
                bad.push(value);
            }
            ends.push(records.len());
        }
        let mut poison = bad.clone();
        poison.sort();
        Self {
            records: Arc::new(records),
            ends: Arc::new(ends),
            workflows: workflows as i64,
            poison,
            poison_sent: bad,
        }
    }

    /// The ledger of only the first `workflows` workflows (and the poison among them).
    pub fn first(&self, workflows: usize) -> Self {
        let end = self.ends[..workflows].last().copied().unwrap_or(0);
        let prefix = &self.records[..end];
        let mut poison: Vec<String> = self
            .poison_sent
            .iter()
            .filter(|text| prefix.iter().any(|record| record.value == text.as_bytes()))
            .cloned()
            .collect();
        let poison_sent = poison.clone();
        poison.sort();
        Self {
            records: Arc::clone(&self.records),
            ends: Arc::clone(&self.ends),
            workflows: workflows as i64,
            poison,
            poison_sent,
        }
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Produces messages `from..to` with `rig`'s producer, each acknowledged.
    pub async fn produce(&self, rig: &Rig, from: usize, to: usize) {
        send(&rig.producer(), &self.records[from..to]).await;
    }

    /// Produces whole workflows at about `per_second` messages a second, in
    /// ticks of a tenth of a second, on a task of its own (so the test may
    /// block meanwhile), until `stop` is set or all are sent; the task
    /// returns how many workflows it sent (see [`first`](Self::first)).
    pub fn produce_steadily(
        &self,
        rig: &Rig,
        per_second: usize,
        stop: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<usize> {
        let producer = rig.producer();
        let records = Arc::clone(&self.records);
        let ends = Arc::clone(&self.ends);
        tokio::spawn(async move {
            let per_tick = (per_second / 10).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let (mut sent, mut workflows) = (0, 0);
            while workflows < ends.len() && !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let from = sent;
                while workflows < ends.len() && sent < from + per_tick {
                    sent = ends[workflows];
                    workflows += 1;
                }
                send(&producer, &records[from..sent]).await;
            }
            workflows
        })
    }

    /// Waits for every row, lets any redelivery land, then asserts [`assert_exactly`](Self::assert_exactly).
    pub async fn assert_all_once(&self, rig: &Rig) {
        self.wait_for_all(rig).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.assert_exactly(rig).await;
        let letters = dead_letters(rig, self.poison.len());
        assert_eq!(letters, self.poison, "dead letters\n{}", rig.all_logs());
    }

    /// As [`assert_all_once`](Self::assert_all_once), but a poison message
    /// may be dead-lettered more than once: by an adapter killed before it
    /// committed it, then by the next owner (dead letters are at least
    /// once). Each poison message must be there, and nothing else.
    pub async fn assert_all_once_dead_letters_at_least_once(&self, rig: &Rig) {
        self.wait_for_all(rig).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.assert_exactly(rig).await;
        let mut letters = dead_letters(rig, self.poison.len());
        letters.dedup();
        assert_eq!(letters, self.poison, "dead letters\n{}", rig.all_logs());
    }

    /// Waits until every row is there and nothing is parked; panics with the logs after a while.
    pub async fn wait_for_all(&self, rig: &Rig) {
        let w = self.workflows;
        let done = super::wait_until(PATIENCE * 2, || async {
            rig.count("workflow_steps").await == STEPS * w
                && rig.count("fsm_transitions").await == 2 * w
                && rig.count("metadata_stamps").await == w
                && rig.count("bridge_state_deltas").await == w
                && rig.count("adapter_deferred_events").await == 0
        })
        .await;
        assert!(done, "not every row arrived\n{}", rig.all_logs());
    }

    /// Asserts every row once, the bridge's counters the sum of the distinct
    /// deltas, and nothing parked.
    pub async fn assert_exactly(&self, rig: &Rig) {
        let w = self.workflows;
        let logs = || rig.all_logs();
        assert_eq!(rig.count("workflow_executions").await, w, "{}", logs());
        assert_eq!(rig.count("workflow_steps").await, STEPS * w, "{}", logs());
        // The state-transition event and the completion's transition.
        assert_eq!(rig.count("fsm_transitions").await, 2 * w, "{}", logs());
        assert_eq!(rig.count("metadata_stamps").await, w, "{}", logs());
        assert_eq!(rig.count("bridge_state_deltas").await, w, "{}", logs());
        assert_eq!(rig.count("adapter_deferred_events").await, 0, "{}", logs());
        let sum = w * (w + 1) / 2;
        let totals = super::lines(
            &rig.db,
            "SELECT total_workflows_processed || ' ' || total_items_aggregated AS line FROM bridge_states",
        )
        .await;
        assert_eq!(totals, [format!("{sum} {}", 10 * sum)], "{}", logs());
        let states = super::lines(
            &rig.db,
            "SELECT current_state || ' ' || count(*) AS line FROM workflow_executions GROUP BY current_state",
        )
        .await;
        assert_eq!(states, [format!("COMPLETED {w}")], "{}", logs());
    }
}

/// Sends `records` concurrently and waits for every acknowledgement.
async fn send(producer: &FutureProducer, records: &[Record]) {
    for chunk in records.chunks(500) {
        futures_util::future::join_all(chunk.iter().map(|record| async move {
            let message = FutureRecord::to(&record.topic)
                .key(&record.key)
                .payload(&record.value);
            producer
                .send(message, Duration::from_secs(60))
                .await
                .unwrap_or_else(|(err, _)| panic!("producing to {}: {err}", record.topic));
        }))
        .await;
    }
}

/// The payloads on every dead-letter topic, sorted: once `expected` came,
/// and a second more to see any one too many.
fn dead_letters(rig: &Rig, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", rig.broker.bootstrap_servers())
        .set("group.id", format!("reader-{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a reader");
    let mut partitions = TopicPartitionList::new();
    for kind in EventType::ALL {
        let topic = format!("{}.dlq", kind.topic(PREFIX));
        partitions
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).expect("assigning the reader");
    let mut payloads = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let mut settle = None;
    loop {
        let now = Instant::now();
        if settle.is_none() && (payloads.len() >= expected || now > deadline) {
            settle = Some(now + Duration::from_secs(1));
        }
        if settle.is_some_and(|end| now > end) {
            break;
        }
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            payloads
                .push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
        }
    }
    payloads.sort();
    payloads
}
