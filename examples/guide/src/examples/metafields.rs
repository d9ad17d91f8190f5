//! Example 9: a metafield stored on its product, in fields the app added to the
//! built-in `bigcommerce/product` (`metafieldId`, `metafieldValue`).

use super::{id_of, product_input};
use bcgraph::{ActionError, Context, GlobalAction, Param, names};
use serde_json::{Value, json};

/// On `store/product/metafield/created` (`data`: `{metafield_id, resource_id}`): fetch
/// the metafield, find the product (`maybeFindByBigcommerceId`), fetching and creating
/// it when it is missing, and store the metafield's id and value on it.
pub struct HandleMetafieldCreated;

impl GlobalAction for HandleMetafieldCreated {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "handleMetafieldCreated"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, data: Value) -> Result<Value, ActionError> {
        let (Some(metafield_id), Some(product_id)) =
            (id_of(&data["metafield_id"]), id_of(&data["resource_id"]))
        else {
            return Err(ActionError::InvalidInput(
                "the delivery names no metafield".into(),
            ));
        };
        let client = ctx.bigcommerce().current().await?;
        let Some(metafield) = client
            .v3()
            .get("/catalog/products/{product_id}/metafields/{metafield_id}")
            .path_param("product_id", product_id)
            .path_param("metafield_id", metafield_id)
            .send()
            .await?
        else {
            return Ok(json!({"stored": false}));
        };
        let products = ctx.api().model(names::PRODUCT);
        let id = match products.find_by("bigcommerceId", product_id).await? {
            Some(found) => id_of(&found["id"]).unwrap_or_default(),
            None => {
                let Some(product) = client
                    .v3()
                    .get("/catalog/products/{id}")
                    .path_param("id", product_id)
                    .send()
                    .await?
                else {
                    return Ok(json!({"stored": false}));
                };
                let store = ctx.store().await?.id;
                products
                    .create(Value::Object(product_input(&product, store)))
                    .await?
                    .id()
            }
        };
        products
            .update(
                id,
                json!({"metafieldId": metafield_id, "metafieldValue": metafield["value"]}),
            )
            .await?;
        Ok(json!({"stored": true, "product": id.to_string()}))
    }
}
