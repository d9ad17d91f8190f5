//! A catalog brand.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_brand")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub name: Option<String>,
    /// The whole BigCommerce object this row was built from.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub raw: Option<Json>,
    pub store_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::store::Entity",
        from = "Column::StoreId",
        to = "super::store::Column::Id",
        on_delete = "Cascade"
    )]
    Store,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}
