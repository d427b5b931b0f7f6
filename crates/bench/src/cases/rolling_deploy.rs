//! Case 10: a rolling deploy of three `bridge-adapter` processes in one
//! consumer group under a steady 1 000 events/s, four times, each on a
//! cluster, group and database of its own: on tansu with eager assignment
//! (`range`) and with the adapter's default, cooperative-sticky (the classic
//! protocol); on librdkafka's three-broker mock cluster with the KIP-848
//! consumer protocol (`--group-protocol consumer`), with dynamic and with
//! static members (`--group-instance-id`). Each process in turn gets SIGTERM
//! and is started again; the next goes once the group owns every partition
//! again, each member some and none two (each member's `/health`
//! `assignment`).
//! Figures: produce call to offset committed (`adapter_latency`'s
//! measurement) for the events produced during the deploy, and the events
//! read twice: `adapter_events_consumed_total` summed over every process's
//! life (a stopped process's from the totals on its last log line, a
//! survivor's from `/metrics` at the end) minus the events produced, beside
//! one batch per partition revoked from a running member
//! (`adapter_partitions_revoked_total`, read once the group has formed, just
//! before each SIGTERM, so that a stopping member's own partitions do not
//! count, and at the end; what the group's forming revoked is left out).
//!
//! tansu 0.6 can hand partitions to two members at once (it completes a
//! rebalance with a member's metadata from before that member's last
//! assignment). The case records each partition it sees owned twice and
//! says so beside the figures; such a partition may end with the lower of
//! its two owners' commits, which is accepted only if a higher commit past
//! its last event was seen before. Any other partition short of its end
//! fails the case.
//!
//! The classic runs are on tansu, not on the mock: the mock's classic
//! coordinator holds every join open for the session timeout less one second
//! (`rd_kafka_mock_cgrp_classic_rebalance` in librdkafka 2.12) instead of
//! completing it once every member has rejoined, and refuses offset commits
//! meanwhile, so every restart would cost a session timeout of latency that
//! a Kafka broker does not charge. The KIP-848 runs are on the mock, as tansu
//! 0.6 does not serve that protocol. The mock's coordinator asks for a
//! heartbeat every 3 s (Kafka's `group.consumer.heartbeat.interval.ms`
//! defaults to 5 s) and assigns by range (Kafka's first assignor is `uniform`).

mod member;
mod owners;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use bridge_adapter::metrics::Totals;
use bridge_testkit::{KafkaCluster, MockKafka, PrivateBroker, TestDatabase};
use tokio::sync::Notify;

use super::{
    adapter_events::Mix,
    adapter_latency::{
        committed_latencies, create_topics, produce_steadily, producer, send, short_of_committed,
        CommittedOffsets, OffsetWatch, Short,
    },
    migrations::find_beside,
};
use crate::{
    measure::quantile,
    report::{Mark, Row, Target, Unit},
    BenchResult, Context,
};
use member::{Member, Rig};
use owners::{moved_back, share_every_partition, Overlaps};

/// Members of the group.
const MEMBERS: usize = 3;

/// The adapter's default `--batch-size`, which the case keeps.
const BATCH: f64 = 500.0;

/// How long a member may take to stop, or the group to share every partition.
const PATIENCE: Duration = Duration::from_secs(120);

/// How the group assigns partitions, and on which cluster.
#[derive(Debug, Clone, Copy)]
enum Assignment {
    /// `range` on tansu: every rebalance revokes every partition of every member.
    Eager,
    /// `cooperative-sticky` (KIP-429) on tansu, the adapter's default: only
    /// the partitions that move.
    Cooperative,
    /// KIP-848 (`--group-protocol consumer`) on the mock cluster: the
    /// coordinator assigns, member by member.
    Kip848,
    /// KIP-848 with static members (`--group-instance-id`) on the mock
    /// cluster: a member restarted within the session timeout gets its own
    /// partitions back and no other member's move.
    Kip848Static,
}

impl Assignment {
    /// Every one, in the order of the report.
    const ALL: [Self; 4] = [
        Self::Eager,
        Self::Cooperative,
        Self::Kip848,
        Self::Kip848Static,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Eager => "eager (range)",
            Self::Cooperative => "cooperative-sticky",
            Self::Kip848 => "KIP-848, mock cluster",
            Self::Kip848Static => "KIP-848 static members, mock cluster",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Self::Eager => "bench_deploy_eager",
            Self::Cooperative => "bench_deploy_cooperative",
            Self::Kip848 => "bench_deploy_kip848",
            Self::Kip848Static => "bench_deploy_kip848_static",
        }
    }

    /// Its flags for member `member` (1 to [`MEMBERS`], kept across restarts).
    fn args(self, member: usize) -> Vec<String> {
        match self {
            Self::Eager => vec!["-X".into(), "partition.assignment.strategy=range".into()],
            Self::Cooperative => Vec::new(),
            Self::Kip848 => vec!["--group-protocol".into(), "consumer".into()],
            Self::Kip848Static => vec![
                "--group-protocol".into(),
                "consumer".into(),
                "--group-instance-id".into(),
                format!("member-{member}"),
            ],
        }
    }

    /// The cluster it runs on: tansu for the classic protocol, which tansu
    /// serves; librdkafka's mock cluster for KIP-848, which tansu 0.6 does not.
    fn cluster(self) -> Box<dyn KafkaCluster> {
        match self {
            Self::Eager | Self::Cooperative => Box::new(PrivateBroker::start()),
            Self::Kip848 | Self::Kip848Static => Box::new(MockKafka::start()),
        }
    }
}

/// Runs case 10 and returns its rows: per assignment, latency and re-deliveries.
pub async fn run(ctx: &Context) -> Vec<Row> {
    let mut rows = Vec::new();
    let program = find_beside(ctx.args.bridge_adapter.as_ref(), "bridge-adapter");
    for assignment in Assignment::ALL {
        let latency = format!("10 rolling deploy, {}", assignment.name());
        let again = format!("10 read again per restart, {}", assignment.name());
        let Some(program) = &program else {
            let why = "bridge-adapter not built (cargo build --release -p bridge-adapter)";
            rows.push(Row::failed(latency, Unit::P99Millis, Mark::Skipped, why));
            rows.push(Row::failed(again, Unit::Events, Mark::Skipped, why));
            continue;
        };
        match deploy(ctx, program, assignment).await {
            Ok(deployed) => rows.extend(deployed.rows(latency, again)),
            Err(err) => {
                rows.push(Row::failed(
                    latency,
                    Unit::P99Millis,
                    Mark::Error,
                    err.to_string(),
                ));
                rows.push(Row::failed(
                    again,
                    Unit::Events,
                    Mark::Error,
                    err.to_string(),
                ));
            }
        }
    }
    rows
}

/// What one deploy measured.
struct Deployed {
    /// Milliseconds to committed of each event produced during the deploy.
    during: Vec<f64>,
    /// The same of each event produced in the warm-up before it.
    before: Vec<f64>,
    /// Each restart, from SIGTERM to every partition owned again.
    restarts: Vec<Duration>,
    /// Events produced in all.
    produced: usize,
    /// Consumption and revocations over every process's life.
    counts: Totals,
    /// Partitions the broker gave two members at once.
    overlaps: Overlaps,
    /// Of those, the ones whose committed offset ended short of their last
    /// event after a commit past it had been seen.
    moved_back: Vec<Short>,
}

impl Deployed {
    fn rows(&self, latency: String, again: String) -> [Row; 2] {
        let restarts: Vec<String> = self
            .restarts
            .iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect();
        let read_again = self.counts.consumed as f64 - self.produced as f64;
        let per_restart = read_again / MEMBERS as f64;
        let revoked = self.counts.revoked as f64 / MEMBERS as f64;
        let bound = BATCH * revoked;
        let overlaps = if self.overlaps.is_empty() {
            String::new()
        } else {
            let (first, owners) = self.overlaps.iter().next().expect("not empty");
            let mut note = format!(
                "; the broker gave {} partitions to two members at once ({}[{}]: {owners}{})",
                self.overlaps.len(),
                first.0,
                first.1,
                if self.overlaps.len() > 1 { ", ..." } else { "" },
            );
            if !self.moved_back.is_empty() {
                note += &format!(
                    "; the lower of two owners' commits landed last on {}",
                    Short::list(&self.moved_back)
                );
            }
            note
        };
        [
            Row::measured(
                latency,
                Unit::P99Millis,
                quantile(&self.during, 0.99),
                "target",
                1000.0,
                Target::UnderMillis { millis: 1000.0 },
            )
            .with_note(format!(
                "produce call to offset committed of the {} events produced during the deploy: \
                 p50 {:.1} ms, max {:.1} ms; before it: p50 {:.1} ms, p99 {:.1} ms; \
                 restarts (SIGTERM to every partition owned again): {}{overlaps}",
                self.during.len(),
                quantile(&self.during, 0.5),
                quantile(&self.during, 1.0),
                quantile(&self.before, 0.5),
                quantile(&self.before, 0.99),
                restarts.join(", "),
            )),
            Row::measured(
                again,
                Unit::Events,
                per_restart,
                format!("{BATCH:.0} per revoked partition"),
                bound,
                Target::AtMost { value: bound },
            )
            .with_note(format!(
                "{} consumed, {} produced, {read_again:.0} read again in {MEMBERS} restarts; \
                 {revoked:.1} partitions revoked from running members per restart",
                self.counts.consumed, self.produced,
            )),
        ]
    }
}

/// One deploy on a broker, group and database of its own.
async fn deploy(ctx: &Context, program: &Path, assignment: Assignment) -> BenchResult<Deployed> {
    let broker = assignment.cluster();
    let broker = &*broker;
    create_topics(broker);
    let database = TestDatabase::migrated();
    let mut mix = Mix::new();
    let registrations = mix.registrations();
    let registrar = producer(broker, "0")?;
    for event in &registrations {
        send(&registrar, event).await?;
    }
    let rig = Rig {
        program,
        brokers: broker.bootstrap_servers(),
        database_url: database.url(),
        assignment,
        logs: &ctx.work_dir,
    };
    let mut members = (1..=MEMBERS)
        .map(|n| rig.start(n, &format!("{n}")))
        .collect::<BenchResult<Vec<_>>>()?;
    let mut overlaps = Overlaps::new();
    share_every_partition(&members, &mut overlaps).await?;
    // Revocations while the group formed are not the deploy's.
    let mut formed = 0;
    for member in &members {
        formed += member.totals().await?.revoked;
    }

    let offsets = CommittedOffsets::new(broker, assignment.group())?;
    let watch = OffsetWatch::start(CommittedOffsets::new(broker, assignment.group())?);
    let stop = Notify::new();
    let (sent, rolled) = tokio::join!(produce_steadily(broker, &mut mix, stop.notified()), async {
        let rolled = roll(&rig, &mut members, ctx.scale.deploy_warmup, &mut overlaps).await;
        stop.notify_one();
        rolled
    });
    let short = match (&sent, &rolled) {
        (Ok(sent), Ok(_)) => short_of_committed(&offsets, sent).await,
        _ => Ok(Vec::new()),
    };
    let seen = watch.finish()?;
    let short = short?;
    if !short.is_empty() {
        for member in &members {
            member.keep_health().await;
        }
    }
    let (sent, rolled) = (sent?, rolled?);
    let moved_back = moved_back(short, &overlaps, &seen)?;

    let mut counts = rolled.counts;
    for member in &members {
        counts += member.totals().await?;
    }
    counts.revoked = counts.revoked.saturating_sub(formed);
    let (mut during, mut before) = (Vec::new(), Vec::new());
    for (millis, (_, sent_at, _)) in committed_latencies(&sent, &seen)?.into_iter().zip(&sent) {
        if *sent_at >= rolled.started {
            during.push(millis);
        } else {
            before.push(millis);
        }
    }
    Ok(Deployed {
        during,
        before,
        restarts: rolled.restarts,
        produced: registrations.len() + sent.len(),
        counts,
        overlaps,
        moved_back,
    })
}

/// What the rolling restarts did.
struct Rolled {
    /// When the first SIGTERM went.
    started: Instant,
    /// Each restart, from SIGTERM to every partition owned again.
    restarts: Vec<Duration>,
    /// The stopped processes' totals.
    counts: Totals,
}

/// After `warmup`, stops and starts each member in turn, the next once the
/// group shares every partition again; the producer stops when this returns.
async fn roll(
    rig: &Rig<'_>,
    members: &mut [Member],
    warmup: Duration,
    overlaps: &mut Overlaps,
) -> BenchResult<Rolled> {
    tokio::time::sleep(warmup).await;
    let started = Instant::now();
    let mut counts = Totals::default();
    let mut restarts = Vec::new();
    for n in 0..members.len() {
        let stopping = Instant::now();
        let running = members[n].totals().await?;
        let stopped = members[n].terminate().await?;
        // A stopping member's own partitions, revoked at shutdown, are not counted.
        counts += Totals {
            revoked: running.revoked,
            ..stopped
        };
        members[n] = rig.start(n + 1, &format!("{}-again", n + 1))?;
        share_every_partition(members, overlaps).await?;
        restarts.push(stopping.elapsed());
    }
    Ok(Rolled {
        started,
        restarts,
        counts,
    })
}
