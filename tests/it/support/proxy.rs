//! A TCP proxy in front of the test database server, which a test can cut and restore:
//! a database outage that the other tests sharing the server do not see. A cut drops
//! every connection through the proxy; new ones are then either held open without an
//! answer (a network partition: the worst case, every connect hangs) or refused (the
//! server is down: nothing listens on its port).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// How a cut treats new connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Accepted and never answered.
    Blackhole,
    /// Refused: the port is closed.
    Refuse,
}

/// A running proxy; it stops when dropped.
pub struct DbProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accepting: AbortHandle,
}

struct Shared {
    /// `None` while the database is reachable.
    outage: watch::Sender<Option<Outage>>,
    /// The forwarding tasks: aborting one drops both of its sockets.
    forwarding: Mutex<Vec<AbortHandle>>,
    /// Connections accepted during a blackhole, never answered.
    held: Mutex<Vec<TcpStream>>,
}

impl DbProxy {
    /// A proxy to `target` on a free local port.
    pub async fn start(target: SocketAddr) -> DbProxy {
        DbProxy::start_on("127.0.0.1".parse().unwrap(), target).await
    }

    /// A proxy to `target` on a free port of `ip` (an address of this machine).
    pub async fn start_on(ip: std::net::IpAddr, target: SocketAddr) -> DbProxy {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            outage: watch::channel(None).0,
            forwarding: Mutex::default(),
            held: Mutex::default(),
        });
        let accepting = tokio::spawn(serve(listener, target, shared.clone())).abort_handle();
        DbProxy {
            address,
            shared,
            accepting,
        }
    }

    /// A proxy to the server of `url` (`postgres://user@host:port/db`).
    pub async fn to(url: &str) -> DbProxy {
        let parsed = reqwest::Url::parse(url).expect("a database URL");
        let host = parsed.host_str().expect("a host");
        let port = parsed.port().unwrap_or(5432);
        let target = tokio::net::lookup_host((host, port))
            .await
            .expect("resolve the database host")
            .next()
            .expect("an address");
        DbProxy::start(target).await
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        super::url_at(url, self.address)
    }

    /// The outage: drop every connection, and treat new ones as `outage` says.
    pub fn cut(&self, outage: Outage) {
        let mut forwarding = self.shared.forwarding.lock().unwrap();
        self.shared.outage.send_replace(Some(outage));
        for task in forwarding.drain(..) {
            task.abort();
        }
    }

    /// The database is back: new connections go through again (held ones are closed,
    /// as a recovered network resets them).
    pub fn restore(&self) {
        self.shared.held.lock().unwrap().clear();
        self.shared.outage.send_replace(None);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        for task in self.shared.forwarding.lock().unwrap().drain(..) {
            task.abort();
        }
        self.shared.held.lock().unwrap().clear();
    }
}

/// Accept and forward; while refusing, hold no listener, then bind the same port again.
async fn serve(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    let address = listener.local_addr().expect("the proxy's address");
    let mut outage = shared.outage.subscribe();
    let mut listener = Some(listener);
    loop {
        if *outage.borrow_and_update() == Some(Outage::Refuse) {
            drop(listener.take());
            if outage.changed().await.is_err() {
                return;
            }
            continue;
        }
        let bound = match listener.take() {
            Some(bound) => bound,
            None => TcpListener::bind(address)
                .await
                .expect("bind the proxy's port again"),
        };
        tokio::select! {
            accepted = bound.accept() => {
                if let Ok((inbound, _)) = accepted {
                    take(inbound, target, &shared);
                }
            }
            changed = outage.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        listener = Some(bound);
    }
}

/// Forward `inbound`, or hold it during a blackhole. Decided under the lock that
/// [`DbProxy::cut`] takes, so no connection slips through a cut.
fn take(mut inbound: TcpStream, target: SocketAddr, shared: &Shared) {
    let mut forwarding = shared.forwarding.lock().unwrap();
    if shared.outage.borrow().is_some() {
        shared.held.lock().unwrap().push(inbound);
        return;
    }
    let task = tokio::spawn(async move {
        let Ok(mut outbound) = TcpStream::connect(target).await else {
            return;
        };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    forwarding.retain(|t| !t.is_finished());
    forwarding.push(task.abort_handle());
}
