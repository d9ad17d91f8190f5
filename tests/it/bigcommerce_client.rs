//! The BigCommerce client against the fake BigCommerce over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use bcgraph::bigcommerce::{BigCommerce, ClientOptions, Error, Paging, StoreClient};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, Faults, OAuthGrant, RateLimit, StoreSpec};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

const HASH: &str = "teststore";
const TOKEN: &str = "secret-token";

/// Production pacing logic with test-sized timings.
fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(100),
        default_rate_limit_wait: Duration::from_millis(100),
        ..ClientOptions::default()
    }
}

async fn start(spec: StoreSpec, rate_limit: Option<RateLimit>) -> FakeBigCommerce {
    FakeBigCommerce::start(FakeOptions::default().store(spec).rate_limit(rate_limit))
        .await
        .unwrap()
}

fn client(fake: &FakeBigCommerce, options: ClientOptions) -> StoreClient {
    BigCommerce::new(fake.url(), options).unwrap().store(HASH, TOKEN)
}

fn spec(products: usize) -> StoreSpec {
    StoreSpec::new(HASH, TOKEN).products(products)
}

async fn ids_of(stream: impl futures::Stream<Item = Result<Value, Error>>) -> Vec<i64> {
    stream
        .map_ok(|item| item["id"].as_i64().unwrap())
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn v3_get_post_put_delete_and_404_is_none() {
    let fake = start(spec(5), None).await;
    let store = client(&fake, options());

    let created = store
        .v3()
        .post("/catalog/products")
        .json(&json!({"name": "Trail Mug", "type": "physical", "price": 12.5, "weight": 1}))
        .send()
        .await
        .unwrap()
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(id, 6);
    assert_eq!(created["name"], "Trail Mug");

    let fetched = store
        .v3()
        .get("/catalog/products/{product_id}")
        .path_param("product_id", id)
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched["price"], 12.5);

    let updated = store
        .v3()
        .put("/catalog/products/{product_id}")
        .path_param("product_id", id)
        .json(&json!({"price": 14.0}))
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated["price"], 14.0);
    assert_eq!(updated["name"], "Trail Mug");

    let deleted = store
        .v3()
        .delete("/catalog/products/{product_id}")
        .path_param("product_id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted, None, "204 answers are empty");

    let gone = store
        .v3()
        .get("/catalog/products/{product_id}")
        .path_param("product_id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(gone, None, "a missing resource is Ok(None), not an error");

    let requests = fake.store(HASH).unwrap().requests();
    assert_eq!(requests.len(), 5, "nothing was retried");
    for request in &requests {
        assert_eq!(request.accept.as_deref(), Some("application/json"));
        assert!(request.user_agent.as_deref().unwrap().starts_with("bcgraph/"));
        let is_write = request.method == "POST" || request.method == "PUT";
        assert_eq!(request.content_type.is_some(), is_write, "{request:?}");
    }
    assert_eq!(requests[0].path, format!("/stores/{HASH}/v3/catalog/products"));
}

#[derive(Debug, Deserialize, PartialEq)]
struct ProductRow {
    id: i64,
    sku: String,
    variants: Vec<VariantRow>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct VariantRow {
    id: i64,
    product_id: i64,
}

#[tokio::test]
async fn typed_answers_and_typed_listings() {
    let fake = start(spec(30), None).await;
    let store = client(&fake, options());
    let product: ProductRow = store
        .v3()
        .get("/catalog/products/{id}")
        .path_param("id", 3)
        .query("include", ["variants"])
        .send_as()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(product.sku, "SKU-0000003");
    assert_eq!(product.variants.len(), 3);
    assert!(product.variants.iter().all(|v| v.product_id == 3));

    let rows: Vec<ProductRow> = store
        .v3()
        .list("/catalog/products")
        .query("include", ["variants", "custom_fields"])
        .limit(7)
        .items_as::<ProductRow>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 30);
    assert_eq!(rows.iter().map(|r| r.variants.len()).sum::<usize>(), 90);

    // A listing whose items do not match the type fails with the body, not a panic.
    let wrong = store
        .v3()
        .list("/catalog/brands")
        .items_as::<ProductRow>()
        .try_collect::<Vec<_>>()
        .await;
    assert!(matches!(wrong, Err(Error::Decode { .. })), "{wrong:?}");
}

#[tokio::test]
async fn path_and_query_parameters_are_encoded() {
    let fake = start(spec(20), None).await;
    let store = client(&fake, options());
    let fake_store = fake.store(HASH).unwrap();

    let ids = ids_of(
        store
            .v3()
            .list("/catalog/products")
            .query("id:in", [3, 5, 7])
            .query("sort", "id")
            .query("direction", "desc")
            .items(),
    )
    .await;
    assert_eq!(ids, vec![7, 5, 3]);
    let query = fake_store.requests()[0].query.clone().unwrap();
    assert_eq!(query, "id:in=3,5,7&sort=id&direction=desc&limit=250");

    let none = store
        .v3()
        .get("/catalog/products")
        .query("name", "a&b c/ü")
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(none, json!([]), "the whole value arrived as one name");
    assert_eq!(
        fake_store.requests()[1].query.as_deref(),
        Some("name=a%26b%20c%2F%C3%BC")
    );

    // A path value is one segment: "1/variants" must not reach the variants route.
    let escaped = store
        .v3()
        .get("/catalog/products/{id}")
        .path_param("id", "1/variants")
        .send()
        .await
        .unwrap();
    assert_eq!(escaped, None);
    assert_eq!(
        fake_store.requests()[2].path,
        format!("/stores/{HASH}/v3/catalog/products/1%2Fvariants")
    );

    // Placeholders and parameters must match.
    let missing = store.v3().get("/catalog/products/{id}").send().await;
    assert!(matches!(missing, Err(Error::InvalidRequest(_))));
    assert_eq!(fake_store.requests().len(), 3, "an invalid request is never sent");
}

#[tokio::test]
async fn lists_10000_products_complete_and_in_order() {
    let fake = start(spec(10_000).variants_per_product(1), None).await;
    let store = client(&fake, options());
    let pages: Vec<Vec<Value>> = store
        .v3()
        .list("/catalog/products")
        .query("include", ["variants", "custom_fields", "images"])
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 40);
    assert!(pages.iter().all(|p| p.len() == 250));
    let ids: Vec<i64> = pages
        .iter()
        .flatten()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=10_000).collect::<Vec<_>>());
    let last = &pages[39][249];
    assert_eq!(last["variants"].as_array().unwrap().len(), 1);
    assert_eq!(last["custom_fields"].as_array().unwrap().len(), 2);
    assert_eq!(last["images"].as_array().unwrap().len(), 1);
    let stats = fake.store(HASH).unwrap().stats();
    assert_eq!(stats.total_requests, 40, "no page past the last one");
    assert!(stats.peak_concurrency <= 2, "one page of prefetch, not more");

    // Sorted by date_modified descending with a filter, still complete.
    let modified: Vec<Value> = store
        .v3()
        .list("/catalog/products")
        .query("date_modified:min", "2024-01-01T00:00:00Z")
        .query("sort", "date_modified")
        .query("direction", "desc")
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(modified.len(), 10_000);
    let dates: Vec<&str> = modified
        .iter()
        .map(|p| p["date_modified"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn cursor_paging_for_customers_and_page_numbers_for_metafields() {
    let fake = start(spec(600).customers(520), None).await;
    let store = client(&fake, options());
    let fake_store = fake.store(HASH).unwrap();

    let customers = ids_of(store.v3().list("/customers").items()).await;
    assert_eq!(customers, (1..=520).collect::<Vec<_>>());
    let requests = fake_store.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].query.as_deref().unwrap().contains("limit=250"));
    assert!(!requests[0].query.as_deref().unwrap().contains("after="));
    assert!(requests[1].query.as_deref().unwrap().contains("after="));
    assert!(requests[2].query.as_deref().unwrap().contains("after="));

    // BigCommerce's metafield listings are page-numbered (`page`, `meta.pagination`).
    let metafields: Vec<Value> = store
        .v3()
        .list("/catalog/products/metafields")
        .paging(Paging::Pages)
        .limit(100)
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(metafields.len(), 600);
    let unique: HashSet<i64> = metafields.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(unique.len(), 600);

    let of_one = ids_of(
        store
            .v3()
            .list("/catalog/products/{product_id}/metafields")
            .path_param("product_id", 42)
            .items(),
    )
    .await;
    assert_eq!(of_one, vec![42]);
}

#[tokio::test]
async fn v2_orders_page_until_204_or_a_short_page() {
    let fake = start(spec(50).orders(500), None).await;
    let store = client(&fake, options());
    let fake_store = fake.store(HASH).unwrap();

    let ids = ids_of(store.v2().list("/orders").query("sort", "id:asc").items()).await;
    assert_eq!(ids, (1..=500).collect::<Vec<_>>());
    // 250 + 250 + an empty page answered 204.
    let statuses: Vec<u16> = fake_store.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 204]);

    fake_store.reset_stats();
    let recent = ids_of(store.v2().list("/orders").query("min_id", 231).items()).await;
    assert_eq!(recent.len(), 270);
    assert_eq!(fake_store.requests().len(), 2, "a short page is the last one");

    let order = store
        .v2()
        .get("/orders/{id}")
        .path_param("id", 7)
        .send()
        .await
        .unwrap()
        .unwrap();
    assert!(order["total_inc_tax"].as_str().unwrap().contains('.'));
    assert!(order["date_modified"].as_str().unwrap().ends_with("+0000"));
    let lines = store
        .v2()
        .get("/orders/{id}/products")
        .path_param("id", 7)
        .send()
        .await
        .unwrap()
        .unwrap();
    assert!(!lines.as_array().unwrap().is_empty());
    assert_eq!(lines[0]["order_id"], 7);

    let empty = store
        .v2()
        .get("/orders")
        .query("min_id", 100_000)
        .send()
        .await
        .unwrap();
    assert_eq!(empty, None, "v2 204 is an empty answer");
    let missing = store
        .v2()
        .get("/orders/{id}")
        .path_param("id", 99_999)
        .send()
        .await
        .unwrap();
    assert_eq!(missing, None);

    let created = store
        .v2()
        .post("/orders")
        .json(&json!({"customer_id": 1, "products": [{"product_id": 1, "quantity": 2, "price_inc_tax": "10.5"}]}))
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created["total_inc_tax"], "21.0000");
    let order_id = created["id"].as_i64().unwrap();

    let shipped = store
        .v2()
        .put("/orders/{id}")
        .path_param("id", order_id)
        .json(&json!({"status_id": 2}))
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shipped["status"], "Shipped");
    let archived = store
        .v2()
        .delete("/orders/{id}")
        .path_param("id", order_id)
        .send()
        .await
        .unwrap();
    assert_eq!(archived, None);
    let after = store
        .v2()
        .get("/orders/{id}")
        .path_param("id", order_id)
        .send()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after["is_deleted"], true);
}

#[tokio::test]
async fn errors_carry_status_and_body_and_4xx_is_not_retried() {
    let fake = start(spec(5), None).await;
    let store = client(&fake, options());
    let fake_store = fake.store(HASH).unwrap();

    let invalid = store
        .v3()
        .post("/catalog/products")
        .json(&json!({"price": 3}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid.status(), Some(422));
    assert_eq!(invalid.attempts(), Some(1));
    assert!(invalid.body().unwrap().contains("name is required"), "{invalid}");
    assert!(
        invalid.to_string().contains("POST /v3/catalog/products"),
        "{invalid}"
    );

    let bad = store
        .v3()
        .get("/catalog/products")
        .query("id:in", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));

    let too_big = store
        .v3()
        .get("/catalog/products")
        .query("limit", 300)
        .send()
        .await
        .unwrap_err();
    assert_eq!(too_big.status(), Some(413));
    assert_eq!(fake_store.stats().total_requests, 3, "no 4xx was retried");

    let wrong = BigCommerce::new(fake.url(), options())
        .unwrap()
        .store(HASH, "not-the-token");
    let unauthorized = wrong.v3().get("/catalog/products").send().await.unwrap_err();
    assert_eq!(unauthorized.status(), Some(401));
    assert!(!unauthorized.to_string().contains("not-the-token"));
    assert!(
        !format!("{wrong:?}").contains("not-the-token"),
        "the token is never printed"
    );
}

#[tokio::test]
async fn permanent_500_fails_after_the_retry_cap_with_the_body() {
    let fake = start(spec(5), None).await;
    fake.set_faults(Faults {
        error_500: 1.0,
        ..Faults::default()
    });
    let store = client(
        &fake,
        ClientOptions {
            max_attempts: 4,
            ..options()
        },
    );
    let error = store.v3().get("/catalog/products").send().await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Status {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.body().unwrap().contains("Internal fault injected"));
    assert_eq!(fake.store(HASH).unwrap().stats().total_requests, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_completes_through_503s_and_dropped_connections() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .store(spec(5_000).variants_per_product(1))
            .rate_limit(None)
            .seed(7)
            .faults(Faults {
                error_503: 0.2,
                drop_connection: 0.1,
                truncate_body: 0.05,
                ..Faults::default()
            }),
    )
    .await
    .unwrap();
    let store = client(
        &fake,
        ClientOptions {
            max_attempts: 12,
            ..options()
        },
    );
    let ids = ids_of(
        store
            .v3()
            .list("/catalog/products")
            .query("include", "variants")
            .items(),
    )
    .await;
    assert_eq!(ids, (1..=5_000).collect::<Vec<_>>());
    let stats = fake.store(HASH).unwrap().stats();
    assert!(stats.served_5xx > 0, "{stats:?}");
    assert!(stats.dropped_connections > 0, "{stats:?}");
    assert!(stats.total_requests > 20, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_share_the_quota_without_a_429() {
    let fake = start(
        spec(2_000).variants_per_product(0),
        Some(RateLimit::new(150, Duration::from_millis(500))),
    )
    .await;
    // A little latency makes the tasks' requests overlap at the server, as they do in production.
    fake.set_faults(Faults {
        latency: Duration::from_millis(2),
        ..Faults::default()
    });
    let bigcommerce = BigCommerce::new(fake.url(), options()).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = bigcommerce.store(HASH, TOKEN);
            tokio::spawn(async move { ids_of(store.v3().list("/catalog/products").limit(50).items()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), (1..=2_000).collect::<Vec<_>>());
    }
    let stats = fake.store(HASH).unwrap().stats();
    assert_eq!(stats.total_requests, 8 * 40);
    assert_eq!(stats.served_429, 0, "{stats:?}");
    assert!(stats.max_served_per_window() <= 150);
    assert!(stats.windows.len() >= 3, "the quota was binding: {stats:?}");
    assert!(stats.peak_concurrency > 1, "the tasks did run concurrently");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_app_causes_429s_and_the_client_recovers() {
    let fake = start(
        spec(2_000).variants_per_product(0),
        Some(RateLimit::new(150, Duration::from_millis(300)).neighbour(100)),
    )
    .await;
    fake.set_faults(Faults {
        latency: Duration::from_millis(3),
        ..Faults::default()
    });
    let bigcommerce = BigCommerce::new(fake.url(), options()).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = bigcommerce.store(HASH, TOKEN);
            tokio::spawn(async move { ids_of(store.v3().list("/catalog/products").limit(50).items()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), (1..=2_000).collect::<Vec<_>>());
    }
    let stats = fake.store(HASH).unwrap().stats();
    let served: u32 = stats.windows.values().map(|w| w.served).sum();
    assert_eq!(served, 8 * 40, "every page was served once");
    assert!(
        stats.windows.values().all(|w| w.served + w.neighbour <= 150),
        "{stats:?}"
    );
    assert!(stats.windows.values().any(|w| w.neighbour > 0), "{stats:?}");
    // The 429s that happen are the neighbour's doing; the pacer keeps them rare.
    assert!(stats.served_429 < 40, "{stats:?}");
    eprintln!(
        "neighbour test: {} 429s over {} windows",
        stats.served_429,
        stats.windows.len()
    );
}

#[tokio::test]
async fn a_429_without_headers_backs_off_instead_of_looping() {
    let fake = start(spec(5), None).await;
    fake.set_faults(Faults {
        platform_429: 1.0,
        ..Faults::default()
    });
    let store = client(&fake, options());
    let outcome = tokio::time::timeout(
        Duration::from_millis(1_500),
        store.v3().get("/catalog/products").send(),
    )
    .await;
    assert!(outcome.is_err(), "still waiting for the platform after 1.5 s");
    let requests = fake.store(HASH).unwrap().stats().total_requests;
    // 100 + 200 + 400 + 800 ms of back-off: at most 5 requests; a tight loop sends hundreds.
    assert!((3..=5).contains(&requests), "{requests} requests");

    let capped = client(
        &fake,
        ClientOptions {
            max_rate_limited_attempts: 2,
            default_rate_limit_wait: Duration::from_millis(10),
            ..options()
        },
    );
    let error = capped.v3().get("/catalog/products").send().await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { attempts: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_task_of_the_store() {
    // A quota of 3 per 300 ms window makes the 4th concurrent request a 429 unless the
    // pacer, having seen the first answer's headers, holds the others back.
    let fake = start(spec(5), Some(RateLimit::new(3, Duration::from_millis(300)))).await;
    let bigcommerce = BigCommerce::new(fake.url(), options()).unwrap();
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = bigcommerce.store(HASH, TOKEN);
            tokio::spawn(async move {
                store
                    .v3()
                    .get("/catalog/products/{id}")
                    .path_param("id", i % 5 + 1)
                    .send()
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().is_some());
    }
    let stats = fake.store(HASH).unwrap().stats();
    assert_eq!(stats.served_429, 0, "{stats:?}");
    assert!(stats.max_served_per_window() <= 3);
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "12 requests need 4 windows"
    );
}

#[tokio::test]
async fn clients_of_one_store_share_pacing() {
    let bigcommerce = BigCommerce::new("http://127.0.0.1:9", options()).unwrap();
    let a = bigcommerce.store("one", "t1");
    let b = bigcommerce.clone().store("one", "t1");
    let c = bigcommerce.store("two", "t2");
    assert!(std::sync::Arc::ptr_eq(a.pacer(), b.pacer()));
    assert!(!std::sync::Arc::ptr_eq(a.pacer(), c.pacer()));
    assert!(BigCommerce::new("api.bigcommerce.com", options()).is_err());
}

#[tokio::test]
async fn product_change_delivers_a_webhook_with_the_custom_header() {
    use axum::http::HeaderMap;
    use tokio::sync::mpsc;

    let (tx, mut rx) = mpsc::unbounded_channel::<(HeaderMap, Value)>();
    let receiver = axum::Router::new().route(
        "/webhooks/bigcommerce",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/webhooks/bigcommerce", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let fake = start(spec(10), None).await;
    let store = client(&fake, options());
    let hook = store
        .v3()
        .post("/hooks")
        .json(&json!({
            "scope": "store/product/*",
            "destination": receiver_url,
            "is_active": true,
            "headers": {"x-webhook-secret": "s3cret"},
        }))
        .send()
        .await
        .unwrap()
        .unwrap();
    store
        .v3()
        .post("/hooks")
        .json(&json!({"scope": "store/order/*", "destination": receiver_url, "is_active": true}))
        .send()
        .await
        .unwrap();
    let hooks: Vec<Value> = store.v3().list("/hooks").items().try_collect().await.unwrap();
    assert_eq!(hooks.len(), 2);

    store
        .v3()
        .put("/catalog/products/{id}")
        .path_param("id", 5)
        .json(&json!({"price": 99.0}))
        .send()
        .await
        .unwrap();

    let (headers, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(headers.get("x-webhook-secret").unwrap(), "s3cret");
    assert_eq!(body["scope"], "store/product/updated");
    assert_eq!(body["data"], json!({"type": "product", "id": 5}));
    assert_eq!(body["producer"], format!("stores/{HASH}"));
    assert!(body["store_id"].is_string());
    assert_eq!(body["hash"].as_str().unwrap().len(), 40);
    assert!(body["created_at"].is_i64());

    // Only the matching hook fired; a change made through the Rust handle fires the same way.
    fake.store(HASH).unwrap().delete_product(6).unwrap();
    let (_, deleted) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted["scope"], "store/product/deleted");
    assert_eq!(deleted["data"]["id"], 6);
    let deliveries = fake.wait_for_deliveries(2, Duration::from_secs(1)).await;
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d.hook_id == hook["id"].as_i64().unwrap() && d.status == Some(200))
    );

    // After removing the hook nothing more is sent.
    store
        .v3()
        .delete("/hooks/{id}")
        .path_param("id", hook["id"].as_i64().unwrap())
        .send()
        .await
        .unwrap();
    fake.store(HASH)
        .unwrap()
        .update_product(7, json!({"name": "Renamed"}))
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err()
    );
    server.abort();
}

#[tokio::test]
async fn oauth_install_code_exchange() {
    let fake = start(spec(1), None).await;
    fake.add_oauth_grant(OAuthGrant::new("code-1", "newstore", "tok-new"));
    let http = reqwest::Client::new();
    let request = json!({
        "client_id": "app", "client_secret": "shh", "code": "code-1",
        "context": "stores/newstore", "scope": "store_v2_products",
        "grant_type": "authorization_code", "redirect_uri": "https://app.example.com/auth",
    });
    let answer = http
        .post(format!("{}/oauth2/token", fake.url()))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["access_token"], "tok-new");
    assert_eq!(body["context"], "stores/newstore");
    assert!(body["user"]["email"].is_string() && body["owner"]["id"].is_i64());

    // The code is spent, and the new token works against the new store.
    let again = http
        .post(format!("{}/oauth2/token", fake.url()))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("Invalid verification code"));
    let store = BigCommerce::new(fake.url(), options())
        .unwrap()
        .store("newstore", "tok-new");
    let products = store.v3().get("/catalog/products").send().await.unwrap().unwrap();
    assert_eq!(products, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_page_fetching_keeps_the_order() {
    let fake = start(spec(3_000).variants_per_product(0), None).await;
    fake.set_faults(Faults {
        latency: Duration::from_millis(5),
        ..Faults::default()
    });
    let store = client(&fake, options());
    let ids = ids_of(
        store
            .v3()
            .list("/catalog/products")
            .limit(100)
            .concurrency(4)
            .items(),
    )
    .await;
    assert_eq!(ids, (1..=3_000).collect::<Vec<_>>());
    let stats = fake.store(HASH).unwrap().stats();
    assert_eq!(stats.total_requests, 30, "every page once, none past the end");
    assert!(stats.peak_concurrency >= 3, "{stats:?}");
    assert!(stats.peak_concurrency <= 5, "{stats:?}");
}

#[tokio::test]
async fn webhook_duplicates_keep_their_hash_and_drops_are_recorded() {
    let fake = start(spec(3), None).await;
    let store = client(&fake, options());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let destination = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    store
        .v3()
        .post("/hooks")
        .json(&json!({"scope": "store/sku/*", "destination": destination, "is_active": true}))
        .send()
        .await
        .unwrap();

    fake.set_webhook_options(fake_bigcommerce::WebhookOptions {
        duplicate: 1.0,
        signing_secret: Some("client-secret".into()),
        ..Default::default()
    });
    store
        .v3()
        .put("/catalog/products/{p}/variants/{v}")
        .path_param("p", 1)
        .path_param("v", 2)
        .json(&json!({"inventory_level": 5}))
        .send()
        .await
        .unwrap();
    let deliveries = fake.wait_for_deliveries(2, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0].body["hash"], deliveries[1].body["hash"]);
    assert_eq!(deliveries.iter().filter(|d| d.duplicate).count(), 1);
    let signed = &deliveries[0];
    assert_eq!(
        signed.headers["webhook-id"],
        signed.body["hash"].as_str().unwrap()
    );
    assert_eq!(
        signed.headers["webhook-signature"],
        fake_bigcommerce::webhooks::sign(
            "client-secret",
            &signed.headers["webhook-id"],
            &signed.headers["webhook-timestamp"],
            &signed.body.to_string()
        )
    );
    assert_eq!(
        deliveries[0].body["data"],
        json!({"type": "sku", "id": 2, "sku": {"product_id": 1, "variant_id": 2}})
    );

    fake.set_webhook_options(fake_bigcommerce::WebhookOptions {
        drop: 1.0,
        ..Default::default()
    });
    fake.store(HASH).unwrap().delete_variant(1, 3).unwrap();
    let deliveries = fake.wait_for_deliveries(3, Duration::from_secs(5)).await;
    assert!(deliveries[2].dropped && deliveries[2].status.is_none());
    server.abort();
}

#[tokio::test]
async fn connect_errors_and_timeouts_are_retried_up_to_the_cap() {
    // Nothing listens on a port we just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = BigCommerce::new(
        format!("http://127.0.0.1:{port}"),
        ClientOptions {
            max_attempts: 3,
            ..options()
        },
    )
    .unwrap()
    .store(HASH, TOKEN);
    let error = nowhere.v3().get("/catalog/products").send().await.unwrap_err();
    assert!(matches!(error, Error::Network { attempts: 3, .. }), "{error:?}");

    let fake = start(spec(5), None).await;
    fake.set_faults(Faults {
        latency: Duration::from_millis(400),
        ..Faults::default()
    });
    let impatient = client(
        &fake,
        ClientOptions {
            timeout: Duration::from_millis(100),
            max_attempts: 2,
            ..options()
        },
    );
    let error = impatient.v3().get("/catalog/products").send().await.unwrap_err();
    match &error {
        Error::Network { attempts, source, .. } => {
            assert_eq!(*attempts, 2);
            assert!(source.is_timeout(), "{source:?}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(fake.store(HASH).unwrap().stats().total_requests, 2);
}

#[tokio::test]
async fn webhook_batches_can_be_delayed_and_shuffled() {
    let fake = start(spec(30), None).await;
    let store = client(&fake, options());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let destination = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    store
        .v3()
        .post("/hooks")
        .json(&json!({"scope": "store/product/updated", "destination": destination, "is_active": true}))
        .send()
        .await
        .unwrap();
    fake.set_webhook_options(fake_bigcommerce::WebhookOptions {
        shuffle: true,
        delay: Duration::from_millis(150),
        batch_window: Duration::from_millis(100),
        ..Default::default()
    });
    let handle = fake.store(HASH).unwrap();
    let started = tokio::time::Instant::now();
    for id in 1..=20 {
        handle.update_product(id, json!({"price": 1.0})).unwrap();
    }
    handle.delete_product(21).unwrap(); // another scope: not delivered to this hook
    let deliveries = fake.wait_for_deliveries(20, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "deliveries waited"
    );
    assert_eq!(deliveries.len(), 20);
    let mut ids: Vec<i64> = deliveries
        .iter()
        .map(|d| d.body["data"]["id"].as_i64().unwrap())
        .collect();
    assert_ne!(ids, (1..=20).collect::<Vec<_>>(), "the batch was reordered");
    ids.sort();
    assert_eq!(
        ids,
        (1..=20).collect::<Vec<_>>(),
        "every event was delivered once"
    );
    server.abort();
}
