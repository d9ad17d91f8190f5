//! The guide app's migrations. They run after bcgraph's own in one history, so their
//! names carry the app's prefix.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(ProductReviews), Box::new(ProductMetafield)]
    }
}

/// Example 12's table.
struct ProductReviews;

impl MigrationName for ProductReviews {
    fn name(&self) -> &str {
        "guide_0001_product_reviews"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProductReviews {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("bigcommerce_product_review")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("bigcommerce_id").big_integer().not_null())
                    .col(ColumnDef::new("title").string().null())
                    .col(ColumnDef::new("text").text().null())
                    .col(ColumnDef::new("rating").big_integer().null())
                    .col(ColumnDef::new("store_id").big_integer().not_null())
                    .col(ColumnDef::new("product_id").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from("bigcommerce_product_review", "store_id")
                            .to("bigcommerce_store", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("bigcommerce_product_review", "product_id")
                            .to("bigcommerce_product", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // bigcommerceId is unique within a store, as the declaration says.
        manager
            .create_index(
                Index::create()
                    .name("bigcommerce_product_review_store_bigcommerce_id")
                    .table("bigcommerce_product_review")
                    .col("store_id")
                    .col("bigcommerce_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

/// Example 9's fields on the built-in product.
struct ProductMetafield;

impl MigrationName for ProductMetafield {
    fn name(&self) -> &str {
        "guide_0002_product_metafield"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProductMetafield {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new("metafield_id").big_integer().null().to_owned(),
            ColumnDef::new("metafield_value").text().null().to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("bigcommerce_product")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
