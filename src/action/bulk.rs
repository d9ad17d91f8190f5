//! Bulk actions: plain records are written many rows per statement; each element
//! still succeeds or fails on its own. A batch the database refuses is retried
//! element by element, so one bad element cannot sink the others.

use super::error::ActionError;
use super::input::{self, BelongsTo, HasMany, RecordInput};
use super::run::{self, Ctx};
use super::{Api, Upserted, statements};
use crate::model::{Model, ModelId, RelationKind};
use crate::query::{Columns, Record, Value, find_many_in};
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

type Slots<T> = Vec<Option<Result<T, ActionError>>>;

/// An element ready for a statement: its input position and its values in field order.
type Member = (usize, Vec<Value>);
/// Elements that write the same fields.
type Group = (Vec<usize>, Vec<Member>);

fn slots<T>(n: usize) -> Slots<T> {
    (0..n).map(|_| None).collect()
}

fn finish<T>(slots: Slots<T>) -> Vec<Result<T, ActionError>> {
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(ActionError::InvalidInput("element was not processed".into()))))
        .collect()
}

/// A failure of the whole batch (say, the database is gone) is every pending element's failure.
fn fail_all<T>(slots: Slots<T>, e: ActionError) -> Vec<Result<T, ActionError>> {
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(e.duplicate())))
        .collect()
}

/// Turn the `_link`s of plain inputs into foreign keys. Without a tenant the
/// foreign key constraints vouch for the targets (a batch that breaks one is retried
/// element by element, which reports the missing record); with a tenant every target
/// is looked up, one statement per target model, since only the tenant's may be linked.
async fn resolve_links(
    api: &Api,
    ctx: &Ctx<'_>,
    model: &Model,
    inputs: &mut [(usize, RecordInput)],
    slots_failed: &mut HashMap<usize, ActionError>,
) -> Result<(), ActionError> {
    let mut visible: HashSet<(ModelId, i64)> = HashSet::new();
    if !ctx.tenant.is_system() {
        let mut wanted: HashMap<ModelId, HashSet<i64>> = HashMap::new();
        for (_, input) in inputs.iter() {
            for (rel, op) in &input.belongs_to {
                if let BelongsTo::Link(Some(id)) = op {
                    wanted
                        .entry(model.relations[*rel].target)
                        .or_default()
                        .insert(*id);
                }
            }
        }
        for (target, ids) in wanted {
            let ids: Vec<i64> = ids.into_iter().collect();
            for chunk in ids.chunks(statements::rows_per_statement(1)) {
                let columns = Columns::id_only(ctx.registry.get(target));
                for record in find_many_in(&api.db, ctx.registry, ctx.tenant, target, chunk, &columns).await?
                {
                    visible.insert((target, record.id()));
                }
            }
        }
    }
    for (idx, input) in inputs.iter_mut() {
        for (rel, op) in std::mem::take(&mut input.belongs_to) {
            let relation = &model.relations[rel];
            let RelationKind::BelongsTo { field } = relation.kind else {
                continue;
            };
            let BelongsTo::Link(link) = op else { continue };
            let value = match link {
                None => Value::Null,
                Some(id) if ctx.registry.get(relation.target).is_tenant && !ctx.tenant.admits(id) => {
                    slots_failed.insert(
                        *idx,
                        ActionError::PermissionDenied(format!(
                            "`{}` may not link another store",
                            relation.api_id
                        )),
                    );
                    continue;
                }
                // A link names a record: only one the caller may read.
                Some(_) if let Err(e) = link_readable(ctx, relation.target) => {
                    slots_failed.insert(*idx, e);
                    continue;
                }
                Some(id) if !ctx.tenant.is_system() && !visible.contains(&(relation.target, id)) => {
                    let target = ctx.registry.get(relation.target).qualified_name();
                    slots_failed.insert(
                        *idx,
                        ActionError::NotFound(format!(
                            "{target} {id} (linked by `{}`) not found",
                            relation.api_id
                        )),
                    );
                    continue;
                }
                Some(id) => Value::Int(id),
            };
            input.set(field, value);
        }
    }
    Ok(())
}

/// A caller links only records it may read (its own store is always linkable).
fn link_readable(ctx: &Ctx<'_>, target: ModelId) -> Result<(), ActionError> {
    let target = ctx.registry.get(target);
    if target.is_tenant {
        return Ok(());
    }
    ctx.caller.check(target, "read")
}

/// An element goes on to its batch unless its links failed or it names another store.
fn admit(
    ctx: &Ctx<'_>,
    model: &Model,
    failed: &mut HashMap<usize, ActionError>,
    idx: usize,
    input: &mut RecordInput,
) -> Result<(), ActionError> {
    if let Some(e) = failed.remove(&idx) {
        return Err(e);
    }
    run::apply_tenant(ctx, model, input)
}

/// Group inputs by the set of fields they write.
fn group(rows: Vec<(usize, RecordInput)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (idx, input) in rows {
        let (fields, values) = run::columns(input.values);
        match groups.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, members)) => members.push((idx, values)),
            None => groups.push((fields, vec![(idx, values)])),
        }
    }
    groups
}

/// Back from values to an input, for the one-by-one path.
/// One element of a failed batch, for the one-record path. Its resolved links go back
/// to being links, so that the one-record path checks their targets: a link the foreign
/// key refused is then reported as the missing record it is, not as a database error.
fn input_of(model: &Model, fields: &[usize], values: &[Value]) -> RecordInput {
    let mut input = RecordInput::default();
    for (field, value) in fields.iter().copied().zip(values.iter().cloned()) {
        let link = match &value {
            Value::Int(id) => Some(BelongsTo::Link(Some(*id))),
            Value::Null => Some(BelongsTo::Link(None)),
            _ => None,
        };
        match (model.relation_of_field(field), link) {
            (Some(relation), Some(link)) => input.belongs_to.push((relation, link)),
            _ => input.values.push((field, value)),
        }
    }
    input
}

/// Parse every input: plain ones (only `_link`s) are batched, the others go one by one.
fn parse_all(api: &Api, model: &Model, inputs: Vec<Json>) -> Vec<Result<RecordInput, ActionError>> {
    inputs
        .into_iter()
        .map(|i| input::parse(&api.registry, model, i, api.caller.internal))
        .collect()
}

pub async fn create(api: &Api, model_id: ModelId, inputs: Vec<Json>) -> Vec<Result<i64, ActionError>> {
    let model = api.registry.get(model_id);
    let ctx = api.ctx();
    if let Err(e) = ctx.caller.check(model, "create") {
        return fail_all(slots(inputs.len()), e);
    }
    let mut slots: Slots<i64> = slots(inputs.len());
    let mut batch = Vec::new();
    let mut with_children = Vec::new();
    // A model with hooks is written one record at a time, so that each one's hooks run.
    let one_by_one = api.hooks.any(model_id);
    for (idx, parsed) in parse_all(api, model, inputs).into_iter().enumerate() {
        match parsed {
            Err(e) => slots[idx] = Some(Err(e)),
            Ok(input) if input.is_plain() && !one_by_one => batch.push((idx, input)),
            Ok(input) if !one_by_one && creates_plain_children(api, &ctx, model, &input) => {
                with_children.push((idx, input, Vec::new()))
            }
            Ok(input) => slots[idx] = Some(api.create_parsed(model_id, input).await.map(|r| r.id())),
        }
    }
    for (idx, written) in write_with_children(api, &ctx, model, with_children, ParentWrite::Create).await {
        slots[idx] = Some(written.map(|(id, _)| id));
    }
    let mut failed = HashMap::new();
    if let Err(e) = resolve_links(api, &ctx, model, &mut batch, &mut failed).await {
        return fail_all(slots, e);
    }
    let mut ready = Vec::new();
    for (idx, mut input) in batch {
        if let Err(e) = admit(&ctx, model, &mut failed, idx, &mut input) {
            slots[idx] = Some(Err(e));
            continue;
        }
        run::apply_defaults(model, &mut input);
        let missing = run::check_required(model, &input, true);
        if missing.is_empty() {
            ready.push((idx, input));
        } else {
            slots[idx] = Some(Err(ActionError::InvalidRecord {
                model: model.api_id.clone(),
                errors: missing,
            }));
        }
    }
    for (fields, members) in group(ready) {
        for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
            let rows: Vec<Vec<Value>> = chunk.iter().map(|(_, v)| v.clone()).collect();
            // One statement is atomic on its own: no transaction needed.
            match statements::insert_ids(&api.db, model, &fields, rows).await {
                Ok(ids) if ids.len() == chunk.len() => {
                    for ((idx, _), id) in chunk.iter().zip(ids) {
                        slots[*idx] = Some(Ok(id));
                    }
                }
                // One element spoiled the batch: find it by writing them one at a time.
                _ => {
                    for (idx, values) in chunk {
                        let created = api.create_parsed(model_id, input_of(model, &fields, values)).await;
                        slots[*idx] = Some(created.map(|r| r.id()));
                    }
                }
            }
        }
    }
    finish(slots)
}

/// Is `input` a record whose only nested writes create plain children (a product with
/// its variants), of models without hooks that the caller may create?
fn creates_plain_children(api: &Api, ctx: &Ctx<'_>, model: &Model, input: &RecordInput) -> bool {
    input.atomics.is_empty()
        && input.belongs_to.iter().all(|(_, op)| matches!(op, BelongsTo::Link(_)))
        && !input.has_many.is_empty()
        && input.has_many.iter().all(|(rel, op)| {
            let target = model.relations[*rel].target;
            matches!(op, HasMany::Create(child) if child.is_plain())
                && !api.hooks.any(target)
                && ctx.caller.check(ctx.registry.get(target), "create").is_ok()
        })
}

/// How a batch with children writes its records.
#[derive(Clone, Copy)]
enum ParentWrite<'a> {
    /// `INSERT`: every record is new.
    Create,
    /// `INSERT ... ON CONFLICT` on these fields: a record whose keys match is updated and
    /// gets the children as new ones, as the one-record upsert does.
    Upsert(&'a [usize]),
}

/// Records with plain children: the records in multi-row statements, then all their
/// children in multi-row statements, in one transaction. A batch that anything spoils
/// (a link that fails, a missing field, a statement the database refuses) is rolled
/// back and its elements go down the one-record path one by one, which finds and
/// reports the culprit, as the plain batches do. Results by input position.
async fn write_with_children(
    api: &Api,
    ctx: &Ctx<'_>,
    model: &Model,
    elements: Vec<(usize, RecordInput, Vec<String>)>,
    write: ParentWrite<'_>,
) -> Vec<(usize, Result<(i64, Upserted), ActionError>)> {
    let mut results = Vec::with_capacity(elements.len());
    for chunk in elements.chunks(statements::rows_per_statement(model.fields.len())) {
        let parents = chunk.iter().map(|(idx, input, _)| (*idx, input.clone())).collect();
        match try_write_with_children(api, ctx, model, parents, write).await {
            Ok(written) => results.extend(written.into_iter().map(|(idx, w)| (idx, Ok(w)))),
            Err(_) => {
                for (idx, input, on) in chunk.iter().cloned() {
                    let one = match write {
                        ParentWrite::Create => api
                            .create_parsed(model.id, input)
                            .await
                            .map(|r| (r.id(), Upserted::Created)),
                        ParentWrite::Upsert(_) => api
                            .upsert_parsed(model.id, input, &on)
                            .await
                            .map(|(r, how)| (r.id(), how)),
                    };
                    results.push((idx, one));
                }
            }
        }
    }
    results
}

/// One batch of [`write_with_children`]: what became of each record by input position,
/// or the first thing that spoiled the batch.
async fn try_write_with_children(
    api: &Api,
    ctx: &Ctx<'_>,
    model: &Model,
    mut parents: Vec<(usize, RecordInput)>,
    write: ParentWrite<'_>,
) -> Result<Vec<(usize, (i64, Upserted))>, ActionError> {
    let spoiled = |why: &str| ActionError::InvalidInput(format!("the batch cannot be written at once: {why}"));
    // The records, checked as plain ones are.
    let mut kids: Vec<(usize, usize, RecordInput)> = Vec::new();
    for (idx, input) in parents.iter_mut() {
        for (rel, op) in std::mem::take(&mut input.has_many) {
            if let HasMany::Create(child) = op {
                kids.push((*idx, rel, child));
            }
        }
    }
    let mut failed = HashMap::new();
    resolve_links(api, ctx, model, &mut parents, &mut failed).await?;
    if !failed.is_empty() {
        return Err(spoiled("a link"));
    }
    let scope = model.tenant_scope();
    let mut tenant_of = HashMap::new();
    for (idx, input) in parents.iter_mut() {
        run::apply_tenant(ctx, model, input)?;
        run::apply_defaults(model, input);
        if !run::check_required(model, input, true).is_empty() {
            return Err(spoiled("a required field"));
        }
        if let ParentWrite::Upsert(conflict) = write
            && run::conflict_values(input, conflict).is_none()
        {
            return Err(spoiled("a record without its keys"));
        }
        if let Some(value) = scope.and_then(|f| input.value(f)) {
            tenant_of.insert(*idx, value.clone());
        }
    }
    // The children, by model: their store is their parent's unless they name one, and
    // their links are checked before the transaction (the lookups use other connections).
    let mut by_target: HashMap<ModelId, Vec<(usize, RecordInput)>> = HashMap::new();
    let mut parent_of: HashMap<(ModelId, usize), (usize, usize)> = HashMap::new();
    for (n, (idx, rel, mut child)) in kids.into_iter().enumerate() {
        let target = ctx.registry.get(model.relations[rel].target);
        if let (Some(cf), Some(tenant)) = (target.tenant_field(), tenant_of.get(&idx))
            && child.value(cf).is_none()
            && !child.belongs_to.iter().any(|(r, _)| Some(*r) == target.tenant)
        {
            child.set(cf, tenant.clone());
        }
        parent_of.insert((target.id, n), (idx, rel));
        by_target.entry(target.id).or_default().push((n, child));
    }
    for (target, children) in by_target.iter_mut() {
        let target = ctx.registry.get(*target);
        resolve_links(api, ctx, target, children, &mut failed).await?;
        if !failed.is_empty() {
            return Err(spoiled("a child's link"));
        }
        for (_, child) in children.iter_mut() {
            run::apply_tenant(ctx, target, child)?;
            run::apply_defaults(target, child);
        }
    }
    let txn = api.begin().await?;
    let mut ids = HashMap::new();
    for (fields, members) in group(parents) {
        for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
            let rows: Vec<Vec<Value>> = chunk.iter().map(|(_, v)| v.clone()).collect();
            let written: Vec<Option<(i64, Upserted)>> = match write {
                ParentWrite::Create => statements::insert_ids(&txn, model, &fields, rows)
                    .await?
                    .into_iter()
                    .map(|id| Some((id, Upserted::Created)))
                    .collect(),
                // A key repeated in the batch makes the statement fail: one by one then.
                ParentWrite::Upsert(conflict) => {
                    statements::upsert(&txn, model, &fields, rows, conflict, ctx.tenant).await?
                }
            };
            if written.len() != chunk.len() {
                return Err(spoiled("a record was not written"));
            }
            for ((idx, _), w) in chunk.iter().zip(written) {
                // `None`: the key matched a record the caller may not touch.
                ids.insert(*idx, w.ok_or_else(|| spoiled("a record was not written"))?);
            }
        }
    }
    for (target, mut children) in by_target {
        let target_model = ctx.registry.get(target);
        for (n, child) in children.iter_mut() {
            let (idx, rel) = parent_of[&(target, *n)];
            let RelationKind::HasMany { target_field } = model.relations[rel].kind else {
                return Err(spoiled("not a hasMany"));
            };
            child.set(target_field, Value::Int(ids[&idx].0));
            if !run::check_required(target_model, child, true).is_empty() {
                return Err(spoiled("a child's required field"));
            }
        }
        for (fields, members) in group(children) {
            for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
                let rows: Vec<Vec<Value>> = chunk.iter().map(|(_, v)| v.clone()).collect();
                let written = statements::insert_ids(&txn, target_model, &fields, rows).await?;
                if written.len() != chunk.len() {
                    return Err(spoiled("a child was not written"));
                }
            }
        }
    }
    txn.commit().await?;
    Ok(ids.into_iter().collect())
}

pub async fn upsert(
    api: &Api,
    model_id: ModelId,
    inputs: Vec<(Json, Vec<String>)>,
) -> Vec<Result<(i64, Upserted), ActionError>> {
    let model = api.registry.get(model_id);
    let ctx = api.ctx();
    if let Err(e) = ctx
        .caller
        .check(model, "create")
        .and(ctx.caller.check(model, "update"))
    {
        return fail_all(slots(inputs.len()), e);
    }
    let mut slots: Slots<(i64, Upserted)> = slots(inputs.len());
    let single = |input: RecordInput, on: &[String]| {
        let on = on.to_vec();
        async move {
            api.upsert_parsed(model_id, input, &on)
                .await
                .map(|(r, how)| (r.id(), how))
        }
    };
    let (bodies, ons): (Vec<Json>, Vec<Vec<String>>) = inputs.into_iter().unzip();
    let mut batch = Vec::new();
    let mut conflicts: HashMap<usize, Vec<usize>> = HashMap::new();
    // Records with plain children, by conflict target.
    type WithChildren = (Vec<usize>, Vec<(usize, RecordInput, Vec<String>)>);
    let mut with_children: Vec<WithChildren> = Vec::new();
    for (idx, parsed) in parse_all(api, model, bodies).into_iter().enumerate() {
        match parsed {
            Err(e) => slots[idx] = Some(Err(e)),
            Ok(input) if input.is_plain() && !api.hooks.any(model_id) => {
                match run::conflict_fields(&ctx, model, &ons[idx]) {
                    Ok(conflict) => {
                        conflicts.insert(idx, conflict);
                        batch.push((idx, input));
                    }
                    Err(e) => slots[idx] = Some(Err(e)),
                }
            }
            Ok(input)
                if !api.hooks.any(model_id)
                    && input.id.is_none()
                    && !run::upserts_carefully(&ctx, model)
                    && creates_plain_children(api, &ctx, model, &input) =>
            {
                match run::conflict_fields(&ctx, model, &ons[idx]) {
                    Ok(conflict) => match with_children.iter_mut().find(|(c, _)| *c == conflict) {
                        Some((_, members)) => members.push((idx, input, ons[idx].clone())),
                        None => with_children.push((conflict, vec![(idx, input, ons[idx].clone())])),
                    },
                    Err(e) => slots[idx] = Some(Err(e)),
                }
            }
            Ok(input) => slots[idx] = Some(single(input, &ons[idx]).await),
        }
    }
    for (conflict, members) in with_children {
        for (idx, written) in write_with_children(api, &ctx, model, members, ParentWrite::Upsert(&conflict)).await {
            slots[idx] = Some(written);
        }
    }
    let mut failed = HashMap::new();
    if let Err(e) = resolve_links(api, &ctx, model, &mut batch, &mut failed).await {
        return fail_all(slots, e);
    }
    // Batches share their fields and their conflict target.
    type ByConflict = (Vec<usize>, Vec<(usize, RecordInput)>);
    let mut by_conflict: Vec<ByConflict> = Vec::new();
    for (idx, mut input) in batch {
        if let Err(e) = admit(&ctx, model, &mut failed, idx, &mut input) {
            slots[idx] = Some(Err(e));
            continue;
        }
        let conflict = conflicts.remove(&idx).unwrap_or_default();
        // Without every required field, or without its keys, or with an `id` (which only
        // ever matches an existing record), it takes the careful path.
        if !run::check_required(model, &input, true).is_empty()
            || run::conflict_values(&input, &conflict).is_none()
            || input.id.is_some()
            || run::upserts_carefully(&ctx, model)
        {
            slots[idx] = Some(single(input, &ons[idx]).await);
            continue;
        }
        match by_conflict.iter_mut().find(|(c, _)| *c == conflict) {
            Some((_, members)) => members.push((idx, input)),
            None => by_conflict.push((conflict, vec![(idx, input)])),
        }
    }
    for (conflict, members) in by_conflict {
        let key_positions: Vec<usize> = conflict.clone();
        for (fields, members) in group(members) {
            let positions: Vec<usize> = key_positions
                .iter()
                .filter_map(|c| fields.iter().position(|f| f == c))
                .collect();
            for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
                // One statement may not touch a row twice: a repeated key waits for a later wave.
                let mut waves: Vec<Vec<&Member>> = Vec::new();
                let mut seen: HashMap<String, usize> = HashMap::new();
                for member in chunk {
                    let key = format!(
                        "{:?}",
                        positions.iter().map(|p| &member.1[*p]).collect::<Vec<_>>()
                    );
                    let wave = seen.entry(key).and_modify(|w| *w += 1).or_insert(0);
                    if waves.len() <= *wave {
                        waves.push(Vec::new());
                    }
                    waves[*wave].push(member);
                }
                for wave in waves {
                    let rows: Vec<Vec<Value>> = wave.iter().map(|(_, v)| v.clone()).collect();
                    match statements::upsert(&api.db, model, &fields, rows, &conflict, ctx.tenant).await {
                        Ok(records) => {
                            for ((idx, _), record) in wave.iter().zip(records) {
                                slots[*idx] = Some(match record {
                                    Some(written) => Ok(written),
                                    None => Err(ActionError::NotFound(format!(
                                        "{} not found",
                                        model.qualified_name()
                                    ))),
                                });
                            }
                        }
                        Err(_) => {
                            for (idx, values) in wave {
                                slots[*idx] = Some(single(input_of(model, &fields, values), &ons[*idx]).await);
                            }
                        }
                    }
                }
            }
        }
    }
    finish(slots)
}

pub async fn update(api: &Api, model_id: ModelId, inputs: Vec<(i64, Json)>) -> Vec<Result<i64, ActionError>> {
    let model = api.registry.get(model_id);
    let ctx = api.ctx();
    if let Err(e) = ctx.caller.check(model, "update") {
        return fail_all(slots(inputs.len()), e);
    }
    let mut slots: Slots<i64> = slots(inputs.len());
    let single = |id: i64, input: RecordInput| async move {
        api.update_parsed(model_id, id, input).await.map(|r| r.id())
    };
    let (ids, bodies): (Vec<i64>, Vec<Json>) = inputs.into_iter().unzip();
    let mut batch = Vec::new();
    for (idx, parsed) in parse_all(api, model, bodies).into_iter().enumerate() {
        match parsed {
            Err(e) => slots[idx] = Some(Err(e)),
            // An id twice in one batch is applied in order, one at a time.
            Ok(input)
                if input.is_plain()
                    && !api.hooks.any(model_id)
                    && ids.iter().filter(|id| **id == ids[idx]).count() == 1 =>
            {
                batch.push((idx, input))
            }
            Ok(input) => slots[idx] = Some(single(ids[idx], input).await),
        }
    }
    let mut failed = HashMap::new();
    if let Err(e) = resolve_links(api, &ctx, model, &mut batch, &mut failed).await {
        return fail_all(slots, e);
    }
    let wanted: Vec<i64> = batch.iter().map(|(idx, _)| ids[*idx]).collect();
    let mut existing: HashMap<i64, Record> = HashMap::new();
    for chunk in wanted.chunks(statements::rows_per_statement(1)) {
        match find_many_in(&api.db, &api.registry, ctx.tenant, model_id, chunk, &Columns::All).await {
            Ok(records) => existing.extend(records.into_iter().map(|r| (r.id(), r))),
            Err(e) => return fail_all(slots, e.into()),
        }
    }
    let mut ready = Vec::new();
    for (idx, mut input) in batch {
        let id = ids[idx];
        if let Some(e) = failed.remove(&idx) {
            slots[idx] = Some(Err(e));
            continue;
        }
        let Some(current) = existing.remove(&id) else {
            slots[idx] = Some(Err(ActionError::NotFound(format!(
                "{} {id} not found",
                model.qualified_name()
            ))));
            continue;
        };
        if let Err(e) = run::check_move(&ctx, model, &input) {
            slots[idx] = Some(Err(e));
            continue;
        }
        input.values.retain(|(f, v)| current.values[*f] != *v);
        if let Err(e) = run::check_platform_fields(&ctx, model, &input) {
            slots[idx] = Some(Err(e));
            continue;
        }
        let missing = run::check_required(model, &input, false);
        if !missing.is_empty() {
            slots[idx] = Some(Err(ActionError::InvalidRecord {
                model: model.api_id.clone(),
                errors: missing,
            }));
        } else if input.values.is_empty() {
            slots[idx] = Some(Ok(current.id()));
        } else if model
            .uniques
            .iter()
            .any(|u| u.fields().iter().any(|f| input.value(*f).is_some()))
        {
            // A change of identity gets the uniqueness check of the one-by-one path.
            slots[idx] = Some(single(id, input).await);
        } else {
            ready.push((idx, input));
        }
    }
    for (fields, members) in group(ready) {
        for chunk in members.chunks(statements::rows_per_statement(fields.len() + 1)) {
            let rows: Vec<(i64, Vec<Value>)> = chunk.iter().map(|(idx, v)| (ids[*idx], v.clone())).collect();
            match statements::update_ids(&api.db, model, &fields, rows, ctx.tenant).await {
                Ok(written) => {
                    let written: HashSet<i64> = written.into_iter().collect();
                    for (idx, _) in chunk {
                        let id = ids[*idx];
                        slots[*idx] = Some(if written.contains(&id) {
                            Ok(id)
                        } else {
                            Err(ActionError::NotFound(format!(
                                "{} {id} not found",
                                model.qualified_name()
                            )))
                        });
                    }
                }
                Err(_) => {
                    for (idx, values) in chunk {
                        slots[*idx] = Some(single(ids[*idx], input_of(model, &fields, values)).await);
                    }
                }
            }
        }
    }
    finish(slots)
}

pub async fn delete(api: &Api, model_id: ModelId, ids: Vec<i64>) -> Vec<Result<(), ActionError>> {
    let model = api.registry.get(model_id);
    let ctx = api.ctx();
    if let Err(e) = ctx
        .caller
        .check(model, "delete")
        .and_then(|()| run::check_tenant_delete(&ctx, model))
    {
        return ids.iter().map(|_| Err(e.duplicate())).collect();
    }
    if api.hooks.any(model_id) {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(api.model_by_id(model_id).delete(id).await);
        }
        return results;
    }
    let mut deleted: HashSet<i64> = HashSet::new();
    for chunk in ids.chunks(statements::rows_per_statement(1)) {
        match statements::delete(&api.db, model, chunk, ctx.tenant).await {
            Ok(gone) => deleted.extend(gone),
            Err(e) => {
                return ids
                    .iter()
                    .map(|_| Err(ActionError::from(e.clone_error())))
                    .collect();
            }
        }
    }
    ids.iter()
        .map(|id| {
            if deleted.contains(id) {
                Ok(())
            } else {
                Err(ActionError::NotFound(format!(
                    "{} {id} not found",
                    model.qualified_name()
                )))
            }
        })
        .collect()
}

/// `DbErr` is not `Clone`; its text is enough for each failed element.
trait CloneError {
    fn clone_error(&self) -> sea_orm::DbErr;
}

impl CloneError for sea_orm::DbErr {
    fn clone_error(&self) -> sea_orm::DbErr {
        sea_orm::DbErr::Custom(self.to_string())
    }
}
