//! What the write cases (1-3) share: one database, emptied before every
//! measurement of ours and of the limit.

use std::future::Future;

use bridge_models::Db;

use crate::{
    direct::Direct,
    measure::throughput,
    pgbench::{Pgbench, RunFor},
    BenchResult, Context,
};

/// The write cases' database, reached through our pool, directly and by pgbench.
pub struct Writes<'a> {
    /// The run's settings.
    pub ctx: &'a Context,
    /// Our side: the models crate's pool.
    pub pool: &'a Db,
    /// Set-up, resets and COPY.
    pub direct: &'a Direct,
    /// The limit's side.
    pub pgbench: &'a Pgbench,
}

impl Writes<'_> {
    /// Units per second of `op(pool)` in `tasks` concurrent tasks, from empty tables.
    pub async fn ours<F, Fut>(&self, tasks: usize, op: F) -> BenchResult<f64>
    where
        F: Fn(Db) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BenchResult<u64>> + Send + 'static,
    {
        self.direct.reset_write_tables().await?;
        let pool = self.pool.clone();
        let scale = &self.ctx.scale;
        throughput(tasks, scale.warmup, scale.duration, move |_, _| {
            op(pool.clone())
        })
        .await
    }

    /// Transactions per second of pgbench running `script` with `clients`
    /// clients, from empty tables.
    pub async fn pgbench_tps(&self, script: &str, clients: usize) -> BenchResult<f64> {
        self.direct.reset_write_tables().await?;
        let run = self.pgbench.run(
            script,
            clients,
            RunFor::Time(self.ctx.scale.duration),
            false,
        )?;
        Ok(run.tps)
    }
}
