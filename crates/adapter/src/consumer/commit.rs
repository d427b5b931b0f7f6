//! Offsets: recorded as batches land, committed on `--commit-interval-ms`,
//! one commit at a time, never for a partition no longer assigned.

use std::time::Instant;

use rdkafka::consumer::{CommitMode, Consumer};

use super::Loop;
use crate::{held::Held, item::Item, metrics as m, offsets::Uncommitted};

impl Loop {
    /// Records, per partition still assigned, the offset after the batch's
    /// last message (never past its first held event:
    /// [`Held::commit_offsets`]). A partition revoked while the batch flew
    /// is left to its new owner, which starts from the last commit.
    pub(super) fn record_offsets(&self, items: &[Item], held: &mut Held) {
        let mut offsets = held.commit_offsets(items);
        if let Some(assigned) = self.assigned() {
            offsets.retain(|partition, _| assigned.contains(partition));
        }
        self.uncommitted().record(offsets);
    }

    /// The offsets applied and not yet committed (shared with the rebalance callback).
    fn uncommitted(&self) -> &Uncommitted {
        &self.consumer.context().uncommitted
    }

    /// When the offsets recorded are due to be committed; `None` when none
    /// is recorded and no commit is under way (whose offsets come back if it fails).
    pub(super) fn commit_due_at(&self) -> Option<Instant> {
        let pending = self.pending_commit.lock().expect("not poisoned").is_some();
        if self.uncommitted().is_empty() && !pending {
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
    /// offsets behind). The offsets of a commit that fails are put back, for
    /// the partitions still owned, and go with the next one.
    pub(super) async fn commit_applied(&self, now: bool) {
        match self.commit_due_at() {
            None => return,
            Some(due) if !now && Instant::now() < due => return,
            Some(_) => {}
        }
        self.finish_commit().await;
        let offsets = self.uncommitted().take_all();
        if offsets.count() == 0 {
            return;
        }
        *self.last_commit.lock().expect("not poisoned") = Instant::now();
        let consumer = self.consumer.clone();
        let commit = tokio::task::spawn_blocking(move || {
            if let Err(err) = consumer.commit(&offsets, CommitMode::Sync) {
                metrics::counter!(m::COMMIT_ERRORS).increment(1);
                tracing::warn!(%err, "offset commit failed; committed again with the next (a crash first redelivers them, and their writes are found done)");
                if let Ok(assigned) = consumer.assignment() {
                    consumer.context().uncommitted.restore(&offsets, &assigned);
                }
            }
        });
        *self.pending_commit.lock().expect("not poisoned") = Some(commit);
    }

    /// Waits for the commit under way, if any.
    pub(super) async fn finish_commit(&self) {
        let pending = self.pending_commit.lock().expect("not poisoned").take();
        if let Some(pending) = pending {
            if let Err(err) = pending.await {
                tracing::warn!(%err, "the offset commit task failed");
            }
        }
    }
}
