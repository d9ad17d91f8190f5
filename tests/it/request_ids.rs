//! Tracing: a request's id (its own sane `x-request-id`, or a new one) comes back in the
//! response and names every log line the request causes; `BCGRAPH_LOG_FORMAT=json`
//! writes those lines as JSON. Run as `bcgraph serve` in its own process, whose stderr
//! is read: the tests' one process holds many gateways, and one subscriber.

use crate::support::{TEST_SECRET, TestApp, seed};
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const HASH: &str = "abc123";

#[tokio::test]
async fn a_requests_id_names_its_log_lines_and_comes_back() {
    let app = TestApp::start().await;
    seed::store(&app.db, HASH).await;
    let port = crate::support::free_port();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BCGRAPH_SECRET", TEST_SECRET)
        .env("BCGRAPH_WORKERS", "0")
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
        .env("BCGRAPH_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,bcgraph=debug")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bcgraph serve starts");
    let mut lines = BufReader::new(serve.stderr.take().expect("stderr")).lines();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "serve did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A delivery of a scope nothing handles: acknowledged, and logged.
    let deliver = |request_id: Option<&str>| {
        let body = json!({"scope": "store/shipment/created", "data": {"type": "shipment", "id": 1},
                          "hash": "h1", "producer": format!("stores/{HASH}")});
        let mut request = http
            .post(format!("{url}/webhooks/bigcommerce"))
            .header(SECRET_HEADER, store_secret(&crate::support::secrets(), HASH))
            .body(body.to_string());
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        async move {
            let response = request.send().await.expect("answered");
            assert_eq!(response.status(), 200);
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    let given = "req-7f3a-given";
    assert_eq!(deliver(Some(given)).await, given);
    // Too long to keep: a new id replaces it.
    let long = "x".repeat(300);
    let made = deliver(Some(&long)).await;
    assert_ne!(made, long);
    assert!(!made.is_empty() && made.len() <= 128);
    // Any request gets one, a GraphQL one too.
    let answered = http
        .post(format!("{url}/api/graphql"))
        .header("content-type", "application/json")
        .body(json!({"query": "{ currentSession { id } }"}).to_string())
        .send()
        .await
        .expect("answered");
    assert!(answered.headers().contains_key("x-request-id"));

    // Each request's lines name its id: the handler's own line and the answer's.
    let mut seen: Vec<Value> = Vec::new();
    let wanted = |seen: &[Value], id: &str| {
        let of_id: Vec<&Value> = seen.iter().filter(|l| request_id(l) == Some(id)).collect();
        of_id
            .iter()
            .any(|l| message(l) == "webhook for a scope nothing handles")
            && of_id.iter().any(|l| message(l) == "request answered")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(wanted(&seen, given) && wanted(&seen, &made)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the lines seen so far: {seen:#?}"))
            .expect("stderr")
            .expect("serve is running");
        let parsed: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("a log line that is not JSON: {line}"));
        seen.push(parsed);
    }
    // No line of one request names the other's id.
    for line in seen
        .iter()
        .filter(|l| message(l) == "webhook for a scope nothing handles")
    {
        let id = request_id(line).expect("a request's line has its id");
        assert!(id == given || id == made, "{line}");
    }
    serve.kill().await.expect("stop bcgraph serve");
}

/// The request's id in a JSON line: in the `request` span of its span list.
fn request_id(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "request")?
        .get("request_id")?
        .as_str()
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

/// A bad format stops the program, naming the variable.
#[tokio::test]
async fn a_bad_log_format_is_refused() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("schema")
        .env("BCGRAPH_LOG_FORMAT", "xml")
        .output()
        .await
        .expect("bcgraph runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BCGRAPH_LOG_FORMAT"));
}
