//! Runs the fake BigCommerce for demos and benchmarks:
//! `cargo run -p fake-bigcommerce -- --products 100000 --port 4000`.

use std::time::Duration;

use clap::Parser;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, Faults, RateLimit, StoreSpec};

#[derive(Parser, Debug)]
#[command(about = "A fake BigCommerce API server")]
struct Args {
    #[arg(long, default_value_t = 4000)]
    port: u16,
    #[arg(long, default_value_t = 1000)]
    products: usize,
    #[arg(long, default_value = "abc123")]
    store_hash: String,
    #[arg(long, default_value = "fake-access-token")]
    access_token: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests per window; 0 turns rate limiting off.
    #[arg(long, default_value_t = 150)]
    quota: u32,
    #[arg(long, default_value_t = 30_000)]
    window_ms: u64,
    /// Units per window spent by another app on the store.
    #[arg(long, default_value_t = 0)]
    neighbour: u32,
    /// Share of 503 answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    error_503: f64,
    /// Share of connections dropped without an answer (0..1).
    #[arg(long, default_value_t = 0.0)]
    drop_connection: f64,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let started = std::time::Instant::now();
    let rate_limit = (args.quota > 0)
        .then(|| RateLimit::new(args.quota, Duration::from_millis(args.window_ms)).neighbour(args.neighbour));
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .port(args.port)
            .seed(args.seed)
            .rate_limit(rate_limit)
            .faults(Faults {
                error_503: args.error_503,
                drop_connection: args.drop_connection,
                latency: Duration::from_millis(args.latency_ms),
                ..Faults::default()
            })
            .store(
                StoreSpec::new(&args.store_hash, &args.access_token)
                    .products(args.products)
                    .seed(args.seed),
            ),
    )
    .await?;
    println!(
        "fake BigCommerce on {} (store {} with {} products, generated in {:.2?}); Ctrl-C stops it",
        fake.url(),
        args.store_hash,
        args.products,
        started.elapsed()
    );
    println!(
        "try: curl -H 'X-Auth-Token: {}' '{}/stores/{}/v3/catalog/products?limit=2'",
        args.access_token,
        fake.url(),
        args.store_hash
    );
    tokio::signal::ctrl_c().await?;
    fake.shutdown().await;
    Ok(())
}
