//! The guide's examples, one file each.

pub mod children;
pub mod hooks;
pub mod metafields;
pub mod orders;
pub mod product_sync;
pub mod rate_limit;
pub mod route;
pub mod store_client;
pub mod webhooks;
pub mod write_product;

use bcgraph::{ActionError, Context, Param, ParamType};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Parameters of the actions that take an optional store hash.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreParams {
    pub store_hash: Option<String>,
}

pub(crate) fn store_hash_param() -> Param {
    Param::optional("storeHash", ParamType::String)
}

/// The client for `store_hash` when one is given, else the current store's (example 3).
pub(crate) async fn client_for(
    ctx: &Context,
    store_hash: Option<&str>,
) -> Result<bcgraph::client::StoreClient, ActionError> {
    match store_hash {
        Some(hash) => ctx.bigcommerce().for_store_hash(hash).await,
        None => ctx.bigcommerce().current().await,
    }
}

/// The local id of the installed store with this hash, as the caller sees it.
pub(crate) async fn store_id_of(ctx: &Context, hash: &str) -> Result<i64, ActionError> {
    // `findByStoreHash` with `select: {id: true}`.
    let store = ctx
        .api()
        .model(bcgraph::names::STORE)
        .find_by("storeHash", hash)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("no store with hash {hash}")))?;
    id_of(&store["id"]).ok_or_else(|| ActionError::NotFound(format!("no store with hash {hash}")))
}

/// A record id as the API writes it (a string) or as BigCommerce does (a number).
pub(crate) fn id_of(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// A BigCommerce product as `bigcommerce/product` input, linked to `store`.
pub(crate) fn product_input(product: &Value, store: i64) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert("bigcommerceId".into(), product["id"].clone());
    for (ours, theirs) in [
        ("name", "name"),
        ("type", "type"),
        ("sku", "sku"),
        ("price", "price"),
        ("weight", "weight"),
    ] {
        if let Some(value) = product.get(theirs).filter(|v| !v.is_null()) {
            input.insert(ours.into(), value.clone());
        }
    }
    input.insert("store".into(), json!({"_link": store}));
    input
}
