//! Webhook benchmark: `store/product/updated` deliveries to `POST /webhooks/bigcommerce`
//! over HTTP, with the gateway's workers pulling each product from a fake BigCommerce
//! (answering at once, no rate limit) and upserting it with its variants.
//!
//! Two runs, after a second of deliveries at the paced rate that is not measured:
//! deliveries paced at `BENCH_RATE` per second (default 500) for
//! `BENCH_SECONDS` (default 5), then a burst from `BENCH_CLIENTS` (default 16)
//! concurrent senders. Each reports acknowledged deliveries per second, p50/p99
//! acknowledgement latency, and how long after enqueueing the data was in the
//! database (p50/p99 and until the queue drained).
//!
//! `cargo bench --bench webhooks` runs on SQLite; set `BCGRAPH_BENCH_DATABASE_URL` to a
//! PostgreSQL server URL to run there (a fresh database each time, dropped afterwards).
//! `BENCH_ACK_TIMELINE=<file>` writes each paced delivery's send time and acknowledgement
//! latency (ms), one per line: stalls show as runs of latencies falling by the spacing.
//!
//! An acknowledgement waits for the disk (its delivery must survive a crash), so the
//! benchmark first times 5 s of 8 KB writes with `fdatasync` in the temporary directory
//! and prints their distribution: where the disk itself stalls, no acknowledgement can be
//! faster than the stall.

mod support;

use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::model::Registry;
use bcgraph::queue::{Worker, WorkerOptions};
use bcgraph::server::{self, AppState};
use chrono::Utc;
use entity::bigcommerce::store;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set, Statement};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "a-bench-secret-that-is-long-enough-for-hs256";

fn secrets() -> bcgraph::auth::Secrets {
    bcgraph::auth::Secrets::new(SECRET.as_bytes(), &[] as &[&[u8]])
}
const HASH: &str = "bench1";
const TOKEN: &str = "bench-token";
const PRODUCTS: i64 = 2_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

/// A fresh database; on PostgreSQL its name and the admin URL, to drop it afterwards.
async fn database() -> anyhow::Result<(String, Option<(String, String)>)> {
    let suffix = format!("{}_{}", std::process::id(), rand::random::<u32>());
    match std::env::var("BCGRAPH_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = format!("bcgraph_bench_webhooks_{suffix}");
            let admin = sea_orm::Database::connect(&admin_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let (base, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
            Ok((format!("{base}/{name}"), Some((admin_url, name))))
        }
        None => {
            let path = std::env::temp_dir().join(format!("bcgraph-bench-webhooks-{suffix}.db"));
            Ok((format!("sqlite://{}?mode=rwc", path.display()), None))
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Gateway {
    url: String,
    db: DatabaseConnection,
    http: reqwest::Client,
    secret: String,
    next: AtomicU64,
}

impl Gateway {
    /// One delivery; its acknowledgement latency in milliseconds.
    async fn deliver(&self) -> anyhow::Result<f64> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = json!({"scope": "store/product/updated", "store_id": "1",
            "data": {"type": "product", "id": (n as i64 % PRODUCTS) + 1},
            "hash": format!("bench-{n}"), "created_at": Utc::now().timestamp(), "producer": format!("stores/{HASH}")})
        .to_string();
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/webhooks/bigcommerce", self.url))
            .header(SECRET_HEADER, &self.secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        anyhow::ensure!(status.is_success(), "delivery answered {status}");
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Wait until every job is final; then the enqueue-to-written latencies (ms) of the
    /// jobs enqueued since `since_ms`, sorted.
    async fn drain(&self, since_ms: i64) -> anyhow::Result<Vec<f64>> {
        loop {
            let row = self
                .db
                .query_one_raw(Statement::from_string(
                    self.db.get_database_backend(),
                    "SELECT COUNT(*) FROM \"bcgraph_background_action\" WHERE \"state\" IN ('waiting', 'running')",
                ))
                .await?;
            if row
                .map(|r| r.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0)
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                match self.db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT \"finished_at\" - \"created_at\", \"state\" FROM \"bcgraph_background_action\" WHERE \"created_at\" >= $1"
                    }
                    _ => {
                        "SELECT \"finished_at\" - \"created_at\", \"state\" FROM \"bcgraph_background_action\" WHERE \"created_at\" >= ?"
                    }
                },
                [since_ms.into()],
            ))
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let state: String = row.try_get_by_index(1)?;
            anyhow::ensure!(state == "completed", "a job ended {state}");
            out.push(row.try_get_by_index::<i64>(0)? as f64);
        }
        out.sort_by(f64::total_cmp);
        Ok(out)
    }
}

fn report(name: &str, acks: &mut [f64], elapsed: Duration, written: &[f64], drained: Duration) {
    acks.sort_by(f64::total_cmp);
    println!(
        "{name}: {} deliveries acknowledged in {:.2} s = {:.0}/s; ack p50 {:.2} ms, p99 {:.2} ms; \
         in the database p50 {:.0} ms, p99 {:.0} ms after enqueue; queue drained {:.2} s after the last delivery",
        acks.len(),
        elapsed.as_secs_f64(),
        acks.len() as f64 / elapsed.as_secs_f64(),
        percentile(acks, 0.5),
        percentile(acks, 0.99),
        percentile(written, 0.5),
        percentile(written, 0.99),
        drained.as_secs_f64(),
    );
}

/// Write and `fdatasync` 8 KB in `dir` for `seconds`: (count, p50, p99, max in ms,
/// syncs over 10 ms).
fn disk_syncs(dir: &std::path::Path, seconds: u64) -> std::io::Result<(usize, f64, f64, f64, usize)> {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join(format!("bcgraph-bench-fsync-{}", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let block = [7u8; 8192];
    let mut took = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let started = Instant::now();
        file.seek(SeekFrom::Start((took.len() as u64 % 256) * 8192))?;
        file.write_all(&block)?;
        file.sync_data()?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    let slow = took.iter().filter(|ms| **ms > 10.0).count();
    took.sort_by(f64::total_cmp);
    Ok((
        took.len(),
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        took.last().copied().unwrap_or(0.0),
        slow,
    ))
}

async fn run() -> anyhow::Result<()> {
    let (syncs, p50, p99, max, slow) = disk_syncs(&std::env::temp_dir(), 5)?;
    println!(
        "disk: {syncs} fdatasync of 8 KB in 5 s: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.1} ms, {slow} over 10 ms"
    );
    let rate = support::env_number("BENCH_RATE", 500);
    let seconds = support::env_number("BENCH_SECONDS", 5);
    let clients = support::env_number("BENCH_CLIENTS", 16) as usize;
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(PRODUCTS as usize)),
    )
    .await?;
    let (url, cleanup) = database().await?;
    let db = bcgraph::db::connect(&url).await?;
    bcgraph::db::migrate(&db).await?;
    let now = Utc::now();
    store::ActiveModel {
        created_at: Set(now),
        updated_at: Set(now),
        store_hash: Set(HASH.into()),
        state: Set("installed".into()),
        access_token: Set(Some(bcgraph::bigcommerce::access_token::seal(&secrets(), TOKEN))),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    let vars = [
        ("DATABASE_URL", url.clone()),
        ("BCGRAPH_SECRET", SECRET.to_owned()),
        ("BIGCOMMERCE_API_URL", fake.url().to_owned()),
        ("BIGCOMMERCE_CLIENT_ID", "bench".to_owned()),
        ("BIGCOMMERCE_CLIENT_SECRET", "bench-secret".to_owned()),
    ];
    let config = bcgraph::config::Config::from_lookup(|name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })?;
    let state = AppState::new(
        db.clone(),
        Arc::new(Registry::bigcommerce()),
        Default::default(),
        &config,
    )
    .await?;
    let worker = Worker::start(
        state.worker_api(),
        WorkerOptions {
            concurrency: config.workers,
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = Arc::new(Gateway {
        url: format!("http://{}", listener.local_addr()?),
        db: db.clone(),
        http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
        secret: store_secret(&secrets(), HASH),
        next: AtomicU64::new(0),
    });
    let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(server::no_delay(listener), app).await });
    let backend = if cleanup.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "webhooks on {backend}: {PRODUCTS} products at the fake, {} workers",
        config.workers
    );
    // Warm up for a second at the paced rate, not measured: the pools open their
    // connections as load arrives, and each new PostgreSQL connection costs milliseconds
    // that a running gateway paid long ago.
    let mut warming = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for _ in 0..rate {
        tick.tick().await;
        let g = gateway.clone();
        warming.spawn(async move { g.deliver().await });
    }
    while let Some(done) = warming.join_next().await {
        done??;
    }
    gateway.drain(0).await?;

    // Paced.
    let since = Utc::now().timestamp_millis();
    let total = rate * seconds;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..total {
        tick.tick().await;
        let g = gateway.clone();
        let sent = started.elapsed().as_secs_f64() * 1000.0;
        tasks.spawn(async move { g.deliver().await.map(|ack| (sent, ack)) });
    }
    let mut acks = Vec::new();
    let mut timeline = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (sent, ack) = done??;
        acks.push(ack);
        timeline.push((sent, ack));
    }
    if let Ok(path) = std::env::var("BENCH_ACK_TIMELINE") {
        timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
        let text: String = timeline.iter().map(|(s, a)| format!("{s:.1} {a:.2}\n")).collect();
        std::fs::write(path, text)?;
    }
    let elapsed = started.elapsed();
    let last = Instant::now();
    let written = gateway.drain(since).await?;
    report(
        &format!("paced {rate}/s"),
        &mut acks,
        elapsed,
        &written,
        last.elapsed(),
    );

    // Burst.
    let since = Utc::now().timestamp_millis();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds.min(3));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let g = gateway.clone();
        senders.spawn(async move {
            let mut acks = Vec::new();
            while Instant::now() < deadline {
                acks.push(g.deliver().await?);
            }
            anyhow::Ok(acks)
        });
    }
    let mut acks = Vec::new();
    while let Some(done) = senders.join_next().await {
        acks.extend(done??);
    }
    let elapsed = started.elapsed();
    let last = Instant::now();
    let written = gateway.drain(since).await?;
    report(
        &format!("burst, {clients} senders"),
        &mut acks,
        elapsed,
        &written,
        last.elapsed(),
    );

    let products = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM \"bigcommerce_product\"",
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    println!("products written: {products} (of {PRODUCTS} at the fake)");
    anyhow::ensure!(products == PRODUCTS, "every delivered product is in the database");
    worker.shutdown().await;
    // Not `db.close()`: it waits for every connection to come back, and the gateway's
    // live-query listener holds one for as long as the process runs (the benchmark sat
    // about ten minutes there). Dropping the database below ends it.
    drop(db);
    if let Some((admin_url, name)) = cleanup {
        let admin = sea_orm::Database::connect(&admin_url).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
    } else if let Some(path) = url.strip_prefix("sqlite://").and_then(|p| p.split('?').next()) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
    Ok(())
}
