//! A line of an order (v2 `/orders/{id}/products`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_order_product")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub name: Option<String>,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub price_inc_tax: Option<f64>,
    /// The BigCommerce ids of the product and variant ordered.
    pub product_id: Option<i64>,
    pub variant_id: Option<i64>,
    pub order_id: Option<i64>,
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
        belongs_to = "super::order::Entity",
        from = "Column::OrderId",
        to = "super::order::Column::Id",
        on_delete = "Cascade"
    )]
    Order,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}
