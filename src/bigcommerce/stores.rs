//! Finding a store by hash or id, and whether it has the app installed: asked by
//! authentication, the callbacks, webhook ingestion, the scheduler and key rotation, so
//! it is written once. These are the gateway's own reads of the tenant table, as the
//! system; a caller's reads of stores go through `query/` with its tenancy.

use entity::bigcommerce::store;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// A store's `state`: the platform's field, set by install and uninstall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreState {
    Installed,
    Uninstalled,
}

impl StoreState {
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreState::Installed => "installed",
            StoreState::Uninstalled => "uninstalled",
        }
    }

    /// Every state, as the registry's enumeration of the field lists them.
    pub const ALL: &'static [&'static str] = &[StoreState::Installed.as_str(), StoreState::Uninstalled.as_str()];
}

/// The store with this hash, if it has the app installed.
pub async fn installed_by_hash<C: ConnectionTrait>(db: &C, hash: &str) -> Result<Option<store::Model>, DbErr> {
    store::Entity::find()
        .filter(store::Column::StoreHash.eq(hash))
        .filter(store::Column::State.eq(StoreState::Installed.as_str()))
        .one(db)
        .await
}

/// Does the store with this id have the app installed?
pub async fn is_installed<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, DbErr> {
    Ok(store::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|s| s.state == StoreState::Installed.as_str()))
}

/// Every store with the app installed, by id.
pub async fn all_installed<C: ConnectionTrait>(db: &C) -> Result<Vec<store::Model>, DbErr> {
    store::Entity::find()
        .filter(store::Column::State.eq(StoreState::Installed.as_str()))
        .order_by_asc(store::Column::Id)
        .all(db)
        .await
}
