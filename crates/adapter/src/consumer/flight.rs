//! One batch in flight: its partitions split over `--apply-concurrency`
//! lanes, each lane one transaction on a connection of its own, all lanes at
//! once; each lane retried on its own while the database is unavailable.
//!
//! A partition always goes to the same lane (its number modulo the lanes),
//! so its events stay in one transaction in offset order. Events of one key
//! have the same partition number on topics of equal partition counts, so a
//! workflow's or a node's events mostly share a lane; what one lane needs
//! from another's uncommitted transaction waits for it, held or parked, and
//! is applied once the batch has landed ([`super::settle`]).

use std::{
    borrow::Cow,
    collections::BTreeMap,
    time::{Duration, Instant},
};

use bridge_models::Error;
use diesel_async::RunQueryDsl;
use futures_util::future::join_all;
use tokio::sync::watch;

use super::{stopped, Loop};
use crate::{
    apply::{apply_batch, apply_one_by_one},
    breaker::Backoff,
    held::Key,
    item::{Item, Source},
    metrics as m,
    outcome::{Outcome, Refusal},
};

/// How often a lane whose transaction failed with an error the database did
/// not classify (a deadlock among them) is tried again whole before it is
/// applied event by event.
const CONFLICT_RETRIES: u32 = 3;

/// A batch that landed: every lane committed.
pub(super) struct Flight {
    /// The batch's events.
    pub items: Vec<Item>,
    /// Each event's outcome, in event order; `None` for an event of a
    /// partition revoked while the database was down (its new owner applies it).
    pub outcomes: Vec<Option<Outcome>>,
    /// When each held event of the batch was first held.
    pub since: BTreeMap<Key, Instant>,
    /// When the batch was taken off.
    pub started: Instant,
}

/// One lane's events, with their places in the batch.
struct Lane {
    places: Vec<usize>,
    items: Vec<Item>,
}

impl Loop {
    /// Applies `items` over the lanes at once. `None` when shutdown came
    /// while the database was unavailable: nothing of the batch is recorded,
    /// all of it is read again.
    pub(super) async fn fly(
        &self,
        items: Vec<Item>,
        since: BTreeMap<Key, Instant>,
        started: Instant,
        shutdown: watch::Receiver<bool>,
    ) -> Option<Flight> {
        let count = items.len();
        let lanes = split(items, self.config.apply_concurrency.max(1));
        let landed = join_all(
            lanes
                .into_iter()
                .map(|lane| self.apply_lane(lane, shutdown.clone())),
        )
        .await;
        let mut items: Vec<Option<Item>> = (0..count).map(|_| None).collect();
        let mut outcomes: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
        for (lane, lane_outcomes) in landed.into_iter().collect::<Option<Vec<_>>>()? {
            for ((place, item), outcome) in
                lane.places.into_iter().zip(lane.items).zip(lane_outcomes)
            {
                items[place] = Some(item);
                outcomes[place] = outcome;
            }
        }
        Some(Flight {
            items: items.into_iter().flatten().collect(),
            outcomes,
            since,
            started,
        })
    }

    /// Applies one lane, retrying with backoff while the database is
    /// unavailable (circuit open: partitions paused). Drops, between
    /// retries, the events of partitions revoked meanwhile (their outcome is
    /// `None`). `None` when shutdown came first.
    async fn apply_lane(
        &self,
        lane: Lane,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<(Lane, Vec<Option<Outcome>>)> {
        let mut backoff = Backoff::new(
            Duration::from_millis(self.config.retry_initial_ms),
            Duration::from_millis(self.config.retry_max_ms),
        );
        let mut kept: Vec<bool> = vec![true; lane.items.len()];
        loop {
            let live: Cow<'_, [Item]> = if kept.iter().all(|keep| *keep) {
                Cow::Borrowed(&lane.items)
            } else {
                let kept = lane.items.iter().zip(&kept).filter(|(_, keep)| **keep);
                Cow::Owned(kept.map(|(item, _)| item.clone()).collect())
            };
            match self.apply(&live).await {
                Ok(applied) => {
                    if self.health.circuit_open() {
                        self.close_circuit();
                    }
                    let mut applied = applied.into_iter();
                    let outcomes = kept
                        .iter()
                        .map(|keep| if *keep { applied.next() } else { None })
                        .collect();
                    return Some((lane, outcomes));
                }
                Err(err) => {
                    metrics::counter!(m::DB_ERRORS, "kind" => "retryable").increment(1);
                    self.health.set_db_error(Some(err.to_string()));
                    if !self.health.circuit_open() {
                        tracing::warn!(%err, "database unavailable: circuit open, partitions paused");
                        self.health.set_circuit_open(true);
                        self.pause_all();
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = stopped(&mut shutdown) => return None,
                    }
                    if let Some(assigned) = self.assigned() {
                        for (item, keep) in lane.items.iter().zip(kept.iter_mut()) {
                            *keep &= assigned
                                .contains(&(item.message.topic.clone(), item.message.partition));
                        }
                    }
                }
            }
        }
    }

    /// One attempt at a lane: one transaction, tried again whole when it
    /// failed with an error the database did not classify (a deadlock among
    /// them), then, when the database refuses something in it, one
    /// transaction per event to find the poison. `Err` only for a failure
    /// worth retrying.
    async fn apply(&self, items: &[Item]) -> Result<Vec<Outcome>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.conn().await?;
        let mut attempt = 0;
        let err = loop {
            match apply_batch(&mut conn, items, Source::Kafka).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(err) if err.is_retryable() => return Err(err),
                Err(err @ Error::Database(_)) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    metrics::counter!(m::DB_ERRORS, "kind" => "conflict").increment(1);
                    tracing::info!(%err, attempt, events = items.len(), "transaction failed unclassified (a deadlock?); trying it again");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(err) => break err,
            }
        };
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

    /// Marks the database as answering again and resumes the partitions.
    fn close_circuit(&self) {
        use rdkafka::consumer::Consumer;
        tracing::info!("database answers again: circuit closed, partitions resumed");
        self.health.set_circuit_open(false);
        self.health.set_db_error(None);
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(err) = self.consumer.resume(&assignment) {
                tracing::warn!(%err, "resuming partitions");
            }
        }
    }
}

/// `items` split over `lanes` lanes by partition number; empty lanes left out.
fn split(items: Vec<Item>, lanes: usize) -> Vec<Lane> {
    let mut split: Vec<Lane> = (0..lanes)
        .map(|_| Lane {
            places: Vec::new(),
            items: Vec::new(),
        })
        .collect();
    for (place, item) in items.into_iter().enumerate() {
        let lane = &mut split[item.message.partition.unsigned_abs() as usize % lanes];
        lane.places.push(place);
        lane.items.push(item);
    }
    split.retain(|lane| !lane.items.is_empty());
    split
}

/// Returns `err` as retryable when the connection no longer answers: a
/// refusal is only poison if the database that refused is still there.
async fn alive(conn: &mut bridge_models::PooledConnection<'_>, err: String) -> Result<(), Error> {
    match diesel::sql_query("SELECT 1").execute(&mut **conn).await {
        Ok(_) => Ok(()),
        Err(probe) => Err(Error::ConnectionLost(format!("{err}; probe: {probe}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Consumed;

    fn at(topic: &str, partition: i32, offset: i64) -> Item {
        Item::decode(
            Consumed {
                topic: topic.into(),
                partition,
                offset,
                ..Consumed::default()
            },
            "p",
        )
    }

    #[test]
    fn a_partition_stays_in_one_lane_in_offset_order_and_equal_numbers_share_one() {
        let items = vec![
            at("a", 0, 1),
            at("b", 1, 7),
            at("a", 2, 3),
            at("a", 0, 2),
            at("b", 0, 9),
            at("a", 1, 4),
        ];
        let lanes = split(items, 2);
        let shape: Vec<Vec<(String, i32, i64)>> = lanes
            .iter()
            .map(|lane| {
                lane.items
                    .iter()
                    .map(|i| {
                        (
                            i.message.topic.clone(),
                            i.message.partition,
                            i.message.offset,
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            [
                vec![
                    ("a".into(), 0, 1),
                    ("a".into(), 2, 3),
                    ("a".into(), 0, 2),
                    ("b".into(), 0, 9)
                ],
                vec![("b".into(), 1, 7), ("a".into(), 1, 4)],
            ]
        );
        assert_eq!(lanes[0].places, [0, 2, 3, 4]);
        assert_eq!(lanes[1].places, [1, 5]);
        assert_eq!(split(Vec::new(), 4).len(), 0);
    }
}
