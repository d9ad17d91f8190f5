//! The guide app (`examples/guide`), an app built on bcgraph's public API, run against
//! the fake BigCommerce over HTTP: each of the guide's thirteen examples is checked by the
//! rows it leaves and the requests the fake received.

use crate::support::{TestApp, count_rows, payload, seed};
use bcgraph::auth::api_keys;
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::names;
use bcgraph::roles::APP as ROLE_APP;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, Faults, StoreSpec};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TOKEN: &str = "secret-token";

async fn fake(stores: &[StoreSpec]) -> FakeBigCommerce {
    let mut options = FakeOptions::default().rate_limit(None);
    for spec in stores {
        options = options.store(spec.clone());
    }
    FakeBigCommerce::start(options).await.expect("the fake starts")
}

fn spec(hash: &str) -> StoreSpec {
    StoreSpec::new(hash, TOKEN).products(7).orders(0).customers(0)
}

/// The guide app over `fake`, the daily built-in sync off so that only the guide writes.
async fn guide(fake: &FakeBigCommerce, sync_every: Duration) -> TestApp {
    let app = guide::app(guide::Settings { sync_every });
    TestApp::start_app(
        app,
        &[
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
        ],
    )
    .await
}

async fn day_guide(fake: &FakeBigCommerce) -> TestApp {
    guide(fake, Duration::from_secs(86_400)).await
}

/// A merchant of `hash` who loaded the app.
fn merchant(hash: &str) -> String {
    payload::header(&payload::jwt(hash, 3))
}

/// An API key of the app's role bound to the store `hash`.
async fn store_key(app: &TestApp, hash: &str) -> String {
    let (_, key) = api_keys::create(&app.db, "guide", &[ROLE_APP.to_owned()], Some(hash))
        .await
        .expect("key");
    format!("Bearer {key}")
}

/// Run a root global action as `auth`; its whole payload (`success`, `errors`, `result`).
async fn action(app: &TestApp, auth: &str, name: &str, args: &str) -> Value {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({args})")
    };
    let document = format!("mutation {{ {name}{args} {{ success errors {{ code message }} result }} }}");
    let (_, body) = app.gql_as(Some(auth), &document, json!({})).await;
    body["data"][name].clone()
}

/// A webhook delivery of `scope` for `hash`, as BigCommerce sends it.
async fn deliver(app: &TestApp, hash: &str, scope: &str, data: Value) {
    let body = json!({"scope": scope, "store_id": "1", "producer": format!("stores/{hash}"),
                      "hash": format!("h-{}", rand::random::<u64>()), "created_at": 1, "data": data});
    let status = app
        .http
        .post(format!("{}/webhooks/bigcommerce", app.url))
        .header(SECRET_HEADER, store_secret(&app.api_secret(), hash))
        .json(&body)
        .send()
        .await
        .expect("delivery")
        .status();
    assert_eq!(status, 200, "the delivery of {scope} is acknowledged");
}

/// Wait until `condition` holds on the database (background actions run in the app).
async fn eventually(app: &TestApp, table: &str, condition: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = count_rows(&app.db, table, condition).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{table} WHERE {condition}: {got} rows, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn one_string(app: &TestApp, sql: &str) -> Option<String> {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("query")?;
    row.try_get_by_index::<Option<String>>(0).expect("a text column")
}

/// The error codes in a `bigcommerce` mutation's payload.
fn payload_codes(body: &Value, field: &str) -> Vec<String> {
    body["data"]["bigcommerce"][field]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn product_ids(fake: &FakeBigCommerce, hash: &str) -> Vec<i64> {
    fake.store(hash)
        .expect("store")
        .with_data(|d| d.products.keys().copied().collect())
}

#[tokio::test]
async fn the_guide_schema_is_checked_in_and_has_the_apps_additions() {
    let sdl = guide::app(guide::Settings::from_env())
        .schema_sdl()
        .expect("schema");
    let checked_in = include_str!("../../examples/guide/schema.graphql");
    assert!(
        sdl == checked_in,
        "examples/guide/schema.graphql is stale: run `cargo run -p guide -- schema > examples/guide/schema.graphql`"
    );
    for wanted in [
        "type BigcommerceProductReview",
        "productReviews(",
        "createProductReview(",
        "bulkUpsertProductReviews(",
        "metafieldValue: String",
        "metafieldId: Float",
        "readProducts(",
        "processOrdersForStore(",
    ] {
        assert!(sdl.contains(wanted), "the guide's schema has {wanted}");
    }
    // Webhook-only and scheduled actions are not mutations.
    assert!(!sdl.contains("handleProductCreated"));
    assert!(!sdl.contains("syncAllStores"));
}

/// Examples 1, 2 and 3: a store's client in a global action, for the session's store or
/// one named by hash, and a product written to BigCommerce.
#[tokio::test]
async fn store_clients_read_and_write_the_right_store() {
    let fake = fake(&[spec("storea"), spec("storeb")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let merchant_a = merchant("storea");

    // 1: the current store's first five products.
    let read = action(&app, &merchant_a, "readProducts", "").await;
    assert_eq!(read["success"], true, "{read}");
    let got: Vec<i64> = read["result"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, product_ids(&fake, "storea")[..5].to_vec());
    let requests = fake.store("storea").unwrap().requests();
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.path.ends_with("/v3/catalog/products")
            && r.query.as_deref() == Some("limit=5")),
        "GET /v3/catalog/products?limit=5 reached store A"
    );
    assert!(
        fake.store("storeb").unwrap().requests().is_empty(),
        "store B was not called"
    );

    // 3: the current store with no argument, and a store named by hash.
    let current = action(&app, &merchant_a, "currentStore", "").await;
    assert_eq!(
        current["result"],
        json!({"storeHash": "storea", "storeId": a.to_string()})
    );
    let other = action(&app, &merchant_a, "currentStore", r#"storeHash: "storeb""#).await;
    assert_eq!(
        other["success"], false,
        "a store session cannot act for another store: {other}"
    );
    let admin = format!("Bearer {}", app.admin_key);
    let named = action(&app, &admin, "currentStore", r#"storeHash: "storeb""#).await;
    assert_eq!(
        named["result"],
        json!({"storeHash": "storeb", "storeId": b.to_string()}),
        "{named}"
    );
    let unknown = action(&app, &admin, "currentStore", r#"storeHash: "nope""#).await;
    assert_eq!(unknown["success"], false);
    assert!(
        unknown["errors"][0]["message"].as_str().unwrap().contains("nope"),
        "{unknown}"
    );
    // The merchant's actions are granted to the app's role, not to anonymous callers.
    let (_, anonymous) = app
        .gql_as(
            None,
            "mutation { readProducts { success errors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        anonymous["data"]["readProducts"]["errors"][0]["code"], "GGT_PERMISSION_DENIED",
        "{anonymous}"
    );
    let no_store = action(&app, &admin, "currentStore", "").await;
    assert_eq!(
        no_store["success"], false,
        "the system has no current store: {no_store}"
    );

    // 2: a product written to BigCommerce, in the session's store only.
    let before_b = product_ids(&fake, "storeb");
    let created = action(
        &app,
        &merchant_a,
        "createProduct",
        r#"name: "Guide shirt", type: "physical", price: 12.5, weight: 0.3"#,
    )
    .await;
    assert_eq!(created["success"], true, "{created}");
    let id = created["result"]["product"]["id"]
        .as_i64()
        .expect("BigCommerce's id");
    let stored = fake
        .store("storea")
        .unwrap()
        .with_data(|d| d.products.get(&id).map(|p| serde_json::to_value(p).unwrap()))
        .expect("the product is in store A");
    assert_eq!(stored["name"], "Guide shirt");
    assert_eq!(stored["price"], 12.5);
    assert_eq!(stored["weight"], 0.3);
    assert_eq!(product_ids(&fake, "storeb"), before_b);
}

/// Examples 4, 5 and 9: webhooks to the app's actions, for the delivery's store.
#[tokio::test]
async fn webhooks_create_upsert_and_store_metafields_on_products() {
    let fake = fake(&[spec("storea"), spec("storeb")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let ids = product_ids(&fake, "storea");

    // 4: created → one row in store A.
    deliver(
        &app,
        "storea",
        "store/product/created",
        json!({"type": "product", "id": ids[0]}),
    )
    .await;
    let row = format!("bigcommerce_id = {} AND store_id = {a}", ids[0]);
    eventually(&app, "bigcommerce_product", &row, 1).await;
    eventually(&app, "bigcommerce_product", &format!("store_id = {b}"), 0).await;
    // Only the API's creates are tagged by example 13's hook.
    assert!(
        fake.store("storea")
            .unwrap()
            .with_data(|d| d.metafields.values().all(|m| m.namespace != "guide")),
        "a product that came from BigCommerce is not tagged"
    );

    // 5: updated → the same row, changed.
    let store_a = fake.store("storea").unwrap();
    store_a
        .update_product(ids[0], json!({"name": "Renamed by the merchant"}))
        .unwrap();
    deliver(
        &app,
        "storea",
        "store/product/updated",
        json!({"type": "product", "id": ids[0]}),
    )
    .await;
    eventually(
        &app,
        "bigcommerce_product",
        &format!("{row} AND name = 'Renamed by the merchant'"),
        1,
    )
    .await;
    deliver(
        &app,
        "storea",
        "store/product/updated",
        json!({"type": "product", "id": ids[1]}),
    )
    .await;
    eventually(&app, "bigcommerce_product", &format!("store_id = {a}"), 2).await;

    // 9: a metafield of a product not yet stored: the product is fetched and created,
    // and the metafield's id and value land in the app's fields on it.
    let metafield = store_a
        .create_metafield(
            ids[2],
            json!({"namespace": "guide", "key": "color", "value": "teal", "permission_set": "app_only"}),
        )
        .unwrap();
    let metafield_id = metafield["id"].as_i64().unwrap();
    deliver(
        &app,
        "storea",
        "store/product/metafield/created",
        json!({"metafield_id": metafield_id, "resource_id": ids[2].to_string(), "resource_type": "product"}),
    )
    .await;
    let with_value = format!(
        "bigcommerce_id = {} AND store_id = {a} AND metafield_id = {metafield_id} AND metafield_value = 'teal'",
        ids[2]
    );
    eventually(&app, "bigcommerce_product", &with_value, 1).await;
    // The same for a product already stored: it is updated, not duplicated.
    let second = store_a
        .create_metafield(
            ids[0],
            json!({"namespace": "guide", "key": "size", "value": "XL"}),
        )
        .unwrap();
    deliver(
        &app,
        "storea",
        "store/product/metafield/created",
        json!({"metafield_id": second["id"], "resource_id": ids[0].to_string()}),
    )
    .await;
    eventually(
        &app,
        "bigcommerce_product",
        &format!("{row} AND metafield_value = 'XL' AND name = 'Renamed by the merchant'"),
        1,
    )
    .await;
    assert_eq!(
        count_rows(&app.db, "bigcommerce_product", &format!("store_id = {a}")).await,
        3
    );
    // The value is in the API, as a field of the product.
    let (_, read) = app
        .gql_as(
            Some(&merchant("storea")),
            "query($f: BigcommerceProductFilter) { bigcommerce { products(filter: $f) { edges { node { metafieldValue } } } } }",
            json!({"f": {"bigcommerceId": {"equals": ids[2]}}}),
        )
        .await;
    assert_eq!(
        read["data"]["bigcommerce"]["products"]["edges"][0]["node"]["metafieldValue"], "teal",
        "{read}"
    );
}

/// Example 6: a product and its variants in one upsert; `_converge` follows BigCommerce.
#[tokio::test]
async fn a_product_converges_with_its_variants() {
    let fake = fake(&[spec("storea").variants_per_product(3)]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let product = product_ids(&fake, "storea")[0];
    let variants = |fake: &FakeBigCommerce| {
        fake.store("storea").unwrap().with_data(|d| {
            d.products[&product]
                .variants
                .iter()
                .map(|v| v.id)
                .collect::<Vec<i64>>()
        })
    };
    let merchant_a = merchant("storea");
    let args = format!("bigcommerceId: {product}");
    let first = action(&app, &merchant_a, "upsertProductWithVariants", &args).await;
    assert_eq!(first["success"], true, "{first}");
    let local = first["result"]["id"].as_str().unwrap().to_owned();
    let want = variants(&fake);
    assert!(want.len() >= 2, "the fake gave the product variants");
    eventually(
        &app,
        "bigcommerce_product_variant",
        &format!("product_id = {local} AND store_id = {a}"),
        want.len() as i64,
    )
    .await;
    // A variant deleted in BigCommerce goes; the product keeps its id.
    fake.store("storea")
        .unwrap()
        .delete_variant(product, want[0])
        .unwrap();
    let second = action(&app, &merchant_a, "upsertProductWithVariants", &args).await;
    assert_eq!(second["result"]["id"], local.as_str(), "{second}");
    eventually(
        &app,
        "bigcommerce_product_variant",
        &format!("product_id = {local}"),
        want.len() as i64 - 1,
    )
    .await;
    eventually(
        &app,
        "bigcommerce_product_variant",
        &format!("product_id = {local} AND bigcommerce_id = {}", want[0]),
        0,
    )
    .await;
}

/// Examples 7 and 11: the schedule starts a product sync per installed store, which
/// enqueues upserts in batches into the `product-sync` queue.
#[tokio::test]
async fn the_scheduled_sync_copies_every_stores_products_through_a_queue() {
    let fake = fake(&[
        StoreSpec::new("storea", TOKEN)
            .products(120)
            .orders(0)
            .customers(0),
        StoreSpec::new("storeb", TOKEN)
            .products(30)
            .orders(0)
            .customers(0),
    ])
    .await;
    let app = guide(&fake, Duration::from_secs(1)).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    eventually(&app, "bigcommerce_product", &format!("store_id = {a}"), 120).await;
    eventually(&app, "bigcommerce_product", &format!("store_id = {b}"), 30).await;
    let queued = count_rows(&app.db, "bcgraph_background_action", "queue LIKE '%product-sync'").await;
    assert!(
        queued >= 150,
        "every product went through the product-sync queue ({queued})"
    );
    let scheduled = count_rows(
        &app.db,
        "bcgraph_background_action",
        "id LIKE '%schedule-syncAllStores-%'",
    )
    .await;
    assert!(scheduled >= 1, "the schedule enqueued syncAllStores");
    // The products are the store's, whole.
    let name = one_string(
        &app,
        &format!(
            "SELECT name FROM bigcommerce_product WHERE store_id = {b} AND bigcommerce_id = {}",
            product_ids(&fake, "storeb")[0]
        ),
    )
    .await;
    let want = fake
        .store("storeb")
        .unwrap()
        .with_data(|d| d.products.values().next().map(|p| p.name.to_string()));
    assert_eq!(name, want);
}

/// Example 8: six products created by background actions of a queue with
/// `maxConcurrency: 2` never have more than two requests in flight at BigCommerce.
#[tokio::test]
async fn a_queue_with_max_concurrency_two_keeps_two_creates_in_flight() {
    let fake = fake(&[StoreSpec::new("storea", TOKEN).products(0).orders(0).customers(0)]).await;
    let app = day_guide(&fake).await;
    seed::store(&app.db, "storea").await;
    fake.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    fake.store("storea").unwrap().reset_stats();
    let products: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("Queued {i}"), "type": "physical", "price": 5, "weight": 1}))
        .collect();
    let (_, body) = app
        .gql_as(
            Some(&merchant("storea")),
            "mutation($p: JSON!) { createProducts(products: $p) { success errors { message } result } }",
            json!({"p": products}),
        )
        .await;
    assert_eq!(body["data"]["createProducts"]["success"], true, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while product_ids(&fake, "storea").len() < 6 {
        assert!(Instant::now() < deadline, "six products were created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = fake.store("storea").unwrap().stats();
    let posts = fake
        .store("storea")
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/catalog/products"))
        .count();
    assert_eq!(posts, 6);
    assert!(
        stats.peak_concurrency <= 2,
        "at most two in flight: {}",
        stats.peak_concurrency
    );
    assert_eq!(stats.peak_concurrency, 2, "two ran side by side");
}

/// Example 10: a store's session reads only its store's orders, with no filter in the
/// action; the variant that names a store finds only the caller's own.
#[tokio::test]
async fn global_actions_read_only_the_callers_store() {
    let fake = fake(&[spec("storea"), spec("storeb")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let orders = app.api.model(names::ORDER);
    for (store, ids) in [(a, vec![1, 2, 3]), (b, vec![1, 40, 41, 42])] {
        for id in ids {
            orders
                .create(json!({"bigcommerceId": id, "totalIncTax": 10.0, "store": {"_link": store}}))
                .await
                .expect("an order");
        }
    }
    let mine = action(&app, &merchant("storea"), "processOrders", "").await;
    assert_eq!(
        mine["result"],
        json!({"count": 3, "total": 30.0, "bigcommerceIds": [1, 2, 3]}),
        "{mine}"
    );
    let theirs = action(&app, &merchant("storeb"), "processOrders", "").await;
    assert_eq!(theirs["result"]["count"], 4);
    let named_other = action(
        &app,
        &merchant("storea"),
        "processOrdersForStore",
        r#"storeHash: "storeb""#,
    )
    .await;
    assert_eq!(named_other["success"], false, "{named_other}");
    assert!(!named_other.to_string().contains("42"));
    let named_own = action(
        &app,
        &merchant("storea"),
        "processOrdersForStore",
        r#"storeHash: "storea""#,
    )
    .await;
    assert_eq!(named_own["result"]["count"], 3);
    let admin = format!("Bearer {}", app.admin_key);
    let as_system = action(&app, &admin, "processOrdersForStore", r#"storeHash: "storeb""#).await;
    assert_eq!(as_system["result"]["bigcommerceIds"], json!([1, 40, 41, 42]));
    // An anonymous caller may not run it at all (the grant is the app role's).
    let (_, anonymous) = app
        .gql_as(
            None,
            "mutation { processOrders { success errors { code } result } }",
            json!({}),
        )
        .await;
    let anonymous = &anonymous["data"]["processOrders"];
    assert_eq!(
        anonymous["errors"][0]["code"], "GGT_PERMISSION_DENIED",
        "{anonymous}"
    );
    assert!(anonymous["result"].is_null());
}

/// Example 12: the app's `bigcommerce/productReview` has the generated API, unique
/// `bigcommerceId` per store, upsert, bulk actions and tenancy, with no code of its own.
#[tokio::test]
async fn the_apps_own_model_gets_the_generated_api_and_tenancy() {
    let fake = fake(&[spec("storea"), spec("storeb")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let product_a = seed::product(&app.db, a, 1, "Shirt", |_| {}).await;
    let product_b = seed::product(&app.db, b, 1, "Shirt", |_| {}).await;
    let (ma, mb) = (merchant("storea"), merchant("storeb"));
    let create = "mutation($r: CreateBigcommerceProductReviewInput) { bigcommerce { createProductReview(productReview: $r) {
        success errors { code message } productReview { id title store { storeHash } } } } }";
    let review = |id: i64, product: i64| json!({"r": {"bigcommerceId": id, "title": format!("Review {id}"), "rating": 5, "product": {"_link": product.to_string()}}});
    let (_, first) = app.gql_as(Some(&ma), create, review(1, product_a)).await;
    let made = &first["data"]["bigcommerce"]["createProductReview"];
    assert_eq!(made["success"], true, "{first}");
    assert_eq!(
        made["productReview"]["store"]["storeHash"], "storea",
        "the store is the session's"
    );
    // Unique per store: again in A is refused, the same id in B is fine.
    let (_, again) = app.gql_as(Some(&ma), create, review(1, product_a)).await;
    assert_eq!(
        payload_codes(&again, "createProductReview"),
        vec!["GGT_INVALID_RECORD"],
        "{again}"
    );
    let (_, in_b) = app.gql_as(Some(&mb), create, review(1, product_b)).await;
    assert_eq!(
        in_b["data"]["bigcommerce"]["createProductReview"]["success"], true,
        "{in_b}"
    );
    // Store A cannot hang a review on B's product.
    let (_, across) = app.gql_as(Some(&ma), create, review(2, product_b)).await;
    assert_eq!(
        across["data"]["bigcommerce"]["createProductReview"]["success"], false,
        "{across}"
    );
    // bigcommerceId is required.
    let (_, missing) = app
        .gql_as(
            Some(&ma),
            create,
            json!({"r": {"title": "no id", "product": {"_link": product_a.to_string()}}}),
        )
        .await;
    assert_eq!(
        payload_codes(&missing, "createProductReview"),
        vec!["GGT_INVALID_RECORD"],
        "{missing}"
    );
    // Bulk create and upsert on (bigcommerceId, store).
    let (_, bulk) = app
        .gql_as(
            Some(&ma),
            "mutation($i: [BulkCreateBigcommerceProductReviewsInput!]!) { bigcommerce { bulkCreateProductReviews(inputs: $i) { success } } }",
            json!({"i": [{"productReview": {"bigcommerceId": 10, "product": {"_link": product_a.to_string()}}},
                         {"productReview": {"bigcommerceId": 11, "product": {"_link": product_a.to_string()}}}]}),
        )
        .await;
    assert_eq!(
        bulk["data"]["bigcommerce"]["bulkCreateProductReviews"]["success"], true,
        "{bulk}"
    );
    let (_, upserted) = app
        .gql_as(
            Some(&ma),
            r#"mutation($r: UpsertBigcommerceProductReviewInput) { bigcommerce { upsertProductReview(on: ["bigcommerceId", "store"], productReview: $r) { success } } }"#,
            json!({"r": {"bigcommerceId": 10, "title": "Upserted", "product": {"_link": product_a.to_string()}}}),
        )
        .await;
    assert_eq!(
        upserted["data"]["bigcommerce"]["upsertProductReview"]["success"], true,
        "{upserted}"
    );
    assert_eq!(
        count_rows(&app.db, "bigcommerce_product_review", &format!("store_id = {a}")).await,
        3
    );
    assert_eq!(
        count_rows(
            &app.db,
            "bigcommerce_product_review",
            "bigcommerce_id = 10 AND title = 'Upserted'"
        )
        .await,
        1
    );
    // Reads: each store sees its own, with filters and search.
    let list = "query($f: BigcommerceProductReviewFilter, $s: String) { bigcommerce { productReviews(filter: $f, search: $s) { edges { node { bigcommerceId } } } } }";
    let ids = |body: &Value| -> Vec<i64> {
        body["data"]["bigcommerce"]["productReviews"]["edges"]
            .as_array()
            .unwrap_or(&vec![])
            .iter()
            .map(|e| e["node"]["bigcommerceId"].as_i64().unwrap())
            .collect()
    };
    let (_, of_a) = app.gql_as(Some(&ma), list, json!({})).await;
    assert_eq!(ids(&of_a), vec![1, 10, 11], "{of_a}");
    let (_, of_b) = app.gql_as(Some(&mb), list, json!({})).await;
    assert_eq!(ids(&of_b), vec![1]);
    let (_, filtered) = app
        .gql_as(
            Some(&ma),
            list,
            json!({"f": {"bigcommerceId": {"greaterThan": 5}}, "s": "Upserted"}),
        )
        .await;
    assert_eq!(ids(&filtered), vec![10]);
    let (_, anonymous) = app.gql_as(None, list, json!({})).await;
    assert!(ids(&anonymous).is_empty(), "{anonymous}");
}

/// Example 13: code before and after the generated `create` of the built-in product, on
/// the mutation and its bulk form: a refusal writes nothing; a create is trimmed and
/// then tagged in BigCommerce.
#[tokio::test]
async fn hooks_on_the_generated_create_refuse_change_and_follow_up() {
    let fake = fake(&[spec("storea")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let key = store_key(&app, "storea").await;
    let bigcommerce_id = product_ids(&fake, "storea")[0];
    let create = "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) {
        success errors { code message ... on InvalidRecordError { validationErrors { apiIdentifier message } } } product { id name } } } }";
    let (_, refused) = app
        .gql_as(
            Some(&key),
            create,
            json!({"p": {"bigcommerceId": 9_999, "name": "Negative", "price": -1}}),
        )
        .await;
    let refused_body = refused.to_string();
    let refused = &refused["data"]["bigcommerce"]["createProduct"];
    assert_eq!(
        refused["errors"][0]["code"], "GGT_INVALID_RECORD",
        "{refused_body}"
    );
    assert_eq!(
        refused["errors"][0]["validationErrors"][0]["apiIdentifier"],
        "price"
    );
    assert_eq!(
        count_rows(&app.db, "bigcommerce_product", "bigcommerce_id = 9999").await,
        0
    );

    let (_, made) = app
        .gql_as(
            Some(&key),
            create,
            json!({"p": {"bigcommerceId": bigcommerce_id, "name": "  Shirt  ", "price": 3}}),
        )
        .await;
    let made = &made["data"]["bigcommerce"]["createProduct"];
    assert_eq!(made["success"], true, "{made}");
    assert_eq!(
        made["product"]["name"], "Shirt",
        "the before hook's change is written"
    );
    let local = made["product"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        count_rows(
            &app.db,
            "bigcommerce_product",
            &format!("id = {local} AND store_id = {a}")
        )
        .await,
        1
    );
    let tags = fake.store("storea").unwrap().with_data(|d| {
        d.metafields
            .values()
            .filter(|m| m.namespace == "guide" && m.key == "createdInApp")
            .map(|m| (m.resource_id, m.value.to_string()))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        tags,
        vec![(bigcommerce_id, local.clone())],
        "the after hook tagged the product"
    );

    // The bulk form runs the same hooks, item by item.
    let (_, bulk) = app
        .gql_as(
            Some(&key),
            "mutation($i: [BulkCreateBigcommerceProductsInput!]!) { bigcommerce { bulkCreateProducts(inputs: $i) { success errors { code } products { name } } } }",
            json!({"i": [{"product": {"bigcommerceId": 5_001, "name": " Ok "}},
                         {"product": {"bigcommerceId": 5_002, "name": "Bad", "price": -5}}]}),
        )
        .await;
    let bulk = &bulk["data"]["bigcommerce"]["bulkCreateProducts"];
    assert_eq!(bulk["errors"][0]["code"], "GGT_INVALID_RECORD", "{bulk}");
    assert_eq!(
        count_rows(
            &app.db,
            "bigcommerce_product",
            "bigcommerce_id = 5001 AND name = 'Ok'"
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(&app.db, "bigcommerce_product", "bigcommerce_id = 5002").await,
        0
    );

    // An upsert that creates, and a background create, go through the same hook.
    let (_, upsert) = app
        .gql_as(
            Some(&key),
            r#"mutation($p: UpsertBigcommerceProductInput) { bigcommerce { upsertProduct(on: ["bigcommerceId", "store"], product: $p) { success errors { code } } } }"#,
            json!({"p": {"bigcommerceId": 5_003, "name": "Up", "price": -2}}),
        )
        .await;
    assert_eq!(
        payload_codes(&upsert, "upsertProduct"),
        vec!["GGT_INVALID_RECORD"],
        "{upsert}"
    );
    let (_, queued) = app
        .gql_as(
            Some(&key),
            "mutation($p: CreateBigcommerceProductInput) { background { bigcommerce { createProduct(product: $p) { success backgroundAction { id } } } } }",
            json!({"p": {"bigcommerceId": 5_004, "name": "Later", "price": -3}}),
        )
        .await;
    assert_eq!(
        queued["data"]["background"]["bigcommerce"]["createProduct"]["success"], true,
        "{queued}"
    );
    eventually(&app, "bcgraph_background_action", "state = 'failed'", 1).await;
    let error = one_string(
        &app,
        "SELECT last_error FROM bcgraph_background_action WHERE state = 'failed'",
    )
    .await;
    assert!(
        error.unwrap_or_default().contains("price"),
        "the hook refused the background create"
    );
    assert_eq!(
        count_rows(&app.db, "bigcommerce_product", "bigcommerce_id IN (5003, 5004)").await,
        0
    );
}

/// The app's own route: the caller's identity and store apply to what it reads.
#[tokio::test]
async fn the_apps_route_sees_the_callers_store_only() {
    let fake = fake(&[spec("storea"), spec("storeb")]).await;
    let app = day_guide(&fake).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    for (store, n) in [(a, 2), (b, 5)] {
        for i in 0..n {
            seed::product(&app.db, store, 100 + i, "Thing", |_| {}).await;
        }
    }
    let get = |auth: Option<String>| {
        let mut request = app.http.get(format!("{}/guide/summary", app.url));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let of_a = get(Some(store_key(&app, "storea").await)).await;
    assert_eq!(of_a, json!({"store": a.to_string(), "products": 2, "reviews": 0}));
    let of_b = get(Some(merchant("storeb"))).await;
    assert_eq!(of_b["products"], 5);
    let anonymous = get(None).await;
    assert_eq!(anonymous, json!({"store": null, "products": 0, "reviews": 0}));
    // A forged credential is refused, not treated as anonymous.
    let forged = get(Some("Bearer not-a-key".into())).await;
    assert_eq!(
        forged["errors"][0]["extensions"]["code"], "GGT_PERMISSION_DENIED",
        "{forged}"
    );
    // Another store's merchant cannot reach A's products by any path of the route.
    assert_eq!(get(Some(merchant("storeb"))).await["store"], b.to_string());
    let admin = get(Some(format!("Bearer {}", app.admin_key))).await;
    assert_eq!(admin["products"], 7, "the system sees every store");
}

/// An action named so that its result type would replace a model's is refused at start,
/// instead of silently replacing `CreateBigcommerceProductResult`.
#[test]
fn a_global_action_that_takes_a_generated_name_is_refused() {
    struct Clash;
    impl bcgraph::GlobalAction for Clash {
        type Params = Value;
        fn namespace(&self) -> Option<&'static str> {
            None
        }
        fn name(&self) -> &'static str {
            "createBigcommerceProduct"
        }
        fn params(&self) -> Vec<bcgraph::Param> {
            Vec::new()
        }
        async fn run(&self, _: &bcgraph::Context, _: Value) -> Result<Value, bcgraph::ActionError> {
            Ok(Value::Null)
        }
    }
    let refused = bcgraph::App::new().action(Clash).schema_sdl().unwrap_err();
    assert!(
        refused.to_string().contains("CreateBigcommerceProductResult"),
        "{refused}"
    );
}

/// A field added to a built-in model without the migration that makes its column stops
/// the start with a message naming the column, instead of failing on the first write.
#[tokio::test]
async fn an_added_field_without_its_column_stops_the_start() {
    let test_db = crate::support::TestDb::new().await;
    let db = bcgraph::db::connect(&test_db.url).await.expect("connect");
    let app = bcgraph::App::new().field(names::PRODUCT, bcgraph::ExtraField::string("giftWrap"));
    let refused = app.migrate(&db).await.unwrap_err();
    assert!(
        matches!(refused, bcgraph::AppError::MissingColumn { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("bigcommerce_product.gift_wrap"),
        "{refused}"
    );
    // bcgraph's own migrations ran: the app's history is added after them.
    assert_eq!(count_rows(&db, "bigcommerce_store", "1 = 1").await, 0);
}

/// The app's routes are limited per address like the API: a flood of anonymous requests
/// is refused with 429, while a system-admin key (which opens) is not counted.
#[tokio::test]
async fn the_apps_routes_are_rate_limited_per_address() {
    let fake = fake(&[spec("storea")]).await;
    let app = TestApp::start_app(
        guide::app(guide::Settings::from_env()),
        &[
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "1"),
        ],
    )
    .await;
    let url = format!("{}/guide/summary", app.url);
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(app.http.get(&url).send().await.unwrap().status().as_u16());
    }
    assert!(statuses.contains(&200), "the burst is served: {statuses:?}");
    assert!(
        statuses.contains(&429),
        "then the address is limited: {statuses:?}"
    );
    // A forged key is charged to the address too; a key that opens is not.
    let forged = app
        .http
        .get(&url)
        .header("authorization", "Bearer not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);
    let admin = app
        .http
        .get(&url)
        .header("authorization", format!("Bearer {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
}
