//! Who is asking: API keys, browser sessions and BigCommerce signed payloads, turned
//! into an [`Identity`] (roles, store, user) at the edge. Tenancy is applied from the
//! identity where queries and writes are built, never here.

pub mod api_keys;
pub mod permissions;
pub mod purge;
pub mod replay;
pub mod revocation;
pub mod secrets;
mod sessions;
pub mod signed_payload;

pub use permissions::Permissions;
pub use revocation::Revoked;
pub use secrets::{KeySet, Secrets};

use crate::config::Config;
use chrono::{DateTime, Utc};
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
    /// When the credential ends: a session's expiry, a signed payload's `exp`.
    pub expires_at: Option<DateTime<Utc>>,
    /// When BigCommerce issued the signed payload this identity came from (a removal of
    /// the user after it ends the identity).
    pub issued_at: Option<DateTime<Utc>>,
    /// An anonymous session that lives only in its token (no row).
    pub stateless_session: bool,
    /// The API key this identity came from (a revoked key ends it).
    pub api_key_id: Option<i64>,
}

impl Identity {
    /// Internal work (handlers, the sync, the CLI): everything, no tenant.
    pub fn system() -> Identity {
        Identity {
            session_id: None,
            roles: vec![ROLE_ADMIN.to_owned()],
            store_id: None,
            bigcommerce_user_id: None,
            expires_at: None,
            issued_at: None,
            stateless_session: false,
            api_key_id: None,
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

type PayloadCache = Mutex<HashMap<String, (Identity, Instant)>>;

/// Authentication state shared by every request.
#[derive(Clone)]
pub struct Auth {
    db: DatabaseConnection,
    /// The gateway's keys: session tokens, webhook headers, sealed access tokens.
    pub secret: Arc<Secrets>,
    client_id: Option<String>,
    client_secret: Option<String>,
    session_lifetime: chrono::Duration,
    legacy_payload_max_age: i64,
    payloads: Arc<PayloadCache>,
}

impl Auth {
    /// Set up from configuration; without `BCGRAPH_SECRET` a secret is generated once
    /// and kept in the database.
    pub async fn new(db: DatabaseConnection, config: &Config) -> Result<Auth, DbErr> {
        let secrets = Secrets::load(&db, config.secret.as_deref(), &config.previous_secrets).await?;
        let payloads: Arc<PayloadCache> = Arc::default();
        forget_revoked(Arc::downgrade(&payloads));
        Ok(Auth {
            db,
            secret: Arc::new(secrets),
            client_id: config.bigcommerce.client_id.clone(),
            client_secret: config.bigcommerce.client_secret.clone(),
            session_lifetime: chrono::Duration::from_std(config.session_lifetime)
                .unwrap_or(sessions::DEFAULT_SESSION_LIFETIME),
            legacy_payload_max_age: i64::try_from(config.legacy_payload_max_age.as_secs())
                .unwrap_or(i64::MAX),
            payloads,
        })
    }

    /// How old a legacy `signed_payload` may be, in seconds (`BCGRAPH_LEGACY_PAYLOAD_MAX_AGE_SECONDS`).
    pub fn legacy_payload_max_age(&self) -> i64 {
        self.legacy_payload_max_age
    }

    fn new_anonymous(&self) -> Result<Authenticated, AuthError> {
        let (identity, token) = sessions::anonymous(&self.secret, self.session_lifetime)?;
        Ok(Authenticated {
            identity,
            new_token: Some(token),
        })
    }

    /// A `Session` token: its session, or (expired, unverifiable, ended) a new anonymous
    /// session with a fresh token, as the client expects, never a refusal.
    async fn session(&self, token: &str) -> Result<Authenticated, AuthError> {
        match sessions::resume(&self.db, &self.secret, token).await? {
            Some(identity) => Ok(Authenticated {
                identity,
                new_token: None,
            }),
            None => self.new_anonymous(),
        }
    }

    /// Authenticate an `authorization` header value (`None` when absent).
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Authenticated, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let Some(header) = header else {
            return self.new_anonymous();
        };
        let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
        let credential = credential.trim();
        let identity = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.api_key(credential).await?,
            "session" => return self.session(credential).await,
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
            "browser-session" => self.session(field("sessionToken")).await,
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
            let installed = crate::bigcommerce::stores::is_installed(&self.db, store_id).await?;
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
            expires_at: None,
            issued_at: None,
            stateless_session: false,
            api_key_id: Some(grant.key_id),
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
        let verified = signed_payload::verify(payload, client_id, client_secret, self.legacy_payload_max_age)
            .map_err(AuthError::Denied)?;
        let identity = sessions::for_store_user(&self.db, &verified, self.session_lifetime).await?;
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

    /// Keep a stateless anonymous session as a row, for when something is stored in it;
    /// returns the token that names the row (for `x-set-authorization`). Nothing but the
    /// tests calls it yet: no session data exists today.
    #[cfg(feature = "internals")]
    pub async fn persist_session(&self, identity: &Identity) -> Result<String, AuthError> {
        sessions::persist_anonymous(&self.db, &self.secret, identity).await
    }

    /// Is an identity authenticated earlier still good? Its credential has not expired,
    /// its session row (if it has one) still exists unexpired, its store is still
    /// installed, and its user was not removed from the store's app since the payload it
    /// came from was issued. For long-lived connections (websockets); see also
    /// [`revocation::subscribe`].
    pub async fn revalidate(&self, identity: &Identity) -> Result<(), AuthError> {
        let now = Utc::now();
        if identity.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Denied("the credentials have expired".into()));
        }
        if identity.stateless_session {
            return Ok(());
        }
        if let Some(key) = identity.api_key_id
            && !api_keys::is_live(&self.db, key).await?
        {
            return Err(AuthError::Denied("the API key was revoked".into()));
        }
        if let Some(id) = identity.session_id {
            let alive = entity::internal::session::Entity::find_by_id(id)
                .one(&self.db)
                .await?
                .is_some_and(|s| s.expires_at > now);
            if !alive {
                return Err(AuthError::Denied("the session has ended".into()));
            }
        }
        if let Some(store_id) = identity.store_id {
            let installed = crate::bigcommerce::stores::is_installed(&self.db, store_id).await?;
            if !installed {
                return Err(AuthError::Denied("the store has uninstalled the app".into()));
            }
            if let (Some(user), Some(issued_at)) = (&identity.bigcommerce_user_id, identity.issued_at)
                && sessions::removed_since(&self.db, store_id, user, issued_at.timestamp()).await?
            {
                return Err(AuthError::Denied("the user was removed from the app".into()));
            }
        }
        Ok(())
    }
}

/// Drop cached payloads whose store or user was revoked anywhere in this process (the
/// uninstall webhook too, not only the callbacks that call `forget_store`).
fn forget_revoked(cache: std::sync::Weak<PayloadCache>) {
    revocation::prune(cache, |cache, event| match event {
        Some(event) => cache.retain(|_, (identity, _)| {
            !event.affects(identity.store_id, identity.bigcommerce_user_id.as_deref())
        }),
        None => cache.clear(),
    });
}
