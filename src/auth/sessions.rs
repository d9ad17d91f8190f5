//! Sessions and the signed tokens that name them.
//!
//! An anonymous session is stateless: its token (HS256 with the session-token key)
//! carries its own random id and expiry, so minting and resuming it touch no database,
//! and a flood of credential-less requests stores nothing. A row is written only when
//! something is kept in a session ([`persist_anonymous`]); its token then names the row.
//! A BigCommerce staff user's session is a row per (store, user), made on first use.

use super::signed_payload::Verified;
use super::{AuthError, Identity, ROLE_ANONYMOUS, ROLE_APP, Secrets};
use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::internal::{removed_user, session};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

/// How long a session lives, by default (`BCGRAPH_SESSION_LIFETIME_SECONDS`).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::days(30);

/// Anonymous ids are drawn from the top quarter of the positive 64-bit range, far from
/// the rows' sequential ids, so a session that is later kept keeps its id.
const ANONYMOUS_IDS: std::ops::Range<i64> = (1 << 62)..i64::MAX;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// A session row's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// A stateless anonymous session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aid: Option<String>,
    exp: i64,
    /// When a stateless anonymous session began (its `createdAt`); absent in tokens
    /// minted before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

fn sign(secrets: &Secrets, claims: &Claims) -> Result<String, AuthError> {
    let keys = secrets.current();
    let header = Header {
        kid: Some(keys.session_kid().to_owned()),
        ..Header::new(Algorithm::HS256)
    };
    encode(&header, claims, &EncodingKey::from_secret(keys.session_key()))
        .map_err(|e| AuthError::Denied(format!("cannot sign a session token: {e}")))
}

/// The claims of a token signed with an accepted session key and unexpired; `None`
/// otherwise (the caller answers as a new anonymous session).
fn verify(secrets: &Secrets, token: &str) -> Option<Claims> {
    let kid = decode_header(token).ok()?.kid?;
    let keys = secrets.by_session_kid(&kid)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    decode::<Claims>(token, &DecodingKey::from_secret(keys.session_key()), &validation)
        .ok()
        .map(|t| t.claims)
}

fn at(seconds: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds, 0).single()
}

fn identity(session: &session::Model) -> Identity {
    Identity {
        session_id: Some(session.id),
        roles: serde_json::from_value(session.roles.clone()).unwrap_or_default(),
        store_id: session.store_id,
        bigcommerce_user_id: session.bigcommerce_user_id.clone(),
        expires_at: Some(session.expires_at),
        issued_at: None,
        stateless_session: false,
        api_key_id: None,
    }
}

fn anonymous_identity(id: i64, expires_at: DateTime<Utc>, issued_at: Option<DateTime<Utc>>) -> Identity {
    Identity {
        session_id: Some(id),
        roles: vec![ROLE_ANONYMOUS.to_owned()],
        store_id: None,
        bigcommerce_user_id: None,
        expires_at: Some(expires_at),
        issued_at,
        stateless_session: true,
        api_key_id: None,
    }
}

/// A new anonymous session and its token. Nothing is stored.
pub fn anonymous(secrets: &Secrets, lifetime: Duration) -> Result<(Identity, String), AuthError> {
    let id = rand::random_range(ANONYMOUS_IDS);
    // Whole seconds, as the token holds them.
    let expires_at = at((Utc::now() + lifetime).timestamp())
        .ok_or_else(|| AuthError::Denied("the session lifetime is out of range".into()))?;
    let issued_at = at(Utc::now().timestamp());
    let claims = Claims {
        sid: None,
        aid: Some(id.to_string()),
        exp: expires_at.timestamp(),
        iat: issued_at.map(|t| t.timestamp()),
    };
    Ok((anonymous_identity(id, expires_at, issued_at), sign(secrets, &claims)?))
}

/// The session a token names, if the token is ours and unexpired and its session lives;
/// `None` if not (answered as a new anonymous session, never as a refusal). A stateless
/// anonymous token is resumed without reading the database.
pub async fn resume(
    db: &DatabaseConnection,
    secrets: &Secrets,
    token: &str,
) -> Result<Option<Identity>, AuthError> {
    let Some(claims) = verify(secrets, token) else {
        return Ok(None);
    };
    let Some(expires_at) = at(claims.exp) else {
        return Ok(None);
    };
    if let Some(aid) = &claims.aid {
        return Ok(aid
            .parse()
            .ok()
            .filter(|id| ANONYMOUS_IDS.contains(id))
            .map(|id| anonymous_identity(id, expires_at, claims.iat.and_then(at))));
    }
    let Some(id) = claims.sid.and_then(|sid| sid.parse::<i64>().ok()) else {
        return Ok(None);
    };
    let Some(row) = session::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|s| s.expires_at > Utc::now())
    else {
        return Ok(None);
    };
    if let Some(store_id) = row.store_id {
        let installed = crate::bigcommerce::stores::is_installed(db, store_id).await?;
        if !installed {
            return Ok(None);
        }
    }
    Ok(Some(identity(&row)))
}

/// Keep a stateless anonymous session as a row (when something is to be stored in it),
/// with the same id and expiry; returns the token that names the row from now on.
/// Nothing calls this yet: no session data exists today.
#[cfg(feature = "internals")]
pub async fn persist_anonymous(
    db: &DatabaseConnection,
    secrets: &Secrets,
    identity: &Identity,
) -> Result<String, AuthError> {
    let (Some(id), Some(expires_at), true) = (
        identity.session_id,
        identity.expires_at,
        identity.stateless_session,
    ) else {
        return Err(AuthError::Denied(
            "only a stateless anonymous session can be kept".into(),
        ));
    };
    let now = Utc::now();
    session::Entity::insert(session::ActiveModel {
        id: Set(id),
        created_at: Set(now),
        updated_at: Set(now),
        expires_at: Set(expires_at),
        roles: Set(serde_json::json!(identity.roles)),
        store_id: Set(None),
        bigcommerce_user_id: Set(None),
    })
    .on_conflict_do_nothing_on([session::Column::Id])
    .exec_without_returning(db)
    .await?;
    let claims = Claims {
        sid: Some(id.to_string()),
        aid: None,
        exp: expires_at.timestamp(),
        iat: None,
    };
    sign(secrets, &claims)
}

/// Was this user removed from the store's app at or after `issued_at` (unix seconds)?
/// Whole seconds: a payload issued in the second of the removal is refused too.
pub async fn removed_since(
    db: &DatabaseConnection,
    store_id: i64,
    user_id: &str,
    issued_at: i64,
) -> Result<bool, AuthError> {
    let removed = removed_user::Entity::find_by_id((store_id, user_id.to_owned()))
        .one(db)
        .await?;
    Ok(removed.is_some_and(|r| r.removed_at.timestamp() >= issued_at))
}

/// The session of a BigCommerce staff user of an installed store, made on first use.
/// Race-free: concurrent first requests meet on the unique `(store_id,
/// bigcommerce_user_id)` index and share one row.
pub async fn for_store_user(
    db: &DatabaseConnection,
    verified: &Verified,
    lifetime: Duration,
) -> Result<Identity, AuthError> {
    let store = crate::bigcommerce::stores::installed_by_hash(db, &verified.store_hash)
        .await?
        .ok_or_else(|| {
            AuthError::Denied(format!(
                "store {} has not installed this app",
                verified.store_hash
            ))
        })?;
    if removed_since(db, store.id, &verified.user_id, verified.issued_at).await? {
        return Err(AuthError::Denied(
            "this user was removed from the app after this payload was issued".into(),
        ));
    }
    let now = Utc::now();
    let existing = session::Entity::find()
        .filter(session::Column::StoreId.eq(store.id))
        .filter(session::Column::BigcommerceUserId.eq(&verified.user_id))
        .one(db)
        .await?
        .filter(|row| row.expires_at > now);
    let row = match existing {
        Some(row) => row,
        // New, or expired and renewed: one statement either way.
        None => {
            session::Entity::insert(session::ActiveModel {
                created_at: Set(now),
                updated_at: Set(now),
                expires_at: Set(now + lifetime),
                roles: Set(serde_json::json!([ROLE_APP])),
                store_id: Set(Some(store.id)),
                bigcommerce_user_id: Set(Some(verified.user_id.clone())),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([session::Column::StoreId, session::Column::BigcommerceUserId])
                    .update_columns([session::Column::ExpiresAt, session::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_with_returning(db)
            .await?
        }
    };
    let mut identity = identity(&row);
    identity.issued_at = at(verified.issued_at);
    identity.expires_at = identity
        .expires_at
        .into_iter()
        .chain(at(verified.expires_at))
        .min();
    Ok(identity)
}
