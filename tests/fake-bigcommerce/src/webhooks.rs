//! Webhook deliveries: the POSTs BigCommerce sends to registered hooks.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::model::Hook;
use crate::store::Event;

/// How deliveries misbehave, like BigCommerce's at-least-once, unordered delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookOptions {
    /// Share of deliveries sent twice (same `hash`).
    pub duplicate: f64,
    /// Share of deliveries never sent.
    pub drop: f64,
    /// Wait before each delivery.
    pub delay: Duration,
    /// Collect events for `batch_window` and send each batch in random order.
    pub shuffle: bool,
    pub batch_window: Duration,
    pub timeout: Duration,
    /// When set, deliveries carry Standard Webhooks signature headers (`webhook-id`,
    /// `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
    /// `"{id}.{timestamp}.{raw body}"`), keyed with this secret (the app's client secret).
    pub signing_secret: Option<String>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            duplicate: 0.0,
            drop: 0.0,
            delay: Duration::ZERO,
            shuffle: false,
            batch_window: Duration::from_millis(50),
            timeout: Duration::from_secs(10),
            signing_secret: None,
        }
    }
}

/// One delivery attempt (or a dropped one).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub hook_id: i64,
    pub destination: String,
    pub scope: String,
    pub body: Value,
    pub headers: BTreeMap<String, String>,
    /// The receiver's status; `None` when it could not be reached or the delivery was dropped.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub dropped: bool,
    pub duplicate: bool,
}

pub(crate) struct Outgoing {
    hook: Hook,
    scope: String,
    body: Value,
}

/// Builds the delivery bodies of `events` for every matching active hook.
pub(crate) fn outgoing(
    hooks: &[Hook],
    store_hash: &str,
    store_id: u64,
    events: &[Event],
    counter: u64,
) -> Vec<Outgoing> {
    let created_at = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        // The same event keeps the same hash on every delivery attempt and duplicate.
        let mut hasher = DefaultHasher::new();
        (store_hash, &event.scope, event.data.to_string(), counter, i).hash(&mut hasher);
        let a = hasher.finish();
        a.hash(&mut hasher);
        let b = hasher.finish();
        let hash = format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32);
        let body = json!({
            "scope": event.scope,
            "store_id": store_id.to_string(),
            "data": event.data,
            "hash": hash,
            "created_at": created_at,
            "producer": format!("stores/{store_hash}"),
        });
        for hook in hooks
            .iter()
            .filter(|h| h.is_active && crate::store::scope_matches(&h.scope, &event.scope))
        {
            out.push(Outgoing {
                hook: hook.clone(),
                scope: event.scope.clone(),
                body: body.clone(),
            });
        }
    }
    out
}

#[derive(Clone)]
pub(crate) struct Dispatcher {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Dispatcher {
    pub fn start(
        options: Arc<Mutex<WebhookOptions>>,
        deliveries: Arc<Mutex<Vec<Delivery>>>,
        seed: u64,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let http = reqwest::Client::new();
        let task = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_B00C);
            while let Some(first) = rx.recv().await {
                let opts = options.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let mut batch = vec![first];
                if opts.shuffle {
                    let until = tokio::time::Instant::now() + opts.batch_window;
                    while let Ok(Some(next)) = tokio::time::timeout_at(until, rx.recv()).await {
                        batch.push(next);
                    }
                    batch.shuffle(&mut rng);
                }
                for item in batch {
                    let mut headers: BTreeMap<String, String> = item.hook.headers.clone().unwrap_or_default();
                    headers.insert("content-type".into(), "application/json".into());
                    let record = Delivery {
                        hook_id: item.hook.id,
                        destination: item.hook.destination.clone(),
                        scope: item.scope.clone(),
                        body: item.body.clone(),
                        headers,
                        status: None,
                        error: None,
                        dropped: false,
                        duplicate: false,
                    };
                    if rng.random_bool(opts.drop.clamp(0.0, 1.0)) {
                        deliveries
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Delivery {
                                dropped: true,
                                ..record
                            });
                        continue;
                    }
                    let copies = if rng.random_bool(opts.duplicate.clamp(0.0, 1.0)) {
                        2
                    } else {
                        1
                    };
                    let http = http.clone();
                    let deliveries = deliveries.clone();
                    let opts = opts.clone();
                    tokio::spawn(async move {
                        for copy in 0..copies {
                            if !opts.delay.is_zero() {
                                tokio::time::sleep(opts.delay).await;
                            }
                            let raw = record.body.to_string();
                            let mut done = Delivery {
                                duplicate: copy > 0,
                                ..record.clone()
                            };
                            if let Some(secret) = &opts.signing_secret {
                                let id = record.body["hash"].as_str().unwrap_or_default().to_string();
                                let timestamp = chrono::Utc::now().timestamp().to_string();
                                let signature = sign(secret, &id, &timestamp, &raw);
                                done.headers.insert("webhook-id".into(), id);
                                done.headers.insert("webhook-timestamp".into(), timestamp);
                                done.headers.insert("webhook-signature".into(), signature);
                            }
                            let mut request = http.post(&record.destination).timeout(opts.timeout).body(raw);
                            for (name, value) in &done.headers {
                                request = request.header(name.as_str(), value.as_str());
                            }
                            match request.send().await {
                                Ok(response) => done.status = Some(response.status().as_u16()),
                                Err(e) => done.error = Some(e.to_string()),
                            }
                            deliveries.lock().unwrap_or_else(|e| e.into_inner()).push(done);
                        }
                    });
                }
            }
        });
        (Dispatcher { tx }, task)
    }

    pub fn send(&self, items: Vec<Outgoing>) {
        for item in items {
            // The receiver only goes away when the server shuts down.
            let _ = self.tx.send(item);
        }
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, as Standard Webhooks signs.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed with Python's hmac/hashlib for the same inputs.
        assert_eq!(
            super::sign("client-secret", "msg_1", "1700000000", r#"{"a":1}"#),
            "v1,8LHi0J3Hz/lkrr7wQwiEEzHR2wJqdi0ixkVEhBR5g6U="
        );
    }
}
