//! A TCP proxy in front of the test database server, which a test can cut (every
//! connection through it dropped, new ones held open without an answer, as a network
//! partition leaves them) and restore: a database outage that the other tests sharing
//! the server do not see.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A running proxy; it stops when dropped.
pub struct DbProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accepting: AbortHandle,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    /// The forwarding tasks: aborting one drops both of its sockets.
    forwarding: Mutex<Vec<AbortHandle>>,
    /// Connections accepted while cut, never answered.
    held: Mutex<Vec<TcpStream>>,
}

impl DbProxy {
    /// A proxy to `target` on a free local port.
    pub async fn start(target: SocketAddr) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared::default());
        let accepting = tokio::spawn(accept(listener, target, shared.clone())).abort_handle();
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
        let mut parsed = reqwest::Url::parse(url).expect("a database URL");
        parsed.set_host(Some("127.0.0.1")).expect("a host");
        parsed.set_port(Some(self.address.port())).expect("a port");
        parsed.to_string()
    }

    /// The outage: drop every connection, and hold new ones open without an answer.
    pub fn cut(&self) {
        let mut forwarding = self.shared.forwarding.lock().unwrap();
        self.shared.cut.store(true, Ordering::SeqCst);
        for task in forwarding.drain(..) {
            task.abort();
        }
    }

    /// The database is back: new connections go through again (the held ones are
    /// closed, as a recovered network resets them).
    pub fn restore(&self) {
        self.shared.held.lock().unwrap().clear();
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
        self.shared.held.lock().unwrap().clear();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        // Decided under the lock `cut` takes, so no connection slips through a cut.
        let mut forwarding = shared.forwarding.lock().unwrap();
        if shared.cut.load(Ordering::SeqCst) {
            shared.held.lock().unwrap().push(inbound);
            continue;
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
}
