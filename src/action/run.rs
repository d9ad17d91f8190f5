//! One action and its nested writes, inside a transaction the caller owns.

use super::Upserted;
use super::error::{ActionError, FieldError};
use super::hooks::{self, Pending, Verb};
use super::input::{BelongsTo, HasMany, RecordInput};
use super::statements;
use crate::model::{Model, ModelId, Registry, RelationKind};
use crate::query::{Columns, Record, Tenant, Value, find_many_in};
use futures::future::BoxFuture;
use sea_orm::ConnectionTrait;

/// Who is writing, for the statements of one action.
pub struct Ctx<'a> {
    pub registry: &'a Registry,
    pub tenant: Tenant,
    pub caller: &'a super::Caller,
    /// For the app's hooks: the API they run with.
    pub api: &'a super::Api,
    /// The `after` hooks owed when the transaction commits.
    pub pending: Pending,
}

impl Ctx<'_> {
    async fn find<C: ConnectionTrait>(
        &self,
        conn: &C,
        model: ModelId,
        id: i64,
    ) -> Result<Option<Record>, ActionError> {
        Ok(
            find_many_in(conn, self.registry, self.tenant, model, &[id], &Columns::All)
                .await?
                .pop(),
        )
    }
}

fn not_found(model: &Model, id: i64) -> ActionError {
    ActionError::NotFound(format!("{} {id} not found", model.qualified_name()))
}

/// The api identifier a field's errors are reported under: a foreign key is its relation.
fn error_name(model: &Model, field: usize) -> String {
    match model.relation_of_field(field) {
        Some(rel) => model.relations[rel].api_id.clone(),
        None => model.fields[field].api_id.clone(),
    }
}

/// A unique index refused the write: report it on the field of the model's unique
/// identity whose columns all appear in the database's message (SQLite lists them;
/// PostgreSQL names the index), else on the model's first unique identity.
pub fn unique_violation(model: &Model, err: ActionError) -> ActionError {
    if !err.is_unique_violation() {
        return err;
    }
    let message = err.to_string();
    let names = |u: &&crate::model::Unique| {
        u.fields()
            .iter()
            .all(|f| message.contains(model.fields[*f].column.as_str()))
    };
    let field = model
        .uniques
        .iter()
        .find(names)
        .or(model.uniques.first())
        .map(|u| model.fields[u.field].api_id.clone())
        .unwrap_or_else(|| "id".into());
    ActionError::invalid(&model.api_id, &field, "must be unique")
}

/// Split `(field, value)` pairs into a sorted field list and the matching values.
pub fn columns(mut values: Vec<(usize, Value)>) -> (Vec<usize>, Vec<Value>) {
    values.sort_by_key(|(f, _)| *f);
    values.dedup_by_key(|(f, _)| *f);
    values.into_iter().unzip()
}

/// Set the tenant on a new record of a tenant-scoped model, refusing any other store.
/// Only the system creates tenants (stores) or writes without a store of its own.
pub fn apply_tenant(ctx: &Ctx, model: &Model, input: &mut RecordInput) -> Result<(), ActionError> {
    if ctx.tenant.is_system() {
        return Ok(());
    }
    if model.is_tenant {
        return Err(ActionError::PermissionDenied(format!(
            "a {} is created by installing the app",
            model.qualified_name()
        )));
    }
    let Some(field) = model.tenant_field() else {
        return Ok(());
    };
    let Tenant::Store(tenant) = ctx.tenant else {
        return Err(no_store(model));
    };
    match input.value(field) {
        None | Some(Value::Null) => input.set(field, Value::Int(tenant)),
        Some(Value::Int(id)) if *id == tenant => {}
        Some(_) => {
            return Err(ActionError::PermissionDenied(format!(
                "a {} may not be linked to another store",
                model.qualified_name()
            )));
        }
    }
    Ok(())
}

/// A caller without a store writes no store's rows.
fn no_store(model: &Model) -> ActionError {
    ActionError::PermissionDenied(format!(
        "a {} belongs to a store, and this session has none",
        model.qualified_name()
    ))
}

/// An update may not move a record to another store.
pub fn check_move(ctx: &Ctx, model: &Model, input: &RecordInput) -> Result<(), ActionError> {
    if let Some(field) = model.tenant_field()
        && let Some(value) = input.value(field)
        && !ctx.tenant.is_system()
        && ctx.tenant.store().map(Value::Int).as_ref() != Some(value)
    {
        return Err(ActionError::PermissionDenied(format!(
            "a {} may not be moved to another store",
            model.qualified_name()
        )));
    }
    Ok(())
}

/// Platform fields (a store's hash, state, token...) change only through the gateway's
/// own code. `input` holds only the values that differ from the stored ones.
pub fn check_platform_fields(ctx: &Ctx, model: &Model, input: &RecordInput) -> Result<(), ActionError> {
    if ctx.caller.internal {
        return Ok(());
    }
    match input.values.iter().find(|(f, _)| model.fields[*f].platform) {
        Some((f, _)) => Err(ActionError::PermissionDenied(format!(
            "`{}` of a {} is set by BigCommerce and cannot be changed",
            model.fields[*f].api_id,
            model.qualified_name()
        ))),
        None => Ok(()),
    }
}

/// `_atomics` add to a stored value: a record being created has none.
fn no_atomics(model: &Model, input: &RecordInput) -> Result<(), ActionError> {
    if input.atomics.is_empty() {
        Ok(())
    } else {
        Err(ActionError::InvalidInput(format!(
            "`_atomics` applies to updates of {}, not to creates or upserts",
            model.api_id
        )))
    }
}

/// Give a created record the declared defaults of the fields its input leaves out.
pub fn apply_defaults(model: &Model, input: &mut RecordInput) {
    for (i, field) in model.fields.iter().enumerate() {
        if let Some(default) = &field.default
            && input.value(i).is_none()
        {
            input.set(i, Value::String(default.clone()));
        }
    }
}

/// Checks that need no database: required fields (on create, or set to null).
pub fn check_required(model: &Model, input: &RecordInput, creating: bool) -> Vec<FieldError> {
    model
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_required())
        .filter(|(i, _)| match input.value(*i) {
            None => creating,
            Some(Value::Null) => true,
            Some(_) => false,
        })
        .map(|(i, _)| FieldError::new(error_name(model, i), "is required"))
        .collect()
}

/// Required fields, then, for an update, uniqueness against the rows already stored.
///
/// A create is not probed: its `INSERT` meets the unique index, whose refusal
/// [`unique_violation`] reports the same way. The probe cost more than the insert and
/// grew with the table on PostgreSQL: its prepared statement's generic plan, made while
/// the table had no statistics, walked the `(store_id, id)` index and filtered every row
/// of the store (a bulk load slowed to half its rate by 100,000 rows).
async fn validate<C: ConnectionTrait>(
    conn: &C,
    model: &Model,
    input: &RecordInput,
    existing: Option<&Record>,
) -> Result<(), ActionError> {
    let mut errors = check_required(model, input, existing.is_none());
    for unique in &model.uniques {
        let fields = unique.fields();
        let values: Vec<Value> = fields
            .iter()
            .map(|f| {
                input
                    .value(*f)
                    .or(existing.map(|r| &r.values[*f]))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect();
        let touched = existing.is_some() && fields.iter().any(|f| input.value(*f).is_some());
        if touched && values.iter().all(|v| *v != Value::Null) {
            let except = existing.map(Record::id);
            if statements::find_by(conn, model, &fields, &values, except)
                .await?
                .is_some()
            {
                errors.push(FieldError::new(
                    &model.fields[unique.field].api_id,
                    "must be unique",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ActionError::InvalidRecord {
            model: model.api_id.clone(),
            errors,
        })
    }
}

/// Carry out belongsTo operations, leaving their foreign keys in `input`. A nested
/// `delete` only unlinks here; the parent is deleted by [`delete_unlinked`] once the
/// record no longer points at it, so the delete cannot cascade into the record.
async fn belongs_to<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    model: &Model,
    input: &mut RecordInput,
) -> Result<Vec<(ModelId, i64)>, ActionError> {
    let mut unlinked = Vec::new();
    for (rel, op) in std::mem::take(&mut input.belongs_to) {
        let relation = &model.relations[rel];
        let RelationKind::BelongsTo { field } = relation.kind else {
            continue;
        };
        let target = ctx.registry.get(relation.target);
        let value = match op {
            BelongsTo::Link(None) => Value::Null,
            BelongsTo::Link(Some(id)) => {
                if target.is_tenant {
                    if !ctx.tenant.admits(id) {
                        return Err(ActionError::PermissionDenied(format!(
                            "`{}` may not link another store",
                            relation.api_id
                        )));
                    }
                } else {
                    // A link names a record: only one the caller may read.
                    ctx.caller.check(target, "read")?;
                }
                if ctx.find(conn, target.id, id).await?.is_none() {
                    return Err(ActionError::NotFound(format!(
                        "{} {id} (linked by `{}`) not found",
                        target.qualified_name(),
                        relation.api_id
                    )));
                }
                Value::Int(id)
            }
            BelongsTo::Create(child) => Value::Int(create(conn, ctx, target.id, *child).await?.id()),
            BelongsTo::Update(id, child) => Value::Int(update(conn, ctx, target.id, id, *child).await?.id()),
            BelongsTo::Delete(id) => {
                if ctx.find(conn, target.id, id).await?.is_none() {
                    return Err(not_found(target, id));
                }
                unlinked.push((target.id, id));
                Value::Null
            }
        };
        input.set(field, value);
    }
    Ok(unlinked)
}

async fn delete_unlinked<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    unlinked: Vec<(ModelId, i64)>,
) -> Result<(), ActionError> {
    for (model, id) in unlinked {
        delete(conn, ctx, model, id).await?;
    }
    Ok(())
}

/// Children created through a parent join the parent's store unless told otherwise.
fn inherit_tenant(parent_model: &Model, parent: &Record, child_model: &Model, child: &mut RecordInput) {
    if let (Some(pf), Some(cf)) = (parent_model.tenant_field(), child_model.tenant_field())
        && child.value(cf).is_none()
        && !child
            .belongs_to
            .iter()
            .any(|(rel, _)| Some(*rel) == child_model.tenant)
    {
        child.set(cf, parent.values[pf].clone());
    }
}

/// A child that is not this parent's looks like one that does not exist.
async fn own_child<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    target: &Model,
    fk: usize,
    parent: i64,
    id: i64,
) -> Result<Record, ActionError> {
    match ctx.find(conn, target.id, id).await? {
        Some(child) if child.values[fk] == Value::Int(parent) => Ok(child),
        _ => Err(not_found(target, id)),
    }
}

/// Carry out hasMany operations for `parent`.
fn has_many<'a, C: ConnectionTrait>(
    conn: &'a C,
    ctx: &'a Ctx<'a>,
    model: &'a Model,
    parent: &'a Record,
    ops: Vec<(usize, HasMany)>,
) -> BoxFuture<'a, Result<(), ActionError>> {
    Box::pin(async move {
        for (rel, op) in ops {
            let relation = &model.relations[rel];
            let RelationKind::HasMany { target_field: fk } = relation.kind else {
                continue;
            };
            let target = ctx.registry.get(relation.target);
            match op {
                HasMany::Create(mut child) => {
                    inherit_tenant(model, parent, target, &mut child);
                    child.set(fk, Value::Int(parent.id()));
                    create(conn, ctx, target.id, child).await?;
                }
                HasMany::Update(id, child) => {
                    own_child(conn, ctx, target, fk, parent.id(), id).await?;
                    update(conn, ctx, target.id, id, child).await?;
                }
                HasMany::Delete(id) => {
                    own_child(conn, ctx, target, fk, parent.id(), id).await?;
                    delete(conn, ctx, target.id, id).await?;
                }
                HasMany::Converge(values) => converge(conn, ctx, model, parent, target, fk, values).await?,
            }
        }
        Ok(())
    })
}

/// Make `parent`'s children through `fk` equal `values`: a value with an `id`, or
/// whose unique identity matches a child, updates it; the others are created; the
/// children not matched are deleted.
async fn converge<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    model: &Model,
    parent: &Record,
    target: &Model,
    fk: usize,
    values: Vec<RecordInput>,
) -> Result<(), ActionError> {
    let existing = statements::children_of(conn, target, fk, parent.id(), ctx.tenant).await?;
    let mut kept = vec![false; existing.len()];
    let mut updates: Vec<(i64, RecordInput)> = Vec::new();
    let mut creates: Vec<RecordInput> = Vec::new();
    for mut value in values {
        inherit_tenant(model, parent, target, &mut value);
        value.set(fk, Value::Int(parent.id()));
        let matched = match value.id {
            Some(id) => match existing.iter().position(|c| c.id() == id) {
                Some(i) => Some(i),
                None => return Err(not_found(target, id)),
            },
            None => existing.iter().position(|child| {
                target.uniques.iter().any(|u| {
                    u.fields().iter().all(|f| match value.value(*f) {
                        Some(v) if *v != Value::Null => *v == child.values[*f],
                        _ => false,
                    })
                })
            }),
        };
        match matched {
            Some(i) => {
                kept[i] = true;
                updates.push((existing[i].id(), value));
            }
            None => creates.push(value),
        }
    }
    let gone: Vec<i64> = existing
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|(c, _)| c.id())
        .collect();
    // Each kind of write it is about to make needs the child model's grant for it.
    if !creates.is_empty() {
        ctx.caller.check(target, "create")?;
    }
    if !gone.is_empty() {
        ctx.caller.check(target, "delete")?;
    }
    for (id, value) in updates {
        update(conn, ctx, target.id, id, value).await?;
    }
    statements::delete(conn, target, &gone, ctx.tenant).await?;
    // New plain children sharing their fields go in one statement.
    let (plain, nested): (Vec<RecordInput>, Vec<RecordInput>) = creates
        .into_iter()
        .partition(|c| c.belongs_to.is_empty() && c.has_many.is_empty());
    let mut groups: Vec<(Vec<usize>, Vec<Vec<Value>>)> = Vec::new();
    for child in plain {
        validate(conn, target, &child, None).await?;
        let (fields, row) = columns(child.values);
        match groups.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((fields, vec![row])),
        }
    }
    for (fields, mut rows) in groups {
        let per_statement = statements::rows_per_statement(fields.len() + 2);
        while !rows.is_empty() {
            let chunk: Vec<Vec<Value>> = rows.drain(..per_statement.min(rows.len())).collect();
            statements::insert_ids(conn, target, &fields, chunk)
                .await
                .map_err(|e| unique_violation(target, e.into()))?;
        }
    }
    for child in nested {
        create(conn, ctx, target.id, child).await?;
    }
    Ok(())
}

pub fn create<'a, C: ConnectionTrait>(
    conn: &'a C,
    ctx: &'a Ctx<'a>,
    model_id: ModelId,
    mut input: RecordInput,
) -> BoxFuture<'a, Result<Record, ActionError>> {
    Box::pin(async move {
        let model = ctx.registry.get(model_id);
        ctx.caller.check(model, "create")?;
        no_atomics(model, &input)?;
        let unlinked = belongs_to(conn, ctx, model, &mut input).await?;
        apply_tenant(ctx, model, &mut input)?;
        apply_defaults(model, &mut input);
        hooks::before(ctx.api, model, Verb::Create, &mut input, None).await?;
        validate(conn, model, &input, None).await?;
        let children = std::mem::take(&mut input.has_many);
        let (fields, row) = columns(input.values);
        let record = statements::insert(conn, model, &fields, vec![row])
            .await
            .map_err(|e| unique_violation(model, e.into()))?
            .pop()
            .ok_or_else(|| ActionError::Database(sea_orm::DbErr::RecordNotInserted))?;
        delete_unlinked(conn, ctx, unlinked).await?;
        has_many(conn, ctx, model, &record, children).await?;
        hooks::written(ctx.api, &ctx.pending, model, Verb::Create, &record);
        Ok(record)
    })
}

pub fn update<'a, C: ConnectionTrait>(
    conn: &'a C,
    ctx: &'a Ctx<'a>,
    model_id: ModelId,
    id: i64,
    input: RecordInput,
) -> BoxFuture<'a, Result<Record, ActionError>> {
    Box::pin(async move { Ok(update_telling(conn, ctx, model_id, id, input).await?.0) })
}

/// An update that also tells whether the record's own fields changed.
async fn update_telling<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    model_id: ModelId,
    id: i64,
    mut input: RecordInput,
) -> Result<(Record, Upserted), ActionError> {
    let model = ctx.registry.get(model_id);
    ctx.caller.check(model, "update")?;
    let existing = ctx
        .find(conn, model_id, id)
        .await?
        .ok_or_else(|| not_found(model, id))?;
    let unlinked = belongs_to(conn, ctx, model, &mut input).await?;
    check_move(ctx, model, &input)?;
    hooks::before(ctx.api, model, Verb::Update, &mut input, Some(&existing)).await?;
    // Only what changes is written, so updatedAt moves only then.
    input.values.retain(|(f, v)| existing.values[*f] != *v);
    check_platform_fields(ctx, model, &input)?;
    validate(conn, model, &input, Some(&existing)).await?;
    let children = std::mem::take(&mut input.has_many);
    let atomics = std::mem::take(&mut input.atomics);
    let (record, how) = if input.values.is_empty() {
        (existing, Upserted::Unchanged)
    } else {
        let (fields, row) = columns(input.values);
        let record = statements::update(conn, model, &fields, vec![(id, row)], ctx.tenant)
            .await
            .map_err(|e| unique_violation(model, e.into()))?
            .pop()
            .ok_or_else(|| not_found(model, id))?;
        (record, Upserted::Updated)
    };
    let (record, how) = if atomics.is_empty() {
        (record, how)
    } else {
        let added = statements::add(conn, model, id, &atomics, ctx.tenant)
            .await?
            .ok_or_else(|| not_found(model, id))?;
        (added, Upserted::Updated)
    };
    delete_unlinked(conn, ctx, unlinked).await?;
    has_many(conn, ctx, model, &record, children).await?;
    hooks::written(ctx.api, &ctx.pending, model, Verb::Update, &record);
    Ok((record, how))
}

pub fn delete<'a, C: ConnectionTrait>(
    conn: &'a C,
    ctx: &'a Ctx<'a>,
    model_id: ModelId,
    id: i64,
) -> BoxFuture<'a, Result<(), ActionError>> {
    Box::pin(async move {
        let model = ctx.registry.get(model_id);
        ctx.caller.check(model, "delete")?;
        check_tenant_delete(ctx, model)?;
        // Hooks see the record as it was: read it first (only for a model with hooks).
        let existing = if ctx.api.hooks.any(model_id) {
            let existing = ctx
                .find(conn, model_id, id)
                .await?
                .ok_or_else(|| not_found(model, id))?;
            hooks::before(
                ctx.api,
                model,
                Verb::Delete,
                &mut RecordInput::default(),
                Some(&existing),
            )
            .await?;
            Some(existing)
        } else {
            None
        };
        // Children go with their parent (ON DELETE CASCADE).
        let deleted = statements::delete(conn, model, &[id], ctx.tenant).await?;
        if deleted.is_empty() {
            return Err(not_found(model, id));
        }
        if let Some(existing) = existing {
            hooks::written(ctx.api, &ctx.pending, model, Verb::Delete, &existing);
        }
        Ok(())
    })
}

/// A store row (and everything of its store with it) is deleted only by the system.
pub fn check_tenant_delete(ctx: &Ctx, model: &Model) -> Result<(), ActionError> {
    if model.is_tenant && !ctx.tenant.is_system() {
        return Err(ActionError::PermissionDenied(format!(
            "a {} is removed by uninstalling the app",
            model.qualified_name()
        )));
    }
    Ok(())
}

/// The fields an upsert matches on: `id`, or one of the model's unique identities
/// (for a tenant, the store is always part of it).
pub fn conflict_fields(ctx: &Ctx, model: &Model, on: &[String]) -> Result<Vec<usize>, ActionError> {
    let mut fields = Vec::new();
    for name in on {
        let field = if name == "id" {
            Model::ID
        } else if let Some(f) = model.field(name) {
            f
        } else if let Some(RelationKind::BelongsTo { field }) =
            model.relation(name).map(|r| model.relations[r].kind)
        {
            field
        } else {
            return Err(ActionError::InvalidInput(format!(
                "upsert `on`: {} has no field `{name}`",
                model.api_id
            )));
        };
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    if fields.is_empty() || fields == [Model::ID] {
        return Ok(vec![Model::ID]);
    }
    if let Tenant::Store(_) = ctx.tenant
        && let Some(tf) = model.tenant_field()
        && !fields.contains(&tf)
    {
        fields.push(tf);
    }
    fields.sort();
    for unique in &model.uniques {
        let mut identity = unique.fields();
        identity.sort();
        if identity == fields {
            return Ok(identity);
        }
    }
    let known: Vec<String> = model
        .uniques
        .iter()
        .map(|u| {
            format!(
                "{:?}",
                u.fields()
                    .iter()
                    .map(|f| error_name(model, *f))
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    Err(ActionError::InvalidInput(format!(
        "upsert `on` {on:?} is not an identity of {}: use [\"id\"] or one of {}",
        model.api_id,
        known.join(", ")
    )))
}

/// The values of an upsert's conflict fields in `input`, if all are set.
pub fn conflict_values(input: &RecordInput, conflict: &[usize]) -> Option<Vec<Value>> {
    conflict
        .iter()
        .map(|f| match (*f, input.value(*f)) {
            (Model::ID, _) => input.id.map(Value::Int),
            (_, Some(v)) if *v != Value::Null => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// Create, or update the record whose `conflict` fields match. An `id` only ever
/// matches an existing record of the caller's tenant: no caller chooses a new record's
/// primary key (one chosen near the top of the id range would end every later insert).
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    model_id: ModelId,
    mut input: RecordInput,
    on: &[String],
) -> Result<(Record, Upserted), ActionError> {
    let model = ctx.registry.get(model_id);
    ctx.caller.check(model, "create")?;
    ctx.caller.check(model, "update")?;
    no_atomics(model, &input)?;
    let conflict = conflict_fields(ctx, model, on)?;
    if let Some(id) = input.id {
        if conflict != [Model::ID] {
            return Err(ActionError::InvalidInput(format!(
                "an upsert of {} matches on {on:?}; `id` is only matched with on: [\"id\"]",
                model.api_id
            )));
        }
        return update_telling(conn, ctx, model_id, id, input).await;
    }
    let unlinked = belongs_to(conn, ctx, model, &mut input).await?;
    apply_tenant_or_update(ctx, model, &mut input)?;
    let missing = check_required(model, &input, true);
    // Without everything a new record needs, or for a caller that may not set what the
    // statement's update would overwrite, find the record first.
    if !missing.is_empty() || upserts_carefully(ctx, model) || ctx.api.hooks.any(model_id) {
        let existing = match conflict_values(&input, &conflict) {
            Some(keys) => statements::find_by(conn, model, &conflict, &keys, None).await?,
            None => None,
        };
        // Another store's row looks like no row (the store's own id is its tenant).
        let existing = existing.filter(|id| !model.is_tenant || ctx.tenant.admits(*id));
        let result = match existing {
            Some(id) => update_telling(conn, ctx, model_id, id, input).await?,
            None if missing.is_empty() => (create(conn, ctx, model_id, input).await?, Upserted::Created),
            None => {
                return Err(ActionError::InvalidRecord {
                    model: model.api_id.clone(),
                    errors: missing,
                });
            }
        };
        delete_unlinked(conn, ctx, unlinked).await?;
        return Ok(result);
    }
    let children = std::mem::take(&mut input.has_many);
    let (fields, row) = columns(input.values);
    let written = statements::upsert(conn, model, &fields, vec![row], &conflict, ctx.tenant)
        .await
        .map_err(|e| unique_violation(model, e.into()))?
        .pop()
        .flatten();
    // A conflict with a record the caller may not touch writes nothing.
    let (id, how) =
        written.ok_or_else(|| ActionError::NotFound(format!("{} not found", model.qualified_name())))?;
    let record = ctx
        .find(conn, model_id, id)
        .await?
        .ok_or_else(|| not_found(model, id))?;
    delete_unlinked(conn, ctx, unlinked).await?;
    has_many(conn, ctx, model, &record, children).await?;
    Ok((record, how))
}

/// An upsert's tenant: set as for a create, except that a caller who may not create
/// the model's records at all (a store, for anyone but the system) may still update.
fn apply_tenant_or_update(ctx: &Ctx, model: &Model, input: &mut RecordInput) -> Result<(), ActionError> {
    if model.is_tenant {
        return Ok(());
    }
    apply_tenant(ctx, model, input)
}

/// Upserts that cannot be one `INSERT ... ON CONFLICT DO UPDATE`: its update would
/// write platform fields (only the gateway's own code may), or create a store.
pub fn upserts_carefully(ctx: &Ctx, model: &Model) -> bool {
    (model.is_tenant && !ctx.tenant.is_system())
        || (!ctx.caller.internal && model.fields.iter().any(|f| f.platform))
}
