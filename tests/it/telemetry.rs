//! OpenTelemetry export: `bcgraph serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` set sends its
//! spans over OTLP/HTTP (protobuf) to a collector, here a receiver of the test's own that
//! keeps what is posted to `/v1/traces`. A request's span carries its request id and
//! continues the caller's W3C trace, a background action's its job id, and what is still
//! buffered is sent as the process stops on SIGTERM. Unset (or turned off by the standard
//! switches), nothing is sent and the exporter's thread is not even started.

use crate::support::{TEST_SECRET, TestApp, count_rows, free_port, seed};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HASH: &str = "otel01";
/// The caller's trace, as its `traceparent` names it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector of our own: the bodies posted to `/v1/traces`.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let keep = |State(bodies): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
            bodies.lock().unwrap().push(body);
            // An empty ExportTraceServiceResponse: everything accepted.
            ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
        };
        let router = axum::Router::new()
            .route("/v1/traces", post(keep))
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { url, bodies, server }
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Exported> {
        let bodies = self.bodies.lock().unwrap().clone();
        let mut spans = Vec::new();
        for body in bodies {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| attributes(&r.attributes).remove("service.name"))
                    .unwrap_or_default();
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(Exported {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(&span.attributes),
                    });
                }
            }
        }
        spans
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A span as the collector got it; attribute values as text.
#[derive(Debug)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

fn attributes(pairs: &[KeyValue]) -> HashMap<String, String> {
    pairs
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                AnyValue::BoolValue(b) => b.to_string(),
                AnyValue::DoubleValue(d) => d.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bcgraph serve` on `port`, against `app`'s database, with `vars` on top and no
/// OpenTelemetry variable of the test's own environment.
fn serve(app: &TestApp, port: u16, vars: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
    command
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BCGRAPH_SECRET", TEST_SECRET)
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
        .env("BCGRAPH_PURGE_INTERVAL_SECONDS", "0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command.spawn().expect("bcgraph serve starts")
}

async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = http.get(format!("{url}/healthz")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bcgraph serve did not come up within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, and the exit it leads to (a clean one).
async fn terminate(mut serve: tokio::process::Child) {
    let pid = serve.id().expect("a pid");
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), serve.wait())
        .await
        .expect("bcgraph serve exits within 30 s of SIGTERM")
        .expect("its status");
    assert!(status.success(), "{status}");
}

/// Whether the process runs the SDK's batch exporter thread (Linux names threads in
/// /proc, cut to 15 bytes).
fn runs_exporter_thread(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with("OpenTelemetry"))
    })
}

/// A GraphQL request as a traced caller sends it.
async fn traced_query(http: &reqwest::Client, url: &str, request_id: &str) {
    let answered = http
        .post(format!("{url}/api/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .body(json!({"query": "{ currentSession { id } }"}).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.headers()["x-request-id"], request_id);
}

#[tokio::test]
async fn spans_go_to_the_collector_with_their_ids_and_are_flushed_on_sigterm() {
    use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
    let fake = FakeBigCommerce::start(
        FakeOptions::default().rate_limit(None).store(
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
    let receiver = Receiver::start().await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let serve = serve(
        &app,
        port,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
            ("BIGCOMMERCE_API_URL", fake.url()),
            ("BCGRAPH_WORKERS", "1"),
            // A batch every minute, and room for all of this test's spans: nothing is
            // sent before SIGTERM, so what arrives is what the shutdown flushed.
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
        ],
    );
    let http = reqwest::Client::new();
    wait_until_up(&http, &url).await;
    assert!(runs_exporter_thread(serve.id().unwrap()));

    traced_query(&http, &url, "otel-query-1").await;
    // A webhook delivery, and the background action it enqueues (pulling the product).
    let body = json!({"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": 1},
                      "hash": "traced", "created_at": 1, "producer": format!("stores/{HASH}")});
    let delivered = http
        .post(format!("{url}/webhooks/bigcommerce"))
        .header(SECRET_HEADER, store_secret(&crate::support::secrets(), HASH))
        .header("x-request-id", "otel-webhook-1")
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(delivered.status(), 200);
    let job = format!("webhook-{store}-traced");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = format!("\"id\" LIKE '%/{job}' AND \"state\" = 'completed'");
    while count_rows(&app.db, "bcgraph_background_action", &done).await == 0 {
        assert!(Instant::now() < deadline, "{job} did not complete within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.spans().is_empty(),
        "sent before the shutdown: {:#?}",
        receiver.spans()
    );

    terminate(serve).await;
    let spans = receiver.spans();
    assert!(spans.iter().all(|s| s.service == "bcgraph"), "{spans:#?}");
    let request = |id: &str| {
        spans
            .iter()
            .find(|s| s.name == "request" && s.attributes.get("request_id").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no request span with id {id} in {spans:#?}"))
    };
    // The query continues the caller's trace, as a child of the caller's span.
    let query = request("otel-query-1");
    assert_eq!(query.trace_id, TRACE_ID);
    assert_eq!(query.parent_span_id, CALLER_SPAN_ID);
    assert_eq!(query.attributes["path"], "/api/graphql");
    assert_eq!(query.attributes["http.response.status_code"], "200");
    // Without a traceparent, a trace of its own.
    let webhook = request("otel-webhook-1");
    assert_ne!(webhook.trace_id, TRACE_ID);
    assert!(webhook.parent_span_id.is_empty(), "{webhook:#?}");
    // The background action's attempt names its job.
    let attempt = spans
        .iter()
        .find(|s| s.name == "job" && s.attributes.get("job_id").is_some_and(|id| id.ends_with(&job)))
        .unwrap_or_else(|| panic!("no job span for {job} in {spans:#?}"));
    assert_eq!(attempt.attributes["attempt"], "1");
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let http = reqwest::Client::new();
    // Unset: no exporter thread, and a traced request is served as before.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let plain = serve(&app, port, &[("BCGRAPH_WORKERS", "0")]);
    wait_until_up(&http, &url).await;
    assert!(!runs_exporter_thread(plain.id().unwrap()));
    traced_query(&http, &url, "otel-off-1").await;
    terminate(plain).await;
    // An endpoint, but the standard switches say no.
    for switch in [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")] {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let off = serve(
            &app,
            port,
            &[
                ("BCGRAPH_WORKERS", "0"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
                switch,
            ],
        );
        wait_until_up(&http, &url).await;
        assert!(!runs_exporter_thread(off.id().unwrap()), "{switch:?}");
        traced_query(&http, &url, "otel-off-2").await;
        terminate(off).await;
    }
    assert!(receiver.spans().is_empty());
}

/// A protocol bcgraph does not send stops it at start, naming the variable.
#[tokio::test]
async fn an_unsupported_otlp_protocol_is_refused() {
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
            .arg("schema")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env(name, value)
            .output()
            .await
            .expect("bcgraph runs");
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(name) && said.contains(value), "{said}");
    }
}

/// `bcgraph sync` sends its sync's spans, the sync's id on them, as the command ends.
#[tokio::test]
async fn a_syncs_spans_carry_its_id_and_leave_with_the_command() {
    use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
    let fake = FakeBigCommerce::start(
        FakeOptions::default().rate_limit(None).store(
            StoreSpec::new(HASH, "secret-token")
                .products(3)
                .orders(0)
                .customers(0),
        ),
    )
    .await
    .expect("fake starts");
    let app = TestApp::start().await;
    seed::store(&app.db, HASH).await;
    let receiver = Receiver::start().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    let out = command
        .args(["sync", "--store", HASH, "--models", "products"])
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_SECRET", TEST_SECRET)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("RUST_LOG", "warn")
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/v1/traces", receiver.url),
        )
        .env("OTEL_SERVICE_NAME", "shop-sync")
        // Longer than the command runs: what arrives was flushed at its end.
        .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
        .kill_on_drop(true)
        .output()
        .await
        .expect("bcgraph sync runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spans = receiver.spans();
    assert!(spans.iter().all(|s| s.service == "shop-sync"), "{spans:#?}");
    let sync = spans
        .iter()
        .find(|s| s.name == "sync")
        .unwrap_or_else(|| panic!("no sync span in {spans:#?}"));
    let id = &sync.attributes["sync"];
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("sync {id} of store {HASH} completed")),
        "{stdout}"
    );
    let pages: Vec<&Exported> = spans.iter().filter(|s| s.name == "sync_page").collect();
    assert!(!pages.is_empty(), "{spans:#?}");
    assert!(pages.iter().all(|p| p.trace_id == sync.trace_id));
}
