//! A signed payload already used on the uninstall or remove-user callback, remembered
//! until it expires so it cannot be used again.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bcgraph_used_payload")]
pub struct Model {
    /// `jti:<store>:<jti>`, or `sha256:<hex>` of a payload without one.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
