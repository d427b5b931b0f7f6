//! Capped exponential backoff for a database that does not answer.

use std::time::Duration;

/// Delays between retries: `initial`, doubling, at most `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial`, never waits longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { max, next: initial }
    }

    /// The delay before the next retry; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }
}
