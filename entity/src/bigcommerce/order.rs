//! An order (v2 `/orders`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_order")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub bigcommerce_id: i64,
    /// The BigCommerce id of the customer; 0 for guests.
    pub customer_id: Option<i64>,
    pub status_id: Option<i64>,
    pub status: Option<String>,
    pub currency_code: Option<String>,
    #[sea_orm(column_type = "Double", nullable)]
    pub total_inc_tax: Option<f64>,
    pub is_deleted: Option<bool>,
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
    #[sea_orm(has_many = "super::order_product::Entity")]
    OrderProducts,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::store::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Store.def()
    }
}
