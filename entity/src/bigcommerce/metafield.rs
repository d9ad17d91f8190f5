//! A metafield of a product, variant, category, brand, order or customer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_metafield")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub key: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub value: Option<String>,
    pub namespace: Option<String>,
    pub description: Option<String>,
    /// `app_only`, `read`, `write`, `read_and_sf_access` or `write_and_sf_access`.
    pub permission_set: Option<String>,
    /// The kind of resource it belongs to, e.g. `product`.
    pub resource_type: Option<String>,
    /// The BigCommerce id of that resource.
    pub resource_id: Option<i64>,
    pub date_created: Option<DateTimeUtc>,
    pub date_modified: Option<DateTimeUtc>,
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
