//! BigCommerce's signed payloads: `signed_payload_jwt` (HS256 with the app's client
//! secret) and the legacy `signed_payload` (`base64(json).base64(hex(HMAC-SHA256))`).

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
}

#[derive(Deserialize)]
struct JwtClaims {
    sub: String,
    #[serde(default)]
    user: Option<Value>,
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

/// Verify either form of payload.
pub fn verify(payload: &str, client_id: &str, client_secret: &str) -> Result<Verified, String> {
    match payload.split('.').count() {
        3 => verify_jwt(payload, client_id, client_secret),
        2 => verify_legacy(payload, client_secret),
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
    Ok(Verified {
        store_hash: store_hash_of(&claims.sub)?,
        user_id: id_text(user.and_then(|u| u.get("id"))).ok_or("signed payload: no user id")?,
        user_email: user
            .and_then(|u| u.get("email"))
            .and_then(|e| e.as_str())
            .map(str::to_owned),
    })
}

fn verify_legacy(payload: &str, client_secret: &str) -> Result<Verified, String> {
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
    Ok(Verified {
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
                          "sub": "stores/abc123", "user": {"id": 42, "email": "a@b.c"}});
        let v = verify(&jwt(good.clone(), "s3cret"), "app", "s3cret").unwrap();
        assert_eq!(
            v,
            Verified {
                store_hash: "abc123".into(),
                user_id: "42".into(),
                user_email: Some("a@b.c".into())
            }
        );
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
        // alg: none
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(good.to_string());
        assert!(verify(&format!("{header}.{body}."), "app", "s3cret").is_err());
        assert!(verify("garbage", "app", "s3cret").is_err());
        let token = jwt(good, "s3cret");
        assert!(verify(&token[..token.len() - 5], "app", "s3cret").is_err());
    }

    #[test]
    fn legacy_payloads() {
        let body = json!({"user": {"id": 7, "email": "x@y.z"}, "owner": {"id": 7}, "context": "stores/xyz", "store_hash": "xyz", "timestamp": 1});
        let data = body.to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(data.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let payload = format!("{}.{}", STANDARD.encode(&data), STANDARD.encode(&hex));
        assert_eq!(verify(&payload, "app", "s3cret").unwrap().store_hash, "xyz");
        assert!(verify(&payload, "app", "wrong").is_err());
    }
}
