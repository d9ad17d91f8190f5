//! Write benchmark: loading products with nested variants through `bulkCreateProducts`
//! over HTTP (`BENCH_CLIENTS` clients, default 4, batches of `BENCH_BATCH` products,
//! default 250, 3 variants each), `BENCH_ROWS` rows in all (default 1,000,000). It prints
//! rows/s over the whole load and over its first and last tenth (does the rate hold as the
//! tables grow?), then the same batches through the Rust API (`ModelApi::bulk_create`,
//! no HTTP, JSON or GraphQL input coercion) on fresh tables, so that the difference is
//! what the transport and the coercion of large variables cost.
//!
//! `cargo bench --bench bulk_create` runs on SQLite; set `BCGRAPH_BENCH_DATABASE_URL` to
//! a PostgreSQL server URL to run there.

mod support;

use bcgraph::action::Api;
use bcgraph::model::Registry;
use bcgraph::server::{self, AppState};
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VARIANTS: i64 = 3;

/// Products `first..first + n` with their variants, as the API takes them.
fn batch(first: i64, n: i64, store: i64) -> Vec<Value> {
    (first..first + n)
        .map(|i| {
            let variants: Vec<Value> = (1..=VARIANTS)
                .map(|v| json!({"create": {"bigcommerceId": i * 10 + v, "sku": format!("L{i}-{v}"), "price": 10 + v,
                                           "inventoryLevel": v, "store": {"_link": store.to_string()}}}))
                .collect();
            json!({"bigcommerceId": i, "name": format!("Load {i}"), "price": 10 + i % 90, "inventoryLevel": i % 50,
                   "store": {"_link": store.to_string()}, "variants": variants})
        })
        .collect()
}

async fn new_store(api: &Api, hash: &str) -> anyhow::Result<i64> {
    let store = api
        .model("bigcommerce/store")
        .create(json!({"storeHash": hash}))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(store.id())
}

/// Finish time and rows of each batch, in order of finishing.
type Finished = Vec<(Instant, usize)>;

/// The load over HTTP from `clients` concurrent clients.
async fn over_http(
    endpoint: &str,
    authorization: &str,
    store: i64,
    products: i64,
    size: i64,
    clients: usize,
) -> anyhow::Result<Finished> {
    let doc = "mutation($inputs: [BulkCreateBigcommerceProductsInput!]!) { bigcommerce { bulkCreateProducts(inputs: $inputs) { success errors { code message } } } }";
    let next = Arc::new(AtomicUsize::new(0));
    let batches = ((products + size - 1) / size) as usize;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, endpoint, authorization) = (next.clone(), endpoint.to_owned(), authorization.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut done = Vec::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return anyhow::Ok(done);
                }
                let first = b as i64 * size;
                let n = size.min(products - first);
                let inputs: Vec<Value> = batch(first, n, store)
                    .into_iter()
                    .map(|p| json!({"product": p}))
                    .collect();
                let body = json!({"query": doc, "variables": {"inputs": inputs}}).to_string();
                let response: Value = http
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("authorization", &authorization)
                    .body(body)
                    .send()
                    .await?
                    .json()
                    .await?;
                let r = &response["data"]["bigcommerce"]["bulkCreateProducts"];
                anyhow::ensure!(r["success"] == true, "batch {b} failed: {response}");
                done.push((Instant::now(), n as usize * (1 + VARIANTS as usize)));
            }
        }));
    }
    let mut finished = Vec::new();
    for task in tasks {
        finished.extend(task.await??);
    }
    finished.sort();
    Ok(finished)
}

/// The same batches through the Rust API, from as many concurrent tasks.
async fn through_rust(
    api: &Api,
    store: i64,
    products: i64,
    size: i64,
    clients: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let batches = ((products + size - 1) / size) as usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (api, next) = (api.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return anyhow::Ok(());
                }
                let first = b as i64 * size;
                let inputs = batch(first, size.min(products - first), store);
                for r in api.model("bigcommerce/product").bulk_create(inputs).await {
                    r.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// Rows per second while the running count went from `from` to `to` rows.
fn rate_between(started: Instant, finished: &Finished, from: usize, to: usize) -> f64 {
    let (mut seen, mut begin, mut end, mut rows, mut previous) = (0, None, started, 0, started);
    for (at, n) in finished {
        if seen >= from && seen < to {
            begin.get_or_insert(previous);
            end = *at;
            rows += n;
        }
        seen += n;
        previous = *at;
    }
    rows as f64 / (end - begin.unwrap_or(started)).as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let rows = support::env_number("BENCH_ROWS", 1_000_000) as i64;
    let size = support::env_number("BENCH_BATCH", 250) as i64;
    let clients = support::env_number("BENCH_CLIENTS", 4);
    let products = rows / (1 + VARIANTS);
    let (db, url) = support::fresh_database("bcgraph_bench_load").await?;
    let config = bench_config(&url)?;
    let state = AppState::new(
        db.clone(),
        Arc::new(Registry::bigcommerce()),
        Default::default(),
        &config,
    )
    .await?;
    let (_, key) = bcgraph::auth::api_keys::create(&db, "bench", &["system-admin".to_owned()], None).await?;
    let api = state.api.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/api/graphql", listener.local_addr()?);
    let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(server::no_delay(listener), app).await });
    let name = match db.get_database_backend() {
        DbBackend::Postgres => "PostgreSQL",
        _ => "SQLite",
    };
    println!(
        "bulk_create on {name}: {products} products with {VARIANTS} variants each ({} rows), batches of {size}, {clients} clients",
        products * (1 + VARIANTS)
    );

    let store = new_store(&api, "load-http").await?;
    let started = Instant::now();
    let finished = over_http(
        &endpoint,
        &format!("Bearer {key}"),
        store,
        products,
        size,
        clients,
    )
    .await?;
    let total: usize = finished.iter().map(|(_, n)| n).sum();
    let elapsed = finished.last().map(|(at, _)| *at - started).unwrap_or_default();
    let (first, last) = (
        rate_between(started, &finished, 0, total / 10),
        rate_between(started, &finished, total - total / 10, total),
    );
    println!(
        "bulkCreateProducts over HTTP: {:>9.0} rows/s over {total} rows ({elapsed:.1?}); first tenth {first:.0} rows/s, last tenth {last:.0} rows/s ({:+.0}%)",
        total as f64 / elapsed.as_secs_f64(),
        100.0 * (last / first - 1.0)
    );

    // The same rows again through the Rust API, on emptied tables.
    db.execute_unprepared("DELETE FROM bigcommerce_product").await?;
    let sample = (products / 10).max(size);
    let store = new_store(&api, "load-rust").await?;
    let rust = through_rust(&api, store, sample, size, clients).await?;
    let rust_rate = (sample * (1 + VARIANTS)) as f64 / rust.as_secs_f64();
    println!(
        "bulk_create, Rust API:        {rust_rate:>9.0} rows/s over {} rows ({rust:.1?}); HTTP, JSON and GraphQL input coercion take {:.0}% of the HTTP load's time",
        sample * (1 + VARIANTS),
        100.0 * (1.0 - (total as f64 / elapsed.as_secs_f64()) / rust_rate)
    );
    Ok(())
}

/// The gateway's configuration for a benchmark: defaults plus app credentials.
fn bench_config(database_url: &str) -> anyhow::Result<bcgraph::config::Config> {
    let vars = [
        ("DATABASE_URL", database_url),
        ("BCGRAPH_SECRET", "a-benchmark-secret-long-enough-for-hs256"),
        ("BIGCOMMERCE_CLIENT_ID", "bench-client"),
        ("BIGCOMMERCE_CLIENT_SECRET", "bench-client-secret"),
        // The benchmark floods on purpose: no request rates.
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
    ];
    Ok(bcgraph::config::Config::from_lookup(|name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    })?)
}
