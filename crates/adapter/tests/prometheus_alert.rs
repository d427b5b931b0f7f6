//! One real scrape: Prometheus itself (Debian's `prometheus`) scrapes a running adapter with
//! the repository's alert rules; stopping the adapter's database makes the circuit-breaker
//! alert pending, then firing, as Prometheus's HTTP API reports it.

mod support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use bridge_models::{Db, DbConfig};
use bridge_testkit::PrivateCluster;
use serde_json::Value;
use serde_yaml::Value as Yaml;
use support::{Rig, PATIENCE};
use uuid::Uuid;

/// The Prometheus the Debian package installs (`.ci/run` installs it when missing).
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The alert this test waits for.
const ALERT: &str = "BridgeAdapterCircuitBreakerOpen";

/// The pool size the adapter runs with, read back through Prometheus.
const POOL_SIZE: &str = "3";

/// A Prometheus server of the test's own on a free loopback port, with its
/// configuration and storage in a temporary directory; killed when dropped,
/// also when the test fails.
struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` as job `bridge-adapter` every
    /// second and evaluating `rules` every second.
    fn start(target: &str, rules: &str) -> Self {
        assert!(
            Path::new(PROMETHEUS).is_file(),
            "{PROMETHEUS} is missing; install Debian's prometheus package (`apt-get install prometheus`; .ci/run does)"
        );
        let dir = tempfile::tempdir().expect("a directory for Prometheus");
        let rules_path = dir.path().join("rules.yml");
        fs::write(&rules_path, rules).expect("writing the rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: bridge-adapter\n    static_configs:\n      - targets: ['{target}']\n",
            rules_path.display()
        );
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, config).expect("writing the configuration");
        let port = support::free_port();
        let log = fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        Self { child, port, dir }
    }

    /// GET `path` with `query` parameters: the JSON body, when it answered.
    fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut request = agent.get(&format!("http://127.0.0.1:{}{path}", self.port));
        for (key, value) in query {
            request = request.query(key, value);
        }
        let mut response = request.call().ok()?;
        let body = response.body_mut().read_to_string().ok()?;
        serde_json::from_str(&body).ok()
    }

    /// Whether it answers `/-/ready`.
    fn ready(&self) -> bool {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        agent
            .get(&format!("http://127.0.0.1:{}/-/ready", self.port))
            .call()
            .is_ok()
    }

    /// The value of the first series `expr` selects now.
    fn value(&self, expr: &str) -> Option<f64> {
        let answer = self.get("/api/v1/query", &[("query", expr)])?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }

    /// The alerts named `name` that `/api/v1/alerts` lists (pending or firing).
    fn alerts(&self, name: &str) -> Vec<Value> {
        let Some(answer) = self.get("/api/v1/alerts", &[]) else {
            return Vec::new();
        };
        answer["data"]["alerts"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .filter(|alert| alert["labels"]["alertname"] == name)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state of alert `name` (`pending` or `firing`), when listed.
    fn state(&self, name: &str) -> Option<String> {
        self.alerts(name)
            .first()
            .and_then(|alert| alert["state"].as_str().map(str::to_owned))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus log ---\n{}", self.log());
        }
    }
}

/// The repository's rules, with the circuit-breaker alert's `for: 1m`
/// shortened to 5 s so the test waits seconds, not a minute; every other
/// rule as committed.
fn rules_with_short_for() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/prometheus/bridge-adapter.rules.yml");
    let text = fs::read_to_string(&path).expect("the rules file");
    let mut rules: Yaml = serde_yaml::from_str(&text).expect("the rules parse");
    let mut shortened = 0;
    for group in rules["groups"].as_sequence_mut().expect("groups") {
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            if rule["alert"].as_str() == Some(ALERT) {
                assert_eq!(
                    rule["for"].as_str(),
                    Some("1m"),
                    "the committed for: of {ALERT}"
                );
                rule["for"] = Yaml::from("5s");
                shortened += 1;
            }
        }
    }
    assert_eq!(shortened, 1, "{ALERT} is in the rules once");
    serde_yaml::to_string(&rules).expect("the rules serialise")
}

/// Polls `check` every 250 ms for up to `timeout`; whether it became true.
fn poll(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    check()
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_sees_the_circuit_breaker_alert_when_the_database_stops() {
    let rig = Rig::new(1).await;
    let cluster = PrivateCluster::builder().start();
    let url = cluster.create_migrated_database("adapter_alert");
    let db = Db::connect(DbConfig::new(&url))
        .await
        .expect("the private cluster answers");
    let adapter = rig.adapter_on(
        &url,
        "adapter",
        &[
            "--db-timeout-ms",
            "500",
            "--pool-size",
            POOL_SIZE,
            "--apply-concurrency",
            "2",
        ],
    );
    rig.produce_all(&support::workflow_life(2)).await;
    // A step whose workflow never comes: parked, so the oldest-parked gauge rises.
    rig.produce(&support::step(Uuid::now_v7(), 0)).await;
    let written = support::wait_until(PATIENCE, || async {
        support::count_in(&db, "workflow_steps").await == 2
            && support::count_in(&db, "adapter_deferred_events").await == 1
    })
    .await;
    assert!(written, "{}", rig.all_logs());

    let prometheus = Prometheus::start(
        &format!("127.0.0.1:{}", adapter.port()),
        &rules_with_short_for(),
    );
    assert!(
        poll(PATIENCE, || prometheus.ready()),
        "{}",
        prometheus.log()
    );
    // Prometheus scrapes the adapter, and reads the gauges the rules use.
    let scraped = poll(PATIENCE, || {
        prometheus.value(r#"up{job="bridge-adapter"}"#) == Some(1.0)
            && prometheus.value("adapter_db_pool_connections_max") == POOL_SIZE.parse().ok()
            && prometheus.value("adapter_circuit_breaker_open") == Some(0.0)
            && prometheus
                .value("adapter_deferred_events_oldest_age_seconds")
                .is_some_and(|age| age >= 1.0)
    });
    assert!(
        scraped,
        "up {:?}, pool max {:?}, circuit {:?}, oldest parked {:?}",
        prometheus.value("up"),
        prometheus.value("adapter_db_pool_connections_max"),
        prometheus.value("adapter_circuit_breaker_open"),
        prometheus.value("adapter_deferred_events_oldest_age_seconds"),
    );
    // With the database up, the alert stays quiet over more than its `for:`.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        prometheus.state(ALERT),
        None,
        "{:?}",
        prometheus.alerts(ALERT)
    );

    cluster.stop_fast();
    // The next batch finds the database gone and opens the circuit.
    rig.produce_all(&support::workflow_life(2)).await;
    let mut seen = Vec::new();
    let firing = poll(PATIENCE * 2, || {
        let state = prometheus.state(ALERT);
        if let Some(state) = &state {
            if seen.last() != Some(state) {
                seen.push(state.clone());
            }
        }
        state.as_deref() == Some("firing")
    });
    assert!(
        firing,
        "states seen: {seen:?}; circuit {:?}\n{}",
        prometheus.value("adapter_circuit_breaker_open"),
        adapter.log_text()
    );
    let alert = &prometheus.alerts(ALERT)[0];
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["job"], "bridge-adapter");
    assert_eq!(
        alert["labels"]["instance"],
        format!("127.0.0.1:{}", adapter.port())
    );
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "crates/adapter/README.md#bridgeadaptercircuitbreakeropen"
    );
    // Pending came first, unless a poll fell wholly inside the 5 s `for:`
    // without seeing it (it polls every 250 ms, so it should not).
    assert_eq!(
        seen.first().map(String::as_str),
        Some("pending"),
        "{seen:?}"
    );
}
