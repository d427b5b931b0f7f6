//! Profiling aid for the single-row append path: `N` appends through the pool
//! in a private database, nothing else, so `perf`, `strace -c` or
//! `valgrind --tool=callgrind` see only that path.
//!
//! `cargo run --release -p bridge-bench --example append_loop -- N TASKS [on|off] [multi|current]`
//! (N appends per task; check-out test on or off; tokio runtime flavour).

use std::time::Instant;

use bridge_models::{Db, FsmTransition, NewFsmTransition};
use bridge_testkit::TestDatabase;
use uuid::Uuid;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let appends: u64 = arg(0, "2000").parse().expect("N is a number");
    let tasks: u64 = arg(1, "1").parse().expect("TASKS is a number");
    let test_on_checkout = arg(2, "on") == "on";
    let runtime = match arg(3, "multi").as_str() {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    let test_db = TestDatabase::migrated();
    let mut config = test_db.config();
    config.test_on_checkout = test_on_checkout;
    runtime.block_on(async {
        let db = Db::connect(config).await.expect("the pool connects");
        // Warm up: open the connections and prepare the statements.
        run(&db, tasks, 50).await;
        let started = Instant::now();
        run(&db, tasks, appends).await;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{} appends in {elapsed:.3} s: {:.0}/s (check-out test {test_on_checkout})",
            appends * tasks,
            (appends * tasks) as f64 / elapsed
        );
    });
}

async fn run(db: &Db, tasks: u64, appends: u64) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..appends {
                    let mut conn = db.conn().await.expect("a pooled connection");
                    FsmTransition::append(&mut conn, &transition())
                        .await
                        .expect("the append succeeds");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("the task completes");
    }
}

fn transition() -> NewFsmTransition {
    NewFsmTransition {
        id: None,
        entity_id: Uuid::new_v4(),
        entity_type: "workflow".to_owned(),
        from_state: Some("PENDING".to_owned()),
        to_state: "PROCESSING".to_owned(),
        transition_event: "start".to_owned(),
        transition_data: serde_json::json!({}),
    }
}
