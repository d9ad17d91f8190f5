//! The example frontend (`examples/single-click-app`) in headless Chromium: opened
//! through the app's load URL it shows the signed-in store's products, a search narrows
//! them, a column sorts them, an edit in its modal is saved to the database, a product
//! changed at BigCommerce shows in the open page within two seconds of the change (its
//! webhook, the background pull, the live query), the sync button runs the global
//! action, and another store's products never appear, not even after a webhook of that
//! store. Needs the built example (`npm ci && npm run build` in
//! `examples/single-click-app`) and Debian's `chromium`; `.ci/run` provides both and sets
//! `BCGRAPH_BROWSER_TESTS=1`, which makes their absence a failure.
//!
//! The example's checked-in client package must also be what `bcgraph client` writes
//! today; that check needs neither node nor chromium.

use crate::support::{CLIENT_ID, CLIENT_SECRET, TestApp, payload};
use bcgraph::queue::{Worker, WorkerOptions};
use entity::bigcommerce::product;
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, OAuthGrant, OAuthOptions, StoreSpec, WebhookOptions};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/single-click-app")
}

/// `bcgraph client --check` over the example's `client/`: the package the example builds
/// on is the one the gateway's schema gives, so a change to the models or actions that
/// the example's client does not follow fails here rather than in a merchant's browser.
#[test]
fn the_example_client_package_is_up_to_date() {
    let dir = example_dir().join("client");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("client")
        .arg("--check")
        .arg(&dir)
        .output()
        .expect("run bcgraph client --check");
    assert!(
        output.status.success(),
        "{}\nregenerate it: cargo run -- client --out examples/single-click-app/client",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).expect("client/package.json"),
    )
    .expect("JSON");
    assert_eq!(manifest["name"], "@gadget-client/bcgraph-example");
    // The example depends on that directory, not on a copy from a registry.
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(example_dir().join("package.json")).expect("package.json"),
    )
    .expect("JSON");
    assert_eq!(
        example["dependencies"]["@gadget-client/bcgraph-example"],
        "file:./client"
    );
}

/// The e2e script's steps, read from its stdout, and its commands, written to its stdin.
struct Script {
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Script {
    /// The next step the script reports, which must be `event`.
    async fn step(&mut self, event: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(90), self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("no \"{event}\" from the browser script within 90 s"));
        let Some(line) = line.expect("read the script's stdout") else {
            let stderr = std::mem::replace(&mut self.stderr, tokio::spawn(async { String::new() }));
            panic!(
                "the browser script ended before \"{event}\":\n{}",
                stderr.await.unwrap_or_default()
            );
        };
        let step: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(step["event"], event, "{step}");
        step
    }

    async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the script");
        self.stdin.flush().await.expect("flush");
    }
}

/// Where a screenshot goes: `$CARGO_TARGET_DIR/browser-artifacts/`, kept after the test
/// (one per database, so that the two runs of CI do not overwrite each other's).
fn screenshot_path(what: &str) -> PathBuf {
    let base = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = base.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let backend = match std::env::var("BCGRAPH_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => "postgres",
        _ => "sqlite",
    };
    dir.join(format!("single-click-app-{what}-{backend}.png"))
}

/// Wait until `check` holds, polling the database.
async fn until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn product_named(app: &TestApp, name: &str) -> Option<product::Model> {
    product::Entity::find()
        .filter(product::Column::Name.eq(name))
        .one(&app.db)
        .await
        .expect("read products")
}

#[tokio::test]
async fn the_example_frontend_shows_the_signed_in_stores_products() {
    let example = example_dir();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = example.join("dist/index.html").is_file()
        && example.join("node_modules/playwright-core").is_dir()
        && Path::new(&chromium).is_file();
    if !ready {
        assert!(
            std::env::var("BCGRAPH_BROWSER_TESTS").is_err(),
            "BCGRAPH_BROWSER_TESTS is set but the example is not built or chromium is missing"
        );
        eprintln!("skipped: build examples/single-click-app and install chromium to run the browser test");
        return;
    }

    // Two stores at BigCommerce, both installing the app; the fake signs its webhooks.
    let oauth = OAuthOptions {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        grants: vec![
            OAuthGrant::new("code-abc", "abc", "token-abc"),
            OAuthGrant::new("code-xyz", "xyz", "token-xyz"),
        ],
    };
    let empty = |hash: &str, token: &str| StoreSpec::new(hash, token).products(0).orders(0).customers(0);
    let fake = FakeBigCommerce::start(
        FakeOptions::default()
            .rate_limit(None)
            .webhooks(WebhookOptions {
                signing_secret: Some(CLIENT_SECRET.to_owned()),
                ..WebhookOptions::default()
            })
            .store(empty("abc", "token-abc"))
            .store(empty("xyz", "token-xyz"))
            .oauth(oauth),
    )
    .await
    .expect("fake");
    let abc = fake.store("abc").unwrap();
    let xyz = fake.store("xyz").unwrap();
    let mut ids = std::collections::HashMap::new();
    for (name, sku, price, stock) in [
        ("Blue Shirt", "BS-1", 20.0, 12),
        ("Red Shirt", "RS-1", 22.0, 3),
        ("Green Hat", "GH-1", 15.0, 40),
        ("Orange Belt", "OB-1", 30.0, 7),
        ("Purple Scarf", "PS-1", 18.0, 0),
        // Sorted by name, the sixth is on the second page of five.
        ("Yellow Sock", "YS-1", 5.0, 100),
    ] {
        let p = abc
            .create_product(
                json!({"name": name, "type": "physical", "weight": 1, "price": price,
                "sku": sku, "inventory_level": stock, "inventory_tracking": "product"}),
            )
            .unwrap();
        ids.insert(name, p["id"].as_i64().unwrap());
    }
    let red_shirt = ids["Red Shirt"];
    let secret = xyz
        .create_product(
            json!({"name": "Secret Shirt", "type": "physical", "weight": 1, "price": 99.0, "sku": "SS-1"}),
        )
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    let dist = example.join("dist").display().to_string();
    let app = TestApp::start_configured(
        Default::default(),
        &[
            ("BIGCOMMERCE_LOGIN_URL", fake.url()),
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_APP_DIR", &dist),
        ],
    )
    .await;
    // The queue runs as in `serve`: the installs' first syncs, the webhooks' pulls.
    let worker = Worker::start(
        app.api.clone(),
        WorkerOptions {
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
    );
    for hash in ["abc", "xyz"] {
        let install = format!(
            "{}/bigcommerce/auth?code=code-{hash}&scope=store_v2_products&context=stores/{hash}",
            app.url
        );
        assert_eq!(reqwest::get(&install).await.unwrap().status().as_u16(), 200);
    }
    until("the first syncs", Duration::from_secs(60), || async {
        product::Entity::find().all(&app.db).await.unwrap().len() == 7
            && bcgraph::queue::pending_count(&app.db).await.unwrap() == 0
    })
    .await;

    let load = format!(
        "{}/bigcommerce/load?signed_payload_jwt={}",
        app.url,
        payload::jwt("abc", 5)
    );
    let mut child = tokio::process::Command::new("node")
        .current_dir(&example)
        .env("CHROMIUM", &chromium)
        .args(["e2e.mjs", &load, "shirt"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut stderr = child.stderr.take().unwrap();
    let mut script = Script {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
        // Read all along, so that a chatty script never blocks on a full pipe.
        stderr: tokio::spawn(async move {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
                .await
                .ok();
            text
        }),
    };

    // Listed, searched, sorted.
    let started = Instant::now();
    let listed = script.step("listed").await;
    let first_steps = started.elapsed();
    assert_eq!(listed["store"], "Store abc");
    assert_eq!(
        listed["before"],
        json!([
            "Blue Shirt",
            "Green Hat",
            "Orange Belt",
            "Purple Scarf",
            "Red Shirt"
        ])
    );
    assert_eq!(listed["nextPage"], json!(["Yellow Sock"]));
    assert!(
        listed["empty"]
            .as_str()
            .is_some_and(|t| t.contains("No product matches")),
        "{listed}"
    );
    assert_eq!(listed["searched"], json!(["Blue Shirt", "Red Shirt"]));
    assert_eq!(
        listed["sortedOnce"],
        json!([
            "Yellow Sock",
            "Red Shirt",
            "Purple Scarf",
            "Orange Belt",
            "Green Hat"
        ])
    );

    // Edited in the page's modal.
    script
        .command(
            json!({"cmd": "edit", "product": "Green Hat", "name": "Green Cap", "price": "12.5",
                "screenshot": screenshot_path("edit").display().to_string()}),
        )
        .await;
    let edited = script.step("edited").await;
    assert_eq!(
        edited["names"],
        json!([
            "Blue Shirt",
            "Green Cap",
            "Orange Belt",
            "Purple Scarf",
            "Red Shirt"
        ])
    );
    assert_eq!(
        edited["row"],
        json!({"sku": "GH-1", "price": "$12.50", "inventory": "40"})
    );
    // The edit reached the database, on the signed-in store's row.
    let saved = product_named(&app, "Green Cap")
        .await
        .expect("the edited product is saved");
    assert_eq!(saved.price, Some(12.5));
    assert_eq!(saved.sku.as_deref(), Some("GH-1"));
    let store_id = |hash: &'static str| {
        let db = app.db.clone();
        async move {
            entity::bigcommerce::store::Entity::find()
                .filter(entity::bigcommerce::store::Column::StoreHash.eq(hash))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    assert_eq!(saved.store_id, store_id("abc").await);
    assert!(product_named(&app, "Green Hat").await.is_none());

    // The other store's product changes at BigCommerce: its webhook is pulled in, and the
    // page (whose live query is told of every committed change) must not show it.
    xyz.update_product(secret, json!({"name": "Secret Shirt v2"}))
        .unwrap();
    until("the other store's pull", Duration::from_secs(10), || async {
        product_named(&app, "Secret Shirt v2").await.is_some()
    })
    .await;
    assert_eq!(
        product_named(&app, "Secret Shirt v2").await.unwrap().store_id,
        store_id("xyz").await
    );

    // This store's product changes at BigCommerce while the page is open.
    script
        .command(json!({"cmd": "watch", "expect": "Crimson Shirt"}))
        .await;
    script.step("watching").await;
    let changed = Instant::now();
    abc.update_product(red_shirt, json!({"name": "Crimson Shirt", "price": 24.0}))
        .unwrap();
    let seen = script.step("seen").await;
    let latency = changed.elapsed();
    eprintln!(
        "browser: load, listing, search and sort took {first_steps:?}; BigCommerce change -> open page: {latency:?} (the page saw it {} ms after it started watching)",
        seen["seenAfterMs"]
    );
    assert!(
        latency < Duration::from_secs(2),
        "the webhook's change reached the open page after {latency:?}"
    );
    assert_eq!(seen["sameDocument"], true, "the page was not reloaded");
    assert_eq!(
        seen["names"],
        json!([
            "Blue Shirt",
            "Crimson Shirt",
            "Green Cap",
            "Orange Belt",
            "Purple Scarf"
        ])
    );
    // It came by a signed delivery that the gateway acknowledged.
    let deliveries = fake.deliveries();
    let delivery = deliveries
        .iter()
        .find(|d| {
            d.scope == "store/product/updated"
                && d.body["producer"] == "stores/abc"
                && d.body["data"]["id"] == red_shirt
        })
        .expect("BigCommerce delivered store/product/updated");
    assert_eq!(delivery.status, Some(200));
    assert!(
        delivery.headers.contains_key("webhook-signature"),
        "{:?}",
        delivery.headers
    );
    assert_eq!(
        product_named(&app, "Crimson Shirt").await.unwrap().price,
        Some(24.0)
    );

    // A product deleted at BigCommerce while the merchant edits it: its row goes, and
    // saving shows the error in the modal instead of closing it.
    script
        .command(json!({"cmd": "hold", "product": "Purple Scarf", "name": "Lilac Scarf"}))
        .await;
    script.step("holding").await;
    abc.delete_product(ids["Purple Scarf"]).unwrap();
    let refused = script.step("refused").await;
    assert_eq!(
        refused["names"],
        json!([
            "Blue Shirt",
            "Crimson Shirt",
            "Green Cap",
            "Orange Belt",
            "Yellow Sock"
        ])
    );
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("Not saved"), "{refused}");
    eprintln!("browser: saving a product deleted meanwhile shows: {message}");
    assert!(product_named(&app, "Purple Scarf").await.is_none());
    assert!(product_named(&app, "Lilac Scarf").await.is_none());

    // A screenshot, then the sync button (the bigcommerce.syncStore global action).
    let screenshot = screenshot_path("page");
    script
        .command(json!({"cmd": "finish", "screenshot": screenshot.display().to_string()}))
        .await;
    let done = script.step("done").await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the script ends")
        .expect("wait for node");
    let stderr = std::mem::replace(&mut script.stderr, tokio::spawn(async { String::new() }))
        .await
        .unwrap_or_default();
    assert!(status.success(), "browser run failed: {stderr}");
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot at {}",
        screenshot.display()
    );
    eprintln!("browser: screenshot at {}", screenshot.display());
    let message = done["syncMessage"].as_str().unwrap_or_default();
    assert!(message.contains("of store abc started"), "{done}");
    // Another store's product never appeared, not even for a moment.
    let ever: Vec<&str> = done["everShown"]
        .as_array()
        .expect("names ever shown")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ever.contains(&"Crimson Shirt"), "{ever:?}");
    assert!(
        !ever.iter().any(|n| n.contains("Secret")),
        "another store's product was shown: {ever:?}"
    );
    assert_eq!(
        done["documents"].as_array().map(Vec::len),
        Some(1),
        "one document loaded, never reloaded: {done}"
    );
    assert_eq!(done["errors"], json!([]));
    assert_eq!(done["consoleErrors"], json!([]), "the page logged errors");
    worker.shutdown().await;
}
