//! Records the SQL the models crate sends, through Diesel's instrumentation,
//! so case 4 can EXPLAIN (and pgbench can replay) exactly that statement.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex,
};

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};

static RECORDING: AtomicBool = AtomicBool::new(false);
static RECORDED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Appends every started query, as `SQL -- binds: [...]`, while recording is on.
struct Recorder;

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            if RECORDING.load(Ordering::Relaxed) {
                let mut recorded = RECORDED.lock().unwrap_or_else(|p| p.into_inner());
                recorded.push(query.to_string());
            }
        }
    }
}

/// Runs `open` with the recorder installed for connections it opens, then uninstalls it.
pub async fn with_recorder<T>(open: impl std::future::Future<Output = T>) -> T {
    set_default_instrumentation(|| Some(Box::new(Recorder))).expect("instrumentation lock");
    let opened = open.await;
    set_default_instrumentation(|| None).expect("instrumentation lock");
    opened
}

/// The queries recorded while `call` ran, oldest first.
pub async fn record<T>(call: impl std::future::Future<Output = T>) -> (T, Vec<String>) {
    RECORDED.lock().unwrap_or_else(|p| p.into_inner()).clear();
    RECORDING.store(true, Ordering::Relaxed);
    let result = call.await;
    RECORDING.store(false, Ordering::Relaxed);
    let recorded = std::mem::take(&mut *RECORDED.lock().unwrap_or_else(|p| p.into_inner()));
    (result, recorded)
}

/// `SQL -- binds: [...]` with each `$n` replaced by its bind as an SQL literal.
pub fn inline_binds(recorded: &str) -> String {
    let (sql, binds) = recorded
        .rsplit_once(" -- binds: ")
        .unwrap_or((recorded, "[]"));
    let binds = split_list(binds.trim().trim_start_matches('[').trim_end_matches(']'));
    let mut sql = sql.to_owned();
    // Highest first, so `$1` never eats the front of `$10`.
    for (n, bind) in binds.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", n + 1), &literal(bind));
    }
    sql
}

/// Top-level items of a Debug list, respecting quotes and brackets.
fn split_list(list: &str) -> Vec<String> {
    let (mut items, mut current, mut depth, mut quoted, mut escaped) =
        (Vec::new(), String::new(), 0i32, false, false);
    for c in list.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                items.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        items.push(current.trim().to_owned());
    }
    items
}

/// One bind's Debug text as an SQL literal the server will coerce to the column's type.
fn literal(debug: &str) -> String {
    if let Some(inner) = debug
        .strip_prefix("Some(")
        .and_then(|d| d.strip_suffix(')'))
    {
        return literal(inner);
    }
    if debug == "None" {
        return "NULL".to_owned();
    }
    if debug == "true" || debug == "false" || debug.parse::<f64>().is_ok() {
        return debug.to_owned();
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(debug) {
        // No colons: pgbench would read `:00` in a quoted time as a variable.
        return format!(
            "to_timestamp({}.{:06})",
            at.timestamp(),
            at.timestamp_subsec_micros()
        );
    }
    let text = if let Some(inner) = debug.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else if debug.chars().all(|c| c.is_ascii_alphabetic()) {
        // A unit enum variant such as `Processing`: the models crate stores it upper-case.
        debug.to_ascii_uppercase()
    } else {
        // Uuid, DateTime and the like print as their text form.
        debug.to_owned()
    };
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_become_literals_in_place() {
        let recorded = r#"SELECT "a" FROM "t" WHERE "ns" = $1 AND "state" = $2 AND "at" <= $3 AND "x" = $10 LIMIT $4 -- binds: ["ns-1", Processing, 2025-01-01T00:00:01Z, 51, 5, 6, 7, 8, 9, Some("it's")]"#;
        assert_eq!(
            inline_binds(recorded),
            r#"SELECT "a" FROM "t" WHERE "ns" = 'ns-1' AND "state" = 'PROCESSING' AND "at" <= to_timestamp(1735689601.000000) AND "x" = 'it''s' LIMIT 51"#
        );
    }

    #[test]
    fn lists_split_at_top_level_only() {
        assert_eq!(
            split_list(r#""a, b", Some((1, 2)), None"#),
            vec![r#""a, b""#, "Some((1, 2))", "None"]
        );
    }
}
