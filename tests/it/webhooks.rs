//! Webhooks against the fake BigCommerce over HTTP: registration, deliveries that are
//! duplicated, shuffled and delayed ending in the fake's data, and bad deliveries
//! refused without writing anything.

use crate::support::{CLIENT_SECRET, TestApp, mirror, seed};
use base64::Engine;
use bcgraph::action::GlobalActions;
use bcgraph::bigcommerce::webhooks::{self, SECRET_HEADER, Triggers, store_secret};
use bcgraph::bigcommerce::{BigCommerce, ClientOptions};
use bcgraph::queue::{self, Worker, WorkerOptions};
use entity::bigcommerce::{product, product_variant};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec, WebhookOptions};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The gateway secret the test harness configures.
const GATEWAY_SECRET: &[u8] = b"a-test-secret-that-is-long-enough-for-hs256";
const HASH: &str = "abc123";
const TOKEN: &str = "secret-token";

async fn fake(webhooks: WebhookOptions) -> FakeBigCommerce {
    FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .webhooks(webhooks)
            // Only what the webhooks bring: no generated metafields of the categories
            // and brands, which no webhook here would copy.
            .store(
                StoreSpec::new(HASH, TOKEN)
                    .products(0)
                    .orders(0)
                    .customers(0)
                    .owner_metafields_every(0),
            )
            .store(StoreSpec::new("other1", "other-token")),
    )
    .await
    .expect("fake starts")
}

async fn gateway(fake: &FakeBigCommerce) -> TestApp {
    TestApp::start_configured(GlobalActions::default(), &[("BIGCOMMERCE_API_URL", fake.url())]).await
}

fn destination(app: &TestApp) -> String {
    format!("{}/webhooks/bigcommerce", app.url)
}

async fn jobs(app: &TestApp) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) FROM \"bcgraph_background_action\"",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn registration_creates_reactivates_and_prunes_hooks() {
    let fake = fake(WebhookOptions::default()).await;
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let client = BigCommerce::new(fake.url(), ClientOptions::default())
        .unwrap()
        .store(HASH, TOKEN);
    let secret = store_secret(&crate::support::secrets(), HASH);
    let dest = destination(&app);
    // A hook of this gateway that is no longer configured, and one of somebody else.
    for (scope, to) in [
        ("store/cart/*", dest.as_str()),
        ("store/cart/*", "https://elsewhere.example/hook"),
    ] {
        client
            .v3()
            .post("/hooks")
            .json(&json!({"scope": scope, "destination": to, "is_active": true}))
            .send()
            .await
            .unwrap();
    }
    let scopes = Triggers::default().scopes();
    let done = webhooks::register(&client, &dest, &secret, &scopes)
        .await
        .unwrap();
    assert_eq!(done.created, scopes);
    assert_eq!(done.deleted, ["store/cart/*"]);
    let hooks = fake
        .store(HASH)
        .unwrap()
        .with_data(|d| d.hooks.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        hooks.len(),
        scopes.len() + 1,
        "the other destination's hook stays"
    );
    for hook in hooks.iter().filter(|h| h.destination == dest) {
        assert!(hook.is_active);
        assert_eq!(
            hook.headers.as_ref().and_then(|h| h.get(SECRET_HEADER)),
            Some(&secret)
        );
    }
    // Deactivate one: the next registration reactivates it and creates nothing.
    let product_hook = hooks.iter().find(|h| h.scope == "store/product/*").unwrap().id;
    client
        .v3()
        .put("/hooks/{id}")
        .path_param("id", product_hook)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    let again = webhooks::register(&client, &dest, &secret, &scopes)
        .await
        .unwrap();
    assert!(again.created.is_empty() && again.deleted.is_empty());
    assert_eq!(again.reactivated, ["store/product/*"]);

    // The CLI does the same from configuration.
    // On a blocking thread: the fake answers from this test's runtime meanwhile.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
    command
        .args(["webhooks", "register", "--store", HASH])
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_SECRET", std::str::from_utf8(GATEWAY_SECRET).unwrap())
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BCGRAPH_PUBLIC_URL", &app.url)
        .env("BIGCOMMERCE_WEBHOOK_SCOPES", "store/product/*,store/order/*")
        .env("BCGRAPH_WORKERS", "0");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run bcgraph");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("deleted"), "{stdout}");
    let mut left: Vec<String> = fake.store(HASH).unwrap().with_data(|d| {
        d.hooks
            .values()
            .filter(|h| h.destination == dest)
            .map(|h| h.scope.clone())
            .collect()
    });
    left.sort();
    assert_eq!(left, ["store/order/*", "store/product/*"]);
}

/// Many changes to the fake, each delivered in shuffled order, a fifth twice, some
/// delayed; when the queue drains the database equals the fake, record for record.
#[tokio::test]
async fn shuffled_duplicated_deliveries_end_in_bigcommerces_state() {
    let fake = fake(WebhookOptions {
        duplicate: 0.2,
        shuffle: true,
        batch_window: Duration::from_millis(100),
        delay: Duration::from_millis(5),
        signing_secret: Some(CLIENT_SECRET.to_owned()),
        ..WebhookOptions::default()
    })
    .await;
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let client = BigCommerce::new(fake.url(), ClientOptions::default())
        .unwrap()
        .store(HASH, TOKEN);
    let scopes = Triggers::default().scopes();
    webhooks::register(
        &client,
        &destination(&app),
        &store_secret(&crate::support::secrets(), HASH),
        &scopes,
    )
    .await
    .unwrap();
    let worker = Worker::start(
        app.api.clone(),
        WorkerOptions {
            concurrency: 8,
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let store = fake.store(HASH).unwrap();
    let changes: usize = std::env::var("BCGRAPH_WEBHOOK_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut products: Vec<i64> = Vec::new();
    let mut metafields: Vec<(i64, i64)> = Vec::new();
    let mut orders: Vec<i64> = Vec::new();
    let mut made = 0;
    let mut i = 0u64;
    while made < changes {
        i += 1;
        let roll = i % 10;
        if products.len() < 5 || roll < 3 {
            let p = store
                .create_product(
                    json!({"name": format!("P{i}"), "type": "physical", "weight": 1, "price": i as f64,
                    "variants": [{"sku": format!("S{i}-a")}, {"sku": format!("S{i}-b")}]}),
                )
                .unwrap();
            products.push(p["id"].as_i64().unwrap());
        } else if roll < 5 {
            let id = products[(i as usize * 7) % products.len()];
            store
                .update_product(
                    id,
                    json!({"name": format!("P{i} renamed"), "price": i as f64 + 0.5}),
                )
                .unwrap();
        } else if roll == 5 {
            let id = products[(i as usize * 3) % products.len()];
            let v = store
                .create_variant(id, json!({"sku": format!("S{i}-new")}))
                .unwrap();
            if i.is_multiple_of(4) {
                store.delete_variant(id, v["id"].as_i64().unwrap()).unwrap();
                made += 1;
            }
        } else if roll < 8 {
            let id = products[(i as usize * 5) % products.len()];
            let m = store
                .create_metafield(
                    id,
                    json!({"key": format!("k{i}"), "value": "v", "namespace": "app"}),
                )
                .unwrap();
            metafields.push((id, m["id"].as_i64().unwrap()));
        } else if roll == 8 && !metafields.is_empty() {
            let (p, m) = metafields[(i as usize) % metafields.len()];
            if store
                .update_metafield(p, m, json!({"value": format!("v{i}")}))
                .is_err()
            {
                // Its product went away.
            }
        } else if (i / 10).is_multiple_of(2) {
            // Orders: create, change status, archive.
            match (i / 20) % 4 {
                0 | 1 => {
                    let o = store
                        .create_order(json!({"customer_id": 0, "products": [
                            {"product_id": products[0], "name": "Line", "sku": format!("L{i}"), "quantity": 2, "price_inc_tax": "5.00"},
                            {"product_id": products[1], "name": "Line", "sku": format!("M{i}"), "quantity": 1, "price_inc_tax": "7.50"}]}))
                        .unwrap();
                    orders.push(o["id"].as_i64().unwrap());
                }
                2 if !orders.is_empty() => {
                    let id = orders[(i as usize) % orders.len()];
                    store
                        .update_order(id, json!({"status_id": 2 + (i % 9) as i64}))
                        .unwrap();
                }
                _ if !orders.is_empty() => {
                    let id = orders.swap_remove((i as usize) % orders.len());
                    store.delete_order(id).unwrap();
                }
                _ => {}
            }
        } else {
            let at = (i as usize * 11) % products.len();
            let id = products.swap_remove(at);
            store.delete_product(id).unwrap();
            metafields.retain(|(p, _)| *p != id);
        }
        made += 1;
    }
    // Wait until deliveries stop and the queue is empty.
    let start = Instant::now();
    let mut last = usize::MAX;
    let mut quiet_looks = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let delivered = fake.deliveries().len();
        let pending = queue::pending_count(&app.db).await.unwrap();
        // Nothing delivered yet is not settled, and neither is one quiet look: on a busy
        // machine the fake's batches can pause for longer than that.
        if delivered > 0 && delivered == last && pending == 0 {
            quiet_looks += 1;
            if quiet_looks == 4 {
                break;
            }
        } else {
            quiet_looks = 0;
        }
        last = delivered;
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "did not settle: {pending} pending"
        );
    }
    let deliveries = fake.deliveries();
    assert!(
        deliveries.iter().any(|d| d.duplicate),
        "some deliveries were duplicates"
    );
    assert!(
        deliveries.iter().all(|d| d.status == Some(200)),
        "every delivery acknowledged: {:?}",
        deliveries.iter().find(|d| d.status != Some(200))
    );
    let failed = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) FROM \"bcgraph_background_action\" WHERE \"state\" <> 'completed'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(failed, 0, "every job completed");
    let mut expected = mirror::fake_snapshot(&fake, HASH);
    let mut actual = mirror::db_snapshot(&app).await;
    assert!(!expected.orders.is_empty(), "orders were made");
    // Only products, metafields and orders changed through webhooks here.
    for snapshot in [&mut expected, &mut actual] {
        snapshot.categories.clear();
        snapshot.brands.clear();
        snapshot.customers.clear();
    }
    mirror::assert_same(&expected, &actual);
    worker.shutdown().await;
}

/// Extra request headers.
type Headers = Vec<(&'static str, String)>;

fn sign(id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_write_nothing() {
    let fake = fake(WebhookOptions::default()).await;
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    seed::store(&app.db, "other1").await;
    let secret = store_secret(&crate::support::secrets(), HASH);
    let body = |producer: &str, scope: &str| {
        json!({"scope": scope, "store_id": "1", "data": {"type": "product", "id": 1}, "hash": "h1",
               "created_at": 1, "producer": producer})
        .to_string()
        .into_bytes()
    };
    let post = |body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let request = app.http.post(destination(&app)).body(body);
        let request = headers.into_iter().fold(request, |r, (k, v)| r.header(k, v));
        async move { request.send().await.expect("answered").status().as_u16() }
    };
    let good = body(&format!("stores/{HASH}"), "store/product/updated");
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Vec<u8>, Headers, u16)> = vec![
        ("missing secret", good.clone(), vec![], 401),
        (
            "wrong secret",
            good.clone(),
            vec![(SECRET_HEADER, "nope".into())],
            401,
        ),
        (
            "another store's producer",
            body("stores/other1", "store/product/updated"),
            vec![(SECRET_HEADER, secret.clone())],
            401,
        ),
        (
            "bad signature",
            good.clone(),
            vec![
                (SECRET_HEADER, secret.clone()),
                ("webhook-id", "msg1".into()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", sign("msg1", now, b"something else")),
            ],
            401,
        ),
        (
            "old timestamp",
            good.clone(),
            vec![
                (SECRET_HEADER, secret.clone()),
                ("webhook-id", "msg1".into()),
                ("webhook-timestamp", (now - 600).to_string()),
                ("webhook-signature", sign("msg1", now - 600, &good)),
            ],
            401,
        ),
        (
            "invalid JSON",
            b"{not json".to_vec(),
            vec![(SECRET_HEADER, secret.clone())],
            400,
        ),
        (
            "unknown store",
            body("stores/nosuch1", "store/product/updated"),
            vec![(SECRET_HEADER, store_secret(&crate::support::secrets(), "nosuch1"))],
            404,
        ),
        (
            "10 MB body",
            vec![b' '; 10 * 1024 * 1024],
            vec![(SECRET_HEADER, secret.clone())],
            413,
        ),
    ];
    for (what, body, headers, status) in cases {
        assert_eq!(post(body, headers).await, status, "{what}");
        assert_eq!(jobs(&app).await, 0, "{what} enqueued nothing");
    }
    // An unknown scope is acknowledged and enqueues nothing.
    let unknown = body(&format!("stores/{HASH}"), "store/shipment/created");
    assert_eq!(post(unknown, vec![(SECRET_HEADER, secret.clone())]).await, 200);
    assert_eq!(jobs(&app).await, 0);
    // A good delivery, signed, is enqueued once however often it comes.
    let signed = |body: &[u8]| {
        vec![
            (SECRET_HEADER, secret.clone()),
            ("webhook-id", "msg2".to_owned()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", sign("msg2", now, body)),
        ]
    };
    assert_eq!(post(good.clone(), signed(&good)).await, 200);
    assert_eq!(post(good.clone(), signed(&good)).await, 200);
    assert_eq!(jobs(&app).await, 1);
    assert_eq!(product::Entity::find().all(&app.db).await.unwrap().len(), 0);
}

/// The handler is also a mutation: pull one product on demand, with `storeHash` for an API key.
#[tokio::test]
async fn pull_product_is_a_mutation() {
    let fake = fake(WebhookOptions::default()).await;
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let store = fake.store(HASH).unwrap();
    let p = store
        .create_product(
            json!({"name": "Pulled", "type": "physical", "weight": 1, "price": 12.5,
                               "variants": [{"sku": "PU-1"}]}),
        )
        .unwrap();
    let id = p["id"].as_i64().unwrap();
    let doc = "mutation($id: Float!) { bigcommerce { pullProduct(bigcommerceId: $id, storeHash: \"abc123\") { success errors { code message } result } } }";
    let data = app.data(doc, json!({"id": id})).await;
    assert_eq!(data["bigcommerce"]["pullProduct"]["success"], true, "{data}");
    let rows = product::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name.as_deref(), Some("Pulled"));
    assert_eq!(rows[0].price, Some(12.5));
    let variants = product_variant::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(variants.len(), 1);
    assert_eq!(variants[0].sku.as_deref(), Some("PU-1"));
    // Gone at BigCommerce: the pull deletes it with its variants.
    store.delete_product(id).unwrap();
    let data = app.data(doc, json!({"id": id})).await;
    assert_eq!(
        data["bigcommerce"]["pullProduct"]["result"]["deleted"], true,
        "{data}"
    );
    assert!(product::Entity::find().all(&app.db).await.unwrap().is_empty());
    assert!(
        product_variant::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
    let _: Value = data;
}

/// `maxConcurrency: 2` over two `bcgraph serve` processes sharing the database: the fake,
/// answering each request after 100 ms, never sees more than two at once.
#[tokio::test]
async fn max_concurrency_holds_across_serve_processes() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .faults(fake_bigcommerce::Faults {
                latency: Duration::from_millis(100),
                ..Default::default()
            })
            .store(StoreSpec::new(HASH, TOKEN).products(16).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let store_id = seed::store(&app.db, HASH).await;
    let api = app.api.within_store(store_id);
    let ids: Vec<i64> = fake
        .store(HASH)
        .unwrap()
        .with_data(|d| d.products.keys().copied().collect());
    let options =
        bcgraph::queue::Options::from_json(&json!({"queue": {"name": "pulls", "maxConcurrency": 2}}))
            .unwrap();
    for id in &ids {
        let job = bcgraph::queue::Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": id}));
        queue::enqueue(&api, &app.db, &[job], &options).await.unwrap();
    }
    let serve = || {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
        command
            .arg("serve")
            .env("DATABASE_URL", app.database_url())
            .env("BCGRAPH_LISTEN", "127.0.0.1:0")
            .env("BCGRAPH_SECRET", std::str::from_utf8(GATEWAY_SECRET).unwrap())
            .env("BIGCOMMERCE_API_URL", fake.url())
            .env("BCGRAPH_WORKERS", "4")
            // No scheduled syncs: only the queued pulls talk to the fake.
            .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        command.spawn().expect("bcgraph serve starts")
    };
    let mut a = serve();
    let mut b = serve();
    let start = Instant::now();
    while queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill().await.ok();
    b.kill().await.ok();
    let stats = fake.store(HASH).unwrap().stats();
    assert_eq!(stats.peak_concurrency, 2, "peak requests at once");
    assert_eq!(
        product::Entity::find().all(&app.db).await.unwrap().len(),
        ids.len()
    );
}

/// A `serve` process killed in the middle of a job: once its lease ends, another process
/// runs the job again and it completes once.
#[tokio::test]
async fn a_job_of_a_killed_process_runs_again_elsewhere() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .faults(fake_bigcommerce::Faults {
                latency: Duration::from_millis(1500),
                ..Default::default()
            })
            .store(StoreSpec::new(HASH, TOKEN).products(1).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let store_id = seed::store(&app.db, HASH).await;
    let api = app.api.within_store(store_id);
    let id: i64 = fake
        .store(HASH)
        .unwrap()
        .with_data(|d| *d.products.keys().next().unwrap());
    let job = bcgraph::queue::Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": id}));
    let job_id = api.enqueue(&job, &Default::default()).await.unwrap();
    let serve = || {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
        command
            .arg("serve")
            .env("DATABASE_URL", app.database_url())
            .env("BCGRAPH_LISTEN", "127.0.0.1:0")
            .env("BCGRAPH_SECRET", std::str::from_utf8(GATEWAY_SECRET).unwrap())
            .env("BIGCOMMERCE_API_URL", fake.url())
            .env("BCGRAPH_WORKERS", "2")
            .env("BCGRAPH_JOB_LEASE_SECONDS", "1")
            // No scheduled syncs: only the queued pulls talk to the fake.
            .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        command.spawn().expect("bcgraph serve starts")
    };
    let mut doomed = serve();
    // Wait until it has claimed the job and is waiting on BigCommerce.
    let start = Instant::now();
    while fake.store(HASH).unwrap().stats().total_requests == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await.expect("killed");
    let claimed = app.api.background_action(&job_id).await.unwrap().unwrap();
    assert_eq!(claimed.state, bcgraph::queue::State::Running);
    assert!(product::Entity::find().all(&app.db).await.unwrap().is_empty());
    let mut rescuer = serve();
    let start = Instant::now();
    let done = loop {
        let job = app.api.background_action(&job_id).await.unwrap().unwrap();
        if job.state.is_final() {
            break job;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "not rerun");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    rescuer.kill().await.ok();
    assert_eq!(done.state, bcgraph::queue::State::Completed);
    assert_eq!(done.attempts, 2);
    assert_eq!(product::Entity::find().all(&app.db).await.unwrap().len(), 1);
}

/// `store/app/uninstalled` runs `uninstallStore`: the store is marked uninstalled and its
/// token forgotten; later deliveries for it are refused.
#[tokio::test]
async fn app_uninstalled_marks_the_store() {
    let fake = fake(WebhookOptions::default()).await;
    let app = gateway(&fake).await;
    let store_id = seed::store(&app.db, HASH).await;
    let worker = Worker::start(
        app.api.clone(),
        WorkerOptions {
            concurrency: 1,
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let deliver = |hash: &str| {
        let body = json!({"scope": "store/app/uninstalled", "store_id": "1", "data": {}, "hash": hash,
                          "created_at": 1, "producer": format!("stores/{HASH}")});
        app.http
            .post(destination(&app))
            .header(SECRET_HEADER, store_secret(&crate::support::secrets(), HASH))
            .body(body.to_string())
            .send()
    };
    assert_eq!(deliver("u1").await.unwrap().status().as_u16(), 200);
    let start = Instant::now();
    let row = loop {
        let row = entity::bigcommerce::store::Entity::find_by_id(store_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if row.state == "uninstalled" {
            break row;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still {}", row.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row.access_token, None);
    assert!(row.uninstalled_at.is_some());
    assert_eq!(deliver("u2").await.unwrap().status().as_u16(), 404);
    worker.shutdown().await;
}

/// Deliver `store/product/updated` for `id` of store `hash`, as BigCommerce would.
async fn deliver_product(app: &TestApp, hash: &str, id: i64, delivery: &str) {
    let body = json!({"scope": "store/product/updated", "store_id": "1", "producer": format!("stores/{hash}"),
                      "hash": delivery, "created_at": chrono::Utc::now().timestamp(),
                      "data": {"type": "product", "id": id}});
    let answer = app
        .http
        .post(destination(app))
        .header(SECRET_HEADER, store_secret(&app.api_secret(), hash))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

/// Each product pull job, by BigCommerce id: its state and its result, and its store.
async fn pulls(app: &TestApp) -> Vec<Pull> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT \"job\", \"state\", \"result\", \"tenant\", \"attempts\", \"last_error\" \
             FROM \"bcgraph_background_action\"",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let job: Value = serde_json::from_str(&row.try_get_by_index::<String>(0).unwrap()).unwrap();
            let result: Option<String> = row.try_get_by_index(2).unwrap();
            Pull {
                bigcommerce_id: job["params"]["bigcommerceId"].as_i64().unwrap(),
                state: row.try_get_by_index(1).unwrap(),
                result: result
                    .map(|r| serde_json::from_str(&r).unwrap())
                    .unwrap_or(Value::Null),
                store_id: row.try_get_by_index(3).unwrap(),
                attempts: row.try_get_by_index(4).unwrap(),
                last_error: row.try_get_by_index(5).unwrap(),
            }
        })
        .collect()
}

/// A background pull as stored.
#[derive(Debug)]
struct Pull {
    bigcommerce_id: i64,
    state: String,
    result: Value,
    /// The job's tenant.
    store_id: i64,
    attempts: i32,
    last_error: Option<String>,
}

/// One worker that polls often, so that a test's queue runs one job at a time, quickly.
fn one_worker(app: &TestApp) -> Worker {
    Worker::start(
        app.api.clone(),
        WorkerOptions {
            concurrency: 1,
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        },
    )
}

/// Run every waiting job with one worker, and wait for the queue to be empty.
async fn run_queue(app: &TestApp) {
    let worker = one_worker(app);
    let start = Instant::now();
    while pulls(app)
        .await
        .iter()
        .any(|j| j.state == "waiting" || j.state == "running")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            pulls(app).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.shutdown().await;
}

/// The product pulls that wait together in one store run together: one listing request
/// for all of them instead of one request each, never mixing stores, and each job ends
/// with its own answer, as its pull alone would have: the stored product's id, or
/// `deleted` for one BigCommerce no longer has (which goes alone, and deletes it).
#[tokio::test]
async fn a_stores_waiting_product_pulls_run_together() {
    let empty = |hash| {
        StoreSpec::new(hash, TOKEN)
            .products(0)
            .orders(0)
            .customers(0)
            .owner_metafields_every(0)
    };
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(empty(HASH))
            .store(empty("other1")),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let ours = seed::store(&app.db, HASH).await;
    let theirs = seed::store(&app.db, "other1").await;
    let store = fake.store(HASH).unwrap();
    let other = fake.store("other1").unwrap();
    let make = |store: &fake_bigcommerce::StoreHandle, i: usize| {
        store
            .create_product(
                json!({"name": format!("Batch {i}"), "type": "physical", "weight": 1, "price": i as f64,
                "variants": [{"sku": format!("B{i}-a")}, {"sku": format!("B{i}-b")}]}),
            )
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let ids: Vec<i64> = (0..40).map(|i| make(&store, i)).collect();
    let other_ids: Vec<i64> = (0..3).map(|i| make(&other, 100 + i)).collect();
    for (n, id) in ids.iter().enumerate() {
        deliver_product(&app, HASH, *id, &format!("first-{n}")).await;
    }
    // The same product twice: two jobs, one answer.
    deliver_product(&app, HASH, ids[0], "first-again").await;
    for (n, id) in other_ids.iter().enumerate() {
        deliver_product(&app, "other1", *id, &format!("other-{n}")).await;
    }
    store.reset_stats();
    other.reset_stats();
    run_queue(&app).await;

    let listings = |store: &fake_bigcommerce::StoreHandle| {
        let requests = store.requests();
        let listed = requests
            .iter()
            .filter(|r| r.path.ends_with("/v3/catalog/products"))
            .count();
        let single = requests
            .iter()
            .filter(|r| r.path.contains("/v3/catalog/products/"))
            .count();
        (listed, single, requests.len())
    };
    assert_eq!(
        listings(&store),
        (1, 0, 1),
        "41 pulls of 40 products: one listing"
    );
    assert_eq!(
        listings(&other),
        (1, 0, 1),
        "the other store's pulls: a listing of their own"
    );
    let stored = product::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 43);
    assert_eq!(
        product_variant::Entity::find().all(&app.db).await.unwrap().len(),
        86
    );
    let local = |bigcommerce_id: i64, store_id: i64| {
        stored
            .iter()
            .find(|p| p.bigcommerce_id == bigcommerce_id && p.store_id == store_id)
            .map(|p| p.id)
    };
    let jobs = pulls(&app).await;
    assert_eq!(jobs.len(), 44);
    assert_eq!(jobs.iter().filter(|j| j.store_id == theirs).count(), 3);
    for job in &jobs {
        assert_eq!(job.state, "completed", "{job:?}");
        assert_eq!(
            job.result["result"],
            json!({"id": local(job.bigcommerce_id, job.store_id).unwrap(), "deleted": false}),
            "{job:?}"
        );
    }

    // Changed, deleted and unchanged at BigCommerce, pulled again together.
    store
        .update_product(ids[1], json!({"name": "Renamed in a batch"}))
        .unwrap();
    store.delete_product(ids[2]).unwrap();
    for (n, id) in ids[1..5].iter().enumerate() {
        deliver_product(&app, HASH, *id, &format!("second-{n}")).await;
    }
    store.reset_stats();
    run_queue(&app).await;
    // One listing for the four, then the deleted one alone (404), as its own pull.
    let requests = store.requests();
    assert_eq!(listings(&store).0, 1, "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.path.ends_with(&format!("/v3/catalog/products/{}", ids[2])) && r.status == 404),
        "{requests:?}"
    );
    let stored = product::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 42, "the deleted product is gone");
    assert!(
        !stored
            .iter()
            .any(|p| p.bigcommerce_id == ids[2] && p.store_id == ours)
    );
    let renamed = stored
        .iter()
        .find(|p| p.bigcommerce_id == ids[1] && p.store_id == ours)
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Renamed in a batch"));
    let jobs = pulls(&app).await;
    let deleted: Vec<_> = jobs
        .iter()
        .filter(|j| j.bigcommerce_id == ids[2] && j.store_id == ours)
        .collect();
    assert_eq!(deleted.len(), 2);
    assert!(
        deleted
            .iter()
            .any(|j| j.state == "completed" && j.result["result"]["deleted"] == true),
        "{deleted:?}"
    );
}

/// A batch that BigCommerce fails as a whole fails each of its jobs, each of which keeps
/// its own attempt and error and runs again; once BigCommerce answers, each ends with
/// its own product.
#[tokio::test]
async fn a_failed_batch_retries_each_of_its_pulls() {
    let fake = fake(WebhookOptions::default()).await;
    let app = gateway(&fake).await;
    let ours = seed::store(&app.db, HASH).await;
    let store = fake.store(HASH).unwrap();
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            store
                .create_product(
                    json!({"name": format!("Retried {i}"), "type": "physical", "weight": 1, "price": 1}),
                )
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    for id in &ids {
        deliver_product(&app, HASH, *id, &format!("retried-{id}")).await;
    }
    fake.set_faults(fake_bigcommerce::Faults {
        error_503: 1.0,
        ..Default::default()
    });
    store.reset_stats();
    let worker = one_worker(&app);
    let start = Instant::now();
    loop {
        let now = pulls(&app).await;
        if now.iter().all(|j| j.attempts >= 1 && j.last_error.is_some()) {
            assert!(now.iter().all(|j| j.state != "completed"), "{now:?}");
            assert!(
                now.iter()
                    .all(|j| j.last_error.as_deref().unwrap().contains("503")),
                "{now:?}"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One listing for all five, never a request of its own.
    let requests = store.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.path.ends_with("/v3/catalog/products")),
        "{requests:?}"
    );
    fake.set_faults(Default::default());
    let start = Instant::now();
    while pulls(&app).await.iter().any(|j| j.state != "completed") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            pulls(&app).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.shutdown().await;
    let stored = product::Entity::find().all(&app.db).await.unwrap();
    for job in pulls(&app).await {
        let local = stored
            .iter()
            .find(|p| p.bigcommerce_id == job.bigcommerce_id && p.store_id == ours)
            .unwrap();
        assert_eq!(job.result["result"], json!({"id": local.id, "deleted": false}));
    }
}
