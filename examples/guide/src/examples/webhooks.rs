//! Examples 4 and 5: webhook-triggered actions that store BigCommerce's product.
//!
//! Each receives the delivery's `data` (`{"type": "product", "id": 113}`) and runs for
//! the delivery's store, so `ctx.bigcommerce().current()` is that store's client.

use super::{id_of, product_input};
use bcgraph::{ActionError, Context, GlobalAction, Param, Trigger, names};
use serde_json::{Value, json};

/// The product a delivery names, fetched from the current store.
async fn fetch_product(ctx: &Context, data: &Value) -> Result<Option<(Value, i64)>, ActionError> {
    let id = id_of(&data["id"])
        .ok_or_else(|| ActionError::InvalidInput("the delivery names no product".into()))?;
    let store = ctx.store().await?;
    let product = ctx
        .bigcommerce()
        .current()
        .await?
        .v3()
        .get("/catalog/products/{id}")
        .path_param("id", id)
        .send()
        .await?;
    Ok(product.map(|p| (p, store.id)))
}

fn log_trigger(ctx: &Context) {
    if let Trigger::Webhook { scope, .. } = ctx.trigger() {
        tracing::info!(%scope, store = ctx.store_id(), "webhook");
    }
}

/// Example 4: on `store/product/created`, create the `bigcommerce/product`, linked to
/// the current store.
pub struct HandleProductCreated;

impl GlobalAction for HandleProductCreated {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "handleProductCreated"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    /// Only webhooks run it.
    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, data: Value) -> Result<Value, ActionError> {
        log_trigger(ctx);
        let Some((product, store)) = fetch_product(ctx, &data).await? else {
            return Ok(json!({"created": null}));
        };
        let record = ctx
            .api()
            .model(names::PRODUCT)
            .create(Value::Object(product_input(&product, store)))
            .await?;
        Ok(json!({"created": record.id()}))
    }
}

/// Example 5: on `store/product/updated`, upsert on `["bigcommerceId", "store"]`.
pub struct HandleProductUpdated;

impl GlobalAction for HandleProductUpdated {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "handleProductUpdated"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, data: Value) -> Result<Value, ActionError> {
        log_trigger(ctx);
        let Some((product, store)) = fetch_product(ctx, &data).await? else {
            return Ok(json!({"upserted": null}));
        };
        let (record, how) = ctx
            .api()
            .model(names::PRODUCT)
            .upsert(
                Value::Object(product_input(&product, store)),
                &["bigcommerceId", "store"],
            )
            .await?;
        Ok(json!({"upserted": record.id(), "how": format!("{how:?}")}))
    }
}
