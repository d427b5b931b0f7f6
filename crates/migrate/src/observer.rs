//! A second connection that notes who blocks the migration session while it waits for a lock.
//!
//! Once `lock_timeout` has fired, the migration session waits for nothing
//! any more, so `pg_blocking_pids` can no longer name its blockers; the
//! observer looks while it still waits. It runs as a task on the runtime of
//! the migration thread, which the blocking connection drives whenever a
//! statement is under way, so it polls only while the migration talks to
//! the server.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel::sql_types::Integer;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::task::JoinHandle;

use crate::{
    blocker::{Blocker, BLOCKERS_OF},
    Result,
};

/// Notes the latest blockers of one session; stops when dropped.
pub(crate) struct Observer {
    latest: Arc<Mutex<Vec<Blocker>>>,
    task: JoinHandle<()>,
}

impl Observer {
    /// Starts watching session `pid` over the connection `connect` opens,
    /// looking every `every`. It connects in the background, while the
    /// migrations run, so that a run whose locks are free waits for nothing;
    /// without that connection it notes nothing.
    pub fn start<C>(connect: C, pid: i32, every: Duration) -> Self
    where
        C: Future<Output = Result<AsyncPgConnection>> + Send + 'static,
    {
        let latest = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&latest);
        let task = crate::runtime::spawn_here(async move {
            let mut conn = match connect.await {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::debug!("no lock observer: {err}");
                    return;
                }
            };
            loop {
                tokio::time::sleep(every).await;
                let found = diesel::sql_query(BLOCKERS_OF)
                    .bind::<Integer, _>(pid)
                    .load::<Blocker>(&mut conn)
                    .await;
                match found {
                    Ok(blockers) if blockers.is_empty() => {}
                    Ok(blockers) => *noted.lock().unwrap_or_else(|p| p.into_inner()) = blockers,
                    Err(err) => {
                        tracing::debug!("the lock observer stops: {err}");
                        return;
                    }
                }
            }
        });
        Self { latest, task }
    }

    /// Forgets what was noted, before a new attempt.
    pub fn clear(&self) {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The blockers last seen since [`clear`](Self::clear).
    pub fn blockers(&self) -> Vec<Blocker> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
