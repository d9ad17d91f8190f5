//! Session rows and the signed tokens that name them.

use super::signed_payload::Verified;
use super::{AuthError, Identity, ROLE_ANONYMOUS, ROLE_APP};
use chrono::{Duration, Utc};
use entity::bigcommerce::store;
use entity::internal::session;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

/// How long a browser session lives without use.
const SESSION_LIFETIME: Duration = Duration::days(30);

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The session row's id.
    sid: String,
    exp: i64,
}

fn token(secret: &[u8], session: &session::Model) -> Result<String, AuthError> {
    let claims = Claims {
        sid: session.id.to_string(),
        exp: session.expires_at.timestamp(),
    };
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))
        .map_err(|e| AuthError::Denied(format!("cannot sign a session token: {e}")))
}

fn identity(session: &session::Model) -> Identity {
    Identity {
        session_id: Some(session.id),
        roles: serde_json::from_value(session.roles.clone()).unwrap_or_default(),
        store_id: session.store_id,
        bigcommerce_user_id: session.bigcommerce_user_id.clone(),
    }
}

/// A new anonymous session and its token.
pub async fn create_anonymous(
    db: &DatabaseConnection,
    secret: &[u8],
) -> Result<(Identity, String), AuthError> {
    let now = Utc::now();
    let row = session::ActiveModel {
        created_at: Set(now),
        updated_at: Set(now),
        expires_at: Set(now + SESSION_LIFETIME),
        roles: Set(serde_json::json!([ROLE_ANONYMOUS])),
        store_id: Set(None),
        bigcommerce_user_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((identity(&row), token(secret, &row)?))
}

/// The session a token names, if the token is ours, unexpired, and the session lives.
pub async fn resume(db: &DatabaseConnection, secret: &[u8], token: &str) -> Result<Identity, AuthError> {
    let validation = Validation {
        leeway: 0,
        ..Default::default()
    };
    let claims = decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|e| AuthError::Denied(format!("invalid session token: {e}")))?
        .claims;
    let id: i64 = claims
        .sid
        .parse()
        .map_err(|_| AuthError::Denied("invalid session token".into()))?;
    let row = session::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|s| s.expires_at > Utc::now())
        .ok_or_else(|| AuthError::Denied("the session has ended".into()))?;
    if let Some(store_id) = row.store_id {
        let installed = store::Entity::find_by_id(store_id)
            .one(db)
            .await?
            .is_some_and(|s| s.state == "installed");
        if !installed {
            return Err(AuthError::Denied("the session's store is not installed".into()));
        }
    }
    Ok(identity(&row))
}

/// The session of a BigCommerce staff user of an installed store, made on first use.
pub async fn for_store_user(db: &DatabaseConnection, verified: &Verified) -> Result<Identity, AuthError> {
    let store = store::Entity::find()
        .filter(store::Column::StoreHash.eq(&verified.store_hash))
        .one(db)
        .await?
        .filter(|s| s.state == "installed")
        .ok_or_else(|| {
            AuthError::Denied(format!(
                "store {} has not installed this app",
                verified.store_hash
            ))
        })?;
    let existing = session::Entity::find()
        .filter(session::Column::StoreId.eq(store.id))
        .filter(session::Column::BigcommerceUserId.eq(&verified.user_id))
        .one(db)
        .await?;
    let now = Utc::now();
    let row = match existing {
        Some(row) if row.expires_at > now => row,
        Some(row) => {
            let mut active: session::ActiveModel = row.into();
            active.expires_at = Set(now + SESSION_LIFETIME);
            active.updated_at = Set(now);
            active.update(db).await?
        }
        None => {
            session::ActiveModel {
                created_at: Set(now),
                updated_at: Set(now),
                expires_at: Set(now + SESSION_LIFETIME),
                roles: Set(serde_json::json!([ROLE_APP])),
                store_id: Set(Some(store.id)),
                bigcommerce_user_id: Set(Some(verified.user_id.clone())),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    };
    Ok(identity(&row))
}
