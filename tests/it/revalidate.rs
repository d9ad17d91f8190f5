//! `Auth::revalidate`: an identity authenticated earlier (a websocket's) ends with its
//! store's uninstall, its user's removal, its credential's expiry and its session row;
//! and the process-wide notice of uninstalls and removals.

use crate::single_click::{fake, gateway, get, install_path, store_row_id};
use crate::support::{CLIENT_SECRET, TestApp, payload, seed};
use bcgraph::auth::{AuthError, Identity, Revoked, revocation};
use fake_bigcommerce::OAuthGrant;
use std::time::Duration;

async fn expect_event(events: &mut tokio::sync::broadcast::Receiver<Revoked>, expected: Revoked) {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) if event == expected => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("the channel closed: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no {expected:?} within 5 s"));
}

fn denied(result: Result<(), AuthError>, why: &str) {
    match result {
        Err(AuthError::Denied(message)) => assert!(message.contains(why), "{message}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

#[tokio::test]
async fn identities_end_with_the_users_removal_and_the_stores_uninstall() {
    let fake = fake(vec![OAuthGrant::new("code-1", "abc", "token-one")]).await;
    let app = gateway(&fake).await;
    assert_eq!(get(&app, &install_path("code-1", "abc")).await.0, 200);
    let store = store_row_id(&app, "abc").await;
    let auth = app.auth(&[]).await;
    let mut events = revocation::subscribe();
    let sign_in = |user: i64| {
        let auth = &auth;
        async move {
            auth.authenticate(Some(&payload::header(&payload::jwt("abc", user))))
                .await
                .unwrap()
                .identity
        }
    };
    let staff = sign_in(51).await;
    let other = sign_in(52).await;
    assert_eq!(
        (staff.store_id, staff.bigcommerce_user_id.as_deref()),
        (Some(store), Some("51"))
    );
    assert!(staff.issued_at.is_some() && staff.expires_at.is_some());
    let anonymous = auth.authenticate(None).await.unwrap().identity;
    let admin = auth
        .authenticate(Some(&format!("Bearer {}", app.admin_key)))
        .await
        .unwrap()
        .identity;
    for identity in [&staff, &other, &anonymous, &admin, &Identity::system()] {
        auth.revalidate(identity).await.expect("still good");
    }

    let remove = format!(
        "/bigcommerce/remove_user?signed_payload_jwt={}",
        payload::jwt("abc", 51)
    );
    assert_eq!(get(&app, &remove).await.0, 200);
    expect_event(
        &mut events,
        Revoked::User {
            store_id: store,
            user_id: "51".into(),
        },
    )
    .await;
    denied(auth.revalidate(&staff).await, "session has ended");
    auth.revalidate(&other).await.expect("another user is untouched");

    fake.store("abc").unwrap().uninstall_app();
    let uninstall = format!(
        "/bigcommerce/uninstall?signed_payload_jwt={}",
        payload::jwt("abc", 1)
    );
    assert_eq!(get(&app, &uninstall).await.0, 200);
    expect_event(&mut events, Revoked::Store { store_id: store }).await;
    denied(auth.revalidate(&other).await, "session has ended");
    // Without its session row, the store's state alone ends it.
    let rowless = Identity {
        session_id: None,
        ..other.clone()
    };
    denied(auth.revalidate(&rowless).await, "uninstalled");
    for identity in [&anonymous, &admin] {
        auth.revalidate(identity).await.expect("not the store's");
    }
    assert!(Revoked::Store { store_id: store }.affects(other.store_id, Some("52")));
    assert!(
        !Revoked::User {
            store_id: store,
            user_id: "51".into()
        }
        .affects(other.store_id, Some("52"))
    );
}

#[tokio::test]
async fn a_removal_elsewhere_ends_identities_issued_before_it() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let auth = app.auth(&[]).await;
    let before = auth
        .authenticate(Some(&payload::header(&payload::jwt("abc", 62))))
        .await
        .unwrap()
        .identity;
    auth.revalidate(&before).await.unwrap();
    // Another process removed the user (no event reaches this one): the record decides.
    let removed_at = chrono::Utc::now();
    bcgraph::bigcommerce::lifecycle::remove_user(&app.api, store, "62", removed_at)
        .await
        .unwrap();
    let without_row = Identity {
        session_id: None,
        ..before.clone()
    };
    denied(auth.revalidate(&without_row).await, "removed");
    denied(auth.revalidate(&before).await, "session has ended");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let after = auth
        .authenticate(Some(&payload::header(&payload::jwt("abc", 62))))
        .await
        .unwrap()
        .identity;
    auth.revalidate(&after).await.expect("issued after the removal");
}

#[tokio::test]
async fn expiring_credentials_end() {
    let lifetime = [("BCGRAPH_SESSION_LIFETIME_SECONDS", "2")];
    let app = TestApp::start_configured(Default::default(), &lifetime).await;
    seed::store(&app.db, "abc").await;
    let auth = app.auth(&lifetime).await;
    let now = chrono::Utc::now().timestamp();
    let mut claims = payload::claims("abc", 71);
    claims["exp"] = serde_json::json!(now + 2);
    let short = payload::jwt_with(&claims, CLIENT_SECRET);
    let signed_in = auth
        .authenticate(Some(&payload::header(&short)))
        .await
        .unwrap()
        .identity;
    assert_eq!(signed_in.expires_at.map(|t| t.timestamp()), Some(now + 2));
    let anonymous = auth.authenticate(None).await.unwrap().identity;
    assert!(anonymous.stateless_session);
    auth.revalidate(&signed_in).await.unwrap();
    auth.revalidate(&anonymous).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    denied(auth.revalidate(&signed_in).await, "expired");
    denied(auth.revalidate(&anonymous).await, "expired");
}
