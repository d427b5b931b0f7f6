//! Case 8's latency at a steady 1 000 events/s: from the produce call to the
//! adapter's offset commit, beside the broker's own produce-to-consume
//! latency (a consumer that does nothing, fetching as the adapter does).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bridge_events::EventType;
use bridge_testkit::{KafkaCluster, PrivateBroker};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message, Offset, TopicPartitionList,
};

use super::adapter_events::{Mix, Produced};
use crate::BenchResult;

/// Topic prefix of the case.
pub const PREFIX: &str = "bench.omninode_bridge.onex.evt";

/// Partitions of each event topic.
pub const PARTITIONS: i32 = 3;

/// The adapter's consumer group.
pub const GROUP: &str = "bench_adapter";

/// How long a fetch may wait on the broker: tansu answers a fetch only when
/// fetch.wait.max.ms (default 500) has passed, even with data waiting, where
/// Kafka answers at once.
pub const FETCH_WAIT_MS: &str = "5";

/// Where a message landed: topic, partition, offset.
type Landed = (String, i32, i64);

/// One event produced in the steady phase: where it landed, when it was
/// sent, and how long the broker took to acknowledge it.
pub type Sent = (Landed, Instant, Duration);

/// Creates every event topic (`PARTITIONS` each) and its dead-letter topic on `broker`.
pub fn create_topics(broker: &dyn KafkaCluster) {
    for &kind in EventType::ALL {
        broker.create_topic(&kind.topic(PREFIX), PARTITIONS as u32);
        broker.create_topic(&format!("{}.dlq", kind.topic(PREFIX)), 1);
    }
}

/// A producer; `linger_ms` trades latency for batching.
pub fn producer(broker: &dyn KafkaCluster, linger_ms: &str) -> BenchResult<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("acks", "all")
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

/// Sends one event; where it landed.
pub async fn send(producer: &FutureProducer, event: &Produced) -> BenchResult<Landed> {
    let topic = event.kind.topic(PREFIX);
    let record = FutureRecord::to(&topic)
        .key(&event.key)
        .payload(&event.bytes);
    let delivery = producer
        .send(record, Duration::from_secs(60))
        .await
        .map_err(|(err, _)| format!("producing to {topic}: {err}"))?;
    Ok((topic, delivery.partition, delivery.offset))
}

/// Every event topic's partitions.
fn partitions() -> TopicPartitionList {
    let mut partitions = TopicPartitionList::new();
    for &kind in EventType::ALL {
        for partition in 0..PARTITIONS {
            partitions.add_partition(&kind.topic(PREFIX), partition);
        }
    }
    partitions
}

/// Reads an adapter group's committed offsets.
pub struct CommittedOffsets {
    consumer: BaseConsumer,
    partitions: TopicPartitionList,
}

impl CommittedOffsets {
    /// A reader of group `group`'s offsets on `broker`.
    pub fn new(broker: &dyn KafkaCluster, group: &str) -> BenchResult<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .set("group.id", group)
            .create()?;
        Ok(Self {
            consumer,
            partitions: partitions(),
        })
    }

    /// Each partition's committed offset (0 when none).
    pub fn each(&self) -> BenchResult<HashMap<(String, i32), i64>> {
        let committed = self
            .consumer
            .committed_offsets(self.partitions.clone(), Duration::from_secs(10))?;
        Ok(committed
            .elements()
            .iter()
            .map(|e| {
                let offset = match e.offset() {
                    Offset::Offset(offset) => offset,
                    _ => 0,
                };
                ((e.topic().to_owned(), e.partition()), offset)
            })
            .collect())
    }

    /// The sum of the committed offsets: messages consumed and committed.
    pub fn total(&self) -> BenchResult<i64> {
        Ok(self.each()?.values().sum())
    }
}

/// Produces 10 events every 10 ms until `stop` completes; every event, acknowledged.
pub async fn produce_steadily(
    broker: &dyn KafkaCluster,
    mix: &mut Mix,
    stop: impl std::future::Future<Output = ()>,
) -> BenchResult<Vec<Sent>> {
    let producer = producer(broker, "0")?;
    let mut sends = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut pending = Vec::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => {}
        }
        if pending.len() < 10 {
            pending.extend(mix.take(100));
        }
        for event in pending.drain(..10) {
            let sent_at = Instant::now();
            let producer = producer.clone();
            sends.push(tokio::spawn(async move {
                send(&producer, &event)
                    .await
                    .map(|landed| (landed, sent_at, sent_at.elapsed()))
            }));
        }
    }
    let mut sent = Vec::with_capacity(sends.len());
    for send in sends {
        sent.push(send.await??);
    }
    Ok(sent)
}

/// The highest offset produced to each partition.
fn last_offsets(sent: &[Sent]) -> HashMap<(String, i32), i64> {
    let mut last = HashMap::new();
    for ((topic, partition, offset), _, _) in sent {
        let entry = last.entry((topic.clone(), *partition)).or_insert(*offset);
        *entry = (*entry).max(*offset);
    }
    last
}

/// The adapter's figures at a steady 1 000 events/s, in milliseconds.
pub struct Steady {
    /// Each event's time from the produce call to its offset seen committed.
    pub committed: Vec<f64>,
    /// Each event's time from the produce call to the broker's acknowledgement.
    pub acked: Vec<f64>,
    /// The mean time between two reads of the committed offsets.
    pub offset_read_ms: f64,
}

/// When the committed offsets were read, and what they were.
pub type Observed = (Instant, HashMap<(String, i32), i64>);

/// A thread reading a group's committed offsets every 2 ms, keeping every reading.
pub struct OffsetWatch {
    watching: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Observed>>>,
    thread: std::thread::JoinHandle<BenchResult<()>>,
}

impl OffsetWatch {
    /// Starts reading with `reader`.
    pub fn start(reader: CommittedOffsets) -> Self {
        let watching = Arc::new(AtomicBool::new(true));
        let seen: Arc<Mutex<Vec<Observed>>> = Arc::default();
        let thread = {
            let (watching, seen) = (watching.clone(), seen.clone());
            std::thread::spawn(move || -> BenchResult<()> {
                loop {
                    // A reading begun after `finish` is the last: it sees
                    // every commit seen before `finish` was called.
                    let last = !watching.load(Ordering::SeqCst);
                    let each = reader.each()?;
                    seen.lock()
                        .expect("not poisoned")
                        .push((Instant::now(), each));
                    if last {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Self {
            watching,
            seen,
            thread,
        }
    }

    /// Reads once more and stops; every reading, oldest first.
    pub fn finish(self) -> BenchResult<Vec<Observed>> {
        self.watching.store(false, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| "the offset watcher panicked")??;
        Ok(std::mem::take(
            &mut *self.seen.lock().expect("not poisoned"),
        ))
    }
}

/// Waits (at most 30 s) until `offsets` shows every event of `sent`
/// committed; an error names each partition still short of its last event.
pub async fn wait_committed(offsets: &CommittedOffsets, sent: &[Sent]) -> BenchResult<()> {
    let short = short_of_committed(offsets, sent).await?;
    if short.is_empty() {
        return Ok(());
    }
    Err(format!("30 s after the stream stopped: {}", Short::list(&short)).into())
}

/// A partition whose committed offset is short of its last event.
#[derive(Debug, Clone)]
pub struct Short {
    /// Topic and partition.
    pub partition: (String, i32),
    /// Its committed offset.
    pub committed: i64,
    /// The offset of its last event sent.
    pub last: i64,
}

impl Short {
    /// `shorts` as `topic[p] committed N, last event at M; ...`.
    pub fn list(shorts: &[Short]) -> String {
        let mut each: Vec<String> = shorts
            .iter()
            .map(|s| {
                format!(
                    "{}[{}] committed {}, last event at {}",
                    s.partition.0, s.partition.1, s.committed, s.last
                )
            })
            .collect();
        each.sort();
        each.join("; ")
    }
}

/// Waits (at most 30 s) until `offsets` shows every event of `sent`
/// committed; the partitions still short of their last event.
pub async fn short_of_committed(
    offsets: &CommittedOffsets,
    sent: &[Sent],
) -> BenchResult<Vec<Short>> {
    let last = last_offsets(sent);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let each = offsets.each()?;
        let short: Vec<Short> = last
            .iter()
            .filter_map(|(partition, offset)| {
                let committed = each.get(partition).copied().unwrap_or(0);
                (committed <= *offset).then(|| Short {
                    partition: partition.clone(),
                    committed,
                    last: *offset,
                })
            })
            .collect();
        if short.is_empty() || Instant::now() >= deadline {
            return Ok(short);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each event's milliseconds from its produce call to the first reading in
/// `seen` that shows its offset committed.
pub fn committed_latencies(sent: &[Sent], seen: &[Observed]) -> BenchResult<Vec<f64>> {
    sent.iter()
        .map(|((topic, partition, offset), sent_at, _)| {
            let key = (topic.clone(), *partition);
            seen.iter()
                .find(|(at, each)| *at >= *sent_at && each.get(&key).is_some_and(|c| c > offset))
                .map(|(at, _)| at.duration_since(*sent_at).as_secs_f64() * 1000.0)
                .ok_or_else(|| format!("{topic}[{partition}]@{offset} was never committed").into())
        })
        .collect()
}

/// Produces at 1 000 events/s for `steady` to the running adapter and
/// measures each event's time from the produce call to its offset committed.
pub async fn adapter_latency(
    broker: &PrivateBroker,
    mix: &mut Mix,
    offsets: &CommittedOffsets,
    steady: Duration,
) -> BenchResult<Steady> {
    let watch = OffsetWatch::start(CommittedOffsets::new(broker, GROUP)?);
    let sent = produce_steadily(broker, mix, tokio::time::sleep(steady)).await;
    let committed = match &sent {
        Ok(sent) => wait_committed(offsets, sent).await,
        Err(_) => Ok(()),
    };
    let seen = watch.finish()?;
    let sent = sent?;
    committed?;
    let reads = seen.windows(2).map(|pair| pair[1].0 - pair[0].0);
    Ok(Steady {
        committed: committed_latencies(&sent, &seen)?,
        acked: sent
            .iter()
            .map(|(_, _, acked)| acked.as_secs_f64() * 1000.0)
            .collect(),
        offset_read_ms: reads.sum::<Duration>().as_secs_f64() * 1000.0
            / seen.len().saturating_sub(1).max(1) as f64,
    })
}

/// The broker's own latency: produces at 1 000 events/s for `steady` to a
/// consumer that does nothing (assigned every partition at its end,
/// fetching as the adapter does) and returns each event's milliseconds from
/// the produce call to its receipt. Run with the adapter stopped.
pub async fn broker_latency(
    broker: &PrivateBroker,
    mix: &mut Mix,
    steady: Duration,
) -> BenchResult<Vec<f64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "bench_latency_reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    let mut at_end = TopicPartitionList::new();
    for element in partitions().elements() {
        let (_, high) = consumer.fetch_watermarks(
            element.topic(),
            element.partition(),
            Duration::from_secs(10),
        )?;
        at_end.add_partition_offset(element.topic(), element.partition(), Offset::Offset(high))?;
    }
    consumer.assign(&at_end)?;
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let reading = reading.clone();
        std::thread::spawn(move || -> BenchResult<HashMap<Landed, Instant>> {
            let mut received = HashMap::new();
            while reading.load(Ordering::Relaxed) {
                if let Some(message) = consumer.poll(Duration::from_millis(20)) {
                    let message = message?;
                    received.insert(
                        (
                            message.topic().to_owned(),
                            message.partition(),
                            message.offset(),
                        ),
                        Instant::now(),
                    );
                }
            }
            Ok(received)
        })
    };
    let sent = produce_steadily(broker, mix, tokio::time::sleep(steady)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    reading.store(false, Ordering::Relaxed);
    let received = reader.join().map_err(|_| "the latency reader panicked")??;
    sent?
        .iter()
        .map(|(landed, sent_at, _)| {
            received
                .get(landed)
                .map(|at| at.duration_since(*sent_at).as_secs_f64() * 1000.0)
                .ok_or_else(|| format!("{landed:?} was never received").into())
        })
        .collect()
}
