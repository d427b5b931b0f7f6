//! The runtime the kit's blocking helpers run async code on.

use std::{future::Future, sync::OnceLock};

use tokio::runtime::Runtime;

/// One runtime for the whole test process, so that the I/O task of every
/// connection the kit opens lives as long as the connection, whichever
/// thread uses it.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bridge-testkit")
            .enable_all()
            .build()
            .expect("the test kit's runtime")
    })
}

/// Runs `future` to completion on the kit's runtime, from a thread of its
/// own so that it works inside an async test as well as outside.
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime().block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
