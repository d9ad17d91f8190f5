//! The single-click app with the fake BigCommerce playing the control panel:
//! install (code exchange), load, uninstall, reinstall, and forged callbacks that must
//! change nothing. Removing users and replayed or stale payloads: `signed_payloads.rs`.

use crate::support::{CLIENT_ID, CLIENT_SECRET, TestApp, error_codes, payload, seed};
use bcgraph::bigcommerce::access_token;
use bcgraph::queue::{Job, Options};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, OAuthGrant, OAuthOptions, StoreSpec};
use serde_json::{Value, json};

const PRODUCTS: &str = "{ bigcommerce { products { edges { node { name } } } } }";

pub(crate) async fn fake(grants: Vec<OAuthGrant>) -> FakeBigCommerce {
    let oauth = OAuthOptions {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        grants,
    };
    FakeBigCommerce::start(
        FakeOptions::default()
            .store(StoreSpec::new("abc", "unused").products(2))
            .oauth(oauth),
    )
    .await
    .expect("fake BigCommerce")
}

pub(crate) async fn gateway(fake: &FakeBigCommerce) -> TestApp {
    TestApp::start_configured(
        Default::default(),
        &[
            ("BIGCOMMERCE_LOGIN_URL", fake.url()),
            ("BIGCOMMERCE_API_URL", fake.url()),
        ],
    )
    .await
}

/// A client that does not follow redirects, as the assertions read them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn get(app: &TestApp, path: &str) -> (u16, String, Option<String>) {
    let response = browser().get(format!("{}{path}", app.url)).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

/// `(state, access token)` of a store, as stored.
pub(crate) async fn store_row(app: &TestApp, hash: &str) -> Option<(String, Option<String>)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::bigcommerce::store::Entity::find()
        .filter(entity::bigcommerce::store::Column::StoreHash.eq(hash))
        .one(&app.db)
        .await
        .unwrap()
        .map(|s| (s.state, s.access_token))
}

pub(crate) fn install_path(code: &str, hash: &str) -> String {
    format!("/bigcommerce/auth?code={code}&scope=store_v2_products&context=stores/{hash}&account_uuid=u-1")
}

#[tokio::test]
async fn install_load_uninstall_reinstall() {
    let fake = fake(vec![
        OAuthGrant::new("code-1", "abc", "token-one"),
        OAuthGrant::new("code-2", "abc", "token-two"),
    ])
    .await;
    let app = gateway(&fake).await;

    let (status, body, _) = get(&app, &install_path("code-1", "abc")).await;
    assert_eq!(status, 200, "{body}");
    let (state, token) = store_row(&app, "abc").await.expect("the store is recorded");
    assert_eq!(state, "installed");
    let sealed = token.expect("a token is kept");
    assert!(
        !sealed.contains("token-one"),
        "the access token is encrypted at rest"
    );
    assert_eq!(
        access_token::open(&app.api_secret(), &sealed),
        access_token::Opened::Current("token-one".into())
    );
    // The install queued the store's first sync: a full one.
    let first = syncs(&app).await;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].state.as_str(), first[0].sync_since), ("created", None));
    let first_job = format!("bigcommerce-sync-{}", first[0].id);
    assert!(app.api.background_action(&first_job).await.unwrap().is_some());
    // The install registered the webhooks at BigCommerce, each with the store's secret header.
    let destination = format!("{}/webhooks/bigcommerce", app.url);
    let hooks: Vec<(String, bool, bool)> = fake.store("abc").unwrap().with_data(|d| {
        d.hooks
            .values()
            .filter(|h| h.destination == destination)
            .map(|h| {
                (
                    h.scope.clone(),
                    h.is_active,
                    h.headers
                        .as_ref()
                        .is_some_and(|x| x.contains_key("x-webhook-secret")),
                )
            })
            .collect()
    });
    assert!(
        hooks.iter().any(|(scope, _, _)| scope == "store/product/*"),
        "{hooks:?}"
    );
    assert!(
        hooks.iter().all(|(_, active, secret)| *active && *secret),
        "{hooks:?}"
    );
    // The install registered the webhooks at BigCommerce, each with the store's secret header.
    let destination = format!("{}/webhooks/bigcommerce", app.url);
    let hooks: Vec<(String, bool, bool)> = fake.store("abc").unwrap().with_data(|d| {
        d.hooks
            .values()
            .filter(|h| h.destination == destination)
            .map(|h| {
                (
                    h.scope.clone(),
                    h.is_active,
                    h.headers
                        .as_ref()
                        .is_some_and(|x| x.contains_key("x-webhook-secret")),
                )
            })
            .collect()
    });
    assert!(
        hooks.iter().any(|(scope, _, _)| scope == "store/product/*"),
        "{hooks:?}"
    );
    assert!(
        hooks.iter().all(|(_, active, secret)| *active && *secret),
        "{hooks:?}"
    );
    // A code is good once.
    let (status, body, _) = get(&app, &install_path("code-1", "abc")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("refused"), "{body}");

    // Load: the frontend gets the payload in its URL and signs in with it.
    let jwt = payload::jwt("abc", 11);
    let (status, _, location) = get(&app, &format!("/bigcommerce/load?signed_payload_jwt={jwt}")).await;
    assert_eq!(status, 303);
    let location = location.expect("a redirect");
    let carried = location
        .split("signed_payload=")
        .nth(1)
        .expect("the payload travels");
    assert_eq!(carried, jwt);
    let store = store_row_id(&app, "abc").await;
    seed::product(&app.db, store, 1, "Ours", |_| {}).await;
    let other = seed::store(&app.db, "xyz").await;
    seed::product(&app.db, other, 1, "Theirs", |_| {}).await;
    let auth = payload::header(carried);
    let products = app.data_as(&auth, PRODUCTS, json!({})).await;
    assert_eq!(
        products["bigcommerce"]["products"]["edges"],
        json!([{"node": {"name": "Ours"}}])
    );

    // Work queued for the store, waiting for its time.
    let as_store = app.api.within_store(store);
    let later = Options::from_json(&json!({"startAt": "2099-01-01T00:00:00.000Z"})).unwrap();
    let job = Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": 1}));
    let queued = as_store.enqueue(&job, &later).await.unwrap();

    // Uninstall: the store stays with its data; its token, sessions and queued work go.
    // The merchant uninstalls at BigCommerce, which revokes the token, then calls back.
    fake.store("abc").unwrap().uninstall_app();
    let uninstall = format!(
        "/bigcommerce/uninstall?signed_payload_jwt={}",
        payload::jwt("abc", 1)
    );
    let (status, _, _) = get(&app, &uninstall).await;
    assert_eq!(status, 200);
    let job = app
        .api
        .background_action(&queued)
        .await
        .unwrap()
        .expect("the job is kept");
    assert_eq!(job.outcome.as_deref(), Some("cancelled"), "{job:?}");
    assert_eq!(store_row(&app, "abc").await, Some(("uninstalled".into(), None)));
    // Its sync was aborted, and its job cancelled with the rest.
    assert_eq!(syncs(&app).await[0].state, "aborted");
    let sync_job = app.api.background_action(&first_job).await.unwrap().unwrap();
    assert_eq!(sync_job.outcome.as_deref(), Some("cancelled"));
    let (_, refused) = app.gql_as(Some(&auth), PRODUCTS, json!({})).await;
    assert_eq!(error_codes(&refused), ["GGT_PERMISSION_DENIED"]);
    let (status, _, _) = get(&app, &format!("/bigcommerce/load?signed_payload_jwt={jwt}")).await;
    assert_eq!(status, 401, "an uninstalled store cannot load the app");

    // Reinstall brings it back, data and all.
    let (status, _, _) = get(&app, &install_path("code-2", "abc")).await;
    assert_eq!(status, 200);
    let (state, token) = store_row(&app, "abc").await.unwrap();
    assert_eq!(state, "installed");
    // With no sync ever completed, the reinstall's sync is a full one again.
    let again = syncs(&app).await;
    assert_eq!(again.len(), 2);
    assert_eq!((again[1].state.as_str(), again[1].sync_since), ("created", None));
    assert_eq!(
        access_token::open(&app.api_secret(), &token.unwrap()),
        access_token::Opened::Current("token-two".into())
    );
    let products = app.data_as(&auth, PRODUCTS, json!({})).await;
    assert_eq!(
        products["bigcommerce"]["products"]["edges"],
        json!([{"node": {"name": "Ours"}}])
    );
}

async fn syncs(app: &TestApp) -> Vec<entity::bigcommerce::sync::Model> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::bigcommerce::sync::Entity::find()
        .order_by_asc(entity::bigcommerce::sync::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

pub(crate) async fn store_row_id(app: &TestApp, hash: &str) -> i64 {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::bigcommerce::store::Entity::find()
        .filter(entity::bigcommerce::store::Column::StoreHash.eq(hash))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn forged_callbacks_change_nothing() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    let app = gateway(&fake).await;
    // A code the fake rejects, and a code replayed for another store's context.
    for path in [
        install_path("wrong-code", "abc"),
        install_path("code-1", "xyz"),
        "/bigcommerce/auth?code=code-1".to_owned(),
    ] {
        let (status, body, _) = get(&app, &path).await;
        assert!(status >= 400, "{path}: {status} {body}");
    }
    assert_eq!(store_row(&app, "abc").await, None);
    assert_eq!(store_row(&app, "xyz").await, None);
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let now = chrono::Utc::now().timestamp();
    let mut expired = payload::claims("abc", 1);
    expired["exp"] = json!(now - 10);
    let mut other_app = payload::claims("abc", 1);
    other_app["aud"] = json!("someone-else");
    for (name, jwt) in [
        (
            "bad signature",
            payload::jwt_with(&payload::claims("abc", 1), "not-the-secret"),
        ),
        ("expired", payload::jwt_with(&expired, CLIENT_SECRET)),
        ("another app", payload::jwt_with(&other_app, CLIENT_SECRET)),
        ("garbage", "garbage".to_owned()),
    ] {
        for callback in ["load", "uninstall", "remove_user"] {
            let (status, _, location) =
                get(&app, &format!("/bigcommerce/{callback}?signed_payload_jwt={jwt}")).await;
            assert_eq!(status, 401, "{callback} with {name}");
            assert!(location.is_none());
        }
    }
    assert_eq!(
        store_row(&app, "abc").await.unwrap().0,
        "installed",
        "nothing was uninstalled"
    );
}

#[tokio::test]
async fn without_app_credentials_the_callbacks_say_what_is_missing() {
    let app = TestApp::start_configured(
        Default::default(),
        &[("BIGCOMMERCE_CLIENT_ID", ""), ("BIGCOMMERCE_CLIENT_SECRET", "")],
    )
    .await;
    for callback in [
        "auth?code=x&context=stores/abc",
        "load?signed_payload_jwt=x",
        "uninstall",
        "remove_user",
    ] {
        let (status, body, _) = get(&app, &format!("/bigcommerce/{callback}")).await;
        assert_eq!(status, 503, "{callback}");
        assert!(
            body.contains("BIGCOMMERCE_CLIENT_ID") && body.contains("BIGCOMMERCE_CLIENT_SECRET"),
            "{body}"
        );
    }
    let _: Value = json!(null);
}
