//! Identities at the wire: anonymous sessions, API keys (with the CLI), BigCommerce
//! signed payloads (JWT and legacy), websocket credentials, forged and stale
//! credentials, and CORS.

use crate::support::{TestApp, error_codes, payload, seed};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SESSION: &str = "query BigCommerceSession { currentSession { id bigcommerceUserId bigcommerceStore { storeHash } bigcommerceStoreId roles { key name } } }";
const PRODUCTS: &str = "{ bigcommerce { products { edges { node { name } } } } }";

async fn uninstall(app: &TestApp, store: i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let sql = format!("UPDATE bigcommerce_store SET state = 'uninstalled' WHERE id = {store}");
    app.db
        .execute_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn anonymous_sessions_are_minted_and_resumed() {
    let app = TestApp::start().await;
    let (headers, first) = app.gql_as(None, SESSION, json!({})).await;
    let session = &first["data"]["currentSession"];
    assert_eq!(
        session["roles"],
        json!([{"key": "unauthenticated", "name": "Unauthenticated"}])
    );
    assert_eq!(session["bigcommerceStore"], Value::Null);
    let token = headers
        .get("x-set-authorization")
        .expect("a new session token")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("Session "), "{token}");
    let (again_headers, again) = app.gql_as(Some(&token), SESSION, json!({})).await;
    assert_eq!(
        again["data"]["currentSession"]["id"], session["id"],
        "the token resumes the same session"
    );
    assert!(again_headers.get("x-set-authorization").is_none());
    // An anonymous session reads nothing.
    let (_, denied) = app.gql_as(Some(&token), PRODUCTS, json!({})).await;
    assert_eq!(error_codes(&denied), ["GGT_PERMISSION_DENIED"]);
}

#[tokio::test]
async fn the_react_bigcommerce_flow_at_the_wire() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    seed::product(&app.db, store, 1, "Mug", |_| {}).await;
    let doc = "query BigCommerceSession { currentSession { bigcommerceUserId bigcommerceStore { storeHash } roles { key } } }";
    let auth = payload::header(&payload::jwt("abc", 77));
    let signed_in = app.data_as(&auth, doc, json!({})).await;
    assert_eq!(
        signed_in["currentSession"],
        json!({"bigcommerceUserId": "77", "bigcommerceStore": {"storeHash": "abc"}, "roles": [{"key": "Role-BigCommerce-App"}]})
    );
    let full = app.data_as(&auth, SESSION, json!({})).await;
    assert_eq!(full["currentSession"]["bigcommerceStoreId"], store.to_string());
    let session_id = full["currentSession"]["id"].clone();
    assert!(session_id.is_string());
    // The same user gets the same session on every request.
    let again = app
        .data_as(&payload::header(&payload::jwt("abc", 77)), SESSION, json!({}))
        .await;
    assert_eq!(again["currentSession"]["id"], session_id);
    let products = app.data_as(&auth, PRODUCTS, json!({})).await;
    assert_eq!(
        products["bigcommerce"]["products"]["edges"],
        json!([{"node": {"name": "Mug"}}])
    );
    let (_, anonymous) = app.gql_as(None, doc, json!({})).await;
    assert_eq!(
        anonymous["data"]["currentSession"]["roles"],
        json!([{"key": "unauthenticated"}])
    );
    // The legacy signed_payload works the same.
    let legacy = app
        .data_as(&payload::header(&payload::legacy("abc", 78)), doc, json!({}))
        .await;
    assert_eq!(legacy["currentSession"]["bigcommerceUserId"], "78");
}

#[tokio::test]
async fn forged_and_stale_credentials_are_refused() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let gone = seed::store(&app.db, "gone").await;
    seed::product(&app.db, store, 1, "Mug", |_| {}).await;
    uninstall(&app, gone).await;
    let good = payload::claims("abc", 5);
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let token = payload::jwt("abc", 5);
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong signature",
            payload::header(&format!("{}x", &token[..token.len() - 1])),
        ),
        ("alg none", payload::header(&payload::unsigned(&good))),
        (
            "another secret",
            payload::header(&payload::jwt_with(&good, "not-the-client-secret")),
        ),
        (
            "wrong aud",
            payload::header(&payload::jwt_with(
                &with("aud", json!("another-app")),
                crate::support::CLIENT_SECRET,
            )),
        ),
        (
            "wrong iss",
            payload::header(&payload::jwt_with(
                &with("iss", json!("evil")),
                crate::support::CLIENT_SECRET,
            )),
        ),
        (
            "expired",
            payload::header(&payload::jwt_with(
                &with("exp", json!(now - 60)),
                crate::support::CLIENT_SECRET,
            )),
        ),
        (
            "not yet valid",
            payload::header(&payload::jwt_with(
                &with("nbf", json!(now + 600)),
                crate::support::CLIENT_SECRET,
            )),
        ),
        ("uninstalled store", payload::header(&payload::jwt("gone", 5))),
        ("unknown store", payload::header(&payload::jwt("nosuch", 5))),
        ("truncated", payload::header(&token[..token.len() / 2])),
        ("garbage", payload::header("garbage")),
        ("empty payload", "BigCommerceSignedPayload".to_owned()),
        (
            "unknown API key",
            "Bearer bcg_0000000000000000000000000000000000000000".to_owned(),
        ),
        ("not a key", "Bearer hello".to_owned()),
        ("unknown scheme", "Basic dXNlcjpwYXNz".to_owned()),
    ];
    for (name, auth) in cases {
        let (_, response) = app.gql_as(Some(&auth), PRODUCTS, json!({})).await;
        assert_eq!(
            error_codes(&response),
            ["GGT_PERMISSION_DENIED"],
            "{name}: {response}"
        );
        assert_eq!(response["data"], Value::Null, "{name}: no data");
    }
    // A session token that is not ours is answered as a new anonymous session (with a
    // fresh token, as the client expects), which reads nothing.
    for (name, token) in [
        (
            "forged session",
            payload::jwt_with(&json!({"sid": "1", "exp": now + 600}), "guess"),
        ),
        (
            "forged anonymous session",
            payload::jwt_with(&json!({"aid": "4611686018427387905", "exp": now + 600}), "guess"),
        ),
        ("garbage session", "abc.def.ghi".to_owned()),
    ] {
        let auth = format!("Session {token}");
        let (headers, response) = app.gql_as(Some(&auth), SESSION, json!({})).await;
        let fresh = headers
            .get("x-set-authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            fresh
                .as_deref()
                .is_some_and(|t| t.starts_with("Session ") && t != auth),
            "{name}: {fresh:?}"
        );
        let session = &response["data"]["currentSession"];
        assert_eq!(
            session["roles"],
            json!([{"key": "unauthenticated", "name": "Unauthenticated"}]),
            "{name}"
        );
        assert_ne!(session["id"], "1", "{name}");
        let (_, denied) = app.gql_as(Some(&auth), PRODUCTS, json!({})).await;
        assert_eq!(error_codes(&denied), ["GGT_PERMISSION_DENIED"], "{name}");
    }
    // A session of a store that has since uninstalled ends with it.
    let session = app
        .data_as(&payload::header(&payload::jwt("abc", 6)), SESSION, json!({}))
        .await;
    assert!(session["currentSession"]["id"].is_string());
    uninstall(&app, store).await;
    let (_, response) = app
        .gql_as(
            Some(&payload::header(&payload::jwt("abc", 7))),
            PRODUCTS,
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&response), ["GGT_PERMISSION_DENIED"]);
}

#[tokio::test]
async fn api_keys_from_the_cli_work_until_revoked() {
    let app = TestApp::start().await;
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
            .args(args)
            .env("DATABASE_URL", app.database_url())
            .env("RUST_LOG", "error")
            .output()
            .expect("run bcgraph");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let key = cli(&["api-key", "create", "--role", "system-admin", "--name", "backend"])
        .trim()
        .to_owned();
    assert!(key.starts_with("bcg_"), "{key}");
    let listing = cli(&["api-key", "list"]);
    assert!(
        listing.contains("backend") && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&key), "the key itself is never listed");
    let auth = format!("Bearer {key}");
    let session = app.data_as(&auth, SESSION, json!({})).await;
    assert_eq!(
        session["currentSession"]["roles"],
        json!([{"key": "system-admin", "name": "System Admin"}])
    );
    assert_eq!(
        session["currentSession"]["id"],
        Value::Null,
        "API keys have no session"
    );
    cli(&["api-key", "revoke", "backend"]);
    let (_, revoked) = app.gql_as(Some(&auth), SESSION, json!({})).await;
    assert_eq!(error_codes(&revoked), ["GGT_PERMISSION_DENIED"]);
    assert!(cli(&["api-key", "list"]).contains("revoked"));
}

#[tokio::test]
async fn websocket_credentials_come_from_connection_init() {
    let app = TestApp::start().await;
    seed::store(&app.db, "abc").await;
    let ask = |auth: Value| {
        let url = app.url.replace("http://", "ws://") + "/api/graphql/batch";
        async move {
            let mut request = url.into_client_request().unwrap();
            request
                .headers_mut()
                .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            ws.send(Message::text(
                json!({"type": "connection_init", "payload": {"auth": auth}}).to_string(),
            ))
            .await
            .unwrap();
            let mut messages = Vec::new();
            let (mut completed, mut ponged) = (false, false);
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    if let Message::Close(frame) = message {
                        messages.push(json!({"closed": frame.map(|f| u16::from(f.code))}));
                    }
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                match value["type"].as_str() {
                    Some("connection_ack") => {
                        ws.send(Message::text(
                            json!({"id": "1", "type": "subscribe", "payload": {"query": SESSION}})
                                .to_string(),
                        ))
                        .await
                        .unwrap();
                        ws.send(Message::text(json!({"type": "ping"}).to_string()))
                            .await
                            .unwrap();
                    }
                    Some("complete") => completed = true,
                    Some("pong") => {
                        ponged = true;
                        messages.push(value);
                    }
                    _ => messages.push(value),
                }
                if completed && ponged {
                    break;
                }
            }
            messages
        }
    };
    let signed_in = ask(json!({"type": "custom", "bigcommerceSignedPayload": payload::jwt("abc", 3)})).await;
    let next = signed_in.iter().find(|m| m["type"] == "next").expect("a result");
    assert_eq!(
        next["payload"]["data"]["currentSession"]["bigcommerceStore"]["storeHash"],
        "abc"
    );
    assert!(
        signed_in.iter().any(|m| m["type"] == "pong"),
        "ping is answered: {signed_in:?}"
    );
    let admin = ask(json!({"type": "api-key", "key": app.admin_key})).await;
    let next = admin.iter().find(|m| m["type"] == "next").expect("a result");
    assert_eq!(
        next["payload"]["data"]["currentSession"]["roles"][0]["key"],
        "system-admin"
    );
    let forged = ask(json!({"type": "custom", "bigcommerceSignedPayload": "forged.jwt.payload"})).await;
    assert!(
        forged.iter().all(|m| m["type"] != "next"),
        "no data for forged credentials: {forged:?}"
    );
}

#[tokio::test]
async fn cors_allows_configured_origins() {
    let app = TestApp::start().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/api/graphql", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-gadget-environment",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    let headers = allowed.headers();
    assert_eq!(
        headers.get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    let allowed_headers = headers
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("x-gadget-environment"));
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let post = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/json")
        .body(json!({"query": "{ currentSession { id } }"}).to_string())
        .send()
        .await
        .unwrap();
    let expose = post
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(expose.contains("x-set-authorization"));
}
