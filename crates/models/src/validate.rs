//! Input checks run before anything is sent, so bad input is refused with the
//! field and the problem named, and nothing is half-written.

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;

use crate::error::{Error, Result};

/// The character bound of every bounded text column, as the migrations declare it.
///
/// `tests/tests/models_integrity.rs` proves the list matches the catalog.
pub const TEXT_COLUMN_BOUNDS: &[(&str, &str, usize)] = &[
    ("workflow_executions", "workflow_type", 100),
    ("workflow_executions", "current_state", 50),
    ("workflow_executions", "namespace", 255),
    ("workflow_steps", "step_name", 100),
    ("workflow_steps", "status", 50),
    ("fsm_transitions", "entity_type", 100),
    ("fsm_transitions", "from_state", 50),
    ("fsm_transitions", "to_state", 50),
    ("fsm_transitions", "transition_event", 100),
    ("bridge_states", "namespace", 255),
    ("bridge_states", "current_fsm_state", 50),
    ("node_registrations", "node_id", 255),
    ("node_registrations", "node_type", 100),
    ("node_registrations", "node_version", 50),
    ("node_registrations", "health_status", 50),
    ("metadata_stamps", "file_hash", 128),
    ("metadata_stamps", "namespace", 255),
];

/// The deepest JSON nesting a write accepts.
///
/// serde_json, like many JSON libraries, refuses to parse deeper documents
/// by default, so every value we store stays readable by any consumer.
pub const MAX_JSON_DEPTH: usize = 128;

/// Checks `value` for column `table.column`: no NUL byte (PostgreSQL text
/// cannot hold one) and, for a bounded column, no more characters than its bound.
pub(crate) fn text(table: &str, column: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid(
            format!("{table}.{column}"),
            "contains a NUL byte, which PostgreSQL text cannot hold",
        ));
    }
    let bound = TEXT_COLUMN_BOUNDS
        .iter()
        .find(|(t, c, _)| *t == table && *c == column)
        .map(|(_, _, bound)| *bound);
    if let Some(bound) = bound {
        let chars = value.chars().count();
        if chars > bound {
            return Err(Error::invalid(
                format!("{table}.{column}"),
                format!("{chars} characters, at most {bound}"),
            ));
        }
    }
    Ok(())
}

/// [`text`] for an optional value.
pub(crate) fn opt_text(table: &str, column: &str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |value| text(table, column, value))
}

/// Checks that `value` of `table.column` is not negative.
pub(crate) fn non_negative(table: &str, column: &str, value: i64) -> Result<()> {
    if value < 0 {
        return Err(Error::invalid(
            format!("{table}.{column}"),
            format!("{value} is negative"),
        ));
    }
    Ok(())
}

/// Checks that `value` of `table.column` lies in PostgreSQL's timestamp range
/// (from 4713 BC; chrono cannot go past PostgreSQL's upper bound).
pub(crate) fn timestamp(table: &str, column: &str, value: DateTime<Utc>) -> Result<()> {
    if value.year() < -4712 {
        return Err(Error::invalid(
            format!("{table}.{column}"),
            format!("{value} is before 4713 BC, PostgreSQL's earliest timestamp"),
        ));
    }
    Ok(())
}

/// Checks the JSON `value` of `table.column`: nested at most
/// [`MAX_JSON_DEPTH`] deep, and no NUL character in any string or key
/// (`jsonb` refuses `\u0000`).
pub(crate) fn json(table: &str, column: &str, value: &Value) -> Result<()> {
    let field = || format!("{table}.{column}");
    match json_problem(value, 1) {
        Some(JsonProblem::TooDeep) => Err(Error::invalid(
            field(),
            format!("JSON nested more than {MAX_JSON_DEPTH} levels deep"),
        )),
        Some(JsonProblem::Nul) => Err(Error::invalid(
            field(),
            "JSON string or key contains a NUL character, which jsonb cannot hold",
        )),
        None => Ok(()),
    }
}

enum JsonProblem {
    TooDeep,
    Nul,
}

/// The first problem of `value` found at nesting `depth`; recursion stops one
/// level past the limit, so a hostile value cannot exhaust the stack.
fn json_problem(value: &Value, depth: usize) -> Option<JsonProblem> {
    match value {
        Value::String(text) if text.contains('\0') => Some(JsonProblem::Nul),
        Value::Array(items) if !items.is_empty() => nested_problem(items.iter(), depth),
        Value::Object(map) if map.keys().any(|key| key.contains('\0')) => Some(JsonProblem::Nul),
        Value::Object(map) if !map.is_empty() => nested_problem(map.values(), depth),
        _ => None,
    }
}

/// The first problem of `children`, the contents of a container at `depth`.
fn nested_problem<'a>(
    mut children: impl Iterator<Item = &'a Value>,
    depth: usize,
) -> Option<JsonProblem> {
    if depth >= MAX_JSON_DEPTH {
        return Some(JsonProblem::TooDeep);
    }
    children.find_map(|child| json_problem(child, depth + 1))
}

/// Runs `check` on every row of a batch, naming the row that fails.
pub(crate) fn rows<T>(rows: &[T], check: impl Fn(&T) -> Result<()>) -> Result<()> {
    for (index, row) in rows.iter().enumerate() {
        check(row).map_err(|err| match err {
            Error::InvalidValue { field, problem } => Error::InvalidValue {
                field,
                problem: format!("{problem} (row {index} of the batch)"),
            },
            other => other,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        (1..depth).fold(json!([]), |inner, _| json!([inner]))
    }

    #[test]
    fn json_up_to_the_limit_passes_and_deeper_is_refused() {
        assert!(json("t", "c", &nested(MAX_JSON_DEPTH)).is_ok());
        let err = json("t", "c", &nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { field, problem } if field == "t.c" && problem.contains("128")),
            "{err}"
        );
    }

    #[test]
    fn nul_bytes_are_refused_in_text_and_json() {
        assert!(text("fsm_transitions", "to_state", "A\0B").is_err());
        assert!(json("t", "c", &json!({"k": "a\u{0}"})).is_err());
        assert!(json("t", "c", &json!({"k\u{0}": 1})).is_err());
        assert!(json("t", "c", &json!({"k": ["fine", 1, null]})).is_ok());
    }

    #[test]
    fn bounds_count_characters_not_bytes() {
        assert!(text("fsm_transitions", "to_state", &"é".repeat(50)).is_ok());
        let err = text("fsm_transitions", "to_state", &"é".repeat(51)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid fsm_transitions.to_state: 51 characters, at most 50"
        );
    }
}
