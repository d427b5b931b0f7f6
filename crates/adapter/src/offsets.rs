//! Offsets applied but not yet committed, per partition: the loop records
//! them after each batch and commits them on an interval; the rebalance
//! callback commits those of revoked partitions before they go.

use std::{collections::BTreeMap, sync::Mutex};

use rdkafka::{Offset, TopicPartitionList};

/// A partition: topic and number.
pub(crate) type Partition = (String, i32);

/// The next offset to commit of each partition with applied, uncommitted messages.
#[derive(Debug, Default)]
pub(crate) struct Uncommitted {
    offsets: Mutex<BTreeMap<Partition, i64>>,
}

impl Uncommitted {
    /// Records `next`, the offsets after the messages just applied.
    pub(crate) fn record(&self, next: BTreeMap<Partition, i64>) {
        self.lock().extend(next);
    }

    /// Puts back the offsets of a commit that failed, for the partitions in
    /// `assigned`; an offset recorded since, further on, stays.
    pub(crate) fn restore(&self, failed: &TopicPartitionList, assigned: &TopicPartitionList) {
        let owned: std::collections::HashSet<(String, i32)> = assigned
            .elements()
            .iter()
            .map(|element| (element.topic().to_owned(), element.partition()))
            .collect();
        let mut offsets = self.lock();
        for element in failed.elements() {
            let Offset::Offset(offset) = element.offset() else {
                continue;
            };
            if !owned.contains(&(element.topic().to_owned(), element.partition())) {
                continue;
            }
            offsets
                .entry((element.topic().to_owned(), element.partition()))
                .and_modify(|recorded| *recorded = (*recorded).max(offset))
                .or_insert(offset);
        }
    }

    /// Whether nothing waits to be committed.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Takes every offset waiting to be committed.
    pub(crate) fn take_all(&self) -> TopicPartitionList {
        list(std::mem::take(&mut *self.lock()))
    }

    /// Takes the offsets of the partitions in `revoked`.
    pub(crate) fn take_revoked(&self, revoked: &TopicPartitionList) -> TopicPartitionList {
        let mut offsets = self.lock();
        let taken = revoked
            .elements()
            .iter()
            .filter_map(|element| {
                let partition = (element.topic().to_owned(), element.partition());
                let offset = offsets.remove(&partition)?;
                Some((partition, offset))
            })
            .collect();
        list(taken)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Partition, i64>> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `offsets` as the list librdkafka commits.
fn list(offsets: BTreeMap<Partition, i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(offsets.len());
    for ((topic, partition), offset) in offsets {
        if let Err(err) = list.add_partition_offset(&topic, partition, Offset::Offset(offset)) {
            tracing::warn!(%err, topic, partition, "building the offset commit");
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_commit_comes_back_for_owned_partitions_never_behind_a_later_record() {
        let uncommitted = Uncommitted::default();
        uncommitted.record(BTreeMap::from([
            (("a".into(), 0), 5),
            (("a".into(), 1), 7),
            (("b".into(), 0), 3),
        ]));
        let failed = uncommitted.take_all();
        uncommitted.record(BTreeMap::from([(("a".into(), 1), 9)]));
        let mut assigned = TopicPartitionList::new();
        assigned.add_partition("a", 0);
        assigned.add_partition("a", 1);

        uncommitted.restore(&failed, &assigned);

        let offsets: Vec<(String, i32, Offset)> = uncommitted
            .take_all()
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
            .collect();
        assert_eq!(
            offsets,
            [
                ("a".into(), 0, Offset::Offset(5)),
                ("a".into(), 1, Offset::Offset(9))
            ]
        );
    }

    #[test]
    fn a_revoke_takes_only_its_partitions_and_later_offsets_replace_earlier_ones() {
        let uncommitted = Uncommitted::default();
        uncommitted.record(BTreeMap::from([(("a".into(), 0), 5), (("a".into(), 1), 7)]));
        uncommitted.record(BTreeMap::from([(("a".into(), 0), 9)]));
        let mut revoked = TopicPartitionList::new();
        revoked.add_partition("a", 0);
        revoked.add_partition("b", 0);

        let taken = uncommitted.take_revoked(&revoked);

        assert_eq!(taken.count(), 1);
        assert_eq!(taken.elements()[0].offset(), Offset::Offset(9));
        let rest = uncommitted.take_all();
        assert_eq!(rest.elements()[0].partition(), 1);
        assert!(uncommitted.is_empty());
    }
}
