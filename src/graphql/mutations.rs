//! The generated mutations: create, update, delete, upsert and the bulk actions of
//! every model, global actions, and the result and error types they answer with.
//! Every resolver here calls the action runtime; none writes itself.

use super::RequestContext;
use super::types::{GADGET_ID, JSON, JSON_OBJECT, scalar_of};
use crate::action::{ActionError, ErasedGlobal, ParamType, Upserted};
use crate::model::{Model, ModelId, Registry, RelationKind, pascal};
use crate::query::value::parse_id;
use crate::query::{Record, Value};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField, Object,
    ResolverContext, SchemaBuilder, TypeRef,
};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) const EXECUTION_ERROR: &str = "ExecutionError";
const SIMPLE_ERROR: &str = "SimpleError";
const INVALID_RECORD_ERROR: &str = "InvalidRecordError";
const INVALID_FIELD_ERROR: &str = "InvalidFieldError";
const GADGET_MODEL: &str = "GadgetModel";

/// An error as the contract shows it.
pub struct ErrorValue {
    code: &'static str,
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
    /// An error known by its code (e.g. read back from a finished background action).
    pub fn coded(code: &str, message: String) -> ErrorValue {
        const CODES: &[&str] = &[
            "GGT_INVALID_RECORD",
            "GGT_RECORD_NOT_FOUND",
            "GGT_PERMISSION_DENIED",
            "GGT_INVALID_QUERY_INPUT",
            "GGT_INVALID_ACTION_INPUT",
            "GGT_NON_UNIQUE_DATA",
            "GGT_DUPLICATE_BACKGROUND_ACTION_ID",
            "GGT_BACKGROUND_ACTION_CANCELLED",
            "GGT_TOO_MANY_REQUESTS",
        ];
        ErrorValue {
            code: CODES
                .iter()
                .find(|c| **c == code)
                .copied()
                .unwrap_or("GGT_INTERNAL_ERROR"),
            message,
            invalid: None,
        }
    }
}

/// What every action result resolves from.
#[derive(Default)]
pub struct ActionResult {
    pub(super) success: bool,
    pub(super) errors: Vec<ErrorValue>,
    pub(super) record: Option<Record>,
    pub(super) records: Vec<Option<Record>>,
    pub(super) result: Option<Json>,
}

impl ActionResult {
    fn of_record(result: Result<Record, ActionError>) -> ActionResult {
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

    fn of_unit(result: Result<(), ActionError>) -> ActionResult {
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
    async fn of_bulk<T>(
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
    fn budgeted(mut self, ctx: &ResolverContext<'_>) -> ActionResult {
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

    fn of_json(result: Result<Json, ActionError>) -> ActionResult {
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

fn fail<'a>(err: async_graphql::Error) -> FieldFuture<'a> {
    FieldFuture::Future(Box::pin(async move { Err(err) }))
}

fn with_result<'a>(
    ctx: &ResolverContext<'a>,
    f: impl FnOnce(&'a ActionResult) -> Option<FieldValue<'a>>,
) -> FieldFuture<'a> {
    match ctx.parent_value.try_downcast_ref::<ActionResult>() {
        Ok(result) => FieldFuture::Value(f(result)),
        Err(e) => fail(e),
    }
}

fn success_field() -> Field {
    Field::new("success", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
        with_result(&ctx, |r| Some(FieldValue::value(r.success)))
    })
}

fn errors_field() -> Field {
    Field::new("errors", TypeRef::named_nn_list(EXECUTION_ERROR), |ctx| {
        with_result(&ctx, |r| error_list(&r.errors))
    })
}

/// An `errors` list: null when there are none, never []: the client treats any list as a failure.
pub(super) fn error_list(errors: &[ErrorValue]) -> Option<FieldValue<'_>> {
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
pub fn result_type_of_global(action: &dyn ErasedGlobal) -> String {
    let prefix = action.namespace().map(pascal).unwrap_or_default();
    format!("{prefix}{}Result", pascal(action.name()))
}

fn action_run_field() -> Field {
    Field::new("actionRun", TypeRef::named(TypeRef::STRING), |_| {
        FieldFuture::Value(None)
    })
}

fn error_value<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a ErrorValue> {
    ctx.parent_value.try_downcast_ref::<ErrorValue>()
}

fn error_fields(obj: Object) -> Object {
    obj.field(Field::new(
        "code",
        TypeRef::named_nn(TypeRef::STRING),
        |ctx| match error_value(&ctx) {
            Ok(e) => FieldFuture::Value(Some(FieldValue::value(e.code))),
            Err(e) => fail(e),
        },
    ))
    .field(Field::new(
        "message",
        TypeRef::named_nn(TypeRef::STRING),
        |ctx| match error_value(&ctx) {
            Ok(e) => FieldFuture::Value(Some(FieldValue::value(e.message.clone()))),
            Err(e) => fail(e),
        },
    ))
    .field(Field::new("stack", TypeRef::named(TypeRef::STRING), |_| {
        FieldFuture::Value(None)
    }))
}

/// The shared error and result types.
pub fn register_shared(schema: SchemaBuilder) -> SchemaBuilder {
    let invalid_record =
        error_fields(Object::new(INVALID_RECORD_ERROR).implement(EXECUTION_ERROR))
            .field(Field::new(
                "model",
                TypeRef::named(GADGET_MODEL),
                |ctx| match error_value(&ctx) {
                    Ok(e) => FieldFuture::Value(
                        e.invalid
                            .as_ref()
                            .map(|(model, _)| FieldValue::owned_any(model.clone())),
                    ),
                    Err(e) => fail(e),
                },
            ))
            .field(Field::new("record", TypeRef::named(JSON_OBJECT), |_| {
                FieldFuture::Value(None)
            }))
            .field(Field::new(
                "validationErrors",
                TypeRef::named_nn_list(INVALID_FIELD_ERROR),
                |ctx| match error_value(&ctx) {
                    Ok(e) => FieldFuture::Value(e.invalid.as_ref().map(|(_, fields)| {
                        FieldValue::list(fields.iter().map(|f| FieldValue::borrowed_any(f)))
                    })),
                    Err(e) => fail(e),
                },
            ))
            .field(Field::new(
                "validationErrorsByField",
                TypeRef::named(JSON_OBJECT),
                |ctx| match error_value(&ctx) {
                    Ok(e) => {
                        let by_field = e.invalid.as_ref().map(|(_, fields)| {
                            let mut map = serde_json::Map::new();
                            for (field, message) in fields {
                                let entry = map
                                    .entry(field.clone())
                                    .or_insert_with(|| Json::Array(Vec::new()));
                                if let Json::Array(list) = entry {
                                    list.push(Json::String(message.clone()));
                                }
                            }
                            FieldValue::value(
                                async_graphql::Value::from_json(Json::Object(map)).unwrap_or_default(),
                            )
                        });
                        FieldFuture::Value(by_field)
                    }
                    Err(e) => fail(e),
                },
            ));
    let pair_field = |name: &'static str, first: bool| {
        Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |ctx| {
            match ctx.parent_value.try_downcast_ref::<(String, String)>() {
                Ok((a, b)) => {
                    FieldFuture::Value(Some(FieldValue::value(if first { a.clone() } else { b.clone() })))
                }
                Err(e) => fail(e),
            }
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
        .register(Object::new(GADGET_MODEL).field(Field::new(
            "apiIdentifier",
            TypeRef::named_nn(TypeRef::STRING),
            |ctx| match ctx.parent_value.try_downcast_ref::<String>() {
                Ok(name) => FieldFuture::Value(Some(FieldValue::value(name.clone()))),
                Err(e) => fail(e),
            },
        )))
}

/// Type names of a model's write types.
struct Names {
    t: String,
    plural: String,
}

impl Names {
    fn of(model: &Model) -> Names {
        Names {
            t: model.type_name(),
            plural: model.plural_type_name(),
        }
    }
    fn create_input(&self) -> String {
        format!("Create{}Input", self.t)
    }
    fn update_input(&self) -> String {
        format!("Update{}Input", self.t)
    }
    fn upsert_input(&self) -> String {
        format!("Upsert{}Input", self.t)
    }
    fn nested_update(&self) -> String {
        format!("Nested{}UpdateInput", self.t)
    }
    fn nested_delete(&self) -> String {
        format!("Nested{}DeleteInput", self.t)
    }
    fn belongs_to_input(&self) -> String {
        format!("{}BelongsToInput", self.t)
    }
    fn has_many_input(&self) -> String {
        format!("{}HasManyInput", self.t)
    }
    fn converge_input(&self) -> String {
        format!("{}ConvergeInput", self.t)
    }
}

/// The plain and relationship fields of a write input.
fn input_fields(registry: &Registry, model: &Model, mut input: InputObject) -> InputObject {
    for (i, f) in model.fields.iter().enumerate() {
        if f.hidden || f.is_managed() || model.relation_of_field(i).is_some() {
            continue;
        }
        input = input.field(InputValue::new(f.api_id.clone(), TypeRef::named(scalar_of(f.ty))));
    }
    for rel in &model.relations {
        // Models written only through their own actions take no nested writes.
        if !registry.get(rel.target).generic_writes {
            continue;
        }
        let target = Names::of(registry.get(rel.target));
        let ty = match rel.kind {
            RelationKind::BelongsTo { .. } => TypeRef::named(target.belongs_to_input()),
            RelationKind::HasMany { .. } => TypeRef::named_nn_list(target.has_many_input()),
        };
        input = input.field(InputValue::new(rel.api_id.clone(), ty));
    }
    input
}

/// The value of an argument as JSON (`{}` when absent).
pub(super) fn arg_json(ctx: &ResolverContext, name: &str) -> async_graphql::Result<Json> {
    match ctx.args.get(name) {
        Some(v) if !v.is_null() => super::to_json(v.as_value()),
        _ => Ok(Json::Object(Default::default())),
    }
}

pub(super) fn arg_id(value: &Json) -> async_graphql::Result<i64> {
    match value {
        Json::String(s) => parse_id(s),
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        super::coded(
            super::errors::INVALID_QUERY_INPUT,
            format!("`{value}` is not a record id"),
        )
    })
}

fn arg_strings(value: &Json) -> Vec<String> {
    match value {
        Json::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Json::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
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

fn record_field(name: String, model: &Model, bulk: bool) -> Field {
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

/// Register the write types of `model` and return its mutation fields.
pub fn register_model(
    mut schema: SchemaBuilder,
    registry: &Arc<Registry>,
    model: &Model,
) -> (SchemaBuilder, Vec<Field>) {
    let n = Names::of(model);
    let api = model.api_id.clone();
    let plural: Arc<str> = model.plural_api_id.clone().into();
    let upsert_result = format!("Upsert{}Result", n.t);
    let create_result = format!("Create{}Result", n.t);
    let update_result = format!("Update{}Result", n.t);
    let delete_result = format!("Delete{}Result", n.t);
    let bulk = |verb: &str| format!("Bulk{verb}{}", n.plural);
    schema = schema
        .register(input_fields(registry, model, InputObject::new(n.create_input())))
        .register(input_fields(registry, model, InputObject::new(n.update_input())))
        .register(input_fields(
            registry,
            model,
            InputObject::new(n.upsert_input()).field(InputValue::new("id", TypeRef::named(GADGET_ID))),
        ))
        .register(input_fields(
            registry,
            model,
            InputObject::new(n.nested_update()).field(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
        ))
        .register(
            InputObject::new(n.nested_delete()).field(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
        )
        .register(
            InputObject::new(n.belongs_to_input())
                .field(InputValue::new("_link", TypeRef::named(GADGET_ID)))
                .field(InputValue::new("create", TypeRef::named(n.create_input())))
                .field(InputValue::new("update", TypeRef::named(n.nested_update())))
                .field(InputValue::new("delete", TypeRef::named(n.nested_delete()))),
        )
        .register(
            InputObject::new(n.converge_input())
                .field(InputValue::new(
                    "values",
                    TypeRef::named_nn_list_nn(n.upsert_input()),
                ))
                .field(InputValue::new("actions", TypeRef::named(JSON_OBJECT))),
        )
        .register(
            InputObject::new(n.has_many_input())
                .field(InputValue::new("create", TypeRef::named(n.create_input())))
                .field(InputValue::new("update", TypeRef::named(n.nested_update())))
                .field(InputValue::new("delete", TypeRef::named(n.nested_delete())))
                .field(InputValue::new("_converge", TypeRef::named(n.converge_input()))),
        )
        .register(
            InputObject::new(bulk("Create") + "Input")
                .field(InputValue::new(api.clone(), TypeRef::named(n.create_input()))),
        )
        .register(
            InputObject::new(bulk("Update") + "Input")
                .field(InputValue::new("id", TypeRef::named_nn(GADGET_ID)))
                .field(InputValue::new(api.clone(), TypeRef::named(n.update_input()))),
        )
        .register(
            InputObject::new(bulk("Upsert") + "Input")
                .field(InputValue::new("on", TypeRef::named_nn_list(TypeRef::STRING)))
                .field(InputValue::new(api.clone(), TypeRef::named(n.upsert_input()))),
        )
        .register(
            Interface::new(&upsert_result)
                .field(InterfaceField::new(
                    "success",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                ))
                .field(InterfaceField::new(
                    "errors",
                    TypeRef::named_nn_list(EXECUTION_ERROR),
                ))
                .field(InterfaceField::new("actionRun", TypeRef::named(TypeRef::STRING)))
                // The client selects the record on the interface itself.
                .field(InterfaceField::new(
                    api.clone(),
                    TypeRef::named(model.type_name()),
                )),
        );
    for result in [&create_result, &update_result] {
        schema = schema.register(
            Object::new(result)
                .implement(&upsert_result)
                .field(success_field())
                .field(errors_field())
                .field(action_run_field())
                .field(record_field(api.clone(), model, false)),
        );
    }
    schema = schema.register(
        Object::new(&delete_result)
            .field(success_field())
            .field(errors_field())
            .field(action_run_field()),
    );
    for verb in ["Create", "Update", "Upsert"] {
        schema = schema.register(
            Object::new(bulk(verb) + "Result")
                .field(success_field())
                .field(errors_field())
                .field(record_field(plural.to_string(), model, true)),
        );
    }
    schema = schema.register(
        Object::new(bulk("Delete") + "Result")
            .field(success_field())
            .field(errors_field()),
    );

    let id = model.id;
    let pascal_api = pascal(&api);
    let pascal_plural = pascal(&plural);
    let mut fields = Vec::new();
    let key = api.clone();
    fields.push(
        Field::new(
            format!("create{pascal_api}"),
            TypeRef::named(&create_result),
            move |ctx| {
                let key = key.clone();
                FieldFuture::new(async move {
                    let input = arg_json(&ctx, &key)?;
                    let api = &ctx.data::<RequestContext>()?.api;
                    let result = ActionResult::of_record(api.model_by_id(id).create(input).await);
                    Ok(Some(FieldValue::owned_any(result.budgeted(&ctx))))
                })
            },
        )
        .argument(InputValue::new(api.clone(), TypeRef::named(n.create_input()))),
    );
    let key = api.clone();
    fields.push(
        Field::new(
            format!("update{pascal_api}"),
            TypeRef::named(&update_result),
            move |ctx| {
                let key = key.clone();
                FieldFuture::new(async move {
                    let record_id = arg_id(&super::to_json(ctx.args.try_get("id")?.as_value())?)?;
                    let input = arg_json(&ctx, &key)?;
                    let api = &ctx.data::<RequestContext>()?.api;
                    let result = api.model_by_id(id).update(record_id, input).await;
                    Ok(Some(FieldValue::owned_any(
                        ActionResult::of_record(result).budgeted(&ctx),
                    )))
                })
            },
        )
        .argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID)))
        .argument(InputValue::new(api.clone(), TypeRef::named(n.update_input()))),
    );
    fields.push(
        Field::new(
            format!("delete{pascal_api}"),
            TypeRef::named(&delete_result),
            move |ctx| {
                FieldFuture::new(async move {
                    let record_id = arg_id(&super::to_json(ctx.args.try_get("id")?.as_value())?)?;
                    let api = &ctx.data::<RequestContext>()?.api;
                    Ok(Some(FieldValue::owned_any(ActionResult::of_unit(
                        api.model_by_id(id).delete(record_id).await,
                    ))))
                })
            },
        )
        .argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
    );
    let key = api.clone();
    let (created, updated) = (create_result.clone(), update_result.clone());
    fields.push(
        Field::new(
            format!("upsert{pascal_api}"),
            TypeRef::named(&upsert_result),
            move |ctx| {
                let key = key.clone();
                let (created, updated) = (created.clone(), updated.clone());
                FieldFuture::new(async move {
                    let input = arg_json(&ctx, &key)?;
                    let on = ctx
                        .args
                        .get("on")
                        .map(|v| super::to_json(v.as_value()))
                        .transpose()?;
                    let on = on.map(|v| arg_strings(&v)).unwrap_or_default();
                    let on: Vec<&str> = on.iter().map(String::as_str).collect();
                    let api = &ctx.data::<RequestContext>()?.api;
                    let (result, ty) = match api.model_by_id(id).upsert(input, &on).await {
                        Ok((record, Upserted::Created)) => (ActionResult::of_record(Ok(record)), created),
                        Ok((record, Upserted::Updated | Upserted::Unchanged)) => {
                            (ActionResult::of_record(Ok(record)), updated)
                        }
                        // A failed upsert reports as the update that it would have been.
                        Err(e) => (ActionResult::of_record(Err(e)), updated),
                    };
                    Ok(Some(FieldValue::owned_any(result.budgeted(&ctx)).with_type(ty)))
                })
            },
        )
        .argument(InputValue::new("on", TypeRef::named_nn_list(TypeRef::STRING)))
        .argument(InputValue::new(api.clone(), TypeRef::named(n.upsert_input()))),
    );
    let key = api.clone();
    fields.push(
        Field::new(
            format!("bulkCreate{pascal_plural}"),
            TypeRef::named(bulk("Create") + "Result"),
            {
                let plural = plural.clone();
                move |ctx| {
                    let key = key.clone();
                    let plural = plural.clone();
                    FieldFuture::new(async move {
                        let inputs = bulk_inputs(&ctx)?;
                        let inputs = inputs
                            .into_iter()
                            .map(|i| i.get(&key).cloned().unwrap_or(Json::Object(Default::default())))
                            .collect();
                        let api = &ctx.data::<RequestContext>()?.api;
                        let results = api.model_by_id(id).bulk_create(inputs).await;
                        let result =
                            ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?;
                        Ok(Some(FieldValue::owned_any(result)))
                    })
                }
            },
        )
        .argument(InputValue::new(
            "inputs",
            TypeRef::named_nn_list_nn(bulk("Create") + "Input"),
        )),
    );
    let key = api.clone();
    fields.push(
        Field::new(
            format!("bulkUpdate{pascal_plural}"),
            TypeRef::named(bulk("Update") + "Result"),
            {
                let plural = plural.clone();
                move |ctx| {
                    let key = key.clone();
                    let plural = plural.clone();
                    FieldFuture::new(async move {
                        let mut inputs = Vec::new();
                        for input in bulk_inputs(&ctx)? {
                            let id = arg_id(input.get("id").unwrap_or(&Json::Null))?;
                            inputs.push((
                                id,
                                input
                                    .get(&key)
                                    .cloned()
                                    .unwrap_or(Json::Object(Default::default())),
                            ));
                        }
                        let api = &ctx.data::<RequestContext>()?.api;
                        let results = api.model_by_id(id).bulk_update(inputs).await;
                        let result =
                            ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?;
                        Ok(Some(FieldValue::owned_any(result)))
                    })
                }
            },
        )
        .argument(InputValue::new(
            "inputs",
            TypeRef::named_nn_list_nn(bulk("Update") + "Input"),
        )),
    );
    let key = api.clone();
    fields.push(
        Field::new(
            format!("bulkUpsert{pascal_plural}"),
            TypeRef::named(bulk("Upsert") + "Result"),
            {
                let plural = plural.clone();
                move |ctx| {
                    let key = key.clone();
                    let plural = plural.clone();
                    FieldFuture::new(async move {
                        let inputs = bulk_inputs(&ctx)?
                            .into_iter()
                            .map(|i| {
                                let on = i.get("on").map(arg_strings).unwrap_or_default();
                                (
                                    i.get(&key).cloned().unwrap_or(Json::Object(Default::default())),
                                    on,
                                )
                            })
                            .collect();
                        let api = &ctx.data::<RequestContext>()?.api;
                        let results = api.model_by_id(id).bulk_upsert(inputs).await;
                        let result =
                            ActionResult::of_bulk(&ctx, id, &plural, results, |(id, _)| Some(*id)).await?;
                        Ok(Some(FieldValue::owned_any(result)))
                    })
                }
            },
        )
        .argument(InputValue::new(
            "inputs",
            TypeRef::named_nn_list_nn(bulk("Upsert") + "Input"),
        )),
    );
    fields.push(
        Field::new(
            format!("bulkDelete{pascal_plural}"),
            TypeRef::named(bulk("Delete") + "Result"),
            {
                let plural = plural.clone();
                move |ctx| {
                    let plural = plural.clone();
                    FieldFuture::new(async move {
                        let ids = super::to_json(ctx.args.try_get("ids")?.as_value())?;
                        let ids = match ids {
                            Json::Array(ids) => ids.iter().map(arg_id).collect::<Result<Vec<_>, _>>()?,
                            one => vec![arg_id(&one)?],
                        };
                        let api = &ctx.data::<RequestContext>()?.api;
                        let results = api.model_by_id(id).bulk_delete(ids).await;
                        let result = ActionResult::of_bulk(&ctx, id, &plural, results, |_| None).await?;
                        Ok(Some(FieldValue::owned_any(result)))
                    })
                }
            },
        )
        .argument(InputValue::new("ids", TypeRef::named_nn_list_nn(GADGET_ID))),
    );
    (schema, fields)
}

/// The `inputs` list of a bulk action (a bare object counts as a list of one).
fn bulk_inputs(ctx: &ResolverContext) -> async_graphql::Result<Vec<Json>> {
    Ok(match super::to_json(ctx.args.try_get("inputs")?.as_value())? {
        Json::Array(items) => items,
        one => vec![one],
    })
}

/// A global action as a mutation field, with its result type registered.
pub fn global_action(mut schema: SchemaBuilder, action: Arc<dyn ErasedGlobal>) -> (SchemaBuilder, Field) {
    let result_type = result_type_of_global(action.as_ref());
    schema = schema.register(
        Object::new(&result_type)
            .field(success_field())
            .field(errors_field())
            .field(Field::new("result", TypeRef::named(JSON), |ctx| {
                with_result(&ctx, |r| {
                    r.result.as_ref().map(|json| {
                        FieldValue::value(async_graphql::Value::from_json(json.clone()).unwrap_or_default())
                    })
                })
            })),
    );
    let params = action.params();
    let mut field = Field::new(action.name(), TypeRef::named(result_type), move |ctx| {
        let action = action.clone();
        FieldFuture::new(async move {
            let mut params = serde_json::Map::new();
            for (name, value) in ctx.args.iter() {
                params.insert(name.to_string(), super::to_json(value.as_value())?);
            }
            let api = &ctx.data::<RequestContext>()?.api;
            let name = match action.namespace() {
                Some(ns) => format!("{ns}/{}", action.name()),
                None => action.name().to_owned(),
            };
            let result = api.run_global(&name, Json::Object(params)).await;
            Ok(Some(FieldValue::owned_any(ActionResult::of_json(result))))
        })
    });
    for argument in global_arguments(&params) {
        field = field.argument(argument);
    }
    (schema, field)
}

/// The arguments of a global action.
pub fn global_arguments(params: &[crate::action::Param]) -> Vec<InputValue> {
    let mut out = Vec::new();
    for p in params {
        let scalar = match p.ty {
            ParamType::String => TypeRef::STRING,
            ParamType::Number => TypeRef::FLOAT,
            ParamType::Boolean => TypeRef::BOOLEAN,
            ParamType::Id => GADGET_ID,
            ParamType::Json => JSON,
        };
        let ty = if p.required {
            TypeRef::named_nn(scalar)
        } else {
            TypeRef::named(scalar)
        };
        out.push(InputValue::new(p.name, ty));
    }
    out
}

/// A model's own action as a mutation field (`runSync(sync: {...})`, `abortSync(id)`),
/// answering like the generated ones: `success`, `errors`, `actionRun` and the record.
pub fn model_action(
    mut schema: SchemaBuilder,
    model: &Model,
    action: Arc<dyn crate::action::ModelAction>,
) -> (SchemaBuilder, Field) {
    let verb = pascal(action.name());
    let t = model.type_name();
    let (input_type, result_type) = (format!("{verb}{t}Input"), format!("{verb}{t}Result"));
    let mut input = InputObject::new(&input_type);
    for argument in global_arguments(&action.params()) {
        input = input.field(argument);
    }
    schema = schema.register(input).register(
        Object::new(&result_type)
            .field(success_field())
            .field(errors_field())
            .field(action_run_field())
            .field(record_field(model.api_id.clone(), model, false)),
    );
    let (key, model_id, on_record) = (model.api_id.clone(), model.id, action.on_record());
    let name = action.name();
    let mut field = Field::new(
        format!("{name}{}", pascal(&model.api_id)),
        TypeRef::named(result_type),
        move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move {
                let id = match on_record {
                    true => Some(arg_id(&super::to_json(ctx.args.try_get("id")?.as_value())?)?),
                    false => None,
                };
                let input = match ctx.args.get(key.as_str()) {
                    Some(value) => super::to_json(value.as_value())?,
                    None => Json::Object(Default::default()),
                };
                let api = &ctx.data::<RequestContext>()?.api;
                let result = api.model_by_id(model_id).act(name, id, input).await;
                Ok(Some(FieldValue::owned_any(
                    ActionResult::of_record(result).budgeted(&ctx),
                )))
            })
        },
    );
    if on_record {
        field = field.argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID)));
    }
    (
        schema,
        field.argument(InputValue::new(model.api_id.clone(), TypeRef::named(input_type))),
    )
}
