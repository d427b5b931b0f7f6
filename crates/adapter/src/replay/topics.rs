//! The dead-letter topics a `dlq` command reads, from `--topic` and the broker's topic list.

use std::collections::HashMap;

use super::error::DlqError;
use bridge_events::{dlq_topic, EventType};

/// The dead-letter topics `given` names (an event type, its topic or its
/// `.dlq` topic under `prefix`), else all nine; sorted, without duplicates.
pub fn resolve(prefix: &str, given: &[String]) -> Result<Vec<String>, DlqError> {
    let mut topics = if given.is_empty() {
        EventType::ALL
            .iter()
            .map(|kind| dlq_topic(&kind.topic(prefix)))
            .collect()
    } else {
        given
            .iter()
            .map(|name| {
                event_type(prefix, name)
                    .map(|kind| dlq_topic(&kind.topic(prefix)))
                    .ok_or_else(|| DlqError::UnknownTopic {
                        given: name.clone(),
                        problem: format!(
                            "not an event type, nor an event topic or dead-letter topic under the prefix {prefix:?} (`bridge-adapter --topic-prefix {prefix} --print-topics` lists them)"
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    topics.sort();
    topics.dedup();
    Ok(topics)
}

/// The event type `name` stands for under `prefix`.
fn event_type(prefix: &str, name: &str) -> Option<EventType> {
    let topic = name.strip_suffix(".dlq").unwrap_or(name);
    name.parse()
        .ok()
        .or_else(|| EventType::from_topic(prefix, topic))
}

/// Those of `wanted` that exist on the broker (`existing`: topic to partition
/// count). A topic the operator named that is missing is an error; one of
/// the default nine that is missing is skipped, with a warning.
pub fn on_broker(
    wanted: Vec<String>,
    named: bool,
    existing: &HashMap<String, i32>,
) -> Result<Vec<(String, i32)>, DlqError> {
    let mut found = Vec::with_capacity(wanted.len());
    for topic in wanted {
        match existing.get(&topic) {
            Some(&partitions) => found.push((topic, partitions)),
            None if named => {
                return Err(DlqError::UnknownTopic {
                    problem: format!("the broker has no topic {topic} (create it with the others `bridge-adapter --print-topics` lists)"),
                    given: topic,
                })
            }
            None => tracing::warn!(%topic, "no such dead-letter topic on the broker; skipped"),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_type_its_topic_and_its_dead_letter_topic_name_the_same_topic() {
        let topics = resolve(
            "p",
            &[
                "step-completed".into(),
                "p.step-completed.v1".into(),
                "p.step-completed.v1.dlq".into(),
            ],
        )
        .unwrap();
        assert_eq!(topics, ["p.step-completed.v1.dlq"]);
        assert_eq!(resolve("p", &[]).unwrap().len(), EventType::ALL.len());
    }

    #[test]
    fn a_topic_outside_the_prefix_is_unknown() {
        let err = resolve("p", &["q.step-completed.v1".into()]).unwrap_err();
        assert!(matches!(err, DlqError::UnknownTopic { .. }), "{err}");
        assert_eq!(err.exit_code(), 3);
    }
}
