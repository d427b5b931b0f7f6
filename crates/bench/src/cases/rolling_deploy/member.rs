//! The deploy's `bridge-adapter` processes: started, asked what they own
//! and what they counted, and stopped with SIGTERM.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bridge_adapter::metrics::Totals;

use super::{owners::Partition, Assignment, PATIENCE};
use crate::{
    cases::adapter_latency::{FETCH_WAIT_MS, PREFIX},
    BenchResult,
};

/// What every member of one deploy shares.
pub struct Rig<'a> {
    pub program: &'a Path,
    pub brokers: String,
    pub database_url: &'a str,
    pub assignment: Assignment,
    /// Where each member's log goes.
    pub logs: &'a Path,
}

impl Rig<'_> {
    /// Starts member `member` as `name` with the adapter's defaults but for
    /// the broker, group, database, HTTP port, fetch wait and assignment.
    pub fn start(&self, member: usize, name: &str) -> BenchResult<Member> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = self
            .logs
            .join(format!("adapter-{}-{name}.log", self.assignment.group()));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(self.program)
            .current_dir(self.logs)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,librdkafka=warn")
            .args(["--brokers", &self.brokers])
            .args(["--group-id", self.assignment.group()])
            .args(["--topic-prefix", PREFIX])
            .args(["--database-url", self.database_url])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["-X", &format!("fetch.wait.max.ms={FETCH_WAIT_MS}")])
            .args(self.assignment.args(member))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|err| format!("starting {}: {err}", self.program.display()))?;
        Ok(Member {
            name: name.to_owned(),
            child,
            port,
            log,
        })
    }
}

/// One `bridge-adapter` process; killed when dropped.
pub struct Member {
    /// `1`, `1-again`, ...
    pub name: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Member {
    /// Its `/metrics` text, or `None` while it does not answer.
    async fn metrics(&self) -> Option<String> {
        self.get("/metrics").await
    }

    /// The partitions its `/health` says it owns (none while it does not answer).
    pub async fn owned(&self) -> BTreeSet<Partition> {
        let Some(health) = self.get("/health").await else {
            return BTreeSet::new();
        };
        let mut health: serde_json::Value = serde_json::from_str(&health).unwrap_or_default();
        let by_topic: BTreeMap<String, Vec<i32>> =
            serde_json::from_value(health["assignment"].take()).unwrap_or_default();
        by_topic
            .into_iter()
            .flat_map(|(topic, numbers)| numbers.into_iter().map(move |n| (topic.clone(), n)))
            .collect()
    }

    /// Writes its `/health` beside its log, to say what it owns and where each partition stands.
    pub async fn keep_health(&self) {
        let health = self.get("/health").await.unwrap_or_default();
        let _ = std::fs::write(self.log.with_extension("health.json"), health);
    }

    /// The body `path` answers with (whatever its status), or `None` while it does not answer.
    async fn get(&self, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .http_status_as_error(false)
                .build()
                .into();
            agent
                .get(&url)
                .call()
                .ok()?
                .body_mut()
                .read_to_string()
                .ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Its totals so far, from `/metrics`.
    pub async fn totals(&self) -> BenchResult<Totals> {
        let text = self
            .metrics()
            .await
            .ok_or_else(|| format!("no /metrics:\n{}", self.tail()))?;
        Ok(Totals::of(&text))
    }

    /// SIGTERM, then waits for a clean exit; its lifetime totals, from its
    /// last log line.
    pub async fn terminate(&mut self) -> BenchResult<Totals> {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !signalled.success() {
            return Err(format!("kill -TERM {} failed", self.child.id()).into());
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    let log = std::fs::read_to_string(&self.log)?;
                    Totals::from_log(&log).ok_or_else(|| {
                        format!("no totals when it stopped:\n{}", self.tail()).into()
                    })
                } else {
                    Err(format!("adapter exited {status}:\n{}", self.tail()).into())
                };
            }
            if Instant::now() > deadline {
                return Err(format!("adapter ignored SIGTERM:\n{}", self.tail()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines of its log (the scratch directory goes at the end of the run).
    fn tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(10).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
