//! Sync benchmark: `bcgraph sync --force --models products` of a fake store of
//! `BENCH_PRODUCTS` products (default 100,000) with 3 variants each, as a separate process
//! (the release binary), timed from start to exit, with its peak resident memory read
//! from `/proc/<pid>/status` (`VmHWM`).
//!
//! - **Quota off**, for each store size of `BENCH_SIZES` (default `25000,50000,100000`):
//!   wall time and records (products + variants) per second (medians of `BENCH_RUNS`,
//!   default 3), peak memory.
//! - **Quota on** (`BENCH_QUOTAS`, default `450/30000,45/3000`: requests per window in ms):
//!   wall time against the floor the quota sets, `pages / (quota / window)`.
//!
//! `cargo bench --bench sync` runs on SQLite; with `BCGRAPH_BENCH_DATABASE_URL` set to a
//! PostgreSQL server URL it runs on both (fresh databases, dropped afterwards), or on one
//! with `BENCH_ONLY=sqlite|postgres`.

use fake_bigcommerce::{FakeBigCommerce, FakeOptions, RateLimit, StoreSpec};
use sea_orm::{ConnectionTrait, Statement};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "a-bench-secret-that-is-long-enough-for-hs256";
const TOKEN: &str = "bench-token";
const VARIANTS: usize = 3;
const PAGE: usize = 250;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect()
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

/// A fresh database URL, and how to drop it afterwards (PostgreSQL).
struct Database {
    url: String,
    label: &'static str,
    drop: Option<(String, String)>,
}

async fn database(postgres: Option<&str>) -> anyhow::Result<Database> {
    let suffix = format!("{}_{}", std::process::id(), rand::random::<u32>());
    Ok(match postgres {
        Some(admin_url) => {
            let name = format!("bcgraph_bench_sync_{suffix}");
            let admin = sea_orm::Database::connect(admin_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let (base, _) = admin_url.rsplit_once('/').unwrap_or((admin_url, ""));
            Database {
                url: format!("{base}/{name}"),
                label: "PostgreSQL",
                drop: Some((admin_url.to_owned(), name)),
            }
        }
        None => {
            let path = std::env::temp_dir().join(format!("bcgraph-bench-sync-{suffix}.db"));
            Database {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                label: "SQLite",
                drop: None,
            }
        }
    })
}

impl Database {
    async fn dispose(self) -> anyhow::Result<()> {
        if let Some((admin_url, name)) = self.drop {
            let admin = sea_orm::Database::connect(&admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        } else if let Some(path) = self.url.strip_prefix("sqlite://") {
            let path = path.trim_end_matches("?mode=rwc");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        Ok(())
    }
}

/// Migrate (with the binary) and add the installed store `hash`.
async fn prepare(db: &Database, fake_url: &str, hashes: &[String]) -> anyhow::Result<()> {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("BCGRAPH_SECRET", SECRET)
        .env("BIGCOMMERCE_API_URL", fake_url)
        .env("RUST_LOG", "warn")
        .status()?;
    anyhow::ensure!(status.success(), "bcgraph migrate failed");
    let conn = sea_orm::Database::connect(&db.url).await?;
    let backend = conn.get_database_backend();
    // Tokens are stored sealed, as an install stores them (unsealed ones are refused).
    let secrets = bcgraph::auth::Secrets::new(SECRET.as_bytes(), &[] as &[&[u8]]);
    for hash in hashes {
        let now = chrono::Utc::now();
        let sealed = bcgraph::bigcommerce::access_token::seal(&secrets, TOKEN);
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO \"bigcommerce_store\" (\"created_at\", \"updated_at\", \"store_hash\", \"state\", \"access_token\") VALUES ($1, $2, $3, 'installed', $4)"
                }
                _ => {
                    "INSERT INTO \"bigcommerce_store\" (\"created_at\", \"updated_at\", \"store_hash\", \"state\", \"access_token\") VALUES (?, ?, ?, 'installed', ?)"
                }
            },
            [now.into(), now.into(), hash.clone().into(), sealed.into()],
        ))
        .await?;
    }
    conn.close().await?;
    Ok(())
}

/// Peak resident memory of a running process, in MiB.
fn peak_rss(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `bcgraph sync --store <hash> --force --models products`: wall time and peak memory.
async fn sync(db: &Database, fake_url: &str, hash: &str) -> anyhow::Result<(Duration, f64)> {
    let log = std::env::temp_dir().join(format!("bcgraph-bench-sync-{hash}.log"));
    let start = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .args(["sync", "--store", hash, "--force", "--models", "products"])
        .env("DATABASE_URL", &db.url)
        .env("BCGRAPH_SECRET", SECRET)
        .env("BIGCOMMERCE_API_URL", fake_url)
        // `BENCH_LOG=sqlx=debug` shows each statement's time.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
        tokio::select! {
            status = child.wait() => break status?,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let elapsed = start.elapsed();
    if !status.success() {
        anyhow::bail!("bcgraph sync failed: {}", std::fs::read_to_string(&log)?);
    }
    Ok((elapsed, peak))
}

async fn run() -> anyhow::Result<()> {
    let sizes: Vec<usize> = env_list("BENCH_SIZES", "25000,50000,100000")
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let products: usize = std::env::var("BENCH_PRODUCTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let quotas: Vec<(u32, u64)> = env_list("BENCH_QUOTAS", "450/30000,45/3000")
        .into_iter()
        .filter(|q| q != "none")
        .collect::<Vec<_>>()
        .iter()
        .filter_map(|q| q.split_once('/'))
        .filter_map(|(n, ms)| Some((n.parse().ok()?, ms.parse().ok()?)))
        .collect();
    let postgres = std::env::var("BCGRAPH_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);

    eprintln!("generating the fake stores ...");
    let mut options = FakeOptions::default().rate_limit(None);
    for size in &sizes {
        options = options.store(
            StoreSpec::new(format!("size{size}"), TOKEN)
                .products(*size)
                .variants_per_product(VARIANTS)
                .orders(0)
                .customers(0),
        );
    }
    options = options.store(
        StoreSpec::new("quota", TOKEN)
            .products(products)
            .variants_per_product(VARIANTS)
            .orders(0)
            .customers(0),
    );
    let fake = FakeBigCommerce::start(options).await?;
    let hashes: Vec<String> = sizes
        .iter()
        .map(|s| format!("size{s}"))
        .chain(["quota".to_owned()])
        .collect();

    // `BENCH_ONLY=postgres` (or `sqlite`) runs one database.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut backends: Vec<Option<&str>> = Vec::new();
    if only != "postgres" {
        backends.push(None);
    }
    if let Some(pg) = postgres.as_deref().filter(|_| only != "sqlite") {
        backends.push(Some(pg));
    }
    println!("## quota off: full sync of products with {VARIANTS} variants each");
    println!("median of {runs} runs each");
    println!("| database | products | records | wall | records/s | peak memory |");
    println!("|---|---|---|---|---|---|");
    for backend in &backends {
        for size in &sizes {
            // The median of `runs` syncs, each into a fresh database; the largest peak.
            let (mut walls, mut peak, mut label) = (Vec::new(), 0.0f64, "");
            for _ in 0..runs {
                let db = database(*backend).await?;
                prepare(&db, fake.url(), &hashes).await?;
                let (wall, rss) = sync(&db, fake.url(), &format!("size{size}")).await?;
                walls.push(wall.as_secs_f64());
                peak = peak.max(rss);
                label = db.label;
                db.dispose().await?;
            }
            walls.sort_by(f64::total_cmp);
            let wall = walls[walls.len() / 2];
            let records = size * (1 + VARIANTS);
            println!(
                "| {label} | {size} | {records} | {wall:.2} s | {:.0} | {peak:.0} MiB |",
                records as f64 / wall
            );
        }
    }

    // The quota runs on the faster database when there is a choice.
    let backend = backends.last().copied().flatten();
    println!(
        "\n## quota on: {products} products ({} database)",
        if backend.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    println!("| quota | pages | floor | wall | wall / floor | 429s |");
    println!("|---|---|---|---|---|---|");
    // Id-ordered pages end with a short page: one more request when the count divides evenly.
    let pages = products / PAGE + 1;
    for (quota, window_ms) in quotas {
        let window = Duration::from_millis(window_ms);
        fake.set_rate_limit(Some(RateLimit::new(quota, window)));
        let store = fake.store("quota").expect("the quota store");
        store.reset_stats();
        let db = database(backend).await?;
        prepare(&db, fake.url(), &hashes).await?;
        let (wall, _) = sync(&db, fake.url(), "quota").await?;
        let floor = pages as f64 / (quota as f64 / window.as_secs_f64());
        println!(
            "| {quota} per {:.1} s | {pages} | {floor:.2} s | {:.2} s | {:.2}x | {} |",
            window.as_secs_f64(),
            wall.as_secs_f64(),
            wall.as_secs_f64() / floor,
            store.stats().served_429
        );
        db.dispose().await?;
        // A fresh window for the next run.
        tokio::time::sleep(window).await;
    }
    Ok(())
}
