//! `nodes`: every registered node with its health and heartbeat age, as text or JSON.

use bridge_connect::redact_url;
use bridge_migrate::Options;
use bridge_models::{Error, HealthStatus, NodeRegistration};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    cli::{Format, NodesArgs},
    connection,
    exit::Exit,
    output::{BAD, DIM, GOOD, WARN},
};

/// The JSON document of `nodes --format json`; its fields are stable.
#[derive(Serialize)]
struct Document {
    database: String,
    as_of: DateTime<Utc>,
    stale_after_seconds: u32,
    nodes: Vec<Node>,
}

/// One node in the document: its row and what `as_of` makes of it.
#[derive(Serialize)]
struct Node {
    #[serde(flatten)]
    registration: NodeRegistration,
    /// Seconds since the last heartbeat; `null` before the first.
    heartbeat_age_seconds: Option<f64>,
    /// Seconds since the last heartbeat or, before the first, the registration.
    silent_seconds: f64,
    /// Silent for more than `stale_after_seconds`.
    stale: bool,
}

/// Runs `nodes` on the database of `options`.
pub async fn run(options: &Options, args: NodesArgs) -> Result<Exit, Error> {
    let mut conn = connection::connect(options).await?;
    let registrations = NodeRegistration::list_all(&mut conn).await?;
    let as_of = Utc::now();
    let seconds = |since: DateTime<Utc>| (as_of - since).num_milliseconds() as f64 / 1000.0;
    let nodes = registrations
        .into_iter()
        .map(|registration| {
            let silent_seconds = seconds(registration.silent_since());
            Node {
                heartbeat_age_seconds: registration.last_heartbeat.map(seconds),
                stale: silent_seconds > f64::from(args.stale_after),
                silent_seconds,
                registration,
            }
        })
        .collect();
    let document = Document {
        database: redact_url(&options.database_url),
        as_of,
        stale_after_seconds: args.stale_after,
        nodes,
    };
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&document).expect("the nodes serialise");
            anstream::println!("{json}");
        }
        Format::Text => print_text(&document),
    }
    Ok(Exit::Success)
}

/// `seconds` as the largest two units, e.g. `3m 12s`, `2h 5m`, `4d 1h`.
fn age(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

fn print_text(document: &Document) {
    anstream::println!("Database: {}", document.database);
    anstream::println!(
        "{:<40} {:<14} {:<10} {:<10} {:<24} AGE",
        "NODE",
        "TYPE",
        "VERSION",
        "HEALTH",
        "LAST HEARTBEAT"
    );
    for node in &document.nodes {
        let row = &node.registration;
        let health_style = match row.health_status {
            HealthStatus::Healthy => GOOD,
            HealthStatus::Unhealthy => BAD,
            _ => WARN,
        };
        let last = row.last_heartbeat.map_or_else(
            || "never".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        let age = match node.heartbeat_age_seconds {
            Some(seconds) => age(seconds),
            None => format!("registered {} ago", age(node.silent_seconds)),
        };
        let stale = match node.stale {
            true => format!(" {BAD}STALE{BAD:#}"),
            false => String::new(),
        };
        anstream::println!(
            "{:<40} {:<14} {:<10} {health_style}{:<10}{health_style:#} {last:<24} {age}{stale}",
            row.node_id,
            row.node_type,
            row.node_version,
            row.health_status.as_str(),
        );
    }
    let stale = document.nodes.iter().filter(|node| node.stale).count();
    anstream::println!(
        "{} nodes, {stale} stale {DIM}(silent for more than {} s){DIM:#}",
        document.nodes.len(),
        document.stale_after_seconds
    );
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(age(0.4), "0s");
        assert_eq!(age(59.0), "59s");
        assert_eq!(age(192.0), "3m 12s");
        assert_eq!(age(7_500.0), "2h 5m");
        assert_eq!(age(90_000.0), "1d 1h");
        assert_eq!(age(-3.0), "0s");
    }
}
