//! What every action answers with: `ErrorValue` (an error as the contract shows it),
//! `ActionResult` (what every action result object resolves from), and the shared error
//! and result types (`ExecutionError`, `SimpleError`, `InvalidRecordError`, ...) with the
//! fields every result object has (`success`, `errors`, `actionRun`, the written record).

use super::RequestContext;
use super::errors::ErrorCode;
use super::parent::{fail, parent_field};
use super::types::{JSON, JSON_OBJECT};
use crate::action::{ActionError, ErasedGlobal};
use crate::model::{Model, ModelId, pascal};
use crate::query::{Record, Value};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, Interface, InterfaceField, Object, ResolverContext, SchemaBuilder,
    TypeRef,
};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) const EXECUTION_ERROR: &str = "ExecutionError";
const SIMPLE_ERROR: &str = "SimpleError";
const INVALID_RECORD_ERROR: &str = "InvalidRecordError";
const INVALID_FIELD_ERROR: &str = "InvalidFieldError";
const GADGET_MODEL: &str = "GadgetModel";

/// An error as the contract shows it.
pub(crate) struct ErrorValue {
    code: ErrorCode,
    message: String,
    /// For `GGT_INVALID_RECORD`: the model and the per-field messages.
    invalid: Option<(String, Vec<(String, String)>)>,
}

impl From<&ActionError> for ErrorValue {
    fn from(e: &ActionError) -> Self {
        let invalid = match e {
            ActionError::InvalidRecord { model, errors } => Some((
                model.clone(),
                errors
                    .iter()
                    .map(|f| (f.api_id.clone(), f.message.clone()))
                    .collect(),
            )),
            _ => None,
        };
        ErrorValue {
            code: e.code(),
            message: e.public_message(),
            invalid,
        }
    }
}

impl ErrorValue {
    /// An error known by its code.
    pub(crate) fn coded(code: ErrorCode, message: String) -> ErrorValue {
        ErrorValue {
            code,
            message,
            invalid: None,
        }
    }

    /// An error read back by its code from a finished background action: a code the
    /// contract does not have shows as `GGT_INTERNAL_ERROR`.
    pub(crate) fn stored(code: &str, message: String) -> ErrorValue {
        ErrorValue::coded(code.parse().unwrap_or(ErrorCode::InternalError), message)
    }
}

/// What every action result resolves from.
#[derive(Default)]
pub(crate) struct ActionResult {
    pub(crate) success: bool,
    pub(crate) errors: Vec<ErrorValue>,
    pub(crate) record: Option<Record>,
    pub(crate) records: Vec<Option<Record>>,
    pub(crate) result: Option<Json>,
}

impl ActionResult {
    pub(crate) fn of_record(result: Result<Record, ActionError>) -> ActionResult {
        match result {
            Ok(record) => ActionResult {
                success: true,
                record: Some(record),
                ..Default::default()
            },
            Err(e) => ActionResult {
                errors: vec![(&e).into()],
                ..Default::default()
            },
        }
    }

    pub(crate) fn of_unit(result: Result<(), ActionError>) -> ActionResult {
        match result {
            Ok(()) => ActionResult {
                success: true,
                ..Default::default()
            },
            Err(e) => ActionResult {
                errors: vec![(&e).into()],
                ..Default::default()
            },
        }
    }

    /// A bulk result whose elements are ids (or `()` for deletes), with the records
    /// read back in one statement when the selection asks for more than their ids.
    pub(crate) async fn of_bulk<T>(
        ctx: &ResolverContext<'_>,
        model: ModelId,
        plural: &str,
        results: Vec<Result<T, ActionError>>,
        id_of: impl Fn(&T) -> Option<i64>,
    ) -> async_graphql::Result<ActionResult> {
        let ids: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(&id_of))
            .collect();
        let wants_fields = ctx
            .field()
            .selection_set()
            .filter(|f| f.name() == plural)
            .any(|f| {
                f.selection_set()
                    .any(|f| !matches!(f.name(), "id" | "__typename"))
            });
        let api = &ctx.data::<RequestContext>()?.api;
        let records: HashMap<i64, Record> = if wants_fields {
            let found = api
                .model_by_id(model)
                .find_many(&ids)
                .await
                .map_err(|e| super::coded(e.code(), e.public_message()))?;
            found.into_iter().map(|r| (r.id(), r)).collect()
        } else {
            let width = api.registry.get(model).fields.len();
            ids.iter().map(|id| (*id, Record::with_id(*id, width))).collect()
        };
        let mut out = ActionResult {
            success: true,
            ..Default::default()
        };
        for r in results {
            match r {
                // An id named twice (an upsert repeated in one batch) shows its final record twice.
                Ok(v) => out
                    .records
                    .push(id_of(&v).and_then(|id| records.get(&id).cloned())),
                Err(e) => {
                    out.success = false;
                    out.errors.push((&e).into());
                    out.records.push(None);
                }
            }
        }
        Ok(out.budgeted(ctx))
    }

    /// Take the records this result hands out from the request's record budget; once
    /// the budget is spent it hands out none (the response is replaced by an error).
    pub(crate) fn budgeted(mut self, ctx: &ResolverContext<'_>) -> ActionResult {
        let handed = usize::from(self.record.is_some()) + self.records.iter().flatten().count();
        if handed > 0
            && let Ok(context) = ctx.data::<RequestContext>()
            && !context.take_records(handed)
        {
            self.record = None;
            self.records.clear();
        }
        self
    }

    pub(crate) fn of_json(result: Result<Json, ActionError>) -> ActionResult {
        match result {
            Ok(json) => ActionResult {
                success: true,
                result: Some(json),
                ..Default::default()
            },
            Err(e) => ActionResult {
                errors: vec![(&e).into()],
                ..Default::default()
            },
        }
    }
}

pub(crate) fn success_field() -> Field {
    parent_field::<ActionResult>("success", TypeRef::named_nn(TypeRef::BOOLEAN), |r| {
        Some(FieldValue::value(r.success))
    })
}

pub(crate) fn errors_field() -> Field {
    parent_field::<ActionResult>("errors", TypeRef::named_nn_list(EXECUTION_ERROR), |r| {
        error_list(&r.errors)
    })
}

/// A global action's `result`: the JSON it answered.
pub(crate) fn json_result_field() -> Field {
    parent_field::<ActionResult>("result", TypeRef::named(JSON), |r| {
        r.result
            .as_ref()
            .map(|json| FieldValue::value(async_graphql::Value::from_json(json.clone()).unwrap_or_default()))
    })
}

/// An `errors` list: null when there are none, never []: the client treats any list as a failure.
pub(crate) fn error_list(errors: &[ErrorValue]) -> Option<FieldValue<'_>> {
    if errors.is_empty() {
        return None;
    }
    Some(FieldValue::list(errors.iter().map(|e| {
        let ty = if e.invalid.is_some() {
            INVALID_RECORD_ERROR
        } else {
            SIMPLE_ERROR
        };
        FieldValue::borrowed_any(e).with_type(ty)
    })))
}

/// The result type of a global action: `BigcommerceSyncStoreResult`.
pub(crate) fn result_type_of_global(action: &dyn ErasedGlobal) -> String {
    let prefix = action.namespace().map(pascal).unwrap_or_default();
    format!("{prefix}{}Result", pascal(action.name()))
}

pub(crate) fn action_run_field() -> Field {
    Field::new("actionRun", TypeRef::named(TypeRef::STRING), |_| {
        FieldFuture::Value(None)
    })
}

fn error_fields(obj: Object) -> Object {
    obj.field(parent_field::<ErrorValue>(
        "code",
        TypeRef::named_nn(TypeRef::STRING),
        |e| Some(FieldValue::value(e.code.as_str())),
    ))
    .field(parent_field::<ErrorValue>(
        "message",
        TypeRef::named_nn(TypeRef::STRING),
        |e| Some(FieldValue::value(e.message.clone())),
    ))
    .field(Field::new("stack", TypeRef::named(TypeRef::STRING), |_| {
        FieldFuture::Value(None)
    }))
}

/// `validationErrorsByField`: each field's messages, by field.
fn messages_by_field(fields: &[(String, String)]) -> FieldValue<'static> {
    let mut map = serde_json::Map::new();
    for (field, message) in fields {
        let entry = map
            .entry(field.clone())
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(list) = entry {
            list.push(Json::String(message.clone()));
        }
    }
    FieldValue::value(async_graphql::Value::from_json(Json::Object(map)).unwrap_or_default())
}

/// The shared error and result types.
pub(crate) fn register_shared(schema: SchemaBuilder) -> SchemaBuilder {
    let invalid_record = error_fields(Object::new(INVALID_RECORD_ERROR).implement(EXECUTION_ERROR))
        .field(parent_field::<ErrorValue>(
            "model",
            TypeRef::named(GADGET_MODEL),
            |e| {
                e.invalid
                    .as_ref()
                    .map(|(model, _)| FieldValue::owned_any(model.clone()))
            },
        ))
        .field(Field::new("record", TypeRef::named(JSON_OBJECT), |_| {
            FieldFuture::Value(None)
        }))
        .field(parent_field::<ErrorValue>(
            "validationErrors",
            TypeRef::named_nn_list(INVALID_FIELD_ERROR),
            |e| {
                e.invalid
                    .as_ref()
                    .map(|(_, fields)| FieldValue::list(fields.iter().map(|f| FieldValue::borrowed_any(f))))
            },
        ))
        .field(parent_field::<ErrorValue>(
            "validationErrorsByField",
            TypeRef::named(JSON_OBJECT),
            |e| e.invalid.as_ref().map(|(_, fields)| messages_by_field(fields)),
        ));
    let pair_field = |name: &'static str, first: bool| {
        parent_field::<(String, String)>(name, TypeRef::named_nn(TypeRef::STRING), move |(a, b)| {
            Some(FieldValue::value(if first { a.clone() } else { b.clone() }))
        })
    };
    schema
        .register(
            Interface::new(EXECUTION_ERROR)
                .field(InterfaceField::new("code", TypeRef::named_nn(TypeRef::STRING)))
                .field(InterfaceField::new("message", TypeRef::named_nn(TypeRef::STRING)))
                .field(InterfaceField::new("stack", TypeRef::named(TypeRef::STRING))),
        )
        .register(error_fields(Object::new(SIMPLE_ERROR).implement(EXECUTION_ERROR)))
        .register(invalid_record)
        .register(
            Object::new(INVALID_FIELD_ERROR)
                .field(pair_field("apiIdentifier", true))
                .field(pair_field("message", false)),
        )
        .register(Object::new(GADGET_MODEL).field(parent_field::<String>(
            "apiIdentifier",
            TypeRef::named_nn(TypeRef::STRING),
            |name| Some(FieldValue::value(name.clone())),
        )))
}

/// A record with only its non-null fields set, standing in for a failed bulk element.
fn placeholder(model: &Model) -> Record {
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let values = model
        .fields
        .iter()
        .map(|f| match f.column.as_str() {
            // An id no row has, so that relations under it load nothing.
            "id" => Value::Int(i64::MAX),
            "created_at" | "updated_at" => Value::DateTime(epoch),
            _ => Value::Null,
        })
        .collect();
    Record { values }
}

pub(crate) fn record_field(name: String, model: &Model, bulk: bool) -> Field {
    let ty = if bulk {
        TypeRef::named_list(model.type_name())
    } else {
        TypeRef::named(model.type_name())
    };
    let placeholder = Arc::new(placeholder(model));
    let model_id = model.id;
    Field::new(name, ty, move |ctx| {
        let r = match ctx.parent_value.try_downcast_ref::<ActionResult>() {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        // The written record is read like any other: only with the read grant.
        if r.record.is_some() || r.records.iter().any(Option::is_some) {
            let checked = ctx
                .data::<RequestContext>()
                .and_then(|c| c.check_read(c.api.registry.get(model_id)));
            if let Err(e) = checked {
                return fail(e);
            }
        }
        if !bulk {
            return FieldFuture::Value(r.record.as_ref().map(|r| FieldValue::borrowed_any(r)));
        }
        {
            let path = ctx.path_node.map(|p| p.to_string_vec()).unwrap_or_default();
            let items = r.records.iter().enumerate().map(|(i, rec)| match rec {
                Some(rec) => FieldValue::borrowed_any(rec),
                None => {
                    if let Ok(context) = ctx.data::<RequestContext>() {
                        let mut item = path.clone();
                        item.push(i.to_string());
                        context
                            .null_items
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(item);
                    }
                    FieldValue::owned_any(placeholder.clone())
                }
            });
            FieldFuture::Value(Some(FieldValue::list(items.collect::<Vec<_>>())))
        }
    })
}
