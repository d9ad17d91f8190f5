//! The `bigcommerce` namespace: the store and the resources copied from it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_bigcommerce_models"
    }
}

/// A column of a store-owned table, in the order it is created.
enum Col {
    Text(&'static str),
    LongText(&'static str),
    Int(&'static str),
    Float(&'static str),
    Bool(&'static str),
    Time(&'static str),
    Json(&'static str),
    /// A local foreign key to another table's `id`, deleted with its parent.
    Parent(&'static str, &'static str),
}

/// The store-owned tables: each also has `id`, `created_at`, `updated_at`,
/// `bigcommerce_id` (unique per store), `raw` and `store_id`.
const TABLES: &[(&str, &[Col])] = {
    use Col::*;
    &[
        (
            "bigcommerce_product",
            &[
                Text("name"),
                Text("type"),
                Text("sku"),
                Float("price"),
                Float("sale_price"),
                Float("weight"),
                Int("inventory_level"),
                Text("inventory_tracking"),
                Bool("is_visible"),
                Json("categories"),
                Int("brand_id"),
                Json("custom_fields"),
                Time("date_created"),
                Time("date_modified"),
            ],
        ),
        (
            "bigcommerce_product_variant",
            &[
                Text("sku"),
                Float("price"),
                Float("sale_price"),
                Int("inventory_level"),
                Json("option_values"),
                Parent("product_id", "bigcommerce_product"),
            ],
        ),
        (
            "bigcommerce_metafield",
            &[
                Text("key"),
                LongText("value"),
                Text("namespace"),
                Text("description"),
                Text("permission_set"),
                Text("resource_type"),
                Int("resource_id"),
                Time("date_created"),
                Time("date_modified"),
            ],
        ),
        (
            "bigcommerce_category",
            &[Text("name"), Int("parent_id"), Bool("is_visible")],
        ),
        ("bigcommerce_brand", &[Text("name")]),
        (
            "bigcommerce_customer",
            &[
                Text("email"),
                Text("first_name"),
                Text("last_name"),
                Text("company"),
                Int("customer_group_id"),
                Time("date_created"),
                Time("date_modified"),
            ],
        ),
        (
            "bigcommerce_order",
            &[
                Int("customer_id"),
                Int("status_id"),
                Text("status"),
                Text("currency_code"),
                Float("total_inc_tax"),
                Bool("is_deleted"),
                Time("date_created"),
                Time("date_modified"),
            ],
        ),
        (
            "bigcommerce_order_product",
            &[
                Text("name"),
                Text("sku"),
                Int("quantity"),
                Float("price_inc_tax"),
                Int("product_id"),
                Int("variant_id"),
                Parent("order_id", "bigcommerce_order"),
            ],
        ),
    ]
};

fn id_and_timestamps(table: &mut TableCreateStatement) {
    table
        .col(
            ColumnDef::new("id")
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
        .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null());
}

fn store_table() -> TableCreateStatement {
    let mut table = Table::create();
    table.table("bigcommerce_store");
    id_and_timestamps(&mut table);
    table
        .col(ColumnDef::new("store_hash").string().not_null().unique_key())
        .col(ColumnDef::new("state").string().not_null())
        .col(ColumnDef::new("access_token").text().null())
        .col(ColumnDef::new("scopes").json_binary().null())
        .col(ColumnDef::new("account_uuid").string().null())
        .col(ColumnDef::new("owner_id").big_integer().null())
        .col(ColumnDef::new("owner_email").string().null())
        .col(ColumnDef::new("installed_at").timestamp_with_time_zone().null())
        .col(ColumnDef::new("uninstalled_at").timestamp_with_time_zone().null());
    table.to_owned()
}

fn owned_table(name: &'static str, cols: &[Col]) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(name);
    id_and_timestamps(&mut table);
    table.col(ColumnDef::new("bigcommerce_id").big_integer().not_null());
    for col in cols {
        match col {
            Col::Text(c) => table.col(ColumnDef::new(*c).string().null()),
            Col::LongText(c) => table.col(ColumnDef::new(*c).text().null()),
            Col::Int(c) => table.col(ColumnDef::new(*c).big_integer().null()),
            Col::Float(c) => table.col(ColumnDef::new(*c).double().null()),
            Col::Bool(c) => table.col(ColumnDef::new(*c).boolean().null()),
            Col::Time(c) => table.col(ColumnDef::new(*c).timestamp_with_time_zone().null()),
            Col::Json(c) => table.col(ColumnDef::new(*c).json_binary().null()),
            Col::Parent(c, parent) => table.col(ColumnDef::new(*c).big_integer().null()).foreign_key(
                ForeignKey::create()
                    .from(name, *c)
                    .to(*parent, "id")
                    .on_delete(ForeignKeyAction::Cascade),
            ),
        };
    }
    table
        .col(ColumnDef::new("raw").json_binary().null())
        .col(ColumnDef::new("store_id").big_integer().not_null())
        .foreign_key(
            ForeignKey::create()
                .from(name, "store_id")
                .to("bigcommerce_store", "id")
                .on_delete(ForeignKeyAction::Cascade),
        );
    table.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(store_table()).await?;
        for (name, cols) in TABLES {
            manager.create_table(owned_table(name, cols)).await?;
            // The identity of a BigCommerce record within its store; it also serves
            // every lookup by store.
            manager
                .create_index(
                    Index::create()
                        .name(format!("{name}_store_bigcommerce_id"))
                        .table(*name)
                        .col("store_id")
                        .col("bigcommerce_id")
                        .unique()
                        .to_owned(),
                )
                .await?;
            for col in cols.iter() {
                if let Col::Parent(c, _) = col {
                    manager
                        .create_index(
                            Index::create()
                                .name(format!("{name}_{c}"))
                                .table(*name)
                                .col(*c)
                                .to_owned(),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(*name).to_owned()).await?;
        }
        manager
            .drop_table(Table::drop().table("bigcommerce_store").to_owned())
            .await
    }
}
