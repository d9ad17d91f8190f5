//! Prometheus metrics against the fake BigCommerce over HTTP: the counters move as the
//! rows do (a sync's records, a webhook burst's deliveries and background actions, the
//! API's requests), and `/metrics` is served only where it is configured.
//!
//! Every gateway has its own recorder, so each test reads absolute values of its own
//! gateway even while other tests' gateways run in the same process.

use crate::support::{TestApp, seed, ws};
use bcgraph::bigcommerce::webhooks::{self, Triggers, store_secret};
use bcgraph::bigcommerce::{BigCommerce, ClientOptions};
use entity::bigcommerce::{product, product_variant};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, RateLimit, StoreSpec, WebhookOptions};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const HASH: &str = "abc123";
const TOKEN: &str = "secret-token";
const METRICS_TOKEN: &str = "a-metrics-token-for-the-tests";

/// One scrape: each sample by its name and its labels (sorted `k="v"` pairs).
#[derive(Debug, Default)]
struct Scrape(BTreeMap<String, BTreeMap<String, f64>>);

impl Scrape {
    /// Parse the text format: `name{k="v",...} value` lines, comments skipped.
    fn parse(text: &str) -> Scrape {
        let mut samples: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (
                    name,
                    rest.strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed: {line}")),
                ),
                None => (series, ""),
            };
            let mut pairs: Vec<&str> = split_labels(labels);
            pairs.sort();
            samples
                .entry(name.to_owned())
                .or_default()
                .insert(pairs.join(","), value);
        }
        Scrape(samples)
    }

    /// The sample of `name` whose labels are exactly `labels` (0 when absent).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        pairs.sort();
        self.0
            .get(name)
            .and_then(|by_labels| by_labels.get(&pairs.join(",")))
            .copied()
            .unwrap_or(0.0)
    }

    /// The sum of `name`'s samples whose labels include every one of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        self.0
            .get(name)
            .map(|by_labels| {
                by_labels
                    .iter()
                    .filter(|(key, _)| {
                        let have = split_labels(key);
                        wanted.iter().all(|w| have.contains(&w.as_str()))
                    })
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// Every label set of `name`.
    fn series(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .map(|by_labels| by_labels.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// `k="v"` pairs of a label list; values may hold commas and escaped quotes.
fn split_labels(labels: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        pairs.push(&labels[start..]);
    }
    pairs
}

/// A local address nothing listens on (the port is free when this returns).
fn free_address() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address").to_string()
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Scrape `url` (a metrics listener's `/metrics`), retrying while it is not up yet.
async fn scrape(url: &str) -> Scrape {
    let start = Instant::now();
    loop {
        match reqwest::Client::new().get(url).send().await {
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 200, "{url}");
                let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
                assert!(
                    content_type.starts_with("text/plain; version=0.0.4"),
                    "{content_type}"
                );
                return Scrape::parse(&response.text().await.expect("body"));
            }
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{url} did not answer: {e}"),
        }
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    crate::support::scalar(&app.db, sql).await
}

/// A sync of a store of 120 products (with their variants), then a burst of product
/// updates delivered as webhooks, then API requests: each scrape agrees with the rows
/// written, the deliveries the fake made and the requests sent.
#[tokio::test]
async fn counters_follow_a_sync_a_webhook_burst_and_the_api() {
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            // A quota no test reaches: the answers carry its headers.
            .rate_limit(Some(RateLimit::new(100_000, Duration::from_secs(60))))
            .webhooks(WebhookOptions {
                duplicate: 0.2,
                ..WebhookOptions::default()
            })
            .store(StoreSpec::new(HASH, TOKEN).products(120).orders(0).customers(0)),
    )
    .await
    .expect("fake starts");
    let address = free_address();
    let app = TestApp::start_app(
        bcgraph::App::new(),
        &[
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_METRICS_LISTEN", &address),
            ("BCGRAPH_WORKERS", "4"),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "0"),
        ],
    )
    .await;
    let metrics = format!("http://{address}/metrics");
    seed::store(&app.db, HASH).await;
    let store = fake.store(HASH).unwrap();

    // A fresh gateway: nothing synced, nothing delivered.
    let before = scrape(&metrics).await;
    assert_eq!(before.sum("bcgraph_sync_records_total", &[]), 0.0);
    assert_eq!(before.sum("bcgraph_webhook_deliveries_total", &[]), 0.0);
    let pool = before.get("bcgraph_db_connections", &[("pool", "main"), ("state", "idle")])
        + before.get("bcgraph_db_connections", &[("pool", "main"), ("state", "in_use")]);
    assert!(
        pool >= 1.0,
        "the pool has its connections: {:?}",
        before.series("bcgraph_db_connections")
    );
    assert!(before.get("bcgraph_db_max_connections", &[("pool", "main")]) >= pool);

    // The sync, scraped while it runs: the counter never passes the rows already there.
    let data = app
        .data(
            "mutation($models: JSON) { bigcommerce { syncStore(storeHash: \"abc123\", force: true, models: $models) { success result } } }",
            json!({"models": ["products"]}),
        )
        .await;
    let sync_id: i64 = data["bigcommerce"]["syncStore"]["result"]["syncId"]
        .as_str()
        .expect("a sync id")
        .parse()
        .unwrap();
    let (mut scrapes, mut last) = (0, 0.0);
    let start = Instant::now();
    loop {
        let seen = scrape(&metrics).await;
        let products = product::Entity::find().count(&app.db).await.unwrap() as f64;
        let written = seen.get("bcgraph_sync_records_total", &[("resource", "products")]);
        assert!(
            written <= products,
            "{written} products counted, {products} in the table"
        );
        assert!(written >= last, "a counter went back: {last} then {written}");
        last = written;
        scrapes += 1;
        let state: String = entity::bigcommerce::sync::Entity::find_by_id(sync_id)
            .one(&app.db)
            .await
            .unwrap()
            .expect("the sync row")
            .state;
        if state == "completed" {
            break;
        }
        assert!(
            state != "errored" && start.elapsed() < Duration::from_secs(120),
            "sync {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(scrapes > 1, "scraped during the sync");
    let synced = scrape(&metrics).await;
    let products = product::Entity::find().count(&app.db).await.unwrap() as f64;
    let variants = product_variant::Entity::find().count(&app.db).await.unwrap() as f64;
    assert_eq!(products, 120.0);
    assert!(variants > 0.0);
    assert_eq!(
        synced.get("bcgraph_sync_records_total", &[("resource", "products")]),
        products
    );
    assert_eq!(
        synced.get("bcgraph_sync_records_total", &[("resource", "variants")]),
        variants
    );
    assert_eq!(
        synced.get("bcgraph_sync_records_per_second", &[("resource", "products")]),
        0.0,
        "no listing runs any more"
    );
    // Every answer from BigCommerce is counted by its status.
    let served = store.requests();
    assert!(!served.is_empty());
    assert_eq!(
        synced.sum("bcgraph_bigcommerce_requests_total", &[]),
        served.len() as f64,
        "{:?}",
        synced.series("bcgraph_bigcommerce_requests_total")
    );
    assert_eq!(
        synced.get("bcgraph_bigcommerce_requests_total", &[("status", "200")]),
        served.iter().filter(|r| r.status == 200).count() as f64
    );
    assert_eq!(synced.get("bcgraph_bigcommerce_rate_limited_total", &[]), 0.0);
    let left = synced.get("bcgraph_bigcommerce_quota_remaining", &[]);
    assert!(left > 0.0 && left < 100_000.0, "the quota the fake told: {left}");
    assert_eq!(
        synced.sum(
            "bcgraph_background_action_outcomes_total",
            &[("queue", "internal/bigcommerce-sync"), ("outcome", "succeeded")]
        ),
        1.0,
        "{:?}",
        synced.series("bcgraph_background_action_outcomes_total")
    );

    // A burst of webhooks: every product updated at BigCommerce, a fifth delivered twice.
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
    let ids: Vec<i64> = store.with_data(|d| d.products.keys().copied().collect());
    for (i, id) in ids.iter().enumerate() {
        store
            .update_product(*id, json!({"name": format!("renamed {i}")}))
            .unwrap();
    }
    let start = Instant::now();
    let (mut last, mut quiet) = (usize::MAX, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let delivered = fake.deliveries().len();
        let pending = count(
            &app,
            "SELECT COUNT(*) FROM \"bcgraph_background_action\" WHERE \"state\" IN ('waiting', 'running')",
        )
        .await;
        if delivered >= ids.len() && delivered == last && pending == 0 {
            quiet += 1;
            if quiet == 3 {
                break;
            }
        } else {
            quiet = 0;
        }
        last = delivered;
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the burst did not settle: {pending} pending"
        );
    }
    let deliveries: Vec<_> = fake
        .deliveries()
        .into_iter()
        .filter(|d| d.scope == "store/product/updated")
        .collect();
    assert_eq!(
        deliveries.len(),
        fake.deliveries().len(),
        "only product updates were delivered"
    );
    assert!(deliveries.iter().all(|d| d.status == Some(200)));
    let duplicates = deliveries.iter().filter(|d| d.duplicate).count();
    let burst = scrape(&metrics).await;
    let scope = [("scope", "store/product/updated")];
    assert_eq!(
        burst.sum("bcgraph_webhook_deliveries_total", &scope),
        deliveries.len() as f64,
        "{:?}",
        burst.series("bcgraph_webhook_deliveries_total")
    );
    let enqueued = burst.get(
        "bcgraph_webhook_deliveries_total",
        &[("scope", "store/product/updated"), ("outcome", "enqueued")],
    );
    assert_eq!(
        enqueued,
        ids.len() as f64,
        "one action per change; {duplicates} duplicates"
    );
    assert_eq!(
        burst.get("bcgraph_webhook_ack_duration_seconds_count", &[]),
        deliveries.len() as f64
    );
    assert_eq!(
        burst.get("bcgraph_webhook_stored_delay_seconds_count", &[]),
        enqueued
    );
    // Every action this gateway ran, by its outcome, is a row of that state.
    let completed = count(
        &app,
        "SELECT COUNT(*) FROM \"bcgraph_background_action\" WHERE \"state\" = 'completed'",
    )
    .await;
    assert_eq!(
        burst.sum(
            "bcgraph_background_action_outcomes_total",
            &[("outcome", "succeeded")]
        ),
        completed as f64
    );
    assert_eq!(
        burst.get(
            "bcgraph_background_action_outcomes_total",
            &[("queue", "none"), ("outcome", "succeeded")]
        ),
        enqueued
    );
    assert_eq!(
        burst.sum("bcgraph_background_actions", &[("state", "waiting")]),
        0.0
    );
    // The queue's gauges are counted from the table: enqueue what no worker may run yet.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let queued = app
        .data(
            &format!(
                "mutation {{ background {{ bigcommerce {{ pullProduct(bigcommerceId: 1, storeHash: \"abc123\",
                backgroundOptions: {{queue: {{name: \"later\", maxConcurrency: 1}}, startAt: \"{later}\"}}) {{ success }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        queued["background"]["bigcommerce"]["pullProduct"]["success"], true,
        "{queued}"
    );
    tokio::time::sleep(bcgraph::metrics::sample::QUEUE_SAMPLE_EVERY).await;
    let waiting = scrape(&metrics).await;
    assert_eq!(
        waiting.get(
            "bcgraph_background_actions",
            &[("queue", "system/later"), ("state", "waiting")]
        ),
        1.0,
        "{:?}",
        waiting.series("bcgraph_background_actions")
    );
    assert_eq!(
        waiting.get(
            "bcgraph_background_action_oldest_waiting_seconds",
            &[("queue", "system/later")]
        ),
        0.0,
        "a scheduled action is not late"
    );

    // API requests: by route template and status, and by operation kind and error code.
    let before = scrape(&metrics).await;
    let sent = 7;
    for _ in 0..sent {
        app.data(
            "{ bigcommerce { products(first: 2) { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    }
    let (status, _) = app.post_raw(b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    let response = app.gql("{ bigcommerce { noSuchField } }", json!({})).await;
    // Labelled with the code the client got, `other` when it is none of the contract's.
    let code = match response["errors"][0]["extensions"]["code"].as_str() {
        Some(code) if code.starts_with("GGT_") => code.to_owned(),
        _ => "other".to_owned(),
    };
    let after = scrape(&metrics).await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    let route = |status: &'static str| [("route", "/api/graphql"), ("status", status)];
    assert_eq!(
        delta("bcgraph_http_requests_total", &route("200")),
        (sent + 1) as f64
    );
    assert_eq!(delta("bcgraph_http_requests_total", &route("400")), 1.0);
    assert_eq!(
        delta(
            "bcgraph_http_request_duration_seconds_count",
            &[("route", "/api/graphql")]
        ),
        (sent + 2) as f64
    );
    assert_eq!(
        delta(
            "bcgraph_graphql_operations_total",
            &[("kind", "query"), ("code", "none")]
        ),
        sent as f64
    );
    assert_eq!(
        delta(
            "bcgraph_graphql_operations_total",
            &[("kind", "unknown"), ("code", "GGT_INVALID_QUERY_INPUT")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "bcgraph_graphql_operations_total",
            &[("kind", "query"), ("code", code.as_str())]
        ),
        1.0
    );
    // Raw paths never become labels: an unknown path is one `unmatched` series.
    for path in ["/nothing/1", "/nothing/2"] {
        let (status, _) = get(&format!("{}{path}", app.url), None).await;
        assert_eq!(status, 404);
    }
    let unmatched = scrape(&metrics).await;
    assert_eq!(
        unmatched.get(
            "bcgraph_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        2.0
    );
    assert!(
        unmatched
            .series("bcgraph_http_requests_total")
            .iter()
            .all(|labels| !labels.contains("/nothing")),
        "{:?}",
        unmatched.series("bcgraph_http_requests_total")
    );
}

/// Off by default: no `/metrics` anywhere.
#[tokio::test]
async fn metrics_are_off_by_default() {
    let app = TestApp::start().await;
    let (status, _) = get(&format!("{}/metrics", app.url), None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{}/metrics", app.url), Some(METRICS_TOKEN)).await;
    assert_eq!(status, 404);
}

/// With a token, `/metrics` is on the public listener for its bearer only.
#[tokio::test]
async fn the_public_metrics_need_the_token() {
    let app =
        TestApp::start_configured(Default::default(), &[("BCGRAPH_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let url = format!("{}/metrics", app.url);
    for wrong in [None, Some("a-metrics-token-for-the-test"), Some("wrong")] {
        let (status, body) = get(&url, wrong).await;
        assert_eq!(status, 401, "{wrong:?}");
        assert!(!body.contains("bcgraph_"), "{body}");
    }
    let (status, _) = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("Session {METRICS_TOKEN}"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "only a bearer token");
    app.data(
        "{ bigcommerce { products(first: 1) { edges { node { id } } } } }",
        json!({}),
    )
    .await;
    let (status, body) = get(&url, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    let scrape = Scrape::parse(&body);
    assert_eq!(
        scrape.get(
            "bcgraph_http_requests_total",
            &[("route", "/api/graphql"), ("status", "200")]
        ),
        1.0
    );
    // The refused scrapes were counted too, under their route.
    assert_eq!(
        scrape.get(
            "bcgraph_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ),
        4.0
    );
    assert_eq!(scrape.get("bcgraph_websocket_connections", &[]), 0.0);

    // Open websockets and live queries are counted while they are open.
    let auth = json!({"type": "api-key", "key": app.admin_key});
    let (mut live, _) = ws::connect(&app, auth.clone()).await;
    let (mut once, _) = ws::connect(&app, auth).await;
    // A query over the websocket is an operation like one over HTTP.
    ws::subscribe(
        &mut once,
        "q",
        "{ bigcommerce { products(first: 1) { edges { node { id } } } } }",
        json!({}),
    )
    .await;
    let answer = ws::next_json(&mut once, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(answer["type"], "next", "{answer}");
    let query = "query @live { bigcommerce { products(first: 1) { edges { node { id } } } } }";
    ws::subscribe(&mut live, "1", query, json!({})).await;
    let first = ws::next_json(&mut live, Duration::from_secs(10))
        .await
        .expect("the first answer");
    assert_eq!(first["type"], "next", "{first}");
    let open = Scrape::parse(&get(&url, Some(METRICS_TOKEN)).await.1);
    assert_eq!(open.get("bcgraph_websocket_connections", &[]), 2.0);
    assert_eq!(open.get("bcgraph_live_queries", &[]), 1.0);
    assert_eq!(
        open.get(
            "bcgraph_graphql_operations_total",
            &[("kind", "query"), ("code", "none")]
        ),
        2.0,
        "one query over HTTP, one over the websocket (a live query is not an operation counted here)"
    );
    ws::complete(&mut live, "1").await;
    let start = Instant::now();
    loop {
        let closed = Scrape::parse(&get(&url, Some(METRICS_TOKEN)).await.1);
        if closed.get("bcgraph_live_queries", &[]) == 0.0 {
            assert_eq!(closed.get("bcgraph_websocket_connections", &[]), 2.0);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the live query stays counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With `BCGRAPH_METRICS_LISTEN` alone, `/metrics` is on that address and not on the
/// public one.
#[tokio::test]
async fn the_metrics_listener_is_apart_from_the_public_one() {
    let address = free_address();
    let app = TestApp::start_app(
        bcgraph::App::new(),
        &[
            ("BCGRAPH_METRICS_LISTEN", &address),
            ("BCGRAPH_WORKERS", "0"),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "0"),
        ],
    )
    .await;
    let (status, _) = get(&format!("{}/metrics", app.url), None).await;
    assert_eq!(status, 404, "not on the public listener");
    let (status, _) = get(&format!("{}/healthz", app.url), None).await;
    assert_eq!(status, 200);
    let scrape = scrape(&format!("http://{address}/metrics")).await;
    assert_eq!(
        scrape.get(
            "bcgraph_http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        scrape.get(
            "bcgraph_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    // The metrics listener serves nothing else.
    let (status, _) = get(&format!("http://{address}/healthz"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("http://{address}/api/graphql"), None).await;
    assert_eq!(status, 404);
}
