//! Example 2: write a product to BigCommerce.

use super::client_for;
use bcgraph::{ActionError, Context, GlobalAction, Param, ParamType};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProduct {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub price: f64,
    pub weight: f64,
    /// Background actions have no session: they name their store (example 8).
    pub store_hash: Option<String>,
}

/// `createProduct(name, type, price, weight, storeHash)`: `POST
/// /v3/catalog/products`; answers BigCommerce's product.
pub struct CreateProduct;

impl GlobalAction for CreateProduct {
    type Params = NewProduct;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "createProduct"
    }

    fn params(&self) -> Vec<Param> {
        vec![
            Param::required("name", ParamType::String),
            Param::required("type", ParamType::String),
            Param::required("price", ParamType::Number),
            Param::required("weight", ParamType::Number),
            super::store_hash_param(),
        ]
    }

    async fn run(&self, ctx: &Context, p: NewProduct) -> Result<Value, ActionError> {
        let store = client_for(ctx, p.store_hash.as_deref()).await?;
        let created = store
            .v3()
            .post("/catalog/products")
            .json(&json!({"name": p.name, "type": p.kind, "price": p.price, "weight": p.weight}))
            .send()
            .await?;
        Ok(json!({"product": created}))
    }
}
