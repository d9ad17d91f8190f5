//! A fake BigCommerce: a real HTTP server that speaks BigCommerce's REST API (catalog and
//! customers v3, orders v2, hooks, the OAuth token exchange), enforces per-store rate limits,
//! injects faults, sends webhooks, and records what it saw so tests can assert on it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
//! let fake = FakeBigCommerce::start(
//!     FakeOptions::default().store(StoreSpec::new("abc123", "token").products(1_000)),
//! )
//! .await?;
//! println!("{}/stores/abc123/v3/catalog/products", fake.url());
//! # Ok(()) }
//! ```

mod app;
mod catalog;
pub mod error;
pub mod generate;
pub mod limits;
mod metafields;
pub mod model;
pub mod oauth;
mod orders;
pub mod paging;
mod server;
pub mod store;
pub mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use app::{App, Settings, Store, lock, read, write};
pub use error::ApiError;
pub use generate::StoreSpec;
pub use limits::{Faults, RateLimit, RecordedRequest, StoreStats, WindowStats};
pub use oauth::{OAuthGrant, OAuthOptions, OAuthUser};
pub use store::{Event, StoreData};
pub use webhooks::{Delivery, WebhookOptions};

/// How a fake starts. Rate limiting is on by default (150 per 30 s, like a Standard store).
#[derive(Clone, Debug)]
pub struct FakeOptions {
    pub stores: Vec<StoreSpec>,
    pub rate_limit: Option<RateLimit>,
    pub faults: Faults,
    pub webhooks: WebhookOptions,
    pub oauth: OAuthOptions,
    /// Seed of the fault and webhook randomness.
    pub seed: u64,
    /// 0 picks a free port.
    pub port: u16,
    /// Listen address; loopback by default.
    pub host: [u8; 4],
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            stores: Vec::new(),
            rate_limit: Some(RateLimit::default()),
            faults: Faults::default(),
            webhooks: WebhookOptions::default(),
            oauth: OAuthOptions::default(),
            seed: 42,
            port: 0,
            host: [127, 0, 0, 1],
        }
    }
}

impl FakeOptions {
    pub fn store(mut self, spec: StoreSpec) -> Self {
        self.stores.push(spec);
        self
    }
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
    pub fn webhooks(mut self, webhooks: WebhookOptions) -> Self {
        self.webhooks = webhooks;
        self
    }
    pub fn oauth(mut self, oauth: OAuthOptions) -> Self {
        self.oauth = oauth;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A running fake. Dropping it stops the server.
pub struct FakeBigCommerce {
    app: Arc<App>,
    addr: SocketAddr,
    url: String,
    server: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

impl FakeBigCommerce {
    /// Generates the stores and starts serving on a local port.
    pub async fn start(options: FakeOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((options.host, options.port))).await?;
        Self::serve_on(listener, options).await
    }

    /// As [`FakeBigCommerce::start`], on a listener the caller bound: one made inside a
    /// network namespace of its own, say, to be another host. Its address is the URL's.
    pub async fn start_on(listener: std::net::TcpListener, options: FakeOptions) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Self::serve_on(TcpListener::from_std(listener)?, options).await
    }

    async fn serve_on(listener: TcpListener, options: FakeOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let webhook_options = Arc::new(Mutex::new(options.webhooks.clone()));
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let (dispatcher, dispatcher_task) =
            webhooks::Dispatcher::start(webhook_options.clone(), deliveries.clone(), options.seed);
        let mut stores = HashMap::new();
        for (i, spec) in options.stores.iter().enumerate() {
            let data = generate::generate(spec, 1_000_000 + i as u64);
            stores.insert(
                spec.hash.clone(),
                Arc::new(Store::new(data, spec.access_token.clone())),
            );
        }
        let app = Arc::new(App {
            next_store_id: AtomicU64::new(1_000_000 + stores.len() as u64),
            stores: RwLock::new(stores),
            settings: RwLock::new(Settings {
                rate_limit: options.rate_limit.clone(),
                faults: options.faults.clone(),
            }),
            webhook_options,
            deliveries,
            dispatcher,
            oauth: Mutex::new(options.oauth.clone()),
            fault_rng: Mutex::new(StdRng::seed_from_u64(options.seed)),
            epoch: tokio::time::Instant::now(),
            event_counter: AtomicU64::new(0),
        });
        let server = server::serve(listener, server::router(app.clone()));
        Ok(FakeBigCommerce {
            url: format!("http://{addr}"),
            addr,
            app,
            server,
            dispatcher: dispatcher_task,
        })
    }

    /// `http://127.0.0.1:{port}`: the API base URL to give a client.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self, hash: &str) -> Option<StoreHandle> {
        self.app.store(hash).map(|store| StoreHandle {
            app: self.app.clone(),
            store,
        })
    }

    /// Adds (or replaces) a generated store while running.
    pub fn add_store(&self, spec: StoreSpec) -> StoreHandle {
        let id = self.app.next_store_id.fetch_add(1, Ordering::Relaxed);
        let store = Arc::new(Store::new(
            generate::generate(&spec, id),
            spec.access_token.clone(),
        ));
        write(&self.app.stores).insert(spec.hash.clone(), store.clone());
        StoreHandle {
            app: self.app.clone(),
            store,
        }
    }

    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        write(&self.app.settings).rate_limit = limit;
    }

    pub fn set_faults(&self, faults: Faults) {
        write(&self.app.settings).faults = faults;
    }

    pub fn set_webhook_options(&self, options: WebhookOptions) {
        *lock(&self.app.webhook_options) = options;
    }

    pub fn add_oauth_grant(&self, grant: OAuthGrant) {
        lock(&self.app.oauth).grants.push(grant);
    }

    /// Every delivery made (or dropped) so far, in the order they finished.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.app.deliveries).clone()
    }

    /// Waits until at least `count` deliveries are recorded, or `timeout` passes.
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count || tokio::time::Instant::now() >= deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops serving and closes every open connection.
    pub async fn shutdown(self) {
        self.server.abort();
        self.dispatcher.abort();
    }
}

impl Drop for FakeBigCommerce {
    fn drop(&mut self) {
        self.server.abort();
        self.dispatcher.abort();
    }
}

/// One store of a running fake: its records and data, and writes that send webhooks exactly
/// like writes through the API.
#[derive(Clone)]
pub struct StoreHandle {
    app: Arc<App>,
    store: Arc<Store>,
}

impl StoreHandle {
    pub fn hash(&self) -> &str {
        &self.store.hash
    }

    pub fn access_token(&self) -> String {
        read(&self.store.access_token).clone()
    }

    pub fn set_access_token(&self, token: impl Into<String>) {
        *write(&self.store.access_token) = token.into();
    }

    /// The merchant uninstalls the app, as BigCommerce does it: the app's access token is
    /// revoked (every call with it answers 401) and the app's hooks are deleted. An
    /// install (the OAuth code exchange) brings it back with the new token.
    pub fn uninstall_app(&self) {
        self.store.app_installed.store(false, Ordering::Relaxed);
        write(&self.store.data).hooks.clear();
    }

    /// Is the app installed (its token accepted)?
    pub fn app_installed(&self) -> bool {
        self.store.app_installed.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> StoreStats {
        lock(&self.store.stats).clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.store.requests).clone()
    }

    /// Clears the stats and the request log (not the quota state).
    pub fn reset_stats(&self) {
        *lock(&self.store.stats) = StoreStats::default();
        lock(&self.store.requests).clear();
    }

    /// Reads the store's data.
    pub fn with_data<R>(&self, f: impl FnOnce(&StoreData) -> R) -> R {
        f(&read(&self.store.data))
    }

    fn change<T: serde::Serialize>(
        &self,
        f: impl FnOnce(&mut StoreData) -> Result<(T, Vec<Event>), ApiError>,
    ) -> Result<Value, ApiError> {
        self.app.write(&self.store, f)
    }

    pub fn create_product(&self, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_product(&body))
    }
    pub fn update_product(&self, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_product(id, &body))
    }
    pub fn delete_product(&self, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_product(id).map(|e| ((), e))).map(drop)
    }
    pub fn create_variant(&self, product_id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_variant(product_id, &body))
    }
    pub fn update_variant(&self, product_id: i64, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_variant(product_id, id, &body))
    }
    pub fn delete_variant(&self, product_id: i64, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_variant(product_id, id).map(|e| ((), e)))
            .map(drop)
    }
    pub fn create_metafield(&self, product_id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_metafield(product_id, &body))
    }
    pub fn update_metafield(&self, product_id: i64, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_metafield(product_id, id, &body))
    }
    pub fn delete_metafield(&self, product_id: i64, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_metafield(product_id, id).map(|e| ((), e)))
            .map(drop)
    }
    /// A metafield of any resource (`resource_type` as BigCommerce names it: `product`,
    /// `variant`, `category`, `brand`, `customer` or `order`).
    pub fn create_metafield_of(
        &self,
        resource_type: &str,
        resource_id: i64,
        body: Value,
    ) -> Result<Value, ApiError> {
        let owner = owner(resource_type)?;
        self.change(|d| d.create_metafield_of(owner, resource_id, &body))
    }
    pub fn update_metafield_of(
        &self,
        resource_type: &str,
        resource_id: i64,
        id: i64,
        body: Value,
    ) -> Result<Value, ApiError> {
        let owner = owner(resource_type)?;
        self.change(|d| d.update_metafield_of(owner, resource_id, id, &body))
    }
    pub fn delete_metafield_of(
        &self,
        resource_type: &str,
        resource_id: i64,
        id: i64,
    ) -> Result<(), ApiError> {
        let owner = owner(resource_type)?;
        self.change(|d| d.delete_metafield_of(owner, resource_id, id).map(|e| ((), e)))
            .map(drop)
    }
    pub fn create_category(&self, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_category(&body))
    }
    pub fn update_category(&self, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_category(id, &body))
    }
    pub fn delete_category(&self, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_category(id).map(|e| ((), e))).map(drop)
    }
    pub fn create_brand(&self, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_brand(&body))
    }
    pub fn update_brand(&self, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_brand(id, &body))
    }
    pub fn delete_brand(&self, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_brand(id).map(|e| ((), e))).map(drop)
    }
    pub fn create_customer(&self, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_customer(&body))
    }
    pub fn update_customer(&self, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_customer(id, &body))
    }
    pub fn delete_customer(&self, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_customer(id).map(|e| ((), e))).map(drop)
    }
    pub fn create_order(&self, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.create_order(&body))
    }
    pub fn update_order(&self, id: i64, body: Value) -> Result<Value, ApiError> {
        self.change(|d| d.update_order(id, &body))
    }
    pub fn delete_order(&self, id: i64) -> Result<(), ApiError> {
        self.change(|d| d.delete_order(id).map(|e| ((), e))).map(drop)
    }
}

fn owner(resource_type: &str) -> Result<store::Owner, ApiError> {
    store::Owner::parse(resource_type)
        .ok_or_else(|| ApiError::bad_request(format!("no metafields of a {resource_type}")))
}
