//! Signed payloads over time, at the wire: a removed user's earlier payloads stay
//! refused, the legacy form goes stale, and the uninstall and remove-user callbacks take
//! only a fresh payload, once, and an uninstall only when BigCommerce agrees.

use crate::single_click::{fake, gateway, get, install_path, store_row, store_row_id};
use crate::support::{CLIENT_SECRET, TestApp, count_rows, error_codes, payload, seed};
use fake_bigcommerce::OAuthGrant;
use serde_json::{Value, json};
use std::time::Duration;

const SESSION: &str = "{ currentSession { id bigcommerceUserId roles { key } } }";

/// A JWT for `user` issued `age` seconds ago (exp a day after issue, as BigCommerce's).
fn jwt_issued(hash: &str, user: i64, age: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = payload::claims(hash, user);
    claims["iat"] = json!(now - age);
    claims["nbf"] = json!(now - age - 5);
    claims["exp"] = json!(now - age + 86_400);
    payload::jwt_with(&claims, CLIENT_SECRET)
}

async fn session_of(app: &TestApp, payload: &str) -> Value {
    let (_, response) = app
        .gql_as(Some(&payload::header(payload)), SESSION, json!({}))
        .await;
    response
}

fn session_id(response: &Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["currentSession"]["id"].clone()
}

/// The session rows of one staff user.
async fn sessions_of(app: &TestApp, store: i64, user: &str) -> i64 {
    let condition = format!("\"store_id\" = {store} AND \"bigcommerce_user_id\" = '{user}'");
    count_rows(&app.db, "bcgraph_session", &condition).await
}

async fn removed(app: &TestApp, store: i64, user: &str) -> i64 {
    let condition = format!("\"store_id\" = {store} AND \"bigcommerce_user_id\" = '{user}'");
    count_rows(&app.db, "bcgraph_removed_user", &condition).await
}

#[tokio::test]
async fn a_removed_users_earlier_payloads_stay_refused() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    let app = gateway(&fake).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let store = store_row_id(&app, "abc").await;
    // Payloads the frontend holds, issued before the removal: a JWT and a legacy one.
    let staff = payload::jwt("abc", 21);
    let staff_legacy = payload::legacy("abc", 21);
    let other = payload::jwt("abc", 22);
    let first = session_id(&session_of(&app, &staff).await);
    assert_eq!(session_id(&session_of(&app, &staff_legacy).await), first);
    let kept = session_id(&session_of(&app, &other).await);
    assert_eq!(sessions_of(&app, store, "21").await, 1);

    let remove = format!(
        "/bigcommerce/remove_user?signed_payload_jwt={}",
        payload::jwt("abc", 21)
    );
    assert_eq!(get(&app, &remove).await.0, 200);
    assert_eq!(removed(&app, store, "21").await, 1, "the removal is recorded");
    assert_eq!(sessions_of(&app, store, "21").await, 0, "its session ended");

    // The same payloads, still within their lifetime, no longer sign in: no session is
    // made again.
    for (name, earlier) in [("jwt", &staff), ("legacy", &staff_legacy)] {
        let refused = session_of(&app, earlier).await;
        assert_eq!(
            error_codes(&refused),
            ["GGT_PERMISSION_DENIED"],
            "{name}: {refused}"
        );
        assert_eq!(refused["data"], Value::Null);
    }
    assert_eq!(sessions_of(&app, store, "21").await, 0);
    // Another user of the store is untouched.
    assert_eq!(session_id(&session_of(&app, &other).await), kept);

    // Added again: what BigCommerce issues from now on works, with a new session.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = session_id(&session_of(&app, &payload::jwt("abc", 21)).await);
    assert_ne!(again, first);
    assert_eq!(
        session_id(&session_of(&app, &payload::legacy("abc", 21)).await),
        again
    );
    assert_eq!(sessions_of(&app, store, "21").await, 1);
}

#[tokio::test]
async fn legacy_payloads_go_stale() {
    let app = TestApp::start().await;
    seed::store(&app.db, "abc").await;
    let now = chrono::Utc::now().timestamp();
    let at = |age: i64| payload::legacy_at("abc", 5, json!(now - age));
    // BigCommerce's own legacy payloads carry a fractional timestamp.
    let fractional = payload::legacy_at("abc", 5, json!(now as f64 - 0.25));
    for (name, good) in [
        ("now", at(0)),
        ("23 h", at(23 * 3600)),
        ("fractional", fractional),
    ] {
        assert!(session_of(&app, &good).await["errors"].is_null(), "{name}");
    }
    let stale = [
        ("25 h old", at(25 * 3600)),
        ("from 2026-01-01", at(now - 1_767_225_600)),
        ("no timestamp", payload::legacy_at("abc", 5, Value::Null)),
        ("an hour ahead", at(-3600)),
    ];
    for (name, refused) in &stale {
        let response = session_of(&app, refused).await;
        assert_eq!(
            error_codes(&response),
            ["GGT_PERMISSION_DENIED"],
            "{name}: {response}"
        );
        assert_eq!(response["data"], Value::Null, "{name}");
        // Nor does the load callback take one (it is how a logged URL would be replayed).
        let (status, _, location) = get(
            &app,
            &format!("/bigcommerce/load?signed_payload={}", urlencode(refused)),
        )
        .await;
        assert_eq!((status, location), (401, None), "{name}");
    }
    let (status, _, _) = get(
        &app,
        &format!("/bigcommerce/load?signed_payload={}", urlencode(&at(60))),
    )
    .await;
    assert_eq!(status, 303, "a fresh one loads the app");

    // The maximum age is a setting.
    let strict = TestApp::start_configured(
        Default::default(),
        &[("BCGRAPH_LEGACY_PAYLOAD_MAX_AGE_SECONDS", "600")],
    )
    .await;
    seed::store(&strict.db, "abc").await;
    assert!(session_of(&strict, &at(60)).await["errors"].is_null());
    let response = session_of(&strict, &at(700)).await;
    assert_eq!(error_codes(&response), ["GGT_PERMISSION_DENIED"], "{response}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

#[tokio::test]
async fn uninstall_takes_a_fresh_payload_once_and_only_when_bigcommerce_agrees() {
    let fake = fake(vec![
        OAuthGrant::new("code-1", "abc", "token-one"),
        OAuthGrant::new("code-2", "abc", "token-two"),
    ])
    .await;
    let app = gateway(&fake).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let uninstall = |jwt: &str| format!("/bigcommerce/uninstall?signed_payload_jwt={jwt}");
    let installed = || async {
        store_row(&app, "abc")
            .await
            .map(|(state, token)| (state, token.is_some()))
    };
    let still = Some(("installed".to_owned(), true));

    // The load JWT the frontend sends on every request (issued at load, ten minutes ago).
    let load = jwt_issued("abc", 7, 600);
    assert!(
        session_id(&session_of(&app, &load).await).is_string(),
        "it is a good payload"
    );
    let (status, body, _) = get(&app, &uninstall(&load)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(installed().await, still);

    // A fresh payload while BigCommerce still accepts the store's token: refused.
    let (status, body, _) = get(&app, &uninstall(&payload::jwt("abc", 1))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("installed"), "{body}");
    assert_eq!(installed().await, still);
    let hooks = fake.store("abc").unwrap().with_data(|d| d.hooks.len());
    assert!(hooks > 0);

    // The merchant uninstalls: BigCommerce revokes the token, then calls back.
    fake.store("abc").unwrap().uninstall_app();
    let (status, _, _) = get(&app, &uninstall(&load)).await;
    assert_eq!(status, 401, "the stale load JWT still cannot uninstall");
    assert_eq!(installed().await, still);
    let real = payload::jwt("abc", 1);
    let (status, body, _) = get(&app, &uninstall(&real)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(store_row(&app, "abc").await, Some(("uninstalled".into(), None)));
    assert_eq!(
        count_rows(&app.db, "bcgraph_used_payload", "1 = 1").await,
        1,
        "its jti is remembered"
    );

    // Reinstalled, then uninstalled at BigCommerce again: the earlier callback's payload
    // (still fresh) does not count twice.
    assert_eq!(get(&app, &install_path("code-2", "abc")).await.0, 200);
    fake.store("abc").unwrap().uninstall_app();
    let (status, body, _) = get(&app, &uninstall(&real)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("already used"), "{body}");
    assert_eq!(installed().await, still);
    let (status, _, _) = get(&app, &uninstall(&payload::jwt("abc", 1))).await;
    assert_eq!(status, 200);
    assert_eq!(store_row(&app, "abc").await, Some(("uninstalled".into(), None)));
}

#[tokio::test]
async fn remove_user_takes_a_fresh_payload_once() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    let app = gateway(&fake).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let store = store_row_id(&app, "abc").await;
    let remove = |query: &str| format!("/bigcommerce/remove_user?{query}");

    // Any staff user's load JWT (ten minutes old) removes nobody.
    let (status, _, _) = get(
        &app,
        &remove(&format!("signed_payload_jwt={}", jwt_issued("abc", 32, 600))),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(removed(&app, store, "32").await, 0);

    let once = payload::jwt("abc", 31);
    assert_eq!(
        get(&app, &remove(&format!("signed_payload_jwt={once}"))).await.0,
        200
    );
    assert_eq!(removed(&app, store, "31").await, 1);
    // Added again later, the user signs in; replaying the removal changes nothing.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let back = session_id(&session_of(&app, &payload::jwt("abc", 31)).await);
    let (status, body, _) = get(&app, &remove(&format!("signed_payload_jwt={once}"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("already used"), "{body}");
    assert_eq!(sessions_of(&app, store, "31").await, 1);
    assert_eq!(
        session_id(&session_of(&app, &payload::jwt("abc", 31)).await),
        back
    );

    // The legacy form is good once too.
    let legacy = urlencode(&payload::legacy("abc", 33));
    assert_eq!(
        get(&app, &remove(&format!("signed_payload={legacy}"))).await.0,
        200
    );
    assert_eq!(removed(&app, store, "33").await, 1);
    assert_eq!(
        get(&app, &remove(&format!("signed_payload={legacy}"))).await.0,
        401
    );
    assert_eq!(count_rows(&app.db, "bcgraph_used_payload", "1 = 1").await, 2);
}
