//! The tasks the adapter runs beside its consumer loop, watched: when one
//! stops by itself the adapter stops too, rather than run half-alive.

use std::{future::Future, net::SocketAddr};

use tokio::task::{JoinError, JoinHandle};

use crate::{error::AdapterError, health::Health};

/// The HTTP server and the parked-event sweep.
pub(crate) struct Tasks {
    /// Serves `/health` and `/metrics` until the stop signal.
    pub(crate) http: JoinHandle<std::io::Result<()>>,
    /// Sweeps parked events until the stop signal.
    pub(crate) sweep: JoinHandle<()>,
}

/// A task that stopped by itself, and how.
pub(crate) enum Died {
    /// The HTTP server: its error (or its end), or its panic.
    Http(Result<std::io::Result<()>, JoinError>),
    /// The sweep, which only ends on the stop signal: its panic, if it panicked.
    Sweep(Result<(), JoinError>),
}

impl Died {
    /// Which task, and why it stopped.
    fn describe(&self) -> (&'static str, String) {
        const HTTP: &str = "the HTTP server";
        const SWEEP: &str = "the parked-event sweep";
        match self {
            Self::Http(Ok(Ok(()))) => (HTTP, "it closed".to_owned()),
            Self::Http(Ok(Err(err))) => (HTTP, err.to_string()),
            Self::Http(Err(panic)) => (HTTP, panic.to_string()),
            Self::Sweep(Ok(())) => (SWEEP, "it returned".to_owned()),
            Self::Sweep(Err(panic)) => (SWEEP, panic.to_string()),
        }
    }
}

impl Tasks {
    /// Waits for `shutdown`, or for a task to stop by itself first: then
    /// logs it and marks `health` failed (`/health` answers 503).
    pub(crate) async fn watch(
        &mut self,
        shutdown: impl Future<Output = ()>,
        health: &Health,
    ) -> Option<Died> {
        let died = tokio::select! {
            () = shutdown => None,
            ended = &mut self.http => Some(Died::Http(ended)),
            ended = &mut self.sweep => Some(Died::Sweep(ended)),
        };
        match &died {
            None => tracing::info!("shutdown requested: finishing the in-flight batch"),
            Some(died) => {
                let (task, reason) = died.describe();
                tracing::error!(task, %reason, "a task the adapter needs stopped: finishing the in-flight batch, then exiting");
                health.set_failed(format!("{task} stopped: {reason}"));
            }
        }
        died
    }

    /// Waits for the tasks still running (after the stop signal), and says
    /// how the adapter ends: `Ok` after a clean shutdown.
    pub(crate) async fn finish(
        self,
        died: Option<Died>,
        http_addr: SocketAddr,
    ) -> Result<(), AdapterError> {
        let died = match died {
            Some(died @ Died::Http(_)) => {
                let _ = self.sweep.await;
                died
            }
            Some(died @ Died::Sweep(_)) => {
                let _ = self.http.await;
                died
            }
            None => {
                let _ = self.sweep.await;
                match self.http.await {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(source)) => {
                        return Err(AdapterError::Http {
                            addr: http_addr,
                            source,
                        })
                    }
                    Err(panic) => Died::Http(Err(panic)),
                }
            }
        };
        let (task, reason) = died.describe();
        Err(AdapterError::TaskDied { task, reason })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::watch;

    use super::*;

    /// Tasks that run until `stop` turns true, unless `sweep_panics`.
    fn tasks(stop: &watch::Receiver<bool>, sweep_panics: bool) -> Tasks {
        let mut http_stop = stop.clone();
        let mut sweep_stop = stop.clone();
        Tasks {
            http: tokio::spawn(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
                Ok(())
            }),
            sweep: tokio::spawn(async move {
                assert!(!sweep_panics, "the sweep's bug");
                let _ = sweep_stop.wait_for(|stop| *stop).await;
            }),
        }
    }

    fn addr() -> SocketAddr {
        ([127, 0, 0, 1], 8062).into()
    }

    #[tokio::test]
    async fn a_sweep_that_dies_fails_health_and_ends_the_adapter_with_its_reason() {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tasks(&stopped, true);
        let health = Health::default();

        let died = tasks.watch(std::future::pending(), &health).await;
        let _ = stop.send(true);
        let ended = tokio::time::timeout(Duration::from_secs(10), tasks.finish(died, addr()))
            .await
            .expect("the HTTP server stops on the signal");

        let Err(AdapterError::TaskDied { task, reason }) = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(task, "the parked-event sweep");
        assert!(reason.contains("panicked"), "{reason}");
        assert!(health.failure().is_some_and(|f| f.contains("sweep")));
    }

    #[tokio::test]
    async fn an_http_server_that_fails_ends_the_adapter_with_its_error() {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tasks(&stopped, false);
        tasks.http = tokio::spawn(async {
            Err(std::io::Error::other("accept failed: too many open files"))
        });
        let health = Health::default();

        let died = tasks.watch(std::future::pending(), &health).await;
        let _ = stop.send(true);
        let ended = tasks.finish(died, addr()).await;

        assert!(
            matches!(&ended, Err(AdapterError::TaskDied { task: "the HTTP server", reason }) if reason.contains("too many open files")),
            "{ended:?}"
        );
        assert!(health.failure().is_some());
    }

    #[tokio::test]
    async fn a_shutdown_stops_both_and_ends_cleanly() {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tasks(&stopped, false);
        let health = Health::default();

        let died = tasks.watch(async {}, &health).await;
        let _ = stop.send(true);

        assert!(tasks.finish(died, addr()).await.is_ok());
        assert!(health.failure().is_none());
    }
}
