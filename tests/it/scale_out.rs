//! Scale-out: three `bcgraph serve` processes on one PostgreSQL database, under a mixed
//! load of reads, writes and webhook deliveries for several stores, while one process is
//! killed (SIGKILL) and every process is restarted in turn (SIGTERM, then started again;
//! the killed one started again). Afterwards every delivered change is stored exactly
//! once, every background action completed, at most the killed process's actions ran
//! twice, `maxConcurrency` held over the processes, and every client request either
//! succeeded or got an answer a client retries.
//!
//! The test is the load balancer and BigCommerce's webhook sender: a delivery that does
//! not get a 2xx is sent again to another process, as BigCommerce retries it.
//!
//! Where the machine allows it (root, `ip netns`, and PgBouncer 1.21 or later: see
//! `support::pgbouncer`), each process is a host of its own in a network namespace, the
//! fake BigCommerce a fourth, and the processes reach PostgreSQL through PgBouncer in
//! transaction mode, with `BCGRAPH_DATABASE_DIRECT_URL` for what pooling cannot carry.
//! Otherwise they share this machine's loopback and reach PostgreSQL directly, and the
//! test says so; with `BCGRAPH_TEST_PGBOUNCER` set (as `.ci/run` does) it must not.

use crate::support::netns::Network;
use crate::support::pgbouncer::{self, PgBouncer};
use crate::support::proxy::DbProxy;
use crate::support::ws::{connect_to, next_json, product_names, subscribe};
use crate::support::{TestApp, seed};
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::queue;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
use sea_orm::DbBackend;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The secret the test harness's gateways use; the processes must share it.
const GATEWAY_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
const TOKEN: &str = "secret-token";
const STORES: [&str; 3] = ["scale1", "scale2", "scale3"];
/// A store whose pulls go through a queue with `maxConcurrency: 2`.
const LIMITED: &str = "scalemc";
const PRODUCTS_PER_STORE: usize = 40;
const WORKERS: usize = 4;

struct Host {
    child: tokio::process::Child,
}

/// Where the processes run and how they reach the database.
struct Cluster {
    /// Their namespaces; `None`: this machine's loopback.
    network: Option<Network>,
    bouncer: Option<PgBouncer>,
    /// PostgreSQL itself, on the bridge's address, for `BCGRAPH_DATABASE_DIRECT_URL`.
    _direct: Option<DbProxy>,
    database_url: String,
    direct_url: Option<String>,
    /// Where each process serves.
    addresses: Vec<SocketAddr>,
}

/// The PostgreSQL server of `url`.
async fn server_of(url: &str) -> SocketAddr {
    let parsed = reqwest::Url::parse(url).expect("a database URL");
    tokio::net::lookup_host((parsed.host_str().expect("a host"), parsed.port().unwrap_or(5432)))
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address")
}

/// Three processes' places over the database at `url`, and the fake BigCommerce
/// serving `options` (in a fourth namespace when there are namespaces).
async fn cluster(url: &str, options: FakeOptions) -> (Cluster, FakeBigCommerce) {
    let required = std::env::var_os("BCGRAPH_TEST_PGBOUNCER").is_some();
    let hosts = pgbouncer::binary().and_then(|binary| Network::create(4).map(|network| (binary, network)));
    let (binary, network) = match hosts {
        Ok(found) => found,
        Err(why) => {
            assert!(!required, "BCGRAPH_TEST_PGBOUNCER is set, and: {why}");
            eprintln!("scale-out on loopback, without PgBouncer: {why}");
            let fake = FakeBigCommerce::start(options).await.expect("fake starts");
            let cluster = Cluster {
                network: None,
                bouncer: None,
                _direct: None,
                database_url: url.to_owned(),
                direct_url: None,
                addresses: (0..3)
                    .map(|_| SocketAddr::from(([127, 0, 0, 1], crate::support::free_port())))
                    .collect(),
            };
            return (cluster, fake);
        }
    };
    let server = server_of(url).await;
    let gateway = network.gateway().into();
    let bouncer = PgBouncer::start(&binary, gateway, server).await;
    let direct = DbProxy::start_on(gateway, server).await;
    let listener = network.listen_in(3).expect("a listener in the fake's namespace");
    let fake = FakeBigCommerce::start_on(listener, options)
        .await
        .expect("fake starts");
    let cluster = Cluster {
        database_url: bouncer.url_for(url),
        direct_url: Some(direct.url_for(url)),
        addresses: (0..3)
            .map(|i| SocketAddr::from((network.host(i), 3000)))
            .collect(),
        network: Some(network),
        bouncer: Some(bouncer),
        _direct: Some(direct),
    };
    (cluster, fake)
}

async fn start_host(cluster: &Cluster, i: usize, fake: &FakeBigCommerce) -> Host {
    let address = cluster.addresses[i];
    let binary = env!("CARGO_BIN_EXE_bcgraph");
    let mut command = match &cluster.network {
        Some(network) => network.command(i, binary),
        None => tokio::process::Command::new(binary),
    };
    if let Some(direct) = &cluster.direct_url {
        command.env("BCGRAPH_DATABASE_DIRECT_URL", direct);
    }
    let child = command
        .arg("serve")
        .env("DATABASE_URL", &cluster.database_url)
        .env("BCGRAPH_LISTEN", address.to_string())
        .env("BCGRAPH_SECRET", GATEWAY_SECRET)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BCGRAPH_WORKERS", WORKERS.to_string())
        // A killed process's actions run again soon after.
        .env("BCGRAPH_JOB_LEASE_SECONDS", "2")
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
        .env("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0")
        .env("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("bcgraph serve starts");
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let up = http
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return Host { child };
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "host {address} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What became of one client request.
#[derive(Debug)]
enum Outcome {
    Ok(Value),
    /// Refused or cut connection, or a 503: a client tries again (elsewhere).
    Retryable(String),
    Failed(String),
}

async fn post(http: &reqwest::Client, host: SocketAddr, key: &str, query: &str, variables: Value) -> Outcome {
    let sent = http
        .post(format!("http://{host}/api/graphql"))
        .header("authorization", format!("Bearer {key}"))
        .json(&json!({"query": query, "variables": variables}))
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Retryable(format!("{host}: {e}")),
    };
    let status = response.status().as_u16();
    let body: Value = match response.json().await {
        Ok(b) => b,
        Err(e) => return Outcome::Retryable(format!("{host}: status {status}, body cut: {e}")),
    };
    match status {
        200 if body.get("errors").is_none() => Outcome::Ok(body),
        503 => Outcome::Retryable(format!("{host}: 503 {body}")),
        _ => Outcome::Failed(format!("{host}: {status} {body}")),
    }
}

const LIVE_NAME: &str = "scale-live";
const LIVE: &str = "query @live { bigcommerce { products(first: 5, filter: {name: {equals: \"scale-live\"}}) { edges { node { name } } } } }";

/// The names in the live query's next answer, or `None` if none comes in 20 s.
async fn live_names(ws: &mut crate::support::ws::Socket) -> Option<Vec<String>> {
    let message = next_json(ws, Duration::from_secs(20)).await?;
    assert_eq!(message["type"], "next", "{message}");
    Some(product_names(&message))
}

const READ: &str = "query($n: Int) { bigcommerce { products(first: $n) { edges { node { id name store { id } variants(first: 5) { edges { node { id } } } } } } } }";
const CREATE: &str = "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) { success errors { code message } product { id } } } }";

/// Reads from `clients` tasks for `seconds` against `ports`: answers per second.
async fn read_rate(ports: &[SocketAddr], key: &str, clients: usize, seconds: f64) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (ports, key, done) = (ports.to_vec(), key.to_owned(), done.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut i = c;
                while Instant::now() < until {
                    i += 1;
                    if let Outcome::Ok(_) =
                        post(&http, ports[i % ports.len()], &key, READ, json!({"n": 20})).await
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / seconds
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    crate::support::scalar(&app.db, sql).await
}

#[tokio::test]
async fn three_processes_share_the_work_through_a_kill_and_a_rolling_restart() {
    let mut options = FakeOptions::default()
        .rate_limit(None)
        .faults(fake_bigcommerce::Faults {
            latency: Duration::from_millis(20),
            ..Default::default()
        });
    for hash in STORES.iter().chain([&LIMITED]) {
        options = options.store(
            StoreSpec::new(*hash, TOKEN)
                .products(PRODUCTS_PER_STORE)
                .orders(0)
                .customers(0),
        );
    }
    // The harness's own gateway runs no workers and never calls BigCommerce.
    let app = TestApp::start().await;
    if app.db.get_database_backend() != DbBackend::Postgres {
        eprintln!("scale-out runs on PostgreSQL only (BCGRAPH_TEST_DATABASE_URL)");
        return;
    }
    let (cluster, fake) = cluster(&app.database_url(), options).await;
    let mut store_ids = Vec::new();
    for hash in STORES {
        store_ids.push(seed::store(&app.db, hash).await);
    }
    let limited_store = seed::store(&app.db, LIMITED).await;
    let (_, key) = bcgraph::auth::api_keys::create(&app.db, "scale", &["system-admin".to_owned()], None)
        .await
        .unwrap();
    let ports = cluster.addresses.clone();
    if let Some(network) = &cluster.network {
        // Without PostgreSQL's own address a process behind the pooler refuses to start,
        // before it LISTENs through it: live queries would hear nothing, and the LISTEN
        // would stay on a server connection PgBouncer lends to the other processes,
        // failing their statements with its notifications (this test's writes failed so
        // while the refusal came only after the LISTEN).
        let refused = network
            .command(0, env!("CARGO_BIN_EXE_bcgraph"))
            .arg("serve")
            .env("DATABASE_URL", &cluster.database_url)
            .env("BCGRAPH_LISTEN", ports[0].to_string())
            .env("BCGRAPH_SECRET", GATEWAY_SECRET)
            .env("RUST_LOG", "warn")
            .output();
        let refused = tokio::time::timeout(Duration::from_secs(60), refused)
            .await
            .expect("exits within a minute")
            .unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "started without a direct URL: {said}");
        assert!(said.contains("set BCGRAPH_DATABASE_DIRECT_URL"), "{said}");
    }
    let mut hosts = Vec::new();
    for i in 0..3 {
        hosts.push(start_host(&cluster, i, &fake).await);
    }

    // A live query on one process sees a write made through another: its LISTEN
    // reaches PostgreSQL itself, past the pooler.
    let (mut ws, _) = connect_to(
        &format!("http://{}", ports[2]),
        json!({"type": "api-key", "key": key}),
    )
    .await;
    subscribe(&mut ws, "live", LIVE, json!({})).await;
    assert_eq!(
        live_names(&mut ws).await,
        Some(Vec::new()),
        "nothing named so yet"
    );
    let product =
        json!({"bigcommerceId": 999_999, "name": LIVE_NAME, "store": {"_link": store_ids[0].to_string()}});
    let created = post(
        &reqwest::Client::new(),
        ports[0],
        &key,
        CREATE,
        json!({"p": product}),
    )
    .await;
    assert!(matches!(created, Outcome::Ok(_)), "{created:?}");
    let until = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let names = live_names(&mut ws).await.expect("a live answer within 20 s");
        if !names.is_empty() || Instant::now() > until {
            break names;
        }
    };
    assert_eq!(
        seen,
        vec![LIVE_NAME.to_owned()],
        "the live query hears the product another process wrote"
    );
    drop(ws);

    // Throughput of one process against three on this machine.
    let one = read_rate(&ports[..1], &key, 8, 2.0).await;
    let three = read_rate(&ports, &key, 8, 2.0).await;
    eprintln!("scale-out reads: 1 process {one:.0}/s, 3 processes {three:.0}/s (8 clients, one machine)");

    // The limited store's pulls, queued before the load: at most two at once over all processes.
    let limited_ids: Vec<i64> = fake
        .store(LIMITED)
        .unwrap()
        .with_data(|d| d.products.keys().copied().collect());
    let api = app.api.within_store(limited_store);
    let queue_options =
        bcgraph::queue::Options::from_json(&json!({"queue": {"name": "pulls", "maxConcurrency": 2}}))
            .unwrap();
    for id in &limited_ids {
        let job = bcgraph::queue::Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": id}));
        queue::enqueue(&api, &app.db, &[job], &queue_options)
            .await
            .unwrap();
    }

    // The mixed load; `live` says which processes the "load balancer" sends to.
    let live: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let pick = |live: &[AtomicBool], i: usize| -> usize {
        (0..3)
            .map(|k| (i + k) % 3)
            .find(|h| live[*h].load(Ordering::Relaxed))
            .unwrap_or(i % 3)
    };
    let mut tasks = Vec::new();
    for c in 0..3 {
        let (live, stop, outcomes, ports, key) = (
            live.clone(),
            stop.clone(),
            outcomes.clone(),
            ports.clone(),
            key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let outcome = post(&http, ports[pick(&live, i)], &key, READ, json!({"n": 20})).await;
                outcomes.lock().unwrap().push(outcome);
            }
        }));
    }
    let created: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    for c in 0..2 {
        let (live, stop, outcomes, ports, key, created, store_ids) = (
            live.clone(),
            stop.clone(),
            outcomes.clone(),
            ports.clone(),
            key.clone(),
            created.clone(),
            store_ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let bigcommerce_id = 1_000_000 + c * 100_000 + n;
                let store = store_ids[n as usize % store_ids.len()];
                let product = json!({"bigcommerceId": bigcommerce_id, "name": format!("W{bigcommerce_id}"),
                                     "store": {"_link": store.to_string()}});
                let outcome = post(
                    &http,
                    ports[pick(&live, n as usize)],
                    &key,
                    CREATE,
                    json!({"p": product}),
                )
                .await;
                if let Outcome::Ok(body) = &outcome {
                    assert_eq!(
                        body["data"]["bigcommerce"]["createProduct"]["success"], true,
                        "{body}"
                    );
                    created.lock().unwrap().push((store, bigcommerce_id));
                }
                outcomes.lock().unwrap().push(outcome);
            }
        }));
    }
    // Webhook deliveries: every product of every store, each until a process takes it.
    let delivered: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let redeliveries = Arc::new(AtomicUsize::new(0));
    {
        let (live, ports, delivered, redeliveries) = (
            live.clone(),
            ports.clone(),
            delivered.clone(),
            redeliveries.clone(),
        );
        let mut work = Vec::new();
        for hash in STORES {
            let ids: Vec<i64> = fake
                .store(hash)
                .unwrap()
                .with_data(|d| d.products.keys().copied().collect());
            work.extend(ids.into_iter().map(|id| (hash.to_owned(), id)));
        }
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let secrets = crate::support::secrets();
            for (n, (hash, id)) in work.into_iter().enumerate() {
                let body = json!({"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": id},
                                  "hash": format!("scale-{hash}-{id}"), "created_at": chrono::Utc::now().timestamp(),
                                  "producer": format!("stores/{hash}")})
                .to_string();
                let mut attempt = 0;
                loop {
                    let host = ports[pick(&live, n + attempt)];
                    let sent = http
                        .post(format!("http://{host}/webhooks/bigcommerce"))
                        .header(SECRET_HEADER, store_secret(&secrets, &hash))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        break;
                    }
                    attempt += 1;
                    redeliveries.fetch_add(1, Ordering::Relaxed);
                    assert!(attempt < 50, "delivery of {hash}/{id} never taken");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                delivered.lock().unwrap().push((hash, id));
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }

    // Midway: one process killed outright; then a rolling restart of the two others
    // (each stopped with SIGTERM and started again while the rest serve), and the
    // killed one started again. Every process is restarted under load.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    live[0].store(false, Ordering::Relaxed);
    hosts[0].child.start_kill().expect("SIGKILL");
    tokio::time::sleep(Duration::from_millis(700)).await;
    for i in [1, 2] {
        live[i].store(false, Ordering::Relaxed);
        let pid = hosts[i].child.id().expect("running");
        let signalled = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exited = tokio::time::timeout(Duration::from_secs(40), hosts[i].child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(exited.success(), "host {i} after SIGTERM: {exited}");
        eprintln!("SIGTERM to exit under load: {:?}", signalled.elapsed());
        hosts[i] = start_host(&cluster, i, &fake).await;
        live[i].store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    hosts[0] = start_host(&cluster, 0, &fake).await;
    live[0].store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a load task panicked");
    }

    // Everything queued is done, by the processes still running.
    let start = Instant::now();
    while queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let failed: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(why) => Some(why),
            _ => None,
        })
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed without a retryable answer: {failed:?}"
    );
    let retryable: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Retryable(why) => Some(why),
            _ => None,
        })
        .collect();
    let ok = outcomes.iter().filter(|o| matches!(o, Outcome::Ok(_))).count();
    assert!(
        ok > 50,
        "the load ran: {ok} of {} requests answered",
        outcomes.len()
    );

    // Every delivered product once, with its store.
    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(
        delivered.len(),
        STORES.len() * PRODUCTS_PER_STORE,
        "every delivery taken"
    );
    for hash in STORES {
        let ids: HashSet<i64> = delivered
            .iter()
            .filter(|(h, _)| h == hash)
            .map(|(_, id)| *id)
            .collect();
        let list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let stored = count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM bigcommerce_product p JOIN bigcommerce_store s ON s.id = p.store_id \
                 WHERE s.store_hash = '{hash}' AND p.bigcommerce_id IN ({list})"
            ),
        )
        .await;
        assert_eq!(
            stored as usize,
            ids.len(),
            "{hash}: each delivered product stored once"
        );
    }
    // Every created product once.
    let created = created.lock().unwrap().clone();
    for (store, bigcommerce_id) in &created {
        let n = count(
            &app,
            &format!("SELECT COUNT(*) FROM bigcommerce_product WHERE store_id = {store} AND bigcommerce_id = {bigcommerce_id}"),
        )
        .await;
        assert_eq!(n, 1, "created product {bigcommerce_id} stored once");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM (SELECT 1 FROM bigcommerce_product GROUP BY store_id, bigcommerce_id HAVING COUNT(*) > 1) d").await,
        0
    );
    // Every background action completed; only the killed process's could run twice.
    let not_completed = count(
        &app,
        "SELECT COUNT(*) FROM bcgraph_background_action WHERE state <> 'completed'",
    )
    .await;
    assert_eq!(not_completed, 0, "every background action completed");
    let twice = count(
        &app,
        "SELECT COUNT(*) FROM bcgraph_background_action WHERE attempts > 1",
    )
    .await;
    assert!(twice <= WORKERS as i64, "{twice} actions ran more than once");
    // The limited queue: all pulled, never more than two at once.
    let stats = fake.store(LIMITED).unwrap().stats();
    assert!(
        stats.peak_concurrency <= 2,
        "maxConcurrency held: peak {}",
        stats.peak_concurrency
    );
    let limited_stored = count(
        &app,
        &format!("SELECT COUNT(*) FROM bigcommerce_product WHERE store_id = {limited_store}"),
    )
    .await;
    assert_eq!(limited_stored as usize, limited_ids.len());
    if let Some(bouncer) = &cluster.bouncer {
        // Every answered request was at least one transaction through PgBouncer.
        let database = reqwest::Url::parse(&app.database_url())
            .unwrap()
            .path()
            .trim_start_matches('/')
            .to_owned();
        let stats = bouncer.admin("SHOW STATS");
        let column = stats
            .lines()
            .next()
            .and_then(|header| header.split('|').position(|c| c == "total_xact_count"));
        let transactions: u64 = stats
            .lines()
            .find(|l| l.split('|').next() == Some(database.as_str()))
            .zip(column)
            .and_then(|(l, c)| l.split('|').nth(c))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("PgBouncer's stats for {database}: {stats}\n{}", bouncer.log()));
        assert!(
            transactions >= ok as u64,
            "{transactions} transactions through PgBouncer for {ok} answered requests"
        );
        eprintln!(
            "scale-out through PgBouncer in transaction mode ({} server connections): {transactions} transactions",
            pgbouncer::SERVER_CONNECTIONS
        );
    }
    eprintln!(
        "scale-out: {} requests ({ok} answered, {} retryable, e.g. {:?}), {} deliveries ({} sent again), {} writes, {twice} actions ran twice",
        outcomes.len(),
        retryable.len(),
        retryable.first(),
        delivered.len(),
        redeliveries.load(Ordering::Relaxed),
        created.len()
    );
    for mut host in hosts {
        host.child.kill().await.ok();
    }
}
