//! Command-line options.

use std::path::PathBuf;

use clap::Parser;

/// Measures the bridge data layer against PostgreSQL's own limits, in one run.
///
/// Creates a private database on the server named by `DATABASE_URL` (or the
/// `PG*` variables), runs the cases of issues 5 and 12, prints one table and drops
/// the database again.
///
/// Example: `cargo run --release -p bridge-bench -- --json target/bench.json`
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Run every case briefly on small data (for CI; timings mean nothing).
    #[arg(long)]
    pub quick: bool,
    /// Write the result table as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Run only these cases (1-10); repeat or separate by commas. Default: all.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub case: Vec<u8>,
    /// Events in case 8's backlog (default 1 000 000, quick 2 000).
    #[arg(long, value_name = "N")]
    pub adapter_events: Option<u64>,
    /// Seconds each throughput measurement runs (default 5, quick 1).
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<u64>,
    /// Measure each throughput figure this many times, ours and the limit
    /// alternating, and report the median (default 3, quick 1).
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// The `bridge-admin` binary for case 5 (default: beside this binary).
    #[arg(long, value_name = "PATH")]
    pub bridge_admin: Option<PathBuf>,
    /// The `bridge-adapter` binary for case 10 (default: beside this binary).
    #[arg(long, value_name = "PATH")]
    pub bridge_adapter: Option<PathBuf>,
    /// The diesel_cli binary for case 5 (default: `diesel` on PATH, then ~/.cargo/bin).
    #[arg(long, value_name = "PATH")]
    pub diesel: Option<PathBuf>,
    /// The pgbench binary.
    #[arg(long, value_name = "PATH", default_value = "pgbench")]
    pub pgbench: PathBuf,
    /// Check-out health test of the pool: `on`, `off`, or `default` (the models crate's choice).
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub test_on_checkout: CheckoutTest,
    /// Which idle connection the pool hands out: `mru` (most recently used),
    /// `lru` (least recently used), or `default` (the models crate's choice).
    #[arg(long, value_name = "ORDER", default_value = "default")]
    pub checkout_order: Order,
}

/// Which idle connection the pool hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Keep the models crate's default.
    Default,
    /// The most recently used (a stack).
    Mru,
    /// The least recently used (a queue).
    Lru,
}

/// Whether the pool tests connections on check-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckoutTest {
    /// Keep the models crate's default.
    Default,
    /// Test every connection on check-out.
    On,
    /// Never test on check-out.
    Off,
}

impl Args {
    /// Whether case `n` is selected.
    pub fn runs_case(&self, n: u8) -> bool {
        self.case.is_empty() || self.case.contains(&n)
    }
}
