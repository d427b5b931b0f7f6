//! A batch that landed: its poison dead-lettered, its early events held,
//! what one lane parked for another lane's arrivals applied, its offsets
//! recorded for the next commit, its outcomes counted.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{flight::Flight, stopped, Loop};
use crate::{
    apply::reapply_arrivals,
    breaker::Backoff,
    deferred::WaitsFor,
    dlq::DeadLetter,
    held::{item_key, Held},
    item::Item,
    metrics as m,
    outcome::Outcome,
};

impl Loop {
    /// Settles a landed batch. False when shutdown came before its poison
    /// was dead-lettered: nothing of it is recorded, all of it is read again.
    pub(super) async fn settle(
        &self,
        flight: Flight,
        held: &mut Held,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let Flight {
            items,
            outcomes,
            since,
            started,
        } = flight;
        let (items, outcomes): (Vec<Item>, Vec<Outcome>) = items
            .into_iter()
            .zip(outcomes)
            .filter_map(|(item, outcome)| Some((item, outcome?)))
            .unzip();
        if !self.dead_letter(&items, &outcomes, shutdown).await {
            return false;
        }
        let arrivals: HashSet<WaitsFor> = items
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Outcome::Persisted))
            .filter_map(|(item, _)| item.arrival())
            .collect();
        for (item, outcome) in items.iter().zip(&outcomes) {
            if let Outcome::Held(waits_for) = outcome {
                let first = since.get(&item_key(item)).copied();
                held.hold(item.clone(), waits_for.clone(), first.unwrap_or(started));
            }
        }
        held.arrived(&arrivals);
        self.unpark_across_lanes(&outcomes, &arrivals).await;
        metrics::gauge!(m::HELD).set(held.len() as f64);
        self.record_offsets(&items, held);
        self.commit_applied(false).await;
        record(&items, &outcomes, started);
        true
    }

    /// Applies the events one lane parked for a workflow or node that
    /// another lane brought in the same batch: neither transaction saw the
    /// other's. On failure they stay parked for the sweep.
    async fn unpark_across_lanes(&self, outcomes: &[Outcome], arrivals: &HashSet<WaitsFor>) {
        let waited: Vec<WaitsFor> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Outcome::Deferred(waits_for) if arrivals.contains(waits_for) => {
                    Some(waits_for.clone())
                }
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if waited.is_empty() {
            return;
        }
        let applied = match self.db.conn().await {
            Ok(mut conn) => reapply_arrivals(&mut conn, &waited).await,
            Err(err) => Err(err),
        };
        if let Err(err) = applied {
            tracing::warn!(%err, "applying events parked for another lane's arrivals failed; the sweep retries them");
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
