//! The data guard: which tables a revert drops, and how many rows they hold.
//!
//! Tables are found by reading the `DROP TABLE` statements of each `down.sql`
//! (comments removed). A `DROP TABLE` inside a function body may be counted
//! too, which only makes the guard more careful; data removed by other
//! statements (`DROP COLUMN`, `DELETE`) is not seen.

use crate::{runtime::SyncPgConnection, source::Script, table_rows::TableRows};
use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Text},
};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

/// Every existing table the `down.sql` of `scripts` drops, with its row count.
///
/// Two queries whatever the number of tables: which of them exist, then all
/// their counts.
pub(crate) fn tables_dropped(
    conn: &mut SyncPgConnection,
    scripts: &[&Script],
) -> QueryResult<Vec<TableRows>> {
    let mut named: Vec<String> = Vec::new();
    for script in scripts {
        for table in dropped_tables(script.down_sql.as_deref().unwrap_or_default()) {
            if !named.contains(&table) {
                named.push(table);
            }
        }
    }
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let existing: Vec<String> = diesel::sql_query(
        "SELECT name FROM unnest($1) WITH ORDINALITY AS t(name, n) \
         WHERE to_regclass(name) IS NOT NULL ORDER BY n",
    )
    .bind::<Array<Text>, _>(&named)
    .load::<Name>(conn)?
    .into_iter()
    .map(|row| row.name)
    .collect();
    if existing.is_empty() {
        return Ok(Vec::new());
    }
    let counts = existing
        .iter()
        .enumerate()
        .map(|(n, table)| format!("SELECT {n} AS n, count(*) AS rows FROM {table}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let counts = diesel::sql_query(format!("SELECT rows FROM ({counts}) AS c ORDER BY n"))
        .load::<Count>(conn)?;
    Ok(existing
        .into_iter()
        .zip(counts)
        .map(|(table, count)| TableRows {
            table,
            rows: count.rows,
        })
        .collect())
}

/// The tables named by the `DROP TABLE` statements of `sql`, as written.
pub(crate) fn dropped_tables(sql: &str) -> Vec<String> {
    without_comments(sql)
        .split(';')
        .filter_map(drop_table_targets)
        .flatten()
        .collect()
}

/// The comma-separated names of a `DROP TABLE [IF EXISTS] … [CASCADE | RESTRICT]`.
fn drop_table_targets(statement: &str) -> Option<Vec<String>> {
    let rest = keyword(statement, "drop")?;
    let rest = keyword(rest, "table")?;
    let rest = keyword(rest, "if")
        .and_then(|rest| keyword(rest, "exists"))
        .unwrap_or(rest);
    let names = match rest.trim_end().rsplit_once(char::is_whitespace) {
        Some((names, last))
            if last.eq_ignore_ascii_case("cascade") || last.eq_ignore_ascii_case("restrict") =>
        {
            names
        }
        _ => rest,
    };
    Some(
        names
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

/// `text` after leading whitespace and the case-insensitive `word`, if it starts so.
fn keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    let ends = rest.is_empty() || rest.starts_with(char::is_whitespace);
    (head.eq_ignore_ascii_case(word) && ends).then_some(rest)
}

/// `sql` without `--` line comments and `/* */` block comments.
fn without_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(['-', '/']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        rest = if tail.starts_with("--") {
            tail.find('\n').map_or("", |end| &tail[end..])
        } else if tail.starts_with("/*") {
            tail.find("*/").map_or("", |end| &tail[end + 2..])
        } else {
            out.push_str(&tail[..1]);
            &tail[1..]
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_dropped_table() {
        let sql = "-- DROP TABLE commented_out;\n\
                   DROP TABLE workflow_steps;\n\
                   /* DROP TABLE also_commented; */\n\
                   drop table if exists a, public.b CASCADE;\n\
                   DROP INDEX some_idx;\n\
                   DROP TABLE \"Quoted\" RESTRICT";
        assert_eq!(
            dropped_tables(sql),
            ["workflow_steps", "a", "public.b", "\"Quoted\""]
        );
    }

    #[test]
    fn other_statements_drop_nothing() {
        assert!(
            dropped_tables("DROP EXTENSION IF EXISTS \"uuid-ossp\"; DROP TABLESPACE t").is_empty()
        );
        assert!(dropped_tables("SELECT 1 - 2 / 3").is_empty());
    }

    #[test]
    fn row_counts_read_naturally() {
        let table = |rows| {
            TableRows {
                table: "t".into(),
                rows,
            }
            .to_string()
        };
        assert_eq!(table(1), "t (1 row)");
        assert_eq!(table(0), "t (0 rows)");
    }
}
