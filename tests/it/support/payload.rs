//! Signed payloads as BigCommerce makes them for a single-click app.

use super::{CLIENT_ID, CLIENT_SECRET};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The claims of a good `signed_payload_jwt` for a staff user of `store_hash`, issued now,
/// with a `jti` of its own.
pub fn claims(store_hash: &str, user_id: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    let jti = format!("j-{}", rand::random::<u64>());
    json!({"aud": CLIENT_ID, "iss": "bc", "iat": now, "nbf": now - 5, "exp": now + 86_400, "jti": jti,
           "sub": format!("stores/{store_hash}"), "user": {"id": user_id, "email": format!("u{user_id}@example.com"), "locale": "en"},
           "owner": {"id": 1, "email": "owner@example.com"}, "url": "/", "channel_id": null})
}

/// Sign `claims` with HS256 and `secret`.
pub fn jwt_with(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A good `signed_payload_jwt`.
pub fn jwt(store_hash: &str, user_id: i64) -> String {
    jwt_with(&claims(store_hash, user_id), CLIENT_SECRET)
}

/// The `authorization` header value for a payload.
pub fn header(payload: &str) -> String {
    format!("BigCommerceSignedPayload {payload}")
}

/// A legacy `signed_payload` issued now: `base64(json).base64(hex(HMAC-SHA256(secret, json)))`.
pub fn legacy(store_hash: &str, user_id: i64) -> String {
    legacy_at(store_hash, user_id, json!(chrono::Utc::now().timestamp()))
}

/// A legacy `signed_payload` with this `timestamp` (`null`: none).
pub fn legacy_at(store_hash: &str, user_id: i64, timestamp: Value) -> String {
    let mut body = json!({"user": {"id": user_id, "email": "legacy@example.com"}, "owner": {"id": 1},
                          "context": format!("stores/{store_hash}"), "store_hash": store_hash, "timestamp": timestamp});
    if timestamp.is_null() {
        body.as_object_mut().expect("an object").remove("timestamp");
    }
    let body = body.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}.{}", STANDARD.encode(body), STANDARD.encode(hex))
}

/// A JWT with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}
