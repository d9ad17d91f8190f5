//! Gadget's guide "Working with BigCommerce data", example by example, as an app built on
//! bcgraph's public API. Each example is one file in [`examples`]; [`app`] puts them
//! together with the app's own model, fields, migrations, triggers, hooks, schedule,
//! grants and route. `src/main.rs` runs it with bcgraph's command line.
//!
//! | # | the guide's example | here |
//! | --- | --- | --- |
//! | 1 | read products in a global action | [`examples::store_client::ReadProducts`] |
//! | 2 | write a product to BigCommerce | [`examples::write_product::CreateProduct`] |
//! | 3 | the current store's client | [`examples::store_client::CurrentStore`] |
//! | 4 | store a product on `store/product/created` | [`examples::webhooks::HandleProductCreated`] |
//! | 5 | upsert on `store/product/updated` | [`examples::webhooks::HandleProductUpdated`] |
//! | 6 | a product with its variants (`_converge`) | [`examples::children::UpsertProductWithVariants`] |
//! | 7 | sync every product through a queue | [`examples::product_sync::SyncProducts`] |
//! | 8 | respect the rate limit with a queue | [`examples::rate_limit::CreateProducts`] |
//! | 9 | metafields stored on the product | [`examples::metafields::HandleMetafieldCreated`] |
//! | 10 | tenancy in global actions | [`examples::orders::ProcessOrders`], [`examples::orders::ProcessOrdersForStore`] |
//! | 11 | a scheduled action | [`examples::product_sync::SyncAllStores`], scheduled in [`app`] |
//! | 12 | a custom model in the `bigcommerce` namespace | [`review`] |
//! | 13 | code on a generated action | [`examples::hooks::ProductChecks`] |

pub mod examples;
pub mod migrations;
pub mod review;

use bcgraph::roles;
use bcgraph::{App, ExtraField, Verb, names};
use std::time::Duration;

/// What the guide app reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often every store's products are synced (example 11):
    /// `GUIDE_SYNC_EVERY_SECONDS`, a day by default.
    pub sync_every: Duration,
}

impl Settings {
    pub fn from_env() -> Settings {
        let seconds = std::env::var("GUIDE_SYNC_EVERY_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(86_400);
        Settings {
            sync_every: Duration::from_secs(seconds),
        }
    }
}

/// The guide's global actions a merchant's session may run.
const MERCHANT_ACTIONS: &[&str] = &[
    "readProducts",
    "currentStore",
    "createProduct",
    "upsertProductWithVariants",
    "syncProducts",
    "createProducts",
    "processOrders",
    "processOrdersForStore",
];

/// The whole app.
pub fn app(settings: Settings) -> App {
    use examples::*;
    let mut app = App::new()
        // Example 12: a model of the app's own, tenant-scoped through its store.
        .model::<review::Entity>(review::declaration())
        // Example 9: fields the app adds to the built-in product.
        .field(names::PRODUCT, ExtraField::integer("metafieldId"))
        .field(
            names::PRODUCT,
            ExtraField::string("metafieldValue").max_length(65_535),
        )
        .migrations::<migrations::Migrator>()
        .action(store_client::ReadProducts)
        .action(store_client::CurrentStore)
        .action(write_product::CreateProduct)
        .action(webhooks::HandleProductCreated)
        .action(webhooks::HandleProductUpdated)
        .action(children::UpsertProductWithVariants)
        .action(product_sync::SyncProducts)
        .action(product_sync::SyncAllStores)
        .action(rate_limit::CreateProducts)
        .action(metafields::HandleMetafieldCreated)
        .action(orders::ProcessOrders)
        .action(orders::ProcessOrdersForStore)
        // Examples 4, 5 and 9: webhooks to the app's own actions.
        .trigger("store/product/created", "handleProductCreated")
        .trigger("store/product/updated", "handleProductUpdated")
        .trigger("store/product/metafield/created", "handleMetafieldCreated")
        // Example 11.
        .schedule("syncAllStores", settings.sync_every, serde_json::json!({}))
        // Example 13, on a built-in model.
        .hook(names::PRODUCT, Verb::Create, hooks::ProductChecks)
        .routes(examples::route::routes());
    for action in MERCHANT_ACTIONS {
        app = app.grant_action(roles::APP, action);
    }
    app
}
