//! Case 4: p50/p99 of every list and get query of the models crate on a
//! loaded database, against pgbench replaying the same SQL on the same
//! random keys, with each query's EXPLAIN plan (a sequential scan fails the
//! row).

use bridge_models::Db;
use bridge_testkit::TestDatabase;

use super::{dataset, read_queries::ReadQuery};
use crate::{
    direct::Direct,
    measure::{latencies, quantile},
    pgbench::{RunFor, MAX_SCRIPTS},
    report::{Plan, Row, Target, Unit},
    sql_capture, BenchResult, Context,
};

/// Keys each query reads, ours and pgbench's alike: as many as pgbench
/// takes scripts, one script per key.
const KEYS: usize = MAX_SCRIPTS;

/// A small, fast pseudo-random sequence (SplitMix64): reproducible draws.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Rows and plans of case 4.
pub async fn run(ctx: &Context) -> BenchResult<(Vec<Row>, Vec<Plan>)> {
    let size = ctx.scale.data;
    let db = TestDatabase::migrated();
    let direct = Direct::connect(db.url()).await?;
    dataset::partitions(&ctx.pool(&db).await?).await?;
    let loading = std::time::Instant::now();
    dataset::load(&direct, size).await?;
    eprintln!(
        "case 4: loaded {size:?} in {:.1} s",
        loading.elapsed().as_secs_f64()
    );
    // One connection, opened with the recorder, so every query can be captured.
    let mut config = ctx.pool_config(&db);
    config.max_connections = 1;
    let pool = sql_capture::with_recorder(Db::connect(config)).await?;
    let pgbench = ctx.pgbench(&db);
    let calls = ctx.scale.reads_per_query;
    let mut draws = Draws(5);
    let (mut rows, mut plans) = (Vec::new(), Vec::new());
    for query in ReadQuery::ALL {
        // One key set per query, read by ours and by pgbench alike: each
        // call of either picks one of these draws uniformly at random.
        let keys: Vec<u64> = (0..KEYS).map(|_| draws.next()).collect();
        let mut statements = Vec::with_capacity(keys.len());
        for &r in &keys {
            statements.push(capture(&pool, query, size, r).await?);
        }
        let sql = statements[0].clone();
        let plan = direct.column(&format!("EXPLAIN {sql}")).await?.join("\n");
        let seq_scan = scans_data(&plan);
        let ours = latencies(calls, |_| {
            let (pool, r) = (&pool, keys[(draws.next() % KEYS as u64) as usize]);
            async move {
                query.call(&mut *pool.conn().await?, size, r).await?;
                Ok(())
            }
        })
        .await?;
        let scripts: Vec<String> = statements.iter().map(|sql| format!("{sql};\n")).collect();
        let limit = pgbench.run_any(&scripts, 1, RunFor::Transactions(calls), true)?;
        let mut row = Row::measured(
            format!("4 {}", query.name()),
            Unit::P99Millis,
            quantile(&ours, 0.99),
            "pgbench same SQL, same keys",
            quantile(&limit.latencies_ms, 0.99),
            Target::IndexScanUnder { millis: 1.0 },
        )
        .with_note(format!(
            "p50 {:.3} ms (pgbench {:.3})",
            quantile(&ours, 0.5),
            quantile(&limit.latencies_ms, 0.5)
        ));
        if seq_scan {
            row = row.short_because("Seq Scan");
        }
        rows.push(row);
        plans.push(Plan {
            query: query.name().to_owned(),
            sql,
            plan,
            seq_scan,
        });
    }
    Ok((rows, plans))
}

/// Rows the planner may expect a sequential scan to return and still not
/// count as one: partitions that are empty (this month's before any write,
/// the default partition) or hold a page or so, which PostgreSQL rightly
/// reads whole rather than through an index.
const TRIVIAL_SEQ_SCAN_ROWS: u64 = 100;

/// Whether `plan` holds a sequential scan expected to return more than
/// [`TRIVIAL_SEQ_SCAN_ROWS`] rows: a scan of data, not of an empty partition.
fn scans_data(plan: &str) -> bool {
    plan.lines()
        .filter(|line| line.contains("Seq Scan"))
        .any(|line| {
            let rows = line
                .split("rows=")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<u64>().ok());
            rows.is_none_or(|rows| rows > TRIVIAL_SEQ_SCAN_ROWS)
        })
}

/// The SQL `query` sends for draw `r`, binds in line.
async fn capture(
    pool: &Db,
    query: ReadQuery,
    size: crate::scale::DataSize,
    r: u64,
) -> BenchResult<String> {
    let mut conn = pool.conn().await?;
    let (result, recorded) = sql_capture::record(query.call(&mut conn, size, r)).await;
    result?;
    let last = recorded
        .last()
        .ok_or_else(|| format!("{} sent no query", query.name()))?;
    Ok(sql_capture::inline_binds(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sequential_scans_of_more_than_a_few_rows_count() {
        let empty = "Append\n  ->  Seq Scan on fsm_transitions_default t  (cost=0.00..0.00 rows=1 width=744)";
        let data =
            "Seq Scan on fsm_transitions_p202501 t  (cost=0.00..1834.00 rows=33333 width=79)";
        let index = "Index Scan using fsm_transitions_p202501_pkey on fsm_transitions_p202501";
        assert!(!scans_data(empty));
        assert!(scans_data(data));
        assert!(!scans_data(index));
        assert!(scans_data("Seq Scan on t"), "no estimate: counted");
    }
}
