//! What one request may cost, as a client meets it: documents refused before execution
//! (fragment fan-out, cycles, aliases, directives, operations), the record and time
//! budgets, request rates per address and per credential, timeouts, filter bounds, JSON
//! `matches` keys, and the websocket's own bounds.

use crate::queue::{Probe, Seen};
use crate::support::client_documents as doc;
use crate::support::{TestApp, error_codes, error_text, payload, seed};
use bcgraph::action::GlobalActions;
use bcgraph::graphql::cost::{self, DocumentLimits};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A gateway with the test probe action (it can sleep) and these settings.
async fn app_with(vars: &[(&str, &str)]) -> TestApp {
    TestApp::start_configured(
        GlobalActions::default().register(Probe(Arc::new(Seen::default()))),
        vars,
    )
    .await
}

/// `query { ...F0 }` where each fragment spreads the next `width` times, down `levels`
/// levels, ending in `__typename`: tiny, and `width^levels` selections once expanded.
fn fan_out(levels: usize, width: usize) -> String {
    let mut text = String::from("query{...F0}");
    for level in 0..levels {
        let spreads = format!("...F{} ", level + 1).repeat(width);
        text.push_str(&format!("fragment F{level} on Query{{{}}}", spreads.trim_end()));
    }
    text.push_str(&format!("fragment F{levels} on Query{{__typename}}"));
    text
}

/// POST without credentials; the status, headers and JSON body.
async fn post_anonymous(app: &TestApp, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("content-type", "application/json")
        .body(json!({"query": query}).to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON body"))
}

/// POST with an `authorization` header; the status, headers and JSON body.
async fn post_as(
    app: &TestApp,
    authorization: &str,
    query: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(json!({"query": query}).to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON body"))
}

/// Assert `body` is the refusal shape: no data, one error with `code`, naming `setting`.
fn assert_refused(body: &Value, code: &str, setting: &str) {
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(error_codes(body), [code], "{body}");
    assert!(error_text(body).contains(setting), "{body}");
}

// ---------------------------------------------------------------- documents (H6)

#[tokio::test]
async fn fragment_fan_out_is_refused_before_it_costs_anything() {
    let app = TestApp::start().await;
    // 21 levels of fragments, four spreads each: 4^20 visits for async-graphql's checks.
    let bomb = fan_out(20, 4);
    assert!(bomb.len() < 1024, "{} bytes", bomb.len());
    // The smallest fan-out that still expands past the selection limit's neighbourhood.
    let small = fan_out(13, 4);
    // The connection is made first, so that the figure is the refusal's.
    let (_, _, warm) = post_anonymous(&app, TYPENAME).await;
    assert_eq!(warm["data"]["__typename"], "Query");
    for document in [&bomb, &small] {
        let started = Instant::now();
        let (status, headers, body) = post_anonymous(&app, document).await;
        let elapsed = started.elapsed();
        println!(
            "fan-out document of {} bytes refused over HTTP in {:.2} ms",
            document.len(),
            elapsed.as_secs_f64() * 1000.0
        );
        assert_eq!(status, 200);
        assert_refused(&body, "GGT_INVALID_QUERY_INPUT", "BCGRAPH_MAX_QUERY_SELECTIONS");
        assert!(error_text(&body).contains("at most 10000 are allowed"), "{body}");
        assert!(elapsed < Duration::from_millis(50), "{elapsed:?}");
        // Refused before authentication: no anonymous session was made for it.
        assert!(headers.get("x-set-authorization").is_none());

        // The check itself, in this process: microseconds.
        let runs = 100u32;
        let started = Instant::now();
        for _ in 0..runs {
            let request = async_graphql::Request::new(document.as_str());
            assert!(cost::check(request, &DocumentLimits::default()).is_err());
        }
        let each = started.elapsed() / runs;
        let started = Instant::now();
        for _ in 0..runs {
            assert!(async_graphql::parser::parse_query(document).is_ok());
        }
        let parsing = started.elapsed() / runs;
        println!(
            "  the check alone: {:.1} µs, of which parsing {:.1} µs",
            each.as_secs_f64() * 1e6,
            parsing.as_secs_f64() * 1e6
        );
        assert!(each < Duration::from_millis(50));
    }
    // The same shape within the limits runs.
    let (_, _, body) = post_anonymous(&app, &fan_out(3, 4)).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn fragment_cycles_are_refused() {
    let app = TestApp::start().await;
    let document = "query { ...A } fragment A on Query { __typename ...B ...B } fragment B on Query { ...C ...C } fragment C on Query { ...A }";
    let started = Instant::now();
    let (_, _, body) = post_anonymous(&app, document).await;
    assert!(started.elapsed() < Duration::from_millis(50));
    assert_eq!(error_codes(&body), ["GGT_INVALID_QUERY_INPUT"], "{body}");
    assert!(error_text(&body).contains("may not form cycles"), "{body}");
}

#[tokio::test]
async fn aliases_directives_fragments_and_operations_are_bounded() {
    let app = app_with(&[
        ("BCGRAPH_MAX_QUERY_ALIASES", "4"),
        ("BCGRAPH_MAX_QUERY_DIRECTIVES", "4"),
        ("BCGRAPH_MAX_QUERY_FRAGMENTS", "3"),
        ("BCGRAPH_MAX_QUERY_OPERATIONS", "2"),
        ("BCGRAPH_MAX_QUERY_DEPTH", "3"),
    ])
    .await;
    let aliases = |n: usize| (0..n).map(|i| format!("a{i}: __typename ")).collect::<String>();
    let directives = |n: usize| "__typename @include(if: true) ".repeat(n);
    let cases: Vec<(String, Option<&str>)> = vec![
        (format!("{{ {} }}", aliases(4)), None),
        (format!("{{ {} }}", aliases(5)), Some("BCGRAPH_MAX_QUERY_ALIASES")),
        // Aliases spread by a fragment count where they are spread.
        (
            format!("{{ ...F ...F }} fragment F on Query {{ {} }}", aliases(2)),
            Some("BCGRAPH_MAX_QUERY_ALIASES"),
        ),
        (format!("{{ {} }}", directives(4)), None),
        (format!("{{ {} }}", directives(5)), Some("BCGRAPH_MAX_QUERY_DIRECTIVES")),
        (
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } fragment C on Query { __typename } fragment D on Query { __typename }"
                .to_owned(),
            Some("BCGRAPH_MAX_QUERY_FRAGMENTS"),
        ),
        (
            "{ ...A ...A ...A ...A } fragment A on Query { __typename }".to_owned(),
            Some("BCGRAPH_MAX_QUERY_FRAGMENTS"),
        ),
        (
            "query a { __typename } query b { __typename } query c { __typename }".to_owned(),
            Some("BCGRAPH_MAX_QUERY_OPERATIONS"),
        ),
        ("{ currentSession { bigcommerceStore { id } } }".to_owned(), None),
        (
            "{ currentSession { bigcommerceStore { products { edges { id } } } } }".to_owned(),
            Some("BCGRAPH_MAX_QUERY_DEPTH"),
        ),
    ];
    for (document, refused) in cases {
        let (_, _, body) = post_as(&app, &format!("Bearer {}", app.admin_key), &document).await;
        match refused {
            Some(setting) => assert_refused(&body, "GGT_INVALID_QUERY_INPUT", setting),
            None => assert!(body["errors"].is_null(), "{document}: {body}"),
        }
    }
}

#[tokio::test]
async fn the_clients_documents_pass_the_default_limits() {
    let app = TestApp::start().await;
    let documents = [
        doc::FIND_ONE,
        doc::FIND_MANY,
        doc::FIND_BY,
        doc::CREATE,
        doc::UPDATE,
        doc::DELETE,
        doc::UPSERT,
        doc::BULK_CREATE,
        doc::BULK_UPSERT,
        doc::BULK_UPDATE,
        doc::BULK_DELETE,
        doc::ENQUEUE_CREATE,
        doc::ENQUEUE_BULK_CREATE,
        doc::CANCEL,
    ];
    for document in documents {
        let size = cost::measure(
            &async_graphql::parser::parse_query(document).expect("parses"),
            &DocumentLimits::default(),
        )
        .expect("within the limits");
        assert!(size.selections < 200 && size.depth <= 9, "{size:?}");
        // Over HTTP the document reaches execution (its variables are missing).
        let body = app.gql(document, json!({})).await;
        assert!(!error_text(&body).contains("BCGRAPH_MAX_QUERY"), "{body}");
    }
    // With its variables, the largest one runs.
    let data = app.data(doc::FIND_MANY, json!({"first": 5})).await;
    assert!(data["bigcommerce"]["products"]["edges"].is_array());
}

// ---------------------------------------------------------------- nesting

/// Documents whose brackets nest `depth` deep, one of each shape the parsers recurse on:
/// selection sets, list and object values (arguments, variable defaults) and list types.
fn deep_documents(depth: usize) -> Vec<(&'static str, String)> {
    let nest = |open: &str, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
    };
    vec![
        (
            "object values",
            format!("{{ __typename(x: {}) }}", nest("{a: ", "1", "}")),
        ),
        (
            "list values",
            format!("{{ currentSession(x: {}) {{ id }} }}", nest("[", "1", "]")),
        ),
        ("selection sets", nest("{ a ", "", "}")),
        (
            "a variable's default",
            format!("query($v: JSON = {}) {{ __typename }}", nest("[", "1", "]")),
        ),
        (
            "list types",
            format!("query($v: {}) {{ __typename }}", nest("[", "Int", "]")),
        ),
        ("parentheses", format!("{{ a{} }}", nest("(", "", ")"))),
    ]
}

#[tokio::test]
async fn deeply_nested_documents_are_refused_before_they_are_parsed() {
    let app = TestApp::start().await;
    let (_, _, warm) = post_anonymous(&app, TYPENAME).await;
    assert_eq!(warm["data"]["__typename"], "Query");
    // 1,500 levels of object values (6 KB) or 2,000 of list values overflowed the stack
    // of the thread that parsed them and aborted the process; deeper ones stopped in the
    // parser with an error that quoted the whole document back.
    for (depth, (what, document)) in [1_500, 2_000, 100_000]
        .into_iter()
        .flat_map(|depth| deep_documents(depth).into_iter().map(move |d| (depth, d)))
    {
        let started = Instant::now();
        let (status, headers, body) = post_anonymous(&app, &document).await;
        println!(
            "{what} nested {depth} deep ({} KB) refused over HTTP in {:.2} ms",
            document.len() / 1024,
            started.elapsed().as_secs_f64() * 1000.0
        );
        assert_eq!(status, 200, "{what}: {body}");
        assert_refused(&body, "GGT_INVALID_QUERY_INPUT", "nest");
        assert!(error_text(&body).contains("at most 128"), "{what}: {body}");
        // Refused before authentication, like the other document limits.
        assert!(headers.get("x-set-authorization").is_none(), "{what}");
    }
    // 128 brackets deep (`{`, `(` and 126 `[`) is parsed as usual: the answer is the
    // document's own error (an unknown argument), not the refusal; 129 is refused.
    let (_, _, body) = post_anonymous(&app, &deep_documents(126)[1].1).await;
    assert!(!error_text(&body).contains("nest"), "{body}");
    assert!(error_text(&body).contains("Unknown argument"), "{body}");
    let (_, _, body) = post_anonymous(&app, &deep_documents(127)[1].1).await;
    assert_refused(&body, "GGT_INVALID_QUERY_INPUT", "nest");
    // Brackets in strings and comments do not count.
    let commented = format!("{{ __typename # {}\n}}", "{[(".repeat(1000));
    let string = format!("{{ __type(name: \"{}\\\"\") {{ name }} }}", "{[(".repeat(1000));
    let block = format!(
        "{{ __type(name: \"\"\"{}\\\"\"\"\"\"\") {{ name }} }}",
        "{[(".repeat(1000)
    );
    for document in [commented, string, block] {
        let (_, _, body) = post_anonymous(&app, &document).await;
        assert!(body["errors"].is_null(), "{body}");
        assert!(body["data"].is_object(), "{body}");
    }
    // The same over the websocket.
    let mut ws = admin_socket(&app).await;
    for (what, document) in deep_documents(2_000) {
        subscribe(&mut ws, what, &document, json!({})).await;
        let answer = loop {
            let message = next_json(&mut ws).await;
            if message["type"] != "complete" {
                break message;
            }
        };
        assert_eq!(answer["id"], what, "{answer}");
        assert_refused(&answer["payload"], "GGT_INVALID_QUERY_INPUT", "nest");
    }
    subscribe(&mut ws, "after", TYPENAME, json!({})).await;
    let answer = loop {
        let message = next_json(&mut ws).await;
        if message["type"] != "complete" {
            break message;
        }
    };
    assert_eq!(answer["payload"]["data"]["__typename"], "Query", "{answer}");
}

#[tokio::test]
async fn deeply_nested_variables_are_refused_clearly() {
    let app = TestApp::start().await;
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    // The variable reaches a resolver: a JSON filter compares the stored value with it.
    let document = "query($v: JSON) { bigcommerce { products(first: 1, filter: {raw: {equals: $v}}) { edges { node { id } } } } }";
    // serde_json stops at 128 levels: the body is not a request.
    let body = format!(r#"{{"query": "{document}", "variables": {{"v": {deep}}}}}"#);
    let (status, answer) = app.post_raw(body.into_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(error_codes(&answer), ["GGT_INVALID_QUERY_INPUT"], "{answer}");
    assert!(error_text(&answer).contains("recursion limit"), "{answer}");
    // Just under it, the variables are read and the document runs.
    let fits = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let body = format!(r#"{{"query": "{document}", "variables": {{"v": {fits}}}}}"#);
    let (status, answer) = app.post_raw(body.into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["errors"].is_null(), "{answer}");
    assert_eq!(
        answer["data"]["bigcommerce"]["products"]["edges"],
        json!([]),
        "{answer}"
    );
    // Over the websocket the message is not one: the socket is closed (1002), and the
    // gateway goes on.
    let mut ws = admin_socket(&app).await;
    let message = format!(
        r#"{{"id": "deep", "type": "subscribe", "payload": {{"query": "{document}", "variables": {{"v": {deep}}}}}}}"#
    );
    ws.send(Message::text(message)).await.unwrap();
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1002, "{frame:?}");
    assert!(frame.reason.contains("recursion limit"), "{frame:?}");
    let mut ws = admin_socket(&app).await;
    subscribe(&mut ws, "after", TYPENAME, json!({})).await;
    assert_eq!(next_json(&mut ws).await["payload"]["data"]["__typename"], "Query");
}

// ---------------------------------------------------------------- record budget (H5)

/// The resident memory of this process (the gateway runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kb * 1024
}

/// Set in the child process that runs [`amplification_stops_at_the_record_budget`] alone.
const ALONE: &str = "BCGRAPH_TEST_RUN_ALONE";

#[tokio::test]
async fn amplification_stops_at_the_record_budget() {
    if std::env::var_os(ALONE).is_none() {
        // The memory figure is the process's: run alone in a child, where no other
        // test's allocations show.
        let exe = std::env::current_exe().expect("test binary");
        let output = tokio::process::Command::new(exe)
            .args([
                "--exact",
                "limits::amplification_stops_at_the_record_budget",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ALONE, "1")
            .output()
            .await
            .expect("run the test alone");
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
        return;
    }
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "amp").await;
    let inputs: Vec<Value> = (1..=250)
        .map(|i| json!({"product": {"bigcommerceId": i, "name": format!("P{i}"), "store": {"_link": store.to_string()}}}))
        .collect();
    let created = app
        .data(
            "mutation($inputs: [BulkCreateBigcommerceProductsInput!]!) { bigcommerce { bulkCreateProducts(inputs: $inputs) { success } } }",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(created["bigcommerce"]["bulkCreateProducts"]["success"], true);
    let nest = |first: usize| {
        format!(
            "{{ bigcommerce {{ store(id: \"{store}\") {{ products(first: {first}) {{ edges {{ node {{ store {{ products(first: {first}) {{ edges {{ node {{ store {{ products(first: {first}) {{ edges {{ node {{ id }} }} }} }} }} }} }} }} }} }} }} }} }} }}"
        )
    };
    // Within the budget, the same shape answers: 10 + 10 + 100 + 100 + 1,000 records.
    let small = app.data(&nest(10), json!({})).await;
    let outer = &small["bigcommerce"]["store"]["products"]["edges"];
    assert_eq!(outer.as_array().map(Vec::len), Some(10));
    assert_eq!(
        outer[9]["node"]["store"]["products"]["edges"][9]["node"]["store"]["products"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );

    // 250^3 = 15.6 million nodes asked for.
    let before = resident_bytes();
    let started = Instant::now();
    let body = app.gql(&nest(250), json!({})).await;
    let elapsed = started.elapsed();
    let grown = resident_bytes().saturating_sub(before);
    println!(
        "amplification (250^3 nodes asked): refused in {:.2} s, resident memory +{:.1} MB: {}",
        elapsed.as_secs_f64(),
        grown as f64 / 1e6,
        error_text(&body)
    );
    assert_refused(
        &body,
        "GGT_INVALID_QUERY_INPUT",
        "BCGRAPH_MAX_RECORDS_PER_REQUEST",
    );
    assert!(error_text(&body).contains("more than 50000 records"), "{body}");
    assert!(grown < 50_000_000, "grew {grown} bytes");
}

#[tokio::test]
async fn the_record_budget_holds_over_http_and_the_websocket() {
    let app = app_with(&[("BCGRAPH_MAX_RECORDS_PER_REQUEST", "5")]).await;
    let store = seed::store(&app.db, "budget").await;
    for i in 1..=6 {
        seed::product(&app.db, store, i, &format!("P{i}"), |_| {}).await;
    }
    let list = |first: usize| {
        format!("{{ bigcommerce {{ products(first: {first}) {{ edges {{ node {{ id }} }} }} }} }}")
    };
    let five = app.data(&list(5), json!({})).await;
    assert_eq!(
        five["bigcommerce"]["products"]["edges"].as_array().map(Vec::len),
        Some(5)
    );
    let body = app.gql(&list(6), json!({})).await;
    assert_refused(
        &body,
        "GGT_INVALID_QUERY_INPUT",
        "BCGRAPH_MAX_RECORDS_PER_REQUEST",
    );
    // A relationship's records count too: 2 products, their 2 stores and one more fit;
    // 3 products and their stores do not.
    let related = |first: usize| {
        format!(
            "{{ bigcommerce {{ products(first: {first}) {{ edges {{ node {{ store {{ id }} }} }} }} product(id: \"1\") {{ id }} }} }}"
        )
    };
    let fits = app.data(&related(2), json!({})).await;
    assert_eq!(fits["bigcommerce"]["product"]["id"], "1");
    let body = app.gql(&related(3), json!({})).await;
    assert_refused(
        &body,
        "GGT_INVALID_QUERY_INPUT",
        "BCGRAPH_MAX_RECORDS_PER_REQUEST",
    );

    let mut ws = admin_socket(&app).await;
    subscribe(&mut ws, "ok", &list(5), json!({})).await;
    let answer = next_json(&mut ws).await;
    assert_eq!(
        answer["payload"]["data"]["bigcommerce"]["products"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(5),
        "{answer}"
    );
    assert_eq!(next_json(&mut ws).await["type"], "complete");
    subscribe(&mut ws, "over", &list(6), json!({})).await;
    let answer = next_json(&mut ws).await;
    assert_refused(
        &answer["payload"],
        "GGT_INVALID_QUERY_INPUT",
        "BCGRAPH_MAX_RECORDS_PER_REQUEST",
    );
}

// ---------------------------------------------------------------- time (H5, L9)

#[tokio::test]
async fn a_slow_request_is_stopped_by_its_time_budget() {
    let app = app_with(&[("BCGRAPH_EXECUTION_TIMEOUT_SECONDS", "1")]).await;
    let started = Instant::now();
    let body = app
        .gql(
            "mutation { probe(key: \"slow\", sleepMs: 10000) { success } }",
            json!({}),
        )
        .await;
    let elapsed = started.elapsed();
    assert_refused(&body, "GGT_INTERNAL_ERROR", "BCGRAPH_EXECUTION_TIMEOUT_SECONDS");
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    let quick = app
        .data("mutation { probe(key: \"quick\") { success } }", json!({}))
        .await;
    assert_eq!(quick["probe"]["success"], true);
}

#[tokio::test]
async fn the_request_timeout_is_a_backstop_for_the_whole_request() {
    let app = app_with(&[
        ("BCGRAPH_REQUEST_TIMEOUT_SECONDS", "1"),
        ("BCGRAPH_EXECUTION_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    let started = Instant::now();
    let response = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.admin_key))
        .body(json!({"query": "mutation { probe(key: \"slow\", sleepMs: 10000) { success } }"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_is_given_up() {
    let app = app_with(&[("BCGRAPH_REQUEST_BODY_TIMEOUT_SECONDS", "1")]).await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\nauthorization: Bearer {}\r\ncontent-length: 1000\r\n\r\n{{\"query\":",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // Until the head of an answer, or the end of the connection.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept waiting for the body");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // Either an error status or a closed connection, never an executed request.
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}

// ---------------------------------------------------------------- rates (L9)

const TYPENAME: &str = "{ __typename }";

/// Send until a request is refused: how many passed, and the refusal.
async fn until_refused<F, Fut>(mut send: F) -> (usize, (u16, reqwest::header::HeaderMap, Value))
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, reqwest::header::HeaderMap, Value)>,
{
    for passed in 0..30 {
        let answer = send().await;
        if answer.0 != 200 {
            return (passed, answer);
        }
    }
    panic!("30 requests passed");
}

/// At one request a second the burst is ten; one more may have refilled meanwhile.
fn assert_burst(passed: usize) {
    assert!((10..=11).contains(&passed), "{passed} passed");
}

#[tokio::test]
async fn requests_are_limited_per_client_address() {
    let app = app_with(&[
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "1"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
    ])
    .await;
    let admin = format!("Bearer {}", app.admin_key);
    // A burst of ten seconds' worth passes; the next is refused.
    let (passed, (status, headers, body)) = until_refused(|| async {
        let (status, headers, body) = post_anonymous(&app, TYPENAME).await;
        (status, headers, body)
    })
    .await;
    assert_burst(passed);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(error_codes(&body), ["GGT_TOO_MANY_REQUESTS"]);
    assert!(
        error_text(&body).contains("BCGRAPH_RATE_LIMIT_PER_ADDRESS"),
        "{body}"
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // The websocket is the same API: its upgrade is refused too.
    let refused = tokio_tungstenite::connect_async(socket_request(&app)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("expected a 429, got {:?}", other.map(|_| ())),
    }
    // Webhooks and BigCommerce's callbacks are not limited per address.
    for _ in 0..20 {
        let webhook = app
            .http
            .post(format!("{}/webhooks/bigcommerce", app.url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(webhook.status().as_u16(), 429);
        let load = app
            .http
            .get(format!("{}/bigcommerce/load?signed_payload_jwt=x", app.url))
            .send()
            .await
            .unwrap();
        assert_ne!(load.status().as_u16(), 429);
    }
    // Back-end code with a good API key is limited by its key, not by its host; a key
    // that does not open counts against the address like anything else.
    for _ in 0..20 {
        assert_eq!(post_as(&app, &admin, TYPENAME).await.0, 200);
    }
    assert_eq!(post_as(&app, "Bearer bcg_forged", TYPENAME).await.0, 429);
    // The rate refills: one request a second.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (status, _, _) = post_anonymous(&app, TYPENAME).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_trusted_header_names_the_client_address() {
    let app = app_with(&[
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "1"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
        ("BCGRAPH_CLIENT_IP_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let send = |forwarded: &'static str| {
        let request = app
            .http
            .post(format!("{}/api/graphql", app.url))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded)
            .body(json!({"query": TYPENAME}).to_string());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut passed = 0;
    while send("203.0.113.1, 10.0.0.1").await == 200 {
        passed += 1;
        assert!(passed < 30);
    }
    assert_burst(passed);
    assert_eq!(send("203.0.113.1").await, 429);
    // Another client behind the same proxy is not held back.
    assert_eq!(send("203.0.113.2, 10.0.0.1").await, 200);
    // One IPv6 client is its /64.
    let mut passed = 0;
    while send("2001:db8:1:2::1").await == 200 {
        passed += 1;
        assert!(passed < 30);
    }
    assert_burst(passed);
    assert_eq!(send("2001:db8:1:2::ffff").await, 429);
}

#[tokio::test]
async fn requests_are_limited_per_credential() {
    let app = app_with(&[
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "1"),
    ])
    .await;
    seed::store(&app.db, "ratestore").await;
    let key = |name: &'static str| {
        let db = app.db.clone();
        async move {
            let role = "Role-Integration".to_owned();
            let (_, key) = bcgraph::auth::api_keys::create(&db, name, &[role], Some("ratestore"))
                .await
                .unwrap();
            format!("Bearer {key}")
        }
    };
    let bound = key("bound").await;
    let (passed, (status, headers, body)) = until_refused(|| post_as(&app, &bound, TYPENAME)).await;
    assert_burst(passed);
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(error_codes(&body), ["GGT_TOO_MANY_REQUESTS"]);
    assert!(
        error_text(&body).contains("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL"),
        "{body}"
    );
    // Another key, from the same address, has its own rate.
    assert_eq!(post_as(&app, &key("other").await, TYPENAME).await.0, 200);
    // The operator's own system-admin key is not limited.
    let admin = format!("Bearer {}", app.admin_key);
    for _ in 0..30 {
        assert_eq!(post_as(&app, &admin, TYPENAME).await.0, 200);
    }
    // A merchant's staff user is one credential whatever payload it sends; another
    // user of the store has their own.
    let (passed, _) = until_refused(|| {
        let user = payload::header(&payload::jwt("ratestore", 5));
        let app = &app;
        async move { post_as(app, &user, TYPENAME).await }
    })
    .await;
    assert_burst(passed);
    let user = payload::header(&payload::legacy("ratestore", 5));
    assert_eq!(post_as(&app, &user, TYPENAME).await.0, 429);
    let colleague = payload::header(&payload::jwt("ratestore", 6));
    assert_eq!(post_as(&app, &colleague, TYPENAME).await.0, 200);
    // Each credential-less request is a new anonymous session: only its address counts.
    for _ in 0..12 {
        assert_eq!(post_anonymous(&app, TYPENAME).await.0, 200);
    }
}

// ---------------------------------------------------------------- filters (L3, L9)

#[tokio::test]
async fn filter_lists_and_search_terms_are_bounded() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "filters").await;
    let product = seed::product(&app.db, store, 1, "Shirt", |_| {}).await;
    let query = "query($filter: [BigcommerceProductFilter!], $search: String) { bigcommerce { products(filter: $filter, search: $search) { edges { node { id } } } store(id: \"1\") { products(filter: $filter) { edges { node { id } } } } } }";
    let ids = |n: usize| -> Vec<String> { (0..n).map(|i| (i as i64 + product).to_string()).collect() };
    // 1,000 values: fine, at the root and on a relationship.
    let data = app
        .data(query, json!({"filter": {"id": {"in": ids(1000)}}}))
        .await;
    assert_eq!(
        data["bigcommerce"]["products"]["edges"][0]["node"]["id"],
        product.to_string()
    );
    assert_eq!(
        data["bigcommerce"]["store"]["products"]["edges"][0]["node"]["id"],
        product.to_string()
    );
    let refusals = [
        (
            json!({"filter": {"id": {"in": ids(1001)}}}),
            "BCGRAPH_MAX_FILTER_LIST_LENGTH",
        ),
        (
            json!({"filter": {"id": {"notIn": ids(1001)}}}),
            "BCGRAPH_MAX_FILTER_LIST_LENGTH",
        ),
        // Past SQLite's 32,766 parameters: refused rather than an internal error.
        (
            json!({"filter": {"id": {"in": ids(40_000)}}}),
            "BCGRAPH_MAX_FILTER_LIST_LENGTH",
        ),
        (
            json!({"filter": {"OR": (0..11).map(|_| json!({"id": {"in": ids(1000)}})).collect::<Vec<_>>()}}),
            "BCGRAPH_MAX_FILTER_VALUES",
        ),
        (json!({"search": "x".repeat(257)}), "BCGRAPH_MAX_SEARCH_LENGTH"),
        (
            json!({"filter": {"name": {"startsWith": "x".repeat(257)}}}),
            "BCGRAPH_MAX_SEARCH_LENGTH",
        ),
    ];
    for (variables, setting) in refusals {
        let body = app.gql(query, variables).await;
        assert_eq!(error_codes(&body)[0], "GGT_INVALID_QUERY_INPUT", "{body}");
        assert!(
            error_text(&body).contains(setting),
            "{setting}: {}",
            error_text(&body)
        );
    }
    let data = app
        .data(
            query,
            json!({"search": "s".repeat(256), "filter": {"name": {"startsWith": "S".repeat(256)}}}),
        )
        .await;
    assert_eq!(data["bigcommerce"]["products"]["edges"], json!([]));
}

#[tokio::test]
async fn json_matches_reads_keys_with_quotes_dots_and_backslashes() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "json").await;
    let fields = json!({
        "a\"b": 1,
        "back\\slash": "x",
        "dot.key": true,
        "[0]": null,
        "$": "dollar",
        "nested": {"q\"k": {"deep": "v"}, "n": 2.5},
        "list": [1, "two"],
        "obj": {},
        "plain": "p"
    });
    let create = "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) { success product { id } } } }";
    let made = app
        .data(
            create,
            json!({"p": {"bigcommerceId": 1, "name": "keys", "customFields": fields, "store": {"_link": store.to_string()}}}),
        )
        .await;
    let id = made["bigcommerce"]["createProduct"]["product"]["id"].clone();
    // A decoy with a string where the others have objects, and neighbouring values.
    app.data(
        create,
        json!({"p": {"bigcommerceId": 2, "name": "decoy", "customFields": {"a\"b": "1", "nested": "q\"k", "dot": {"key": true}, "obj": [], "plain": "P"}, "store": {"_link": store.to_string()}}}),
    )
    .await;
    let query = "query($f: [BigcommerceProductFilter!]) { bigcommerce { products(filter: $f) { edges { node { id } } } } }";
    let matching = |matches: Value| {
        let app = &app;
        async move {
            let data = app
                .data(query, json!({"f": {"customFields": {"matches": matches}}}))
                .await;
            data["bigcommerce"]["products"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    for found in [
        json!({"a\"b": 1}),
        json!({"back\\slash": "x"}),
        json!({"dot.key": true}),
        json!({"[0]": null}),
        json!({"$": "dollar"}),
        json!({"nested": {"q\"k": {"deep": "v"}}}),
        json!({"nested": {"n": 2.5, "q\"k": {"deep": "v"}}}),
        json!({"list": [1, "two"]}),
        json!({"obj": {}}),
        json!({"plain": "p", "a\"b": 1}),
    ] {
        assert_eq!(
            matching(found.clone()).await,
            std::slice::from_ref(&id),
            "{found}"
        );
    }
    for missing in [
        json!({"a\"b": 2}),
        json!({"a\\\"b": 1}),
        json!({"back\\slash": "y"}),
        json!({"dot.key": false}),
        json!({"[0]": 0}),
        json!({"nested": {"q\"k": {"deep": "w"}}}),
        json!({"nested": {"missing": 1}}),
        json!({"plain": "p", "a\"b": 3}),
    ] {
        assert_eq!(matching(missing.clone()).await, Vec::<Value>::new(), "{missing}");
    }
    // An empty object asks only for a value.
    assert_eq!(matching(json!({})).await.len(), 2);
}

#[tokio::test]
async fn graphiql_can_be_turned_off() {
    let app = app_with(&[("BCGRAPH_GRAPHIQL", "off")]).await;
    let page = app
        .http
        .get(format!("{}/api/graphql", app.url))
        .send()
        .await
        .unwrap();
    assert_ne!(page.status().as_u16(), 200);
    assert!(!page.text().await.unwrap().to_lowercase().contains("graphiql"));
    // The API itself is still there.
    assert_eq!(app.data(TYPENAME, json!({})).await["__typename"], "Query");
}

// ---------------------------------------------------------------- websockets (M3, L2, L6)

fn socket_request(app: &TestApp) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = app.url.replace("http://", "ws://") + "/api/graphql/batch";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    request
}

async fn connect(app: &TestApp) -> Socket {
    tokio_tungstenite::connect_async(socket_request(app))
        .await
        .expect("connect")
        .0
}

/// The next message, or `None` once the connection is closed or broken.
async fn next_message(ws: &mut Socket) -> Option<Message> {
    match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
        Ok(Some(Ok(message))) => Some(message),
        Ok(_) => None,
        Err(_) => panic!("no message in time"),
    }
}

async fn next_json(ws: &mut Socket) -> Value {
    loop {
        match next_message(ws).await {
            Some(Message::Text(text)) => return serde_json::from_str(&text).unwrap(),
            Some(Message::Close(frame)) => panic!("closed: {frame:?}"),
            Some(_) => {}
            None => panic!("the connection ended"),
        }
    }
}

/// The close frame that ends the connection (`None` if it just ends).
async fn close_frame(ws: &mut Socket) -> Option<CloseFrame> {
    loop {
        match next_message(ws).await {
            Some(Message::Close(frame)) => return frame,
            Some(_) => {}
            None => return None,
        }
    }
}

async fn init(ws: &mut Socket, auth: Value) {
    let init = json!({"type": "connection_init", "payload": {"auth": auth}});
    ws.send(Message::text(init.to_string())).await.unwrap();
}

async fn admin_socket(app: &TestApp) -> Socket {
    let mut ws = connect(app).await;
    init(&mut ws, json!({"type": "api-key", "key": app.admin_key})).await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn subscribe(ws: &mut Socket, id: &str, query: &str, variables: Value) {
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
    ws.send(Message::text(message.to_string())).await.unwrap();
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_the_socket() {
    let app = TestApp::start().await;
    let mut ws = admin_socket(&app).await;
    // Just under the limit is read (and answered).
    let padding = "x".repeat(1024 * 1024);
    let query = format!("{{ __typename }} # {padding}");
    subscribe(&mut ws, "fits", &query, json!({})).await;
    assert_eq!(next_json(&mut ws).await["payload"]["data"]["__typename"], "Query");
    // 3 MiB is over the 2 MiB a POST body may have: the connection ends.
    let huge = format!("{{ __typename }} # {}", "x".repeat(3 * 1024 * 1024));
    let message = json!({"id": "huge", "type": "subscribe", "payload": {"query": huge}});
    let _ = ws.send(Message::text(message.to_string())).await;
    loop {
        match next_message(&mut ws).await {
            None | Some(Message::Close(_)) => break,
            Some(Message::Text(text)) => assert!(!text.contains("\"huge\""), "{text}"),
            Some(_) => {}
        }
    }
}

#[tokio::test]
async fn websocket_operations_get_the_document_check() {
    let app = TestApp::start().await;
    let mut ws = admin_socket(&app).await;
    let started = Instant::now();
    subscribe(&mut ws, "bomb", &fan_out(20, 4), json!({})).await;
    let answer = next_json(&mut ws).await;
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer["id"], "bomb");
    assert_refused(
        &answer["payload"],
        "GGT_INVALID_QUERY_INPUT",
        "BCGRAPH_MAX_QUERY_SELECTIONS",
    );
}

#[tokio::test]
async fn websocket_connections_are_capped() {
    let app = app_with(&[("BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS", "2")]).await;
    let first = admin_socket(&app).await;
    let _second = admin_socket(&app).await;
    let mut third = connect(&app).await;
    let frame = close_frame(&mut third).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4294);
    assert!(
        frame.reason.contains("BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS"),
        "{frame:?}"
    );
    // A closed connection gives its place back.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let mut ws = connect(&app).await;
        init(&mut ws, json!({"type": "api-key", "key": app.admin_key})).await;
        if let Some(Message::Text(text)) = next_message(&mut ws).await
            && text.contains("connection_ack")
        {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the place was not given back");

    let app = app_with(&[("BCGRAPH_WS_MAX_CONNECTIONS", "1")]).await;
    let _only = admin_socket(&app).await;
    let mut refused = connect(&app).await;
    let frame = close_frame(&mut refused).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4294);
    assert!(frame.reason.contains("BCGRAPH_WS_MAX_CONNECTIONS"), "{frame:?}");
}

/// Enqueue a probe that waits until 2099: a subscription to it stays pending.
async fn pending_job(app: &TestApp, id: &str) {
    let data = app
        .data(
            doc::ENQUEUE_GLOBAL,
            json!({"key": id, "backgroundOptions": {"id": id, "startAt": "2099-01-01T00:00:00.000Z"}}),
        )
        .await;
    assert_eq!(data["background"]["probe"]["backgroundAction"]["id"], id);
}

#[tokio::test]
async fn operations_per_connection_are_capped() {
    let app = app_with(&[("BCGRAPH_WS_MAX_OPERATIONS", "2")]).await;
    pending_job(&app, "later").await;
    let mut ws = admin_socket(&app).await;
    for sub in ["s1", "s2"] {
        subscribe(&mut ws, sub, doc::STATUS, json!({"id": "later"})).await;
        let first = next_json(&mut ws).await;
        assert_eq!(
            first["payload"]["data"]["backgroundAction"]["status"], "scheduled",
            "{first}"
        );
    }
    subscribe(&mut ws, "s3", doc::STATUS, json!({"id": "later"})).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["id"], "s3");
    assert_refused(
        &refused["payload"],
        "GGT_TOO_MANY_REQUESTS",
        "BCGRAPH_WS_MAX_OPERATIONS",
    );
    assert_eq!(next_json(&mut ws).await, json!({"id": "s3", "type": "complete"}));
    // Completing one gives its place back.
    ws.send(Message::text(json!({"id": "s1", "type": "complete"}).to_string()))
        .await
        .unwrap();
    let mut answered = false;
    for attempt in 0..20 {
        let sub = format!("s4-{attempt}");
        subscribe(&mut ws, &sub, doc::STATUS, json!({"id": "later"})).await;
        loop {
            let message = next_json(&mut ws).await;
            if message["id"] != sub.as_str() {
                continue;
            }
            answered = message["payload"]["errors"].is_null();
            break;
        }
        if answered {
            break;
        }
    }
    assert!(answered, "no place was given back");
}

#[tokio::test]
async fn a_subscription_ends_at_its_lifetime() {
    let app = app_with(&[("BCGRAPH_SUBSCRIPTION_MAX_SECONDS", "1")]).await;
    pending_job(&app, "forever").await;
    let mut ws = admin_socket(&app).await;
    let started = Instant::now();
    subscribe(&mut ws, "s", doc::CREATE_RESULT, json!({"id": "forever"})).await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        first["payload"]["data"]["backgroundAction"]["outcome"],
        Value::Null
    );
    let last = next_json(&mut ws).await;
    let elapsed = started.elapsed();
    assert_refused(
        &last["payload"],
        "GGT_TOO_MANY_REQUESTS",
        "BCGRAPH_SUBSCRIPTION_MAX_SECONDS",
    );
    assert_eq!(next_json(&mut ws).await, json!({"id": "s", "type": "complete"}));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // The connection itself goes on.
    subscribe(&mut ws, "q", TYPENAME, json!({})).await;
    assert_eq!(next_json(&mut ws).await["payload"]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn websocket_operations_count_against_the_address_rate() {
    let app = app_with(&[
        ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "1"),
        ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
    ])
    .await;
    seed::store(&app.db, "wsrate").await;
    // The upgrade is one request of the ten the burst allows.
    let mut ws = connect(&app).await;
    init(
        &mut ws,
        json!({"type": "custom", "bigcommerceSignedPayload": payload::jwt("wsrate", 3)}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    let mut passed = 1;
    let answer = loop {
        subscribe(&mut ws, &format!("q{passed}"), TYPENAME, json!({})).await;
        let answer = next_json(&mut ws).await;
        assert_eq!(next_json(&mut ws).await["type"], "complete");
        if answer["payload"]["data"]["__typename"] != "Query" {
            break answer;
        }
        passed += 1;
        assert!(passed < 30);
    };
    assert_burst(passed);
    assert_refused(
        &answer["payload"],
        "GGT_TOO_MANY_REQUESTS",
        "BCGRAPH_RATE_LIMIT_PER_ADDRESS",
    );
}

#[tokio::test]
async fn websocket_init_failures_do_not_tell_database_errors() {
    let app = TestApp::start().await;
    // API keys can no longer be read.
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "ALTER TABLE bcgraph_api_key RENAME TO bcgraph_api_key_gone",
    )
    .await
    .unwrap();
    let mut ws = connect(&app).await;
    init(&mut ws, json!({"type": "api-key", "key": app.admin_key})).await;
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1002);
    assert_eq!(frame.reason.as_str(), "internal error while authenticating");
    // A refused credential still says why.
    let mut ws = connect(&app).await;
    init(&mut ws, json!({"type": "api-key", "key": "nope"})).await;
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(frame.reason.as_str(), "unknown or revoked API key");
}

#[tokio::test]
async fn bulk_results_over_the_websocket_have_nulls_for_failed_elements() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "sock").await;
    let product = |id: i64, name: &str| json!({"bigcommerceId": id, "name": name, "store": {"_link": store.to_string()}});
    let mut ws = admin_socket(&app).await;
    let inputs = json!([{"product": product(1, "one")}, {"product": {"name": "no id"}}, {"product": product(3, "three")}]);
    subscribe(&mut ws, "bulk", doc::BULK_CREATE, json!({"inputs": inputs})).await;
    let answer = next_json(&mut ws).await;
    let result = &answer["payload"]["data"]["bigcommerce"]["bulkCreateProducts"];
    assert_eq!(result["success"], false, "{answer}");
    assert_eq!(result["products"][0]["name"], "one");
    assert_eq!(result["products"][1], Value::Null, "{answer}");
    assert_eq!(result["products"][2]["name"], "three");
    assert!(!answer.to_string().contains("9223372036854775807"));
}

/// A socket answers a query (it was not closed).
async fn still_open(ws: &mut Socket) {
    subscribe(ws, "p", "{ currentSession { bigcommerceStoreId } }", json!({})).await;
    let answer = next_json(ws).await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(next_json(ws).await["type"], "complete");
}

/// An open socket's identity is checked again: the store's uninstall, the user's removal
/// and the payload's expiry each close it (4403), while other stores' sockets stay.
#[tokio::test]
async fn a_socket_closes_when_its_credentials_end() {
    let app = TestApp::start().await;
    let a = seed::store(&app.db, "storea").await;
    seed::store(&app.db, "storeb").await;
    let open = |hash: &'static str, user: i64, claims: Option<Value>| {
        let app = &app;
        async move {
            let jwt = match claims {
                Some(claims) => payload::jwt_with(&claims, crate::support::CLIENT_SECRET),
                None => payload::jwt(hash, user),
            };
            let mut ws = connect(app).await;
            init(
                &mut ws,
                json!({"type": "custom", "bigcommerceSignedPayload": jwt}),
            )
            .await;
            let ack = next_json(&mut ws).await;
            assert_eq!(ack["type"], "connection_ack", "{ack}");
            ws
        }
    };
    // The user's removal closes that user's socket only.
    let mut removed = open("storea", 7, None).await;
    let mut colleague = open("storea", 8, None).await;
    let mut other_store = open("storeb", 7, None).await;
    let start = Instant::now();
    bcgraph::bigcommerce::lifecycle::remove_user(&app.api, a, "7", chrono::Utc::now())
        .await
        .unwrap();
    let frame = close_frame(&mut removed).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    eprintln!("removed user's socket closed after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(5));
    still_open(&mut colleague).await;
    // The store's uninstall closes every socket of the store.
    bcgraph::bigcommerce::lifecycle::uninstall(&app.api, a)
        .await
        .unwrap();
    let frame = close_frame(&mut colleague).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    still_open(&mut other_store).await;
    // A payload that expires while the socket is open ends it then.
    let mut claims = payload::claims("storeb", 9);
    claims["exp"] = json!(chrono::Utc::now().timestamp() + 2);
    let mut expiring = open("storeb", 9, Some(claims)).await;
    let start = Instant::now();
    let frame = close_frame(&mut expiring).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "closed at once: {:?}",
        start.elapsed()
    );
    still_open(&mut other_store).await;
}

/// A revoked API key's socket closes at the next check (nothing announces a revocation:
/// `bcgraph api-key revoke` runs in another process).
#[tokio::test]
async fn a_revoked_keys_socket_closes_at_the_next_check() {
    let app = app_with(&[("BCGRAPH_WS_RECHECK_SECONDS", "1")]).await;
    let (_, key) = bcgraph::auth::api_keys::create(&app.db, "doomed", &["system-admin".to_owned()], None)
        .await
        .unwrap();
    let mut ws = connect(&app).await;
    init(&mut ws, json!({"type": "api-key", "key": key})).await;
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    let mut kept = admin_socket(&app).await;
    still_open(&mut ws).await;
    assert!(bcgraph::auth::api_keys::revoke(&app.db, "doomed").await.unwrap());
    let start = Instant::now();
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    still_open(&mut kept).await;
}
