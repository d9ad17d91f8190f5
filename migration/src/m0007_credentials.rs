//! Credentials: one session per store user (a unique index, so concurrent first requests
//! share a row), expiry indexes for the purge, the staff users BigCommerce removed (a
//! payload issued before the removal is refused), and the payloads already used on the
//! uninstall and remove-user callbacks (each is good once).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_credentials"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Read-then-insert may have made two rows for one user: keep the oldest.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM \"bcgraph_session\" WHERE \"store_id\" IS NOT NULL AND \"id\" NOT IN \
                 (SELECT MIN(\"id\") FROM \"bcgraph_session\" WHERE \"store_id\" IS NOT NULL \
                  GROUP BY \"store_id\", \"bigcommerce_user_id\")",
            )
            .await?;
        // The unique index takes a new name: re-creating the dropped one's name in this
        // migration failed on SQLite ("already exists").
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX \"bcgraph_session_store_user\"")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_session_store_user_unique")
                    .table("bcgraph_session")
                    .col("store_id")
                    .col("bigcommerce_user_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_session_expires_at")
                    .table("bcgraph_session")
                    .col("expires_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_removed_user")
                    .col(ColumnDef::new("store_id").big_integer().not_null())
                    .col(ColumnDef::new("bigcommerce_user_id").string().not_null())
                    .col(ColumnDef::new("removed_at").timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col("store_id").col("bigcommerce_user_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("bcgraph_removed_user", "store_id")
                            .to("bigcommerce_store", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_used_payload")
                    .col(ColumnDef::new("key").string().not_null().primary_key())
                    .col(ColumnDef::new("expires_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_used_payload_expires_at")
                    .table("bcgraph_used_payload")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["bcgraph_used_payload", "bcgraph_removed_user"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for index in ["bcgraph_session_expires_at", "bcgraph_session_store_user_unique"] {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX \"{index}\""))
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_session_store_user")
                    .table("bcgraph_session")
                    .col("store_id")
                    .col("bigcommerce_user_id")
                    .to_owned(),
            )
            .await
    }
}
