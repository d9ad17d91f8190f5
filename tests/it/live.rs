//! Live queries over `/api/graphql/batch`: the document `findMany({live: true})` sends
//! (`query ... @live`), answered in full and then again when what it reads changes,
//! whoever wrote the change, with tenancy on every answer, coalesced and capped.

use crate::support::ws::{Socket, complete, next_json, product_names, subscribe};
use crate::support::{TestApp, payload, seed};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PRODUCTS: &str = "query liveProducts($first: Int) @live { bigcommerce { products(first: $first, sort: {id: Ascending}) { edges { node { id name } } } } gadgetMeta { hydrations(modelName: \"bigcommerce.product\") } }";

async fn socket(app: &TestApp, auth: Value) -> Socket {
    crate::support::ws::connect(app, auth).await.0
}

/// The names in the next answer of the live query `id`, or `None` if none comes in `wait`.
async fn next_names(ws: &mut Socket, id: &str, wait: Duration) -> Option<Vec<String>> {
    let mut message = next_json(ws, wait).await?;
    // The end of an earlier refused operation.
    while message["type"] == "complete" && message["id"] != id {
        message = next_json(ws, wait).await?;
    }
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"]["errors"].is_null(), "{message}");
    Some(product_names(&message))
}

async fn create_product(app: &TestApp, store_id: i64, bigcommerce_id: i64, name: &str) {
    let data = app
        .data(
            "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) { success errors { message } } } }",
            json!({"p": {"name": name, "bigcommerceId": bigcommerce_id, "store": {"_link": store_id.to_string()}}}),
        )
        .await;
    assert_eq!(data["bigcommerce"]["createProduct"]["success"], true, "{data}");
}

#[tokio::test]
async fn a_live_list_answers_at_once_then_on_each_change() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "live1").await;
    seed::product(&app.db, store, 1, "first", |_| {}).await;
    let mut ws = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    subscribe(&mut ws, "1", PRODUCTS, json!({"first": 50})).await;
    let names = next_names(&mut ws, "1", Duration::from_secs(10))
        .await
        .expect("the first answer");
    assert_eq!(names, ["first"]);

    // A change through the API, measured from the commit (the mutation's answer), each
    // after the coalescing interval so that only the relay and the rerun are timed.
    let mut latencies = Vec::new();
    for n in 2..=31 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        let written = Instant::now();
        create_product(&app, store, n, &format!("p{n}")).await;
        let mutation = written.elapsed();
        let names = next_names(&mut ws, "1", Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("no answer within 2 s of change {n}"));
        latencies.push(written.elapsed().saturating_sub(mutation));
        assert_eq!(names.len() as i64, n, "{names:?}");
        assert_eq!(names.last().map(String::as_str), Some(format!("p{n}").as_str()));
    }
    latencies.sort();
    println!(
        "live answer after a committed change: p50 {:?}, p99 {:?} over {} changes",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies.len()
    );

    // A change no API call made: another process's SQL, on its own connection.
    let other = Database::connect(app.database_url()).await.unwrap();
    other
        .execute_unprepared(&format!(
            "UPDATE bigcommerce_product SET name = 'renamed by SQL' WHERE store_id = {store} AND bigcommerce_id = 1"
        ))
        .await
        .unwrap();
    let names = next_names(&mut ws, "1", Duration::from_secs(2))
        .await
        .expect("an answer to SQL");
    assert_eq!(names[0], "renamed by SQL");

    // A change to a table the query does not read sends nothing; neither does a write
    // that leaves the answer as it was.
    other
        .execute_unprepared(&format!(
            "UPDATE bigcommerce_store SET owner_email = 'x@example.com' WHERE id = {store}"
        ))
        .await
        .unwrap();
    other
        .execute_unprepared(&format!(
            "UPDATE bigcommerce_product SET sku = 'unread' WHERE store_id = {store}"
        ))
        .await
        .unwrap();
    assert!(
        next_names(&mut ws, "1", Duration::from_millis(700))
            .await
            .is_none(),
        "an unchanged answer was sent again"
    );

    // Stopping it ends it: a later change sends nothing.
    complete(&mut ws, "1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    create_product(&app, store, 100, "after stop").await;
    while let Some(message) = next_json(&mut ws, Duration::from_millis(700)).await {
        assert_ne!(message["type"], "next", "an answer after the stop: {message}");
    }
}

#[tokio::test]
async fn a_change_made_through_another_gateway_reaches_this_ones_live_query() {
    let app = TestApp::start().await;
    let other = app.beside().await;
    let store = seed::store(&app.db, "livetwo").await;
    let mut ws = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    subscribe(&mut ws, "2", PRODUCTS, json!({"first": 50})).await;
    assert!(
        next_names(&mut ws, "2", Duration::from_secs(10))
            .await
            .unwrap()
            .is_empty()
    );
    create_product(&other, store, 1, "from the other host").await;
    let names = next_names(&mut ws, "2", Duration::from_secs(2))
        .await
        .expect("an answer");
    assert_eq!(names, ["from the other host"]);
}

#[tokio::test]
async fn a_burst_of_changes_is_answered_in_few_answers_ending_in_the_last_state() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "live2").await;
    let mut ws = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    subscribe(&mut ws, "b", PRODUCTS, json!({"first": 250})).await;
    assert_eq!(
        next_names(&mut ws, "b", Duration::from_secs(10))
            .await
            .unwrap()
            .len(),
        0
    );
    let other = Database::connect(app.database_url()).await.unwrap();
    let started = Instant::now();
    for n in 1..=40 {
        seed::product(&other, store, n, &format!("b{n}"), |_| {}).await;
    }
    let burst = started.elapsed();
    let mut answers = 0;
    let mut last = Vec::new();
    while let Some(names) = next_names(&mut ws, "b", Duration::from_millis(800)).await {
        answers += 1;
        last = names;
    }
    assert_eq!(last.len(), 40, "the last answer holds every row: {last:?}");
    // At most one answer per 50 ms (live::COALESCE) while the burst lasted, and one after it.
    let most = burst.as_millis() / 50 + 2;
    assert!(
        answers as u128 <= most && answers < 40,
        "{answers} answers for 40 writes in {burst:?}"
    );
}

#[tokio::test]
async fn a_store_sessions_live_query_never_shows_another_store() {
    let app = TestApp::start().await;
    let mine = seed::store(&app.db, "livemine").await;
    let theirs = seed::store(&app.db, "livetheirs").await;
    seed::product(&app.db, mine, 1, "mine 1", |_| {}).await;
    seed::product(&app.db, theirs, 1, "theirs 1", |_| {}).await;
    let auth = json!({"type": "custom", "bigcommerceSignedPayload": payload::jwt("livemine", 3)});
    let mut ws = socket(&app, auth).await;
    subscribe(&mut ws, "t", PRODUCTS, json!({"first": 50})).await;
    assert_eq!(
        next_names(&mut ws, "t", Duration::from_secs(10)).await.unwrap(),
        ["mine 1"]
    );
    // Another store's change is not this session's: the query does not even run again
    // (the write goes through a connection of its own, so the gateway's statement count
    // is the query's alone), and nothing is sent.
    let other = Database::connect(app.database_url()).await.unwrap();
    // SQLite's relay may first report the seeding above, made before any live query was
    // open, as new: one run that sends nothing. Let it pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    seed::product(&other, theirs, 2, "theirs 2", |_| {}).await;
    assert!(
        next_names(&mut ws, "t", Duration::from_millis(700))
            .await
            .is_none()
    );
    assert_eq!(
        app.count_since(before),
        0,
        "the live query ran again for another store"
    );
    // The system's live query runs again on any store's change.
    let mut system = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    subscribe(&mut system, "s", PRODUCTS, json!({"first": 50})).await;
    assert_eq!(
        next_names(&mut system, "s", Duration::from_secs(10))
            .await
            .unwrap()
            .len(),
        3
    );
    seed::product(&other, theirs, 3, "theirs 3", |_| {}).await;
    let names = next_names(&mut system, "s", Duration::from_secs(2))
        .await
        .expect("the system's answer");
    assert_eq!(names.len(), 4);
    assert!(
        next_names(&mut ws, "t", Duration::from_millis(300))
            .await
            .is_none()
    );
    create_product(&app, mine, 2, "mine 2").await;
    let names = next_names(&mut ws, "t", Duration::from_secs(2))
        .await
        .expect("my change");
    assert_eq!(names, ["mine 1", "mine 2"]);
}

#[tokio::test]
async fn live_queries_per_connection_are_capped_and_bad_live_documents_refused() {
    let app = TestApp::start_configured(Default::default(), &[("BCGRAPH_WS_MAX_LIVE_QUERIES", "2")]).await;
    seed::store(&app.db, "livecap").await;
    let mut ws = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    for id in ["a", "b"] {
        subscribe(&mut ws, id, PRODUCTS, json!({"first": 1})).await;
        assert!(next_names(&mut ws, id, Duration::from_secs(10)).await.is_some());
    }
    subscribe(&mut ws, "c", PRODUCTS, json!({"first": 1})).await;
    let refused = next_json(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(refused["id"], "c", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "GGT_TOO_MANY_REQUESTS",
        "{refused}"
    );
    // Stopping one frees its place.
    complete(&mut ws, "a").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    subscribe(&mut ws, "d", PRODUCTS, json!({"first": 1})).await;
    assert!(next_names(&mut ws, "d", Duration::from_secs(10)).await.is_some());

    // `@live` with arguments is refused with a clear error, not a crash.
    let mut ws = socket(&app, json!({"type": "api-key", "key": app.admin_key})).await;
    subscribe(
        &mut ws,
        "x",
        "query @live(throttle: 5) { currentSession { id } }",
        json!({}),
    )
    .await;
    let refused = next_json(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "GGT_INVALID_QUERY_INPUT",
        "{refused}"
    );
    // An anonymous caller's live list of a store model reads nothing, as its plain one does.
    let mut ws = socket(&app, json!({"type": "anonymous"})).await;
    subscribe(&mut ws, "n", PRODUCTS, json!({"first": 5})).await;
    let answer = next_json(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert!(
        answer["payload"]["data"]["bigcommerce"]["products"]["edges"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{answer}"
    );
}

#[tokio::test]
async fn a_live_query_over_http_is_answered_once() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "livehttp").await;
    seed::product(&app.db, store, 1, "over http", |_| {}).await;
    let data = app.data(PRODUCTS, json!({"first": 5})).await;
    assert_eq!(
        data["bigcommerce"]["products"]["edges"][0]["node"]["name"],
        "over http"
    );
    let refused = app
        .gql("query @live(throttle: 1) { currentSession { id } }", json!({}))
        .await;
    assert_eq!(
        crate::support::error_codes(&refused),
        ["GGT_INVALID_QUERY_INPUT"],
        "{refused}"
    );
}
