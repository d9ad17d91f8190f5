//! Stores' access tokens, encrypted at rest (XChaCha20-Poly1305) with the sealing key
//! derived from `BCGRAPH_SECRET` (see [`crate::auth::Secrets`]).
//!
//! Stored form: `v2:<kid>:` + base64(nonce ‖ ciphertext), where `kid` names the sealing
//! key and is also bound to the ciphertext (associated data), so a value opens only under
//! the key it names. `v1:` + base64(nonce ‖ ciphertext) values, sealed before key ids, are
//! still opened (with each accepted secret's older key) and re-sealed by
//! `bcgraph secret rotate`. A value that is not sealed at all is refused.

use crate::auth::{KeySet, Secrets};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

const V1: &str = "v1:";
const V2: &str = "v2:";
const NONCE: usize = 24;

fn encrypt(key: &[u8; 32], aad: &[u8], token: &str) -> String {
    let mut nonce = [0u8; NONCE];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = XChaCha20Poly1305::new(key.into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: token.as_bytes(),
                aad,
            },
        )
        .unwrap_or_default();
    let mut bytes = nonce.to_vec();
    bytes.extend(ciphertext);
    STANDARD.encode(bytes)
}

fn decrypt(key: &[u8; 32], aad: &[u8], encoded: &str) -> Option<String> {
    let bytes = STANDARD.decode(encoded).ok()?;
    if bytes.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().ok()?;
    let plain = XChaCha20Poly1305::new(key.into())
        .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad })
        .ok()?;
    String::from_utf8(plain).ok()
}

fn seal_with(keys: &KeySet, token: &str) -> String {
    let header = format!("{V2}{}:", keys.sealing_kid());
    let body = encrypt(keys.sealing_key(), header.as_bytes(), token);
    format!("{header}{body}")
}

/// Encrypt an access token for storage, under the current secret.
pub fn seal(secrets: &Secrets, token: &str) -> String {
    seal_with(secrets.current(), token)
}

/// What a stored value is.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Sealed under the current secret's key.
    Current(String),
    /// Sealed under a previous secret, or in the `v1:` form: to be re-sealed.
    Stale(String),
    /// Sealed, but under no accepted secret (or damaged): kept, never used.
    Unknown,
    /// Not sealed at all (written by hand, or before encryption): refused.
    Plaintext,
}

/// Open a stored value with every accepted secret.
pub fn open(secrets: &Secrets, stored: &str) -> Opened {
    if let Some(rest) = stored.strip_prefix(V2) {
        let Some((kid, body)) = rest.split_once(':') else {
            return Opened::Unknown;
        };
        let Some(keys) = secrets.by_sealing_kid(kid) else {
            return Opened::Unknown;
        };
        let header = format!("{V2}{kid}:");
        return match decrypt(keys.sealing_key(), header.as_bytes(), body) {
            Some(token) if std::ptr::eq(keys, secrets.current()) => Opened::Current(token),
            Some(token) => Opened::Stale(token),
            None => Opened::Unknown,
        };
    }
    if let Some(body) = stored.strip_prefix(V1) {
        return secrets
            .all()
            .find_map(|keys| decrypt(&keys.legacy_sealing_key(), b"", body))
            .map_or(Opened::Unknown, Opened::Stale);
    }
    Opened::Plaintext
}

/// The token a store row holds, if it opens under an accepted secret. An unsealed value
/// is refused: a plaintext token in the database is a leak waiting to happen, and one
/// written there by hand should be sealed (`bcgraph secret rotate` does).
pub fn reveal(secrets: &Secrets, stored: &str) -> Option<String> {
    match open(secrets, stored) {
        Opened::Current(token) | Opened::Stale(token) => Some(token),
        Opened::Unknown | Opened::Plaintext => None,
    }
}

/// What re-sealing the stored tokens did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Stores whose token was sealed under a previous secret (or `v1:`), now current.
    pub resealed: Vec<String>,
    /// Stores whose token was stored unsealed, now sealed.
    pub sealed_plaintext: Vec<String>,
    /// Stores whose token was already sealed under the current secret.
    pub current: Vec<String>,
    /// Stores whose token opens under no accepted secret: left as they are.
    pub unreadable: Vec<String>,
}

/// Re-seal every store's access token under the current secret. A token that opens
/// under no accepted secret is reported and left untouched; each write only replaces
/// the exact value read, so a token written meanwhile (a reinstall) is never overwritten.
pub async fn reseal_all(db: &DatabaseConnection, secrets: &Secrets) -> Result<Resealed, DbErr> {
    use crate::query::sql::Sql;
    let backend = db.get_database_backend();
    let mut select = Sql::new(backend);
    select.push(
        "SELECT \"id\", \"store_hash\", \"access_token\" FROM \"bigcommerce_store\" \
         WHERE \"access_token\" IS NOT NULL ORDER BY \"id\"",
    );
    let rows = db.query_all_raw(select.build()).await?;
    let mut out = Resealed::default();
    for row in rows {
        let id: i64 = row.try_get_by_index(0)?;
        let hash: String = row.try_get_by_index(1)?;
        let stored: String = row.try_get_by_index(2)?;
        let (token, list) = match open(secrets, &stored) {
            Opened::Current(_) => {
                out.current.push(hash);
                continue;
            }
            Opened::Unknown => {
                out.unreadable.push(hash);
                continue;
            }
            Opened::Stale(token) => (token, &mut out.resealed),
            Opened::Plaintext => (stored.clone(), &mut out.sealed_plaintext),
        };
        let mut update = Sql::new(backend);
        update
            .push("UPDATE \"bigcommerce_store\" SET \"access_token\" = ")
            .bind(seal(secrets, &token).into())
            .push(" WHERE \"id\" = ")
            .bind(id.into())
            .push(" AND \"access_token\" = ")
            .bind(stored.into());
        if db.execute_raw(update.build()).await?.rows_affected() == 1 {
            list.push(hash);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &[u8] = b"secret-one-that-is-long-enough-for-the-gateway";
    const TWO: &[u8] = b"secret-two-that-is-long-enough-for-the-gateway";

    /// The `v1:` form, as the gateway wrote it before key ids.
    fn seal_v1(secret: &[u8], token: &str) -> String {
        let keys = KeySet::new(secret);
        format!("{V1}{}", encrypt(&keys.legacy_sealing_key(), b"", token))
    }

    fn only(secret: &[u8]) -> Secrets {
        Secrets::new(secret, &[] as &[&[u8]])
    }

    #[test]
    fn round_trip_with_a_key_id() {
        let secrets = only(ONE);
        let sealed = seal(&secrets, "abc123token");
        let kid = secrets.current().sealing_kid();
        assert!(sealed.starts_with(&format!("v2:{kid}:")), "{sealed}");
        assert!(!sealed.contains("abc123token"));
        assert_ne!(sealed, seal(&secrets, "abc123token"), "a fresh nonce each time");
        assert_eq!(open(&secrets, &sealed), Opened::Current("abc123token".into()));
        assert_eq!(reveal(&secrets, &sealed).as_deref(), Some("abc123token"));
        assert_eq!(open(&only(TWO), &sealed), Opened::Unknown);
        assert_eq!(open(&secrets, "v2:garbage"), Opened::Unknown);
        assert_eq!(open(&secrets, &format!("v2:{kid}:garbage")), Opened::Unknown);
        // The key id is bound to the ciphertext: relabelling a value breaks it.
        let two = only(TWO);
        let relabelled = sealed.replacen(kid, two.current().sealing_kid(), 1);
        assert_eq!(open(&Secrets::new(TWO, &[ONE]), &relabelled), Opened::Unknown);
    }

    #[test]
    fn previous_secrets_and_v1_values_open_and_are_stale() {
        let sealed_one = seal(&only(ONE), "tok");
        let v1 = seal_v1(ONE, "tok-v1");
        let rotating = Secrets::new(TWO, &[ONE]);
        assert_eq!(open(&rotating, &sealed_one), Opened::Stale("tok".into()));
        assert_eq!(open(&rotating, &v1), Opened::Stale("tok-v1".into()));
        assert_eq!(
            open(&only(ONE), &v1),
            Opened::Stale("tok-v1".into()),
            "v1 is always re-sealed"
        );
        assert_eq!(open(&only(TWO), &v1), Opened::Unknown);
        assert_eq!(open(&only(TWO), &sealed_one), Opened::Unknown);
        // v1 as the gateway used to write it: SHA-256("bcgraph access tokens" ‖ secret).
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"bcgraph access tokens")
            .chain_update(ONE)
            .finalize()
            .into();
        let old = format!("v1:{}", encrypt(&key, b"", "written-by-v1"));
        assert_eq!(reveal(&only(ONE), &old).as_deref(), Some("written-by-v1"));
    }

    #[test]
    fn plaintext_is_refused() {
        assert_eq!(open(&only(ONE), "plain-token"), Opened::Plaintext);
        assert_eq!(reveal(&only(ONE), "plain-token"), None);
        assert_eq!(reveal(&only(ONE), ""), None);
    }
}
