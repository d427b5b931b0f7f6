//! Runs pgbench with a custom script: the limit for our writes and reads.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use crate::BenchResult;

/// Most scripts one pgbench run takes (pgbench's `MAX_SCRIPTS`).
pub const MAX_SCRIPTS: usize = 128;

/// A pgbench binary pointed at one database.
#[derive(Debug, Clone)]
pub struct Pgbench {
    binary: PathBuf,
    url: String,
    work_dir: PathBuf,
}

/// How long a pgbench run lasts.
#[derive(Debug, Clone, Copy)]
pub enum RunFor {
    /// A fixed time (pgbench `-T`, whole seconds).
    Time(Duration),
    /// A fixed number of transactions per client (pgbench `-t`).
    Transactions(usize),
}

/// What one pgbench run measured.
#[derive(Debug, Clone)]
pub struct PgbenchRun {
    /// Transactions per second, without the initial connection time.
    pub tps: f64,
    /// Per-transaction latencies in milliseconds, when asked for.
    pub latencies_ms: Vec<f64>,
}

impl Pgbench {
    /// pgbench at `binary`, writing scripts and logs under `work_dir`.
    pub fn new(binary: PathBuf, url: &str, work_dir: &Path) -> Self {
        Self {
            binary,
            url: url.to_owned(),
            work_dir: work_dir.to_owned(),
        }
    }

    /// Whether the binary runs at all.
    pub fn available(&self) -> bool {
        Command::new(&self.binary)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// Runs `script` with `clients` connections in prepared mode.
    ///
    /// Threads are `min(clients, cores)`, as many as our runtime has workers.
    pub fn run(
        &self,
        script: &str,
        clients: usize,
        run_for: RunFor,
        log_latencies: bool,
    ) -> BenchResult<PgbenchRun> {
        self.run_any(&[script], clients, run_for, log_latencies)
    }

    /// Runs `scripts` as [`run`](Self::run) does one, each transaction
    /// picking one of them uniformly at random (pgbench's choice among
    /// several `--file`s of equal weight); at most [`MAX_SCRIPTS`].
    pub fn run_any<S: AsRef<str>>(
        &self,
        scripts: &[S],
        clients: usize,
        run_for: RunFor,
        log_latencies: bool,
    ) -> BenchResult<PgbenchRun> {
        if scripts.is_empty() || scripts.len() > MAX_SCRIPTS {
            return Err(format!(
                "pgbench takes 1 to {MAX_SCRIPTS} scripts, not {}",
                scripts.len()
            )
            .into());
        }
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let log_prefix = self.work_dir.join(format!("log-{n}"));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-n", "-M", "prepared"])
            .arg(format!("--client={clients}"))
            .arg(format!("--jobs={}", clients.min(cores)));
        for (i, script) in scripts.iter().enumerate() {
            let script_path = self.work_dir.join(format!("script-{n}-{i}.sql"));
            std::fs::write(&script_path, script.as_ref())?;
            cmd.arg(format!("--file={}", script_path.display()));
        }
        match run_for {
            RunFor::Time(duration) => cmd.arg(format!("--time={}", duration.as_secs().max(1))),
            RunFor::Transactions(count) => cmd.arg(format!("--transactions={count}")),
        };
        if log_latencies {
            cmd.arg("--log")
                .arg(format!("--log-prefix={}", log_prefix.display()));
        }
        cmd.arg(&self.url);
        let out = cmd.output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "pgbench failed ({}): {}{}",
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let tps = parse_tps(&stdout).ok_or_else(|| {
            format!(
                "no tps in pgbench output: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let latencies_ms = if log_latencies {
            read_latency_logs(&self.work_dir, &format!("log-{n}"))?
        } else {
            Vec::new()
        };
        Ok(PgbenchRun { tps, latencies_ms })
    }
}

/// The `tps = N (without initial connection time)` figure.
fn parse_tps(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .filter(|line| line.starts_with("tps = "))
        .find(|line| line.contains("without initial connection time"))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|tps| tps.parse().ok())
}

/// Latencies (third field, microseconds) from every per-thread log file of a run.
fn read_latency_logs(dir: &Path, prefix: &str) -> BenchResult<Vec<f64>> {
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(&format!("{prefix}.")));
        if !is_log {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(micros) = line
                .split_whitespace()
                .nth(2)
                .and_then(|f| f.parse::<f64>().ok())
            {
                latencies.push(micros / 1000.0);
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_scripts_than_pgbench_takes_are_refused_before_it_runs() {
        let pgbench = Pgbench::new(
            "/nonexistent/pgbench".into(),
            "postgres://x/y",
            Path::new("."),
        );
        let scripts = vec!["SELECT 1;"; MAX_SCRIPTS + 1];
        let err = pgbench
            .run_any(&scripts, 1, RunFor::Transactions(1), false)
            .unwrap_err();
        assert!(err.to_string().contains("1 to 128 scripts"), "{err}");
    }

    #[test]
    fn tps_is_read_from_the_summary() {
        let out = "latency average = 0.292 ms\n\
                   initial connection time = 3.043 ms\n\
                   tps = 3419.884473 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(3419.884473));
        assert_eq!(parse_tps("nothing"), None);
    }
}
