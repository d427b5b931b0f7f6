//! Case 8: `bridge-adapter` drains a backlog of the bridge's events, beside
//! the broker's own rate (a consumer that reads the same backlog and does
//! nothing) and the database's (the same rows written straight through the
//! models crate's batch calls, one transaction per batch); then its
//! produce-to-committed latency at a steady 1 000 events/s, beside the
//! broker's own (`adapter_latency`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bridge_adapter::{apply_events, Config, Outcome};
use bridge_events::{decode, Event, EventType};
use bridge_models::Db;
use bridge_testkit::{PrivateBroker, TestDatabase};
use clap::Parser;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::FutureProducer,
    ClientConfig,
};
use uuid::Uuid;

use super::{
    adapter_events::{Mix, Produced},
    adapter_latency::{
        adapter_latency, broker_latency, create_topics, producer, send, CommittedOffsets,
        FETCH_WAIT_MS, GROUP, PREFIX,
    },
};
use crate::{
    measure::quantile,
    report::{Row, Target, Unit},
    BenchResult, Context,
};

/// Events per transaction, the adapter's default batch size.
const BATCH: usize = 500;

/// Runs case 8 and returns its rows.
pub async fn run(ctx: &Context) -> BenchResult<Vec<Row>> {
    let broker = PrivateBroker::start();
    create_topics(&broker);
    let mut mix = Mix::new();
    let mut backlog = mix.registrations();
    backlog.extend(mix.take(ctx.scale.adapter_events as usize));
    let total = backlog.len();
    let producer = producer(&broker, "5")?;
    let produce = time(produce_all(&producer, &backlog)).await?;

    let read_rate = |fetch: Vec<(&'static str, String)>| {
        let servers = broker.bootstrap_servers();
        async move {
            let seconds =
                tokio::task::spawn_blocking(move || read_all(&servers, total, &fetch)).await??;
            BenchResult::Ok(total as f64 / seconds)
        }
    };
    // The broker's limit is the faster of two readers: librdkafka's fetch
    // defaults, and fetching as the adapter does.
    let broker_default_rate = read_rate(Vec::new()).await?;
    let broker_adapter_rate = read_rate(adapter_fetch()).await?;
    let broker_rate = broker_default_rate.max(broker_adapter_rate);
    let limit_db = TestDatabase::migrated();
    let db_rate = total as f64 / write_directly(ctx, &limit_db, &backlog).await?;

    let ours_db = TestDatabase::migrated();
    let stop = Arc::new(tokio::sync::Notify::new());
    let metrics = bridge_adapter::metrics::install().ok();
    let config = adapter_config(&broker, &ours_db);
    let adapter = tokio::spawn(bridge_adapter::run(config.clone(), metrics.clone(), {
        let stop = stop.clone();
        async move { stop.notified().await }
    }));
    let cpu_before = Cpu::now();
    let started = Instant::now();
    let offsets = CommittedOffsets::new(&broker, GROUP)?;
    let pool = Db::connect(ours_db.config()).await?;
    loop {
        if offsets.total()? as usize >= total && parked(&pool).await? == 0 {
            break;
        }
        if adapter.is_finished() {
            return Err("the adapter stopped while draining".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours_rate = total as f64 / started.elapsed().as_secs_f64();
    let cpu = Cpu::now().since(&cpu_before, total);
    let drained = metrics.as_ref().map(|m| Drained::read(&m.render()));
    let workflows = count(&pool, "workflow_executions").await?;
    let steps = count(&pool, "workflow_steps").await?;
    let transitions = count(&pool, "fsm_transitions").await?;
    let stamps = count(&pool, "metadata_stamps").await?;
    if steps != 3 * workflows || stamps != workflows || transitions != 2 * workflows {
        return Err(format!(
            "drained rows do not add up: {workflows} workflows, {steps} steps, \
             {transitions} transitions, {stamps} stamps"
        )
        .into());
    }

    let latencies = adapter_latency(&broker, &mut mix, &offsets, ctx.scale.adapter_steady).await;
    stop.notify_one();
    adapter.await??;
    let latencies = latencies?;
    let broker_alone = broker_latency(&broker, &mut mix, ctx.scale.adapter_steady).await?;

    let (limit_name, limit) = if broker_rate <= db_rate {
        ("broker (consumer doing nothing)", broker_rate)
    } else {
        ("database (models calls, no Kafka)", db_rate)
    };
    let notes = format!(
        "{total} events ({workflows} workflows); broker {broker_rate:.0}/s (librdkafka's fetch \
         defaults {broker_default_rate:.0}/s, fetching as the adapter {broker_adapter_rate:.0}/s), \
         database {db_rate:.0}/s; produced at {:.0}/s; --apply-concurrency {}, \
         --commit-interval-ms {}; CPU per event: {cpu}{}",
        total as f64 / produce,
        config.apply_concurrency,
        config.commit_interval_ms,
        drained.map_or(String::new(), |d| d.to_string()),
    );
    Ok(vec![
        Row::measured(
            "8 adapter drains the backlog",
            Unit::EventsPerSec,
            ours_rate,
            format!("lower limit: {limit_name}"),
            limit,
            Target::MinRatio { ratio: 0.85 },
        )
        .with_note(notes),
        Row::measured(
            "8 adapter latency at 1 000 events/s",
            Unit::P99Millis,
            quantile(&latencies.committed, 0.99),
            "the broker alone: produce to a consumer doing nothing",
            quantile(&broker_alone, 0.99),
            // Within 1.5x of the broker alone.
            Target::MinRatio { ratio: 1.0 / 1.5 },
        )
        .with_note(format!(
            "produce call to offset committed, {} events, p50 {:.1} ms, max {:.1} ms; \
             broker's acknowledgement of the produce: p50 {:.1} ms, p99 {:.1} ms; \
             committed offsets read every {:.1} ms; the broker alone, produce to a consumer \
             doing nothing: p50 {:.1} ms, p99 {:.1} ms",
            latencies.committed.len(),
            quantile(&latencies.committed, 0.5),
            quantile(&latencies.committed, 1.0),
            quantile(&latencies.acked, 0.5),
            quantile(&latencies.acked, 0.99),
            latencies.offset_read_ms,
            quantile(&broker_alone, 0.5),
            quantile(&broker_alone, 0.99),
        )),
    ])
}

/// The adapter's settings for this case: defaults but the broker, database, group and prefix.
fn adapter_config(broker: &PrivateBroker, db: &TestDatabase) -> Config {
    Config::parse_from([
        "bridge-adapter",
        "--brokers",
        &broker.bootstrap_servers(),
        "--group-id",
        GROUP,
        "--topic-prefix",
        PREFIX,
        "--database-url",
        db.url(),
        "--http-addr",
        "127.0.0.1:0",
        "-X",
        &format!("fetch.wait.max.ms={FETCH_WAIT_MS}"),
    ])
}

/// How the adapter fetches in this case: its own `fetch.max.bytes`, and the
/// case's fetch wait.
fn adapter_fetch() -> Vec<(&'static str, String)> {
    vec![
        ("fetch.wait.max.ms", FETCH_WAIT_MS.to_owned()),
        (
            "fetch.max.bytes",
            bridge_adapter::FETCH_MAX_BYTES.to_string(),
        ),
    ]
}

/// Produces every event, acknowledged.
async fn produce_all(producer: &FutureProducer, events: &[Produced]) -> BenchResult<()> {
    for chunk in events.chunks(20_000) {
        futures_util::future::try_join_all(chunk.iter().map(|event| send(producer, event))).await?;
    }
    Ok(())
}

/// Seconds `work` takes.
async fn time(work: impl std::future::Future<Output = BenchResult<()>>) -> BenchResult<f64> {
    let started = Instant::now();
    work.await?;
    Ok(started.elapsed().as_secs_f64())
}

/// The broker's limit: seconds a consumer of a fresh group, with the
/// librdkafka settings `fetch`, takes to read `total` messages of every
/// event topic, doing nothing with them.
fn read_all(servers: &str, total: usize, fetch: &[(&str, String)]) -> BenchResult<f64> {
    let started = Instant::now();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("group.id", format!("bench_reader_{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (name, value) in fetch {
        config.set(*name, value);
    }
    let consumer: BaseConsumer = config.create()?;
    let topics: Vec<String> = EventType::ALL.iter().map(|k| k.topic(PREFIX)).collect();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(3_600);
    while read < total {
        if Instant::now() > deadline {
            return Err(format!("read {read} of {total} messages").into());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => read += 1,
            Some(Err(err)) => return Err(err.into()),
            None => {}
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The database's limit: seconds to write the backlog's rows through the
/// adapter's own plan and batch calls (`bridge_adapter::apply_events`),
/// `BATCH` events per transaction in production order, without Kafka.
async fn write_directly(ctx: &Context, db: &TestDatabase, events: &[Produced]) -> BenchResult<f64> {
    let events: Vec<Event> = events
        .iter()
        .map(|event| decode(&event.bytes, Some(event.kind), &event.kind.topic(PREFIX)))
        .collect::<Result<_, _>>()?;
    let pool = ctx.pool(db).await?;
    let mut conn = pool.conn().await?;
    let started = Instant::now();
    for chunk in events.chunks(BATCH) {
        for outcome in apply_events(&mut conn, chunk.to_vec()).await? {
            if !matches!(outcome, Outcome::Persisted) {
                return Err(format!("the database limit's batch left an event {outcome:?}").into());
            }
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Events parked by the adapter, still waiting.
async fn parked(pool: &Db) -> BenchResult<i64> {
    count(pool, "adapter_deferred_events").await
}

/// Rows in `table`.
async fn count(pool: &Db, table: &str) -> BenchResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = pool.conn().await?;
    let rows: Vec<Count> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")),
        &mut conn,
    )
    .await?;
    Ok(rows.first().map_or(0, |row| row.n))
}

/// What the adapter's metrics say of the drain: how batches went and how
/// many events arrived before their workflow or node and were parked.
/// CPU seconds used so far by the bench (the adapter runs in it), by
/// PostgreSQL's live processes and by the broker.
struct Cpu {
    adapter: f64,
    postgres: f64,
    broker: f64,
}

impl Cpu {
    fn now() -> Self {
        Self {
            adapter: crate::cpu::own_seconds(),
            postgres: crate::cpu::seconds_of_named("postgres"),
            broker: crate::cpu::seconds_of_named("tansu"),
        }
    }

    /// Microseconds per event of each since `before`, over `events` events.
    fn since(&self, before: &Self, events: usize) -> String {
        let per = |now: f64, then: f64| (now - then).max(0.0) * 1e6 / events.max(1) as f64;
        format!(
            "adapter {:.1} µs, PostgreSQL {:.1} µs, broker {:.1} µs",
            per(self.adapter, before.adapter),
            per(self.postgres, before.postgres),
            per(self.broker, before.broker)
        )
    }
}

struct Drained {
    batches: f64,
    events: f64,
    batch_seconds: f64,
    parked: f64,
    /// Parked events by type, most first.
    parked_by_type: Vec<(String, f64)>,
}

impl Drained {
    /// Reads the figures out of the Prometheus text `/metrics` serves.
    fn read(text: &str) -> Self {
        let sum = |name: &str| bridge_adapter::metrics::sum(text, name);
        Self {
            batches: sum("adapter_batch_size_count"),
            events: sum("adapter_batch_size_sum"),
            batch_seconds: sum("adapter_batch_duration_seconds_sum"),
            parked: sum(bridge_adapter::metrics::DEFERRED),
            parked_by_type: {
                let mut by_type: Vec<(String, f64)> = text
                    .lines()
                    .filter_map(|line| {
                        let labels = line.strip_prefix(bridge_adapter::metrics::DEFERRED)?;
                        let (_, rest) = labels.split_once("event_type=\"")?;
                        let (kind, rest) = rest.split_once('"')?;
                        Some((kind.to_owned(), rest.rsplit(' ').next()?.parse().ok()?))
                    })
                    .collect();
                by_type.sort_by(|a, b| b.1.total_cmp(&a.1));
                by_type
            },
        }
    }
}

impl std::fmt::Display for Drained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |x: f64| {
            if self.batches > 0.0 {
                x / self.batches
            } else {
                0.0
            }
        };
        write!(
            f,
            "; {:.0} batches of {:.0} events on average, {:.1} ms each; {:.0} events parked",
            self.batches,
            per(self.events),
            per(self.batch_seconds) * 1000.0,
            self.parked
        )?;
        for (i, (kind, n)) in self.parked_by_type.iter().enumerate() {
            write!(f, "{} {n:.0} {kind}", if i == 0 { ":" } else { "," })?;
        }
        Ok(())
    }
}
