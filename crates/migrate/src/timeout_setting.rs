//! A duration as the value of a PostgreSQL timeout setting (`lock_timeout`, `statement_timeout`).

use std::time::Duration;

/// `timeout` as a quoted setting in whole milliseconds, PostgreSQL's unit,
/// rounded up: a bound below 1 ms is 1 ms, never `'0ms'`, which the server
/// reads as no bound at all; only zero itself is unbounded.
pub(crate) fn millis(timeout: Duration) -> String {
    format!("'{}ms'", timeout.as_nanos().div_ceil(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_below_a_millisecond_stays_a_bound() {
        assert_eq!(millis(Duration::from_micros(400)), "'1ms'");
        assert_eq!(millis(Duration::from_nanos(1)), "'1ms'");
        assert_eq!(millis(Duration::from_micros(1_500)), "'2ms'");
        assert_eq!(millis(Duration::from_secs(2)), "'2000ms'");
        assert_eq!(millis(Duration::ZERO), "'0ms'", "zero alone is unbounded");
    }
}
