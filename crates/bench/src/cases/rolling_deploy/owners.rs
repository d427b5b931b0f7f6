//! Who owns which partition during the deploy: the wait for the group to
//! share every partition once, and the partitions the broker gave two
//! members at once.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use bridge_events::EventType;

use super::{member::Member, PATIENCE};
use crate::{
    cases::adapter_latency::{Observed, Short, PARTITIONS},
    BenchResult,
};

/// A topic partition.
pub type Partition = (String, i32);

/// Partitions seen owned by two members at once, each with who owned it.
pub type Overlaps = BTreeMap<Partition, String>;

/// Waits until `members` own every event partition between them, each
/// some and none two; records in `overlaps` each partition seen owned twice.
pub async fn share_every_partition(members: &[Member], overlaps: &mut Overlaps) -> BenchResult<()> {
    let every = EventType::ALL.len() * PARTITIONS as usize;
    let deadline = Instant::now() + PATIENCE;
    // Owned twice in two readings in a row: not one member read before its
    // revoke and the other after the next assignment.
    let mut twice_before = BTreeSet::new();
    loop {
        let mut owners: BTreeMap<Partition, Vec<&str>> = BTreeMap::new();
        let mut owned = Vec::new();
        for member in members {
            let mine = member.owned().await;
            owned.push(mine.len());
            for partition in mine {
                owners.entry(partition).or_default().push(&member.name);
            }
        }
        let mut twice = BTreeSet::new();
        for (partition, who) in owners.iter().filter(|(_, who)| who.len() > 1) {
            if twice_before.contains(partition) {
                overlaps
                    .entry(partition.clone())
                    .or_insert_with(|| who.join(" and "));
            }
            twice.insert(partition.clone());
        }
        twice_before = twice;
        let once = owners.values().all(|who| who.len() == 1);
        if owned.iter().all(|&n| n > 0) && owners.len() == every && once {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "partitions owned: {owned:?}, {} of {every} distinct",
                owners.len()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partitions of `short` (short of their last event at the end) that
/// were owned by two members at once and whose commit past their last event
/// was seen before; an error names any other.
pub fn moved_back(
    short: Vec<Short>,
    overlaps: &Overlaps,
    seen: &[Observed],
) -> BenchResult<Vec<Short>> {
    let passed = |s: &Short| {
        seen.iter()
            .any(|(_, each)| each.get(&s.partition).is_some_and(|c| *c > s.last))
    };
    let (moved_back, behind): (Vec<Short>, Vec<Short>) = short
        .into_iter()
        .partition(|s| overlaps.contains_key(&s.partition) && passed(s));
    if behind.is_empty() {
        return Ok(moved_back);
    }
    let mut why = format!("30 s after the stream stopped: {}", Short::list(&behind));
    if !overlaps.is_empty() {
        let twice: Vec<String> = overlaps.keys().map(|(t, p)| format!("{t}[{p}]")).collect();
        why += &format!(" (owned by two members at once: {})", twice.join(", "));
    }
    Err(why.into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn short(partition: i32, committed: i64) -> Short {
        Short {
            partition: ("t".into(), partition),
            committed,
            last: 99,
        }
    }

    fn seen(partition: i32, committed: i64) -> Vec<Observed> {
        vec![(
            Instant::now(),
            HashMap::from([(("t".to_owned(), partition), committed)]),
        )]
    }

    #[test]
    fn a_partition_owned_twice_whose_commit_passed_its_end_may_end_behind() {
        let overlaps = Overlaps::from([(("t".into(), 0), "2 and 3".into())]);
        let moved = moved_back(vec![short(0, 40)], &overlaps, &seen(0, 100)).unwrap();
        assert_eq!(moved.len(), 1);
    }

    #[test]
    fn a_partition_behind_is_an_error_unless_owned_twice_and_once_committed_past_its_end() {
        let overlaps = Overlaps::from([(("t".into(), 0), "2 and 3".into())]);
        let never_passed = moved_back(vec![short(0, 40)], &overlaps, &seen(0, 99));
        assert!(never_passed.is_err());
        let owned_once = moved_back(vec![short(1, 40)], &overlaps, &seen(1, 100)).unwrap_err();
        assert!(owned_once
            .to_string()
            .contains("t[1] committed 40, last event at 99"));
        assert!(owned_once
            .to_string()
            .contains("owned by two members at once: t[0]"));
    }
}
