//! Events that came before the workflow or node they need, kept in memory
//! for a while before they are parked.
//!
//! The events of one workflow travel on different topics, so the one the
//! others wait for is often only a few batches behind them. Waiting in
//! memory writes nothing: a held event is tried again in the batch that
//! brings what it waits for, and parked (written to
//! `adapter_deferred_events`) only when it has waited its time or memory is
//! full. Its offset is not committed while it is held, so a crash or a
//! rebalance loses nothing: the partition is read again from it.

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use crate::{deferred::WaitsFor, item::Item};

/// Where a message was consumed: topic, partition, offset.
pub type Key = (String, i32, i64);

/// One held event.
struct Waiting {
    item: Item,
    waits_for: WaitsFor,
    since: Instant,
    /// What it waits for arrived in another lane's transaction: try it again now.
    ready: bool,
}

/// The held events, by where they were consumed.
pub struct Held {
    events: BTreeMap<Key, Waiting>,
    /// Per partition, the offset after the last message applied so far
    /// (held ones are applied later, out of offset order).
    applied: BTreeMap<(String, i32), i64>,
    max_events: usize,
    max_wait: Duration,
}

impl Held {
    /// Holds at most `max_events` events, each at most `max_wait` (none when it is zero).
    pub fn new(max_events: usize, max_wait: Duration) -> Self {
        Self {
            events: BTreeMap::new(),
            applied: BTreeMap::new(),
            max_events: if max_wait.is_zero() { 0 } else { max_events },
            max_wait,
        }
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Whether the message consumed at `key` is held (a partition read again after a rebalance).
    pub fn contains(&self, key: &Key) -> bool {
        self.events.contains_key(key)
    }

    /// How many more events may be held now.
    pub fn room(&self) -> usize {
        self.max_events.saturating_sub(self.events.len())
    }

    /// Takes out the events to try again now, each with when it was first
    /// held: those waiting for something in `arrived`, and those that have
    /// waited their time, which may no longer be held (they are parked if
    /// they must still wait).
    pub fn take_due(&mut self, arrived: &HashSet<WaitsFor>, now: Instant) -> Vec<(Item, Instant)> {
        let due: Vec<Key> = self
            .events
            .iter()
            .filter(|(_, w)| w.ready || arrived.contains(&w.waits_for) || self.expired(w, now))
            .map(|(key, _)| key.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| self.events.remove(&key))
            .map(|waiting| {
                let mut item = waiting.item;
                item.may_hold = now < waiting.since + self.max_wait;
                (item, waiting.since)
            })
            .collect()
    }

    /// Holds `item`, first held at `since`, until `waits_for` arrives.
    pub fn hold(&mut self, item: Item, waits_for: WaitsFor, since: Instant) {
        let key = item_key(&item);
        self.events.insert(
            key,
            Waiting {
                item,
                waits_for,
                since,
                ready: false,
            },
        );
    }

    /// Makes the events waiting for one of `arrivals` due at once: what
    /// they wait for was written by a transaction beside theirs.
    pub fn arrived(&mut self, arrivals: &HashSet<WaitsFor>) {
        if arrivals.is_empty() {
            return;
        }
        for waiting in self.events.values_mut() {
            waiting.ready |= arrivals.contains(&waiting.waits_for);
        }
    }

    /// The offset of the first event held from `topic` and `partition`: the
    /// partition's commit may not pass it.
    pub fn first_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let from = (topic.to_owned(), partition, i64::MIN);
        let to = (topic.to_owned(), partition, i64::MAX);
        self.events.range(from..=to).next().map(|(key, _)| key.2)
    }

    /// When the next held event is due: at once for one whose wait is
    /// over, else when the one held longest will have waited its time.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.events
            .values()
            .map(|waiting| {
                if waiting.ready {
                    waiting.since
                } else {
                    waiting.since + self.max_wait
                }
            })
            .min()
    }

    /// Drops the events of partitions not in `assigned` (their new owner reads them).
    pub fn retain_assigned(&mut self, assigned: &HashSet<(String, i32)>) {
        self.events
            .retain(|(topic, partition, _), _| assigned.contains(&(topic.clone(), *partition)));
        self.applied
            .retain(|(topic, partition), _| assigned.contains(&(topic.clone(), *partition)));
    }

    /// The offset to commit for each partition of `items`, a batch just
    /// applied (its held events already held again): the offset after the
    /// last message applied so far, but never past the partition's first
    /// held event, which is read again after a crash or a rebalance.
    pub fn commit_offsets(&mut self, items: &[Item]) -> BTreeMap<(String, i32), i64> {
        let mut touched = BTreeMap::new();
        for item in items {
            let partition = (item.message.topic.clone(), item.message.partition);
            let applied = self.applied.entry(partition.clone()).or_insert(0);
            *applied = (*applied).max(item.message.offset + 1);
            touched.insert(partition, *applied);
        }
        for ((topic, partition), offset) in &mut touched {
            if let Some(first) = self.first_offset(topic, *partition) {
                *offset = (*offset).min(first);
            }
        }
        touched
    }

    fn expired(&self, waiting: &Waiting, now: Instant) -> bool {
        now >= waiting.since + self.max_wait
    }
}

/// Where `item` was consumed.
pub fn item_key(item: &Item) -> Key {
    (
        item.message.topic.clone(),
        item.message.partition,
        item.message.offset,
    )
}

impl Held {
    /// The batch to apply: the held events due now (oldest first), then
    /// `fresh`, of which as many as there is room for may be held if
    /// `hold_fresh`; and when each held one was first held.
    pub fn assemble(
        &mut self,
        fresh: Vec<Item>,
        hold_fresh: bool,
        now: Instant,
    ) -> (Vec<Item>, BTreeMap<Key, Instant>) {
        let arrived: HashSet<WaitsFor> = fresh.iter().filter_map(Item::arrival).collect();
        let mut since = BTreeMap::new();
        let mut items = Vec::with_capacity(fresh.len());
        for (item, first) in self.take_due(&arrived, now) {
            since.insert(item_key(&item), first);
            items.push(item);
        }
        let mut room = if hold_fresh {
            self.room().saturating_sub(items.len())
        } else {
            0
        };
        for mut item in fresh {
            item.may_hold = room > 0;
            room = room.saturating_sub(1);
            items.push(item);
        }
        (items, since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Consumed;

    fn item(offset: i64) -> Item {
        Item::decode(
            Consumed {
                topic: "t".into(),
                partition: 0,
                offset,
                key: None,
                payload: b"{}".to_vec(),
                headers: Vec::new(),
                timestamp_ms: None,
            },
            "p",
        )
    }

    #[test]
    fn an_event_whose_wait_arrived_beside_it_is_due_at_once_and_only_it() {
        let mut held = Held::new(10, Duration::from_secs(60));
        let now = Instant::now();
        let (node, other) = (WaitsFor::Node("n".into()), WaitsFor::Node("o".into()));
        held.hold(item(1), node.clone(), now);
        held.hold(item(2), other, now);
        assert_eq!(held.next_expiry(), Some(now + Duration::from_secs(60)));

        held.arrived(&HashSet::from([node]));

        assert_eq!(held.next_expiry(), Some(now));
        let due = held.take_due(&HashSet::new(), now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0.message.offset, 1);
        assert!(due[0].0.may_hold, "still within its wait");
        assert_eq!(held.len(), 1);
    }

    #[test]
    fn a_commit_stops_at_the_first_held_event_and_never_goes_back() {
        let mut held = Held::new(10, Duration::from_secs(60));
        let now = Instant::now();
        let waits = WaitsFor::Node("n".into());
        // Offsets 0-4 applied, 2 held: the commit stops at 2.
        let batch: Vec<Item> = (0..5).map(item).collect();
        held.hold(batch[2].clone(), waits.clone(), now);
        assert_eq!(held.commit_offsets(&batch)[&("t".into(), 0)], 2);
        // 2 applied alone later: the commit moves past 4, not back to 3.
        let due = held.take_due(&HashSet::from([waits]), now);
        assert_eq!(due.len(), 1);
        assert_eq!(
            held.commit_offsets(&[due[0].0.clone()])[&("t".into(), 0)],
            5
        );
        assert!(held.is_empty());
    }
}
