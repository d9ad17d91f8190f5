//! Metafields of every resource an app reads (products, variants, categories, brands,
//! customers, orders) against the fake BigCommerce over HTTP: a sync copies them all and
//! never into another store, webhooks pull them, a deleted resource takes its metafields
//! along; and a sync reads order lines with their orders instead of one request per order.

use crate::support::{TestApp, count_rows, seed};
use crate::sync::{counter, gateway, sync_store, worker};
use bcgraph::bigcommerce::webhooks::{self, Triggers, store_secret};
use bcgraph::bigcommerce::{BigCommerce, ClientOptions};
use entity::bigcommerce::metafield;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const HASH: &str = "abc123";
const OTHER: &str = "other9";
/// The token `seed::store` stores.
const TOKEN: &str = "secret-token";
const KINDS: [&str; 6] = ["product", "variant", "category", "brand", "customer", "order"];

/// A metafield as both sides can tell it: `(resource_type, resource_id, id, value)`.
type Row = (String, i64, i64, String);

fn fake_rows(fake: &FakeBigCommerce, hash: &str) -> BTreeSet<Row> {
    fake.store(hash).unwrap().with_data(|d| {
        d.metafields
            .values()
            .map(|m| {
                (
                    m.resource_type.to_string(),
                    m.resource_id,
                    m.id,
                    m.value.to_string(),
                )
            })
            .collect()
    })
}

async fn db_rows(app: &TestApp, store: i64) -> BTreeSet<Row> {
    metafield::Entity::find()
        .filter(metafield::Column::StoreId.eq(store))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.resource_type.unwrap_or_default(),
                m.resource_id.unwrap_or_default(),
                m.bigcommerce_id,
                m.value.unwrap_or_default(),
            )
        })
        .collect()
}

fn of_kind(rows: &BTreeSet<Row>, kind: &str) -> usize {
    rows.iter().filter(|r| r.0 == kind).count()
}

/// Wait until the store has `want` metafields matching `condition`.
async fn eventually(app: &TestApp, condition: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = count_rows(&app.db, "bigcommerce_metafield", condition).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bigcommerce_metafield WHERE {condition}: {got} rows, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A full sync copies the metafields of all six kinds of resource, a store's into that
/// store only (both stores have metafields with the same ids); order lines come with the
/// order pages, in no request of their own; a second full sync takes out what was deleted.
#[tokio::test]
async fn a_sync_copies_every_resources_metafields_into_its_own_store() {
    // 600 customers with a metafield each: their listing takes three pages.
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(
                StoreSpec::new(HASH, TOKEN)
                    .products(40)
                    .variants_per_product(2)
                    .customers(600)
                    .orders(30)
                    .owner_metafields_every(1),
            )
            .store(
                StoreSpec::new(OTHER, TOKEN)
                    .seed(7)
                    .products(15)
                    .customers(12)
                    .orders(12)
                    .owner_metafields_every(2),
            ),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let mine = seed::store(&app.db, HASH).await;
    let theirs = seed::store(&app.db, OTHER).await;
    let _worker = worker(&app);

    let full = sync_store(&app, json!({}), Duration::from_secs(120)).await;
    assert_eq!(full.state, "completed", "{:?}", full.error_message);
    let want = fake_rows(&fake, HASH);
    for kind in KINDS {
        assert!(of_kind(&want, kind) > 0, "the store has {kind} metafields");
    }
    assert_eq!(of_kind(&want, "customer"), 600);
    assert_eq!(db_rows(&app, mine).await, want, "every metafield of the store");
    assert!(
        db_rows(&app, theirs).await.is_empty(),
        "nothing of it landed in the other store"
    );
    assert_eq!(counter(&full, "metafields", "created"), want.len() as u64);

    // Order lines: the orders' pages brought them.
    let store = fake.store(HASH).unwrap();
    let requests = store.requests();
    let line_requests = requests
        .iter()
        .filter(|r| r.path.contains("/v2/orders/") && r.path.ends_with("/products"))
        .count();
    let order_pages = requests.iter().filter(|r| r.path.ends_with("/v2/orders")).count();
    let (orders, lines) = store.with_data(|d| {
        (
            d.orders.len() as i64,
            d.orders.values().map(|o| o.products.len()).sum::<usize>() as i64,
        )
    });
    assert_eq!(line_requests, 0, "no request per order");
    assert!(
        (order_pages as i64) < orders,
        "{order_pages} order pages for {orders} orders"
    );
    assert_eq!(
        count_rows(
            &app.db,
            "bigcommerce_order_product",
            &format!("store_id = {mine}")
        )
        .await,
        lines
    );
    // Each metafield listing was read by its pages.
    for path in [
        "/v3/catalog/products/metafields",
        "/v3/catalog/variants/metafields",
        "/v3/catalog/categories/metafields",
        "/v3/catalog/brands/metafields",
        "/v3/orders/metafields",
    ] {
        assert!(requests.iter().any(|r| r.path.ends_with(path)), "{path} was read");
    }
    let customer_pages: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/v3/customers/metafields"))
        .collect();
    assert_eq!(customer_pages.len(), 3, "600 customer metafields in pages of 250");
    assert!(
        customer_pages[2]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("page=3"),
        "{:?}",
        customer_pages[2].query
    );

    // The other store, synced too: the same metafield ids, its own values, its own rows.
    let other = sync_store(&app, json!({"storeHash": OTHER}), Duration::from_secs(120)).await;
    assert_eq!(other.state, "completed", "{:?}", other.error_message);
    let theirs_want = fake_rows(&fake, OTHER);
    assert_eq!(db_rows(&app, theirs).await, theirs_want);
    assert_eq!(db_rows(&app, mine).await, want, "the first store's are untouched");
    let shared: Vec<i64> = want
        .iter()
        .map(|r| r.2)
        .filter(|id| theirs_want.iter().any(|r| r.2 == *id))
        .collect();
    assert!(
        !shared.is_empty(),
        "both stores have metafields with the same ids"
    );

    // Deletions at BigCommerce: resources (their metafields go with them) and metafields.
    let (category, brand, customer, variant, product) = store.with_data(|d| {
        let product = d.products.values().nth(3).unwrap();
        (
            *d.categories.keys().next().unwrap(),
            *d.brands.keys().next().unwrap(),
            *d.customers.keys().nth(5).unwrap(),
            (product.id, product.variants[0].id),
            d.products.keys().nth(7).copied().unwrap(),
        )
    });
    store.delete_category(category).unwrap();
    store.delete_brand(brand).unwrap();
    store.delete_customer(customer).unwrap();
    store.delete_variant(variant.0, variant.1).unwrap();
    store.delete_product(product).unwrap();
    let order_metafield = want.iter().find(|r| r.0 == "order").unwrap().clone();
    store
        .delete_metafield_of("order", order_metafield.1, order_metafield.2)
        .unwrap();
    let changed = want
        .iter()
        .find(|r| r.0 == "category" && r.1 != category)
        .cloned();
    if let Some((_, owner, id, _)) = &changed {
        store
            .update_metafield_of("category", *owner, *id, json!({"value": "changed"}))
            .unwrap();
    }
    let after = fake_rows(&fake, HASH);
    assert!(after.len() < want.len());
    let again = sync_store(&app, json!({"force": true}), Duration::from_secs(120)).await;
    assert_eq!(again.state, "completed", "{:?}", again.error_message);
    assert_eq!(db_rows(&app, mine).await, after, "deletions and changes came in");
    assert_eq!(
        db_rows(&app, theirs).await,
        theirs_want,
        "the other store's stayed"
    );
}

/// Webhooks of customer, order and category metafields pull them into the delivery's
/// store; a deleted metafield, category or customer takes its rows out; an order's lines
/// are pulled with the order in one request.
#[tokio::test]
async fn webhooks_pull_metafields_and_deleted_resources_take_theirs_along() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(
                StoreSpec::new(HASH, TOKEN)
                    .products(3)
                    .customers(3)
                    .orders(0)
                    .owner_metafields_every(0),
            )
            .store(StoreSpec::new(OTHER, TOKEN).products(3).customers(3).orders(0)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let mine = seed::store(&app.db, HASH).await;
    let theirs = seed::store(&app.db, OTHER).await;
    let client = BigCommerce::new(fake.url(), ClientOptions::default())
        .unwrap()
        .store(HASH, TOKEN);
    webhooks::register(
        &client,
        &format!("{}/webhooks/bigcommerce", app.url),
        &store_secret(&crate::support::secrets(), HASH),
        &Triggers::default().scopes(),
    )
    .await
    .unwrap();
    let _worker = worker(&app);
    let store = fake.store(HASH).unwrap();
    let body = |key: &str, value: &str| json!({"namespace": "app", "key": key, "value": value, "permission_set": "read"});
    let mine_where = |extra: &str| format!("store_id = {mine} AND {extra}");

    // A customer's metafield (only `store/metafield/*` tells of it).
    let customer = store.with_data(|d| *d.customers.keys().next().unwrap());
    let m = store
        .create_metafield_of("customer", customer, body("tier", "gold"))
        .unwrap();
    let customer_metafield = m["id"].as_i64().unwrap();
    eventually(
        &app,
        &mine_where(&format!(
            "bigcommerce_id = {customer_metafield} AND resource_type = 'customer' \
             AND resource_id = {customer} AND value = 'gold'"
        )),
        1,
    )
    .await;

    // An order, its lines with it, and its metafield.
    let order = store
        .create_order(json!({"customer_id": customer, "products": [
            {"product_id": 1, "name": "Line", "sku": "L1", "quantity": 2, "price_inc_tax": "5.00"},
            {"product_id": 0, "name": "Gift card", "sku": "GIFT", "quantity": 1, "price_inc_tax": "25.00"}]}))
        .unwrap();
    let order = order["id"].as_i64().unwrap();
    let m = store
        .create_metafield_of("order", order, body("gift", "wrapped"))
        .unwrap();
    let order_metafield = m["id"].as_i64().unwrap();
    eventually(
        &app,
        &mine_where(&format!(
            "bigcommerce_id = {order_metafield} AND resource_type = 'order' AND resource_id = {order}"
        )),
        1,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_rows(
        &app.db,
        "bigcommerce_order_product",
        &format!("store_id = {mine}"),
    )
    .await
        < 2
    {
        assert!(Instant::now() < deadline, "the order's two lines were pulled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !store
            .requests()
            .iter()
            .any(|r| r.path.ends_with(&format!("/orders/{order}/products"))),
        "the lines came with the order"
    );

    // A category's metafield: created, changed, deleted.
    let category = store.with_data(|d| *d.categories.keys().next().unwrap());
    let m = store
        .create_metafield_of("category", category, body("banner", "red"))
        .unwrap();
    let category_metafield = m["id"].as_i64().unwrap();
    let row = mine_where(&format!(
        "bigcommerce_id = {category_metafield} AND resource_type = 'category' AND resource_id = {category}"
    ));
    eventually(&app, &format!("{row} AND value = 'red'"), 1).await;
    store
        .update_metafield_of("category", category, category_metafield, json!({"value": "blue"}))
        .unwrap();
    eventually(&app, &format!("{row} AND value = 'blue'"), 1).await;
    store
        .delete_metafield_of("category", category, category_metafield)
        .unwrap();
    eventually(&app, &row, 0).await;

    // A brand's and a variant's; then their brand, variant, category and customer go.
    let brand = store.with_data(|d| *d.brands.keys().next().unwrap());
    store
        .create_metafield_of("brand", brand, body("origin", "CH"))
        .unwrap();
    let (product, variant) = store.with_data(|d| {
        let p = d.products.values().next().unwrap();
        (p.id, p.variants[1].id)
    });
    // The product is stored (a change brings it): a variant's metafields go with the
    // variants a pulled product no longer has.
    store.update_product(product, json!({"name": "Stored"})).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_rows(
        &app.db,
        "bigcommerce_product_variant",
        &format!("store_id = {mine} AND bigcommerce_id = {variant}"),
    )
    .await
        == 0
    {
        assert!(Instant::now() < deadline, "the product was pulled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store
        .create_metafield_of("variant", variant, body("shade", "teal"))
        .unwrap();
    store
        .create_metafield_of("category", category, body("banner", "green"))
        .unwrap();
    for (kind, owner) in [("brand", brand), ("variant", variant), ("category", category)] {
        eventually(
            &app,
            &mine_where(&format!("resource_type = '{kind}' AND resource_id = {owner}")),
            1,
        )
        .await;
    }
    store.delete_category(category).unwrap();
    store.delete_customer(customer).unwrap();
    store.delete_brand(brand).unwrap();
    store.delete_variant(product, variant).unwrap();
    for (kind, owner) in [
        ("category", category),
        ("customer", customer),
        ("brand", brand),
        ("variant", variant),
    ] {
        eventually(
            &app,
            &mine_where(&format!("resource_type = '{kind}' AND resource_id = {owner}")),
            0,
        )
        .await;
    }
    // The order's metafield stays: archiving keeps the order.
    eventually(&app, &mine_where("resource_type = 'order'"), 1).await;
    // Nothing ever landed in the other store, which sent no webhooks.
    assert_eq!(
        count_rows(&app.db, "bigcommerce_metafield", &format!("store_id = {theirs}")).await,
        0
    );
}

/// A pull of a metafield of a kind BigCommerce has no such metafields of is refused with
/// a clear error, and writes nothing.
#[tokio::test]
async fn pulling_a_metafield_of_an_unknown_kind_says_which_kinds_exist() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(1)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let answer = app
        .gql(
            "mutation { bigcommerce { pullMetafield(bigcommerceId: 1, resourceType: \"cart\", resourceId: 2, storeHash: \"abc123\") { success errors { code message } } } }",
            json!({}),
        )
        .await;
    let result = &answer["data"]["bigcommerce"]["pullMetafield"];
    assert_eq!(result["success"], false, "{answer}");
    assert_eq!(
        result["errors"][0]["code"], "GGT_INVALID_ACTION_INPUT",
        "{answer}"
    );
    let message = result["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cart") && message.contains("customer"),
        "{message}"
    );
    assert_eq!(count_rows(&app.db, "bigcommerce_metafield", "1=1").await, 0);
}
