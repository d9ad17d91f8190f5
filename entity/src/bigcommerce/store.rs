//! A merchant's store that installed the app. The tenant of every other model.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_store")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(unique)]
    pub store_hash: String,
    /// `installed` or `uninstalled`.
    pub state: String,
    /// Encrypted at rest; never exposed through the API.
    pub access_token: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub scopes: Option<Json>,
    pub account_uuid: Option<String>,
    pub owner_id: Option<i64>,
    pub owner_email: Option<String>,
    pub installed_at: Option<DateTimeUtc>,
    pub uninstalled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::product::Entity")]
    Products,
    #[sea_orm(has_many = "super::product_variant::Entity")]
    ProductVariants,
    #[sea_orm(has_many = "super::metafield::Entity")]
    Metafields,
    #[sea_orm(has_many = "super::category::Entity")]
    Categories,
    #[sea_orm(has_many = "super::brand::Entity")]
    Brands,
    #[sea_orm(has_many = "super::customer::Entity")]
    Customers,
    #[sea_orm(has_many = "super::order::Entity")]
    Orders,
    #[sea_orm(has_many = "super::order_product::Entity")]
    OrderProducts,
    #[sea_orm(has_many = "super::sync::Entity")]
    Syncs,
}

impl ActiveModelBehavior for ActiveModel {}
