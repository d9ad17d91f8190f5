//! Lists 100,000 products (250 per page) from the fake BigCommerce: once without a quota,
//! then under quotas with scaled-down windows, and prints how close the paced runs come to
//! the floor `pages / (quota / window)`.
//!
//! `cargo bench --bench bigcommerce_list` (`BENCH_PRODUCTS=20000` for a shorter run,
//! `BENCH_REPEAT=5` for more runs per scenario; the median wall time is printed).

mod support;

use std::time::{Duration, Instant};

use bcgraph::bigcommerce::{BigCommerce, ClientOptions};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, RateLimit, StoreSpec};
use futures::StreamExt;

const HASH: &str = "benchstore";
const TOKEN: &str = "bench-token";

struct Scenario {
    label: &'static str,
    limit: Option<RateLimit>,
    /// Pages fetched at once (1 = the default single page of prefetch).
    concurrency: usize,
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Run {
    pages: usize,
    items: usize,
    wall: Duration,
    rate_limited: u64,
}

async fn list_once(fake: &FakeBigCommerce, concurrency: usize) -> Run {
    let fake_store = fake.store(HASH).expect("bench store");
    fake_store.reset_stats();
    // A fresh client per run, so no pacing state carries over.
    let store = BigCommerce::new(fake.url(), ClientOptions::default())
        .expect("client")
        .store(HASH, TOKEN);
    let started = Instant::now();
    let mut pages = store
        .v3()
        .list("/catalog/products")
        .query("include", ["variants", "custom_fields", "images"])
        .concurrency(concurrency)
        .pages();
    let (mut page_count, mut items, mut last_id) = (0usize, 0usize, 0i64);
    while let Some(page) = pages.next().await {
        let page = page.expect("listing failed");
        page_count += 1;
        items += page.len();
        for product in &page {
            let id = product["id"].as_i64().unwrap_or_default();
            assert!(id > last_id, "products out of order");
            last_id = id;
        }
    }
    Run {
        pages: page_count,
        items,
        wall: started.elapsed(),
        rate_limited: fake_store.stats().served_429,
    }
}

async fn run() {
    let products = support::env_number("BENCH_PRODUCTS", 100_000);
    let repeats = support::env_number("BENCH_REPEAT", 3).max(1);
    let started = Instant::now();
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .store(StoreSpec::new(HASH, TOKEN).products(products)),
    )
    .await
    .expect("start the fake");
    println!(
        "generated {products} products (3 variants, 2 custom fields, 1 metafield each) in {:.2?}; peak RSS {:.0} MB",
        started.elapsed(),
        peak_rss_mb().unwrap_or(0.0)
    );

    let window = Duration::from_millis(300);
    let scenarios = [
        Scenario {
            label: "no quota, 1 page prefetch",
            limit: None,
            concurrency: 1,
        },
        Scenario {
            label: "no quota, 4 pages at once",
            limit: None,
            concurrency: 4,
        },
        Scenario {
            label: "quota 450 / 300 ms, 1 page prefetch",
            limit: Some(RateLimit::new(450, window)),
            concurrency: 1,
        },
        Scenario {
            label: "quota 450 / 300 ms, 4 pages at once",
            limit: Some(RateLimit::new(450, window)),
            concurrency: 4,
        },
        Scenario {
            label: "quota 45 / 300 ms, 4 pages at once",
            limit: Some(RateLimit::new(45, window)),
            concurrency: 4,
        },
    ];
    println!("wall: median of {repeats} runs; 429s: total over the runs");
    println!(
        "{:<38} {:>6} {:>8} {:>9} {:>10} {:>8} {:>8} {:>5}",
        "scenario", "pages", "items", "wall", "items/s", "floor", "ratio", "429s"
    );
    for scenario in scenarios {
        fake.set_rate_limit(scenario.limit.clone());
        let mut runs = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            if let Some(limit) = &scenario.limit {
                // Let the previous run's window pass.
                tokio::time::sleep(limit.window).await;
            }
            let run = list_once(&fake, scenario.concurrency).await;
            assert_eq!(run.items, products, "incomplete listing");
            runs.push(run);
        }
        let rate_limited: u64 = runs.iter().map(|r| r.rate_limited).sum();
        runs.sort_by_key(|r| r.wall);
        let median = &runs[runs.len() / 2];
        let wall = median.wall.as_secs_f64();
        let (floor, ratio) = match &scenario.limit {
            Some(limit) => {
                let floor = median.pages as f64 / (f64::from(limit.quota) / limit.window.as_secs_f64());
                (format!("{floor:.3}s"), format!("{:.2}", wall / floor))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<38} {:>6} {:>8} {:>8.3}s {:>10.0} {:>8} {:>8} {:>5}",
            scenario.label,
            median.pages,
            median.items,
            wall,
            median.items as f64 / wall,
            floor,
            ratio,
            rate_limited
        );
    }
    println!(
        "peak RSS (fake + client in one process): {:.0} MB",
        peak_rss_mb().unwrap_or(0.0)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
