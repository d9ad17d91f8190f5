//! Field values: decoded from database rows, turned into JSON for the API, and
//! parsed from API input into the type the column stores.

use crate::model::{Field, FieldType, Model};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::QueryResult;
use serde_json::Value as Json;
use std::sync::Arc;

use super::QueryError;

/// One field's value, in the type its column stores.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    String(String),
    DateTime(DateTime<Utc>),
    /// Shared: JSON documents (such as the whole BigCommerce object) are large, and
    /// a value is often held by a batch and by its retry at once.
    Json(Arc<Json>),
}

/// A row of a model: one value per field, in the model's field order.
#[derive(Clone, Debug)]
pub struct Record {
    #[doc(hidden)]
    pub values: Vec<Value>,
}

impl Record {
    /// A record of which only the id is known.
    pub fn with_id(id: i64, width: usize) -> Record {
        let mut values = vec![Value::Null; width];
        values[Model::ID] = Value::Int(id);
        Record { values }
    }

    /// The record's id.
    pub fn id(&self) -> i64 {
        match self.values[Model::ID] {
            Value::Int(id) => id,
            _ => 0,
        }
    }

    /// The id a belongsTo foreign key field points at.
    pub fn int(&self, field: usize) -> Option<i64> {
        match self.values[field] {
            Value::Int(v) => Some(v),
            _ => None,
        }
    }

    /// Every visible field by api identifier: the `_all` field.
    pub fn to_json_object(&self, model: &Model) -> serde_json::Map<String, Json> {
        model
            .fields
            .iter()
            .zip(&self.values)
            .filter(|(f, _)| !f.hidden)
            .map(|(f, v)| (f.api_id.clone(), v.to_json(f.ty)))
            .collect()
    }
}

/// ISO-8601 UTC with milliseconds, as the client expects.
pub fn format_datetime(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Value {
    /// The value as the API shows it (ids are strings).
    pub fn to_json(&self, ty: FieldType) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Int(v) if ty == FieldType::Id => Json::String(v.to_string()),
            Value::Int(v) => Json::from(*v),
            Value::Float(v) => serde_json::Number::from_f64(*v)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Value::Bool(v) => Json::Bool(*v),
            Value::String(v) => Json::String(v.clone()),
            Value::DateTime(v) => Json::String(format_datetime(v)),
            Value::Json(v) => Json::clone(v),
        }
    }

    /// The value as a SQL parameter.
    pub fn to_sql(&self, ty: FieldType) -> sea_orm::Value {
        match (self, ty) {
            (Value::Null, FieldType::Id | FieldType::Integer) => sea_orm::Value::BigInt(None),
            (Value::Null, FieldType::Float) => sea_orm::Value::Double(None),
            (Value::Null, FieldType::Boolean) => sea_orm::Value::Bool(None),
            (Value::Null, FieldType::DateTime) => sea_orm::Value::ChronoDateTimeUtc(None),
            (Value::Null, FieldType::Json) => sea_orm::Value::Json(None),
            (Value::Null, _) => sea_orm::Value::String(None),
            (Value::Int(v), _) => (*v).into(),
            (Value::Float(v), _) => (*v).into(),
            (Value::Bool(v), _) => (*v).into(),
            (Value::String(v), _) => v.clone().into(),
            (Value::DateTime(v), _) => (*v).into(),
            (Value::Json(v), _) => Json::clone(v).into(),
        }
    }

    /// The value as a SQL parameter, without copying it.
    pub fn into_sql(self, ty: FieldType) -> sea_orm::Value {
        match self {
            Value::String(v) => v.into(),
            Value::Json(v) => Arc::unwrap_or_clone(v).into(),
            other => other.to_sql(ty),
        }
    }

    /// Read column `idx` of `row` as the field's type.
    pub fn decode(row: &QueryResult, idx: usize, field: &Field) -> Result<Value, sea_orm::DbErr> {
        Ok(match field.ty {
            FieldType::Id | FieldType::Integer => row.try_get_by_index::<Option<i64>>(idx)?.map(Value::Int),
            FieldType::Float => row.try_get_by_index::<Option<f64>>(idx)?.map(Value::Float),
            FieldType::Boolean => row.try_get_by_index::<Option<bool>>(idx)?.map(Value::Bool),
            FieldType::String | FieldType::Enum => {
                row.try_get_by_index::<Option<String>>(idx)?.map(Value::String)
            }
            FieldType::DateTime => row
                .try_get_by_index::<Option<DateTime<Utc>>>(idx)?
                .map(Value::DateTime),
            FieldType::Json => row
                .try_get_by_index::<Option<Json>>(idx)?
                .map(|v| Value::Json(Arc::new(v))),
        }
        .unwrap_or(Value::Null))
    }

    /// Parse API input for a field of type `ty`. `what` names the input in errors.
    pub fn parse(input: &Json, field: &Field, what: &str) -> Result<Value, QueryError> {
        let bad = |expected: &str| {
            QueryError::InvalidInput(format!(
                "{what}: expected {expected} for field `{}`, got {input}",
                field.api_id
            ))
        };
        Ok(match (field.ty, input) {
            (_, Json::Null) => Value::Null,
            (FieldType::Id, Json::String(s)) => Value::Int(parse_id(s).ok_or_else(|| bad("an id"))?),
            (FieldType::Id, Json::Number(n)) => Value::Int(n.as_i64().ok_or_else(|| bad("an id"))?),
            (FieldType::Integer, Json::Number(n)) => match n.as_i64() {
                Some(i) => Value::Int(i),
                // A fractional bound still compares correctly against integers.
                None => Value::Float(n.as_f64().ok_or_else(|| bad("a number"))?),
            },
            (FieldType::Float, Json::Number(n)) => Value::Float(n.as_f64().ok_or_else(|| bad("a number"))?),
            (FieldType::Boolean, Json::Bool(b)) => Value::Bool(*b),
            (FieldType::String, Json::String(s)) => Value::String(s.clone()),
            (FieldType::Enum, Json::String(s)) => {
                if !field.enum_values.contains(s) {
                    return Err(QueryError::InvalidInput(format!(
                        "{what}: `{s}` is not a value of field `{}` (expected one of {})",
                        field.api_id,
                        field.enum_values.join(", ")
                    )));
                }
                Value::String(s.clone())
            }
            (FieldType::DateTime, Json::String(s)) => {
                Value::DateTime(parse_datetime(s).ok_or_else(|| bad("an ISO-8601 date-time"))?)
            }
            (FieldType::Json, v) => Value::Json(Arc::new(v.clone())),
            (FieldType::Id, _) => return Err(bad("an id")),
            (FieldType::Integer | FieldType::Float, _) => return Err(bad("a number")),
            (FieldType::Boolean, _) => return Err(bad("a boolean")),
            (FieldType::String | FieldType::Enum, _) => return Err(bad("a string")),
            (FieldType::DateTime, _) => return Err(bad("an ISO-8601 date-time")),
        })
    }
}

/// Ids are positive 64-bit integers written in decimal.
pub fn parse_id(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|id| *id > 0)
}

/// Accepts RFC 3339 (with any offset) and plain dates; the result is UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}
