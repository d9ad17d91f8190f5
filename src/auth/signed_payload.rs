//! BigCommerce's signed payloads: `signed_payload_jwt` (HS256 with the app's client
//! secret) and the legacy `signed_payload` (`base64(json).base64(hex(HMAC-SHA256))`).
//!
//! The legacy form has no expiry of its own, and the load callback receives it in its
//! query string (so it sits in reverse-proxy logs): it is refused once its `timestamp` is
//! older than a maximum age (by default the ~24 h BigCommerce gives its JWTs), and refused
//! without a timestamp.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

/// What a valid payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub store_hash: String,
    pub user_id: String,
    pub user_email: Option<String>,
    /// When BigCommerce issued it (unix seconds): the JWT's `iat`, the legacy `timestamp`.
    pub issued_at: i64,
    /// When it stops being accepted (unix seconds): the JWT's `exp`; for the legacy form,
    /// `timestamp` plus the maximum age.
    pub expires_at: i64,
    /// Names this payload among all others, to remember that it was used: the JWT's
    /// `jti` (with its store), or a hash of what was signed.
    pub replay_key: String,
}

/// A legacy payload's `timestamp` this far in the future is refused (clock skew allowed).
const MAX_FUTURE_SECS: i64 = 5 * 60;

#[derive(Deserialize)]
struct JwtClaims {
    sub: String,
    #[serde(default)]
    user: Option<Value>,
    iat: Option<i64>,
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A BigCommerce user id arrives as a number or a string.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn store_hash_of(context: &str) -> Result<String, String> {
    context
        .strip_prefix("stores/")
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .ok_or_else(|| format!("signed payload: `{context}` does not name a store"))
}

/// Verify either form of payload; a legacy one must be at most `legacy_max_age` seconds old.
pub fn verify(
    payload: &str,
    client_id: &str,
    client_secret: &str,
    legacy_max_age: i64,
) -> Result<Verified, String> {
    match payload.split('.').count() {
        3 => verify_jwt(payload, client_id, client_secret),
        2 => verify_legacy(payload, client_secret, legacy_max_age),
        _ => Err("signed payload: not a BigCommerce signed payload".into()),
    }
}

fn verify_jwt(token: &str, client_id: &str, client_secret: &str) -> Result<Verified, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&["bc"]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 5;
    let claims = decode::<JwtClaims>(
        token,
        &DecodingKey::from_secret(client_secret.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "it has expired",
            ErrorKind::ImmatureSignature => "it is not valid yet",
            ErrorKind::InvalidAudience => "it is for another app",
            ErrorKind::InvalidIssuer => "it was not issued by BigCommerce",
            ErrorKind::InvalidSignature => "its signature is wrong",
            ErrorKind::InvalidAlgorithm => "it is not signed with HS256",
            ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
            _ => "it is malformed",
        };
        format!("signed payload refused: {why}")
    })?
    .claims;
    let user = claims.user.as_ref();
    let store_hash = store_hash_of(&claims.sub)?;
    let replay_key = match claims.jti.as_deref().filter(|j| !j.is_empty()) {
        Some(jti) => format!("jti:{store_hash}:{jti}"),
        None => format!("sha256:{}", sha256_hex(token.as_bytes())),
    };
    Ok(Verified {
        user_id: id_text(user.and_then(|u| u.get("id"))).ok_or("signed payload: no user id")?,
        user_email: user
            .and_then(|u| u.get("email"))
            .and_then(|e| e.as_str())
            .map(str::to_owned),
        issued_at: claims
            .iat
            .ok_or("signed payload refused: it has no iat (issued at)")?,
        expires_at: claims.exp,
        replay_key,
        store_hash,
    })
}

fn verify_legacy(payload: &str, client_secret: &str, max_age: i64) -> Result<Verified, String> {
    let bad = || "signed payload refused: malformed or badly signed".to_owned();
    let (data, signature) = payload.split_once('.').ok_or_else(bad)?;
    let decode = |s: &str| {
        STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')))
    };
    let json = decode(data).map_err(|_| bad())?;
    let signature = decode(signature).map_err(|_| bad())?;
    let signature = String::from_utf8(signature).map_err(|_| bad())?;
    let expected = (0..signature.len())
        .step_by(2)
        .map(|i| {
            signature
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()).map_err(|_| bad())?;
    mac.update(&json);
    mac.verify_slice(&expected).map_err(|_| bad())?;
    let body: Value = serde_json::from_slice(&json).map_err(|_| bad())?;
    let store_hash = match body.get("store_hash").and_then(|v| v.as_str()) {
        Some(hash) => hash.to_owned(),
        None => store_hash_of(body.get("context").and_then(|v| v.as_str()).unwrap_or(""))?,
    };
    let timestamp = body
        .get("timestamp")
        .and_then(|t| t.as_i64().or_else(|| t.as_f64().map(|f| f as i64)))
        .ok_or("signed payload refused: it has no timestamp")?;
    let now = chrono::Utc::now().timestamp();
    if now - timestamp > max_age {
        return Err("signed payload refused: it is too old (open the app again)".into());
    }
    if timestamp - now > MAX_FUTURE_SECS {
        return Err("signed payload refused: it is not valid yet".into());
    }
    Ok(Verified {
        issued_at: timestamp,
        expires_at: timestamp.saturating_add(max_age),
        // What was signed, not how it was encoded: two encodings of one payload are one.
        replay_key: format!("sha256:{}", sha256_hex(&json)),
        store_hash,
        user_id: id_text(body.get("user").and_then(|u| u.get("id"))).ok_or("signed payload: no user id")?,
        user_email: body
            .get("user")
            .and_then(|u| u.get("email"))
            .and_then(|e| e.as_str())
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const DAY: i64 = 86_400;

    fn jwt(claims: Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn jwt_payloads() {
        let now = chrono::Utc::now().timestamp();
        let good = json!({"aud": "app", "iss": "bc", "iat": now, "nbf": now - 10, "exp": now + 3600,
                          "jti": "j-1", "sub": "stores/abc123", "user": {"id": 42, "email": "a@b.c"}});
        let v = verify(&jwt(good.clone(), "s3cret"), "app", "s3cret", DAY).unwrap();
        assert_eq!(
            v,
            Verified {
                store_hash: "abc123".into(),
                user_id: "42".into(),
                user_email: Some("a@b.c".into()),
                issued_at: now,
                expires_at: now + 3600,
                replay_key: "jti:abc123:j-1".into(),
            }
        );
        let verify = |token: &str, id: &str, secret: &str| verify(token, id, secret, DAY);
        let refuse = |claims: Value, secret: &str, why: &str| {
            let err = verify(&jwt(claims, secret), "app", "s3cret").unwrap_err();
            assert!(err.contains(why), "{err}");
        };
        refuse(good.clone(), "other", "signature");
        let mut c = good.clone();
        c["aud"] = json!("another-app");
        refuse(c, "s3cret", "another app");
        let mut c = good.clone();
        c["exp"] = json!(now - 100);
        refuse(c, "s3cret", "expired");
        let mut c = good.clone();
        c["nbf"] = json!(now + 1000);
        refuse(c, "s3cret", "not valid yet");
        let mut c = good.clone();
        c["iss"] = json!("evil");
        refuse(c, "s3cret", "issued");
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("iat");
        refuse(c, "s3cret", "no iat");
        // Without a jti, the payload itself names it.
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("jti");
        let token = jwt(c, "s3cret");
        assert!(
            verify(&token, "app", "s3cret")
                .unwrap()
                .replay_key
                .starts_with("sha256:")
        );
        // alg: none
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(good.to_string());
        assert!(verify(&format!("{header}.{body}."), "app", "s3cret").is_err());
        assert!(verify("garbage", "app", "s3cret").is_err());
        let token = jwt(good, "s3cret");
        assert!(verify(&token[..token.len() - 5], "app", "s3cret").is_err());
    }

    fn legacy(body: &Value) -> String {
        let data = body.to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(data.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}.{}", STANDARD.encode(&data), STANDARD.encode(&hex))
    }

    #[test]
    fn legacy_payloads() {
        let now = chrono::Utc::now().timestamp();
        let body = |timestamp: Value| {
            json!({"user": {"id": 7, "email": "x@y.z"}, "owner": {"id": 7}, "context": "stores/xyz",
                   "store_hash": "xyz", "timestamp": timestamp})
        };
        let payload = legacy(&body(json!(now - 60)));
        let v = verify(&payload, "app", "s3cret", DAY).unwrap();
        assert_eq!(
            (v.store_hash.as_str(), v.issued_at, v.expires_at),
            ("xyz", now - 60, now - 60 + DAY)
        );
        assert!(v.replay_key.starts_with("sha256:"));
        assert!(verify(&payload, "app", "wrong", DAY).is_err());
        // Stale by its timestamp, under the default and a shorter maximum age.
        let stale = verify(&legacy(&body(json!(now - DAY - 60))), "app", "s3cret", DAY).unwrap_err();
        assert!(stale.contains("too old"), "{stale}");
        assert!(verify(&payload, "app", "s3cret", 30).is_err());
        // The old fixture's timestamp of 1 (1970) is refused.
        assert!(verify(&legacy(&body(json!(1))), "app", "s3cret", DAY).is_err());
        let none = verify(&legacy(&body(Value::Null)), "app", "s3cret", DAY).unwrap_err();
        assert!(none.contains("no timestamp"), "{none}");
        let mut without = body(json!(0));
        without.as_object_mut().unwrap().remove("timestamp");
        assert!(verify(&legacy(&without), "app", "s3cret", DAY).is_err());
        assert!(verify(&legacy(&body(json!(now + 3600))), "app", "s3cret", DAY).is_err());
    }
}
