//! Example 10: tenancy in global actions. `ctx.api()` is the caller's API, so a
//! merchant's session reads only its own store's orders with no filter on the store.

use bcgraph::{ActionError, Context, GlobalAction, Param, ParamType, names};
use serde::Deserialize;
use serde_json::{Value, json};

/// The orders `api` reaches, summed up.
async fn summary(api: &bcgraph::Api) -> Result<Value, ActionError> {
    let orders = api
        .model(names::ORDER)
        .records(Value::Null, json!({"id": "Ascending"}), 250)
        .await?;
    let total: f64 = orders.iter().filter_map(|o| o["totalIncTax"].as_f64()).sum();
    let ids: Vec<&Value> = orders.iter().map(|o| &o["bigcommerceId"]).collect();
    Ok(json!({"count": orders.len(), "total": total, "bigcommerceIds": ids}))
}

/// `processOrders`: the current session's store's orders.
pub struct ProcessOrders;

impl GlobalAction for ProcessOrders {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "processOrders"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    async fn run(&self, ctx: &Context, _: Value) -> Result<Value, ActionError> {
        summary(ctx.api()).await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForStore {
    pub store_hash: String,
}

/// `processOrdersForStore(storeHash)`: the store is found with `findByStoreHash` (only
/// its id is read) as the caller, so a store session finds only its own store.
pub struct ProcessOrdersForStore;

impl GlobalAction for ProcessOrdersForStore {
    type Params = ForStore;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "processOrdersForStore"
    }

    fn params(&self) -> Vec<Param> {
        vec![Param::required("storeHash", ParamType::String)]
    }

    async fn run(&self, ctx: &Context, p: ForStore) -> Result<Value, ActionError> {
        let store = super::store_id_of(ctx, &p.store_hash).await?;
        summary(&ctx.api().within_store(store)).await
    }
}
