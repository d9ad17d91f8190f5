//! Write benchmark: `bulkUpsertProducts` of 10,000 products (half new, half
//! existing) in batches of 250, next to the same rows written by one hand-written
//! multi-row `INSERT ... ON CONFLICT` per batch through sqlx; then the same upserts
//! with three nested variant creates per product, from 4 clients at once (rows/s
//! counts products and variants).
//!
//! `cargo bench --bench bulk_upsert` runs on SQLite; set `BCGRAPH_BENCH_DATABASE_URL`
//! to a PostgreSQL server URL to run there. `BENCH_ROUNDS` sets the repetitions.

mod support;

use bcgraph::action::Api;
use bcgraph::model::Registry;
use bcgraph::server::{self, AppState};
use chrono::Utc;
use entity::bigcommerce::store;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, Set};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRODUCTS: i64 = 10_000;
const BATCH: usize = 250;

fn product(i: i64, round: usize) -> Value {
    json!({
        "bigcommerceId": i,
        "name": format!("Product {i} r{round}"),
        "sku": format!("SKU-{i}"),
        "price": (i % 1000) as f64 / 10.0 + round as f64,
        "inventoryLevel": i % 50,
        "isVisible": i % 3 != 0,
        "raw": {"id": i, "name": format!("Product {i}"), "sku": format!("SKU-{i}"), "price": format!("{}.00", i % 1000),
                "categories": [i % 20, 99], "date_modified": "2026-01-02T03:04:05+00:00"},
    })
}

/// Empty the table and store the "existing" half (odd ids).
async fn reset(db: &DatabaseConnection, api: &Api, store_id: i64) -> anyhow::Result<()> {
    db.execute_unprepared("DELETE FROM bigcommerce_product_variant")
        .await?;
    db.execute_unprepared("DELETE FROM bigcommerce_product").await?;
    let existing: Vec<(Value, Vec<String>)> = (0..PRODUCTS)
        .filter(|i| i % 2 == 1)
        .map(|i| {
            let mut p = product(i, 0);
            p["store"] = json!({"_link": store_id});
            (p, vec!["bigcommerceId".into(), "store".into()])
        })
        .collect();
    for chunk in existing.chunks(1000) {
        for r in api.model("bigcommerce/product").bulk_upsert(chunk.to_vec()).await {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE bigcommerce_product")
            .await?;
    }
    Ok(())
}

/// Through the gateway: `bulkUpsertProducts` over HTTP, selecting the ids.
async fn graphql(
    endpoint: &str,
    authorization: &str,
    store_id: i64,
    round: usize,
) -> anyhow::Result<Duration> {
    let http = reqwest::Client::new();
    let doc = "mutation($inputs: [BulkUpsertBigcommerceProductsInput!]!) { bigcommerce { bulkUpsertProducts(inputs: $inputs) { success errors { code message } products { id } } } }";
    let bodies: Vec<String> = (0..PRODUCTS)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| {
            let inputs: Vec<Value> = ids
                .iter()
                .map(|i| {
                    let mut p = product(*i, round);
                    p["store"] = json!({"_link": store_id.to_string()});
                    json!({"on": ["bigcommerceId", "store"], "product": p})
                })
                .collect();
            json!({"query": doc, "variables": {"inputs": inputs}}).to_string()
        })
        .collect();
    let started = Instant::now();
    for body in bodies {
        let response: Value = http
            .post(endpoint)
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(body)
            .send()
            .await?
            .json()
            .await?;
        let r = &response["data"]["bigcommerce"]["bulkUpsertProducts"];
        anyhow::ensure!(r["success"] == true, "bulk upsert failed: {response}");
    }
    Ok(started.elapsed())
}

/// `bulkUpsertProducts` with three nested variant creates per product, `CLIENTS`
/// requests at once. Each round's variants are new records.
async fn graphql_nested(
    endpoint: &str,
    authorization: &str,
    store_id: i64,
    round: usize,
) -> anyhow::Result<Duration> {
    use futures::StreamExt;
    const CLIENTS: usize = 4;
    let http = reqwest::Client::new();
    let doc = "mutation($inputs: [BulkUpsertBigcommerceProductsInput!]!) { bigcommerce { bulkUpsertProducts(inputs: $inputs) { success errors { code message } } } }";
    let bodies: Vec<String> = (0..PRODUCTS)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| {
            let inputs: Vec<Value> = ids
                .iter()
                .map(|i| {
                    let mut p = product(*i, round);
                    p["store"] = json!({"_link": store_id.to_string()});
                    let first = (round as i64 * PRODUCTS + i) * 10;
                    p["variants"] = (1..=VARIANTS)
                        .map(|v| json!({"create": {"bigcommerceId": first + v, "sku": format!("V{}", first + v), "price": 10 + v,
                                                   "inventoryLevel": v, "store": {"_link": store_id.to_string()}}}))
                        .collect();
                    json!({"on": ["bigcommerceId", "store"], "product": p})
                })
                .collect();
            json!({"query": doc, "variables": {"inputs": inputs}}).to_string()
        })
        .collect();
    let started = Instant::now();
    let mut sent = futures::stream::iter(bodies.into_iter().map(|body| {
        let http = http.clone();
        async move {
            let response: Value = http
                .post(endpoint)
                .header("content-type", "application/json")
                .header("authorization", authorization)
                .body(body)
                .send()
                .await?
                .json()
                .await?;
            let r = &response["data"]["bigcommerce"]["bulkUpsertProducts"];
            anyhow::ensure!(r["success"] == true, "bulk upsert failed: {response}");
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(CLIENTS);
    while let Some(done) = sent.next().await {
        done?;
    }
    Ok(started.elapsed())
}

const VARIANTS: i64 = 3;

/// Through the Rust API of the same runtime, without HTTP and JSON encoding.
async fn rust_api(api: &Api, store_id: i64, round: usize) -> anyhow::Result<Duration> {
    let batches: Vec<Vec<(Value, Vec<String>)>> = (0..PRODUCTS)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| {
            ids.iter()
                .map(|i| {
                    let mut p = product(*i, round);
                    p["store"] = json!({"_link": store_id});
                    (p, vec!["bigcommerceId".into(), "store".into()])
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    for batch in batches {
        for r in api.model("bigcommerce/product").bulk_upsert(batch).await {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(started.elapsed())
}

/// The floor: one hand-written multi-row `INSERT ... ON CONFLICT` per batch.
async fn hand_written(db: &DatabaseConnection, store_id: i64, round: usize) -> anyhow::Result<Duration> {
    use sea_orm::sqlx;
    let rows: Vec<Value> = (0..PRODUCTS).map(|i| product(i, round)).collect();
    let started = Instant::now();
    let now = Utc::now();
    const HEAD: &str = "INSERT INTO bigcommerce_product (created_at, updated_at, bigcommerce_id, name, sku, price, inventory_level, is_visible, raw, store_id) ";
    const TAIL: &str = " ON CONFLICT (store_id, bigcommerce_id) DO UPDATE SET name = excluded.name, sku = excluded.sku, price = excluded.price, inventory_level = excluded.inventory_level, is_visible = excluded.is_visible, raw = excluded.raw, updated_at = excluded.updated_at";
    macro_rules! run {
        ($pool:expr, $db:ty) => {
            for batch in rows.chunks(BATCH) {
                let mut q = sqlx::QueryBuilder::<$db>::new(HEAD);
                q.push_values(batch, |mut b, p| {
                    b.push_bind(now)
                        .push_bind(now)
                        .push_bind(p["bigcommerceId"].as_i64())
                        .push_bind(p["name"].as_str().map(str::to_owned))
                        .push_bind(p["sku"].as_str().map(str::to_owned))
                        .push_bind(p["price"].as_f64())
                        .push_bind(p["inventoryLevel"].as_i64())
                        .push_bind(p["isVisible"].as_bool())
                        .push_bind(sqlx::types::Json(p["raw"].clone()))
                        .push_bind(store_id);
                });
                q.push(TAIL);
                q.build().execute($pool).await?;
            }
        };
    }
    match db.get_database_backend() {
        DbBackend::Postgres => run!(db.get_postgres_connection_pool(), sqlx::Postgres),
        _ => run!(db.get_sqlite_connection_pool(), sqlx::Sqlite),
    }
    Ok(started.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (db, _) = support::fresh_database("bcgraph_bench_write").await?;
    let now = Utc::now();
    let store_id = store::ActiveModel {
        created_at: Set(now),
        updated_at: Set(now),
        store_hash: Set("bench".into()),
        state: Set("installed".into()),
        ..Default::default()
    }
    .insert(&db)
    .await?
    .id;
    let config = bench_config("sqlite::memory:")?;
    let state = AppState::new(
        db.clone(),
        Arc::new(Registry::bigcommerce()),
        Default::default(),
        &config,
    )
    .await?;
    let (_, key) = bcgraph::auth::api_keys::create(&db, "bench", &["system-admin".to_owned()], None).await?;
    let authorization = format!("Bearer {key}");
    let api = state.api.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/api/graphql", listener.local_addr()?);
    let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(server::no_delay(listener), app).await });

    let name = if db.get_database_backend() == DbBackend::Postgres {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("bulk_upsert on {name}: {PRODUCTS} products (half new) in batches of {BATCH}, {rounds} rounds");
    let (mut ours_http, mut ours_rust, mut floor, mut nested) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // BENCH_ONLY=floor|rust|http|nested runs one variant, for profiling.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only == name;
    for round in 1..=rounds {
        if run("floor") {
            reset(&db, &api, store_id).await?;
            floor.push(hand_written(&db, store_id, round).await?);
        }
        if run("rust") {
            reset(&db, &api, store_id).await?;
            ours_rust.push(rust_api(&api, store_id, round).await?);
        }
        if run("http") {
            reset(&db, &api, store_id).await?;
            ours_http.push(graphql(&endpoint, &authorization, store_id, round).await?);
        }
        if run("nested") {
            reset(&db, &api, store_id).await?;
            nested.push(graphql_nested(&endpoint, &authorization, store_id, round).await?);
        }
    }
    for v in [&mut floor, &mut ours_rust, &mut ours_http, &mut nested] {
        if v.is_empty() {
            v.push(Duration::from_secs(1));
        }
    }
    let rate = |d: Duration| PRODUCTS as f64 / d.as_secs_f64();
    let (floor, ours_rust, ours_http, nested) = (
        median(floor),
        median(ours_rust),
        median(ours_http),
        median(nested),
    );
    println!(
        "hand-written INSERT ... ON CONFLICT: {:>9.0} rows/s  ({floor:.2?})",
        rate(floor)
    );
    println!(
        "bulk upsert, Rust API:               {:>9.0} rows/s  ({ours_rust:.2?})  {:.0}% of hand-written",
        rate(ours_rust),
        100.0 * floor.as_secs_f64() / ours_rust.as_secs_f64()
    );
    println!(
        "bulkUpsertProducts over HTTP:        {:>9.0} rows/s  ({ours_http:.2?})  {:.0}% of hand-written",
        rate(ours_http),
        100.0 * floor.as_secs_f64() / ours_http.as_secs_f64()
    );
    println!(
        "with 3 nested variants, 4 clients:   {:>9.0} rows/s  ({nested:.2?}, products and variants)",
        (PRODUCTS * (1 + VARIANTS)) as f64 / nested.as_secs_f64()
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
    Ok(bcgraph::config::Config::from_lookup(|name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    })?)
}

const BENCH_CLIENT_ID: &str = "bench-client";
const BENCH_CLIENT_SECRET: &str = "bench-client-secret";
