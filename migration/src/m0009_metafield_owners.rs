//! An index for finding the metafields of one resource of a store: deleting a resource
//! takes its metafields along, and the sync reconciles them by owner. Without it each
//! such statement reads every metafield of the store.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_metafield_owners"
    }
}

const INDEX: &str = "bigcommerce_metafield_owner";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table("bigcommerce_metafield")
                    .col("store_id")
                    .col("resource_type")
                    .col("resource_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table("bigcommerce_metafield")
                    .to_owned(),
            )
            .await
    }
}
