//! Indexes on the parent keys of child rows: a product's variants and an order's lines
//! are read and reconciled by parent (the read API's relations, the sync's deletions).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_parent_indexes"
    }
}

const INDEXES: &[(&str, &str)] = &[
    ("bigcommerce_product_variant", "product_id"),
    ("bigcommerce_order_product", "order_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_{column}"))
                        .table(*table)
                        .col(*column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in INDEXES {
            manager
                .drop_index(Index::drop().name(format!("{table}_{column}")).table(*table).to_owned())
                .await?;
        }
        Ok(())
    }
}
