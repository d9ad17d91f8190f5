//! Shared state of a running fake: stores, settings, records, webhook dispatch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::limits::{Faults, Limiter, RateLimit, RecordedRequest, StoreStats};
use crate::oauth::OAuthOptions;
use crate::store::{Event, StoreData};
use crate::webhooks::{Delivery, Dispatcher, WebhookOptions, outgoing};

/// Keeps the request log bounded in long benchmark runs.
const MAX_RECORDED_REQUESTS: usize = 100_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// One store of the fake.
pub struct Store {
    pub(crate) hash: String,
    pub(crate) access_token: RwLock<String>,
    /// Whether the app is installed on the store: uninstalling revokes its token.
    pub(crate) app_installed: std::sync::atomic::AtomicBool,
    pub(crate) data: RwLock<StoreData>,
    pub(crate) limiter: Mutex<Limiter>,
    pub(crate) stats: Mutex<StoreStats>,
    pub(crate) in_flight: AtomicU64,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
}

impl Store {
    pub(crate) fn new(data: StoreData, access_token: String) -> Self {
        Store {
            hash: data.hash.clone(),
            access_token: RwLock::new(access_token),
            app_installed: std::sync::atomic::AtomicBool::new(true),
            data: RwLock::new(data),
            limiter: Mutex::new(Limiter::default()),
            stats: Mutex::new(StoreStats::default()),
            in_flight: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let mut requests = lock(&self.requests);
        if requests.len() < MAX_RECORDED_REQUESTS {
            requests.push(request);
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub rate_limit: Option<RateLimit>,
    pub faults: Faults,
}

pub(crate) struct App {
    pub stores: RwLock<HashMap<String, Arc<Store>>>,
    pub settings: RwLock<Settings>,
    pub webhook_options: Arc<Mutex<WebhookOptions>>,
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    pub dispatcher: Dispatcher,
    pub oauth: Mutex<OAuthOptions>,
    pub fault_rng: Mutex<StdRng>,
    pub epoch: Instant,
    pub event_counter: AtomicU64,
    pub next_store_id: AtomicU64,
}

impl App {
    pub fn store(&self, hash: &str) -> Option<Arc<Store>> {
        read(&self.stores).get(hash).cloned()
    }

    /// Applies a write to a store's data and sends the webhooks it causes.
    pub fn write<T: Serialize>(
        &self,
        store: &Store,
        change: impl FnOnce(&mut StoreData) -> Result<(T, Vec<Event>), ApiError>,
    ) -> Result<Value, ApiError> {
        let (result, events, hooks, store_id) = {
            let mut data = write(&store.data);
            let (result, events) = change(&mut data)?;
            let hooks: Vec<_> = data.hooks.values().cloned().collect();
            (result, events, hooks, data.store_id)
        };
        self.emit(&store.hash, store_id, &hooks, &events);
        serde_json::to_value(result).map_err(|e| ApiError::internal(e.to_string()))
    }

    fn emit(&self, hash: &str, store_id: u64, hooks: &[crate::model::Hook], events: &[Event]) {
        if events.is_empty() || hooks.is_empty() {
            return;
        }
        let counter = self.event_counter.fetch_add(1, Ordering::Relaxed);
        self.dispatcher
            .send(outgoing(hooks, hash, store_id, events, counter));
    }
}
