//! Which dead letters a replay takes, and the consumer group that records its progress.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use uuid::Uuid;

use super::letter::Letter;

/// The prefix of every replay's consumer group.
pub const GROUP_PREFIX: &str = "bridge-adapter-dlq-replay-";

/// The dead letters to replay: every condition given must hold.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only this event's dead letters: an event type (`step-completed`), its
    /// topic or its `.dlq` topic; repeatable. Default: all nine.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Only dead letters with this `dlq.reason` (e.g. `dependency_timeout`); repeatable.
    #[arg(long = "reason", value_name = "REASON")]
    pub reasons: Vec<String>,
    /// Only dead letters written at or after this time (RFC 3339, e.g. `2026-12-07T01:00:00Z`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
    /// Only dead letters written before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<DateTime<Utc>>,
    /// Only the dead letter of this event id; repeatable.
    #[arg(long = "event-id", value_name = "UUID")]
    pub event_ids: Vec<Uuid>,
    /// Also dead letters that an earlier replay re-published and that came
    /// back (they carry `dlq.replayed_from`); without it they are skipped.
    #[arg(long)]
    pub include_replayed: bool,
}

/// What a replay does with one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Re-publish it.
    Selected,
    /// Outside the selection.
    NotSelected,
    /// Came back from an earlier replay; skipped without `--include-replayed`.
    ReplayedBefore,
}

impl Selection {
    /// Whether `letter` is to be replayed.
    pub fn verdict(&self, letter: &Letter) -> Verdict {
        let reason = self.reasons.is_empty() || self.reasons.contains(&letter.reason);
        let since = self
            .since
            .is_none_or(|since| letter.written_at.is_some_and(|at| at >= since));
        let until = self
            .until
            .is_none_or(|until| letter.written_at.is_some_and(|at| at < until));
        let event = self.event_ids.is_empty()
            || letter
                .event_id()
                .is_some_and(|id| self.event_ids.contains(&id));
        if !(reason && since && until && event) {
            Verdict::NotSelected
        } else if letter.replayed_from.is_some() && !self.include_replayed {
            Verdict::ReplayedBefore
        } else {
            Verdict::Selected
        }
    }

    /// The consumer group of this selection over `dlq_topics`: the same
    /// selection (in any order and spelling of its topics) always gets the
    /// same group, so a second run continues from the first's offsets.
    pub fn group_id(&self, dlq_topics: &[String]) -> String {
        let mut topics = dlq_topics.to_vec();
        topics.sort();
        topics.dedup();
        let mut reasons = self.reasons.clone();
        reasons.sort();
        reasons.dedup();
        let mut ids: Vec<String> = self.event_ids.iter().map(Uuid::to_string).collect();
        ids.sort();
        ids.dedup();
        let time = |at: Option<DateTime<Utc>>| {
            at.map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_default()
        };
        let canonical = format!(
            "topics={};reasons={};since={};until={};event_ids={};include_replayed={}",
            topics.join(","),
            reasons.join(","),
            time(self.since),
            time(self.until),
            ids.join(","),
            self.include_replayed
        );
        format!("{GROUP_PREFIX}{:016x}", fnv1a(canonical.as_bytes()))
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_selection_gets_the_same_group_and_another_selection_another() {
        let topics = ["b.dlq".to_string(), "a.dlq".to_string()];
        let selection = Selection {
            reasons: vec!["x".into(), "dependency_timeout".into()],
            ..Selection::default()
        };
        let reordered = Selection {
            reasons: vec!["dependency_timeout".into(), "x".into()],
            ..Selection::default()
        };
        let group = selection.group_id(&topics);
        assert_eq!(
            group,
            reordered.group_id(&[topics[1].clone(), topics[0].clone()])
        );
        assert!(group.starts_with(GROUP_PREFIX) && group.len() == GROUP_PREFIX.len() + 16);
        assert_ne!(group, Selection::default().group_id(&topics));
        assert_ne!(group, selection.group_id(&topics[..1]));
        assert_eq!(
            fnv1a(b"a"),
            0xaf63_dc4c_8601_ec8c,
            "FNV-1a's published value"
        );
    }
}
