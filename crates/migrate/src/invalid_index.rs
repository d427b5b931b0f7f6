//! Indexes left `INVALID` by a failed `CREATE INDEX CONCURRENTLY`, and dropping the ones a
//! timed-out attempt of a migration left behind.
//!
//! A concurrent build commits the index to the catalog first and validates
//! it afterwards; when it fails midway (a lock timeout, a duplicate under a
//! unique index, a cancel) the index stays, marked invalid: never used by
//! queries, yet maintained by every write.

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    sql_types::{Bool, Text},
};
use serde::Serialize;

use crate::runtime::SyncPgConnection;

/// An index PostgreSQL marks invalid: a concurrent build failed (or is running right now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, QueryableByName)]
pub struct InvalidIndex {
    /// Its schema.
    #[diesel(sql_type = Text)]
    pub schema: String,
    /// Its name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The table it indexes.
    #[diesel(sql_type = Text)]
    pub table: String,
}

/// Every invalid index outside the system schemas.
pub(crate) fn all(conn: &mut SyncPgConnection) -> QueryResult<Vec<InvalidIndex>> {
    diesel::sql_query(
        "SELECT n.nspname AS schema, c.relname AS name, t.relname AS table \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg_toast%' \
         ORDER BY 1, 2",
    )
    .load(conn)
}

/// The names of the indexes `sql` builds with `CREATE [UNIQUE] INDEX CONCURRENTLY`.
pub(crate) fn built_concurrently(sql: &str) -> Vec<String> {
    let words: Vec<String> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let mut names = Vec::new();
    for at in 0..upper.len() {
        if upper[at] != "CONCURRENTLY" || at < 2 {
            continue;
        }
        let created = upper[at - 1] == "INDEX"
            && (upper[at - 2] == "CREATE"
                || (upper[at - 2] == "UNIQUE" && at >= 3 && upper[at - 3] == "CREATE"));
        if !created {
            continue;
        }
        let mut name_at = at + 1;
        if upper.get(name_at..name_at + 3) == Some(&["IF".into(), "NOT".into(), "EXISTS".into()]) {
            name_at += 3;
        }
        match words.get(name_at) {
            Some(name) if upper[name_at] != "ON" => names.push(name.clone()),
            _ => {}
        }
    }
    names
}

#[derive(QueryableByName)]
struct Invalid {
    #[diesel(sql_type = Bool)]
    invalid: bool,
}

/// Whether index `name` exists and is invalid.
fn is_invalid(conn: &mut SyncPgConnection, name: &str) -> QueryResult<bool> {
    diesel::sql_query(
        "SELECT coalesce(bool_or(NOT i.indisvalid), false) AS invalid \
         FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
    )
    .bind::<Text, _>(name)
    .get_result::<Invalid>(conn)
    .map(|row| row.invalid)
}

/// The indexes of `names` that exist and are invalid.
pub(crate) fn still_invalid(
    conn: &mut SyncPgConnection,
    names: &[String],
) -> QueryResult<Vec<String>> {
    let mut invalid = Vec::new();
    for name in names {
        if is_invalid(conn, name)? {
            invalid.push(name.clone());
        }
    }
    Ok(invalid)
}

/// Drops each index of `names` that exists and is invalid, concurrently;
/// returns the ones dropped.
pub(crate) fn drop_invalid(
    conn: &mut SyncPgConnection,
    names: &[String],
) -> QueryResult<Vec<String>> {
    let mut dropped = Vec::new();
    for name in still_invalid(conn, names)? {
        conn.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))?;
        dropped.push(name);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_builds_are_found_by_name() {
        let sql = "-- CREATE INDEX CONCURRENTLY commented_out ON t (a);\n\
                   create index concurrently t_a_idx on t (a);\n\
                   CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_b_key ON t (b);\n\
                   CREATE INDEX t_c_idx ON t (c);\n\
                   CREATE INDEX CONCURRENTLY ON t (d);";
        assert_eq!(built_concurrently(sql), ["t_a_idx", "t_b_key"]);
    }
}
