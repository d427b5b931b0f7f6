//! Faults under load through the pool, on a private cluster: restarts (fast and immediate) and terminated sessions lose no acknowledged row and write none twice; a full server is `ServerBusy`; the pool recovers by itself.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bridge_models::{Db, DbConfig, Error, FsmTransition, NewFsmTransition};
use bridge_testkit::PrivateCluster;
use bridge_tests::{count_rows, fixtures::new_transition};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// What the load saw: ids acknowledged, and each error's kind with how often.
#[derive(Default)]
struct Outcome {
    acknowledged: HashSet<Uuid>,
    errors: BTreeMap<&'static str, usize>,
}

fn kind(err: &Error) -> &'static str {
    match err {
        Error::ConnectionLost(_) => "ConnectionLost",
        Error::Unreachable { .. } => "Unreachable",
        Error::PoolTimeout(_) => "PoolTimeout",
        Error::ServerBusy { .. } => "ServerBusy",
        Error::Conflict(_) => "Conflict",
        _ => "other",
    }
}

fn pool_config(url: &str) -> DbConfig {
    let mut config = DbConfig::new(url);
    config.max_connections = 6;
    config.connect_timeout = Duration::from_secs(2);
    config.checkout_timeout = Duration::from_secs(2);
    config
}

/// One writer: appends transitions with ids of its own, singly or 20 at a
/// time, and retries each failed write with the same ids until it is
/// acknowledged, as an at-least-once producer does.
async fn writer(db: Db, task: usize, stop: Arc<AtomicBool>, outcome: Arc<Mutex<Outcome>>) {
    // Bounds the test: a server that never comes back fails it instead of hanging it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let entity = Uuid::new_v4();
    let mut n = 0;
    while !AtomicBool::load(&stop, Ordering::Relaxed) {
        let rows: Vec<NewFsmTransition> = (0..if task % 2 == 0 { 1 } else { 20 })
            .map(|_| {
                n += 1;
                NewFsmTransition {
                    id: Some(Uuid::now_v7()),
                    ..new_transition(entity, n)
                }
            })
            .collect();
        loop {
            let result = match db.conn().await {
                Ok(mut conn) if rows.len() == 1 => {
                    FsmTransition::append(&mut conn, &rows[0]).await.map(|_| ())
                }
                Ok(mut conn) => FsmTransition::ingest_many(&mut conn, &rows)
                    .await
                    .map(|_| ()),
                Err(err) => Err(err),
            };
            {
                let mut outcome = outcome.lock().unwrap();
                match result {
                    Ok(()) => {
                        outcome
                            .acknowledged
                            .extend(rows.iter().filter_map(|row| row.id));
                        break;
                    }
                    Err(err) => {
                        assert!(err.is_retryable(), "a fault gave a final error: {err:?}");
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "the server never came back: {err}"
                        );
                        *outcome.errors.entry(kind(&err)).or_default() += 1;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `fault` against `cluster` while eight writers load it, then checks
/// that every acknowledged row is stored exactly once and nothing else is.
async fn under_load(cluster: &Arc<PrivateCluster>, fault: fn(&PrivateCluster)) -> Outcome {
    let url = cluster.create_migrated_database("bridge");
    let db = Db::connect(pool_config(&url))
        .await
        .expect("the cluster answers");
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let writers: Vec<_> = (0..8)
        .map(|task| tokio::spawn(writer(db.clone(), task, stop.clone(), outcome.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acknowledged_before = outcome.lock().unwrap().acknowledged.len();

    let faulty = cluster.clone();
    tokio::task::spawn_blocking(move || fault(&faulty))
        .await
        .expect("the fault ran");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("a writer panicked");
    }

    // The same pool, never rebuilt, serves again: it recovered by itself.
    let mut conn = db.conn().await.expect("the pool recovered");
    let stored = count_rows(&mut conn, "fsm_transitions").await;
    let ids: Vec<Uuid> = {
        use bridge_schema::fsm_transitions::dsl::*;
        use diesel::QueryDsl;
        fsm_transitions
            .select(id)
            .load(&mut conn)
            .await
            .expect("the ids")
    };
    let outcome = Arc::try_unwrap(outcome).ok().unwrap().into_inner().unwrap();
    let stored_ids: HashSet<Uuid> = ids.into_iter().collect();
    assert!(
        outcome.acknowledged.len() > acknowledged_before,
        "the load went on after the fault"
    );
    let lost: Vec<_> = outcome.acknowledged.difference(&stored_ids).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged rows lost: {lost:?}",
        lost.len()
    );
    assert_eq!(
        stored as usize,
        outcome.acknowledged.len(),
        "every stored row was acknowledged exactly once (retries with the same ids wrote nothing twice)"
    );
    outcome
}

/// Asserts the writers saw the fault as lost connections (and the server
/// unreachable while it was down), never as anything else.
fn assert_the_fault_cut_connections_and_nothing_else(outcome: &Outcome) {
    assert!(
        outcome
            .errors
            .keys()
            .all(|kind| ["ConnectionLost", "Unreachable", "PoolTimeout"].contains(kind)),
        "{:?}",
        outcome.errors
    );
    assert!(
        outcome.errors.contains_key("ConnectionLost"),
        "{:?}",
        outcome.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_immediate_stop_under_load_loses_no_acknowledged_row() {
    let cluster = Arc::new(PrivateCluster::builder().start());
    let outcome = under_load(&cluster, |cluster| {
        cluster.stop_immediate();
        std::thread::sleep(Duration::from_millis(300));
        cluster.start();
    })
    .await;
    assert_the_fault_cut_connections_and_nothing_else(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fast_restart_and_terminated_sessions_under_load_lose_no_acknowledged_row() {
    let cluster = Arc::new(PrivateCluster::builder().start());
    let outcome = under_load(&cluster, |cluster| {
        cluster.restart();
        std::thread::sleep(Duration::from_millis(500));
        cluster.terminate_backends();
    })
    .await;
    assert_the_fault_cut_connections_and_nothing_else(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_connection_slots_is_busy_and_the_pool_recovers_when_one_frees() {
    let cluster = PrivateCluster::builder()
        .conf("max_connections", "4")
        .conf("superuser_reserved_connections", "0")
        .start();
    let url = cluster.create_migrated_database("bridge");
    let db = Db::connect_lazy(pool_config(&url)).expect("a well-formed URL");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            bridge_connect::establish(&url, Duration::from_secs(2))
                .await
                .expect("a slot"),
        );
    }

    let fresh = Db::connect(pool_config(&url)).await.map(drop);
    let checkout = db.conn().await.map(drop);

    assert!(matches!(fresh, Err(Error::ServerBusy { .. })), "{fresh:?}");
    assert!(
        matches!(checkout, Err(Error::ServerBusy { .. })),
        "{checkout:?}"
    );
    assert!(checkout.unwrap_err().is_retryable());
    held.pop();
    db.conn().await.expect("a slot is free again");
}
