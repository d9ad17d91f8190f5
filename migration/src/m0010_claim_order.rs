//! An index in the order workers claim waiting background actions (most urgent first),
//! so that a claim reads the waiting actions from the front up to the first one whose
//! queue and store have room, however many wait behind it; and a `batch` column naming
//! what a waiting action may run together with (webhook pulls of products).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_claim_order"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("bcgraph_background_action")
                    .add_column(ColumnDef::new("batch").string().null())
                    .to_owned(),
            )
            .await?;
        // Partial and with a descending column: sea-query's index builder has neither,
        // and both databases take this statement as it is.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX \"bcgraph_background_action_claim\" ON \"bcgraph_background_action\" \
                 (\"priority\" DESC, \"run_at\", \"created_at\", \"id\") WHERE \"state\" = 'waiting'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX \"bcgraph_background_action_claim\"")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("bcgraph_background_action")
                    .drop_column("batch")
                    .to_owned(),
            )
            .await
    }
}
