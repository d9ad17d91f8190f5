//! The sync against the fake BigCommerce: a full sync makes the database equal the store,
//! an incremental one brings changes and deletions in and touches nothing else, a killed
//! `bcgraph sync` continues from its checkpoint, a shared quota only slows it down, and
//! the API runs, shows and aborts syncs within the tenant's store.

use crate::support::mirror::assert_mirrors;
use crate::support::{TestApp, seed};
use bcgraph::action::GlobalActions;
use bcgraph::queue::{Worker, WorkerOptions};
use entity::bigcommerce::{customer, product};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, RateLimit, StoreSpec};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const HASH: &str = "abc123";
/// The token `seed::store` stores.
const TOKEN: &str = "secret-token";
const GATEWAY_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

pub(crate) async fn gateway(fake: &FakeBigCommerce) -> TestApp {
    TestApp::start_configured(GlobalActions::default(), &[("BIGCOMMERCE_API_URL", fake.url())]).await
}

pub(crate) fn worker(app: &TestApp) -> Worker {
    Worker::start(
        app.api.clone(),
        WorkerOptions {
            concurrency: 2,
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
    )
}

async fn sync_row(app: &TestApp, id: &str) -> entity::bigcommerce::sync::Model {
    entity::bigcommerce::sync::Entity::find_by_id(id.parse::<i64>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the sync row")
}

/// Start a sync with `syncStore` and wait for it to end; returns its row.
pub(crate) async fn sync_store(
    app: &TestApp,
    args: Value,
    within: Duration,
) -> entity::bigcommerce::sync::Model {
    let query = "mutation($storeHash: String, $force: Boolean, $models: JSON, $syncSince: String) {
        bigcommerce { syncStore(storeHash: $storeHash, force: $force, models: $models, syncSince: $syncSince) {
            success errors { code message } result } } }";
    let mut variables = json!({"storeHash": HASH});
    variables
        .as_object_mut()
        .unwrap()
        .extend(args.as_object().cloned().unwrap_or_default());
    let data = app.data(query, variables).await;
    let result = &data["bigcommerce"]["syncStore"];
    assert_eq!(result["success"], true, "{result}");
    let id = result["result"]["syncId"].as_str().expect("a sync id").to_owned();
    let start = Instant::now();
    loop {
        let row = sync_row(app, &id).await;
        if !matches!(row.state.as_str(), "created" | "running") {
            return row;
        }
        assert!(
            start.elapsed() < within,
            "sync {id} still {} after {within:?}",
            row.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn counter(row: &entity::bigcommerce::sync::Model, resource: &str, name: &str) -> u64 {
    row.progress
        .as_ref()
        .and_then(|p| p[resource][name].as_u64())
        .unwrap_or(0)
}

/// `updatedAt` of every product and customer, by BigCommerce id.
async fn touched(app: &TestApp) -> (BTreeMap<i64, String>, BTreeMap<i64, String>) {
    let products = product::Entity::find().all(&app.db).await.unwrap();
    let customers = customer::Entity::find().all(&app.db).await.unwrap();
    (
        products
            .into_iter()
            .map(|p| (p.bigcommerce_id, p.updated_at.to_rfc3339()))
            .collect(),
        customers
            .into_iter()
            .map(|c| (c.bigcommerce_id, c.updated_at.to_rfc3339()))
            .collect(),
    )
}

fn moved(before: &BTreeMap<i64, String>, after: &BTreeMap<i64, String>) -> BTreeSet<i64> {
    after
        .iter()
        .filter(|(id, at)| before.get(id).is_some_and(|b| b != *at))
        .map(|(id, _)| *id)
        .collect()
}

/// 20,000 products with 60,000 variants, 5,000 orders, 5,000 customers and 20,000
/// metafields: a full sync copies all of it; after 300 changes and 50 deletions in the
/// store, an incremental sync brings exactly those in.
#[tokio::test]
async fn full_then_incremental_sync_mirror_the_store() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default().rate_limit(None).store(
            StoreSpec::new(HASH, TOKEN)
                .products(20_000)
                .variants_per_product(3)
                .orders(5_000)
                .customers(5_000),
        ),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let _worker = worker(&app);

    let full = sync_store(&app, json!({}), Duration::from_secs(600)).await;
    assert_eq!(full.state, "completed", "{:?}", full.error_message);
    assert_eq!(full.sync_since, None, "the first sync is a full one");
    assert_eq!(counter(&full, "products", "created"), 20_000);
    assert_eq!(counter(&full, "variants", "created"), 60_000);
    assert_eq!(counter(&full, "orders", "created"), 5_000);
    assert_eq!(counter(&full, "customers", "created"), 5_000);
    assert!(counter(&full, "products", "pages") >= 80);
    assert_mirrors(&app, &fake, HASH).await;

    // 300 changes and 50 deletions in the store.
    let store = fake.store(HASH).unwrap();
    let (products, customers, orders, metafields) = store.with_data(|d| {
        (
            d.products
                .iter()
                .map(|(id, p)| (*id, p.variants.iter().map(|v| v.id).collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
            d.customers.keys().copied().collect::<Vec<_>>(),
            d.orders.keys().copied().collect::<Vec<_>>(),
            d.metafields
                .values()
                .filter(|m| m.resource_type == "product")
                .map(|m| (m.id, m.resource_id))
                .collect::<Vec<_>>(),
        )
    });
    let mut changed_products = BTreeSet::new();
    for (id, _) in products.iter().step_by(97).take(100) {
        store
            .update_product(*id, json!({"name": format!("Renamed {id}")}))
            .unwrap();
        changed_products.insert(*id);
    }
    for (id, variants) in products.iter().skip(5).step_by(101).take(20) {
        store
            .update_variant(*id, variants[0], json!({"sku": format!("NEW-{}", variants[0])}))
            .unwrap();
        changed_products.insert(*id);
    }
    let mut changed_customers = BTreeSet::new();
    for id in customers.iter().step_by(53).take(80) {
        store
            .update_customer(*id, json!({"first_name": format!("Changed{id}")}))
            .unwrap();
        changed_customers.insert(*id);
    }
    for id in orders.iter().step_by(71).take(50) {
        store.update_order(*id, json!({"status_id": 10})).unwrap();
    }
    for (id, product) in metafields.iter().skip(3).step_by(333).take(50) {
        store
            .update_metafield(*product, *id, json!({"value": format!("changed {id}")}))
            .unwrap();
    }
    let mut deleted_products = 0;
    for (id, _) in products.iter().skip(11).step_by(997).take(20) {
        if !changed_products.contains(id) {
            store.delete_product(*id).unwrap();
            deleted_products += 1;
        }
    }
    for id in customers.iter().skip(7).step_by(401).take(10) {
        if !changed_customers.contains(id) {
            store.delete_customer(*id).unwrap();
        }
    }
    for id in orders.iter().skip(13).step_by(397).take(10) {
        store.delete_order(*id).unwrap();
    }
    for (id, product) in metafields.iter().skip(17).step_by(1_999).take(10) {
        let _ = store.delete_metafield(*product, *id);
    }
    let (products_before, customers_before) = touched(&app).await;
    store.reset_stats();

    let incremental = sync_store(&app, json!({}), Duration::from_secs(300)).await;
    assert_eq!(incremental.state, "completed", "{:?}", incremental.error_message);
    assert!(incremental.sync_since.is_some(), "an incremental sync by default");
    assert_mirrors(&app, &fake, HASH).await;
    let (products_after, customers_after) = touched(&app).await;
    assert_eq!(
        moved(&products_before, &products_after),
        changed_products,
        "products touched"
    );
    assert_eq!(
        moved(&customers_before, &customers_after),
        changed_customers,
        "customers touched"
    );
    assert_eq!(counter(&incremental, "products", "deleted"), deleted_products);
    assert_eq!(counter(&incremental, "products", "created"), 0);
    assert_eq!(
        counter(&incremental, "products", "updated"),
        changed_products.len() as u64
    );
    assert_eq!(
        counter(&incremental, "customers", "updated"),
        changed_customers.len() as u64
    );
    // Categories cannot be listed by change: listed whole, they are found unchanged.
    let categories = store.with_data(|d| d.categories.len()) as u64;
    assert_eq!(counter(&incremental, "categories", "unchanged"), categories);
    assert_eq!(counter(&incremental, "categories", "updated"), 0);
    // The incremental sync read far less than the full one: changed records, ids and order lines.
    let requests = store.requests().len();
    assert!(requests < 500, "{requests} requests");
}

fn sync_command(
    app: &TestApp,
    fake: &FakeBigCommerce,
    store: &str,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
    command
        .arg("sync")
        .args(["--store", store])
        .args(args)
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_SECRET", GATEWAY_SECRET)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BCGRAPH_JOB_LEASE_SECONDS", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `bcgraph sync` killed with SIGKILL in the middle; run again, it continues the same
/// sync from its checkpoint and ends with the store's data, exactly.
#[tokio::test]
async fn a_killed_sync_continues_from_its_checkpoint() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .faults(fake_bigcommerce::Faults {
                latency: Duration::from_millis(30),
                ..Default::default()
            })
            .store(
                StoreSpec::new(HASH, TOKEN)
                    .products(3_000)
                    .variants_per_product(3)
                    .orders(100)
                    .customers(500),
            ),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;

    let mut first = sync_command(&app, &fake, HASH, &["--force"])
        .spawn()
        .expect("bcgraph sync starts");
    let start = Instant::now();
    let id = loop {
        let rows = entity::bigcommerce::sync::Entity::find()
            .all(&app.db)
            .await
            .unwrap();
        if let Some(row) = rows.first()
            && counter(row, "products", "pages") >= 3
        {
            break row.id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the sync never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill().await.expect("SIGKILL");
    let killed = sync_row(&app, &id.to_string()).await;
    assert_eq!(killed.state, "running");
    let pages_before = counter(&killed, "products", "pages");
    assert!(pages_before < 12, "killed before the end of the products");
    store_requests_reset(&fake);

    let second = sync_command(&app, &fake, HASH, &[])
        .output()
        .await
        .expect("bcgraph sync runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("continuing sync {id}")), "{stderr}");
    let done = sync_row(&app, &id.to_string()).await;
    assert_eq!(done.state, "completed");
    let rows = entity::bigcommerce::sync::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the same sync continued");
    // It went on from its checkpoint: the first products page it asked for started past
    // what was written.
    let requests = fake.store(HASH).unwrap().requests();
    let first_products = requests
        .iter()
        .find(|r| r.path.ends_with("/catalog/products"))
        .expect("products were listed");
    assert!(
        first_products.query.as_deref().unwrap_or("").contains("id%3Amin")
            || first_products.query.as_deref().unwrap_or("").contains("id:min"),
        "{:?}",
        first_products.query
    );
    let product_pages = requests
        .iter()
        .filter(|r| r.path.ends_with("/catalog/products"))
        .count() as u64;
    assert!(
        product_pages + pages_before <= 13 + 2,
        "{product_pages} pages after {pages_before}"
    );
    assert_mirrors(&app, &fake, HASH).await;
}

async fn gql_as(app: &TestApp, authorization: &str, query: &str, variables: Value) -> Value {
    app.gql_as(Some(authorization), query, variables).await.1
}

fn store_requests_reset(fake: &FakeBigCommerce) {
    fake.store(HASH).unwrap().reset_stats();
}

/// A quota of 60 per window (scaled down to 1 s) that a neighbour app also spends, on a
/// platform that sometimes fails: the sync keeps within the quota, retries, and ends
/// with every record.
#[tokio::test]
async fn a_sync_within_a_shared_quota_gets_everything() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(Some(RateLimit::new(60, Duration::from_secs(1)).neighbour(24)))
            // And a flaky platform: some 500s and dropped connections, retried.
            .faults(fake_bigcommerce::Faults {
                error_500: 0.05,
                drop_connection: 0.02,
                ..Default::default()
            })
            // Order lines come with their orders' pages: the metafields make the pages.
            .store(StoreSpec {
                metafields_per_product: 10,
                ..StoreSpec::new(HASH, TOKEN)
                    .products(2_000)
                    .variants_per_product(3)
                    .orders(300)
                    .customers(600)
            }),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let _worker = worker(&app);
    let row = sync_store(&app, json!({"force": true}), Duration::from_secs(120)).await;
    assert_eq!(row.state, "completed", "{:?}", row.error_message);
    assert_mirrors(&app, &fake, HASH).await;
    let stats = fake.store(HASH).unwrap().stats();
    assert!(stats.max_served_per_window() <= 60, "{stats:?}");
    // ~100 requests at 36 a second take several windows: the quota was the limit.
    assert!(stats.windows.len() >= 3, "{} windows", stats.windows.len());
    assert!(stats.served_5xx + stats.dropped_connections > 0, "{stats:?}");
}

/// `runSync` and `abortSync` through a merchant's session: they see and stop only their
/// own store's syncs; bad input is refused and creates nothing.
#[tokio::test]
async fn merchants_run_see_and_abort_their_own_syncs() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(10).orders(0).customers(0))
            .store(
                StoreSpec::new("other1", TOKEN)
                    .products(10)
                    .orders(0)
                    .customers(0),
            ),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let mine = seed::store(&app.db, HASH).await;
    let theirs = seed::store(&app.db, "other1").await;
    let merchant = crate::support::payload::header(&crate::support::payload::jwt(HASH, 1));
    let run = "mutation($sync: RunBigcommerceSyncInput) { bigcommerce { runSync(sync: $sync) {
        success errors { code message } sync { id state force models store { id } } } } }";

    // Another store's sync is refused.
    let other = gql_as(
        &app,
        &merchant,
        run,
        json!({"sync": {"store": {"_link": theirs.to_string()}}}),
    )
    .await;
    assert_eq!(
        other["data"]["bigcommerce"]["runSync"]["success"], false,
        "{other}"
    );
    // Unknown resources, and a time that is not one, are refused.
    for sync in [
        json!({"models": ["widgets"]}),
        json!({"syncSince": "last tuesday"}),
    ] {
        let bad = gql_as(&app, &merchant, run, json!({"sync": sync})).await;
        let result = &bad["data"]["bigcommerce"]["runSync"];
        assert_eq!(result["success"], false, "{bad}");
        assert_eq!(result["errors"][0]["code"], "GGT_INVALID_ACTION_INPUT", "{bad}");
    }
    assert!(
        entity::bigcommerce::sync::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );

    let ran = app
        .data_as(
            &merchant,
            run,
            json!({"sync": {"models": ["products"], "force": true}}),
        )
        .await;
    let sync = &ran["bigcommerce"]["runSync"]["sync"];
    assert_eq!(sync["state"], "created", "{ran}");
    assert_eq!(sync["store"]["id"], mine.to_string());
    assert_eq!(sync["models"], json!(["products"]));
    let id = sync["id"].as_str().unwrap().to_owned();
    // A second one waits for the first to finish.
    let again = gql_as(&app, &merchant, run, json!({"sync": {}})).await;
    assert_eq!(
        again["data"]["bigcommerce"]["runSync"]["success"], false,
        "{again}"
    );

    // An admin starts one for the other store; the merchant does not see it.
    let admin = app
        .data(
            "mutation { bigcommerce { syncStore(storeHash: \"other1\") { success result } } }",
            json!({}),
        )
        .await;
    assert_eq!(admin["bigcommerce"]["syncStore"]["success"], true, "{admin}");
    let listed = app
        .data_as(
            &merchant,
            "{ bigcommerce { syncs { edges { node { id state } } } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&str> = listed["bigcommerce"]["syncs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    let their_id = admin["bigcommerce"]["syncStore"]["result"]["syncId"]
        .as_str()
        .unwrap()
        .to_owned();
    let abort = "mutation($id: GadgetID!) { bigcommerce { abortSync(id: $id) {
        success errors { code } sync { id state finishedAt } } } }";
    let denied = gql_as(&app, &merchant, abort, json!({"id": their_id})).await;
    assert_eq!(
        denied["data"]["bigcommerce"]["abortSync"]["success"], false,
        "{denied}"
    );
    assert_eq!(sync_row(&app, &their_id).await.state, "created");

    let aborted = app.data_as(&merchant, abort, json!({"id": id})).await;
    assert_eq!(
        aborted["bigcommerce"]["abortSync"]["sync"]["state"], "aborted",
        "{aborted}"
    );
    // A sync that has ended cannot be aborted again.
    let again = gql_as(&app, &merchant, abort, json!({"id": id})).await;
    let result = &again["data"]["bigcommerce"]["abortSync"];
    assert_eq!(result["success"], false, "{again}");
    assert_eq!(result["errors"][0]["code"], "GGT_INVALID_ACTION_INPUT", "{again}");
    assert!(aborted["bigcommerce"]["abortSync"]["sync"]["finishedAt"].is_string());
    // An aborted sync does not run: the worker finds it finished.
    let _worker = worker(&app);
    let start = Instant::now();
    while bcgraph::queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sync_row(&app, &id).await.state, "aborted");
    let count = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) FROM \"bigcommerce_product\" WHERE \"store_id\" = {mine}"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count.try_get_by_index::<i64>(0).unwrap(), 0, "nothing was copied");
    assert_eq!(sync_row(&app, &their_id).await.state, "completed");
}

/// `bcgraph sync` exits non-zero and says why: a store it does not know, and a store
/// whose token BigCommerce refuses (that sync is recorded as errored, with the reason).
#[tokio::test]
async fn a_failing_sync_says_why() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default().rate_limit(None).store(
            StoreSpec::new(HASH, "another-token")
                .products(5)
                .orders(0)
                .customers(0),
        ),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;

    let out = sync_command(&app, &fake, "nope", &[])
        .output()
        .await
        .expect("bcgraph sync runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no installed store"), "{stderr}");

    let out = sync_command(&app, &fake, HASH, &[])
        .output()
        .await
        .expect("bcgraph sync runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("failed") && stderr.contains("401"), "{stderr}");
    let rows = entity::bigcommerce::sync::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "errored");
    assert!(rows[0].error_message.as_deref().unwrap_or("").contains("401"));
    assert!(product::Entity::find().all(&app.db).await.unwrap().is_empty());
}

/// `bcgraph serve` tends each installed store's sync on its schedule: it continues a
/// sync whose process died, and skips uninstalled stores.
#[tokio::test]
async fn serve_syncs_installed_stores_on_its_schedule() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(30).orders(5).customers(5))
            .store(StoreSpec::new("gone1", TOKEN).products(30).orders(5).customers(5)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let mine = seed::store(&app.db, HASH).await;
    let gone = seed::store(&app.db, "gone1").await;
    app.db
        .execute_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("UPDATE \"bigcommerce_store\" SET \"state\" = 'uninstalled' WHERE \"id\" = {gone}"),
        ))
        .await
        .unwrap();
    // A sync of the store whose process died: it holds a lease that has run out.
    let orphan = bcgraph::bigcommerce::sync::create(&app.api, mine, Default::default())
        .await
        .unwrap()
        .id();
    let expired = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "now() - interval '1 minute'",
        _ => "'2020-01-01 00:00:00+00:00'",
    };
    app.db
        .execute_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "UPDATE \"bigcommerce_sync\" SET \"state\" = 'running', \"lease_until\" = {expired} WHERE \"id\" = {orphan}"
            ),
        ))
        .await
        .unwrap();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_LISTEN", "127.0.0.1:0")
        .env("BCGRAPH_SECRET", GATEWAY_SECRET)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "60")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("bcgraph serve starts");
    let start = Instant::now();
    let synced = loop {
        let rows = entity::bigcommerce::sync::Entity::find()
            .all(&app.db)
            .await
            .unwrap();
        if let Some(done) = rows.iter().find(|r| r.state == "completed") {
            break done.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no scheduled sync completed: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    serve.kill().await.ok();
    assert_eq!(synced.id, orphan, "the dead process's sync was continued");
    let rows = entity::bigcommerce::sync::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "no second sync while one was unfinished: {rows:?}");
    assert!(
        rows.iter().all(|r| r.store_id != gone),
        "the uninstalled store is skipped"
    );
    assert_eq!(product::Entity::find().all(&app.db).await.unwrap().len(), 30);
}

/// `abortSync` on a running sync: it stops after the page it is writing, stays aborted,
/// and writes nothing more.
#[tokio::test]
async fn an_aborted_sync_stops_after_its_page() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .faults(fake_bigcommerce::Faults {
                latency: Duration::from_millis(40),
                ..Default::default()
            })
            .store(StoreSpec::new(HASH, TOKEN).products(5_000).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    seed::store(&app.db, HASH).await;
    let _worker = worker(&app);
    let started = app
        .data(
            "mutation { bigcommerce { syncStore(storeHash: \"abc123\", force: true) { success result } } }",
            json!({}),
        )
        .await;
    let id = started["bigcommerce"]["syncStore"]["result"]["syncId"]
        .as_str()
        .expect("a sync id")
        .to_owned();
    let start = Instant::now();
    while counter(&sync_row(&app, &id).await, "products", "pages") < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the sync never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let aborted = app
        .data(
            "mutation($id: GadgetID!) { bigcommerce { abortSync(id: $id) { success sync { state } } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        aborted["bigcommerce"]["abortSync"]["sync"]["state"], "aborted",
        "{aborted}"
    );
    let start = Instant::now();
    while bcgraph::queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the sync's job did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = product::Entity::find().all(&app.db).await.unwrap().len();
    assert!(written < 5_000, "it stopped early ({written} products)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(product::Entity::find().all(&app.db).await.unwrap().len(), written);
    let row = sync_row(&app, &id).await;
    assert_eq!(row.state, "aborted");
    assert!(row.lease_until.is_none());
}

/// Many `syncStore` calls at once for one store: one sync starts, every other caller is
/// told another is unfinished (never an internal error), and the database itself refuses
/// a second unfinished sync of the store (the unique index), whatever the code checks.
#[tokio::test]
async fn concurrent_starts_leave_one_unfinished_sync() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(1).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = gateway(&fake).await;
    let store = seed::store(&app.db, HASH).await;
    // No worker: the started sync stays unfinished while the others try.
    let query = "mutation($storeHash: String) { bigcommerce { syncStore(storeHash: $storeHash) {
        success errors { code message } result } } }";
    let calls = (0..12).map(|_| app.gql(query, json!({"storeHash": HASH})));
    let answers = futures::future::join_all(calls).await;
    let mut started = 0;
    for answer in &answers {
        assert!(answer.get("errors").is_none_or(Value::is_null), "{answer}");
        let result = &answer["data"]["bigcommerce"]["syncStore"];
        if result["success"] == true {
            started += 1;
            continue;
        }
        let error = &result["errors"][0];
        assert_eq!(error["code"], "GGT_INVALID_ACTION_INPUT", "{answer}");
        let message = error["message"].as_str().unwrap_or("");
        assert!(
            message.contains("has not finished") || message.contains("has just started"),
            "{message}"
        );
    }
    assert_eq!(started, 1, "{answers:#?}");
    let unfinished = crate::support::count_rows(
        &app.db,
        "bigcommerce_sync",
        &format!("\"store_id\" = {store} AND \"state\" IN ('created', 'running')"),
    )
    .await;
    assert_eq!(unfinished, 1);
    // Past the code's own check: the index refuses a second unfinished row.
    let now = chrono::Utc::now();
    let second = entity::bigcommerce::sync::ActiveModel {
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
        state: sea_orm::Set("running".into()),
        store_id: sea_orm::Set(store),
        ..Default::default()
    };
    let refused = sea_orm::ActiveModelTrait::insert(second, &app.db).await;
    assert!(
        matches!(
            refused.as_ref().map_err(|e| e.sql_err()),
            Err(Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
        ),
        "{refused:?}"
    );
    // A finished sync does not count: another may start once it ends.
    app.db
        .execute_unprepared("UPDATE \"bigcommerce_sync\" SET \"state\" = 'aborted'")
        .await
        .unwrap();
    let again = app.data(query, json!({"storeHash": HASH})).await;
    assert_eq!(again["bigcommerce"]["syncStore"]["success"], true, "{again}");
}

async fn wait_for_sync(
    app: &TestApp,
    id: &str,
    within: Duration,
    done: impl Fn(&entity::bigcommerce::sync::Model) -> bool,
) -> entity::bigcommerce::sync::Model {
    let start = Instant::now();
    loop {
        let row = sync_row(app, id).await;
        if done(&row) {
            return row;
        }
        assert!(start.elapsed() < within, "sync {id}: {row:?} after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_sync(app: &TestApp) -> String {
    let query = "mutation($storeHash: String) { bigcommerce { syncStore(storeHash: $storeHash) {
        success errors { code message } result } } }";
    let data = app.data(query, json!({"storeHash": HASH})).await;
    let result = &data["bigcommerce"]["syncStore"];
    assert_eq!(result["success"], true, "{result}");
    result["result"]["syncId"].as_str().expect("a sync id").to_owned()
}

/// BigCommerce answers 503 to everything for a while: the sync's attempt fails once the
/// client's retries are spent, the sync waits for its retry (seconds here, not the next
/// day's schedule), and the retry continues it to the end once BigCommerce is back.
#[tokio::test]
async fn a_sync_failing_on_a_transient_error_is_retried() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(300).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = TestApp::start_configured(
        GlobalActions::default(),
        &[
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_SYNC_RETRIES", "3"),
            ("BCGRAPH_SYNC_RETRY_SECONDS", "1"),
        ],
    )
    .await;
    let store = seed::store(&app.db, HASH).await;
    fake.set_faults(fake_bigcommerce::Faults {
        error_503: 1.0,
        ..Default::default()
    });
    let _worker = worker(&app);
    let id = start_sync(&app).await;
    let waiting = wait_for_sync(&app, &id, Duration::from_secs(90), |row| {
        row.error_message
            .as_deref()
            .is_some_and(|m| m.contains("retry 1 of 3"))
    })
    .await;
    assert!(
        matches!(waiting.state.as_str(), "created" | "running"),
        "{waiting:?}"
    );
    assert!(
        waiting.error_message.as_deref().unwrap_or("").contains("503"),
        "{waiting:?}"
    );
    fake.set_faults(fake_bigcommerce::Faults::default());
    let done = wait_for_sync(&app, &id, Duration::from_secs(90), |row| {
        !matches!(row.state.as_str(), "created" | "running")
    })
    .await;
    assert_eq!(done.state, "completed", "{done:?}");
    assert_eq!(done.error_message, None);
    assert_eq!(counter(&done, "products", "created"), 300);
    assert_eq!(product::Entity::find().all(&app.db).await.unwrap().len(), 300);
    // The retry ran as its own job, queued by the failed attempt.
    let retried = crate::support::count_rows(
        &app.db,
        "bcgraph_background_action",
        &format!("\"id\" LIKE 'internal/bigcommerce-sync-{id}-retry-%' AND \"state\" = 'completed'"),
    )
    .await;
    assert!(retried >= 1, "no retry job completed");
    let _ = store;
}

/// A failure that outlasts every retry leaves the sync errored, saying so.
#[tokio::test]
async fn a_sync_stays_errored_once_its_retries_are_spent() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(10).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app = TestApp::start_configured(
        GlobalActions::default(),
        &[
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_SYNC_RETRIES", "1"),
            ("BCGRAPH_SYNC_RETRY_SECONDS", "1"),
        ],
    )
    .await;
    seed::store(&app.db, HASH).await;
    fake.set_faults(fake_bigcommerce::Faults {
        error_500: 1.0,
        ..Default::default()
    });
    let _worker = worker(&app);
    let id = start_sync(&app).await;
    let done = wait_for_sync(&app, &id, Duration::from_secs(120), |row| {
        !matches!(row.state.as_str(), "created" | "running")
    })
    .await;
    assert_eq!(done.state, "errored", "{done:?}");
    let message = done.error_message.unwrap_or_default();
    assert!(
        message.contains("500") && message.contains("gave up after 2 attempts"),
        "{message}"
    );
    // Nothing is left queued for it: the attempt that gave up records its own end just
    // after the sync's, and no continuation waits.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pending = crate::support::count_rows(
            &app.db,
            "bcgraph_background_action",
            &format!("\"id\" LIKE 'internal/bigcommerce-sync-{id}%' AND \"state\" IN ('waiting', 'running')"),
        )
        .await;
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "{pending} actions still queued for the sync"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
