//! Indexes for reading one store's rows in id order: the default order of every
//! list, which a tenant's session always reads with `store_id = ?`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_tenant_indexes"
    }
}

const TABLES: &[&str] = &[
    "bigcommerce_product",
    "bigcommerce_product_variant",
    "bigcommerce_metafield",
    "bigcommerce_category",
    "bigcommerce_brand",
    "bigcommerce_customer",
    "bigcommerce_order",
    "bigcommerce_order_product",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_store_id_id"))
                        .table(*table)
                        .col("store_id")
                        .col("id")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("{table}_store_id_id"))
                        .table(*table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
