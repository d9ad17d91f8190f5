//! Running in production: a database outage under load (requests fail fast with a
//! retryable answer and everything heals by itself), and graceful shutdown (in-flight
//! requests finish, running background actions are handed back, the process exits in
//! time), in process and as the real binary on SIGTERM.

use crate::queue::{Probe, Seen};
use crate::support::proxy::{DbProxy, Outage};
use crate::support::{TEST_SECRET, TestApp, count_rows, error_codes, payload, seed};
use bcgraph::action::{ActionError, GlobalAction, Param};
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::queue::{Job, Options, Worker, WorkerOptions};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HASH: &str = "abc123";
const READ: &str = "{ bigcommerce { products(first: 5) { edges { node { id name } } } } }";
const WRITE: &str = "mutation($id: GadgetID!, $p: UpdateBigcommerceProductInput) { bigcommerce { updateProduct(id: $id, product: $p) { success errors { code message } } } }";

/// The webhook trigger of the outage test: acknowledges, so that the test sees the
/// deliveries' rows rather than BigCommerce calls.
struct Acknowledge;

impl GlobalAction for Acknowledge {
    type Params = Value;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "acknowledge"
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, _ctx: &bcgraph::Context, _data: Value) -> Result<Value, ActionError> {
        Ok(json!({}))
    }
}

/// What one request of the load got.
#[derive(Clone, Debug)]
struct Outcome {
    kind: &'static str,
    started: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
    codes: Vec<String>,
    /// A webhook's `hash`.
    hash: Option<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status) && self.codes.is_empty()
    }
}

/// Reads (a merchant's session: the read path), writes (an API key: authentication)
/// and webhook deliveries, one client of each at a time, until `stop`.
struct Load {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: tokio::sync::watch::Sender<bool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp, product_id: i64) -> Load {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let merchant = payload::header(&payload::jwt(HASH, 77));
        let mut clients = Vec::new();
        for kind in ["read", "read", "write", "webhook"] {
            let (http, url, key) = (app.http.clone(), app.url.clone(), app.admin_key.clone());
            let (outcomes, stopped, merchant) = (outcomes.clone(), stopped.clone(), merchant.clone());
            clients.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !*stopped.borrow() {
                    n += 1;
                    let started = Instant::now();
                    let (request, hash) = match kind {
                        "read" => (
                            http.post(format!("{url}/api/graphql"))
                                .header("authorization", &merchant)
                                .json(&json!({"query": READ})),
                            None,
                        ),
                        "write" => (
                            http.post(format!("{url}/api/graphql"))
                                .header("authorization", format!("Bearer {key}"))
                                .json(&json!({"query": WRITE, "variables": {"id": product_id.to_string(), "p": {"name": format!("Mug {n}")}}})),
                            None,
                        ),
                        _ => {
                            let hash = format!("h{}-{n}", rand::random::<u32>());
                            let body = json!({"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": n},
                                              "hash": hash, "created_at": 1, "producer": format!("stores/{HASH}")});
                            (
                                http.post(format!("{url}/webhooks/bigcommerce"))
                                    .header(SECRET_HEADER, store_secret(&crate::support::secrets(), HASH))
                                    .body(body.to_string()),
                                Some(hash),
                            )
                        }
                    };
                    let outcome = match request.timeout(Duration::from_secs(30)).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let retry_after = response.headers().contains_key("retry-after");
                            let text = response.text().await.unwrap_or_default();
                            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            let mut codes = error_codes(&body);
                            if let Some(errors) = body["data"]["bigcommerce"]["updateProduct"]["errors"].as_array() {
                                codes.extend(errors.iter().map(|e| e["code"].as_str().unwrap_or("").to_owned()));
                            }
                            Outcome { kind, started, took: started.elapsed(), status, retry_after, codes, hash }
                        }
                        Err(e) => Outcome {
                            kind,
                            started,
                            took: started.elapsed(),
                            status: 0,
                            retry_after: false,
                            codes: vec![format!("transport: {e}")],
                            hash,
                        },
                    };
                    outcomes.lock().unwrap().push(outcome);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        Load {
            outcomes,
            stop,
            clients,
        }
    }

    /// Every outcome of a request started in `from..to`.
    fn between(&self, from: Instant, to: Instant) -> Vec<Outcome> {
        let outcomes = self.outcomes.lock().unwrap();
        outcomes
            .iter()
            .filter(|o| o.started >= from && o.started < to)
            .cloned()
            .collect()
    }

    async fn finish(self) -> Vec<Outcome> {
        let _ = self.stop.send(true);
        for client in self.clients {
            client.await.unwrap();
        }
        self.outcomes.lock().unwrap().clone()
    }
}

fn postgres() -> Option<String> {
    std::env::var("BCGRAPH_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// The state, attempts and whether the lease is free of the background action a caller
/// knows as `id` (stored behind its scope: `store:1/id`).
async fn job_row(db: &DatabaseConnection, id: &str) -> (String, i64, bool) {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT \"state\", CAST(\"attempts\" AS BIGINT), \"lease_until\" IS NULL FROM \"bcgraph_background_action\" WHERE \"id\" LIKE '%/{id}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no background action {id}"));
    (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
        row.try_get_by_index(2).unwrap(),
    )
}

async fn wait_for_state(
    db: &DatabaseConnection,
    id: &str,
    state: &str,
    limit: Duration,
) -> (String, i64, bool) {
    let deadline = Instant::now() + limit;
    loop {
        let row = job_row(db, id).await;
        if row.0 == state {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is {row:?}, not {state}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The database goes away under a small load of reads, writes and webhooks (the
/// gateway reaches PostgreSQL through a proxy the test cuts): every request fails
/// within the configured time with a retryable answer, `/healthz` says so within a
/// second and `/livez` does not; once it is back everything succeeds again by itself,
/// background actions enqueued before the cut complete, and each acknowledged webhook
/// is stored exactly once.
///
/// PostgreSQL only: SQLite is a file of this process and cannot go away.
#[tokio::test]
async fn a_database_outage_fails_requests_fast_and_heals() {
    let Some(server) = postgres() else {
        eprintln!("skipped: an outage needs a database server (BCGRAPH_TEST_DATABASE_URL)");
        return;
    };
    let proxy = DbProxy::to(&server).await;
    let seen = Arc::new(Seen::default());
    let app = bcgraph::App::new()
        .action(Probe(seen.clone()))
        .action(Acknowledge)
        .trigger("store/product/updated", "acknowledge");
    const TIMEOUT: u64 = 2;
    let timeout = TIMEOUT.to_string();
    let app = TestApp::start_app_through(
        app,
        &[
            ("BCGRAPH_DATABASE_TIMEOUT_SECONDS", timeout.as_str()),
            ("BCGRAPH_WORKERS", "2"),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0"),
            ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
        ],
        &proxy,
    )
    .await;
    let store = seed::store(&app.db, HASH).await;
    let product = seed::product(&app.db, store, 1, "Mug", |_| {}).await;
    let health = |path: &'static str| {
        let (http, url) = (app.http.clone(), app.url.clone());
        async move {
            let started = Instant::now();
            let status = http
                .get(format!("{url}{path}"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, started.elapsed())
        }
    };
    assert_eq!(health("/healthz").await.0, 200);

    let load = Load::start(&app, product);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut windows = Vec::new();
    for outage in [Outage::Blackhole, Outage::Refuse] {
        // One action running when the database goes (it outlives the cut), one due
        // during it.
        let running = format!("running-{outage:?}");
        let job = Job::global("probe", json!({"key": running, "sleepMs": 1500}));
        app.api
            .enqueue(&job, &Options::from_json(&json!({"id": running})).unwrap())
            .await
            .unwrap();
        wait_for_state(&app.db, &running, "running", Duration::from_secs(10)).await;
        let due = format!("due-{outage:?}");
        let job = Job::global("probe", json!({"key": due}));
        let start_at = chrono::Utc::now() + chrono::Duration::seconds(1);
        app.api
            .enqueue(
                &job,
                &Options::from_json(&json!({"id": due, "startAt": start_at.to_rfc3339()})).unwrap(),
            )
            .await
            .unwrap();

        let cut = Instant::now();
        proxy.cut(outage);
        // While it is away: the database's health is 503 within a second, liveness 200.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (healthz, healthz_took) = health("/healthz").await;
        let (livez, _) = health("/livez").await;
        assert_eq!(healthz, 503, "/healthz during the outage ({outage:?})");
        assert!(
            healthz_took < Duration::from_secs(1),
            "/healthz took {healthz_took:?} ({outage:?})"
        );
        assert_eq!(livez, 200, "/livez during the outage ({outage:?})");
        tokio::time::sleep(Duration::from_secs(3 * TIMEOUT)).await;
        let restored = Instant::now();
        proxy.restore();

        // Back by itself: the first read that succeeds, then a while more of load.
        let deadline = Instant::now() + Duration::from_secs(30);
        let healed = loop {
            let now = Instant::now();
            if let Some(first) = load
                .between(restored, now)
                .iter()
                .filter(|o| o.kind == "read" && o.ok())
                .map(|o| o.started)
                .min()
            {
                break first;
            }
            assert!(
                now < deadline,
                "no read succeeded within 30 s of the database's return ({outage:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            health("/healthz").await.0,
            200,
            "/healthz once the database is back ({outage:?})"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        windows.push((
            outage,
            cut,
            restored,
            healed,
            Instant::now(),
            healthz_took,
            running,
            due,
        ));
    }
    let outcomes = load.finish().await;

    let first_cut = windows[0].1;
    let before: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.started + o.took < first_cut)
        .collect();
    assert!(before.iter().any(|o| o.kind == "webhook") && before.iter().any(|o| o.kind == "write"));
    assert!(before.iter().all(|o| o.ok()), "before the cut: {before:#?}");
    let limit = Duration::from_secs(TIMEOUT) + Duration::from_millis(1500);
    for (outage, cut, restored, healed, until, healthz_took, running, due) in windows {
        // During the outage: requests started after the cut and answered before the return.
        let during: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.started >= cut && o.started + o.took < restored)
            .collect();
        for kind in ["read", "write", "webhook"] {
            assert!(
                during.iter().any(|o| o.kind == kind),
                "no {kind} during the outage ({outage:?})"
            );
        }
        let slowest = during.iter().map(|o| o.took).max().unwrap_or_default();
        for o in &during {
            assert!(
                o.took <= limit,
                "{outage:?}: took {:?} (limit {limit:?}): {o:?}",
                o.took
            );
            assert_eq!(o.status, 503, "{outage:?}: {o:?}");
            if o.kind != "webhook" {
                assert!(o.retry_after, "{outage:?}: {o:?}");
                assert_eq!(o.codes, ["GGT_UNAVAILABLE"], "{outage:?}: {o:?}");
            }
        }
        let after: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.started >= healed && o.started < until)
            .collect();
        for kind in ["read", "write", "webhook"] {
            assert!(
                after.iter().any(|o| o.kind == kind),
                "no {kind} after the outage ({outage:?})"
            );
        }
        // A request that was waiting for a connection when the first read got one may
        // still fail; from a second later on, none does.
        let settled: Vec<&&Outcome> = after
            .iter()
            .filter(|o| o.started >= healed + Duration::from_secs(1))
            .collect();
        assert!(
            settled.iter().all(|o| o.ok()),
            "after the outage ({outage:?}): {settled:#?}"
        );
        // Background work resumed by itself.
        wait_for_state(&app.db, &running, "completed", Duration::from_secs(30)).await;
        wait_for_state(&app.db, &due, "completed", Duration::from_secs(30)).await;
        eprintln!(
            "outage ({outage:?}): {} requests during it, slowest {slowest:?} (timeout {TIMEOUT} s); \
             /healthz {healthz_took:?}; first read succeeded {:?} after the return",
            during.len(),
            healed - restored,
        );
    }
    // Every acknowledged delivery is stored, once.
    let acknowledged: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.kind == "webhook" && (200..300).contains(&o.status))
        .filter_map(|o| o.hash.as_ref())
        .collect();
    assert!(acknowledged.len() > 2);
    for hash in &acknowledged {
        let id = format!("webhook-{store}-{hash}");
        let stored = count_rows(
            &app.db,
            "bcgraph_background_action",
            &format!("\"id\" LIKE '%/{id}'"),
        )
        .await;
        assert_eq!(stored, 1, "{id}");
    }
    eprintln!("{} webhooks acknowledged, each stored once", acknowledged.len());
}

/// A GraphQL request whose body is sent in two halves: it is in flight until
/// [`SlowRequest::finish`].
struct SlowRequest {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    async fn start(address: &str, authorization: &str) -> SlowRequest {
        let body =
            json!({"query": "{ bigcommerce { products(first: 1) { edges { node { id } } } } }"}).to_string();
        let head = format!(
            "POST /api/graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             authorization: {authorization}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
        let (first, rest) = body.as_bytes().split_at(body.len() / 2);
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first).await.unwrap();
        SlowRequest {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Send the rest; the answer's status and body.
    async fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut answer = String::new();
        let _ = self.stream.read_to_string(&mut answer).await;
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, answer)
    }
}

fn worker_options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 2,
        lease: Duration::from_secs(60),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(1),
    }
}

/// The in-process gateway shut down with actions running: the one that finishes within
/// the timeout is recorded, the one that cannot is stopped and handed back (waiting, its
/// attempt not counted, no lease) and another worker takes it at once; a request in
/// flight is answered, and the gateway stops within the timeout.
#[tokio::test]
async fn shutdown_finishes_requests_and_hands_back_unfinished_actions() {
    let seen = Arc::new(Seen::default());
    let app = bcgraph::App::new().action(Probe(seen.clone()));
    let mut app = TestApp::start_app(
        app,
        &[
            ("BCGRAPH_WORKERS", "2"),
            ("BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS", "2"),
            ("BCGRAPH_SYNC_INTERVAL_SECONDS", "0"),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "0"),
        ],
    )
    .await;
    for (key, sleep_ms) in [("short", 800), ("long", 3_600_000)] {
        let job = Job::global("probe", json!({"key": key, "sleepMs": sleep_ms}));
        app.api
            .enqueue(&job, &Options::from_json(&json!({"id": key})).unwrap())
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.attempts("short").is_empty() || seen.attempts("long").is_empty() {
        assert!(Instant::now() < deadline, "the actions did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        listening(&app.db).await != Some(0),
        "the live-query relay listens"
    );
    let address = app.url.trim_start_matches("http://").to_owned();
    let in_flight = SlowRequest::start(&address, &format!("Bearer {}", app.admin_key)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(async move {
        let took = app.stop().await;
        (app, took)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(&address).await.is_err(),
        "a new connection was accepted while shutting down"
    );
    let (status, answer) = in_flight.finish().await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"products\""), "{answer}");
    let (app, took) = stopping.await.unwrap();
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
    assert!(
        listening(&app.db).await.unwrap_or(0) == 0,
        "the relay's LISTEN ended"
    );
    assert_eq!(job_row(&app.db, "short").await, ("completed".to_owned(), 1, true));
    assert_eq!(job_row(&app.db, "long").await, ("waiting".to_owned(), 0, true));
    // Another worker takes it at once, not after the 60 s lease.
    let handed_back = Instant::now();
    let worker = Worker::start(app.api.clone(), worker_options());
    while seen.attempts("long").len() < 2 {
        assert!(
            handed_back.elapsed() < Duration::from_secs(5),
            "the action was not taken again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(job_row(&app.db, "long").await.0, "running");
    worker.shutdown().await;
    eprintln!("in-process shutdown took {took:?}");
}

/// On PostgreSQL, the connections to the test's database whose last statement was a
/// `LISTEN` (the live-query relay's, until it stops); `None` on SQLite.
async fn listening(db: &DatabaseConnection) -> Option<i64> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return None;
    }
    let sql =
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    let row = db
        .query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    Some(row.try_get_by_index(0).unwrap())
}

/// `bcgraph serve` on SIGTERM, with a slow request in flight, a websocket open and a
/// background action waiting on a slow BigCommerce: the listener closes at once, the
/// request is answered, the websocket gets a close frame saying the server goes away,
/// the action is handed back, and the process exits 0 within the shutdown timeout.
#[tokio::test]
async fn sigterm_drains_and_exits_within_the_timeout() {
    use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .faults(fake_bigcommerce::Faults {
                latency: Duration::from_secs(120),
                ..Default::default()
            })
            .store(
                StoreSpec::new(HASH, "secret-token")
                    .products(1)
                    .orders(0)
                    .customers(0),
            ),
    )
    .await
    .expect("fake starts");
    let app = TestApp::start().await;
    let store = seed::store(&app.db, HASH).await;
    let port = crate::support::free_port();
    let address = format!("127.0.0.1:{port}");
    const SHUTDOWN_TIMEOUT: u64 = 3;
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_LISTEN", &address)
        .env("BCGRAPH_SECRET", TEST_SECRET)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BCGRAPH_WORKERS", "2")
        .env("BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS", SHUTDOWN_TIMEOUT.to_string())
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
        .env("BCGRAPH_PURGE_INTERVAL_SECONDS", "0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("bcgraph serve starts");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = http.get(format!("http://{address}/healthz")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "bcgraph serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A delivery whose action (pulling the product) waits on BigCommerce for minutes.
    let body = json!({"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": 1},
                      "hash": "slow", "created_at": 1, "producer": format!("stores/{HASH}")});
    let delivered = http
        .post(format!("http://{address}/webhooks/bigcommerce"))
        .header(SECRET_HEADER, store_secret(&crate::support::secrets(), HASH))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    let job = format!("webhook-{store}-slow");
    wait_for_state(&app.db, &job, "running", Duration::from_secs(20)).await;
    // A websocket, and a request in flight.
    let mut request = format!("ws://{address}/api/graphql/batch")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let init =
        json!({"type": "connection_init", "payload": {"auth": {"type": "api-key", "key": app.admin_key}}});
    ws.send(Message::text(init.to_string())).await.unwrap();
    let acked = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("an ack");
    assert!(
        matches!(&acked, Some(Ok(Message::Text(t))) if t.contains("connection_ack")),
        "{acked:?}"
    );
    let in_flight = SlowRequest::start(&address, &format!("Bearer {}", app.admin_key)).await;
    // And a load of reads, which goes on through the signal.
    let (stop_load, load_stopped) = tokio::sync::watch::channel(false);
    let load: Vec<_> = (0..3)
        .map(|_| {
            let (http, address, key, stopped) = (
                http.clone(),
                address.clone(),
                app.admin_key.clone(),
                load_stopped.clone(),
            );
            tokio::spawn(async move {
                let (mut answered, mut refused) = (Vec::new(), 0);
                while !*stopped.borrow() {
                    let sent = http
                        .post(format!("http://{address}/api/graphql"))
                        .header("authorization", format!("Bearer {key}"))
                        .json(&json!({"query": READ}))
                        .send()
                        .await;
                    match sent {
                        Ok(response) => answered.push(response.status().as_u16()),
                        // Refused once the listener is closed (or a kept-alive
                        // connection closed as it was reused): the client tries elsewhere.
                        Err(_) => refused += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (answered, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = serve.id().expect("a pid");
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(&address).await.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    // Generous: the whole suite may be running on two cores.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = ws.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the websocket was closed in time");
    assert_eq!(closed, Some(1001), "the websocket's close frame");
    let (status, answer) = in_flight.finish().await;
    assert_eq!(status, 200, "{answer}");
    let exit = tokio::time::timeout(Duration::from_secs(30), serve.wait())
        .await
        .expect("bcgraph serve exits")
        .expect("an exit status");
    let took = signalled.elapsed();
    assert!(exit.success(), "exit status {exit:?}");
    // The action would wait two minutes: only the deadline ends it. The margin is
    // for releasing it, closing the pool and a busy machine.
    assert!(
        took < Duration::from_secs(SHUTDOWN_TIMEOUT) + Duration::from_secs(5),
        "SIGTERM to exit took {took:?}"
    );
    let _ = stop_load.send(true);
    let (mut answered, mut refused) = (Vec::new(), 0);
    for client in load {
        let (a, r) = client.await.unwrap();
        answered.extend(a);
        refused += r;
    }
    assert!(
        answered.len() > 3 && refused > 0,
        "{} answered, {refused} refused",
        answered.len()
    );
    assert!(
        answered.iter().all(|s| *s == 200),
        "every answer of the load is a 200: {answered:?}"
    );
    // Handed back: waiting, its attempt not counted, no lease; another worker takes it.
    assert_eq!(job_row(&app.db, &job).await, ("waiting".to_owned(), 0, true));
    let handed_back = Instant::now();
    let worker = Worker::start(app.api.clone(), worker_options());
    wait_for_state(&app.db, &job, "running", Duration::from_secs(5)).await;
    let taken = handed_back.elapsed();
    worker.shutdown().await;
    eprintln!(
        "SIGTERM to exit: {took:?} (timeout {SHUTDOWN_TIMEOUT} s) under a load of {} answered reads; \
         taken again after {taken:?}",
        answered.len()
    );
}
