//! An API key for back-end code. Only a hash of the key is kept.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bcgraph_api_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub name: String,
    /// SHA-256 of the key, hex.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub prefix: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub roles: Json,
    pub revoked_at: Option<DateTimeUtc>,
    /// The one store a non-admin key acts for.
    pub store_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::bigcommerce::store::Entity",
        from = "Column::StoreId",
        to = "crate::bigcommerce::store::Column::Id"
    )]
    Store,
}

impl Related<crate::bigcommerce::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
