//! Case 7: our writes into the partitioned `fsm_transitions` against the
//! same writes into the plain table it replaced (single appends at 1 and 8
//! tasks, `append_many` of 100 and `ingest_many` of 1 000 rows per call).

use bridge_models::{Db, FsmTransition, NewFsmTransition};
use bridge_testkit::TestDatabase;

use super::{plain_tables, single_append::new_transition};
use crate::{
    direct::Direct,
    measure::{median, throughput},
    report::{Row, Target, Unit},
    BenchResult, Context,
};

/// One write of case 7.
#[derive(Clone, Copy)]
enum Write {
    Single,
    AppendMany(usize),
    IngestMany(usize),
}

impl Write {
    async fn once(self, pool: Db) -> BenchResult<u64> {
        let mut conn = pool.conn().await?;
        Ok(match self {
            Self::Single => {
                FsmTransition::append(&mut conn, &new_transition()).await?;
                1
            }
            Self::AppendMany(size) => {
                let batch: Vec<NewFsmTransition> = (0..size).map(|_| new_transition()).collect();
                FsmTransition::append_many(&mut conn, &batch).await?.len() as u64
            }
            Self::IngestMany(size) => {
                let batch: Vec<NewFsmTransition> = (0..size).map(|_| new_transition()).collect();
                FsmTransition::ingest_many(&mut conn, &batch).await? as u64
            }
        })
    }
}

/// One side: a database, reached by our pool and directly (for resets).
struct Side {
    _db: TestDatabase,
    pool: Db,
    direct: Direct,
}

impl Side {
    async fn new(ctx: &Context, db: TestDatabase) -> BenchResult<Self> {
        Ok(Self {
            pool: ctx.pool(&db).await?,
            direct: Direct::connect(db.url()).await?,
            _db: db,
        })
    }

    /// Rows per second of `write` in `tasks` tasks, from empty tables.
    async fn rate(&self, ctx: &Context, write: Write, tasks: usize) -> BenchResult<f64> {
        self.direct.reset_write_tables().await?;
        let pool = self.pool.clone();
        throughput(tasks, ctx.scale.warmup, ctx.scale.duration, move |_, _| {
            write.once(pool.clone())
        })
        .await
    }
}

/// Rows of case 7, partitioned against plain, alternating, median of the rounds.
pub async fn run(ctx: &Context) -> BenchResult<Vec<Row>> {
    let partitioned = Side::new(ctx, TestDatabase::migrated()).await?;
    let plain = Side::new(ctx, plain_tables::database().await?).await?;
    let writes = [
        ("single append, 1 task", Write::Single, 1),
        ("single append, 8 tasks", Write::Single, 8),
        ("append_many, 100 rows/call", Write::AppendMany(100), 1),
        ("ingest_many, 1 000 rows/call", Write::IngestMany(1_000), 1),
    ];
    let mut rows = Vec::new();
    for (name, write, tasks) in writes {
        let (mut ours, mut limit) = (Vec::new(), Vec::new());
        for _ in 0..ctx.scale.rounds {
            ours.push(partitioned.rate(ctx, write, tasks).await?);
            limit.push(plain.rate(ctx, write, tasks).await?);
        }
        rows.push(Row::measured(
            format!("7 partitioned {name}"),
            Unit::RowsPerSec,
            median(&ours),
            "same call, plain table",
            median(&limit),
            Target::MinRatio { ratio: 0.9 },
        ));
    }
    Ok(rows)
}
