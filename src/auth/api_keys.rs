//! API keys: created by an operator, shown once, kept as a SHA-256 hash. A key is
//! either `system-admin` (every store) or bound to one store at creation: a key of any
//! other role without a store would reach nothing, so it is refused.

use super::{AuthError, ROLE_ADMIN};
use chrono::{DateTime, Utc};
use entity::bigcommerce::store;
use entity::internal::api_key;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key as listings show it (never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub roles: Vec<String>,
    /// The hash of the store a bound key acts for.
    pub store_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a live key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key_id: i64,
    pub roles: Vec<String>,
    /// The one store a bound key acts for (its id).
    pub store_id: Option<i64>,
}

/// Create a key with `roles`, bound to the store `store_hash` if given; returns its id
/// and the key, which is not kept. A key that is not `system-admin` needs a store.
pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    roles: &[String],
    store_hash: Option<&str>,
) -> Result<(i64, String), AuthError> {
    let store_id = match store_hash {
        Some(hash) => Some(
            store::Entity::find()
                .filter(store::Column::StoreHash.eq(hash))
                .one(db)
                .await?
                .ok_or_else(|| AuthError::Denied(format!("no store {hash} has installed the app")))?
                .id,
        ),
        None if roles.iter().any(|r| r == ROLE_ADMIN) => None,
        None => {
            return Err(AuthError::Denied(format!(
                "a key of role {} must be bound to a store (--store HASH); only {ROLE_ADMIN} keys act for every store",
                roles.join(",")
            )));
        }
    };
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!(
        "bcg_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let row = api_key::ActiveModel {
        created_at: Set(Utc::now()),
        name: Set(name.to_owned()),
        key_hash: Set(hash(&key)),
        prefix: Set(key[..12].to_owned()),
        roles: Set(serde_json::json!(roles)),
        revoked_at: Set(None),
        store_id: Set(store_id),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row.id, key))
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<ApiKeyInfo>, DbErr> {
    let keys = api_key::Entity::find()
        .order_by_asc(api_key::Column::Id)
        .find_also_related(store::Entity)
        .all(db)
        .await?;
    Ok(keys
        .into_iter()
        .map(|(k, store)| ApiKeyInfo {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            roles: serde_json::from_value(k.roles).unwrap_or_default(),
            store_hash: store.map(|s| s.store_hash),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

/// Revoke the key with this id or name; false when there is none.
pub async fn revoke(db: &DatabaseConnection, id_or_name: &str) -> Result<bool, DbErr> {
    let condition = match id_or_name.parse::<i64>() {
        Ok(id) => api_key::Column::Id.eq(id),
        Err(_) => api_key::Column::Name.eq(id_or_name),
    };
    let result = api_key::Entity::update_many()
        .col_expr(
            api_key::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(condition)
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// What a live key grants.
pub async fn verify(db: &DatabaseConnection, key: &str) -> Result<Option<KeyGrant>, DbErr> {
    if !key.starts_with("bcg_") {
        return Ok(None);
    }
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(key)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    Ok(row.map(|k| KeyGrant {
        key_id: k.id,
        roles: serde_json::from_value(k.roles).unwrap_or_default(),
        store_id: k.store_id,
    }))
}

/// Is the key with this id still live (not revoked)?
pub async fn is_live(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
    Ok(api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|k| k.revoked_at.is_none()))
}
