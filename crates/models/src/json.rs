//! Reading `jsonb` columns robustly: any nesting PostgreSQL may hold, within reason.

use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    pg::{Pg, PgValue},
    sql_types::Jsonb,
};
use serde::Deserialize;
use serde_json::Value;

/// The deepest stored JSON a read decodes.
///
/// Writes of this crate refuse more than [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH);
/// deeper documents written by other tools still read back up to this depth
/// (PostgreSQL itself stores up to roughly 10 000 levels). Past it, dropping
/// the decoded value could overflow a 2 MiB thread stack, so the read fails
/// with [`Error::UnexpectedValue`](crate::Error::UnexpectedValue) instead.
pub const MAX_READ_JSON_DEPTH: usize = 4096;

/// A `jsonb` value as read from the database; the row types' JSON fields
/// are decoded through it (`#[diesel(deserialize_as = StoredJson)]`).
#[derive(Debug, FromSqlRow)]
pub struct StoredJson(Value);

impl From<StoredJson> for Value {
    fn from(json: StoredJson) -> Self {
        json.0
    }
}

impl FromSql<Jsonb, Pg> for StoredJson {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let bytes = value.as_bytes();
        let Some((&1, text)) = bytes.split_first() else {
            return Err("unsupported jsonb encoding version".into());
        };
        if nesting_depth(text) > MAX_READ_JSON_DEPTH {
            return Err(Box::new(crate::Error::UnexpectedValue {
                what: "JSON document",
                value: format!("nested more than {MAX_READ_JSON_DEPTH} levels deep"),
            }));
        }
        // serde_json stops at 128 levels by default; the stacker grows the
        // stack as the parser recurses, so any depth up to the check decodes.
        let mut parser = serde_json::Deserializer::from_slice(text);
        parser.disable_recursion_limit();
        let value = Value::deserialize(serde_stacker::Deserializer::new(&mut parser))?;
        Ok(Self(value))
    }
}

/// The deepest nesting of arrays and objects in JSON `text`.
fn nesting_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in text {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(nesting_depth(br#"{"a": [1, {"b": "[[[{"}]}"#), 3);
        assert_eq!(nesting_depth(br#""\"[""#), 0);
        assert_eq!(nesting_depth(b"1"), 0);
    }
}
