//! A store's install, uninstall and staff removal, written through the action runtime.

use crate::model::names;
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
        "state": super::stores::StoreState::Installed.as_str(),
        "accessToken": access_token::seal(secret, &grant.access_token),
        "scopes": scopes,
        "ownerId": owner_id,
        "ownerEmail": grant.owner.email,
        "accountUuid": grant.account_uuid,
        "installedAt": Utc::now().to_rfc3339(),
        "uninstalledAt": null,
    });
    let (store, how) = api
        .model(names::STORE)
        .upsert(input, &["storeHash"])
        .await?;
    Ok((store.id(), how))
}

/// What an install did besides recording the store.
#[derive(Debug)]
pub struct Installed {
    /// Its first sync could not be started (it is retried by the daily schedule).
    pub sync_error: Option<String>,
    /// Its webhooks could not be registered (`bcgraph webhooks register` does it later).
    pub webhooks_error: Option<String>,
}

/// Every step of an install, after BigCommerce granted the token: the store recorded
/// (or reinstalled), the process's cached identities of it forgotten, its first sync
/// started and its webhooks registered. Only the first step is required; the others
/// are reported, since a later run repairs them.
pub async fn install_store(state: &crate::server::AppState, grant: &Grant) -> Result<Installed, ActionError> {
    let (store_id, _) = install(&state.api, &state.auth.secret, grant).await?;
    state.auth.forget_store(store_id);
    let store_hash = grant.store_hash().unwrap_or_default().to_owned();
    tracing::info!(store = store_hash, user = %grant.user.id, "installed");
    // The first sync copies what the store has (a reinstall: what changed meanwhile).
    let sync_error = super::sync::actions::start(&state.api, store_id, Default::default())
        .await
        .err()
        .map(|e| e.to_string());
    if let Some(e) = &sync_error {
        tracing::warn!(store = store_id, error = %e, "no sync started at install");
    }
    // Webhooks keep the copy current from now on.
    let webhooks_error = super::webhooks::register_store(
        &state.api,
        &state.bigcommerce,
        &state.auth.secret,
        state.config.public_url.as_str(),
        &state.webhook_scopes(),
        &store_hash,
    )
    .await
    .err()
    .map(|e| e.to_string());
    if let Some(e) = &webhooks_error {
        tracing::error!(store = store_hash, error = %e, "webhook registration failed at install");
    }
    Ok(Installed {
        sync_error,
        webhooks_error,
    })
}

/// Mark a store uninstalled, forget its token, end its sessions, abort its unfinished
/// sync and cancel its queued work, all in one transaction; returns how many jobs were
/// cancelled. Its data stays; a reinstall brings it back.
pub async fn uninstall(api: &Api, store_id: i64) -> Result<u64, ActionError> {
    let input = json!({
        "state": super::stores::StoreState::Uninstalled.as_str(),
        "accessToken": null,
        "uninstalledAt": Utc::now().to_rfc3339(),
    });
    let txn = api.begin().await?;
    api.model(names::STORE).update_in(&txn, store_id, input).await?;
    session::Entity::delete_many()
        .filter(session::Column::StoreId.eq(store_id))
        .exec(&txn)
        .await?;
    super::sync::abort_store(&txn, store_id).await?;
    let cancelled = crate::queue::cancel_store(&txn, store_id).await?;
    txn.commit().await?;
    // Open connections of the store close now, not at their next check.
    revocation::announce(Revoked::Store { store_id });
    Ok(cancelled)
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
