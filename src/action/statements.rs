//! The SQL of writes: multi-row inserts, upserts, updates and deletes, each
//! returning the rows it wrote. Every statement carries the tenant restriction
//! ([`Tenant::restrict`]).

use super::Upserted;
use crate::model::Model;
use crate::query::sql::Sql;
use crate::query::{Columns, Reader, Record, Tenant, Value};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

/// Most bound parameters in one statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_PARAMS: usize = 30_000;

/// How many rows of `width` values fit in one statement.
pub fn rows_per_statement(width: usize) -> usize {
    (MAX_PARAMS / width.max(1)).clamp(1, 1000)
}

/// The time a write stamps on rows: microseconds (what PostgreSQL keeps), and
/// strictly increasing within the process, so that two statements never share one.
/// On SQLite an upsert tells a created row by its `created_at` being this value.
pub fn write_time() -> DateTime<Utc> {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = Utc::now().timestamp_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return DateTime::from_timestamp_micros(next).unwrap_or_else(Utc::now),
            Err(seen) => last = seen,
        }
    }
}

fn returning(sql: &mut Sql, model: &Model) {
    sql.push(" RETURNING ");
    for (i, f) in model.fields.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&f.column);
    }
}

/// `RETURNING "id"`: bulk writes hand back ids, and callers read the records they
/// need afterwards (returning whole rows doubles the cost of a batch on SQLite).
fn returning_ids(sql: &mut Sql) {
    sql.push(" RETURNING \"id\"");
}

async fn ids<C: ConnectionTrait>(conn: &C, sql: Sql) -> Result<Vec<i64>, DbErr> {
    let rows = conn.query_all_raw(sql.build()).await?;
    rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
}

fn decode_all(model: &Model, rows: &[sea_orm::QueryResult]) -> Result<Vec<Record>, DbErr> {
    rows.iter()
        .map(|row| {
            Reader::decode(model, &Columns::All, row).map_err(|e| match e {
                crate::query::QueryError::Database(db) => db,
                other => DbErr::Custom(other.to_string()),
            })
        })
        .collect()
}

/// `INSERT ... VALUES (...), (...)` of rows that all set `fields`, in order.
fn insert_head(sql: &mut Sql, model: &Model, fields: &[usize], rows: Vec<Vec<Value>>, now: DateTime<Utc>) {
    sql.push("INSERT INTO ")
        .ident(&model.table)
        .push(" (\"created_at\", \"updated_at\"");
    for f in fields {
        sql.push(", ").ident(&model.fields[*f].column);
    }
    sql.push(") VALUES ");
    for (r, row) in rows.into_iter().enumerate() {
        if r > 0 {
            sql.push(", ");
        }
        sql.push("(").bind(now.into()).push(", ").bind(now.into());
        for (f, value) in fields.iter().zip(row) {
            sql.push(", ").bind(value.into_sql(model.fields[*f].ty));
        }
        sql.push(")");
    }
}

/// Insert rows; the records come back in input order.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    rows: Vec<Vec<Value>>,
) -> Result<Vec<Record>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(conn.get_database_backend());
    insert_head(&mut sql, model, fields, rows, write_time());
    returning(&mut sql, model);
    let rows = conn.query_all_raw(sql.build()).await?;
    decode_all(model, &rows)
}

/// Insert rows; their ids come back in input order.
pub async fn insert_ids<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    rows: Vec<Vec<Value>>,
) -> Result<Vec<i64>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(conn.get_database_backend());
    insert_head(&mut sql, model, fields, rows, write_time());
    returning_ids(&mut sql);
    ids(conn, sql).await
}

/// `col IS DISTINCT FROM <new value> OR ...` over `fields`: did anything change?
/// `new` names the new value of the i-th field.
fn changed(
    sql: &mut Sql,
    model: &Model,
    current: &str,
    fields: &[usize],
    new: impl Fn(usize, &str) -> String,
) {
    if fields.is_empty() {
        sql.push("1=0");
        return;
    }
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        let column = &model.fields[*f].column;
        sql.column(current, column)
            .push(" IS DISTINCT FROM ")
            .push(&new(i, column));
    }
}

/// Insert rows, or update the row whose `conflict` fields match. Each row's id comes
/// back with what happened to it, in input order. A row the tenant may not
/// touch is neither created nor updated and comes back as `None`.
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    rows: Vec<Vec<Value>>,
    conflict: &[usize],
    tenant: Tenant,
) -> Result<Vec<Option<(i64, Upserted)>>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let now = write_time();
    let keys = input_keys(fields, &rows, conflict);
    let mut sql = Sql::new(backend);
    insert_head(&mut sql, model, fields, rows, now);
    let table = format!("\"{}\"", model.table);
    sql.push(" ON CONFLICT (");
    for (i, f) in conflict.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&model.fields[*f].column);
    }
    sql.push(") DO UPDATE SET ");
    let updated: Vec<usize> = fields.iter().copied().filter(|f| !conflict.contains(f)).collect();
    for f in &updated {
        let column = &model.fields[*f].column;
        sql.ident(column)
            .push(" = ")
            .column("excluded", column)
            .push(", ");
    }
    // updatedAt moves only when a value changed.
    sql.push("\"updated_at\" = CASE WHEN ");
    changed(&mut sql, model, &table, &updated, |_, column| {
        format!("excluded.\"{column}\"")
    });
    sql.push(" THEN excluded.\"updated_at\" ELSE ")
        .column(&table, "updated_at")
        .push(" END WHERE 1=1");
    tenant.restrict(&mut sql, model, &table, true);
    sql.push(" RETURNING \"id\"");
    for f in conflict {
        sql.push(", ").ident(&model.fields[*f].column);
    }
    match backend {
        DbBackend::Postgres => sql.push(", (xmax = 0) AS \"__created\""),
        _ => sql
            .push(", (\"created_at\" = ")
            .bind(now.into())
            .push(") AS \"__created\""),
    };
    // A row whose values all stood keeps its `updated_at`.
    sql.push(", (\"updated_at\" = ")
        .bind(now.into())
        .push(") AS \"__changed\"");
    let written = conn.query_all_raw(sql.build()).await?;
    let mut returned = Vec::with_capacity(written.len());
    for row in &written {
        let id: i64 = row.try_get_by_index(0)?;
        let mut key = Vec::with_capacity(conflict.len());
        for (i, f) in conflict.iter().enumerate() {
            key.push(Value::decode(row, i + 1, &model.fields[*f])?);
        }
        let created: bool = row.try_get_by_index(conflict.len() + 1)?;
        let changed: bool = row.try_get_by_index(conflict.len() + 2)?;
        let how = match (created, changed) {
            (true, _) => Upserted::Created,
            (false, true) => Upserted::Updated,
            (false, false) => Upserted::Unchanged,
        };
        returned.push((key, id, how));
    }
    Ok(match_rows(keys, returned))
}

/// Each input row's conflict key, or, when the keys are not in the input (an upsert
/// on `id` without ids, which can only insert), the row count.
enum InputKeys {
    Keys(Vec<String>),
    Count(usize),
}

fn key_text<'a>(values: impl Iterator<Item = &'a Value>) -> String {
    format!("{:?}", values.collect::<Vec<_>>())
}

fn input_keys(fields: &[usize], rows: &[Vec<Value>], conflict: &[usize]) -> InputKeys {
    let positions: Option<Vec<usize>> = conflict
        .iter()
        .map(|c| fields.iter().position(|f| f == c))
        .collect();
    match positions {
        Some(positions) => InputKeys::Keys(
            rows.iter()
                .map(|row| key_text(positions.iter().map(|p| &row[*p])))
                .collect(),
        ),
        None => InputKeys::Count(rows.len()),
    }
}

/// Put returned rows back in input order by their conflict keys (rows the
/// database skipped leave `None`).
fn match_rows(keys: InputKeys, returned: Vec<(Vec<Value>, i64, Upserted)>) -> Vec<Option<(i64, Upserted)>> {
    match keys {
        InputKeys::Count(n) => {
            let mut out: Vec<Option<(i64, Upserted)>> =
                returned.into_iter().map(|(_, id, c)| Some((id, c))).collect();
            out.resize_with(n, || None);
            out
        }
        InputKeys::Keys(keys) => {
            let mut by_key: HashMap<String, (i64, Upserted)> = returned
                .into_iter()
                .map(|(key, id, created)| (key_text(key.iter()), (id, created)))
                .collect();
            keys.iter().map(|key| by_key.remove(key)).collect()
        }
    }
}

/// Update rows by id: each row sets `fields` to its values. Returns the records
/// written, in no particular order; ids that are missing or not the tenant's are absent.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    rows: Vec<(i64, Vec<Value>)>,
    tenant: Tenant,
) -> Result<Vec<Record>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = update_statement(conn.get_database_backend(), model, fields, rows, tenant, true);
    let written = conn.query_all_raw(sql.build()).await?;
    decode_all(model, &written)
}

fn update_statement(
    backend: DbBackend,
    model: &Model,
    fields: &[usize],
    rows: Vec<(i64, Vec<Value>)>,
    tenant: Tenant,
    whole_rows: bool,
) -> Sql {
    let now = write_time();
    let mut sql = Sql::new(backend);
    let table = format!("\"{}\"", model.table);
    sql.push("UPDATE ").ident(&model.table).push(" SET ");
    // The derived table's columns get their own names so nothing is ambiguous.
    for (i, f) in fields.iter().enumerate() {
        sql.ident(&model.fields[*f].column)
            .push(&format!(" = v.\"__v{i}\", "));
    }
    sql.push("\"updated_at\" = CASE WHEN ");
    changed(&mut sql, model, &table, fields, |i, _| format!("v.\"__v{i}\""));
    sql.push(" THEN ")
        .bind(now.into())
        .push(" ELSE ")
        .column(&table, "updated_at")
        .push(" END");
    // The new values as a derived table: portable across SQLite and PostgreSQL.
    sql.push(" FROM (");
    for (r, (id, values)) in rows.into_iter().enumerate() {
        sql.push(if r == 0 { "SELECT " } else { " UNION ALL SELECT " });
        sql.bind(id.into()).push(" AS \"__id\"");
        for (i, (f, value)) in fields.iter().zip(values).enumerate() {
            sql.push(", ")
                .bind(value.into_sql(model.fields[*f].ty))
                .push(&format!(" AS \"__v{i}\""));
        }
    }
    sql.push(") AS v WHERE ")
        .column(&table, "id")
        .push(" = v.\"__id\"");
    tenant.restrict(&mut sql, model, &table, false);
    if whole_rows {
        returning(&mut sql, model);
    } else {
        returning_ids(&mut sql);
    }
    sql
}

/// Add `amounts` to number fields of the record `id` in one statement
/// (`x = COALESCE(x, 0) + n`, null counting as zero), race-free.
pub async fn add<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    id: i64,
    amounts: &[(usize, Value)],
    tenant: Tenant,
) -> Result<Option<Record>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    let table = format!("\"{}\"", model.table);
    sql.push("UPDATE ").ident(&model.table).push(" SET ");
    for (field, amount) in amounts {
        let f = &model.fields[*field];
        sql.ident(&f.column).push(" = COALESCE(").column(&table, &f.column).push(", 0) + ");
        sql.bind(amount.to_sql(f.ty)).push(", ");
    }
    sql.push("\"updated_at\" = ").bind(write_time().into()).push(" WHERE ");
    sql.column(&table, "id").push(" = ").bind(id.into());
    tenant.restrict(&mut sql, model, &table, false);
    returning(&mut sql, model);
    let written = conn.query_all_raw(sql.build()).await?;
    Ok(decode_all(model, &written)?.pop())
}

/// Like [`update`], returning only the ids written.
pub async fn update_ids<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    rows: Vec<(i64, Vec<Value>)>,
    tenant: Tenant,
) -> Result<Vec<i64>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = update_statement(conn.get_database_backend(), model, fields, rows, tenant, false);
    ids(conn, sql).await
}

/// Delete rows by id; returns the ids deleted.
pub async fn delete<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    ids: &[i64],
    tenant: Tenant,
) -> Result<Vec<i64>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(conn.get_database_backend());
    let table = format!("\"{}\"", model.table);
    sql.push("DELETE FROM ")
        .ident(&model.table)
        .push(" WHERE \"id\" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind((*id).into());
    }
    sql.push(")");
    tenant.restrict(&mut sql, model, &table, false);
    sql.push(" RETURNING \"id\"");
    let rows = conn.query_all_raw(sql.build()).await?;
    rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
}

/// Ids of `model` rows whose `fields` equal `values` (a unique identity), other than `except`.
pub async fn find_by<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fields: &[usize],
    values: &[Value],
    except: Option<i64>,
) -> Result<Option<i64>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT \"id\" FROM ")
        .ident(&model.table)
        .push(" WHERE 1=1");
    for (f, value) in fields.iter().zip(values) {
        let field = &model.fields[*f];
        match value {
            Value::Null => sql.push(" AND ").ident(&field.column).push(" IS NULL"),
            v => sql
                .push(" AND ")
                .ident(&field.column)
                .push(" = ")
                .bind(v.to_sql(field.ty)),
        };
    }
    if let Some(id) = except {
        sql.push(" AND \"id\" <> ").bind(id.into());
    }
    sql.push(" LIMIT 1");
    Ok(match conn.query_one_raw(sql.build()).await? {
        Some(row) => Some(row.try_get_by_index::<i64>(0)?),
        None => None,
    })
}

/// Every child of `parents` through foreign key `fk` (tenant-restricted).
pub async fn children_of<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    fk: usize,
    parent: i64,
    tenant: Tenant,
) -> Result<Vec<Record>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    let table = format!("\"{}\"", model.table);
    sql.push("SELECT ");
    for (i, f) in model.fields.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.column(&table, &f.column);
    }
    sql.push(" FROM ")
        .ident(&model.table)
        .push(" WHERE ")
        .column(&table, &model.fields[fk].column);
    sql.push(" = ").bind(parent.into());
    tenant.restrict(&mut sql, model, &table, false);
    sql.push(" ORDER BY \"id\"");
    let rows = conn.query_all_raw(sql.build()).await?;
    decode_all(model, &rows)
}
