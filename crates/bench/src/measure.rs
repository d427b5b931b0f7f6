//! Drivers that time our side: throughput over N tasks, latency of one call.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::BenchResult;

/// Runs `op` in `tasks` concurrent tasks for `duration` (after an untimed
/// `warmup`) and returns the units it reported per second.
///
/// `op(task, iteration)` returns how many units (rows, workflows) it did.
pub async fn throughput<F, Fut>(
    tasks: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> BenchResult<f64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<u64>> + Send + 'static,
{
    let op = Arc::new(op);
    run_tasks(tasks, warmup, Arc::clone(&op)).await?;
    let started = Instant::now();
    let units = run_tasks(tasks, duration, op).await?;
    Ok(units as f64 / started.elapsed().as_secs_f64())
}

async fn run_tasks<F, Fut>(tasks: usize, duration: Duration, op: Arc<F>) -> BenchResult<u64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<u64>> + Send + 'static,
{
    let deadline = Instant::now() + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut units = 0;
                let mut iteration = 0;
                while Instant::now() < deadline {
                    units += op(task, iteration).await?;
                    iteration += 1;
                }
                BenchResult::Ok(units)
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await??;
    }
    Ok(total)
}

/// Calls `op(i)` for `i` in `0..calls`, one at a time, and returns each call's latency in ms.
pub async fn latencies<F, Fut>(calls: usize, mut op: F) -> BenchResult<Vec<f64>>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = BenchResult<()>>,
{
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..calls as u64 {
        let started = Instant::now();
        op(i).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}

/// The `q`-quantile (0..=1) of `values`, by nearest rank.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
