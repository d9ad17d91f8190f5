//! Everything that talks to BigCommerce.
//!
//! One [`BigCommerce`] per process holds the HTTP connection pool and the pacing state of
//! every store; [`BigCommerce::store`] gives a cheap [`StoreClient`] for one store, and every
//! client of the same store hash (in any task) shares that store's quota.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bcgraph::client::Error> {
//! use bcgraph::client::{BigCommerce, ClientOptions};
//! use futures::TryStreamExt;
//!
//! let api = BigCommerce::new("https://api.bigcommerce.com", ClientOptions::default())?;
//! let store = api.store("abc123", "access-token");
//!
//! // v3: the envelope's `data`; a 404 is `Ok(None)`.
//! let product = store
//!     .v3()
//!     .get("/catalog/products/{product_id}")
//!     .path_param("product_id", 205)
//!     .query("include", ["variants", "custom_fields"])
//!     .send()
//!     .await?;
//!
//! // Every item of every page (page numbers or cursors, detected from `meta`).
//! let mut products = store
//!     .v3()
//!     .list("/catalog/products")
//!     .query("date_modified:min", "2026-01-01T00:00:00Z")
//!     .items();
//! while let Some(product) = products.try_next().await? {
//!     let _ = product["id"].as_i64();
//! }
//!
//! // v2: bare arrays until a 204 or a short page.
//! let orders: Vec<serde_json::Value> =
//!     store.v2().list("/orders").query("sort", "id:asc").items().try_collect().await?;
//! # let _ = (product, orders);
//! # Ok(()) }
//! ```

pub mod access_token;
pub mod client;
pub mod error;
pub mod handlers;
pub mod lifecycle;
pub mod listing;
pub mod mapping;
mod metafields;
pub mod oauth;
pub mod options;
pub mod pacing;
pub mod params;
pub mod rotation;
pub mod stores;
pub mod sync;
pub mod webhooks;

pub use client::{ApiVersion, BigCommerce, RequestBuilder, StoreClient, Versioned};
pub use error::Error;
pub use listing::{ListBuilder, Paging};
pub use options::ClientOptions;
pub use params::{ParamValue, Params};

/// The built-in actions: the webhook handlers and the sync's.
pub fn register(
    globals: crate::action::GlobalActions,
    bigcommerce: &BigCommerce,
    secret: &std::sync::Arc<crate::auth::Secrets>,
    syncer: Option<sync::Syncer>,
) -> crate::action::GlobalActions {
    sync::actions::register(handlers::register(globals, bigcommerce, secret), syncer)
}
