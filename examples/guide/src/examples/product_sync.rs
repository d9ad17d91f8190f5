//! Examples 7 and 11: sync every product through a queue, and on a schedule.

use super::{StoreParams, client_for, product_input, store_hash_param};
use bcgraph::background::{Job, Options, QueueOption};
use bcgraph::{ActionError, Context, GlobalAction, Param, names};
use futures::TryStreamExt;
use serde_json::{Value, json};

/// Products per background upsert batch, as in the guide.
pub const BATCH: usize = 50;

/// Example 7: `syncProducts(storeHash)`: list every product of the store (paged, and
/// paced by the client's rate limiter) and enqueue their upserts in batches of 50 into
/// the `product-sync` queue. A background action has no time limit (its lease is renewed
/// while it runs), so a store with many products may take as long as it needs.
pub struct SyncProducts;

impl GlobalAction for SyncProducts {
    type Params = StoreParams;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "syncProducts"
    }

    fn params(&self) -> Vec<Param> {
        vec![store_hash_param()]
    }

    async fn run(&self, ctx: &Context, params: StoreParams) -> Result<Value, ActionError> {
        let client = client_for(ctx, params.store_hash.as_deref()).await?;
        let store = super::store_id_of(ctx, client.store_hash()).await?;
        // Enqueued as the store, so the store's queue quotas apply, not the system's.
        let api = ctx.api().within_store(store);
        let options = Options {
            queue: Some(QueueOption {
                name: "product-sync".into(),
                max_concurrency: 4,
            }),
            ..Options::default()
        };
        let mut products = client.v3().list("/catalog/products").limit(250).items();
        let mut batch = Vec::with_capacity(BATCH);
        let mut enqueued = 0;
        loop {
            let next = products.try_next().await?;
            if let Some(product) = &next {
                batch.push(Job::Upsert {
                    model: names::PRODUCT.into(),
                    input: Value::Object(product_input(product, store)),
                    on: vec!["bigcommerceId".into(), "store".into()],
                });
            }
            if batch.len() == BATCH || (next.is_none() && !batch.is_empty()) {
                enqueued += api.enqueue_all(&batch, &options).await?.len();
                batch.clear();
            }
            if next.is_none() {
                break;
            }
        }
        Ok(json!({"storeHash": client.store_hash(), "enqueued": enqueued}))
    }
}

/// Example 11: `syncAllStores`, which the app schedules: one `syncProducts` background
/// action per installed store.
pub struct SyncAllStores;

impl GlobalAction for SyncAllStores {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "syncAllStores"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    /// The schedule runs it, as the system.
    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, _: Value) -> Result<Value, ActionError> {
        let stores = ctx
            .api()
            .model(names::STORE)
            .records(
                json!({"state": {"equals": "installed"}}),
                json!({"id": "Ascending"}),
                250,
            )
            .await?;
        let mut started = Vec::new();
        for store in stores {
            let (Some(hash), Some(id)) = (store["storeHash"].as_str(), super::id_of(&store["id"])) else {
                continue;
            };
            let job = Job::global("syncProducts", json!({"storeHash": hash}));
            ctx.api()
                .within_store(id)
                .enqueue(&job, &Options::default())
                .await?;
            started.push(hash.to_owned());
        }
        Ok(json!({"stores": started}))
    }
}
