//! The consumer loop: collect a batch, apply it in one transaction, dead-letter
//! its poison, commit its offsets; pause and retry while the database is down.
//!
//! The loop polls the consumer only between batches (and while waiting out a
//! database outage), and librdkafka runs rebalance callbacks only inside that
//! poll, so no partition is revoked while its batch is being written. A
//! rebalance during a batch's collection drops the messages of partitions no
//! longer assigned: their new owner reads them again from the last commit.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bridge_models::{Db, Error};
use diesel_async::RunQueryDsl;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    apply::{apply_batch, apply_one_by_one},
    breaker::Backoff,
    config::Config,
    context::AdapterContext,
    dlq::{DeadLetter, DeadLetters},
    health::Health,
    held::{item_key, Held},
    item::{Item, Source},
    message::Consumed,
    metrics as m,
    outcome::{Outcome, Refusal},
};

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

/// How a batch ended.
enum Done {
    /// Applied, dead-lettered and committed (or the commit failed and it will be redelivered).
    Committed,
    /// Shutdown came while it could not be written: nothing committed, all of it redelivered later.
    Abandoned,
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

    /// Runs until `shutdown` turns true; the in-flight batch is finished
    /// (or, while the database is down, abandoned uncommitted) first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.consume(&mut shutdown).await;
        self.commit_applied(true).await;
        self.finish_commit().await;
    }

    /// The loop of [`run`](Self::run), which then awaits the last commit.
    async fn consume(&self, shutdown: &mut watch::Receiver<bool>) {
        let mut carry = VecDeque::new();
        let mut held = Held::new(self.config.hold_max_events, self.config.hold());
        loop {
            let Some(batch) = self.collect(&mut carry, &mut held, shutdown).await else {
                return;
            };
            if batch.is_empty() && held.is_empty() {
                self.commit_applied(false).await;
                continue;
            }
            if let Done::Abandoned = self.process(batch, &mut carry, &mut held, shutdown).await {
                tracing::info!(
                    "shutting down with the in-flight batch uncommitted; it will be redelivered"
                );
                return;
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// The next batch: up to `batch_size` messages, waiting at most the
    /// linger after the first; empty when a held event has waited its time
    /// first. `None` when shutdown came with nothing in flight.
    async fn collect(
        &self,
        carry: &mut VecDeque<Consumed>,
        held: &mut Held,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<Consumed>> {
        let rebalances = self.consumer.context().rebalance_count();
        let mut batch: Vec<Consumed> = carry.drain(..).collect();
        if batch.is_empty() {
            let expiry = held.next_expiry();
            let commit_due = self.commit_due_at();
            let first = tokio::select! {
                message = self.consumer.recv() => message.map(|m| Consumed::from_message(&m)),
                _ = until(expiry) => return Some(Vec::new()),
                _ = until(commit_due) => return Some(Vec::new()),
                _ = stopped(shutdown) => return None,
            };
            match first {
                Ok(message) => batch.push(message),
                Err(err) => {
                    tracing::warn!(%err, "consuming");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Some(Vec::new());
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.config.linger();
        while batch.len() < self.config.batch_size.max(1) {
            let next = tokio::select! {
                message = self.consumer.recv() => message.map(|m| Consumed::from_message(&m)),
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stopped(shutdown) => break,
            };
            match next {
                Ok(message) => batch.push(message),
                Err(err) => tracing::warn!(%err, "consuming"),
            }
        }
        if self.consumer.context().rebalance_count() != rebalances {
            self.keep_assigned(&mut batch);
            if let Some(assigned) = self.assigned() {
                held.retain_assigned(&assigned);
            }
        }
        Some(batch)
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

    /// Applies, dead-letters and commits one batch, with the held events it
    /// brings what they wait for (or that waited their time).
    async fn process(
        &self,
        batch: Vec<Consumed>,
        carry: &mut VecDeque<Consumed>,
        held: &mut Held,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Done {
        let started = Instant::now();
        // A full batch means a backlog: early events wait in memory for
        // their workflow, which saves writing them twice. A partial one
        // means the adapter keeps up: they are parked at once, so their
        // offsets, and those after them, are committed without waiting.
        let backlog = batch.len() >= self.config.batch_size.max(1);
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
        let (mut items, since) = held.assemble(fresh, backlog, Instant::now());
        if items.is_empty() {
            return Done::Committed;
        }
        let Some(outcomes) = self.apply_until_written(&mut items, carry, shutdown).await else {
            return Done::Abandoned;
        };
        if !self.dead_letter(&items, &outcomes, shutdown).await {
            return Done::Abandoned;
        }
        for (item, outcome) in items.iter().zip(&outcomes) {
            if let Outcome::Held(waits_for) = outcome {
                let first = since.get(&item_key(item)).copied();
                held.hold(item.clone(), waits_for.clone(), first.unwrap_or(started));
            }
        }
        metrics::gauge!(m::HELD).set(held.len() as f64);
        self.commit(&items, held).await;
        record(&items, &outcomes, started);
        Done::Committed
    }

    /// Applies the batch, retrying with backoff while the database is
    /// unavailable (circuit open: partitions paused, the group still served).
    /// `None` when shutdown came first.
    async fn apply_until_written(
        &self,
        items: &mut Vec<Item>,
        carry: &mut VecDeque<Consumed>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<Outcome>> {
        let mut backoff = Backoff::new(
            Duration::from_millis(self.config.retry_initial_ms),
            Duration::from_millis(self.config.retry_max_ms),
        );
        loop {
            match self.apply(items).await {
                Ok(outcomes) => {
                    if self.health.circuit_open() {
                        self.close_circuit();
                    }
                    return Some(outcomes);
                }
                Err(err) => {
                    metrics::counter!(m::DB_ERRORS, "kind" => "retryable").increment(1);
                    self.health.set_db_error(Some(err.to_string()));
                    if !self.health.circuit_open() {
                        tracing::warn!(%err, "database unavailable: circuit open, partitions paused");
                        self.health.set_circuit_open(true);
                        self.pause_all();
                    }
                    let rebalances = self.consumer.context().rebalance_count();
                    if !self.wait(backoff.next_delay(), carry, shutdown).await {
                        return None;
                    }
                    if self.consumer.context().rebalance_count() != rebalances {
                        let mut messages: Vec<Consumed> =
                            items.drain(..).map(|item| item.message).collect();
                        self.keep_assigned(&mut messages);
                        let prefix = &self.config.topic_prefix;
                        items.extend(messages.into_iter().map(|m| Item::decode(m, prefix)));
                        let mut carried: Vec<Consumed> = carry.drain(..).collect();
                        self.keep_assigned(&mut carried);
                        carry.extend(carried);
                    }
                }
            }
        }
    }

    /// One attempt at the batch: one transaction, or, when the database
    /// refuses something in it, one transaction per event to find the poison.
    /// `Err` only for a failure worth retrying.
    async fn apply(&self, items: &[Item]) -> Result<Vec<Outcome>, Error> {
        let mut conn = self.db.conn().await?;
        match apply_batch(&mut conn, items, Source::Kafka).await {
            Ok(outcomes) => Ok(outcomes),
            Err(err) if err.is_retryable() => Err(err),
            Err(err) => {
                alive(&mut conn, err.to_string()).await?;
                tracing::info!(%err, events = items.len(), "batch refused; applying event by event to isolate the poison");
                let outcomes = apply_one_by_one(&mut conn, items, Source::Kafka).await?;
                for outcome in &outcomes {
                    if let Outcome::Poison(refusal @ Refusal::Write(_)) = outcome {
                        alive(&mut conn, refusal.to_string()).await?;
                    }
                }
                Ok(outcomes)
            }
        }
    }

    /// Waits `delay` while serving the group: messages of partitions
    /// assigned meanwhile are kept for the next batch and paused. False when
    /// shutdown came.
    async fn wait(
        &self,
        delay: Duration,
        carry: &mut VecDeque<Consumed>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            let next = tokio::select! {
                message = self.consumer.recv() => message.map(|m| Consumed::from_message(&m)),
                _ = tokio::time::sleep_until(until) => return true,
                _ = stopped(shutdown) => return false,
            };
            if let Ok(message) = next {
                carry.push_back(message);
                self.pause_all();
            }
        }
    }

    fn pause_all(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(err) = self.consumer.pause(&assignment) {
                tracing::warn!(%err, "pausing partitions");
            }
        }
    }

    fn close_circuit(&self) {
        tracing::info!("database answers again: circuit closed, partitions resumed");
        self.health.set_circuit_open(false);
        self.health.set_db_error(None);
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(err) = self.consumer.resume(&assignment) {
                tracing::warn!(%err, "resuming partitions");
            }
        }
    }

    /// Sends the batch's poison to the dead-letter topics, waiting for every
    /// delivery, retrying until it succeeds. False when shutdown came first.
    async fn dead_letter(
        &self,
        items: &[Item],
        outcomes: &[Outcome],
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let letters: Vec<DeadLetter<'_>> = items
            .iter()
            .zip(outcomes)
            .filter_map(|(item, outcome)| match outcome {
                Outcome::Poison(refusal) => Some(DeadLetter {
                    message: &item.message,
                    reason: refusal.reason(),
                    error: refusal.to_string(),
                    event_type: item.event_type(),
                }),
                _ => None,
            })
            .collect();
        if letters.is_empty() {
            return true;
        }
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            match self.letters.send_all(&letters).await {
                Ok(()) => return true,
                Err(err) => {
                    tracing::warn!(%err, "dead-lettering failed; retrying before committing");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = stopped(shutdown) => return false,
                    }
                }
            }
        }
    }

    /// Records, per partition, the offset after the batch's last message
    /// (never past its first held event: [`Held::commit_offsets`]) and
    /// commits what is recorded once `--commit-interval-ms` has passed since
    /// the last commit.
    async fn commit(&self, items: &[Item], held: &mut Held) {
        self.uncommitted().record(held.commit_offsets(items));
        self.commit_applied(false).await;
    }

    /// The offsets applied and not yet committed (shared with the rebalance callback).
    fn uncommitted(&self) -> &crate::offsets::Uncommitted {
        &self.consumer.context().uncommitted
    }

    /// When the offsets recorded are due to be committed; `None` when none is recorded.
    fn commit_due_at(&self) -> Option<Instant> {
        if self.uncommitted().is_empty() {
            return None;
        }
        Some(*self.last_commit.lock().expect("not poisoned") + self.config.commit_interval())
    }

    /// Commits the recorded offsets, when due (or `now`), once the previous
    /// commit is done; returns without waiting for this one, which overlaps
    /// the next batch.
    ///
    /// One commit at a time keeps them in order (asynchronous commits can
    /// overtake one another: tansu 0.6 applied them out of order, leaving
    /// offsets behind). A commit that fails only means a redelivery, which
    /// the idempotent writes absorb.
    async fn commit_applied(&self, now: bool) {
        match self.commit_due_at() {
            None => return,
            Some(due) if !now && Instant::now() < due => return,
            Some(_) => {}
        }
        self.finish_commit().await;
        let offsets = self.uncommitted().take_all();
        *self.last_commit.lock().expect("not poisoned") = Instant::now();
        let consumer = self.consumer.clone();
        let commit = tokio::task::spawn_blocking(move || {
            if let Err(err) = consumer.commit(&offsets, CommitMode::Sync) {
                metrics::counter!(m::COMMIT_ERRORS).increment(1);
                tracing::warn!(%err, "offset commit failed; the batch will be redelivered and its writes found done");
            }
        });
        *self.pending_commit.lock().expect("not poisoned") = Some(commit);
    }

    /// Waits for the commit under way, if any.
    async fn finish_commit(&self) {
        let pending = self.pending_commit.lock().expect("not poisoned").take();
        if let Some(pending) = pending {
            if let Err(err) = pending.await {
                tracing::warn!(%err, "the offset commit task failed");
            }
        }
    }
}

/// Returns `err` as retryable when the connection no longer answers: a
/// refusal is only poison if the database that refused is still there.
async fn alive(conn: &mut bridge_models::PooledConnection<'_>, err: String) -> Result<(), Error> {
    match diesel::sql_query("SELECT 1").execute(&mut **conn).await {
        Ok(_) => Ok(()),
        Err(probe) => Err(Error::ConnectionLost(format!("{err}; probe: {probe}"))),
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

/// Counts outcomes and times the batch.
fn record(items: &[Item], outcomes: &[Outcome], started: Instant) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (item, outcome) in items.iter().zip(outcomes) {
        if matches!(outcome, Outcome::Held(_)) {
            continue;
        }
        m::outcome(item, outcome);
        if let Some(produced) = item.message.timestamp_ms {
            metrics::histogram!(m::EVENT_LATENCY)
                .record((now_ms - produced).max(0) as f64 / 1000.0);
        }
    }
    metrics::histogram!(m::BATCH_SIZE).record(items.len() as f64);
    metrics::histogram!(m::BATCH_SECONDS).record(started.elapsed().as_secs_f64());
}
