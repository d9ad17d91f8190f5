//! The single-click app's callbacks: install (`/bigcommerce/auth`), load, uninstall
//! and remove user, as BigCommerce calls them from the control panel.
//!
//! Uninstall and remove user act on the store, so a verified payload is not enough
//! there: the frontend sends its load JWT on every request (valid ~24 h, seen by every
//! staff user and anything that logs headers). Those two take only a payload issued in
//! the last few minutes, each payload once, and an uninstall is confirmed with
//! BigCommerce itself: while it still accepts the store's token, the app is installed.

use crate::auth::replay;
use crate::auth::signed_payload::{self, Verified};
use crate::bigcommerce::{access_token, lifecycle, oauth};
use crate::server::AppState;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{TimeZone, Utc};
use entity::bigcommerce::store;
use serde::Deserialize;

/// How recently a payload must have been issued to uninstall or remove a user.
/// BigCommerce calls these the moment the merchant acts; older is a replay.
pub const CALLBACK_MAX_AGE_SECS: i64 = 5 * 60;

/// What a query value escapes: everything but RFC 3986's unreserved characters, so a
/// JWT travels as it is.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/bigcommerce/auth", get(install))
        .route("/bigcommerce/load", get(load))
        .route("/bigcommerce/uninstall", get(uninstall))
        .route("/bigcommerce/remove_user", get(remove_user))
}

/// A small page for the merchant; `message` is escaped.
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto\"><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    (status, Html(html)).into_response()
}

/// A callback that cannot go on, as the page the merchant sees.
struct CallbackRefusal {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl CallbackRefusal {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> CallbackRefusal {
        CallbackRefusal {
            status,
            title,
            message: message.into(),
        }
    }
}

impl IntoResponse for CallbackRefusal {
    fn into_response(self) -> Response {
        page(self.status, self.title, &self.message)
    }
}

/// The app's credentials, or the 503 that names what is missing.
fn credentials(state: &AppState) -> Result<(&str, &str), CallbackRefusal> {
    let bc = &state.config.bigcommerce;
    match (bc.client_id.as_deref(), bc.client_secret.as_deref()) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(CallbackRefusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BigCommerce is not configured",
            "Set BIGCOMMERCE_CLIENT_ID and BIGCOMMERCE_CLIENT_SECRET to the app's credentials.",
        )),
    }
}

#[derive(Deserialize)]
struct InstallQuery {
    code: Option<String>,
    scope: Option<String>,
    context: Option<String>,
}

async fn install(State(state): State<AppState>, Query(q): Query<InstallQuery>) -> Response {
    let (client_id, client_secret) = match credentials(&state) {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    let (Some(code), Some(context)) = (q.code.as_deref(), q.context.as_deref()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Installation failed",
            "The request has no `code` or `context`.",
        );
    };
    let redirect_uri = format!(
        "{}/bigcommerce/auth",
        state.config.public_url.as_str().trim_end_matches('/')
    );
    let exchange = oauth::Exchange {
        login_url: state.config.bigcommerce.login_url.as_str(),
        client_id,
        client_secret,
        code,
        scope: q.scope.as_deref().unwrap_or(""),
        context,
        redirect_uri: &redirect_uri,
    };
    let grant = match oauth::exchange(&state.http, exchange).await {
        Ok(grant) => grant,
        Err(reason) => return page(StatusCode::BAD_GATEWAY, "Installation failed", &reason),
    };
    match lifecycle::install_store(&state, &grant).await {
        Ok(installed) => page(
            StatusCode::OK,
            "Installed",
            match (&installed.webhooks_error, &installed.sync_error) {
                (Some(_), _) => {
                    "The app is installed, but its webhooks could not be registered yet; run `bcgraph webhooks register`."
                }
                (None, Some(_)) => {
                    "The app is installed; its first sync could not start yet and runs with the next scheduled one."
                }
                (None, None) => "The app is installed. Open it from the Apps menu of your control panel.",
            },
        ),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Installation failed",
            &e.public_message(),
        ),
    }
}

#[derive(Deserialize)]
struct SignedQuery {
    signed_payload_jwt: Option<String>,
    signed_payload: Option<String>,
}

impl SignedQuery {
    fn payload(&self) -> Option<&str> {
        self.signed_payload_jwt
            .as_deref()
            .or(self.signed_payload.as_deref())
    }
}

/// Verify a callback's payload and find its installed store.
async fn verified_store(
    state: &AppState,
    q: &SignedQuery,
) -> Result<(Verified, store::Model, String), CallbackRefusal> {
    let (client_id, client_secret) = credentials(state)?;
    let Some(payload) = q.payload() else {
        return Err(CallbackRefusal::new(
            StatusCode::BAD_REQUEST,
            "Not signed",
            "The request carries no signed payload.",
        ));
    };
    let verified = signed_payload::verify(
        payload,
        client_id,
        client_secret,
        state.auth.legacy_payload_max_age(),
    )
    .map_err(|reason| CallbackRefusal::new(StatusCode::UNAUTHORIZED, "Refused", reason))?;
    let store = crate::bigcommerce::stores::installed_by_hash(&state.db, &verified.store_hash)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            CallbackRefusal::new(
                StatusCode::UNAUTHORIZED,
                "Refused",
                "This store has not installed the app.",
            )
        })?;
    Ok((verified, store, payload.to_owned()))
}

async fn load(State(state): State<AppState>, Query(q): Query<SignedQuery>) -> Response {
    let (_, _, payload) = match verified_store(&state, &q).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    // The frontend reads the payload from its URL and sends it on every request.
    let frontend = match &state.config.frontend_url {
        Some(url) => url.to_string(),
        None => format!("{}/app/", state.config.public_url.as_str().trim_end_matches('/')),
    };
    let separator = if frontend.contains('?') { '&' } else { '?' };
    let encoded = percent_encoding::utf8_percent_encode(&payload, QUERY_VALUE);
    Redirect::to(&format!("{frontend}{separator}signed_payload={encoded}")).into_response()
}

/// A payload issued within [`CALLBACK_MAX_AGE_SECS`] (either way, for clock skew).
fn fresh(verified: &Verified) -> Result<(), CallbackRefusal> {
    let age = Utc::now().timestamp() - verified.issued_at;
    if age.abs() > CALLBACK_MAX_AGE_SECS {
        return Err(CallbackRefusal::new(
            StatusCode::UNAUTHORIZED,
            "Refused",
            "This request was not issued by BigCommerce just now.",
        ));
    }
    Ok(())
}

/// Remember the payload as used (until it could no longer pass anyway); refuse a
/// payload used before.
async fn first_use(state: &AppState, verified: &Verified) -> Result<(), CallbackRefusal> {
    let until = verified
        .expires_at
        .max(verified.issued_at.saturating_add(2 * CALLBACK_MAX_AGE_SECS));
    let until = Utc.timestamp_opt(until, 0).single().unwrap_or_else(Utc::now);
    match replay::first_use(&state.db, &verified.replay_key, until).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(CallbackRefusal::new(
            StatusCode::UNAUTHORIZED,
            "Refused",
            "This request was already used.",
        )),
        Err(e) => {
            tracing::error!(error = %e, "recording a used payload");
            Err(CallbackRefusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Refused",
                "The request could not be recorded; try again.",
            ))
        }
    }
}

/// Ask BigCommerce whether the app is really uninstalled: a call with the store's token
/// that BigCommerce still accepts (2xx) means it is installed. 401/403 mean the token was
/// revoked, which uninstalling does. Any other answer settles nothing: refused, to be
/// tried again (the `store/app/uninstalled` webhook ends the store too).
async fn confirm_uninstalled(state: &AppState, store: &store::Model) -> Result<(), CallbackRefusal> {
    let token = store
        .access_token
        .as_deref()
        .and_then(|stored| access_token::reveal(&state.auth.secret, stored));
    let Some(token) = token else {
        // Nothing to ask with; nor can the gateway reach the store any more.
        tracing::warn!(store = %store.store_hash, "no usable access token to confirm the uninstall with");
        return Ok(());
    };
    let client = state.bigcommerce.store(store.store_hash.clone(), token);
    // Listing hooks needs no particular scope, so any token of the app may ask.
    match client.v3().get("/hooks").send().await {
        Ok(_) => Err(CallbackRefusal::new(
            StatusCode::CONFLICT,
            "Still installed",
            "BigCommerce still accepts this store's access token: the app is installed.",
        )),
        Err(e) if matches!(e.status(), Some(401 | 403)) => Ok(()),
        Err(e) => {
            tracing::warn!(store = %store.store_hash, error = %e, "could not confirm an uninstall with BigCommerce");
            Err(CallbackRefusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Uninstall not confirmed",
                "BigCommerce could not be asked whether the app is uninstalled; try again.",
            ))
        }
    }
}

async fn uninstall(State(state): State<AppState>, Query(q): Query<SignedQuery>) -> Response {
    let (verified, store, _) = match verified_store(&state, &q).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let checked = async {
        fresh(&verified)?;
        confirm_uninstalled(&state, &store).await?;
        first_use(&state, &verified).await
    };
    if let Err(refusal) = checked.await {
        tracing::warn!(store = %store.store_hash, why = %refusal.message, "refused an uninstall callback");
        return refusal.into_response();
    }
    match lifecycle::uninstall(&state.api, store.id).await {
        Ok(_) => {
            state.auth.forget_store(store.id);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain")],
                "uninstalled",
            )
                .into_response()
        }
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Uninstall failed",
            &e.public_message(),
        ),
    }
}

async fn remove_user(State(state): State<AppState>, Query(q): Query<SignedQuery>) -> Response {
    let (verified, store, _) = match verified_store(&state, &q).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let checked = async {
        fresh(&verified)?;
        first_use(&state, &verified).await
    };
    if let Err(refusal) = checked.await {
        tracing::warn!(store = %store.store_hash, why = %refusal.message, "refused a remove-user callback");
        return refusal.into_response();
    }
    // BigCommerce's clock issued the payload: a removal is never dated before it, so a
    // payload it issued earlier is refused even if our clock is behind.
    let removed_at = Utc
        .timestamp_opt(verified.issued_at, 0)
        .single()
        .map_or_else(Utc::now, |issued| issued.max(Utc::now()));
    match lifecycle::remove_user(&state.api, store.id, &verified.user_id, removed_at).await {
        Ok(_) => {
            state.auth.forget_store(store.id);
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "removed").into_response()
        }
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Removing the user failed",
            &e.public_message(),
        ),
    }
}
