//! Who is asking: API keys, browser sessions and BigCommerce signed payloads, turned
//! into an [`Identity`] (roles, store, user) at the edge. Tenancy is applied from the
//! identity where queries and writes are built, never here.

pub mod api_keys;
pub mod permissions;
mod secret;
mod sessions;
pub mod signed_payload;

pub use permissions::Permissions;

use crate::config::Config;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ROLE_ADMIN: &str = "system-admin";
pub const ROLE_APP: &str = "Role-BigCommerce-App";
pub const ROLE_ANONYMOUS: &str = "unauthenticated";

/// A role's human name, as `currentSession { roles { name } }` shows it.
pub fn role_name(key: &str) -> String {
    match key {
        ROLE_ADMIN => "System Admin".to_owned(),
        ROLE_APP => "BigCommerce App User".to_owned(),
        ROLE_ANONYMOUS => "Unauthenticated".to_owned(),
        other => other.to_owned(),
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub session_id: Option<i64>,
    pub roles: Vec<String>,
    /// The tenant: the only store whose rows this identity sees.
    pub store_id: Option<i64>,
    pub bigcommerce_user_id: Option<String>,
}

impl Identity {
    /// Internal work (handlers, the sync, the CLI): everything, no tenant.
    pub fn system() -> Identity {
        Identity {
            session_id: None,
            roles: vec![ROLE_ADMIN.to_owned()],
            store_id: None,
            bigcommerce_user_id: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credentials are refused; the message says why, for the caller.
    #[error("{0}")]
    Denied(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// What authenticating a request produced.
pub struct Authenticated {
    pub identity: Identity,
    /// A new session token for `x-set-authorization`, when one was minted.
    pub new_token: Option<String>,
}

/// How long a verified signed payload is remembered. Short: an uninstall in another
/// process (or by webhook) must end access promptly.
const PAYLOAD_CACHE_TTL: Duration = Duration::from_secs(5);
const PAYLOAD_CACHE_MAX: usize = 10_000;

/// Authentication state shared by every request.
#[derive(Clone)]
pub struct Auth {
    db: DatabaseConnection,
    /// Signs session tokens (and encrypts access tokens).
    pub secret: Arc<Vec<u8>>,
    client_id: Option<String>,
    client_secret: Option<String>,
    payloads: Arc<Mutex<HashMap<String, (Identity, Instant)>>>,
}

impl Auth {
    /// Set up from configuration; without `BCGRAPH_SECRET` a secret is generated once
    /// and kept in the database.
    pub async fn new(db: DatabaseConnection, config: &Config) -> Result<Auth, DbErr> {
        let secret = secret::load_or_create(&db, config.secret.as_deref()).await?;
        Ok(Auth {
            db,
            secret: Arc::new(secret),
            client_id: config.bigcommerce.client_id.clone(),
            client_secret: config.bigcommerce.client_secret.clone(),
            payloads: Arc::default(),
        })
    }

    /// Authenticate an `authorization` header value (`None` when absent).
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Authenticated, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let Some(header) = header else {
            let (identity, token) = sessions::create_anonymous(&self.db, &self.secret).await?;
            return Ok(Authenticated {
                identity,
                new_token: Some(token),
            });
        };
        let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
        let credential = credential.trim();
        let identity = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.api_key(credential).await?,
            "session" => sessions::resume(&self.db, &self.secret, credential).await?,
            "bigcommercesignedpayload" => self.signed_payload(credential).await?,
            _ => {
                return Err(AuthError::Denied(format!(
                    "unknown authorization scheme `{scheme}`"
                )));
            }
        };
        Ok(Authenticated {
            identity,
            new_token: None,
        })
    }

    /// Authenticate the `auth` object of a websocket `connection_init` payload.
    pub async fn authenticate_websocket(&self, auth: &serde_json::Value) -> Result<Authenticated, AuthError> {
        let field = |name: &str| auth.get(name).and_then(|v| v.as_str()).unwrap_or("");
        match field("type") {
            "api-key" => Ok(Authenticated {
                identity: self.api_key(field("key")).await?,
                new_token: None,
            }),
            "browser-session" => Ok(Authenticated {
                identity: sessions::resume(&self.db, &self.secret, field("sessionToken")).await?,
                new_token: None,
            }),
            "custom" => Ok(Authenticated {
                identity: self.signed_payload(field("bigcommerceSignedPayload")).await?,
                new_token: None,
            }),
            "anonymous" | "" => self.authenticate(None).await,
            other => Err(AuthError::Denied(format!(
                "unknown websocket auth type `{other}`"
            ))),
        }
    }

    async fn api_key(&self, key: &str) -> Result<Identity, AuthError> {
        let grant = api_keys::verify(&self.db, key)
            .await?
            .ok_or_else(|| AuthError::Denied("unknown or revoked API key".into()))?;
        // A bound key acts for its store while the store has the app installed.
        if let Some(store_id) = grant.store_id {
            let installed = entity::bigcommerce::store::Entity::find_by_id(store_id)
                .one(&self.db)
                .await?
                .is_some_and(|s| s.state == "installed");
            if !installed {
                return Err(AuthError::Denied(
                    "the API key's store has not installed the app".into(),
                ));
            }
        }
        Ok(Identity {
            session_id: None,
            roles: grant.roles,
            store_id: grant.store_id,
            bigcommerce_user_id: None,
        })
    }

    async fn signed_payload(&self, payload: &str) -> Result<Identity, AuthError> {
        if let Some((identity, at)) = self
            .payloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(payload)
            && at.elapsed() < PAYLOAD_CACHE_TTL
        {
            return Ok(identity.clone());
        }
        let (Some(client_id), Some(client_secret)) = (&self.client_id, &self.client_secret) else {
            return Err(AuthError::Denied(
                "BigCommerce signed payloads need BIGCOMMERCE_CLIENT_ID and BIGCOMMERCE_CLIENT_SECRET".into(),
            ));
        };
        let verified =
            signed_payload::verify(payload, client_id, client_secret).map_err(AuthError::Denied)?;
        let identity = sessions::for_store_user(&self.db, &verified).await?;
        let mut cache = self.payloads.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= PAYLOAD_CACHE_MAX {
            cache.clear();
        }
        cache.insert(payload.to_owned(), (identity.clone(), Instant::now()));
        Ok(identity)
    }

    /// Forget every cached payload of a store (after an uninstall).
    pub fn forget_store(&self, store_id: i64) {
        self.payloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (identity, _)| identity.store_id != Some(store_id));
    }
}
