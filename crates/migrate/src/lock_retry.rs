//! How a migration whose lock wait timed out is tried again: how often, and after what waits.

use std::{hash::BuildHasher, time::Duration};

/// Attempts and growing, jittered waits for a migration whose `lock_timeout` fired.
///
/// Attempt `n` (from 1) that times out waits `first_wait × 2^(n-1)`, at most
/// `max_wait`, scaled by a random factor between 0.5 and 1 (so that replicas
/// retrying together spread out), before attempt `n + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRetry {
    /// How many times a migration is tried in all; at least 1.
    pub attempts: u32,
    /// The wait after the first timed-out attempt, before jitter.
    pub first_wait: Duration,
    /// The longest wait between two attempts, before jitter.
    pub max_wait: Duration,
}

impl Default for LockRetry {
    /// 15 attempts, waits from 1 s doubling up to 30 s: 2.5 to 5 minutes of
    /// waits, plus up to 15 lock timeouts (about 3 to 5.5 minutes in all
    /// under the default 2 s `lock_timeout`).
    fn default() -> Self {
        Self {
            attempts: 15,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl LockRetry {
    /// The wait after timed-out attempt `attempt` (from 1), before jitter.
    pub fn nominal_wait(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first_wait
            .saturating_mul(1 << doublings)
            .min(self.max_wait)
    }

    /// The wait after timed-out attempt `attempt`, jittered to between half of
    /// [`nominal_wait`](Self::nominal_wait) and all of it.
    pub fn wait_after(&self, attempt: u32) -> Duration {
        self.nominal_wait(attempt)
            .mul_f64(0.5 + 0.5 * unit_random())
    }

    /// The most all the waits between attempts add up to.
    pub fn longest_total_wait(&self) -> Duration {
        (1..self.attempts.max(1))
            .map(|attempt| self.nominal_wait(attempt))
            .sum()
    }

    /// The longest one migration can spend retrying when each attempt waits
    /// `lock_timeout` for its locks: every attempt's wait plus
    /// [`longest_total_wait`](Self::longest_total_wait).
    pub fn longest_window(&self, lock_timeout: Duration) -> Duration {
        lock_timeout.saturating_mul(self.attempts.max(1)) + self.longest_total_wait()
    }
}

/// A number in `[0, 1)` that differs between calls and processes: std's
/// randomly keyed hasher, so no random-number crate is needed for jitter.
fn unit_random() -> f64 {
    let bits = std::hash::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_and_stay_within_their_jitter() {
        let retry = LockRetry::default();
        let nominal: Vec<u64> = (1..=7).map(|n| retry.nominal_wait(n).as_secs()).collect();
        assert_eq!(nominal, [1, 2, 4, 8, 16, 30, 30]);
        for attempt in 1..=20 {
            let wait = retry.wait_after(attempt);
            let nominal = retry.nominal_wait(attempt);
            assert!(
                wait <= nominal && wait >= nominal / 2,
                "{wait:?} vs {nominal:?}"
            );
        }
    }

    #[test]
    fn the_default_spans_several_minutes() {
        let total = LockRetry::default().longest_total_wait();
        assert!(total >= Duration::from_secs(240), "{total:?}");
        assert!(total <= Duration::from_secs(600), "{total:?}");
    }

    #[test]
    fn the_default_window_is_the_documented_3_to_5_5_minutes() {
        let retry = LockRetry::default();
        let window = retry.longest_window(Duration::from_secs(2));
        // 15 lock timeouts of 2 s, then 1+2+4+8+16 s and nine waits of 30 s.
        assert_eq!(window, Duration::from_secs(30 + 301));
        let shortest = Duration::from_secs(30) + retry.longest_total_wait() / 2;
        assert!(shortest >= Duration::from_secs(180), "{shortest:?}");
        assert_eq!(
            LockRetry {
                attempts: 1,
                ..retry
            }
            .longest_window(Duration::from_secs(2)),
            Duration::from_secs(2),
            "one attempt waits once and never retries"
        );
    }
}
