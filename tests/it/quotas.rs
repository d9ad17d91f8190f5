//! One store cannot exhaust the queue for the others: its actions' ids and queues are its
//! own, its retries are clamped and hopeless errors not retried, it holds a bounded
//! number of pending and running actions, and the gateway's own work (webhooks) keeps
//! flowing while it floods.

use crate::support::{TestApp, payload, seed};
use bcgraph::action::{ActionError, Api, Caller, GlobalAction, GlobalActions, Param, ParamType};
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::query::Tenant;
use bcgraph::queue::{Job, Options, Worker, WorkerOptions};
use entity::bigcommerce::product;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "secret-token";

fn workers(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        shutdown_grace: Duration::from_secs(5),
    }
}

/// Run as store `store`'s own caller (not the gateway's code).
fn as_store(app: &TestApp, store: i64) -> Api {
    app.api.as_caller(Caller {
        tenant: Tenant::Store(store),
        internal: false,
        ..app.api.caller.clone()
    })
}

/// Background action rows of a scope, by state.
async fn states(app: &TestApp, scope: &str) -> HashMap<String, i64> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "SELECT \"state\", COUNT(*) FROM \"bcgraph_background_action\" WHERE \"scope\" = $1 GROUP BY \"state\""
                }
                _ => "SELECT \"state\", COUNT(*) FROM \"bcgraph_background_action\" WHERE \"scope\" = ? GROUP BY \"state\"",
            },
            [scope.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap()))
        .collect()
}

/// Store A's merchant floods the queue with 100 failing, urgent, zero-backoff actions
/// asking for two billion retries; store B's webhook is stored within a second anyway,
/// and A's actions each ran once (their error cannot pass on retry).
#[tokio::test]
async fn a_stores_flood_of_failing_urgent_actions_does_not_hold_up_another_stores_webhook() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new("storea", TOKEN).products(1).orders(0).customers(0))
            .store(StoreSpec::new("storeb", TOKEN).products(1).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let app =
        TestApp::start_configured(GlobalActions::default(), &[("BIGCOMMERCE_API_URL", fake.url())]).await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let merchant = payload::header(&payload::jwt("storea", 3));
    let flood = "mutation($inputs: [BulkUpdateBigcommerceProductsInput!]!, $options: EnqueueBackgroundActionOptions) {
        background { bigcommerce { bulkUpdateProducts(inputs: $inputs, backgroundOptions: $options) {
            success errors { code message } backgroundActions { id } } } } }";
    let inputs: Vec<Value> = (0..100)
        .map(|_| json!({"id": "999999999", "product": {"name": "x"}}))
        .collect();
    // PLATFORM is the system's.
    let (_, refused) = app
        .gql_as(
            Some(&merchant),
            flood,
            json!({"inputs": inputs, "options": {"priority": "PLATFORM"}}),
        )
        .await;
    let refused = &refused["data"]["background"]["bigcommerce"]["bulkUpdateProducts"];
    assert_eq!(refused["errors"][0]["code"], "GGT_PERMISSION_DENIED", "{refused}");
    let (_, queued) = app
        .gql_as(
            Some(&merchant),
            flood,
            json!({"inputs": inputs, "options": {"priority": "HIGH",
                   "retries": {"retryCount": 2_000_000_000u32, "initialInterval": 0, "maxInterval": 0}}}),
        )
        .await;
    let queued = &queued["data"]["background"]["bigcommerce"]["bulkUpdateProducts"];
    assert_eq!(queued["success"], true, "{queued}");
    assert_eq!(queued["backgroundActions"].as_array().unwrap().len(), 100);

    let worker = Worker::start(app.api.clone(), workers(8));
    let product_b = fake
        .store("storeb")
        .unwrap()
        .with_data(|d| *d.products.keys().next().unwrap());
    let delivery = json!({"scope": "store/product/updated", "store_id": "2", "producer": "stores/storeb",
                          "hash": "flood-test", "created_at": chrono::Utc::now().timestamp(),
                          "data": {"type": "product", "id": product_b}});
    let start = Instant::now();
    let answer = app
        .http
        .post(format!("{}/webhooks/bigcommerce", app.url))
        .header(SECRET_HEADER, store_secret(&app.api_secret(), "storeb"))
        .json(&delivery)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let stored = loop {
        let found = product::Entity::find()
            .filter(product::Column::StoreId.eq(b))
            .filter(product::Column::BigcommerceId.eq(product_b))
            .one(&app.db)
            .await
            .unwrap();
        if found.is_some() {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "store B's webhook never ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("store B's webhook stored after {stored:?} while store A flooded the queue");
    assert!(stored < Duration::from_secs(1), "store B waited {stored:?}");
    // A's actions fail for good after one attempt each: a missing record stays missing.
    let scope = format!("store:{a}");
    let start = Instant::now();
    loop {
        let now = states(&app, &scope).await;
        if now.get("failed") == Some(&100) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "A's actions: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts: i64 = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT CAST(MAX(\"attempts\") AS BIGINT) FROM \"bcgraph_background_action\" WHERE \"scope\" = '{scope}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(attempts, 1);
    worker.shutdown().await;
}

/// A merchant's ids and queue names are its own: reserving the gateway's sync ids or
/// another store's ids reserves nothing of theirs.
#[tokio::test]
async fn a_store_cannot_squat_the_gateways_or_another_stores_ids() {
    let app = TestApp::start().await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let far =
        || Options::from_json(&json!({"id": "bigcommerce-sync", "startAt": "2999-01-01T00:00:00Z"})).unwrap();
    let jobs: Vec<Job> = (0..50)
        .map(|_| Job::Delete {
            model: "bigcommerce/product".into(),
            id: 1,
        })
        .collect();
    let ids = as_store(&app, a).enqueue_all(&jobs, &far()).await.unwrap();
    assert_eq!(ids[0], "bigcommerce-sync-0");
    // Store B's syncs (the gateway's own jobs, `bigcommerce-sync-<n>`) start as before.
    for _ in 0..2 {
        let result = app
            .data(
                "mutation { bigcommerce { syncStore(storeHash: \"storeb\") { success errors { code message } result } } }",
                json!({}),
            )
            .await;
        assert_eq!(result["bigcommerce"]["syncStore"]["success"], true, "{result}");
        bcgraph::bigcommerce::sync::abort_store(&app.db, b).await.unwrap();
    }
    // The same id in two stores is two actions; twice in one store is refused.
    let mine = Options::from_json(&json!({"id": "nightly", "queue": "imports"})).unwrap();
    let job = Job::Delete {
        model: "bigcommerce/product".into(),
        id: 1,
    };
    as_store(&app, a).enqueue(&job, &mine).await.unwrap();
    as_store(&app, b).enqueue(&job, &mine).await.unwrap();
    let again = as_store(&app, a).enqueue(&job, &mine).await.unwrap_err();
    assert_eq!(
        ActionError::from(again).code(),
        "GGT_DUPLICATE_BACKGROUND_ACTION_ID"
    );
    // Each sees its own under the id it chose; neither sees the other's.
    let seen_by_b = as_store(&app, b)
        .background_action("nightly")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen_by_b.stored_id, format!("store:{b}/nightly"));
    assert_eq!(
        seen_by_b.queue.as_deref(),
        Some(format!("store:{b}/imports").as_str())
    );
    assert!(
        as_store(&app, b)
            .background_action(&format!("store:{a}/nightly"))
            .await
            .unwrap()
            .is_none(),
        "a store cannot reach another's action by its full id"
    );
    // Nobody without a store enqueues anything.
    let nobody = app.api.as_caller(Caller {
        tenant: Tenant::None,
        internal: false,
        ..app.api.caller.clone()
    });
    let err = nobody.enqueue(&job, &Options::default()).await.unwrap_err();
    assert_eq!(ActionError::from(err).code(), "GGT_PERMISSION_DENIED");
}

/// Quotas answer `GGT_TOO_MANY_REQUESTS`; retries are clamped.
#[tokio::test]
async fn quotas_refuse_with_too_many_requests_and_retries_are_clamped() {
    let app = TestApp::start_configured(
        GlobalActions::default(),
        &[
            ("BCGRAPH_STORE_MAX_PENDING_ACTIONS", "5"),
            ("BCGRAPH_MAX_BULK_ENQUEUE", "3"),
        ],
    )
    .await;
    seed::store(&app.db, "storea").await;
    let merchant = payload::header(&payload::jwt("storea", 3));
    let doc = "mutation($ids: [GadgetID!]!, $options: EnqueueBackgroundActionOptions) { background { bigcommerce {
        bulkDeleteProducts(ids: $ids, backgroundOptions: $options) { success errors { code message } backgroundActions { id } } } } }";
    let later = json!({"startAt": "2999-01-01T00:00:00Z", "retries": {"retryCount": 1000, "initialInterval": 1, "maxInterval": 5}});
    let answer =
        |response: Value| response["data"]["background"]["bigcommerce"]["bulkDeleteProducts"].clone();
    let (_, r) = app
        .gql_as(
            Some(&merchant),
            doc,
            json!({"ids": ["1", "2", "3", "4"], "options": later}),
        )
        .await;
    assert_eq!(
        answer(r.clone())["errors"][0]["code"],
        "GGT_TOO_MANY_REQUESTS",
        "{r}"
    );
    for _ in 0..2 {
        let (_, r) = app
            .gql_as(Some(&merchant), doc, json!({"ids": ["1", "2"], "options": later}))
            .await;
        assert_eq!(answer(r.clone())["success"], true, "{r}");
    }
    let (_, r) = app
        .gql_as(Some(&merchant), doc, json!({"ids": ["1", "2"], "options": later}))
        .await;
    let refused = answer(r.clone());
    assert_eq!(refused["errors"][0]["code"], "GGT_TOO_MANY_REQUESTS", "{r}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("BCGRAPH_STORE_MAX_PENDING_ACTIONS")
    );
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT MAX(\"retry_count\"), MIN(\"initial_interval\"), MIN(\"max_interval\"), COUNT(*) FROM \"bcgraph_background_action\"",
        ))
        .await
        .unwrap()
        .unwrap();
    let (count, initial, max, n): (i32, i64, i64, i64) = (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
        row.try_get_by_index(2).unwrap(),
        row.try_get_by_index(3).unwrap(),
    );
    assert_eq!(n, 4, "refused requests enqueued nothing");
    assert_eq!((count, initial, max), (20, 1000, 1000), "retries are clamped");
}

/// What the gate saw: per store, how many of its actions ran at once at most.
#[derive(Default)]
struct Peaks {
    now: Mutex<HashMap<String, (usize, usize)>>,
}

struct Gate(Arc<Peaks>);

#[derive(Deserialize)]
struct GateParams {
    ms: u64,
}

impl GlobalAction for Gate {
    type Params = GateParams;
    fn namespace(&self) -> Option<&'static str> {
        None
    }
    fn name(&self) -> &'static str {
        "gate"
    }
    fn params(&self) -> Vec<Param> {
        vec![Param::required("ms", ParamType::Number)]
    }
    async fn run(&self, ctx: &bcgraph::Context, p: GateParams) -> Result<Value, ActionError> {
        let api = ctx.api();
        let key = format!("{:?}", api.caller.tenant);
        {
            let mut now = self.0.now.lock().unwrap();
            let entry = now.entry(key.clone()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
        }
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        self.0.now.lock().unwrap().get_mut(&key).unwrap().0 -= 1;
        Ok(json!({}))
    }
}

/// A store runs at most its share of the workers; the rest take other stores' work.
#[tokio::test]
async fn a_store_runs_at_most_its_share_of_the_workers() {
    let peaks = Arc::new(Peaks::default());
    let app = TestApp::start_configured(
        GlobalActions::default().register(Gate(peaks.clone())),
        &[("BCGRAPH_STORE_MAX_RUNNING_ACTIONS", "2")],
    )
    .await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let slow = Job::global("gate", json!({"ms": 400}));
    let jobs = vec![slow.clone(); 8];
    as_store(&app, a)
        .enqueue_all(&jobs, &Options::default())
        .await
        .unwrap();
    let b_id = as_store(&app, b)
        .enqueue(&slow, &Options::default())
        .await
        .unwrap();
    let start = Instant::now();
    let worker = Worker::start(app.api.clone(), workers(6));
    loop {
        let job = as_store(&app, b).background_action(&b_id).await.unwrap().unwrap();
        if job.state.is_final() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b_done = start.elapsed();
    let scope = format!("store:{a}");
    while states(&app, &scope).await.get("completed") != Some(&8) {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await;
    let peaks = peaks.now.lock().unwrap().clone();
    assert_eq!(
        peaks[&format!("{:?}", Tenant::Store(a))].1,
        2,
        "store A ran at most 2 at once: {peaks:?}"
    );
    assert!(
        b_done < Duration::from_millis(1500),
        "store B's action waited {b_done:?}"
    );
}
