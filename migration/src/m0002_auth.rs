//! Sessions, API keys and the gateway's own settings.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_auth"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_session")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("expires_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("roles").json_binary().not_null())
                    .col(ColumnDef::new("store_id").big_integer().null())
                    .col(ColumnDef::new("bigcommerce_user_id").string().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from("bcgraph_session", "store_id")
                            .to("bigcommerce_store", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_session_store_user")
                    .table("bcgraph_session")
                    .col("store_id")
                    .col("bigcommerce_user_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_api_key")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(ColumnDef::new("key_hash").string().not_null().unique_key())
                    .col(ColumnDef::new("prefix").string().not_null())
                    .col(ColumnDef::new("roles").json_binary().not_null())
                    .col(ColumnDef::new("revoked_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_setting")
                    .col(ColumnDef::new("key").string().not_null().primary_key())
                    .col(ColumnDef::new("value").text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["bcgraph_setting", "bcgraph_api_key", "bcgraph_session"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
