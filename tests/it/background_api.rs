//! Background actions over GraphQL with the documents `@gadgetinc/api-client-core`
//! sends: enqueue (single, bulk, global), duplicate ids, cancel, and the
//! `backgroundAction` subscription over `/api/graphql/batch`.

use crate::queue::{Probe, Seen, fast};
use crate::support::client_documents as doc;
use crate::support::ws::{self, Socket};
use crate::support::{TestApp, seed};
use bcgraph::action::GlobalActions;
use bcgraph::queue::Worker;
use futures::SinkExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn app() -> TestApp {
    TestApp::start_with(GlobalActions::default().register(Probe(Arc::new(Seen::default())))).await
}

/// A graphql-transport-ws connection authenticated with the admin key.
async fn socket(app: &TestApp) -> Socket {
    ws::connect(app, json!({"type": "api-key", "key": app.admin_key}))
        .await
        .0
}

async fn next_json(ws: &mut Socket) -> Value {
    ws::next_json(ws, Duration::from_secs(15))
        .await
        .expect("a message in time")
}

async fn subscribe(ws: &mut Socket, sub: &str, query: &str, id: &str) {
    let message =
        json!({"id": sub, "type": "subscribe", "payload": {"query": query, "variables": {"id": id}}});
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The `backgroundAction` payloads of a subscription until it completes.
async fn until_complete(ws: &mut Socket) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let message = next_json(ws).await;
        match message["type"].as_str() {
            Some("next") => {
                assert!(message["payload"]["errors"].is_null(), "{message}");
                out.push(message["payload"]["data"]["backgroundAction"].clone());
            }
            Some("complete") => return out,
            _ => panic!("unexpected {message}"),
        }
    }
}

#[tokio::test]
async fn an_enqueued_create_reports_pending_then_its_typed_result() {
    let app = app().await;
    let store = seed::store(&app.db, "bg").await;
    let options = json!({"queue": {"name": "product-sync", "maxConcurrency": 2},
        "retries": {"retryCount": 2, "initialInterval": 100, "backoffFactor": 2, "maxInterval": 1000, "randomizeInterval": true},
        "priority": "HIGH", "id": "create-1"});
    let data = app
        .data(
            doc::ENQUEUE_CREATE,
            json!({"product": {"name": "Later", "bigcommerceId": 77, "store": {"_link": store.to_string()}},
                   "backgroundOptions": options}),
        )
        .await;
    let enqueued = &data["background"]["bigcommerce"]["createProduct"];
    assert_eq!(enqueued["success"], true, "{enqueued}");
    assert!(enqueued["errors"].is_null());
    assert_eq!(enqueued["backgroundAction"]["id"], "create-1");

    // Nothing runs without a worker: the subscription says pending.
    let mut ws = socket(&app).await;
    subscribe(&mut ws, "st", doc::STATUS, "create-1").await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        first["payload"]["data"]["backgroundAction"]["status"], "waiting",
        "{first}"
    );
    ws.send(Message::text(json!({"id": "st", "type": "complete"}).to_string()))
        .await
        .unwrap();
    subscribe(&mut ws, "s1", doc::CREATE_RESULT, "create-1").await;
    // The stopped subscription may still say `complete`.
    let mut first = next_json(&mut ws).await;
    while first["id"] == "st" {
        first = next_json(&mut ws).await;
    }
    assert_eq!(first["type"], "next");
    assert_eq!(
        first["payload"]["data"]["backgroundAction"],
        json!({"id": "create-1", "outcome": null, "result": null})
    );
    let worker = Worker::start(app.api.clone(), fast(2));
    let rest = until_complete(&mut ws).await;
    let done = rest.last().expect("a final message");
    assert_eq!(done["outcome"], "completed");
    let result = &done["result"];
    assert_eq!(result["success"], true);
    assert!(result["errors"].is_null());
    assert_eq!(result["product"]["name"], "Later");
    assert_eq!(result["product"]["bigcommerceId"], 77.0);
    assert_eq!(result["product"]["__typename"], "BigcommerceProduct");

    // The same id again is refused, and nothing more is enqueued.
    let data = app
        .data(
            doc::ENQUEUE_CREATE,
            json!({"product": {"name": "Twice", "bigcommerceId": 78, "store": {"_link": store.to_string()}},
                   "backgroundOptions": {"id": "create-1"}}),
        )
        .await;
    let again = &data["background"]["bigcommerce"]["createProduct"];
    assert_eq!(again["success"], false);
    assert_eq!(again["errors"][0]["code"], "GGT_DUPLICATE_BACKGROUND_ACTION_ID");
    assert!(again["backgroundAction"].is_null());
    worker.shutdown().await;
}

#[tokio::test]
async fn a_bulk_enqueue_makes_one_background_action_per_element() {
    let app = app().await;
    let store = seed::store(&app.db, "bulk").await;
    let inputs: Vec<Value> = (1..=3)
        .map(|i| json!({"product": {"name": format!("P{i}"), "bigcommerceId": i, "store": {"_link": store.to_string()}}}))
        .collect();
    let data = app
        .data(
            doc::ENQUEUE_BULK_CREATE,
            json!({"inputs": inputs, "backgroundOptions": null}),
        )
        .await;
    let enqueued = &data["background"]["bigcommerce"]["bulkCreateProducts"];
    assert_eq!(enqueued["success"], true, "{enqueued}");
    let ids: Vec<String> = enqueued["backgroundActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    let worker = Worker::start(app.api.clone(), fast(2));
    let mut ws = socket(&app).await;
    let mut names = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        subscribe(&mut ws, &format!("s{i}"), doc::CREATE_RESULT, id).await;
        let last = until_complete(&mut ws).await.pop().unwrap();
        assert_eq!(last["outcome"], "completed", "{last}");
        names.push(last["result"]["product"]["name"].as_str().unwrap().to_owned());
    }
    names.sort();
    assert_eq!(names, ["P1", "P2", "P3"]);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_failed_global_action_reports_its_errors() {
    let app = app().await;
    let data = app
        .data(
            doc::ENQUEUE_GLOBAL,
            json!({"key": "gql", "failTimes": 9, "backgroundOptions": {"retries": {"retryCount": 1, "initialInterval": 50}}}),
        )
        .await;
    let id = data["background"]["probe"]["backgroundAction"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let worker = Worker::start(app.api.clone(), fast(1));
    let mut ws = socket(&app).await;
    subscribe(&mut ws, "g", doc::GLOBAL_RESULT, &id).await;
    let last = until_complete(&mut ws).await.pop().unwrap();
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["result"]["success"], false);
    assert_eq!(last["result"]["errors"][0]["code"], "GGT_INTERNAL_ERROR");
    assert_eq!(last["result"]["errors"][0]["message"], "planned failure 2");
    assert!(last["result"]["result"].is_null());

    let data = app
        .data(
            doc::ENQUEUE_GLOBAL,
            json!({"key": "ok", "backgroundOptions": null}),
        )
        .await;
    let id = data["background"]["probe"]["backgroundAction"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    subscribe(&mut ws, "h", doc::GLOBAL_RESULT, &id).await;
    let last = until_complete(&mut ws).await.pop().unwrap();
    assert_eq!(last["outcome"], "completed");
    assert_eq!(last["result"]["result"], json!({"key": "ok", "attempt": 1}));
    worker.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_background_action_never_runs() {
    let app = app().await;
    let start_at = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let data = app
        .data(
            doc::ENQUEUE_GLOBAL,
            json!({"key": "cancel-me", "backgroundOptions": {"startAt": start_at, "id": "c1"}}),
        )
        .await;
    assert_eq!(data["background"]["probe"]["backgroundAction"]["id"], "c1");
    let data = app.data(doc::CANCEL, json!({"id": "c1"})).await;
    assert_eq!(
        data["background"]["cancel"],
        json!({"success": true, "errors": null, "backgroundAction": {"id": "c1"}})
    );
    let worker = Worker::start(app.api.clone(), fast(1));
    let mut ws = socket(&app).await;
    subscribe(&mut ws, "st", doc::STATUS, "c1").await;
    let status = until_complete(&mut ws).await.pop().unwrap();
    assert_eq!(status, json!({"id": "c1", "status": "cancelled"}));
    subscribe(&mut ws, "c", doc::GLOBAL_RESULT, "c1").await;
    let last = until_complete(&mut ws).await.pop().unwrap();
    assert_eq!(last["outcome"], "cancelled");
    assert_eq!(last["result"]["success"], false);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The gateway's own code reaches an API key's action by its full id.
    let job = app.api.background_action("system/c1").await.unwrap().unwrap();
    assert_eq!(job.attempts, 0);
    let data = app.data(doc::CANCEL, json!({"id": "no-such"})).await;
    assert_eq!(data["background"]["cancel"]["success"], false);
    assert_eq!(
        data["background"]["cancel"]["errors"][0]["code"],
        "GGT_RECORD_NOT_FOUND"
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_store_session_cannot_see_or_cancel_another_stores_jobs() {
    let app = app().await;
    let a = seed::store(&app.db, "storea").await;
    seed::store(&app.db, "storeb").await;
    let data = app
        .data(
            doc::ENQUEUE_CREATE,
            json!({"product": {"name": "A's", "bigcommerceId": 1, "store": {"_link": a.to_string()}},
                   "backgroundOptions": {"id": "a-job", "startAt": "2099-01-01T00:00:00.000Z"}}),
        )
        .await;
    assert_eq!(
        data["background"]["bigcommerce"]["createProduct"]["success"],
        true
    );
    let b_user = crate::support::payload::header(&crate::support::payload::jwt("storeb", 5));
    let (_, answer) = app
        .gql_as(Some(&b_user), doc::CANCEL, json!({"id": "a-job"}))
        .await;
    assert_eq!(
        answer["data"]["background"]["cancel"]["errors"][0]["code"], "GGT_RECORD_NOT_FOUND",
        "{answer}"
    );
    let job = app.api.background_action("system/a-job").await.unwrap().unwrap();
    assert_eq!(job.state, bcgraph::queue::State::Waiting);
}
