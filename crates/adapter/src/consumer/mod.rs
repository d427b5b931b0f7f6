//! The consumer loop: collect a batch, apply it over parallel lanes while the
//! next one is collected, dead-letter its poison, record its offsets and
//! commit them on an interval; pause and retry while the database is down.
//!
//! One batch is in flight at a time ([`flight`]); its partitions are split
//! over `--apply-concurrency` lanes, each one transaction on its own
//! connection. While it flies the loop keeps polling the consumer until the
//! next batch is full: it fills that batch (decoded once the flight has
//! landed) and serves rebalances, which rust-rdkafka runs inside that poll;
//! once the next batch is full, a rebalance waits for the flight to land.
//! While the database is down it keeps polling, into a carry with every
//! partition paused, so that the group stays served. A partition revoked
//! while its events are in flight is not recorded when they land: its new
//! owner reads them again from the last commit and finds them written.

mod commit;
mod flight;
mod settle;
mod unassigned;

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::{sync::watch, task::JoinHandle};

use bridge_models::Db;

use crate::{
    config::Config, context::AdapterContext, dlq::DeadLetters, health::Health, held::Held,
    item::Item, message::Consumed, metrics as m,
};
use flight::Flight;

/// The consumer with everything the loop needs.
pub(crate) struct Loop {
    /// The Kafka consumer.
    consumer: Arc<StreamConsumer<AdapterContext>>,
    /// The database.
    db: Db,
    /// The dead-letter producer.
    letters: DeadLetters,
    /// Shared state for `/health`.
    health: Arc<Health>,
    /// The settings.
    config: Config,
    /// The offset commit still under way, if any: at most one at a time.
    pending_commit: Mutex<Option<JoinHandle<()>>>,
    /// When the last commit was started.
    last_commit: Mutex<Instant>,
}

/// What the loop keeps between batches.
struct State<'a> {
    /// The next batch, filled while the previous one flies.
    next: Vec<Consumed>,
    /// Messages received while the next batch was full and the database
    /// down (partitions paused); they go first into the batch after it.
    carry: VecDeque<Consumed>,
    /// Events waiting in memory for their workflow or node.
    held: Held,
    /// The batch being applied.
    flight: Option<BoxFuture<'a, Option<Flight>>>,
    /// The rebalance count when the assignment was last checked.
    rebalances: u64,
}

impl Loop {
    /// The loop over `consumer`, writing to `db`, dead-lettering with `letters`.
    pub(crate) fn new(
        consumer: StreamConsumer<AdapterContext>,
        db: Db,
        letters: DeadLetters,
        health: Arc<Health>,
        config: Config,
    ) -> Self {
        health.set_assignment(None);
        Self {
            consumer: Arc::new(consumer),
            db,
            letters,
            health,
            config,
            pending_commit: Mutex::default(),
            last_commit: Mutex::new(Instant::now()),
        }
    }

    /// Runs until `shutdown` turns true; the batch in flight is finished
    /// (or, while the database is down, abandoned uncommitted) first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.consume(&mut shutdown).await;
        self.commit_applied(true).await;
        self.finish_commit().await;
    }

    /// The loop of [`run`](Self::run), which then commits what it recorded.
    async fn consume(&self, shutdown: &mut watch::Receiver<bool>) {
        let mut state = State {
            next: Vec::new(),
            carry: VecDeque::new(),
            held: Held::new(self.config.hold_max_events, self.config.hold()),
            flight: None,
            rebalances: self.consumer.context().rebalance_count(),
        };
        loop {
            if let Some(flight) = state.flight.take() {
                let Some(landed) = self.fill_while(flight, &mut state, shutdown).await else {
                    tracing::info!(
                        "shutting down with the in-flight batch uncommitted; it will be redelivered"
                    );
                    return;
                };
                if !self.settle(landed, &mut state.held, shutdown).await {
                    tracing::info!(
                        "shutting down before the batch's poison was dead-lettered; it will be redelivered"
                    );
                    return;
                }
            }
            if *shutdown.borrow() || !self.collect(&mut state, shutdown).await {
                return;
            }
            self.take_off(&mut state, shutdown.clone());
        }
    }

    /// Decodes the collected batch and sends it, with the held events it
    /// brings what they wait for (or that waited their time), into flight.
    fn take_off<'a>(&'a self, state: &mut State<'a>, shutdown: watch::Receiver<bool>) {
        let rebalances = self.consumer.context().rebalance_count();
        if rebalances != state.rebalances {
            state.rebalances = rebalances;
            self.keep_assigned(&mut state.next);
            let mut carried: Vec<Consumed> = state.carry.drain(..).collect();
            self.keep_assigned(&mut carried);
            state.carry.extend(carried);
            if let Some(assigned) = self.assigned() {
                state.held.retain_assigned(&assigned);
            }
        }
        let batch = std::mem::take(&mut state.next);
        if batch.is_empty() && state.held.is_empty() {
            return;
        }
        let started = Instant::now();
        // A full batch means a backlog: early events wait in memory for
        // their workflow, which saves writing them twice. A partial one
        // means the adapter keeps up: they are parked at once, so their
        // offsets, and those after them, are committed without waiting.
        let backlog = batch.len() >= self.batch_size();
        let held = &state.held;
        let fresh: Vec<Item> = batch
            .into_iter()
            .filter(|m| {
                held.is_empty() || !held.contains(&(m.topic.clone(), m.partition, m.offset))
            })
            .map(|message| Item::decode(message, &self.config.topic_prefix))
            .collect();
        for item in &fresh {
            metrics::counter!(m::CONSUMED, "event_type" => item.event_type_label()).increment(1);
        }
        let (items, since) = state.held.assemble(fresh, backlog, Instant::now());
        if items.is_empty() {
            return;
        }
        state.flight = Some(Box::pin(self.fly(items, since, started, shutdown)));
    }

    /// The most events of one batch.
    fn batch_size(&self) -> usize {
        self.config.batch_size.max(1)
    }

    /// Fills the next batch while `flight` is applied; returns it landed,
    /// or `None` when it was abandoned at shutdown. While the database is
    /// down it keeps receiving (into the carry once the next batch is full),
    /// pausing what it receives, so that rebalances are served.
    async fn fill_while(
        &self,
        mut flight: BoxFuture<'_, Option<Flight>>,
        state: &mut State<'_>,
        shutdown: &watch::Receiver<bool>,
    ) -> Option<Flight> {
        loop {
            let room = state.carry.is_empty() && state.next.len() < self.batch_size();
            let outage = self.health.circuit_open();
            let receive = (room || outage) && !*shutdown.borrow();
            tokio::select! {
                biased;
                landed = &mut flight => return landed,
                message = self.consumer.recv(), if receive => match message {
                    Ok(message) => {
                        let message = Consumed::from_message(&message);
                        if room {
                            state.next.push(message);
                        } else {
                            state.carry.push_back(message);
                        }
                        if outage {
                            self.pause_all();
                        }
                    }
                    Err(err) => tracing::warn!(%err, "consuming"),
                },
                // Looks again whether the database went down (or shutdown came).
                _ = tokio::time::sleep(Duration::from_millis(100)), if !receive => {}
            }
        }
    }

    /// Completes the next batch: the carry first, then up to `batch_size`
    /// messages, waiting at most the linger after the first. Returns with
    /// it empty when a held event is due or offsets are due to be
    /// committed first; false when shutdown came with nothing in flight.
    async fn collect(&self, state: &mut State<'_>, shutdown: &mut watch::Receiver<bool>) -> bool {
        let room = self.batch_size().saturating_sub(state.next.len());
        let carried = room.min(state.carry.len());
        state.next.extend(state.carry.drain(..carried));
        if state.next.is_empty() {
            let expiry = state.held.next_expiry();
            let commit_due = self.commit_due_at();
            let first = tokio::select! {
                message = self.consumer.recv() => message.map(|m| Consumed::from_message(&m)),
                _ = until(expiry) => return true,
                _ = until(commit_due) => {
                    self.commit_applied(false).await;
                    return true;
                }
                _ = stopped(shutdown) => return false,
                _ = tokio::time::sleep(unassigned::CHECK_EVERY), if self.health.unassigned_for().is_some() => {
                    self.check_unassigned().await;
                    return true;
                }
            };
            match first {
                Ok(message) => state.next.push(message),
                Err(err) => {
                    tracing::warn!(%err, "consuming");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return true;
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.config.linger();
        while state.next.len() < self.batch_size() && state.carry.is_empty() {
            let next = tokio::select! {
                message = self.consumer.recv() => message.map(|m| Consumed::from_message(&m)),
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stopped(shutdown) => break,
            };
            match next {
                Ok(message) => state.next.push(message),
                Err(err) => tracing::warn!(%err, "consuming"),
            }
        }
        true
    }

    /// The partitions assigned now.
    fn assigned(&self) -> Option<HashSet<(String, i32)>> {
        let assignment = self.consumer.assignment().ok()?;
        Some(
            assignment
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect(),
        )
    }

    /// Drops messages of partitions no longer assigned, and repeats (a
    /// partition revoked and assigned back is read again from its last commit).
    fn keep_assigned(&self, batch: &mut Vec<Consumed>) {
        let Some(assigned) = self.assigned() else {
            return;
        };
        let mut seen = HashSet::new();
        let before = batch.len();
        batch.retain(|m| {
            assigned.contains(&(m.topic.clone(), m.partition))
                && seen.insert((m.topic.clone(), m.partition, m.offset))
        });
        if batch.len() != before {
            tracing::info!(
                dropped = before - batch.len(),
                "rebalance: dropped messages of revoked partitions"
            );
        }
    }

    fn pause_all(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(err) = self.consumer.pause(&assignment) {
                tracing::warn!(%err, "pausing partitions");
            }
        }
    }
}

/// Completes at `at`, or never when there is no such time.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Completes once shutdown is asked for (at once if it was already).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, never held across an await.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
