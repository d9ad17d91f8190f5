//! Action input, parsed from JSON against the model: plain field values and
//! nested relationship operations.

use super::error::{ActionError, FieldError};
use crate::model::{FieldType, Model, Registry, RelationKind};
use crate::query::Value;
use crate::query::value::parse_id;
use serde_json::Value as Json;
use std::sync::Arc;

/// One record's worth of input.
#[derive(Clone, Debug, Default)]
pub struct RecordInput {
    /// `id`, for nested updates and converge values.
    pub id: Option<i64>,
    /// Plain field values, by field index.
    pub values: Vec<(usize, Value)>,
    /// belongsTo operations, by relation index.
    pub belongs_to: Vec<(usize, BelongsTo)>,
    /// hasMany operations, by relation index.
    pub has_many: Vec<(usize, HasMany)>,
    /// `_atomics`: amounts added to number fields in the database (`x = x + n`), so
    /// that concurrent updates do not lose each other's changes. Updates only.
    pub atomics: Vec<(usize, Value)>,
}

impl RecordInput {
    /// Only plain fields: it can be written in a multi-row statement.
    pub fn is_plain(&self) -> bool {
        self.belongs_to
            .iter()
            .all(|(_, op)| matches!(op, BelongsTo::Link(_)))
            && self.has_many.is_empty()
            && self.atomics.is_empty()
    }

    pub fn value(&self, field: usize) -> Option<&Value> {
        self.values.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    pub fn set(&mut self, field: usize, value: Value) {
        match self.values.iter_mut().find(|(f, _)| *f == field) {
            Some(slot) => slot.1 = value,
            None => self.values.push((field, value)),
        }
    }
}

#[derive(Clone, Debug)]
pub enum BelongsTo {
    Link(Option<i64>),
    Create(Box<RecordInput>),
    Update(i64, Box<RecordInput>),
    Delete(i64),
}

#[derive(Clone, Debug)]
pub enum HasMany {
    Create(RecordInput),
    Update(i64, RecordInput),
    Delete(i64),
    /// Make the children equal these values.
    Converge(Vec<RecordInput>),
}

fn shape(msg: String) -> ActionError {
    ActionError::InvalidInput(msg)
}

fn id_of(v: &Json, what: &str) -> Result<i64, ActionError> {
    match v {
        Json::String(s) => parse_id(s),
        Json::Number(n) => n.as_i64().filter(|i| *i > 0),
        _ => None,
    }
    .ok_or_else(|| shape(format!("{what}: `{v}` is not a record id")))
}

/// A value from input for `field`, checked against its type; a mismatch is a field error.
pub fn field_value(model: &Model, field: usize, v: Json) -> Result<Value, FieldError> {
    let f = &model.fields[field];
    if f.ty == FieldType::Json {
        return Ok(match v {
            Json::Null => Value::Null,
            v => Value::Json(Arc::new(v)),
        });
    }
    let value = Value::parse(&v, f, "input").map_err(|_| {
        let expected = match f.ty {
            FieldType::Id => "must be a record id".to_owned(),
            FieldType::Integer => "must be a whole number".to_owned(),
            FieldType::Float => "must be a number".to_owned(),
            FieldType::String => "must be a string".to_owned(),
            FieldType::Enum => format!("must be one of {}", f.enum_values.join(", ")),
            FieldType::Boolean => "must be true or false".to_owned(),
            FieldType::DateTime => "must be an ISO-8601 date-time".to_owned(),
            FieldType::Json => "must be JSON".to_owned(),
        };
        FieldError::new(&f.api_id, expected)
    })?;
    match (&value, f.ty) {
        (Value::Float(_), FieldType::Integer) => Err(FieldError::new(&f.api_id, "must be a whole number")),
        (Value::String(s), _) if f.max_length.is_some_and(|max| s.chars().count() > max) => {
            Err(FieldError::new(
                &f.api_id,
                format!(
                    "is too long (maximum is {} characters)",
                    f.max_length.unwrap_or_default()
                ),
            ))
        }
        _ => Ok(value),
    }
}

/// `_atomics: {inventoryLevel: {increment: 2, decrement: 1}}`: one net amount per
/// number field (whole for integer fields).
fn atomics(model: &Model, v: Json) -> Result<Vec<(usize, Value)>, ActionError> {
    let Json::Object(map) = v else {
        return Err(shape("`_atomics` must be an object of number fields".into()));
    };
    let mut out = Vec::new();
    for (key, ops) in map {
        let field = model
            .field(&key)
            .filter(|&f| matches!(model.fields[f].ty, FieldType::Integer | FieldType::Float))
            .ok_or_else(|| shape(format!("`_atomics.{key}`: {} has no number field `{key}`", model.api_id)))?;
        let Json::Object(ops) = ops else {
            return Err(shape(format!("`_atomics.{key}` takes {{increment, decrement}}")));
        };
        let integer = model.fields[field].ty == FieldType::Integer;
        let (mut whole, mut real) = (0i64, 0f64);
        for (op, amount) in ops {
            let sign = match op.as_str() {
                "increment" => 1,
                "decrement" => -1,
                other => {
                    return Err(shape(format!(
                        "`_atomics.{key}` takes increment or decrement, not `{other}`"
                    )));
                }
            };
            if amount.is_null() {
                continue;
            }
            let bad = || shape(format!("`_atomics.{key}.{op}` must be a {}", if integer { "whole number" } else { "number" }));
            if integer {
                // GraphQL's Float may carry a whole number as `2.0`.
                let n = amount
                    .as_i64()
                    .or_else(|| amount.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
                    .ok_or_else(bad)?;
                whole = n.checked_mul(sign).and_then(|n| whole.checked_add(n)).ok_or_else(bad)?;
            } else {
                real += amount.as_f64().filter(|n| n.is_finite()).ok_or_else(bad)? * sign as f64;
            }
        }
        out.push((field, if integer { Value::Int(whole) } else { Value::Float(real) }));
    }
    Ok(out)
}

/// Parse `input` for `model`. Field type errors are collected into one
/// `InvalidRecord`; input of the wrong shape is `InvalidInput`. Hidden fields (an
/// access token) are input only from the gateway's own code (`internal`).
pub fn parse(
    registry: &Registry,
    model: &Model,
    input: Json,
    internal: bool,
) -> Result<RecordInput, ActionError> {
    let mut errors = Vec::new();
    let parsed = parse_into(registry, internal, model, input, &mut errors)?;
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ActionError::InvalidRecord {
            model: model.api_id.clone(),
            errors,
        })
    }
}

fn parse_into(
    registry: &Registry,
    internal: bool,
    model: &Model,
    input: Json,
    errors: &mut Vec<FieldError>,
) -> Result<RecordInput, ActionError> {
    let Json::Object(map) = input else {
        return Err(shape(format!("input for {} must be an object", model.api_id)));
    };
    let mut out = RecordInput::default();
    for (key, v) in map {
        if key == "_atomics" {
            out.atomics = atomics(model, v)?;
            continue;
        }
        if key == "id" {
            if !v.is_null() {
                out.id = Some(id_of(&v, "id")?);
            }
            continue;
        }
        if let Some(field) = model.field(&key) {
            let f = &model.fields[field];
            if f.hidden && !internal {
                return Err(shape(format!("{} has no field `{key}`", model.api_id)));
            }
            if f.is_managed() || model.relation_of_field(field).is_some() {
                return Err(shape(format!(
                    "`{key}` of {} cannot be set directly",
                    model.api_id
                )));
            }
            match field_value(model, field, v) {
                Ok(value) => out.values.push((field, value)),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let Some(rel) = model.relation(&key) else {
            return Err(shape(format!("{} has no field `{key}`", model.api_id)));
        };
        let relation = &model.relations[rel];
        let target = registry.get(relation.target);
        match relation.kind {
            RelationKind::BelongsTo { .. } => {
                if v.is_null() {
                    continue;
                }
                let op = match one_op(v, &key)? {
                    (op, Json::Null) if op == "_link" => BelongsTo::Link(None),
                    (op, id) if op == "_link" => BelongsTo::Link(Some(id_of(&id, &key)?)),
                    (op, body) if op == "create" => {
                        BelongsTo::Create(Box::new(parse_into(registry, internal, target, body, errors)?))
                    }
                    (op, body) if op == "update" => {
                        let child = parse_into(registry, internal, target, body, errors)?;
                        let id = child
                            .id
                            .ok_or_else(|| shape(format!("{key}.update needs an `id`")))?;
                        BelongsTo::Update(id, Box::new(child))
                    }
                    (op, body) if op == "delete" => {
                        BelongsTo::Delete(id_of(body.get("id").unwrap_or(&Json::Null), &key)?)
                    }
                    (other, _) => {
                        return Err(shape(format!(
                            "`{key}` takes _link, create, update or delete, not `{other}`"
                        )));
                    }
                };
                out.belongs_to.push((rel, op));
            }
            RelationKind::HasMany { .. } if !target.generic_writes => {
                return Err(shape(format!("`{key}` is written only through its own actions")));
            }
            RelationKind::HasMany { .. } => {
                let items: Vec<Json> = match v {
                    Json::Array(items) => items,
                    Json::Null => Vec::new(),
                    one => vec![one],
                };
                for item in items {
                    let op = match one_op(item, &key)? {
                        (op, body) if op == "create" => {
                            HasMany::Create(parse_into(registry, internal, target, body, errors)?)
                        }
                        (op, body) if op == "update" => {
                            let child = parse_into(registry, internal, target, body, errors)?;
                            let id = child
                                .id
                                .ok_or_else(|| shape(format!("{key}.update needs an `id`")))?;
                            HasMany::Update(id, child)
                        }
                        (op, body) if op == "delete" => {
                            HasMany::Delete(id_of(body.get("id").unwrap_or(&Json::Null), &key)?)
                        }
                        (op, body) if op == "_converge" => {
                            let values = match body {
                                Json::Object(mut body) => match body.remove("values") {
                                    Some(Json::Array(values)) => values,
                                    _ => return Err(shape(format!("{key}._converge needs a `values` list"))),
                                },
                                _ => return Err(shape(format!("{key}._converge needs a `values` list"))),
                            };
                            let values = values
                                .into_iter()
                                .map(|value| parse_into(registry, internal, target, value, errors))
                                .collect::<Result<Vec<_>, _>>()?;
                            HasMany::Converge(values)
                        }
                        (other, _) => {
                            return Err(shape(format!(
                                "`{key}` takes create, update, delete or _converge, not `{other}`"
                            )));
                        }
                    };
                    out.has_many.push((rel, op));
                }
            }
        }
    }
    Ok(out)
}

/// A nested operation object has exactly one key (others may be null).
fn one_op(v: Json, key: &str) -> Result<(String, Json), ActionError> {
    match v {
        Json::Object(map) => {
            let single = map.len() == 1;
            let mut set = map.into_iter().filter(|(_, v)| !v.is_null() || single);
            match (set.next(), set.next()) {
                (Some(op), None) => Ok(op),
                _ => Err(shape(format!("`{key}` takes exactly one of its operations"))),
            }
        }
        _ => Err(shape(format!("`{key}` takes an object such as {{_link: id}}"))),
    }
}
