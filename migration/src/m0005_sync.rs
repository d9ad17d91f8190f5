//! Store syncs: one row per run, with its checkpoint.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_sync"
    }
}

const TABLE: &str = "bigcommerce_sync";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("models").json_binary().null())
                    .col(ColumnDef::new("sync_since").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("force").boolean().null())
                    .col(ColumnDef::new("state").string().not_null())
                    .col(ColumnDef::new("progress").json_binary().null())
                    .col(ColumnDef::new("error_message").text().null())
                    .col(ColumnDef::new("started_at").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("finished_at").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("checkpoint").json_binary().null())
                    .col(ColumnDef::new("lease_until").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("store_id").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(TABLE, "store_id")
                            .to("bigcommerce_store", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A store's syncs in id order (the tenant's reads), and its unfinished ones.
        manager
            .create_index(
                Index::create()
                    .name("bigcommerce_sync_store_id_id")
                    .table(TABLE)
                    .col("store_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bigcommerce_sync_store_id_state")
                    .table(TABLE)
                    .col("store_id")
                    .col("state")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TABLE).to_owned()).await
    }
}
