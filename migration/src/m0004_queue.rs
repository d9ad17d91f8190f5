//! Background actions: the durable queue, in the application's own database.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_queue"
    }
}

const TABLE: &str = "bcgraph_background_action";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Times are milliseconds since the epoch: the same arithmetic on both databases.
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .col(ColumnDef::new("id").string().not_null().primary_key())
                    .col(ColumnDef::new("job").text().not_null())
                    .col(ColumnDef::new("tenant").big_integer().null())
                    .col(ColumnDef::new("roles").text().not_null())
                    .col(ColumnDef::new("queue").string().null())
                    .col(ColumnDef::new("max_concurrency").integer().not_null())
                    .col(ColumnDef::new("priority").integer().not_null())
                    .col(ColumnDef::new("run_at").big_integer().not_null())
                    .col(ColumnDef::new("state").string().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(ColumnDef::new("retry_count").integer().not_null())
                    .col(ColumnDef::new("initial_interval").big_integer().not_null())
                    .col(ColumnDef::new("max_interval").big_integer().not_null())
                    .col(ColumnDef::new("backoff_factor").double().not_null())
                    .col(ColumnDef::new("randomize").boolean().not_null())
                    .col(ColumnDef::new("lease_until").big_integer().null())
                    .col(ColumnDef::new("worker").string().null())
                    .col(ColumnDef::new("last_error").text().null())
                    .col(ColumnDef::new("outcome").string().null())
                    .col(ColumnDef::new("result").text().null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .col(ColumnDef::new("finished_at").big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_background_action_ready")
                    .table(TABLE)
                    .col("state")
                    .col("priority")
                    .col("run_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_background_action_queue")
                    .table(TABLE)
                    .col("queue")
                    .col("state")
                    .to_owned(),
            )
            .await?;
        // One row per named queue: on PostgreSQL a claim locks it, so that counting the
        // queue's running jobs and claiming one more is serialized across processes.
        manager
            .create_table(
                Table::create()
                    .table("bcgraph_queue")
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["bcgraph_queue", TABLE] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
