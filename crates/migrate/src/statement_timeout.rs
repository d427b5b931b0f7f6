//! A migration's own `statement_timeout`, declared in its SQL file.
//!
//! A line `-- bridge-migrate: statement_timeout = 10min` in `up.sql` (or
//! `down.sql`) ends any statement of that file that runs longer, e.g. a
//! runaway data migration; the units are PostgreSQL's `ms`, `s`, `min`, `h`.
//! It sits in the SQL so that embedded and directory migrations carry it
//! alike, and the checksum covers it.

use std::time::Duration;

/// What a directive line says after its `--`.
const DIRECTIVE: &str = "bridge-migrate:";

/// The `statement_timeout` that `sql` declares, if any; an error names a malformed directive.
pub(crate) fn declared(sql: &str) -> Result<Option<Duration>, String> {
    let mut found = None;
    for line in sql.lines() {
        let Some(rest) = line
            .trim()
            .strip_prefix("--")
            .and_then(|comment| comment.trim_start().strip_prefix(DIRECTIVE))
        else {
            continue;
        };
        let (key, value) = rest
            .split_once('=')
            .ok_or_else(|| format!("{line:?}: expected `statement_timeout = <duration>`"))?;
        if key.trim() != "statement_timeout" {
            return Err(format!("{line:?}: unknown setting {:?}", key.trim()));
        }
        if found.is_some() {
            return Err(format!("{line:?}: statement_timeout is declared twice"));
        }
        found = Some(parse(value.trim()).map_err(|problem| format!("{line:?}: {problem}"))?);
    }
    Ok(found)
}

/// `10min`, `30s`, `500ms`, `2h` as a duration greater than zero.
fn parse(value: &str) -> Result<Duration, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a number followed by ms, s, min or h"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "min" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        other => return Err(format!("unit {other:?} is not one of ms, s, min, h")),
    };
    match duration.is_zero() {
        true => Err("a statement_timeout of zero would mean none; leave the line out".to_owned()),
        false => Ok(duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directive_line_declares_the_timeout() {
        let sql = "-- bridge-migrate: statement_timeout = 10min\nUPDATE t SET x = 1;";
        assert_eq!(declared(sql).unwrap(), Some(Duration::from_secs(600)));
        assert_eq!(
            declared("--   bridge-migrate: statement_timeout=250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            declared("SELECT 1; -- statement_timeout = 1s").unwrap(),
            None
        );
    }

    #[test]
    fn malformed_directives_are_refused_with_the_line() {
        for bad in [
            "-- bridge-migrate: statement_timeout = 10 days",
            "-- bridge-migrate: statement_timeout = 0s",
            "-- bridge-migrate: lock_timeout = 1s",
            "-- bridge-migrate: statement_timeout",
            "-- bridge-migrate: statement_timeout = 1s\n-- bridge-migrate: statement_timeout = 2s",
        ] {
            let err = declared(bad).unwrap_err();
            assert!(err.contains("bridge-migrate:"), "{err}");
        }
    }
}
