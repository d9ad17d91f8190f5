//! `POST /oauth2/token`: the install code exchange of a single-click app.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::{App, Store, lock, write};
use crate::store::StoreData;

/// A user as the token answer describes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OAuthUser {
    pub id: i64,
    pub username: String,
    pub email: String,
}

/// An install code the fake will exchange once.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthGrant {
    pub code: String,
    pub store_hash: String,
    pub access_token: String,
    pub scope: String,
    pub user: OAuthUser,
    pub owner: OAuthUser,
    pub account_uuid: String,
}

impl OAuthGrant {
    pub fn new(
        code: impl Into<String>,
        store_hash: impl Into<String>,
        access_token: impl Into<String>,
    ) -> Self {
        let user = OAuthUser {
            id: 1,
            username: "owner".into(),
            email: "owner@example.com".into(),
        };
        OAuthGrant {
            code: code.into(),
            store_hash: store_hash.into(),
            access_token: access_token.into(),
            scope: "store_v2_products store_v2_orders store_v2_customers".into(),
            owner: user.clone(),
            user,
            account_uuid: "00000000-0000-4000-8000-000000000001".into(),
        }
    }
}

/// The app credentials the fake expects, and the codes it will accept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OAuthOptions {
    /// Checked when not empty.
    pub client_id: String,
    /// Checked when not empty.
    pub client_secret: String,
    pub grants: Vec<OAuthGrant>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenRequest {
    client_id: String,
    client_secret: String,
    code: String,
    context: String,
    scope: String,
    grant_type: String,
    redirect_uri: String,
}

fn oauth_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"status": status.as_u16(), "title": message, "error": message})),
    )
        .into_response()
}

pub(crate) async fn token(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let request: TokenRequest = match serde_json::from_slice::<TokenRequest>(&body)
        .ok()
        .or_else(|| serde_urlencoded_like(&body))
    {
        Some(r) => r,
        None => return oauth_error(StatusCode::BAD_REQUEST, "The request body is invalid."),
    };
    let grant =
        {
            let mut oauth = lock(&app.oauth);
            if (!oauth.client_id.is_empty() && request.client_id != oauth.client_id)
                || (!oauth.client_secret.is_empty() && request.client_secret != oauth.client_secret)
            {
                return oauth_error(StatusCode::UNAUTHORIZED, "Invalid client credentials.");
            }
            if request.grant_type != "authorization_code" {
                return oauth_error(StatusCode::BAD_REQUEST, "Invalid grant type.");
            }
            if request.redirect_uri.is_empty() {
                return oauth_error(StatusCode::BAD_REQUEST, "The redirect_uri is required.");
            }
            let Some(index) = oauth.grants.iter().position(|g| {
                g.code == request.code && request.context == format!("stores/{}", g.store_hash)
            }) else {
                return oauth_error(StatusCode::BAD_REQUEST, "Invalid verification code.");
            };
            // A code is good for one exchange.
            oauth.grants.remove(index)
        };
    let _ = &request.scope;
    match app.store(&grant.store_hash) {
        Some(store) => {
            *write(&store.access_token) = grant.access_token.clone();
            store
                .app_installed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        None => {
            let id = app
                .next_store_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let store = Store::new(StoreData::new(&grant.store_hash, id), grant.access_token.clone());
            write(&app.stores).insert(grant.store_hash.clone(), Arc::new(store));
        }
    }
    let answer: Value = json!({
        "access_token": grant.access_token,
        "scope": grant.scope,
        "user": grant.user,
        "owner": grant.owner,
        "context": format!("stores/{}", grant.store_hash),
        "account_uuid": grant.account_uuid,
    });
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The token endpoint also accepts a form-encoded body.
fn serde_urlencoded_like(body: &[u8]) -> Option<TokenRequest> {
    let mut request = TokenRequest::default();
    let mut any = false;
    for (k, v) in form_urlencoded::parse(body) {
        any = true;
        let v = v.into_owned();
        match k.as_ref() {
            "client_id" => request.client_id = v,
            "client_secret" => request.client_secret = v,
            "code" => request.code = v,
            "context" => request.context = v,
            "scope" => request.scope = v,
            "grant_type" => request.grant_type = v,
            "redirect_uri" => request.redirect_uri = v,
            _ => {}
        }
    }
    any.then_some(request)
}
