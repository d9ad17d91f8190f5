//! The process's shutdown as its parts see it: [`Gateway::serve`](crate::Gateway::serve)
//! starts the drain on SIGTERM (or its shutdown future); the listener stops accepting,
//! `/healthz` answers 503, websockets close with [`CLOSE_GOING_AWAY`], and in-flight
//! requests and background actions get `BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS` to finish.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The websocket close code of a server going away (RFC 6455): clients reconnect,
/// reaching another process or this one restarted.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Whether the process is shutting down; every clone sees the same.
#[derive(Clone)]
pub struct Drain {
    started: Arc<watch::Sender<bool>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            started: Arc::new(watch::channel(false).0),
        }
    }
}

impl Drain {
    /// Start shutting down (again is a no-op).
    pub fn start(&self) {
        self.started.send_replace(true);
    }

    /// Has the shutdown started?
    pub fn is_started(&self) -> bool {
        *self.started.borrow()
    }

    /// Resolves once the shutdown has started.
    pub async fn started(&self) {
        let mut seen = self.started.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = seen.wait_for(|started| *started).await;
    }
}

/// Run `serving` (an HTTP server that stops accepting and finishes its requests once
/// `drain` starts) until `shutdown` completes or it ends by itself; then start `drain`
/// and run `stopping` (the workers' own bounded shutdown) next to the server's, which
/// gets `timeout`: requests still running after it are dropped.
pub(crate) async fn serve_until<S>(
    serving: S,
    shutdown: impl Future<Output = ()> + Send,
    drain: &Drain,
    timeout: Duration,
    stopping: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    S: IntoFuture<Output = std::io::Result<()>>,
    S::IntoFuture: Send + 'static,
{
    let mut server = tokio::spawn(serving.into_future());
    let ended = tokio::select! {
        joined = &mut server => Some(joined),
        () = shutdown => None,
    };
    let started = Instant::now();
    drain.start();
    let served = match ended {
        Some(joined) => {
            stopping.await;
            flatten(joined)
        }
        None => {
            tracing::info!(
                timeout_s = timeout.as_secs(),
                "shutting down: finishing in-flight requests and background actions"
            );
            let requests = async {
                match tokio::time::timeout(timeout, &mut server).await {
                    Ok(joined) => flatten(joined),
                    Err(_) => {
                        tracing::warn!("requests still running at the shutdown timeout were dropped");
                        server.abort();
                        Ok(())
                    }
                }
            };
            let (served, ()) = tokio::join!(requests, stopping);
            served
        }
    };
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "stopped serving");
    served
}

fn flatten(joined: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    joined.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
