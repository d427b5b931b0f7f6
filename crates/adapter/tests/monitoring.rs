//! The alert rules (`deploy/prometheus`) and the dashboard (`deploy/grafana`)
//! query only metrics the adapter registers, and every alert has a severity,
//! a `for:`, a summary, a runbook section in this crate's README and promtool
//! tests that show it firing and quiet.

use std::{collections::BTreeSet, fs, path::PathBuf};

use bridge_adapter::metrics;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// Metrics Prometheus records itself for every target, which the rules may use.
const PROMETHEUS_OWN: [&str; 1] = ["up"];

/// PromQL's keywords and aggregation operators (which may come before their
/// `by (…)`, apart from their parenthesis), which are no metric names.
const KEYWORDS: [&str; 24] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "atan2",
];

/// Keywords followed by a list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Where the runbooks live; the rules' `runbook_url`s point into it.
const RUNBOOKS: &str = "crates/adapter/README.md";

fn repo_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn yaml(path: &str) -> Yaml {
    serde_yaml::from_str(&repo_file(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Every series name `/metrics` of the adapter serves, and Prometheus's own.
fn registered() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for metric in metrics::CATALOG {
        names.insert(metric.name.to_owned());
        if metric.kind == metrics::Kind::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{}{suffix}", metric.name));
            }
        }
    }
    names.extend(PROMETHEUS_OWN.iter().map(|name| name.to_string()));
    names
}

/// The index just past the `close` that ends the bracket opened before `at`,
/// skipping quoted strings.
fn skip_to(chars: &[char], mut at: usize, close: char) -> usize {
    while at < chars.len() {
        match chars[at] {
            c if c == close => return at + 1,
            quote @ ('"' | '\'' | '`') => at = skip_quoted(chars, at + 1, quote),
            _ => at += 1,
        }
    }
    at
}

/// The index just past the `quote` closing a string that starts at `at`.
fn skip_quoted(chars: &[char], mut at: usize, quote: char) -> usize {
    while at < chars.len() {
        match chars[at] {
            '\\' => at += 2,
            c if c == quote => return at + 1,
            _ => at += 1,
        }
    }
    at
}

/// The metric names PromQL `expr` selects: identifiers outside label
/// matchers, ranges, strings and grouping lists that are neither functions
/// nor keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            quote @ ('"' | '\'' | '`') => at = skip_quoted(&chars, at + 1, quote),
            '{' => at = skip_to(&chars, at + 1, '}'),
            '[' => at = skip_to(&chars, at + 1, ']'),
            // Template variables ($__rate_interval), numbers and durations.
            c if c == '$' || c.is_ascii_digit() || c == '.' => {
                at += 1;
                while at < chars.len() && (word(chars[at]) || chars[at] == '.') {
                    at += 1;
                }
            }
            c if word(c) => {
                let start = at;
                while at < chars.len() && word(chars[at]) {
                    at += 1;
                }
                let ident: String = chars[start..at].iter().collect();
                let mut next = at;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let call = chars.get(next) == Some(&'(');
                if call && GROUPING.contains(&ident.as_str()) {
                    at = skip_to(&chars, next + 1, ')');
                } else if !call && !KEYWORDS.contains(&ident.as_str()) {
                    names.insert(ident);
                }
            }
            _ => at += 1,
        }
    }
    names
}

/// The alerting rules of the rules file.
fn alerts() -> Vec<Yaml> {
    let rules = yaml("deploy/prometheus/bridge-adapter.rules.yml");
    let groups = rules["groups"].as_sequence().expect("groups");
    let alerts: Vec<Yaml> = groups
        .iter()
        .flat_map(|group| group["rules"].as_sequence().expect("rules").clone())
        .filter(|rule| rule.get("alert").is_some())
        .collect();
    assert!(alerts.len() >= 8, "{} alerts", alerts.len());
    alerts
}

/// Every `expr` of the dashboard's panels, and the metric selector of every
/// `label_values(selector, label)` query of its variables.
fn dashboard_queries(node: &Json, found: &mut Vec<String>) {
    match node {
        Json::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("expr", Json::String(expr)) => found.push(expr.clone()),
                    ("query" | "definition", Json::String(query))
                        if query.starts_with("label_values(") =>
                    {
                        let inner = &query["label_values(".len()..query.rfind(',').unwrap()];
                        found.push(inner.to_owned());
                    }
                    _ => dashboard_queries(value, found),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|item| dashboard_queries(item, found)),
        _ => {}
    }
}

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn the_name_reader_finds_metric_names_and_nothing_else() {
    let expr = r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x", le=~"1|y z"}[$__rate_interval])))
        / on (job, instance) group_left (topic) max without (partition) (b:recorded offset 5m) > bool 1e3
        unless up{job="bridge-adapter"} == 0 or c and absent(d{n="}"})"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["a_bucket", "b:recorded", "c", "d", "up"]);
}

#[test]
fn every_metric_the_alert_rules_query_is_one_the_adapter_registers() {
    let registered = registered();
    let mut used = BTreeSet::new();
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap();
        let expr = alert["expr"].as_str().expect("an expr");
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{name}: no metric in {expr}");
        let unknown: Vec<&String> = names.difference(&registered).collect();
        assert!(
            unknown.is_empty(),
            "{name} queries {unknown:?}, which the adapter does not register"
        );
        used.extend(names);
    }
    assert!(used.contains("up") && used.contains(metrics::CIRCUIT_OPEN));
}

#[test]
fn every_metric_the_dashboard_queries_is_one_the_adapter_registers() {
    let text = repo_file("deploy/grafana/bridge-adapter.json");
    let dashboard: Json = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let registered = registered();
    let mut used = BTreeSet::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "no metric in {query}");
        let unknown: Vec<&String> = names.difference(&registered).collect();
        assert!(
            unknown.is_empty(),
            "the dashboard queries {unknown:?} ({query}), which the adapter does not register"
        );
        used.extend(names);
    }
    // The dashboard shows every signal an alert is about.
    for alert in alerts() {
        let names = metric_names(alert["expr"].as_str().unwrap());
        assert!(
            names.iter().any(|name| used.contains(name)),
            "the dashboard shows nothing of {}",
            alert["alert"].as_str().unwrap()
        );
    }
}

#[test]
fn every_alert_has_a_severity_a_for_a_summary_and_a_runbook_section() {
    let readme = repo_file(RUNBOOKS);
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect();
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap();
        let severity = alert["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}"
        );
        assert!(alert["for"].as_str().is_some(), "{name}: no for:");
        let annotations = &alert["annotations"];
        assert!(
            annotations["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{name}: no summary"
        );
        let url = annotations["runbook_url"].as_str().unwrap_or_default();
        let section = url
            .strip_prefix(&format!("{RUNBOOKS}#"))
            .unwrap_or_else(|| {
                panic!("{name}: runbook_url {url:?} is not a section of {RUNBOOKS}")
            });
        assert_eq!(section, name.to_lowercase(), "{name}: runbook_url {url}");
        assert!(
            anchors.contains(section),
            "{name}: {RUNBOOKS} has no heading with anchor #{section}"
        );
    }
}

#[test]
fn every_alert_has_promtool_tests_showing_it_firing_and_quiet() {
    let tests = yaml("deploy/prometheus/tests.yml");
    let cases: Vec<&Yaml> = tests["tests"]
        .as_sequence()
        .expect("tests")
        .iter()
        .flat_map(|test| {
            test["alert_rule_test"]
                .as_sequence()
                .expect("alert_rule_test")
        })
        .collect();
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap();
        let expected = |fires: bool| {
            cases.iter().any(|case| {
                case["alertname"].as_str() == Some(name)
                    && case["exp_alerts"]
                        .as_sequence()
                        .is_some_and(|alerts| alerts.is_empty() != fires)
            })
        };
        assert!(expected(true), "no promtool test shows {name} firing");
        assert!(expected(false), "no promtool test shows {name} quiet");
    }
}
