//! A variant of a product (v3 `include=variants`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_product_variant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub sku: Option<String>,
    #[sea_orm(column_type = "Double", nullable)]
    pub price: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub sale_price: Option<f64>,
    pub inventory_level: Option<i64>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub option_values: Option<Json>,
    pub product_id: Option<i64>,
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
    #[sea_orm(
        belongs_to = "super::product::Entity",
        from = "Column::ProductId",
        to = "super::product::Column::Id",
        on_delete = "Cascade"
    )]
    Product,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}

impl Related<super::product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}
