//! Tells everything in this process that credentials ended: a store uninstalled, a staff
//! user removed. A long-lived connection (a websocket) subscribes and closes at once
//! instead of waiting for its next check. Events are hints, not verdicts: the channel is
//! process-wide (several gateways over several databases in one process, as in the tests,
//! share it), so a subscriber confirms with [`super::Auth::revalidate`].

use std::sync::LazyLock;
use tokio::sync::broadcast;

/// What ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The store uninstalled the app: every identity of the store.
    Store { store_id: i64 },
    /// A staff user was removed from the store's app.
    User { store_id: i64, user_id: String },
}

impl Revoked {
    /// Does this end the access of an identity of `store_id` and `user_id`?
    pub fn affects(&self, store_id: Option<i64>, user_id: Option<&str>) -> bool {
        match self {
            Revoked::Store { store_id: s } => store_id == Some(*s),
            Revoked::User {
                store_id: s,
                user_id: u,
            } => store_id == Some(*s) && user_id == Some(u.as_str()),
        }
    }
}

/// Events kept for a slow subscriber before it sees `Lagged` (and should recheck).
const CAPACITY: usize = 1024;

static CHANNEL: LazyLock<broadcast::Sender<Revoked>> = LazyLock::new(|| broadcast::channel(CAPACITY).0);

/// Receive every revocation from now on.
pub fn subscribe() -> broadcast::Receiver<Revoked> {
    CHANNEL.subscribe()
}

/// Tell the subscribers (none is fine).
pub fn announce(event: Revoked) {
    let _ = CHANNEL.send(event);
}

/// Keep `cache` clear of what revocations in this process end, for as long as it lives:
/// `forget` gets each event, or `None` when events were missed (then it should forget
/// everything).
pub fn prune<T: Send + 'static>(
    cache: std::sync::Weak<std::sync::Mutex<T>>,
    forget: impl Fn(&mut T, Option<&Revoked>) + Send + 'static,
) {
    let mut events = subscribe();
    tokio::spawn(async move {
        loop {
            let event = events.recv().await;
            let Some(cache) = cache.upgrade() else { return };
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            match event {
                Ok(event) => forget(&mut cache, Some(&event)),
                Err(broadcast::error::RecvError::Lagged(_)) => forget(&mut cache, None),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
