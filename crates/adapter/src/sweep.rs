//! The timed sweep of parked events: applies those whose workflow or node
//! has arrived, dead-letters those that waited too long.

use std::{sync::Arc, time::Duration};

use bridge_models::{Db, Result};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::{
    apply::apply_in,
    deferred::DeferredEvent,
    dlq::{DeadLetter, DeadLetterError, DeadLetters},
    health::Health,
    item::{Item, Source},
    metrics as m,
    outcome::{Outcome, Refusal},
};

/// Why a sweep stopped early; the next tick tries again.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The database is unavailable.
    #[error(transparent)]
    Database(#[from] bridge_models::Error),
    /// The broker did not take a dead letter; the parked event stays parked.
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

/// Most parked events looked at per sweep.
const SWEEP_LIMIT: i64 = 200;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Applied and removed.
    pub applied: u64,
    /// Dead-lettered (waited too long, or refused) and removed.
    pub dead_lettered: u64,
    /// Still waiting.
    pub waiting: u64,
    /// Events parked after the sweep, when counted.
    pub parked: Option<i64>,
}

/// What became of one parked event inside its transaction.
enum Step {
    Applied(&'static str),
    Waiting,
    Skipped,
    DeadLetter(Refusal),
}

/// Sweeps parked events every `every` until `shutdown` fires.
pub async fn run(
    db: Db,
    letters: DeadLetters,
    health: Arc<Health>,
    every: Duration,
    max_wait: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut analyzed_at = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        if health.circuit_open() {
            continue;
        }
        match sweep_once(&db, &letters, every, max_wait).await {
            Ok(SweepReport {
                parked: Some(parked),
                ..
            }) => refresh_statistics(&db, parked, &mut analyzed_at).await,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(%err, "sweeping parked events failed; retrying at the next tick")
            }
        }
    }
}

/// Tries every parked event not tried within `every`; dead-letters those
/// first seen more than `max_wait` ago that still wait.
pub async fn sweep_once(
    db: &Db,
    letters: &DeadLetters,
    every: Duration,
    max_wait: Duration,
) -> std::result::Result<SweepReport, SweepError> {
    let mut conn = db.conn().await?;
    let now = Utc::now();
    let tried_before = now - chrono::Duration::from_std(every).unwrap_or_default();
    let parked = DeferredEvent::take_oldest(&mut conn, tried_before, SWEEP_LIMIT).await?;
    let mut report = SweepReport::default();
    let expired_before = now - chrono::Duration::from_std(max_wait).unwrap_or_default();
    for row in &parked {
        let expired = row.first_seen < expired_before;
        let step = match conn
            .transaction(async |conn| try_parked(conn, row, expired).await)
            .await
        {
            Ok(step) => step,
            Err(err) if err.is_retryable() => return Err(err.into()),
            Err(err) => Step::DeadLetter(Refusal::write(err)),
        };
        match step {
            Step::Applied(event_type) => {
                report.applied += 1;
                m::parked_applied(&[event_type]);
            }
            Step::Waiting => report.waiting += 1,
            Step::Skipped => {}
            Step::DeadLetter(refusal) => {
                let message = row.message();
                letters
                    .send_all(&[DeadLetter {
                        message: &message,
                        reason: refusal.reason(),
                        error: refusal.to_string(),
                        event_type: Some(&row.event_type),
                    }])
                    .await
                    .inspect_err(|err| tracing::warn!(%err, "dead-lettering a parked event"))?;
                row.remove(&mut conn).await?;
                report.dead_lettered += 1;
                m::dead_lettered(Some(&row.event_type), &message, &refusal);
            }
        }
    }
    if let Ok(waiting) = DeferredEvent::count(&mut conn).await {
        metrics::gauge!(m::DEFERRED_WAITING).set(waiting as f64);
        report.parked = Some(waiting);
    }
    if let Ok(oldest) = DeferredEvent::oldest_first_seen(&mut conn).await {
        let age = oldest.map_or(0.0, |first_seen| {
            (Utc::now() - first_seen).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics::gauge!(m::DEFERRED_OLDEST_AGE).set(age);
    }
    Ok(report)
}

/// Analyzes the parking table when it has grown by a fifth (at least 1 000
/// rows) since the last time or since it last shrank; `analyzed_at` keeps
/// that row count.
///
/// A backlog can fill it from empty within seconds, well before autovacuum
/// (which looks once a minute) analyzes it; without statistics the planner
/// takes `waits_for_kind = 'workflow'` for a rare value and reads every
/// parked row to find a batch's few (130 ms against 1 ms at 300 000 rows).
/// A shrink is left to autovacuum: analyzing a table just emptied, before
/// its dead rows are vacuumed, makes the planner scan all their pages.
pub async fn refresh_statistics(db: &Db, parked: i64, analyzed_at: &mut i64) {
    if parked < *analyzed_at {
        *analyzed_at = parked;
        return;
    }
    if parked - *analyzed_at < (*analyzed_at / 5).max(1_000) {
        return;
    }
    let analyzed = match db.conn().await {
        Ok(mut conn) => DeferredEvent::analyze(&mut conn).await,
        Err(err) => Err(err),
    };
    match analyzed {
        Ok(()) => *analyzed_at = parked,
        Err(err) => tracing::warn!(%err, "analyzing the parking table"),
    }
}

/// Tries one parked event inside a transaction that holds its row.
async fn try_parked(
    conn: &mut AsyncPgConnection,
    row: &DeferredEvent,
    expired: bool,
) -> Result<Step> {
    if !row.lock(conn).await? {
        return Ok(Step::Skipped);
    }
    let item = Item::parked(row);
    let outcome = apply_in(conn, std::slice::from_ref(&item), Source::Parked)
        .await?
        .pop();
    Ok(match outcome {
        Some(Outcome::Persisted | Outcome::Ignored(_)) => {
            row.remove(conn).await?;
            Step::Applied(item.event_type_label())
        }
        Some(Outcome::Poison(refusal)) => Step::DeadLetter(refusal),
        Some(Outcome::Deferred(_) | Outcome::Held(_)) | None if expired => {
            Step::DeadLetter(Refusal::DependencyTimeout {
                waited: row.reason.clone(),
                since: row.first_seen,
            })
        }
        Some(Outcome::Deferred(_) | Outcome::Held(_)) | None => {
            row.tried(conn).await?;
            Step::Waiting
        }
    })
}
