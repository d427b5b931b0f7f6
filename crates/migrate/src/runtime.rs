//! The blocking migration connection and the thread and runtime it runs on.

use std::{cell::RefCell, future::Future};

use diesel_async::{
    async_connection_wrapper::{AsyncConnectionWrapper, BlockOn},
    AsyncPgConnection,
};
use tokio::runtime::Runtime;

use crate::Result;

/// A blocking connection for Diesel's migration harness; open it with
/// [`ThisThread`] inside [`on_own_runtime`].
pub(crate) type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection, ThisThread>;

thread_local! {
    /// The runtime [`on_own_runtime`] runs its work on, while it does.
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Runs `work` on a blocking thread with a current-thread runtime of its own,
/// which [`ThisThread`] drives.
///
/// A connection opened there has its I/O task on that one thread too, so a
/// round trip hands nothing over between threads (on the shared runtime each
/// one woke a worker and then the blocking thread again). The runtime, and
/// with it the connection and the session's migration lock, ends when `work`
/// returns or panics.
pub(crate) async fn on_own_runtime<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // Fails only when the OS refuses an epoll or timer descriptor; the
        // panic then reaches the caller as MigrateError::Task.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        RUNTIME.set(Some(runtime));
        /// Drops the runtime however `work` ends.
        struct Ends;
        impl Drop for Ends {
            fn drop(&mut self) {
                drop(RUNTIME.take());
            }
        }
        let _ends = Ends;
        work()
    })
    .await?
}

/// Spawns `task` on the runtime [`on_own_runtime`] set up on this thread; it
/// runs while that runtime is driven, i.e. while a statement is under way.
pub(crate) fn spawn_here<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNTIME.with_borrow(|runtime| {
        runtime
            .as_ref()
            .expect("tasks are spawned inside on_own_runtime")
            .spawn(task)
    })
}

/// Blocks on the runtime [`on_own_runtime`] set up on this thread.
pub(crate) struct ThisThread;

impl BlockOn for ThisThread {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        RUNTIME.with_borrow(|runtime| {
            runtime
                .as_ref()
                .expect("migration connections live inside on_own_runtime")
                .block_on(future)
        })
    }

    fn get_runtime() -> Self {
        Self
    }
}
