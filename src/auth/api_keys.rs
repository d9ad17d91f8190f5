//! API keys: created by an operator, shown once, kept as a SHA-256 hash.

use chrono::{DateTime, Utc};
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
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Create a key with `roles`; returns its id and the key, which is not kept.
pub async fn create(db: &DatabaseConnection, name: &str, roles: &[String]) -> Result<(i64, String), DbErr> {
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
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row.id, key))
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<ApiKeyInfo>, DbErr> {
    Ok(api_key::Entity::find()
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|k| ApiKeyInfo {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            roles: serde_json::from_value(k.roles).unwrap_or_default(),
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

/// The roles of a live key.
pub async fn verify(db: &DatabaseConnection, key: &str) -> Result<Option<Vec<String>>, DbErr> {
    if !key.starts_with("bcg_") {
        return Ok(None);
    }
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(key)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    Ok(row.map(|k| serde_json::from_value(k.roles).unwrap_or_default()))
}
