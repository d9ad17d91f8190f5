//! Example 6: a product with its variants, fetched with `include=variants` and written
//! in one upsert whose `_converge` makes the stored variants equal BigCommerce's.

use super::{client_for, id_of, product_input};
use bcgraph::{ActionError, Context, GlobalAction, Param, ParamType, names};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    pub bigcommerce_id: i64,
    pub store_hash: Option<String>,
}

/// `upsertProductWithVariants(bigcommerceId, storeHash)`.
pub struct UpsertProductWithVariants;

impl GlobalAction for UpsertProductWithVariants {
    type Params = Params;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "upsertProductWithVariants"
    }

    fn params(&self) -> Vec<Param> {
        vec![
            Param::required("bigcommerceId", ParamType::Number),
            super::store_hash_param(),
        ]
    }

    async fn run(&self, ctx: &Context, p: Params) -> Result<Value, ActionError> {
        let client = client_for(ctx, p.store_hash.as_deref()).await?;
        let store = super::store_id_of(ctx, client.store_hash()).await?;
        let Some(product) = client
            .v3()
            .get("/catalog/products/{id}")
            .path_param("id", p.bigcommerce_id)
            .query("include", "variants")
            .send()
            .await?
        else {
            return Err(ActionError::NotFound(format!(
                "BigCommerce has no product {}",
                p.bigcommerce_id
            )));
        };
        let variants: Vec<Value> = product["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| json!({"bigcommerceId": id_of(&v["id"]), "sku": v["sku"], "price": v["price"]}))
            .collect();
        let mut input = product_input(&product, store);
        input.insert("variants".into(), json!([{"_converge": {"values": variants}}]));
        let (record, _) = ctx
            .api()
            .model(names::PRODUCT)
            .upsert(Value::Object(input), &["bigcommerceId", "store"])
            .await?;
        Ok(json!({"id": record.id().to_string(), "variants": variants.len()}))
    }
}
