//! A catalog product (v3 `/catalog/products`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_product")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub name: Option<String>,
    /// `physical` or `digital`.
    #[sea_orm(column_name = "type")]
    pub r#type: Option<String>,
    pub sku: Option<String>,
    #[sea_orm(column_type = "Double", nullable)]
    pub price: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub sale_price: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub weight: Option<f64>,
    pub inventory_level: Option<i64>,
    /// `none`, `product` or `variant`.
    pub inventory_tracking: Option<String>,
    pub is_visible: Option<bool>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub categories: Option<Json>,
    pub brand_id: Option<i64>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub custom_fields: Option<Json>,
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
    #[sea_orm(has_many = "super::product_variant::Entity")]
    Variants,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}
