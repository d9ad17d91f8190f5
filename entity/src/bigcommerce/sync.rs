//! One run of the sync that copies a store's existing BigCommerce data: what it was asked
//! to do, how far it got and how it ended.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bigcommerce_sync")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The resources to copy (`products`, `orders`, ...); every one when empty.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub models: Option<Json>,
    /// Only records modified since then; a full sync (with deletions) when null.
    pub sync_since: Option<DateTimeUtc>,
    /// A full sync even when an earlier one completed.
    pub force: Option<bool>,
    /// `created`, `running`, `completed`, `errored` or `aborted`.
    pub state: String,
    /// Per resource: pages, records seen, created, updated, unchanged, deleted, failed, done.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub progress: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// Per resource: where to continue after a crash.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub checkpoint: Option<Json>,
    /// Until when the process running it holds it.
    pub lease_until: Option<DateTimeUtc>,
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
