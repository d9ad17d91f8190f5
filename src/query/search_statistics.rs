//! Statistics that let PostgreSQL plan `search` well.
//!
//! A search is `LOWER(column) LIKE '%word%'` on each searchable field. PostgreSQL keeps
//! no statistics on `LOWER(column)`, so it guesses that such a condition matches 0.5% of
//! rows, and a two-word search over two fields a few rows in all. A page of the first 50
//! matches in id order is then planned as a scan of the whole table and a sort, even when
//! nearly every row matches and walking the id index would stop after a hundred rows:
//! 42 searches a second against 5,000 reads by id on 100,000 products.
//!
//! An extended statistics object on each `LOWER(column)` (PostgreSQL 14 and later) gives
//! `ANALYZE` the expression to sample, and the planner real estimates; it costs writes
//! nothing, unlike an index. Every gateway process ensures them at start, as it does the
//! live-query triggers, and analyses a table once when its statistics are new.

use crate::model::Registry;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use std::collections::BTreeSet;

/// The first PostgreSQL with statistics on expressions.
const EXPRESSION_STATISTICS: i64 = 140_000;

/// Ensure the statistics on every searchable field of every model of `registry`.
/// Nothing on SQLite, or on a PostgreSQL too old to have them.
pub async fn ensure(db: &DatabaseConnection, registry: &Registry) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let version: i64 = match db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('server_version_num')::bigint",
        ))
        .await?
    {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    if version < EXPRESSION_STATISTICS {
        return Ok(());
    }
    let mut fresh_tables = BTreeSet::new();
    for model in &registry.models {
        for field in &model.searchable {
            let column = &model.fields[*field].column;
            let name = statistics_name(&model.table, column);
            let exists = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 FROM pg_statistic_ext WHERE stxname = $1",
                    [name.clone().into()],
                ))
                .await?
                .is_some();
            if exists {
                continue;
            }
            // Another process may create it between the look and the statement.
            db.execute_unprepared(&format!(
                "CREATE STATISTICS IF NOT EXISTS \"{name}\" ON (LOWER(\"{column}\")) FROM \"{}\"",
                model.table
            ))
            .await?;
            fresh_tables.insert(model.table.clone());
        }
    }
    // Until its next analysis a new statistics object is empty; autovacuum would get to
    // a table that stopped changing only much later.
    for table in fresh_tables {
        db.execute_unprepared(&format!("ANALYZE \"{table}\"")).await?;
    }
    Ok(())
}

/// `<table>_<column>_search`, within PostgreSQL's 63 bytes: a long name keeps its start
/// and gets a hash of the whole, so two long names stay apart.
fn statistics_name(table: &str, column: &str) -> String {
    let name = format!("{table}_{column}_search");
    if name.len() <= 63 {
        return name;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let tag: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut start = 63 - tag.len() - 1;
    while !name.is_char_boundary(start) {
        start -= 1;
    }
    format!("{}_{tag}", &name[..start])
}

#[cfg(test)]
mod tests {
    use super::statistics_name;

    #[test]
    fn names_fit_postgres_and_stay_apart() {
        assert_eq!(statistics_name("bigcommerce_product", "name"), "bigcommerce_product_name_search");
        let long = "t".repeat(60);
        let a = statistics_name(&long, "first_column");
        let b = statistics_name(&long, "second_column");
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}
