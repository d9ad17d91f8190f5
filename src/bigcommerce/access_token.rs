//! Stores' access tokens, encrypted at rest with a key derived from `BCGRAPH_SECRET`.
//! Stored form: `v1:` + base64(nonce ‖ ciphertext).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";

fn cipher(secret: &[u8]) -> XChaCha20Poly1305 {
    // A key of its own, so the session-token key never encrypts anything.
    let key = Sha256::new()
        .chain_update(b"bcgraph access tokens")
        .chain_update(secret)
        .finalize();
    XChaCha20Poly1305::new(&key)
}

/// Encrypt an access token for storage.
pub fn seal(secret: &[u8], token: &str) -> String {
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher(secret)
        .encrypt(&XNonce::from(nonce), token.as_bytes())
        .unwrap_or_default();
    let mut bytes = nonce.to_vec();
    bytes.extend(ciphertext);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The token a store row holds: opened when sealed; a value that was never sealed
/// (written before encryption, or by hand) is taken as it is.
pub fn reveal(secret: &[u8], stored: &str) -> Option<String> {
    if stored.starts_with(PREFIX) {
        open(secret, stored)
    } else {
        Some(stored.to_owned())
    }
}

/// The token in a stored value; `None` if it was sealed with another secret or damaged.
pub fn open(secret: &[u8], stored: &str) -> Option<String> {
    let bytes = STANDARD.decode(stored.strip_prefix(PREFIX)?).ok()?;
    if bytes.len() < 24 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let plain = cipher(secret).decrypt(&XNonce::from(nonce), ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let sealed = seal(b"secret-one", "abc123token");
        assert!(sealed.starts_with("v1:") && !sealed.contains("abc123token"));
        assert_ne!(
            sealed,
            seal(b"secret-one", "abc123token"),
            "a fresh nonce each time"
        );
        assert_eq!(open(b"secret-one", &sealed).as_deref(), Some("abc123token"));
        assert_eq!(open(b"secret-two", &sealed), None);
        assert_eq!(open(b"secret-one", "v1:garbage"), None);
        assert_eq!(open(b"secret-one", "plain"), None);
    }
}
