//! Authorization that holds for every caller:
//! - API keys may be bound to one store (`store_id`);
//! - background actions belong to a scope (`internal`, `system` or `store:<id>`): ids and
//!   queue names are stored as `<scope>/<name>`, so callers never share or squat them;
//! - on PostgreSQL, ids come from identity columns that refuse explicit values, so no
//!   input can put a sequence behind the rows it numbers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_authorization"
    }
}

const ACTIONS: &str = "bcgraph_background_action";

/// Tables whose `id` PostgreSQL numbers.
const NUMBERED: &[&str] = &[
    "bigcommerce_store",
    "bigcommerce_product",
    "bigcommerce_product_variant",
    "bigcommerce_metafield",
    "bigcommerce_category",
    "bigcommerce_brand",
    "bigcommerce_customer",
    "bigcommerce_order",
    "bigcommerce_order_product",
    "bigcommerce_sync",
    "bcgraph_session",
    "bcgraph_api_key",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table("bcgraph_api_key")
                    .add_column(ColumnDef::new("store_id").big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ACTIONS)
                    .add_column(ColumnDef::new("scope").string().not_null().default("system"))
                    .to_owned(),
            )
            .await?;
        // Existing actions: the gateway's own by their well-known ids, the others by
        // the store that enqueued them.
        let concat_tenant = match backend {
            DbBackend::Postgres => "'store:' || \"tenant\"::text",
            _ => "'store:' || \"tenant\"",
        };
        for sql in [
            format!(
                "UPDATE \"{ACTIONS}\" SET \"scope\" = CASE \
                 WHEN \"id\" LIKE 'bigcommerce-sync-%' OR \"id\" LIKE 'bigcommerce-scheduled-sync-%' \
                   OR \"id\" LIKE 'webhook-%' THEN 'internal' \
                 WHEN \"tenant\" IS NOT NULL THEN {concat_tenant} ELSE 'system' END"
            ),
            format!("UPDATE \"{ACTIONS}\" SET \"id\" = \"scope\" || '/' || \"id\""),
            format!(
                "UPDATE \"{ACTIONS}\" SET \"queue\" = \"scope\" || '/' || \"queue\" WHERE \"queue\" IS NOT NULL"
            ),
            "DELETE FROM \"bcgraph_queue\"".to_owned(),
            format!(
                "INSERT INTO \"bcgraph_queue\" (\"name\") SELECT DISTINCT \"queue\" FROM \"{ACTIONS}\" \
                 WHERE \"queue\" IS NOT NULL"
            ),
        ] {
            db.execute_raw(Statement::from_string(backend, sql)).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("bcgraph_background_action_scope")
                    .table(ACTIONS)
                    .col("scope")
                    .col("state")
                    .to_owned(),
            )
            .await?;
        if backend == DbBackend::Postgres {
            for table in NUMBERED {
                for sql in [
                    format!("ALTER TABLE \"{table}\" ALTER COLUMN \"id\" DROP DEFAULT"),
                    format!("DROP SEQUENCE IF EXISTS \"{table}_id_seq\""),
                    format!("ALTER TABLE \"{table}\" ALTER COLUMN \"id\" ADD GENERATED ALWAYS AS IDENTITY"),
                    format!(
                        "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), \
                         COALESCE((SELECT MAX(\"id\") FROM \"{table}\"), 0) + 1, false)"
                    ),
                ] {
                    db.execute_raw(Statement::from_string(backend, sql)).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "m0006_authorization cannot be undone: it rewrites background action ids".into(),
        ))
    }
}
