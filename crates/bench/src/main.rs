//! bridge-bench: how close the bridge data layer comes to what PostgreSQL
//! itself can do, measured in one run on one machine.
//!
//! Run `cargo build --release -p bridge-admin -p bridge-bench &&
//! target/release/bridge-bench --json target/bench.json`; see the README.

mod args;
mod cases;
mod cpu;
mod direct;
mod measure;
mod pgbench;
mod report;
mod scale;
mod sql_capture;

use std::path::PathBuf;

use bridge_models::{CheckoutOrder, Db, DbConfig};
use bridge_testkit::TestDatabase;
use clap::Parser;

use crate::{
    args::{Args, CheckoutTest, Order},
    scale::Scale,
};

/// Errors of the benchmark's own machinery.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What every case needs: options, scale and a scratch directory.
pub struct Context {
    /// The command line.
    pub args: Args,
    /// Durations and sizes.
    pub scale: Scale,
    /// Scratch files: pgbench scripts and logs.
    pub work_dir: PathBuf,
}

impl Context {
    /// The repository's `migrations/` directory.
    pub fn migrations_dir(&self) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
    }

    /// Pool settings for `db`: the models crate's defaults, except as the
    /// command line overrides the check-out test and order.
    pub fn pool_config(&self, db: &TestDatabase) -> DbConfig {
        self.override_pool(db.config())
    }

    fn override_pool(&self, mut config: DbConfig) -> DbConfig {
        match self.args.test_on_checkout {
            CheckoutTest::Default => {}
            CheckoutTest::On => config.test_on_checkout = true,
            CheckoutTest::Off => config.test_on_checkout = false,
        }
        match self.args.checkout_order {
            Order::Default => {}
            Order::Mru => config.checkout_order = CheckoutOrder::MostRecentlyUsed,
            Order::Lru => config.checkout_order = CheckoutOrder::LeastRecentlyUsed,
        }
        config
    }

    /// The pool settings our side runs with, for the report header.
    pub fn pool_summary(&self) -> String {
        let config = self.override_pool(DbConfig::new("postgres://localhost/bench"));
        format!(
            "bb8, max {} connections, SELECT 1 on check-out {}, check-out order {}",
            config.max_connections,
            if config.test_on_checkout { "on" } else { "off" },
            match config.checkout_order {
                CheckoutOrder::MostRecentlyUsed => "most recently used",
                CheckoutOrder::LeastRecentlyUsed => "least recently used",
            }
        )
    }

    /// A pool on `db` with [`Context::pool_config`].
    pub async fn pool(&self, db: &TestDatabase) -> BenchResult<Db> {
        Ok(Db::connect(self.pool_config(db)).await?)
    }

    /// pgbench against `db`.
    pub fn pgbench(&self, db: &TestDatabase) -> pgbench::Pgbench {
        pgbench::Pgbench::new(self.args.pgbench.clone(), db.url(), &self.work_dir)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let scale = Scale::from_args(&args);
    let work_dir = std::env::temp_dir().join(format!("bridge-bench-{}", std::process::id()));
    if let Err(err) = std::fs::create_dir_all(&work_dir) {
        eprintln!("bridge-bench: cannot create {}: {err}", work_dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let ctx = Context {
        args,
        scale,
        work_dir,
    };
    let report = cases::run_all(&ctx).await;
    let failed = report
        .rows
        .iter()
        .any(|row| row.mark == report::Mark::Error);
    if failed {
        // The adapters' logs and the other scratch files explain the error.
        eprintln!(
            "bridge-bench: a case failed; its scratch files are kept in {}",
            ctx.work_dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&ctx.work_dir);
    }

    for plan in &report.plans {
        println!(
            "-- EXPLAIN {}{}",
            plan.query,
            if plan.seq_scan { "   <-- SEQ SCAN" } else { "" }
        );
        println!("{}\n", plan.plan);
    }
    println!(
        "bridge-bench{}: {}; pool: {}\n",
        if report.quick {
            " --quick (timings not meaningful)"
        } else {
            ""
        },
        report.machine,
        report.pool
    );
    print!("{}", report.table());
    if let Some(path) = &ctx.args.json {
        if let Err(err) = report.write_json(path) {
            eprintln!("bridge-bench: writing {}: {err}", path.display());
            return std::process::ExitCode::FAILURE;
        }
        println!("\nwrote {}", path.display());
    }
    // Timings never fail the run (CI must not judge them); broken cases do.
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
