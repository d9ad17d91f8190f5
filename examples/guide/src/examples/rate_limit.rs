//! Example 8: respect BigCommerce's rate limit with a queue: each product is created by
//! its own background action in the `create-products` queue, at most two at a time
//! across every process. Background actions have no session, so their parameters carry
//! the store hash.

use bcgraph::background::{Job, Options, QueueOption};
use bcgraph::{ActionError, Context, GlobalAction, Param, ParamType};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    /// `[{name, type, price, weight}]`
    pub products: Vec<Value>,
}

/// `createProducts(products)`: one `createProduct` per product.
pub struct CreateProducts;

impl GlobalAction for CreateProducts {
    type Params = Params;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "createProducts"
    }

    fn params(&self) -> Vec<Param> {
        vec![Param::required("products", ParamType::Json)]
    }

    async fn run(&self, ctx: &Context, p: Params) -> Result<Value, ActionError> {
        let store = ctx.store().await?;
        let jobs: Vec<Job> = p
            .products
            .into_iter()
            .map(|mut product| {
                product["storeHash"] = json!(store.hash);
                Job::global("createProduct", product)
            })
            .collect();
        let options = Options {
            queue: Some(QueueOption {
                name: "create-products".into(),
                max_concurrency: 2,
            }),
            ..Options::default()
        };
        let ids = ctx.enqueue_all(&jobs, &options).await?;
        Ok(json!({"backgroundActions": ids}))
    }
}
