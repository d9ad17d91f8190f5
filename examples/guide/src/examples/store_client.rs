//! Examples 1 and 3: a store's API client in a global action.

use super::{StoreParams, client_for, store_hash_param};
use bcgraph::{ActionError, Context, GlobalAction, Param};
use serde_json::{Value, json};

/// Example 1: `readProducts`: the first five products of the current store, or of the
/// store named by `storeHash`.
pub struct ReadProducts;

impl GlobalAction for ReadProducts {
    type Params = StoreParams;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "readProducts"
    }

    fn params(&self) -> Vec<Param> {
        vec![store_hash_param()]
    }

    async fn run(&self, ctx: &Context, params: StoreParams) -> Result<Value, ActionError> {
        let store = client_for(ctx, params.store_hash.as_deref()).await?;
        let products = store
            .v3()
            .get("/catalog/products")
            .query("limit", 5)
            .send()
            .await?
            .unwrap_or_else(|| json!([]));
        Ok(json!({"storeHash": store.store_hash(), "products": products}))
    }
}

/// Example 3: `currentStore`: the store the action runs for (a webhook's, a session's),
/// with no argument, or the one `storeHash` names; an unknown or uninstalled hash is an
/// error that names it.
pub struct CurrentStore;

impl GlobalAction for CurrentStore {
    type Params = StoreParams;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "currentStore"
    }

    fn params(&self) -> Vec<Param> {
        vec![store_hash_param()]
    }

    async fn run(&self, ctx: &Context, params: StoreParams) -> Result<Value, ActionError> {
        let client = client_for(ctx, params.store_hash.as_deref()).await?;
        let id = match params.store_hash.as_deref() {
            Some(hash) => super::store_id_of(ctx, hash).await?,
            None => ctx.store().await?.id,
        };
        Ok(json!({"storeHash": client.store_hash(), "storeId": id.to_string()}))
    }
}
