//! Retention and the sync's one-at-a-time rule: indexes on the finish times the purge
//! deletes by, and a unique index on a store's unfinished sync, so that two syncs of
//! one store cannot start together (the check before the insert could not stop a race).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_retention"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (
                "bcgraph_background_action_finished_at",
                "bcgraph_background_action",
            ),
            ("bigcommerce_sync_finished_at", "bigcommerce_sync"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col("finished_at")
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        // The race may already have left two unfinished syncs of a store: keep the oldest,
        // abort the others, as an abort would (finish time, lease freed).
        db.execute_raw(Statement::from_string(
            backend,
            "UPDATE \"bigcommerce_sync\" SET \"state\" = 'aborted', \"lease_until\" = NULL, \
             \"finished_at\" = \"updated_at\", \
             \"error_message\" = 'another sync of this store was already unfinished' \
             WHERE \"state\" IN ('created', 'running') AND \"id\" NOT IN \
             (SELECT MIN(\"id\") FROM \"bigcommerce_sync\" WHERE \"state\" IN ('created', 'running') \
              GROUP BY \"store_id\")",
        ))
        .await?;
        // Partial: both SQLite and PostgreSQL take `WHERE` on an index, which sea-query's
        // index builder cannot write.
        db.execute_raw(Statement::from_string(
            backend,
            "CREATE UNIQUE INDEX \"bigcommerce_sync_one_unfinished\" ON \"bigcommerce_sync\" (\"store_id\") \
             WHERE \"state\" IN ('created', 'running')",
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("bigcommerce_sync_one_unfinished", "bigcommerce_sync"),
            ("bigcommerce_sync_finished_at", "bigcommerce_sync"),
            (
                "bcgraph_background_action_finished_at",
                "bcgraph_background_action",
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
