//! Example 13: code on a generated action of a built-in model (the guide's `run` and
//! `onSuccess` on `create`). It runs on every path that creates a product: the GraphQL
//! mutation and its bulk form, nested writes, upserts, background actions, webhooks and
//! the sync.

use bcgraph::{ActionError, Change, Context, Done, ModelHook, Trigger};
use serde_json::json;

/// Before a product is created: its name is trimmed, and a negative price is refused
/// with a validation error (nothing is written). After it is created through the API
/// for a store: the product is tagged in BigCommerce with a metafield that names its
/// record (products that came from BigCommerce, by webhook or sync, are left alone).
pub struct ProductChecks;

/// The metafield's namespace and key.
pub const TAG_NAMESPACE: &str = "guide";
pub const TAG_KEY: &str = "createdInApp";

impl ModelHook for ProductChecks {
    async fn before(&self, _ctx: &Context, change: &mut Change) -> Result<(), ActionError> {
        if change
            .get("price")
            .and_then(|p| p.as_f64())
            .is_some_and(|p| p < 0.0)
        {
            return Err(change.refuse("price", "must not be negative"));
        }
        if let Some(name) = change.get("name").and_then(|n| n.as_str()) {
            let trimmed = name.trim().to_owned();
            change.set("name", trimmed);
        }
        Ok(())
    }

    async fn after(&self, ctx: &Context, done: &Done) -> Result<(), ActionError> {
        let bigcommerce_id = done.record()["bigcommerceId"].as_i64();
        let (Trigger::Api, Some(_), Some(product)) = (ctx.trigger(), ctx.store_id(), bigcommerce_id) else {
            return Ok(());
        };
        ctx.bigcommerce()
            .current()
            .await?
            .v3()
            .post("/catalog/products/{id}/metafields")
            .path_param("id", product)
            .json(&json!({
                "namespace": TAG_NAMESPACE,
                "key": TAG_KEY,
                "value": done.id().to_string(),
                "permission_set": "app_only",
            }))
            .send()
            .await?;
        Ok(())
    }
}
