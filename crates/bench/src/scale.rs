//! How long and how big each case runs: full scale or `--quick`.

use std::time::Duration;

use crate::args::Args;

/// Durations, repetitions and data-set sizes of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Whether this is the brief CI run.
    pub quick: bool,
    /// How long each throughput measurement runs.
    pub duration: Duration,
    /// How long the untimed warm-up before each of our measurements runs.
    pub warmup: Duration,
    /// How many times each throughput pair is measured (median reported).
    pub rounds: usize,
    /// Rows loaded for case 4.
    pub data: DataSize,
    /// Timed calls of each query in case 4.
    pub reads_per_query: usize,
    /// Repetitions of each migration command in case 5 (median reported).
    pub migration_runs: usize,
    /// Events in the backlog case 8 drains.
    pub adapter_events: u64,
    /// How long case 8 produces at a steady 1 000 events/s to measure latency.
    pub adapter_steady: Duration,
    /// How long case 10 produces before its rolling deploy starts.
    pub deploy_warmup: Duration,
}

/// Row counts of the case 4 data set.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DataSize {
    /// Workflow executions.
    pub workflows: u64,
    /// Workflow steps (five per workflow).
    pub steps: u64,
    /// FSM transitions (ten per workflow).
    pub transitions: u64,
    /// Metadata stamps (one per workflow).
    pub stamps: u64,
    /// Bridge states.
    pub bridge_states: u64,
    /// Node registrations.
    pub nodes: u64,
}

impl Scale {
    /// The scale the command line asks for.
    pub fn from_args(args: &Args) -> Self {
        let quick = args.quick;
        let secs = args.seconds.unwrap_or(if quick { 1 } else { 5 });
        let divisor = if quick { 100 } else { 1 };
        Self {
            quick,
            duration: Duration::from_secs(secs.max(1)),
            warmup: Duration::from_millis(if quick { 200 } else { 1000 }),
            rounds: args.rounds.unwrap_or(if quick { 1 } else { 3 }).max(1),
            data: DataSize {
                workflows: 100_000 / divisor,
                steps: 500_000 / divisor,
                transitions: 1_000_000 / divisor,
                stamps: 100_000 / divisor,
                bridge_states: 1_000,
                nodes: 1_000,
            },
            reads_per_query: if quick { 200 } else { 5_000 },
            migration_runs: if quick { 1 } else { 11 },
            adapter_events: args
                .adapter_events
                .unwrap_or(if quick { 2_000 } else { 1_000_000 }),
            adapter_steady: Duration::from_secs(if quick { 2 } else { 30 }),
            deploy_warmup: Duration::from_secs(if quick { 2 } else { 10 }),
        }
    }
}
