//! A store's install, uninstall and staff removal, written through the action runtime.

use super::access_token;
use super::oauth::Grant;
use crate::action::{ActionError, Api, Upserted};
use crate::auth::{Revoked, Secrets, revocation};
use chrono::{DateTime, Utc};
use entity::internal::{removed_user, session};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

/// Install or reinstall the store a grant is for; returns its id and whether it is new.
pub async fn install(api: &Api, secret: &Secrets, grant: &Grant) -> Result<(i64, Upserted), ActionError> {
    let hash = grant
        .store_hash()
        .ok_or_else(|| ActionError::InvalidInput(format!("`{}` is not a store", grant.context)))?;
    let scopes: Vec<&str> = grant.scope.split_whitespace().collect();
    let owner_id = match &grant.owner.id {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let input = json!({
        "storeHash": hash,
        "state": "installed",
        "accessToken": access_token::seal(secret, &grant.access_token),
        "scopes": scopes,
        "ownerId": owner_id,
        "ownerEmail": grant.owner.email,
        "accountUuid": grant.account_uuid,
        "installedAt": Utc::now().to_rfc3339(),
        "uninstalledAt": null,
    });
    let (store, how) = api
        .model("bigcommerce/store")
        .upsert(input, &["storeHash"])
        .await?;
    Ok((store.id(), how))
}

/// Mark a store uninstalled, forget its token, end its sessions and cancel its queued
/// work; returns how many jobs were cancelled. Its data stays; a reinstall brings it back.
pub async fn uninstall(api: &Api, store_id: i64) -> Result<u64, ActionError> {
    let input =
        json!({"state": "uninstalled", "accessToken": null, "uninstalledAt": Utc::now().to_rfc3339()});
    api.model("bigcommerce/store").update(store_id, input).await?;
    session::Entity::delete_many()
        .filter(session::Column::StoreId.eq(store_id))
        .exec(&api.db)
        .await?;
    // Open connections of the store close now, not at their next check.
    revocation::announce(Revoked::Store { store_id });
    super::sync::abort_store(api, store_id).await?;
    crate::queue::cancel_store(&api.db, store_id)
        .await
        .map_err(|e| ActionError::Database(sea_orm::DbErr::Custom(e.to_string())))
}

/// End the sessions of one staff user of a store, and remember when: a payload for the
/// user issued at or before `removed_at` is refused from now on (one issued later, when
/// the user is added again, works). Returns how many sessions ended.
pub async fn remove_user(
    api: &Api,
    store_id: i64,
    user_id: &str,
    removed_at: DateTime<Utc>,
) -> Result<u64, ActionError> {
    removed_user::Entity::insert(removed_user::ActiveModel {
        store_id: Set(store_id),
        bigcommerce_user_id: Set(user_id.to_owned()),
        removed_at: Set(removed_at),
    })
    .on_conflict(
        OnConflict::columns([
            removed_user::Column::StoreId,
            removed_user::Column::BigcommerceUserId,
        ])
        .update_column(removed_user::Column::RemovedAt)
        .to_owned(),
    )
    .exec_without_returning(&api.db)
    .await?;
    let deleted = session::Entity::delete_many()
        .filter(session::Column::StoreId.eq(store_id))
        .filter(session::Column::BigcommerceUserId.eq(user_id))
        .exec(&api.db)
        .await?;
    revocation::announce(Revoked::User {
        store_id,
        user_id: user_id.to_owned(),
    });
    Ok(deleted.rows_affected)
}
