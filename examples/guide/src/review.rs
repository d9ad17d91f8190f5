//! Example 12: `bigcommerce/productReview`, a model of the app's own in the `bigcommerce`
//! namespace. It belongs to a store and a product; `bigcommerceId` is required and unique
//! per store. The registry reads it off this entity, so it gets the generated API
//! (reads, filters, search, create/update/delete/upsert and their bulk forms, background
//! actions) and store tenancy with no other code.

use bcgraph::Declaration;
use bcgraph::entity::bigcommerce::{product, store};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_product_review")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    pub title: Option<String>,
    pub text: Option<String>,
    pub rating: Option<i64>,
    pub store_id: i64,
    pub product_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "store::Entity",
        from = "Column::StoreId",
        to = "store::Column::Id",
        on_delete = "Cascade"
    )]
    Store,
    #[sea_orm(
        belongs_to = "product::Entity",
        from = "Column::ProductId",
        to = "product::Column::Id",
        on_delete = "Cascade"
    )]
    Product,
}

impl ActiveModelBehavior for ActiveModel {}

/// Its place in the API.
pub fn declaration() -> Declaration {
    Declaration::new("bigcommerce", "productReview")
        .unique("bigcommerceId", Some("store"))
        .search(&["title", "text"])
}
