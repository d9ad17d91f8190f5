//! Running reads: one record, records by id, keyset pages, and the children of many
//! parents in one statement.

use super::QueryError;
use super::filter::{Cond, Writer};
use super::sql::Sql;
use super::tenant::Tenant;
use super::value::{Record, Value};
use crate::model::{FieldType, Model, ModelId, Registry, RelationKind};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 250;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortKey {
    pub field: usize,
    pub descending: bool,
}

/// Parse `sort: [{field: Ascending|Descending}, ...]`; `id` is always appended as the
/// final tie-break so every order is total and paging is stable.
pub fn parse_sort(model: &Model, sort: &Json) -> Result<Vec<SortKey>, QueryError> {
    let mut keys = Vec::new();
    let items: Vec<&Json> = match sort {
        Json::Array(items) => items.iter().collect(),
        Json::Null => Vec::new(),
        one => vec![one],
    };
    for item in items {
        let Json::Object(map) = item else {
            return Err(QueryError::InvalidInput(format!(
                "a sort must be an object, got {item}"
            )));
        };
        for (name, dir) in map {
            let descending = match dir.as_str() {
                Some("Ascending") => false,
                Some("Descending") => true,
                _ if dir.is_null() => continue,
                _ => {
                    return Err(QueryError::InvalidInput(format!(
                        "sort `{name}`: expected Ascending or Descending"
                    )));
                }
            };
            let field = model
                .field(name)
                .filter(|f| !model.fields[*f].hidden && model.fields[*f].ty != FieldType::Json)
                .ok_or_else(|| {
                    QueryError::InvalidInput(format!("cannot sort {} by `{name}`", model.type_name()))
                })?;
            if !keys.iter().any(|k: &SortKey| k.field == field) {
                keys.push(SortKey { field, descending });
            }
        }
    }
    if !keys.iter().any(|k| k.field == Model::ID) {
        keys.push(SortKey {
            field: Model::ID,
            descending: false,
        });
    }
    Ok(keys)
}

/// Everything that selects a page: size, direction, cursor, order and condition.
#[derive(Clone, Debug, PartialEq)]
pub struct PageArgs {
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub sort: Vec<SortKey>,
    pub cond: Cond,
}

impl PageArgs {
    /// Checked page arguments: at most one of `first`/`last`, both within the maximum.
    pub fn new(
        first: Option<i64>,
        last: Option<i64>,
        after: Option<String>,
        before: Option<String>,
        sort: Vec<SortKey>,
        cond: Cond,
    ) -> Result<PageArgs, QueryError> {
        let check = |name: &str, n: Option<i64>| -> Result<Option<u64>, QueryError> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Err(QueryError::InvalidInput(format!("`{name}` must not be negative"))),
                Some(n) if n as u64 > MAX_PAGE_SIZE => Err(QueryError::InvalidInput(format!(
                    "`{name}` is {n}, but a page holds at most {MAX_PAGE_SIZE} records"
                ))),
                Some(n) => Ok(Some(n as u64)),
            }
        };
        let first = check("first", first)?;
        let last = check("last", last)?;
        if first.is_some() && last.is_some() {
            return Err(QueryError::InvalidInput(
                "pass `first` or `last`, not both".into(),
            ));
        }
        Ok(PageArgs {
            first,
            last,
            after,
            before,
            sort,
            cond,
        })
    }

    /// Paging backwards: `last`, or `before` without `first`.
    pub fn backward(&self) -> bool {
        self.last.is_some() || (self.first.is_none() && self.before.is_some() && self.after.is_none())
    }

    fn size(&self) -> u64 {
        self.first.or(self.last).unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

/// One page of records in the requested order.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub sort: Arc<[SortKey]>,
}

impl Page {
    /// The opaque cursor of a record: its sort key values.
    pub fn cursor(&self, model: &Model, record: &Record) -> String {
        let values: Vec<Json> = self
            .sort
            .iter()
            .map(|k| record.values[k.field].to_json(model.fields[k.field].ty))
            .collect();
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&values).unwrap_or_default())
    }
}

fn decode_cursor(model: &Model, sort: &[SortKey], cursor: &str) -> Result<Vec<Value>, QueryError> {
    let bad = || QueryError::InvalidInput(format!("`{cursor}` is not a valid cursor for this list and sort"));
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    let values: Vec<Json> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // What no column holds (and PostgreSQL refuses as a parameter): see `cost::check_strings`.
    if values
        .iter()
        .any(|v| v.as_str().is_some_and(|s| s.contains('\0')))
    {
        return Err(bad());
    }
    if values.len() != sort.len() {
        return Err(bad());
    }
    sort.iter()
        .zip(&values)
        .map(|(k, v)| Value::parse(v, &model.fields[k.field], "cursor").map_err(|_| bad()))
        .collect()
}

/// Which fields of a model a read fetches; the others read as null.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Columns {
    All,
    Only(Vec<bool>),
}

impl Columns {
    /// Just `id`, to which callers add the fields they need.
    pub fn id_only(model: &Model) -> Columns {
        let mut mask = vec![false; model.fields.len()];
        mask[Model::ID] = true;
        Columns::Only(mask)
    }

    pub fn wants(&self, field: usize) -> bool {
        match self {
            Columns::All => true,
            Columns::Only(mask) => mask.get(field).copied().unwrap_or(false),
        }
    }

    pub fn add(&mut self, field: usize) {
        if let Columns::Only(mask) = self
            && let Some(slot) = mask.get_mut(field)
        {
            *slot = true;
        }
    }

    /// How many columns of `model` a read of these fetches.
    pub fn width(&self, model: &Model) -> usize {
        (0..model.fields.len()).filter(|i| self.wants(*i)).count()
    }

    /// These columns plus the sort keys, which cursors are made of.
    fn with_sort(&self, sort: &[SortKey]) -> Columns {
        let mut columns = self.clone();
        for key in sort {
            columns.add(key.field);
        }
        columns
    }
}

/// A belongsTo target read in the same statement as the records that point at it: the
/// record `field` (a foreign key of the records read) names, of model `target`, restricted
/// to the reader's tenant exactly as [`find_many_in`] restricts it. Saves the statement
/// (and the round trip) a level of `store { ... }` under a list would cost.
#[derive(Clone, Debug)]
pub struct Joined {
    pub field: usize,
    pub target: ModelId,
    pub columns: Columns,
}

/// What each [`Joined`] found, by id, in the order of the joins.
pub type JoinedRecords = Vec<HashMap<i64, Record>>;

/// ` LEFT JOIN <target> j<i> ON j<i>.id = <alias>.<fk> AND <tenant>` for every join.
fn write_joins(w: &mut Writer, registry: &Registry, model: &Model, alias: &str, joins: &[Joined]) {
    for (i, join) in joins.iter().enumerate() {
        let target = registry.get(join.target);
        let j = format!("j{i}");
        w.sql
            .push(" LEFT JOIN ")
            .ident(&target.table)
            .push(" ")
            .push(&j)
            .push(" ON ")
            .column(&j, &target.fields[Model::ID].column)
            .push(" = ")
            .column(alias, &model.fields[join.field].column);
        w.tenant_filter(target, &j);
    }
}

/// `, j<i>.<column>...` for every join, after a select list.
fn select_joined(w: &mut Writer, registry: &Registry, joins: &[Joined]) {
    for (i, join) in joins.iter().enumerate() {
        w.sql.push(", ");
        Reader::select_list(w, registry.get(join.target), &format!("j{i}"), &join.columns);
    }
}

/// Reads what the joins found out of the rows of one statement whose select list is
/// `columns` of its own model followed by [`select_joined`]. Where each join's columns
/// start is worked out once per statement, not per row.
struct JoinedReader<'a> {
    registry: &'a Registry,
    joins: &'a [Joined],
    /// The first column of each join's target.
    starts: Vec<usize>,
    found: JoinedRecords,
}

impl<'a> JoinedReader<'a> {
    fn new(registry: &'a Registry, model: &Model, columns: &Columns, joins: &'a [Joined]) -> JoinedReader<'a> {
        let mut start = columns.width(model);
        let starts = joins
            .iter()
            .map(|join| {
                let at = start;
                start += join.columns.width(registry.get(join.target));
                at
            })
            .collect();
        JoinedReader {
            registry,
            joins,
            starts,
            found: joins.iter().map(|_| HashMap::new()).collect(),
        }
    }

    /// Keep the joined records of `row`. A target already read is not decoded again
    /// (fifty products share one store).
    fn read(&mut self, row: &sea_orm::QueryResult) -> Result<(), QueryError> {
        for ((join, start), found) in self.joins.iter().zip(&self.starts).zip(&mut self.found) {
            if let Some(id) = row.try_get_by_index::<Option<i64>>(*start)?
                && !found.contains_key(&id)
            {
                let target = self.registry.get(join.target);
                found.insert(id, Reader::decode_at(target, &join.columns, row, *start)?);
            }
        }
        Ok(())
    }
}

/// Records of `model_id` by id through any connection (a transaction included),
/// restricted to `tenant`'s rows.
pub async fn find_many_in<C: ConnectionTrait>(
    conn: &C,
    registry: &Registry,
    tenant: Tenant,
    model_id: ModelId,
    ids: &[i64],
    columns: &Columns,
) -> Result<Vec<Record>, QueryError> {
    Ok(find_joined_in(conn, registry, tenant, model_id, ids, columns, &[]).await?.0)
}

/// [`find_many_in`], with the belongsTo targets `joins` read in the same statement.
pub async fn find_joined_in<C: ConnectionTrait>(
    conn: &C,
    registry: &Registry,
    tenant: Tenant,
    model_id: ModelId,
    ids: &[i64],
    columns: &Columns,
    joins: &[Joined],
) -> Result<(Vec<Record>, JoinedRecords), QueryError> {
    let model = registry.get(model_id);
    let mut joined = JoinedReader::new(registry, model, columns, joins);
    if ids.is_empty() {
        return Ok((Vec::new(), joined.found));
    }
    let mut w = Writer::new(registry, Sql::new(conn.get_database_backend()), tenant);
    w.sql.push("SELECT ");
    Reader::select_list(&mut w, model, "t0", columns);
    select_joined(&mut w, registry, joins);
    w.sql.push(" FROM ").ident(&model.table).push(" t0");
    write_joins(&mut w, registry, model, "t0", joins);
    w.sql.push(" WHERE ").column("t0", "id");
    if let [id] = ids {
        w.sql.push(" = ").bind((*id).into());
    } else {
        w.sql.push(" IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                w.sql.push(", ");
            }
            w.sql.bind((*id).into());
        }
        w.sql.push(")");
    }
    w.tenant_filter(model, "t0");
    let rows = conn.query_all_raw(w.sql.build()).await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        records.push(Reader::decode(model, columns, row)?);
        joined.read(row)?;
    }
    Ok((records, joined.found))
}

/// Reads for one caller. `tenant` restricts every tenant-scoped table it touches.
#[derive(Clone)]
pub struct Reader {
    pub db: DatabaseConnection,
    pub registry: Arc<Registry>,
    pub tenant: Tenant,
}

impl Reader {
    fn writer(&self) -> Writer<'_> {
        Writer::new(
            &self.registry,
            Sql::new(self.db.get_database_backend()),
            self.tenant,
        )
    }

    pub(crate) fn select_list(w: &mut Writer, model: &Model, alias: &str, columns: &Columns) {
        let mut first = true;
        for (i, f) in model.fields.iter().enumerate() {
            if !columns.wants(i) {
                continue;
            }
            if !first {
                w.sql.push(", ");
            }
            first = false;
            w.sql.column(alias, &f.column);
        }
    }

    pub(crate) fn decode(
        model: &Model,
        columns: &Columns,
        row: &sea_orm::QueryResult,
    ) -> Result<Record, QueryError> {
        Self::decode_at(model, columns, row, 0)
    }

    /// A record of `model` from the columns of `row` that start at `start`.
    fn decode_at(
        model: &Model,
        columns: &Columns,
        row: &sea_orm::QueryResult,
        start: usize,
    ) -> Result<Record, QueryError> {
        let mut idx = start;
        let mut values = Vec::with_capacity(model.fields.len());
        for (i, f) in model.fields.iter().enumerate() {
            if columns.wants(i) {
                values.push(Value::decode(row, idx, f)?);
                idx += 1;
            } else {
                values.push(Value::Null);
            }
        }
        Ok(Record { values })
    }

    async fn fetch(
        &self,
        model: &Model,
        columns: &Columns,
        w: Writer<'_>,
    ) -> Result<Vec<Record>, QueryError> {
        let rows = self.db.query_all_raw(w.sql.build()).await?;
        rows.iter().map(|row| Self::decode(model, columns, row)).collect()
    }

    /// Records by id, in no particular order; missing and invisible ids are left out.
    pub async fn find_many(&self, model_id: ModelId, ids: &[i64]) -> Result<Vec<Record>, QueryError> {
        find_many_in(
            &self.db,
            &self.registry,
            self.tenant,
            model_id,
            ids,
            &Columns::All,
        )
        .await
    }

    pub async fn find(&self, model_id: ModelId, id: i64) -> Result<Option<Record>, QueryError> {
        Ok(self.find_many(model_id, &[id]).await?.pop())
    }

    /// `ORDER BY` for `sort`, reversed when paging backwards. NULL sorts as the
    /// smallest value on both databases.
    fn order_by(w: &mut Writer, model: &Model, alias: &str, sort: &[SortKey], reverse: bool) {
        for (i, key) in sort.iter().enumerate() {
            let f = &model.fields[key.field];
            if i > 0 {
                w.sql.push(", ");
            }
            w.sql.column(alias, &f.column);
            let descending = key.descending != reverse;
            w.sql.push(match (descending, f.nullable) {
                (false, false) => " ASC",
                (true, false) => " DESC",
                (false, true) => " ASC NULLS FIRST",
                (true, true) => " DESC NULLS LAST",
            });
        }
    }

    /// Rows strictly after (or before) the cursor values in the sort order.
    fn keyset(w: &mut Writer, model: &Model, alias: &str, sort: &[SortKey], values: &[Value], after: bool) {
        w.sql.push("(");
        for i in 0..sort.len() {
            if i > 0 {
                w.sql.push(" OR ");
            }
            w.sql.push("(");
            for (key, value) in sort[..i].iter().zip(values) {
                let f = &model.fields[key.field];
                match value {
                    Value::Null => w.sql.column(alias, &f.column).push(" IS NULL AND "),
                    v => w
                        .sql
                        .column(alias, &f.column)
                        .push(" = ")
                        .bind(v.to_sql(f.ty))
                        .push(" AND "),
                };
            }
            let key = sort[i];
            let f = &model.fields[key.field];
            let less = key.descending == after;
            match (&values[i], less) {
                (Value::Null, false) => w.sql.column(alias, &f.column).push(" IS NOT NULL"),
                (Value::Null, true) => w.sql.push("1=0"),
                (v, false) => w.sql.column(alias, &f.column).push(" > ").bind(v.to_sql(f.ty)),
                (v, true) if f.nullable => w
                    .sql
                    .push("(")
                    .column(alias, &f.column)
                    .push(" < ")
                    .bind(v.to_sql(f.ty))
                    .push(" OR ")
                    .column(alias, &f.column)
                    .push(" IS NULL)"),
                (v, true) => w.sql.column(alias, &f.column).push(" < ").bind(v.to_sql(f.ty)),
            };
            w.sql.push(")");
        }
        w.sql.push(")");
    }

    /// The conditions of a page of `args` (filter, cursor, `tenant`) as SQL for `backend`,
    /// without a database: what [`Reader::page`] puts after its `WHERE 1=1`. For the fuzz
    /// targets (`bcgraph::graphql::check`), which write the SQL of every list they plan.
    pub fn conditions_sql(
        registry: &Registry,
        backend: sea_orm::DbBackend,
        tenant: Tenant,
        model_id: ModelId,
        args: &PageArgs,
    ) -> Result<sea_orm::Statement, QueryError> {
        let model = registry.get(model_id);
        let mut w = Writer::new(registry, Sql::new(backend), tenant);
        w.sql.push("1=1");
        Self::page_conditions(&mut w, model, "t0", args, true)?;
        Ok(w.sql.build())
    }

    /// The filter, cursor and tenant conditions shared by pages and child pages.
    fn page_conditions(
        w: &mut Writer,
        model: &Model,
        alias: &str,
        args: &PageArgs,
        tenant_drives: bool,
    ) -> Result<(), QueryError> {
        if args.cond != Cond::Const(true) {
            w.sql.push(" AND ");
            w.cond(model.id, alias, &args.cond)?;
        }
        if let Some(after) = &args.after {
            let values = decode_cursor(model, &args.sort, after)?;
            w.sql.push(" AND ");
            Self::keyset(w, model, alias, &args.sort, &values, true);
        }
        if let Some(before) = &args.before {
            let values = decode_cursor(model, &args.sort, before)?;
            w.sql.push(" AND ");
            Self::keyset(w, model, alias, &args.sort, &values, false);
        }
        if tenant_drives {
            w.tenant_restriction(model, alias);
        } else {
            w.tenant_filter(model, alias);
        }
        Ok(())
    }

    /// One page of `model`. `exact_edges` asks for an exact `hasPreviousPage` (forward)
    /// or `hasNextPage` (backward) across the cursor, which costs one more statement.
    pub async fn page(
        &self,
        model_id: ModelId,
        args: &PageArgs,
        columns: &Columns,
        exact_edges: bool,
    ) -> Result<Page, QueryError> {
        Ok(self.page_joined(model_id, args, columns, exact_edges, &[]).await?.0)
    }

    /// [`Reader::page`], with the belongsTo targets `joins` read in the same statement
    /// (for the page's records and for the one past it, which is not kept).
    pub async fn page_joined(
        &self,
        model_id: ModelId,
        args: &PageArgs,
        columns: &Columns,
        exact_edges: bool,
        joins: &[Joined],
    ) -> Result<(Page, JoinedRecords), QueryError> {
        let model = self.registry.get(model_id);
        let backward = args.backward();
        let size = args.size();
        let columns = columns.with_sort(&args.sort);
        let mut w = self.writer();
        w.sql.push("SELECT ");
        Self::select_list(&mut w, model, "t0", &columns);
        select_joined(&mut w, &self.registry, joins);
        w.sql.push(" FROM ").ident(&model.table).push(" t0");
        write_joins(&mut w, &self.registry, model, "t0", joins);
        w.sql.push(" WHERE 1=1");
        Self::page_conditions(&mut w, model, "t0", args, true)?;
        w.sql.push(" ORDER BY ");
        Self::order_by(&mut w, model, "t0", &args.sort, backward);
        w.sql.push(&format!(" LIMIT {}", size + 1));
        let rows = self.db.query_all_raw(w.sql.build()).await?;
        let mut joined = JoinedReader::new(&self.registry, model, &columns, joins);
        let mut records = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            records.push(Self::decode(model, &columns, row)?);
            // The row past the page only says there is a next one.
            if (i as u64) < size {
                joined.read(row)?;
            }
        }
        let more = records.len() as u64 > size;
        records.truncate(size as usize);
        if backward {
            records.reverse();
        }
        // Across the cursor: is there anything on the other side of it?
        let cursor = if backward { &args.before } else { &args.after };
        let across = match cursor {
            Some(cursor) if exact_edges => self.exists_across(model, args, cursor, backward).await?,
            Some(_) => true,
            None => false,
        };
        let (has_next_page, has_previous_page) = if backward { (across, more) } else { (more, across) };
        let page = Page {
            records,
            has_next_page,
            has_previous_page,
            sort: args.sort.clone().into(),
        };
        Ok((page, joined.found))
    }

    async fn exists_across(
        &self,
        model: &Model,
        args: &PageArgs,
        cursor: &str,
        backward: bool,
    ) -> Result<bool, QueryError> {
        let values = decode_cursor(model, &args.sort, cursor)?;
        let mut w = self.writer();
        w.sql
            .push("SELECT 1 FROM ")
            .ident(&model.table)
            .push(" t0 WHERE ");
        // The cursor's own row counts as being on the other side.
        w.sql.push("(");
        Self::keyset(&mut w, model, "t0", &args.sort, &values, backward);
        w.sql.push(") IS NOT TRUE");
        if args.cond != Cond::Const(true) {
            w.sql.push(" AND ");
            w.cond(model.id, "t0", &args.cond)?;
        }
        w.tenant_restriction(model, "t0");
        w.sql.push(" LIMIT 1");
        Ok(self.db.query_one_raw(w.sql.build()).await?.is_some())
    }

    /// A page of a hasMany relation for each of `parents`, in one statement.
    pub async fn children(
        &self,
        parent: ModelId,
        relation: usize,
        parents: &[i64],
        args: &PageArgs,
        columns: &Columns,
    ) -> Result<HashMap<i64, Page>, QueryError> {
        let rel = &self.registry.get(parent).relations[relation];
        let RelationKind::HasMany { target_field } = rel.kind else {
            return Err(QueryError::InvalidInput(format!(
                "`{}` is not a hasMany relation",
                rel.api_id
            )));
        };
        let model = self.registry.get(rel.target);
        let fk = &model.fields[target_field].column;
        let backward = args.backward();
        let size = args.size();
        let mut out: HashMap<i64, Page> = HashMap::new();
        let sort: Arc<[SortKey]> = args.sort.clone().into();
        if parents.is_empty() {
            return Ok(out);
        }
        let mut columns = columns.with_sort(&args.sort);
        columns.add(target_field);
        let mut w = self.writer();
        w.sql.push("SELECT * FROM (SELECT ");
        Self::select_list(&mut w, model, "t0", &columns);
        w.sql
            .push(", ROW_NUMBER() OVER (PARTITION BY ")
            .column("t0", fk)
            .push(" ORDER BY ");
        Self::order_by(&mut w, model, "t0", &args.sort, backward);
        w.sql
            .push(") AS \"__rn\" FROM ")
            .ident(&model.table)
            .push(" t0 WHERE ")
            .column("t0", fk)
            .push(" IN (");
        for (i, id) in parents.iter().enumerate() {
            if i > 0 {
                w.sql.push(", ");
            }
            w.sql.bind((*id).into());
        }
        w.sql.push(")");
        Self::page_conditions(&mut w, model, "t0", args, false)?;
        w.sql.push(&format!(
            ") w WHERE w.\"__rn\" <= {} ORDER BY w.\"__rn\"",
            size + 1
        ));
        for record in self.fetch(model, &columns, w).await? {
            let Some(parent_id) = record.int(target_field) else {
                continue;
            };
            let page = out.entry(parent_id).or_insert_with(|| Page {
                records: Vec::new(),
                has_next_page: false,
                has_previous_page: false,
                sort: sort.clone(),
            });
            if page.records.len() as u64 == size {
                if backward {
                    page.has_previous_page = true;
                } else {
                    page.has_next_page = true;
                }
            } else {
                page.records.push(record);
            }
        }
        for page in out.values_mut() {
            if backward {
                page.records.reverse();
                page.has_next_page = args.before.is_some();
            } else {
                page.has_previous_page = args.after.is_some();
            }
        }
        Ok(out)
    }
}
