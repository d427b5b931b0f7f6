//! A process's lifetime totals: read from `/metrics`, logged when it stops.

use super::{sum, CONSUMED, DEAD_LETTERED, PERSISTED, REVOKED};

/// A process's lifetime totals, as its last log line gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events taken into a batch ([`CONSUMED`]).
    pub consumed: u64,
    /// Events written or found written ([`PERSISTED`]).
    pub persisted: u64,
    /// Events sent to a dead-letter topic ([`DEAD_LETTERED`]).
    pub dead_lettered: u64,
    /// Partitions revoked from this member by rebalances ([`REVOKED`]).
    pub revoked: u64,
}

/// The totals of two processes (or two lives of one) together.
impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, other: Self) {
        self.consumed += other.consumed;
        self.persisted += other.persisted;
        self.dead_lettered += other.dead_lettered;
        self.revoked += other.revoked;
    }
}

impl Totals {
    /// The totals in Prometheus text `text` (what `/metrics` serves).
    pub fn of(text: &str) -> Self {
        // Counters are whole numbers; `as` saturates and maps NaN to 0.
        let total = |name| sum(text, name) as u64;
        Self {
            consumed: total(CONSUMED),
            persisted: total(PERSISTED),
            dead_lettered: total(DEAD_LETTERED),
            revoked: total(REVOKED),
        }
    }

    /// The totals on the adapter's `bridge-adapter stopped` log line in
    /// `log`, the last one when it stopped more than once; `None` when no
    /// such line carries them.
    pub fn from_log(log: &str) -> Option<Self> {
        let line = log
            .lines()
            .rev()
            .find(|line| line.contains("bridge-adapter stopped"))?;
        let field = |name: &str| -> Option<u64> {
            let start = line.find(&format!("{name}="))? + name.len() + 1;
            let digits: String = line[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        Some(Self {
            consumed: field("events_consumed")?,
            persisted: field("events_persisted")?,
            dead_lettered: field("events_dead_lettered")?,
            revoked: field("partitions_revoked")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn totals_sum_every_label_set_and_come_back_from_the_stop_line() {
        let text = "\
# TYPE adapter_events_consumed_total counter
adapter_events_consumed_total{event_type=\"workflow-started\"} 3
adapter_events_consumed_total{event_type=\"step-completed\"} 9
adapter_events_persisted_total{event_type=\"step-completed\"} 11
adapter_events_dead_lettered_total{event_type=\"unknown\",reason=\"decode\"} 1
adapter_partitions_revoked_total 4
";
        let totals = Totals::of(text);
        assert_eq!(
            totals,
            Totals {
                consumed: 12,
                persisted: 11,
                dead_lettered: 1,
                revoked: 4
            }
        );
        let log = "\
2026-12-07T07:00:00Z  INFO bridge_adapter: bridge-adapter stopped events_consumed=1 events_persisted=1 events_dead_lettered=0 partitions_revoked=0
2026-12-07T07:00:09Z  INFO bridge_adapter: batch applied
2026-12-07T07:01:00Z  INFO bridge_adapter: bridge-adapter stopped events_consumed=12 events_persisted=11 events_dead_lettered=1 partitions_revoked=4
";
        assert_eq!(Totals::from_log(log), Some(totals), "the last stop line");
        assert_eq!(
            Totals::from_log("INFO bridge_adapter: bridge-adapter stopped"),
            None,
            "a stop line without totals"
        );
    }
}
