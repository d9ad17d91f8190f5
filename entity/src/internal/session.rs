//! A session: an anonymous browser, or a BigCommerce staff user of one store.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bcgraph_session")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Role keys, e.g. `["Role-BigCommerce-App"]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub roles: Json,
    pub store_id: Option<i64>,
    pub bigcommerce_user_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
