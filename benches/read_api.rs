//! Read benchmark: `products(first: 50, filter: {price: {greaterThan: 10}})` with
//! `store` and `variants(first: 10)`, over HTTP with concurrent clients, against a
//! store of 100,000 products with 3 variants each: with an API key and as a merchant's
//! session (tenancy on); then a `product(id)` with its store and variants, and a
//! `products(search: ...)` page, with the API key; then the list again over the
//! websocket (graphql-transport-ws, one connection per client, as a live query's runs).
//!
//! `cargo bench --bench read_api` runs on SQLite; set `BCGRAPH_BENCH_DATABASE_URL`
//! to a PostgreSQL server URL to run there. The seeded database is kept and reused.
//! `BENCH_SECONDS`, `BENCH_CLIENTS` and `BENCH_PRODUCTS` change the run.

mod support;

use bcgraph::model::Registry;
use bcgraph::server::{self, AppState};
use chrono::Utc;
use entity::bigcommerce::{product, product_variant, store};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set, TransactionTrait,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// The same allocator as the `bcgraph` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const QUERY: &str = "query($first: Int, $filter: [BigcommerceProductFilter!], $search: String) { bigcommerce { products(first: $first, filter: $filter, search: $search) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node { id name sku price inventoryLevel createdAt store { id storeHash } variants(first: 10) { edges { node { id sku price } } } } } } } }";

/// One product with its store and its variants, as a detail page asks.
const FIND_ONE: &str =
    "query($id: GadgetID!) { bigcommerce { product(id: $id) { id name sku price inventoryLevel createdAt
  store { id storeHash } variants(first: 10) { edges { node { id sku price } } } } } }";

async fn database(products: u64) -> anyhow::Result<(String, DatabaseConnection)> {
    let url = match std::env::var("BCGRAPH_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = format!("bcgraph_bench_read_{products}");
            let admin = sea_orm::Database::connect(&admin_url).await?;
            let exists = admin
                .query_one_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
                ))
                .await?
                .is_some();
            if !exists {
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
            }
            let (base, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
            format!("{base}/{name}")
        }
        None => {
            let path = std::env::temp_dir().join(format!("bcgraph-bench-read-{products}.db"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let db = bcgraph::db::connect(&url).await?;
    bcgraph::db::migrate(&db).await?;
    Ok((url, db))
}

/// Deterministic rows: prices spread over 0..100, three variants per product.
async fn seed(db: &DatabaseConnection, products: u64) -> anyhow::Result<()> {
    if product::Entity::find().count(db).await? == products {
        return Ok(());
    }
    let started = Instant::now();
    let now = Utc::now();
    let store_id = store::ActiveModel {
        created_at: Set(now),
        updated_at: Set(now),
        store_hash: Set(format!("bench{}", rand::random::<u32>())),
        state: Set("installed".into()),
        ..Default::default()
    }
    .insert(db)
    .await?
    .id;
    const CHUNK: u64 = 500;
    for start in (0..products).step_by(CHUNK as usize) {
        let txn = db.begin().await?;
        let ids: Vec<u64> = (start..(start + CHUNK).min(products)).collect();
        let rows = ids.iter().map(|i| product::ActiveModel {
            created_at: Set(now),
            updated_at: Set(now),
            bigcommerce_id: Set(*i as i64 + 1),
            name: Set(Some(format!("Product {i}"))),
            r#type: Set(Some("physical".into())),
            sku: Set(Some(format!("SKU-{i}"))),
            price: Set(Some(((i * 7919) % 10_000) as f64 / 100.0)),
            inventory_level: Set(Some((i % 50) as i64)),
            is_visible: Set(Some(i % 3 != 0)),
            raw: Set(Some(json!({"id": i + 1, "name": format!("Product {i}")}))),
            store_id: Set(store_id),
            ..Default::default()
        });
        let first = product::Entity::insert_many(rows)
            .exec(&txn)
            .await?
            .last_insert_id;
        // Ids are assigned consecutively within one multi-row insert.
        let first_id = first.map(|last| last - ids.len() as i64 + 1).unwrap_or(0);
        let variants = ids.iter().enumerate().flat_map(|(n, i)| {
            (0..3).map(move |v| product_variant::ActiveModel {
                created_at: Set(now),
                updated_at: Set(now),
                bigcommerce_id: Set((*i as i64 + 1) * 10 + v),
                sku: Set(Some(format!("SKU-{i}-{v}"))),
                price: Set(Some(10.0 + v as f64)),
                inventory_level: Set(Some(v)),
                product_id: Set(Some(first_id + n as i64)),
                store_id: Set(store_id),
                ..Default::default()
            })
        });
        product_variant::Entity::insert_many(variants).exec(&txn).await?;
        txn.commit().await?;
    }
    // Fresh tables have no statistics; a real database would have them from autovacuum.
    db.execute_unprepared("ANALYZE").await?;
    println!(
        "seeded {products} products and {} variants in {:.1?}",
        products * 3,
        started.elapsed()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

/// Latencies of one load run.
struct Run {
    latencies: Vec<Duration>,
    errors: u64,
    statements: u64,
}

/// How a benchmark client sends its requests.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    /// `POST /api/graphql`, with the `authorization` header.
    Http,
    /// One `/api/graphql/batch` websocket per client, authenticated by an API key at
    /// `connection_init`; each request a `subscribe`, answered by `next` and `complete`.
    Websocket,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One client's connection.
enum Client {
    Http(reqwest::Client),
    Socket(Box<Socket>, u64),
}

impl Client {
    async fn connect(transport: Transport, endpoint: &str, authorization: &str) -> anyhow::Result<Client> {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
        if transport == Transport::Http {
            return Ok(Client::Http(reqwest::Client::new()));
        }
        let mut request = (endpoint.replace("http://", "ws://") + "/batch").into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let key = authorization.trim_start_matches("Bearer ");
        let init = json!({"type": "connection_init", "payload": {"auth": {"type": "api-key", "key": key}}});
        socket.send(Message::text(init.to_string())).await?;
        let mut client = Client::Socket(Box::new(socket), 0);
        anyhow::ensure!(
            client.next().await?["type"] == "connection_ack",
            "no connection_ack"
        );
        Ok(client)
    }

    /// The next JSON message of a websocket.
    async fn next(&mut self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.next_text().await?)?)
    }

    /// The next text message of a websocket.
    async fn next_text(&mut self) -> anyhow::Result<String> {
        use futures::StreamExt;
        let Client::Socket(socket, _) = self else {
            anyhow::bail!("not a websocket");
        };
        loop {
            let message = socket.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                return Ok(text.to_string());
            }
        }
    }

    /// Send `body` (`{"query", "variables"}`); whether it was answered without errors.
    async fn ask(&mut self, endpoint: &str, authorization: &str, body: &str) -> bool {
        use futures::SinkExt;
        let id = match self {
            Client::Http(http) => {
                let response = http
                    .post(endpoint)
                    .body(body.to_owned())
                    .header("content-type", "application/json")
                    .header("authorization", authorization)
                    .send()
                    .await;
                return match response {
                    Ok(r) if r.status().is_success() => r
                        .bytes()
                        .await
                        .is_ok_and(|b| !b.windows(9).any(|w| w == b"\"errors\":")),
                    _ => false,
                };
            }
            Client::Socket(socket, sent) => {
                *sent += 1;
                let id = sent.to_string();
                let payload: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                let message = json!({"id": id, "type": "subscribe", "payload": payload});
                let message = tokio_tungstenite::tungstenite::Message::text(message.to_string());
                if socket.send(message).await.is_err() {
                    return false;
                }
                id
            }
        };
        // Read only each message's envelope, as the HTTP client reads only the bytes:
        // the benchmark measures the server, not a client's JSON parser.
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            id: Option<&'a str>,
            #[serde(rename = "type")]
            kind: &'a str,
        }
        let mut ok = false;
        loop {
            let Ok(text) = self.next_text().await else {
                return false;
            };
            let Ok(message) = serde_json::from_str::<Envelope>(&text) else {
                return false;
            };
            if message.id != Some(id.as_str()) {
                continue;
            }
            if message.kind != "next" {
                return ok && message.kind == "complete";
            }
            ok = !text.as_bytes().windows(9).any(|w| w == b"\"errors\":");
        }
    }
}

/// `clients` connections sending `body` with `authorization` for `seconds` after a warm-up.
async fn load(
    transport: Transport,
    endpoint: &str,
    body: &str,
    authorization: &str,
    clients: u64,
    seconds: u64,
    statements: &Arc<AtomicU64>,
) -> Run {
    let warmup = Instant::now() + Duration::from_secs(2);
    let end = warmup + Duration::from_secs(seconds);
    let statements_at_start = Arc::new(AtomicU64::new(u64::MAX));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (endpoint, body, authorization) =
            (endpoint.to_owned(), body.to_owned(), authorization.to_owned());
        let (statements, statements_at_start) = (statements.clone(), statements_at_start.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(transport, &endpoint, &authorization)
                .await
                .expect("a client connects");
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let ok = client.ask(&endpoint, &authorization, &body).await;
                if started >= warmup {
                    statements_at_start.fetch_min(statements.load(Ordering::Relaxed), Ordering::Relaxed);
                    latencies.push(started.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut run = Run {
        latencies: Vec::new(),
        errors: 0,
        statements: 0,
    };
    for task in tasks {
        if let Ok((l, e)) = task.await {
            run.latencies.extend(l);
            run.errors += e;
        }
    }
    run.statements = statements
        .load(Ordering::Relaxed)
        .saturating_sub(statements_at_start.load(Ordering::Relaxed));
    run.latencies.sort();
    run
}

fn report(name: &str, run: &Run, seconds: u64) -> f64 {
    let n = run.latencies.len().max(1);
    let pct = |p: f64| {
        run.latencies
            .get(((n as f64 * p) as usize).min(n - 1))
            .copied()
            .unwrap_or_default()
    };
    let rate = run.latencies.len() as f64 / seconds as f64;
    println!(
        "{name:<15} requests: {:>6}  errors: {}  throughput: {rate:>5.0} req/s  p50: {:.1?}  p99: {:.1?}  statements/request: {:.1}",
        run.latencies.len(),
        run.errors,
        pct(0.50),
        pct(0.99),
        run.statements as f64 / n as f64,
    );
    rate
}

/// A `signed_payload_jwt` as BigCommerce would sign it for a user of `store_hash`.
fn signed_payload(store_hash: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"aud": BENCH_CLIENT_ID, "iss": "bc", "iat": now, "nbf": now - 5, "exp": now + 3600,
                        "sub": format!("stores/{store_hash}"), "user": {"id": 9001, "email": "staff@example.com"},
                        "owner": {"id": 9001, "email": "staff@example.com"}, "url": "/", "channel_id": null});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(BENCH_CLIENT_SECRET.as_bytes()),
    )?)
}

async fn run() -> anyhow::Result<()> {
    let products = support::env_number("BENCH_PRODUCTS", 100_000);
    let seconds = support::env_number("BENCH_SECONDS", 10);
    let clients = support::env_number("BENCH_CLIENTS", 16);
    let (url, mut db) = database(products).await?;
    seed(&db, products).await?;
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let config = bench_config(&url)?;
    let state = AppState::new(
        db.clone(),
        Arc::new(Registry::bigcommerce()),
        Default::default(),
        &config,
    )
    .await?;
    let (_, key) = bcgraph::auth::api_keys::create(&db, "bench", &["system-admin".to_owned()], None).await?;
    let store_hash = store::Entity::find()
        .one(&db)
        .await?
        .map(|s| s.store_hash)
        .unwrap_or_default();
    let api_key = format!("Bearer {key}");
    let session = format!("BigCommerceSignedPayload {}", signed_payload(&store_hash)?);
    let list = json!({"query": QUERY, "variables": {"first": 50, "filter": {"price": {"greaterThan": 10}}}})
        .to_string();
    let some_product = product::Entity::find()
        .one(&db)
        .await?
        .map(|p| p.id)
        .unwrap_or_default();
    let one = json!({"query": FIND_ONE, "variables": {"id": some_product.to_string()}}).to_string();
    let search = json!({"query": QUERY, "variables": {"first": 50, "search": "Product 12"}}).to_string();
    // (name, authorization, body, how many products the answer must have)
    let modes = [
        ("API key", api_key.clone(), list.clone(), Some(50)),
        ("signed payload", session, list.clone(), Some(50)),
        ("findOne + relations", api_key.clone(), one, None),
        ("findMany + search", api_key.clone(), search, Some(50)),
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/api/graphql", listener.local_addr()?);
    let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(server::no_delay(listener), app).await });
    // Check the answers once before measuring.
    let http = reqwest::Client::new();
    for (name, authorization, body, products) in &modes {
        let check: serde_json::Value = http
            .post(&endpoint)
            .body(body.clone())
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .send()
            .await?
            .json()
            .await?;
        let answered = match products {
            Some(n) => {
                check["data"]["bigcommerce"]["products"]["edges"]
                    .as_array()
                    .map(Vec::len)
                    == Some(*n)
            }
            None => check["data"]["bigcommerce"]["product"]["variants"]["edges"]
                .as_array()
                .is_some(),
        };
        anyhow::ensure!(
            answered && check["errors"].is_null(),
            "{name}: unexpected answer: {check}"
        );
    }

    let database = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("read_api on {database}: {products} products, {clients} clients, {seconds} s per mode");
    let mut rates = Vec::new();
    for (name, authorization, body, _) in &modes {
        let run = load(
            Transport::Http,
            &endpoint,
            body,
            authorization,
            clients,
            seconds,
            &statements,
        )
        .await;
        rates.push(report(name, &run, seconds));
    }
    let run = load(
        Transport::Websocket,
        &endpoint,
        &list,
        &api_key,
        clients,
        seconds,
        &statements,
    )
    .await;
    anyhow::ensure!(
        run.errors == 0,
        "the websocket answered {} requests with errors",
        run.errors
    );
    report("websocket list", &run, seconds);
    println!(
        "signed payload / API key throughput: {:.0}%",
        100.0 * rates[1] / rates[0].max(1.0)
    );
    Ok(())
}

/// The gateway's configuration for a benchmark: defaults plus app credentials.
fn bench_config(database_url: &str) -> anyhow::Result<bcgraph::config::Config> {
    let vars = [
        ("DATABASE_URL", database_url),
        ("BCGRAPH_SECRET", "a-benchmark-secret-long-enough-for-hs256"),
        ("BIGCOMMERCE_CLIENT_ID", BENCH_CLIENT_ID),
        ("BIGCOMMERCE_CLIENT_SECRET", BENCH_CLIENT_SECRET),
        // The benchmark floods on purpose: no request rates.
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
    ];
    Ok(bcgraph::config::Config::from_lookup(|name| match name {
        // `BCGRAPH_FAST_READS=0 cargo bench --bench read_api` measures the general executor.
        "BCGRAPH_FAST_READS" => std::env::var(name).ok(),
        _ => vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()),
    })?)
}

const BENCH_CLIENT_ID: &str = "bench-client";
const BENCH_CLIENT_SECRET: &str = "bench-client-secret";
