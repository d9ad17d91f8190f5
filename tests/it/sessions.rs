//! Sessions at the wire: anonymous sessions cost nothing to store (M1), an anonymous
//! token resumes its session without the database, an expired one is answered as a new
//! session, a kept session becomes a row, a store user's first requests share one row
//! (L5), and expired rows are purged in batches (also by `bcgraph serve`).

use crate::support::{TestApp, count_rows, payload, seed, ws};
use entity::internal::{session, used_payload};
use futures::StreamExt;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SESSION: &str = "{ currentSession { id roles { key } } }";

async fn sessions(app: &TestApp) -> i64 {
    count_rows(&app.db, "bcgraph_session", "1 = 1").await
}

fn new_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("x-set-authorization")
        .map(|v| v.to_str().expect("text").to_owned())
}

/// `currentSession` over a websocket authenticated with `auth`.
async fn websocket_session(app: &TestApp, auth: Value) -> Value {
    let (mut ws, _) = ws::connect(app, auth).await;
    ws::subscribe(&mut ws, "1", SESSION, json!({})).await;
    let answer = ws::next_json(&mut ws, Duration::from_secs(15))
        .await
        .expect("an answer");
    assert_eq!(answer["type"], "next", "{answer}");
    answer["payload"]["data"]["currentSession"].clone()
}

#[tokio::test]
async fn ten_thousand_anonymous_requests_store_nothing() {
    // One address sends them all: its rate limit is not what this test is about.
    let app = TestApp::start_configured(Default::default(), &[("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0")]).await;
    assert_eq!(sessions(&app).await, 0);
    let statements = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let answers: Vec<(Option<String>, Value)> = futures::stream::iter(0..10_000)
        .map(|i| {
            let app = &app;
            async move {
                let document = if i % 2 == 0 { "{ __typename }" } else { SESSION };
                let (headers, body) = app.gql_as(None, document, json!({})).await;
                (new_token(&headers), body)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let elapsed = started.elapsed();
    println!(
        "10,000 credential-less requests (32 at a time): {:.2} s, {:.0} requests/s",
        elapsed.as_secs_f64(),
        10_000.0 / elapsed.as_secs_f64()
    );
    let mut ids = std::collections::HashSet::new();
    for (token, body) in &answers {
        assert!(
            token.as_deref().is_some_and(|t| t.starts_with("Session ")),
            "each answer hands out a session token: {token:?}"
        );
        assert!(body["errors"].is_null(), "{body}");
        if let Some(session) = body["data"].get("currentSession") {
            assert_eq!(session["roles"], json!([{"key": "unauthenticated"}]));
            ids.insert(session["id"].as_str().expect("an id").to_owned());
        } else {
            assert_eq!(body["data"]["__typename"], "Query");
        }
    }
    assert_eq!(ids.len(), 5_000, "every new session has an id of its own");
    // An invalid document and websocket connections without credentials store nothing either.
    let (headers, invalid) = app.gql_as(None, "{ nosuchfield }", json!({})).await;
    assert!(invalid["errors"].is_array() && new_token(&headers).is_some());
    for auth in [json!({"type": "anonymous"}), Value::Null] {
        let session = websocket_session(&app, auth).await;
        assert_eq!(session["roles"], json!([{"key": "unauthenticated"}]));
    }
    assert_eq!(sessions(&app).await, 0, "no session row was written");
    assert_eq!(
        app.count_since(statements),
        1,
        "not one statement but the count above"
    );
}

#[tokio::test]
async fn an_anonymous_token_resumes_its_session_without_the_database() {
    let app = TestApp::start().await;
    let (headers, first) = app.gql_as(None, SESSION, json!({})).await;
    let token = new_token(&headers).expect("a token");
    let id = first["data"]["currentSession"]["id"].clone();
    let statements = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..20 {
        let (headers, again) = app.gql_as(Some(&token), SESSION, json!({})).await;
        assert_eq!(again["data"]["currentSession"]["id"], id);
        assert_eq!(new_token(&headers), None, "the same session needs no new token");
    }
    let session_token = token.trim_start_matches("Session ").to_owned();
    let over_socket = websocket_session(
        &app,
        json!({"type": "browser-session", "sessionToken": session_token}),
    )
    .await;
    assert_eq!(over_socket["id"], id);
    assert_eq!(app.count_since(statements), 0, "no database read or write");
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn an_expired_anonymous_token_is_answered_as_a_new_session() {
    let app =
        TestApp::start_configured(Default::default(), &[("BCGRAPH_SESSION_LIFETIME_SECONDS", "1")]).await;
    let (headers, first) = app.gql_as(None, SESSION, json!({})).await;
    let token = new_token(&headers).expect("a token");
    let id = first["data"]["currentSession"]["id"].clone();
    let (headers, again) = app.gql_as(Some(&token), SESSION, json!({})).await;
    assert_eq!(again["data"]["currentSession"]["id"], id, "still valid");
    assert_eq!(new_token(&headers), None);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (headers, later) = app.gql_as(Some(&token), SESSION, json!({})).await;
    assert!(later["errors"].is_null(), "never a refusal: {later}");
    let session = &later["data"]["currentSession"];
    assert_ne!(session["id"], id, "a new session");
    assert_eq!(session["roles"], json!([{"key": "unauthenticated"}]));
    let fresh = new_token(&headers).expect("with a fresh token");
    assert_ne!(fresh, token);
    let (_, resumed) = app.gql_as(Some(&fresh), SESSION, json!({})).await;
    assert_eq!(resumed["data"]["currentSession"]["id"], session["id"]);
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn a_kept_anonymous_session_becomes_a_row_with_the_same_id() {
    let app = TestApp::start().await;
    let (headers, first) = app.gql_as(None, SESSION, json!({})).await;
    let token = new_token(&headers).expect("a token");
    let id: i64 = first["data"]["currentSession"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // What the gateway does the day something is stored in a session.
    let auth = app.auth(&[]).await;
    let resumed = auth.authenticate(Some(&token)).await.unwrap().identity;
    assert!(resumed.stateless_session);
    let kept = auth.persist_session(&resumed).await.unwrap();
    let row = session::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a row");
    assert_eq!(Some(row.expires_at), resumed.expires_at);
    assert_eq!(row.store_id, None);
    let kept = format!("Session {kept}");
    let statements = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let (headers, again) = app.gql_as(Some(&kept), SESSION, json!({})).await;
    assert_eq!(again["data"]["currentSession"]["id"], id.to_string());
    assert_eq!(new_token(&headers), None);
    assert!(
        app.count_since(statements) > 0,
        "a kept session is read from its row"
    );
    // Its row gone, the token is answered as a new anonymous session.
    session::Entity::delete_by_id(id).exec(&app.db).await.unwrap();
    let (headers, ended) = app.gql_as(Some(&kept), SESSION, json!({})).await;
    assert_ne!(ended["data"]["currentSession"]["id"], id.to_string());
    assert!(new_token(&headers).is_some());
}

#[tokio::test]
async fn a_store_users_first_requests_share_one_session() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    for user in [41, 42, 43] {
        // Twenty first requests at once, each with a payload of its own (no cache helps).
        let ids: Vec<Value> = futures::future::join_all((0..20).map(|_| {
            let auth = payload::header(&payload::jwt("abc", user));
            let app = &app;
            async move { app.data_as(&auth, SESSION, json!({})).await["currentSession"]["id"].clone() }
        }))
        .await;
        assert!(
            ids.iter().all(|id| id == &ids[0] && id.is_string()),
            "user {user}: {ids:?}"
        );
        let condition = format!("\"store_id\" = {store} AND \"bigcommerce_user_id\" = '{user}'");
        assert_eq!(
            count_rows(&app.db, "bcgraph_session", &condition).await,
            1,
            "user {user}"
        );
    }
    // An expired session is renewed in place: same row, same id.
    let row = session::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .expect("a session");
    let user: i64 = row.bigcommerce_user_id.clone().unwrap().parse().unwrap();
    let mut expired: session::ActiveModel = row.clone().into();
    expired.expires_at = Set(chrono::Utc::now() - chrono::Duration::hours(1));
    expired.update(&app.db).await.unwrap();
    let renewed = app
        .data_as(&payload::header(&payload::jwt("abc", user)), SESSION, json!({}))
        .await;
    assert_eq!(renewed["currentSession"]["id"], row.id.to_string());
    let after = session::Entity::find_by_id(row.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(after.expires_at > chrono::Utc::now() + chrono::Duration::days(29));
    assert_eq!(sessions(&app).await, 3);
}

/// `n` session rows and remembered payloads that expired an hour ago (or expire in an
/// hour when `live`).
async fn rows(app: &TestApp, n: usize, live: bool, tag: &str) {
    let now = chrono::Utc::now();
    let expires_at = if live {
        now + chrono::Duration::hours(1)
    } else {
        now - chrono::Duration::hours(1)
    };
    let sessions: Vec<session::ActiveModel> = (0..n)
        .map(|_| session::ActiveModel {
            created_at: Set(now),
            updated_at: Set(now),
            expires_at: Set(expires_at),
            roles: Set(json!(["unauthenticated"])),
            store_id: Set(None),
            bigcommerce_user_id: Set(None),
            ..Default::default()
        })
        .collect();
    for chunk in sessions.chunks(200) {
        session::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
    let payloads: Vec<used_payload::ActiveModel> = (0..n)
        .map(|i| used_payload::ActiveModel {
            key: Set(format!("jti:{tag}:{i}")),
            expires_at: Set(expires_at),
        })
        .collect();
    for chunk in payloads.chunks(200) {
        used_payload::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn purge_deletes_expired_rows_only_in_batches() {
    let app = TestApp::start().await;
    rows(&app, 1_250, false, "old").await;
    rows(&app, 7, true, "live").await;
    let purged = bcgraph::auth::purge::expired(&app.db, 100).await.unwrap();
    assert_eq!((purged.sessions, purged.used_payloads), (1_250, 1_250));
    assert_eq!(
        purged.batches, 26,
        "13 statements per table, the last finding fewer than 100"
    );
    let now = chrono::Utc::now();
    let live = session::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(live.len(), 7);
    assert!(live.iter().all(|s| s.expires_at > now));
    let kept = used_payload::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(kept.len(), 7);
    assert!(kept.iter().all(|p| p.key.starts_with("jti:live:")));
    assert_eq!(
        bcgraph::auth::purge::expired(&app.db, 100).await.unwrap(),
        bcgraph::auth::purge::Purged {
            sessions: 0,
            used_payloads: 0,
            batches: 2
        }
    );
}

#[tokio::test]
async fn serve_purges_on_its_schedule() {
    let app = TestApp::start().await;
    rows(&app, 300, false, "old").await;
    rows(&app, 2, true, "live").await;
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_LISTEN", "127.0.0.1:0")
        .env("BCGRAPH_SECRET", crate::support::TEST_SECRET)
        .env("BCGRAPH_WORKERS", "0")
        .env("BCGRAPH_SYNC_INTERVAL_SECONDS", "0")
        .env("BCGRAPH_PURGE_INTERVAL_SECONDS", "1")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("bcgraph serve starts");
    // Generous deadlines: the process starts and migrates first, on a machine that may be busy.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sessions(&app).await > 2 || count_rows(&app.db, "bcgraph_used_payload", "1 = 1").await > 2 {
        assert!(Instant::now() < deadline, "serve did not purge within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Expired rows written while it runs go at its next round (sessions and used payloads
    // are separate statements, so wait for both).
    rows(&app, 5, false, "later").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sessions(&app).await > 2 || count_rows(&app.db, "bcgraph_used_payload", "1 = 1").await > 2 {
        assert!(Instant::now() < deadline, "serve did not purge again within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sessions(&app).await, 2);
    serve.kill().await.expect("stop bcgraph serve");
}
