//! Bulk actions: plain records are written many rows per statement; each element
//! still succeeds or fails on its own. A batch the database refuses is retried
//! element by element, so one bad element cannot sink the others.

use super::error::ActionError;
use super::input::{self, BelongsTo, RecordInput};
use super::run::{self, Ctx};
use super::{Api, Upserted, statements};
use crate::model::{Model, ModelId, Registry, RelationKind};
use crate::query::{Record, Value, find_many_in};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

type Slots<T> = Vec<Option<Result<T, ActionError>>>;

/// An element ready for a batch: its input position, its values in field order, its input.
type Member = (usize, Vec<Value>, RecordInput);
/// Elements that write the same fields.
type Group = (Vec<usize>, Vec<Member>);

fn finish<T>(slots: Slots<T>) -> Vec<Result<T, ActionError>> {
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(ActionError::InvalidInput("element was not processed".into()))))
        .collect()
}

/// Resolve the `_link`s of plain inputs with one lookup per target model, leaving
/// foreign keys in the inputs. Elements whose links fail get their error.
async fn resolve_links<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx<'_>,
    model: &Model,
    inputs: &mut [(usize, RecordInput)],
) -> Result<HashMap<usize, ActionError>, ActionError> {
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
    let mut found: HashSet<(ModelId, i64)> = HashSet::new();
    for (target, ids) in wanted {
        let ids: Vec<i64> = ids.into_iter().collect();
        for chunk in ids.chunks(statements::rows_per_statement(1)) {
            for record in find_many_in(conn, ctx.registry, ctx.tenant, target, chunk).await? {
                found.insert((target, record.id()));
            }
        }
    }
    let mut failed = HashMap::new();
    for (idx, input) in inputs.iter_mut() {
        for (rel, op) in std::mem::take(&mut input.belongs_to) {
            let relation = &model.relations[rel];
            let RelationKind::BelongsTo { field } = relation.kind else {
                continue;
            };
            let BelongsTo::Link(link) = op else { continue };
            let value = match link {
                None => Value::Null,
                Some(id)
                    if ctx.registry.tenant_model == Some(relation.target)
                        && ctx.tenant.is_some_and(|t| t != id) =>
                {
                    failed.insert(
                        *idx,
                        ActionError::PermissionDenied(format!(
                            "`{}` may not link another store",
                            relation.api_id
                        )),
                    );
                    continue;
                }
                Some(id) if !found.contains(&(relation.target, id)) => {
                    let target = ctx.registry.get(relation.target).qualified_name();
                    failed.insert(
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
    Ok(failed)
}

/// Parse every input; plain ones (only `_link`s) are returned for batching, the
/// others are marked for the one-by-one path.
fn parse_all(
    registry: &Registry,
    model: &Model,
    inputs: &[Json],
) -> (Vec<Result<RecordInput, ActionError>>, Vec<bool>) {
    let parsed: Vec<Result<RecordInput, ActionError>> =
        inputs.iter().map(|i| input::parse(registry, model, i)).collect();
    let plain = parsed
        .iter()
        .map(|p| p.as_ref().is_ok_and(RecordInput::is_plain))
        .collect();
    (parsed, plain)
}

/// Group rows by the set of fields they write.
fn group(rows: Vec<(usize, RecordInput)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (idx, input) in rows {
        let (fields, values) = run::columns(input.values.clone());
        match groups.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, members)) => members.push((idx, values, input)),
            None => groups.push((fields, vec![(idx, values, input)])),
        }
    }
    groups
}

async fn commit(txn: DatabaseTransaction) -> Result<(), ActionError> {
    txn.commit().await.map_err(ActionError::from)
}

pub async fn create(api: &Api, model_id: ModelId, inputs: Vec<Json>) -> Vec<Result<Record, ActionError>> {
    let registry = &api.registry;
    let model = registry.get(model_id);
    let ctx = api.ctx();
    let mut slots: Slots<Record> = (0..inputs.len()).map(|_| None).collect();
    let (parsed, plain) = parse_all(registry, model, &inputs);
    let mut batch = Vec::new();
    for (idx, p) in parsed.into_iter().enumerate() {
        match p {
            Err(e) => slots[idx] = Some(Err(e)),
            Ok(input) if plain[idx] => batch.push((idx, input)),
            Ok(_) => slots[idx] = Some(api.model_by_id(model_id).create(inputs[idx].clone()).await),
        }
    }
    match resolve_links(&api.db, &ctx, model, &mut batch).await {
        Ok(failed) => {
            for (idx, e) in failed {
                slots[idx] = Some(Err(e));
            }
        }
        Err(e) => return fail_all(slots, e),
    }
    let mut ready = Vec::new();
    let pending: Vec<(usize, RecordInput)> = batch
        .into_iter()
        .filter(|(idx, _)| slots[*idx].is_none())
        .collect();
    for (idx, mut input) in pending {
        let missing = run::check_required(model, &input, true);
        match run::apply_tenant(&ctx, model, &mut input) {
            Err(e) => slots[idx] = Some(Err(e)),
            Ok(()) if !missing.is_empty() => {
                slots[idx] = Some(Err(ActionError::InvalidRecord {
                    model: model.api_id.clone(),
                    errors: missing,
                }))
            }
            Ok(()) => ready.push((idx, input)),
        }
    }
    for (fields, members) in group(ready) {
        for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
            let rows: Vec<Vec<Value>> = chunk.iter().map(|(_, v, _)| v.clone()).collect();
            let written = async {
                let txn = api.begin().await?;
                let records = statements::insert(&txn, model, &fields, &rows).await?;
                commit(txn).await?;
                Ok::<_, ActionError>(records)
            }
            .await;
            match written {
                Ok(records) if records.len() == chunk.len() => {
                    for ((idx, _, _), record) in chunk.iter().zip(records) {
                        slots[*idx] = Some(Ok(record));
                    }
                }
                // One element spoiled the batch: find it by writing them one at a time.
                _ => {
                    for (idx, _, _) in chunk {
                        slots[*idx] = Some(api.model_by_id(model_id).create(inputs[*idx].clone()).await);
                    }
                }
            }
        }
    }
    finish(slots)
}

/// A failure of the whole batch (say, the database is gone) is every pending element's failure.
fn fail_all<T>(slots: Slots<T>, e: ActionError) -> Vec<Result<T, ActionError>> {
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(e.duplicate())))
        .collect()
}

pub async fn upsert(
    api: &Api,
    model_id: ModelId,
    inputs: Vec<(Json, Vec<String>)>,
) -> Vec<Result<(Record, Upserted), ActionError>> {
    let registry = &api.registry;
    let model = registry.get(model_id);
    let ctx = api.ctx();
    let mut slots: Slots<(Record, Upserted)> = (0..inputs.len()).map(|_| None).collect();
    let single = |idx: usize| {
        let (input, on) = inputs[idx].clone();
        async move {
            let on: Vec<&str> = on.iter().map(String::as_str).collect();
            api.model_by_id(model_id).upsert(input, &on).await
        }
    };
    let bodies: Vec<Json> = inputs.iter().map(|(i, _)| i.clone()).collect();
    let (parsed, plain) = parse_all(registry, model, &bodies);
    let mut batch = Vec::new();
    let mut conflicts: HashMap<usize, Vec<usize>> = HashMap::new();
    for (idx, p) in parsed.into_iter().enumerate() {
        match p {
            Err(e) => slots[idx] = Some(Err(e)),
            Ok(input) if plain[idx] => match run::conflict_fields(&ctx, model, &inputs[idx].1) {
                Ok(conflict) => {
                    conflicts.insert(idx, conflict);
                    batch.push((idx, input));
                }
                Err(e) => slots[idx] = Some(Err(e)),
            },
            Ok(_) => slots[idx] = Some(single(idx).await),
        }
    }
    match resolve_links(&api.db, &ctx, model, &mut batch).await {
        Ok(failed) => {
            for (idx, e) in failed {
                slots[idx] = Some(Err(e));
            }
        }
        Err(e) => return fail_all(slots, e),
    }
    let mut ready = Vec::new();
    let pending: Vec<(usize, RecordInput)> = batch
        .into_iter()
        .filter(|(idx, _)| slots[*idx].is_none())
        .collect();
    for (idx, mut input) in pending {
        if let Err(e) = run::apply_tenant(&ctx, model, &mut input) {
            slots[idx] = Some(Err(e));
            continue;
        }
        let conflict = &conflicts[&idx];
        // Without every required field, or without its keys, it takes the careful path.
        if !run::check_required(model, &input, true).is_empty()
            || run::conflict_values(&input, conflict).is_none()
        {
            slots[idx] = Some(single(idx).await);
            continue;
        }
        if let Some(id) = input.id {
            input.set(Model::ID, Value::Int(id));
        }
        ready.push((idx, input));
    }
    // Batch by (fields, conflict); a key repeated within a batch goes to a later wave,
    // since one statement may not touch a row twice.
    type ByConflict = (Vec<usize>, Vec<(usize, RecordInput)>);
    let mut by_conflict: Vec<ByConflict> = Vec::new();
    for (idx, input) in ready {
        let conflict = conflicts[&idx].clone();
        match by_conflict.iter_mut().find(|(c, _)| *c == conflict) {
            Some((_, members)) => members.push((idx, input)),
            None => by_conflict.push((conflict, vec![(idx, input)])),
        }
    }
    for (conflict, members) in by_conflict {
        for (fields, members) in group(members) {
            for chunk in members.chunks(statements::rows_per_statement(fields.len() + 2)) {
                let mut waves: Vec<Vec<&Member>> = Vec::new();
                let mut seen: HashMap<String, usize> = HashMap::new();
                for member in chunk {
                    let key = format!("{:?}", run::conflict_values(&member.2, &conflict));
                    let wave = seen.entry(key).and_modify(|w| *w += 1).or_insert(0);
                    if waves.len() <= *wave {
                        waves.push(Vec::new());
                    }
                    waves[*wave].push(member);
                }
                for wave in waves {
                    let rows: Vec<Vec<Value>> = wave.iter().map(|(_, v, _)| v.clone()).collect();
                    let written = async {
                        let txn = api.begin().await?;
                        let records =
                            statements::upsert(&txn, model, &fields, &rows, &conflict, ctx.tenant).await?;
                        commit(txn).await?;
                        Ok::<_, ActionError>(records)
                    }
                    .await;
                    match written {
                        Ok(records) => {
                            for ((idx, _, input), record) in wave.iter().zip(records) {
                                slots[*idx] = Some(match record {
                                    Some((r, true)) => Ok((r, Upserted::Created)),
                                    Some((r, false)) => Ok((r, Upserted::Updated)),
                                    None => Err(ActionError::NotFound(format!(
                                        "{} {} not found",
                                        model.qualified_name(),
                                        input.id.unwrap_or_default()
                                    ))),
                                });
                            }
                        }
                        Err(_) => {
                            for (idx, _, _) in wave {
                                slots[*idx] = Some(single(*idx).await);
                            }
                        }
                    }
                }
            }
        }
    }
    finish(slots)
}

pub async fn update(
    api: &Api,
    model_id: ModelId,
    inputs: Vec<(i64, Json)>,
) -> Vec<Result<Record, ActionError>> {
    let registry = &api.registry;
    let model = registry.get(model_id);
    let ctx = api.ctx();
    let mut slots: Slots<Record> = (0..inputs.len()).map(|_| None).collect();
    let single = |idx: usize| {
        let (id, input) = inputs[idx].clone();
        async move { api.model_by_id(model_id).update(id, input).await }
    };
    let bodies: Vec<Json> = inputs.iter().map(|(_, i)| i.clone()).collect();
    let (parsed, plain) = parse_all(registry, model, &bodies);
    let mut batch = Vec::new();
    for (idx, p) in parsed.into_iter().enumerate() {
        match p {
            Err(e) => slots[idx] = Some(Err(e)),
            // An id twice in one batch is applied in order, one at a time.
            Ok(input) if plain[idx] && inputs.iter().filter(|(id, _)| *id == inputs[idx].0).count() == 1 => {
                batch.push((idx, input))
            }
            Ok(_) => slots[idx] = Some(single(idx).await),
        }
    }
    match resolve_links(&api.db, &ctx, model, &mut batch).await {
        Ok(failed) => {
            for (idx, e) in failed {
                slots[idx] = Some(Err(e));
            }
        }
        Err(e) => return fail_all(slots, e),
    }
    let ids: Vec<i64> = batch.iter().map(|(idx, _)| inputs[*idx].0).collect();
    let mut existing: HashMap<i64, Record> = HashMap::new();
    for chunk in ids.chunks(statements::rows_per_statement(1)) {
        match find_many_in(&api.db, registry, ctx.tenant, model_id, chunk).await {
            Ok(records) => existing.extend(records.into_iter().map(|r| (r.id(), r))),
            Err(e) => return fail_all(slots, e.into()),
        }
    }
    let mut ready = Vec::new();
    let pending: Vec<(usize, RecordInput)> = batch
        .into_iter()
        .filter(|(idx, _)| slots[*idx].is_none())
        .collect();
    for (idx, mut input) in pending {
        let id = inputs[idx].0;
        let Some(current) = existing.get(&id) else {
            slots[idx] = Some(Err(ActionError::NotFound(format!(
                "{} {id} not found",
                model.qualified_name()
            ))));
            continue;
        };
        if let Some(tf) = model.tenant_field()
            && let Some(v) = input.value(tf)
            && ctx.tenant.is_some_and(|t| *v != Value::Int(t))
        {
            slots[idx] = Some(Err(ActionError::PermissionDenied(format!(
                "a {} may not be moved to another store",
                model.qualified_name()
            ))));
            continue;
        }
        input.values.retain(|(f, v)| current.values[*f] != *v);
        let missing = run::check_required(model, &input, false);
        if !missing.is_empty() {
            slots[idx] = Some(Err(ActionError::InvalidRecord {
                model: model.api_id.clone(),
                errors: missing,
            }));
        } else if input.values.is_empty() {
            slots[idx] = Some(Ok(current.clone()));
        } else if model
            .uniques
            .iter()
            .any(|u| u.fields().iter().any(|f| input.value(*f).is_some()))
        {
            // A change of identity gets the uniqueness check of the one-by-one path.
            slots[idx] = Some(single(idx).await);
        } else {
            ready.push((idx, input));
        }
    }
    for (fields, members) in group(ready) {
        for chunk in members.chunks(statements::rows_per_statement(fields.len() + 1)) {
            let rows: Vec<(i64, Vec<Value>)> = chunk
                .iter()
                .map(|(idx, v, _)| (inputs[*idx].0, v.clone()))
                .collect();
            let written = async {
                let txn = api.begin().await?;
                let records = statements::update(&txn, model, &fields, &rows, ctx.tenant).await?;
                commit(txn).await?;
                Ok::<_, ActionError>(records)
            }
            .await;
            match written {
                Ok(records) => {
                    let mut by_id: HashMap<i64, Record> = records.into_iter().map(|r| (r.id(), r)).collect();
                    for (idx, _, _) in chunk {
                        let id = inputs[*idx].0;
                        slots[*idx] = Some(by_id.remove(&id).ok_or_else(|| {
                            ActionError::NotFound(format!("{} {id} not found", model.qualified_name()))
                        }));
                    }
                }
                Err(_) => {
                    for (idx, _, _) in chunk {
                        slots[*idx] = Some(single(*idx).await);
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
    let mut deleted: HashSet<i64> = HashSet::new();
    for chunk in ids.chunks(statements::rows_per_statement(1)) {
        let result = async {
            let txn = api.begin().await?;
            let gone = statements::delete(&txn, model, chunk, ctx.tenant).await?;
            commit(txn).await?;
            Ok::<_, ActionError>(gone)
        }
        .await;
        match result {
            Ok(gone) => deleted.extend(gone),
            Err(e) => return ids.iter().map(|_| Err(e.duplicate())).collect(),
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
