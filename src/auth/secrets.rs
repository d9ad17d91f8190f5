//! The gateway's keys. `BCGRAPH_SECRET` (or, with no set-up, a secret generated once and
//! kept in the database) is never a key itself: each purpose gets its own key, derived
//! with HKDF-SHA256 (RFC 5869) under a label naming the purpose. HKDF rather than a bare
//! HMAC per label because its extract step is made for input that is not uniformly random
//! (a configured secret is any string of 32+ characters), and it is the standard
//! construction for "several independent keys from one secret".
//!
//! So a key leaked or misused for one purpose (a webhook header, say) says nothing about
//! the others, and each key has a key id (a short fingerprint) that tokens and sealed
//! values carry, so a rotated secret can still be told apart from the current one.
//!
//! Rotation: `BCGRAPH_PREVIOUS_SECRETS` lists secrets still accepted for *reading*
//! (opening sealed tokens, verifying session tokens and webhook headers); everything new
//! is made with the current secret. `bcgraph secret rotate` re-seals what is stored.

use entity::internal::setting;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use sha2::{Digest, Sha256};

/// The settings row of a generated secret.
pub const GENERATED_KEY: &str = "secret";

const SALT: &[u8] = b"bcgraph keys v2";
const SESSION_TOKENS: &[u8] = b"bcgraph/session-tokens";
const WEBHOOK_HEADERS: &[u8] = b"bcgraph/webhook-secret-headers";
const ACCESS_TOKEN_SEALING: &[u8] = b"bcgraph/access-token-sealing";

type Key = [u8; 32];

fn derive(secret: &[u8], purpose: &[u8]) -> Key {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), secret)
        .expand(purpose, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// A key's id: the first 8 bytes of its SHA-256, in hex. It names the key without
/// revealing it, and changes whenever the secret does.
fn fingerprint(key: &Key) -> String {
    Sha256::new()
        .chain_update(b"bcgraph key id")
        .chain_update(key)
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keys derived from one secret.
pub struct KeySet {
    session: Key,
    session_kid: String,
    webhook: Key,
    sealing: Key,
    sealing_kid: String,
    /// The secret itself: what the gateway derived before keys had a purpose each
    /// (webhook headers, `v1:` sealed tokens) is still read, never written.
    legacy: Vec<u8>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("session_kid", &self.session_kid)
            .field("sealing_kid", &self.sealing_kid)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    pub fn new(secret: &[u8]) -> KeySet {
        let session = derive(secret, SESSION_TOKENS);
        let sealing = derive(secret, ACCESS_TOKEN_SEALING);
        KeySet {
            session_kid: fingerprint(&session),
            session,
            webhook: derive(secret, WEBHOOK_HEADERS),
            sealing_kid: fingerprint(&sealing),
            sealing,
            legacy: secret.to_vec(),
        }
    }

    /// Signs and verifies session tokens (HS256).
    pub fn session_key(&self) -> &[u8] {
        &self.session
    }

    /// The `kid` of the session tokens this key signs.
    pub fn session_kid(&self) -> &str {
        &self.session_kid
    }

    /// Seals stores' access tokens (XChaCha20-Poly1305).
    pub fn sealing_key(&self) -> &[u8; 32] {
        &self.sealing
    }

    /// The key id written into values this key seals.
    pub fn sealing_kid(&self) -> &str {
        &self.sealing_kid
    }

    /// The `x-webhook-secret` header value of a store's hooks.
    pub fn webhook_header(&self, store_hash: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.webhook).expect("HMAC takes any key length");
        mac.update(store_hash.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The header value hooks registered before keys were derived per purpose carry.
    pub fn legacy_webhook_header(&self, store_hash: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.legacy).expect("HMAC takes any key length");
        mac.update(b"bigcommerce-webhook:");
        mac.update(store_hash.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The key `v1:` values were sealed with (before key ids).
    pub fn legacy_sealing_key(&self) -> Key {
        Sha256::new()
            .chain_update(b"bcgraph access tokens")
            .chain_update(&self.legacy)
            .finalize()
            .into()
    }
}

/// The current secret's keys, and those of previous secrets still accepted for reading.
#[derive(Debug)]
pub struct Secrets {
    current: KeySet,
    previous: Vec<KeySet>,
    /// Whether a generated secret kept in the database is among them.
    generated_in_database: bool,
}

impl Default for Secrets {
    /// A random secret, for code that needs keys but never keeps what they make (printing
    /// the schema).
    fn default() -> Secrets {
        Secrets::new(&random_secret().into_bytes(), &[] as &[&[u8]])
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

impl Secrets {
    pub fn new<S: AsRef<[u8]>>(current: &[u8], previous: &[S]) -> Secrets {
        let mut seen = vec![current.to_vec()];
        let mut sets = Vec::new();
        for secret in previous {
            let secret = secret.as_ref();
            if !seen.iter().any(|s| s == secret) {
                seen.push(secret.to_vec());
                sets.push(KeySet::new(secret));
            }
        }
        Secrets {
            current: KeySet::new(current),
            previous: sets,
            generated_in_database: false,
        }
    }

    /// From `BCGRAPH_SECRET` and `BCGRAPH_PREVIOUS_SECRETS`. Without `BCGRAPH_SECRET` a
    /// secret is generated once and kept in the database (zero set-up, with a warning).
    /// With it, a generated secret still in the database is accepted as a previous one,
    /// until `bcgraph secret rotate` has moved everything off it and deletes it.
    pub async fn load(
        db: &DatabaseConnection,
        configured: Option<&str>,
        previous: &[String],
    ) -> Result<Secrets, DbErr> {
        let stored = setting::Entity::find_by_id(GENERATED_KEY)
            .one(db)
            .await?
            .map(|row| row.value);
        let Some(configured) = configured else {
            let secret = match stored {
                Some(secret) => secret,
                None => generate(db).await?,
            };
            tracing::warn!(
                "BCGRAPH_SECRET is not set: using a generated secret kept in the database \
                 (anyone who reads the database can read the stores' tokens; set BCGRAPH_SECRET \
                 and run `bcgraph secret rotate`)"
            );
            let mut secrets = Secrets::new(secret.as_bytes(), previous);
            secrets.generated_in_database = true;
            return Ok(secrets);
        };
        let mut accepted: Vec<&[u8]> = previous.iter().map(|s| s.as_bytes()).collect();
        if let Some(generated) = &stored {
            tracing::warn!(
                "a generated secret is still kept in the database next to what it protects: \
                 run `bcgraph secret rotate` to move everything to BCGRAPH_SECRET and delete it"
            );
            accepted.push(generated.as_bytes());
        }
        let mut secrets = Secrets::new(configured.as_bytes(), &accepted);
        secrets.generated_in_database = stored.is_some();
        Ok(secrets)
    }

    /// The keys everything new is made with.
    pub fn current(&self) -> &KeySet {
        &self.current
    }

    /// Every accepted key set, the current one first.
    pub fn all(&self) -> impl Iterator<Item = &KeySet> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The key set whose session key has this id.
    pub fn by_session_kid(&self, kid: &str) -> Option<&KeySet> {
        self.all().find(|k| k.session_kid == kid)
    }

    /// The key set whose sealing key has this id.
    pub fn by_sealing_kid(&self, kid: &str) -> Option<&KeySet> {
        self.all().find(|k| k.sealing_kid == kid)
    }

    /// Is a generated secret kept in the database among the accepted ones?
    pub fn generated_in_database(&self) -> bool {
        self.generated_in_database
    }

    /// Is `given` the `x-webhook-secret` of a store's hooks under any accepted secret
    /// (current or previous, derived per purpose or the older form)? Compared in constant
    /// time against every candidate.
    pub fn accepts_webhook_header(&self, store_hash: &str, given: &str) -> bool {
        let mut accepted = false;
        for keys in self.all() {
            accepted |= constant_time_eq(given, &keys.webhook_header(store_hash));
            accepted |= constant_time_eq(given, &keys.legacy_webhook_header(store_hash));
        }
        accepted
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn generate(db: &DatabaseConnection) -> Result<String, DbErr> {
    // Several processes may start at once: the first one's secret wins.
    setting::Entity::insert(setting::ActiveModel {
        key: Set(GENERATED_KEY.to_owned()),
        value: Set(random_secret()),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    let row = setting::Entity::find_by_id(GENERATED_KEY)
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotFound(GENERATED_KEY.into()))?;
    Ok(row.value)
}

/// Delete the generated secret from the database (after `bcgraph secret rotate` moved
/// everything to `BCGRAPH_SECRET`). Returns whether there was one.
pub async fn forget_generated(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let deleted = setting::Entity::delete_by_id(GENERATED_KEY).exec(db).await?;
    Ok(deleted.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_has_its_own_key() {
        let keys = KeySet::new(b"a-secret-that-is-long-enough-to-be-used-here");
        let all = [keys.session, keys.webhook, keys.sealing];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(keys.session_kid, keys.sealing_kid);
        assert_eq!(keys.sealing_kid.len(), 16);
        // The secret itself is none of them.
        assert!(all.iter().all(|k| k.as_slice() != keys.legacy.as_slice()));
        // Stable: the same secret gives the same keys (every process agrees).
        let again = KeySet::new(b"a-secret-that-is-long-enough-to-be-used-here");
        assert_eq!(again.sealing, keys.sealing);
        assert_eq!(again.webhook_header("abc"), keys.webhook_header("abc"));
        // Another secret, other keys and ids.
        let other = KeySet::new(b"another-secret-that-is-long-enough-to-be-used");
        assert_ne!(other.session, keys.session);
        assert_ne!(other.sealing_kid, keys.sealing_kid);
    }

    #[test]
    fn webhook_headers_of_every_accepted_secret() {
        let old = b"the-old-secret-that-is-long-enough-for-this".as_slice();
        let new = b"the-new-secret-that-is-long-enough-for-this".as_slice();
        let rotating = Secrets::new(new, &[old]);
        let old_keys = KeySet::new(old);
        let new_keys = KeySet::new(new);
        assert_eq!(
            rotating.current().webhook_header("abc"),
            new_keys.webhook_header("abc")
        );
        for header in [
            new_keys.webhook_header("abc"),
            old_keys.webhook_header("abc"),
            old_keys.legacy_webhook_header("abc"),
        ] {
            assert!(rotating.accepts_webhook_header("abc", &header));
        }
        assert!(!rotating.accepts_webhook_header("xyz", &new_keys.webhook_header("abc")));
        let rotated = Secrets::new(new, &[] as &[&[u8]]);
        assert!(!rotated.accepts_webhook_header("abc", &old_keys.webhook_header("abc")));
        assert!(rotated.accepts_webhook_header("abc", &new_keys.webhook_header("abc")));
        // The older form is still the HMAC the gateway used to register.
        let mut mac = Hmac::<Sha256>::new_from_slice(new).unwrap();
        mac.update(b"bigcommerce-webhook:abc");
        assert_eq!(
            new_keys.legacy_webhook_header("abc"),
            hex(&mac.finalize().into_bytes())
        );
        // Listing the current secret as a previous one changes nothing.
        assert_eq!(Secrets::new(new, &[new]).all().count(), 1);
    }
}
