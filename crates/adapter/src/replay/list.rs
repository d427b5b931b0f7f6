//! `dlq list`: the dead letters on the dead-letter topics, counted by
//! original topic, reason and age.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;

use super::{
    clients::Kafka,
    error::DlqError,
    letter::Letter,
    reader::{spans, TopicReader},
    topics,
};

/// The consumer group `dlq list` reads in; it never commits.
const LIST_GROUP: &str = "bridge-adapter-dlq-list";

/// Every dead letter kept on the dead-letter topics, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// When the ages were measured.
    pub at: DateTime<Utc>,
    /// Dead letters in all.
    pub dead_letters: u64,
    /// Messages on dead-letter topics that are not dead letters.
    pub not_dead_letters: u64,
    /// Where the first message that is not a dead letter sits, if any.
    pub first_not_dead_letter: Option<String>,
    /// The counts per original topic and reason, sorted by both.
    pub groups: Vec<Group>,
}

/// The dead letters of one original topic with one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The original topic.
    pub topic: String,
    /// `dlq.reason`.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// Of those, dead-lettered less than an hour ago.
    pub under_1h: u64,
    /// Dead-lettered between an hour and a day ago.
    pub from_1h_to_24h: u64,
    /// Dead-lettered more than a day ago (or at an unknown time).
    pub over_24h: u64,
    /// When the oldest was dead-lettered.
    pub oldest: Option<DateTime<Utc>>,
    /// When the newest was dead-lettered.
    pub newest: Option<DateTime<Utc>>,
}

impl Group {
    fn new(topic: &str, reason: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            reason: reason.to_owned(),
            count: 0,
            under_1h: 0,
            from_1h_to_24h: 0,
            over_24h: 0,
            oldest: None,
            newest: None,
        }
    }

    fn add(&mut self, written_at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        self.count += 1;
        let age = written_at.map(|at| now - at);
        match age {
            Some(age) if age < chrono::Duration::hours(1) => self.under_1h += 1,
            Some(age) if age < chrono::Duration::hours(24) => self.from_1h_to_24h += 1,
            _ => self.over_24h += 1,
        }
        if let Some(at) = written_at {
            self.oldest = Some(self.oldest.map_or(at, |oldest| oldest.min(at)));
            self.newest = Some(self.newest.map_or(at, |newest| newest.max(at)));
        }
    }
}

/// Reads every message kept on the dead-letter topics `given` names (all
/// nine under `prefix` when empty), advancing `progress` per message.
pub async fn list(
    kafka: &Kafka,
    prefix: &str,
    given: &[String],
    progress: &ProgressBar,
) -> Result<Listing, DlqError> {
    let wanted = topics::resolve(prefix, given)?;
    let consumer = kafka.consumer(LIST_GROUP)?;
    let existing = kafka.topics(&consumer).await?;
    let found = topics::on_broker(wanted, !given.is_empty(), &existing)?;
    let mut plan = Vec::with_capacity(found.len());
    for (topic, partitions) in found {
        plan.push((
            topic.clone(),
            spans(kafka, &consumer, &topic, partitions, false).await?,
        ));
    }
    progress.set_length(
        plan.iter()
            .flat_map(|(_, spans)| spans)
            .map(|s| s.len())
            .sum(),
    );
    let now = Utc::now();
    let mut listing = Listing {
        at: now,
        ..Listing::default()
    };
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for (topic, spans) in plan {
        let mut reader = TopicReader::start(kafka, consumer.clone(), &topic, &spans)?;
        while let Some(message) = reader.next().await? {
            progress.inc(1);
            let position = format!("{}/{}/{}", message.topic, message.partition, message.offset);
            match Letter::parse(message) {
                Ok(letter) => {
                    listing.dead_letters += 1;
                    groups
                        .entry((letter.original_topic.clone(), letter.reason.clone()))
                        .or_insert_with(|| Group::new(&letter.original_topic, &letter.reason))
                        .add(letter.written_at, now);
                }
                Err(problem) => {
                    tracing::warn!(%position, %problem, "not a dead letter");
                    listing.not_dead_letters += 1;
                    listing.first_not_dead_letter.get_or_insert(position);
                }
            }
        }
    }
    progress.finish_and_clear();
    listing.groups = groups.into_values().collect();
    Ok(listing)
}

impl Listing {
    /// The listing as a table for people.
    pub fn text(&self) -> String {
        let width = self
            .groups
            .iter()
            .map(|group| group.topic.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        let mut text = format!(
            "{:width$}  {:20}  {:>7}  {:>7}  {:>7}  {:>7}  OLDEST\n",
            "TOPIC", "REASON", "COUNT", "<1h", "1h-24h", ">24h"
        );
        for group in &self.groups {
            let oldest = group
                .oldest
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "-".into());
            text.push_str(&format!(
                "{:width$}  {:20}  {:>7}  {:>7}  {:>7}  {:>7}  {oldest}\n",
                group.topic,
                group.reason,
                group.count,
                group.under_1h,
                group.from_1h_to_24h,
                group.over_24h
            ));
        }
        text.push_str(&format!("{} dead letters\n", self.dead_letters));
        if let Some(first) = &self.first_not_dead_letter {
            text.push_str(&format!(
                "{} messages on the dead-letter topics are not dead letters (the first at {first})\n",
                self.not_dead_letters
            ));
        }
        text
    }
}
