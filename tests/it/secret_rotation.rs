//! Rotating the gateway's secret with an installed store: restart with the new secret
//! and the old one listed as previous, run `bcgraph secret rotate`, then drop the old
//! one; the store's BigCommerce calls and webhook deliveries work at every step. And the
//! move from a generated secret (kept in the database) to a configured one.

use crate::single_click::{fake, get, install_path};
use crate::support::{TEST_SECRET, TestApp, count_rows};
use bcgraph::auth::{KeySet, Secrets};
use bcgraph::bigcommerce::webhooks::SECRET_HEADER;
use fake_bigcommerce::{FakeBigCommerce, OAuthGrant};
use serde_json::json;
use std::time::Duration;

const NEW_SECRET: &str = "the-next-secret-of-the-gateway-long-enough";

fn with_fake<'a>(fake: &'a FakeBigCommerce, vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("BIGCOMMERCE_LOGIN_URL", fake.url()),
        ("BIGCOMMERCE_API_URL", fake.url()),
    ];
    all.extend_from_slice(vars);
    all
}

/// The store's token, as stored.
async fn stored_token(app: &TestApp) -> String {
    use sea_orm::EntityTrait;
    entity::bigcommerce::store::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .and_then(|s| s.access_token)
        .expect("a token")
}

/// A call to BigCommerce with the store's token works: a product renamed at the fake
/// is pulled into the database. The rename also sends a webhook: it is accepted.
async fn calls_and_deliveries_work(app: &TestApp, fake: &FakeBigCommerce, name: &str, header: &str) {
    let store = fake.store("abc").unwrap();
    let id = store.with_data(|d| *d.products.keys().next().expect("a product"));
    let before = fake.deliveries().len();
    store.update_product(id, json!({"name": name})).unwrap();
    let pulled = app
        .data(
            &format!("mutation {{ bigcommerce {{ pullProduct(bigcommerceId: {id}, storeHash: \"abc\") {{ success errors {{ message }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(pulled["bigcommerce"]["pullProduct"]["success"], true, "{pulled}");
    let condition = format!("\"bigcommerce_id\" = {id} AND \"name\" = '{name}'");
    assert_eq!(count_rows(&app.db, "bigcommerce_product", &condition).await, 1);
    assert_eq!(
        store.stats().unauthorized,
        0,
        "BigCommerce never refused the token"
    );
    let deliveries = fake
        .wait_for_deliveries(before + 1, Duration::from_secs(10))
        .await;
    let delivery = deliveries.get(before).expect("a delivery");
    assert_eq!(
        delivery.headers.get(SECRET_HEADER).map(String::as_str),
        Some(header)
    );
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
}

fn hook_headers(fake: &FakeBigCommerce) -> Vec<String> {
    fake.store("abc").unwrap().with_data(|d| {
        d.hooks
            .values()
            .map(|h| {
                h.headers
                    .as_ref()
                    .and_then(|x| x.get(SECRET_HEADER))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    })
}

/// `bcgraph secret rotate` against the app's database; returns its stdout.
async fn rotate(app: &TestApp, fake: &FakeBigCommerce, vars: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"));
    command
        .args(["secret", "rotate"])
        .env("DATABASE_URL", app.database_url())
        .env("BCGRAPH_PUBLIC_URL", &app.url)
        .env("BIGCOMMERCE_API_URL", fake.url())
        .env("BIGCOMMERCE_CLIENT_ID", crate::support::CLIENT_ID)
        .env("BIGCOMMERCE_CLIENT_SECRET", crate::support::CLIENT_SECRET)
        .env("RUST_LOG", "error");
    for (k, v) in vars {
        command.env(k, v);
    }
    // On a blocking thread: the fake answers from this test's runtime meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run bcgraph");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A delivery the way BigCommerce sends one, with this secret header.
async fn deliver(app: &TestApp, header: &str) -> u16 {
    let body = json!({"scope": "store/product/updated", "store_id": "1", "producer": "stores/abc",
                      "hash": format!("h-{}", rand::random::<u64>()), "created_at": 1, "data": {"type": "product", "id": 1}});
    app.http
        .post(format!("{}/webhooks/bigcommerce", app.url))
        .header(SECRET_HEADER, header)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rotation_keeps_the_store_working() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    let old = KeySet::new(TEST_SECRET.as_bytes());
    let new = KeySet::new(NEW_SECRET.as_bytes());
    let (old_header, new_header) = (old.webhook_header("abc"), new.webhook_header("abc"));

    let app = TestApp::start_configured(Default::default(), &with_fake(&fake, &[])).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    assert!(
        stored_token(&app)
            .await
            .starts_with(&format!("v2:{}:", old.sealing_kid()))
    );
    let hooks = hook_headers(&fake);
    assert!(
        !hooks.is_empty() && hooks.iter().all(|h| *h == old_header),
        "{hooks:?}"
    );
    calls_and_deliveries_work(&app, &fake, "Before", &old_header).await;

    // 1. The new secret, the old one still accepted for reading.
    let rotating = [
        ("BCGRAPH_SECRET", NEW_SECRET),
        ("BCGRAPH_PREVIOUS_SECRETS", TEST_SECRET),
    ];
    let app = app.restart(&with_fake(&fake, &rotating)).await;
    calls_and_deliveries_work(&app, &fake, "During", &old_header).await;
    assert_eq!(
        deliver(&app, &new_header).await,
        200,
        "the new header is accepted already"
    );

    // 2. Rotate: the token is re-sealed under the new key, the hooks re-keyed.
    let printed = rotate(&app, &fake, &rotating).await;
    assert!(printed.contains("access tokens: 1 re-sealed"), "{printed}");
    assert!(
        printed.contains(&format!("under key {}", new.sealing_kid())),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("webhooks: store abc: re-keyed {}", hooks.len())),
        "{printed}"
    );
    assert!(printed.contains("done"), "{printed}");
    assert!(
        stored_token(&app)
            .await
            .starts_with(&format!("v2:{}:", new.sealing_kid()))
    );
    let rekeyed = hook_headers(&fake);
    assert!(
        rekeyed.len() == hooks.len() && rekeyed.iter().all(|h| *h == new_header),
        "{rekeyed:?}"
    );
    calls_and_deliveries_work(&app, &fake, "Rotated", &new_header).await;

    // 3. The old secret dropped: everything still works, and the old header is refused.
    let rotated = [("BCGRAPH_SECRET", NEW_SECRET)];
    let app = app.restart(&with_fake(&fake, &rotated)).await;
    calls_and_deliveries_work(&app, &fake, "After", &new_header).await;
    assert_eq!(deliver(&app, &old_header).await, 401);
    assert_eq!(deliver(&app, &new_header).await, 200);
    // A second rotation has nothing to move.
    let again = rotate(&app, &fake, &rotated).await;
    assert!(
        again.contains("0 re-sealed") && again.contains("1 already current"),
        "{again}"
    );
    assert!(again.contains("re-keyed 0"), "{again}");
}

#[tokio::test]
async fn a_generated_secret_moves_to_a_configured_one() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    // No BCGRAPH_SECRET: one is generated and kept in the database.
    let app =
        TestApp::start_configured(Default::default(), &with_fake(&fake, &[("BCGRAPH_SECRET", "")])).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let generated = count_rows(&app.db, "bcgraph_setting", "\"key\" = 'secret'").await;
    assert_eq!(generated, 1);
    let hooks = hook_headers(&fake);
    let configured = [("BCGRAPH_SECRET", NEW_SECRET)];
    // Configured: the generated secret is still accepted (it is in the database) ...
    let app = app.restart(&with_fake(&fake, &configured)).await;
    calls_and_deliveries_work(&app, &fake, "Configured", &hooks[0]).await;
    // ... until rotate has moved everything and deletes it.
    let printed = rotate(&app, &fake, &configured).await;
    assert!(printed.contains("1 re-sealed"), "{printed}");
    assert!(
        printed.contains("generated secret: deleted from the database"),
        "{printed}"
    );
    assert_eq!(
        count_rows(&app.db, "bcgraph_setting", "\"key\" = 'secret'").await,
        0
    );
    let secrets = Secrets::new(NEW_SECRET.as_bytes(), &[] as &[&[u8]]);
    let app = app.restart(&with_fake(&fake, &configured)).await;
    calls_and_deliveries_work(&app, &fake, "Moved", &secrets.current().webhook_header("abc")).await;
    assert_eq!(
        deliver(&app, &hooks[0]).await,
        401,
        "the generated secret is gone"
    );
}

/// A token as the gateway sealed it before key ids: `v1:` + base64(nonce ‖ ciphertext),
/// XChaCha20-Poly1305 under SHA-256("bcgraph access tokens" ‖ secret).
fn sealed_v1(secret: &str, token: &str) -> String {
    use base64::Engine;
    use chacha20poly1305::aead::{Aead, KeyInit};
    use sha2::{Digest, Sha256};
    let key = Sha256::new()
        .chain_update(b"bcgraph access tokens")
        .chain_update(secret.as_bytes())
        .finalize();
    let nonce = [7u8; 24];
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&key);
    let mut bytes = nonce.to_vec();
    bytes.extend(cipher.encrypt(&nonce.into(), token.as_bytes()).unwrap());
    format!("v1:{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The header hooks were registered with before keys were derived per purpose.
fn header_v1(secret: &str, hash: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("bigcommerce-webhook:{hash}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn an_upgrade_keeps_v1_tokens_and_older_hooks_working_until_rotate() {
    use sea_orm::{ActiveModelTrait, Set};
    let fake = fake(vec![]).await;
    fake.store("abc").unwrap().set_access_token("tok-from-v1");
    let app = TestApp::start_configured(Default::default(), &with_fake(&fake, &[])).await;
    // What the previous version left: a v1 token and hooks with the older header.
    let now = chrono::Utc::now();
    entity::bigcommerce::store::ActiveModel {
        created_at: Set(now),
        updated_at: Set(now),
        store_hash: Set("abc".into()),
        state: Set("installed".into()),
        access_token: Set(Some(sealed_v1(TEST_SECRET, "tok-from-v1"))),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let old_header = header_v1(TEST_SECRET, "abc");
    let client = bcgraph::bigcommerce::BigCommerce::new(fake.url(), Default::default())
        .unwrap()
        .store("abc", "tok-from-v1");
    let scopes = bcgraph::bigcommerce::webhooks::Triggers::default().scopes();
    let destination = format!("{}/webhooks/bigcommerce", app.url);
    bcgraph::bigcommerce::webhooks::register(&client, &destination, &old_header, &scopes)
        .await
        .unwrap();
    calls_and_deliveries_work(&app, &fake, "Upgraded", &old_header).await;

    let printed = rotate(&app, &fake, &[("BCGRAPH_SECRET", TEST_SECRET)]).await;
    assert!(printed.contains("access tokens: 1 re-sealed"), "{printed}");
    assert!(
        printed.contains(&format!("re-keyed {}", scopes.len())),
        "{printed}"
    );
    let keys = KeySet::new(TEST_SECRET.as_bytes());
    assert!(
        stored_token(&app)
            .await
            .starts_with(&format!("v2:{}:", keys.sealing_kid()))
    );
    let new_header = keys.webhook_header("abc");
    assert_ne!(new_header, old_header);
    assert!(hook_headers(&fake).iter().all(|h| *h == new_header));
    calls_and_deliveries_work(&app, &fake, "Re-sealed", &new_header).await;
}
