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

    /// A dead letter of `reason` from `topic`, written at `at` (ms), of event `id`.
    fn letter(topic: &str, reason: &str, at: Option<i64>, id: Option<Uuid>) -> Letter {
        Letter {
            dlq_topic: format!("{topic}.dlq"),
            dlq_partition: 0,
            dlq_offset: 0,
            reason: reason.into(),
            original_topic: topic.into(),
            original_partition: Some(0),
            event_type: None,
            key: None,
            payload: id
                .map(|id| {
                    serde_json::json!({ "event_id": id })
                        .to_string()
                        .into_bytes()
                })
                .unwrap_or_else(|| b"{not json".to_vec()),
            headers: Vec::new(),
            replayed_from: None,
            written_at: at.and_then(DateTime::from_timestamp_millis),
        }
    }

    fn at(ms: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(ms)
    }

    #[test]
    fn since_is_inclusive_until_exclusive_and_a_letter_without_a_time_is_outside_either() {
        let since = Selection {
            since: at(1_000),
            ..Selection::default()
        };
        let until = Selection {
            until: at(2_000),
            ..Selection::default()
        };
        let verdict = |selection: &Selection, ms| selection.verdict(&letter("t", "r", ms, None));
        assert_eq!(verdict(&since, Some(999)), Verdict::NotSelected);
        assert_eq!(verdict(&since, Some(1_000)), Verdict::Selected);
        assert_eq!(verdict(&since, Some(5_000)), Verdict::Selected);
        assert_eq!(verdict(&until, Some(1_999)), Verdict::Selected);
        assert_eq!(verdict(&until, Some(2_000)), Verdict::NotSelected);
        assert_eq!(verdict(&since, None), Verdict::NotSelected);
        assert_eq!(verdict(&until, None), Verdict::NotSelected);
        assert_eq!(
            verdict(&Selection::default(), None),
            Verdict::Selected,
            "no time range: its time does not matter"
        );
    }

    #[test]
    fn an_event_id_takes_only_that_event_and_never_a_letter_without_one() {
        let (wanted, other) = (Uuid::now_v7(), Uuid::now_v7());
        let selection = Selection {
            event_ids: vec![wanted],
            ..Selection::default()
        };
        let verdict = |id| selection.verdict(&letter("t", "r", Some(0), id));
        assert_eq!(verdict(Some(wanted)), Verdict::Selected);
        assert_eq!(verdict(Some(other)), Verdict::NotSelected);
        assert_eq!(verdict(None), Verdict::NotSelected, "no envelope, no id");
    }

    #[test]
    fn a_reason_takes_only_its_dead_letters() {
        let selection = Selection {
            reasons: vec!["dependency_timeout".into(), "not_found".into()],
            ..Selection::default()
        };
        let verdict = |reason| selection.verdict(&letter("t", reason, Some(0), None));
        assert_eq!(verdict("dependency_timeout"), Verdict::Selected);
        assert_eq!(verdict("not_found"), Verdict::Selected);
        assert_eq!(verdict("invalid_payload"), Verdict::NotSelected);
    }

    #[test]
    fn a_topic_is_chosen_by_the_topics_read_so_the_verdict_takes_a_letter_of_any() {
        // `--topic` picks the dead-letter topics that are read at all
        // (topics::resolve); the verdict of a letter read is the same whatever its topic.
        let selection = Selection {
            topics: vec!["step-completed".into()],
            ..Selection::default()
        };
        for topic in ["p.step-completed.v1", "p.workflow-started.v1"] {
            assert_eq!(
                selection.verdict(&letter(topic, "r", Some(0), None)),
                Verdict::Selected
            );
        }
    }

    #[test]
    fn every_condition_given_must_hold() {
        let id = Uuid::now_v7();
        let selection = Selection {
            reasons: vec!["dependency_timeout".into()],
            since: at(1_000),
            until: at(2_000),
            event_ids: vec![id],
            ..Selection::default()
        };
        let all = letter("t", "dependency_timeout", Some(1_500), Some(id));
        assert_eq!(selection.verdict(&all), Verdict::Selected);
        let misses = [
            letter("t", "not_found", Some(1_500), Some(id)),
            letter("t", "dependency_timeout", Some(500), Some(id)),
            letter("t", "dependency_timeout", Some(2_500), Some(id)),
            letter("t", "dependency_timeout", Some(1_500), Some(Uuid::now_v7())),
        ];
        for miss in &misses {
            assert_eq!(selection.verdict(miss), Verdict::NotSelected, "{miss:?}");
        }
    }

    #[test]
    fn a_letter_replayed_before_is_skipped_unless_included_and_only_when_selected() {
        let back = Letter {
            replayed_from: Some("t.dlq/0/3".into()),
            ..letter("t", "invalid_envelope", Some(1_500), None)
        };
        assert_eq!(Selection::default().verdict(&back), Verdict::ReplayedBefore);
        let included = Selection {
            include_replayed: true,
            ..Selection::default()
        };
        assert_eq!(included.verdict(&back), Verdict::Selected);
        let elsewhere = Selection {
            reasons: vec!["not_found".into()],
            ..Selection::default()
        };
        assert_eq!(
            elsewhere.verdict(&back),
            Verdict::NotSelected,
            "outside the selection counts as not selected, not as replayed before"
        );
    }
}
