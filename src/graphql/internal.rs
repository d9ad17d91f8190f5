//! The internal API, as Gadget's `api.internal.<model>` managers call it: records as
//! plain JSON objects (every stored field, or the `select`ed ones), reads by id and by
//! page, and writes whose input is the record's own fields (`storeId` or
//! `store: {_link}`), `_atomics` included.
//!
//! It is the system's: every field refuses a caller that is not `system-admin` (the
//! system tenant). Its writes go through the action runtime like the public ones, so
//! validations, uniqueness and hooks apply to them too.

use super::RequestContext;
use super::errors::{ErrorCode, INVALID_QUERY_INPUT, coded, query_error};
use super::models::{filter_type, page_args, page_arguments, search_fields_type};
use super::results::{ActionResult, ErrorValue, errors_field, success_field};
use super::types::{GADGET_ID, JSON_OBJECT, PAGE_INFO, PageInfoValue};
use crate::action::ActionError;
use crate::model::{Model, Registry, RelationKind, pascal};
use crate::query::{Columns, Record, Tenant};
use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, SchemaBuilder, TypeRef,
};
use serde_json::Value as Json;
use std::sync::Arc;

/// Most records one `deleteMany` removes per round.
const DELETE_MANY_BATCH: u64 = 250;

fn ty(model: &Model, suffix: &str) -> String {
    format!("Internal{}{suffix}", model.type_name())
}

/// The internal API's two roots, `internal` on `Query` and on `Mutation`, with their
/// types registered.
pub(crate) fn register(mut schema: SchemaBuilder, registry: &Arc<Registry>) -> (SchemaBuilder, Field, Field) {
    let mut queries = Object::new("InternalQueries");
    let mut mutations = Object::new("InternalMutations");
    for (namespace, models) in registry.namespaces() {
        let mut reads = Object::new(format!("Internal{}Queries", pascal(namespace)));
        let mut writes = Object::new(format!("Internal{}Mutations", pascal(namespace)));
        for model in models.iter().copied() {
            schema = register_types(schema, registry, model);
            reads = reads.field(find_one(model)).field(list(registry, model));
            if model.generic_writes {
                for field in write_fields(model) {
                    writes = writes.field(field);
                }
            }
        }
        let (reads_name, writes_name) = (reads.type_name().to_owned(), writes.type_name().to_owned());
        schema = schema.register(reads).register(writes);
        queries = queries.field(namespace_field(namespace, reads_name));
        mutations = mutations.field(namespace_field(namespace, writes_name));
    }
    schema = schema.register(queries).register(mutations);
    let root = |name: &'static str| {
        Field::new("internal", TypeRef::named_nn(name), |_| {
            FieldFuture::Value(Some(FieldValue::owned_any(())))
        })
    };
    (schema, root("InternalQueries"), root("InternalMutations"))
}

fn namespace_field(namespace: &str, type_name: String) -> Field {
    Field::new(namespace, TypeRef::named_nn(type_name), |_| {
        FieldFuture::Value(Some(FieldValue::owned_any(())))
    })
}

/// Only the system uses the internal API.
fn system<'a>(ctx: &'a ResolverContext<'a>) -> async_graphql::Result<&'a RequestContext> {
    let context = ctx.data::<RequestContext>()?;
    if context.api.caller.tenant == Tenant::System {
        Ok(context)
    } else {
        Err(coded(
            ErrorCode::PermissionDenied,
            "the internal API is for system-admin API keys only",
        ))
    }
}

/// The record as the internal API shows it: every stored field it can show, or those
/// `select` names.
fn record_json(model: &Model, record: &Record, select: &Option<Vec<String>>) -> Json {
    let mut object = record.to_json_object(model);
    if let Some(select) = select {
        object.retain(|key, _| select.iter().any(|s| s == key));
    }
    Json::Object(object)
}

fn select_arg(ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<Vec<String>>> {
    match ctx.args.get("select").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => {
            let list = v.list()?;
            Ok(Some(
                list.iter()
                    .map(|s| s.string().map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            ))
        }
    }
}

fn id_arg(ctx: &ResolverContext<'_>) -> async_graphql::Result<i64> {
    let id = ctx.args.try_get("id")?;
    match id.as_value() {
        Value::String(s) => crate::query::value::parse_id(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| coded(INVALID_QUERY_INPUT, "`id` must be a record id"))
}

fn json_value(json: Json) -> FieldValue<'static> {
    FieldValue::value(Value::from_json(json).unwrap_or_default())
}

fn find_one(model: &Model) -> Field {
    let model_id = model.id;
    Field::new(model.api_id.clone(), TypeRef::named(JSON_OBJECT), move |ctx| {
        FieldFuture::new(async move {
            let context = system(&ctx)?;
            let id = id_arg(&ctx)?;
            let select = select_arg(&ctx)?;
            let model = context.reader.registry.get(model_id);
            let found = context.reader.find(model_id, id).await.map_err(query_error)?;
            Ok(found.map(|r| json_value(record_json(model, &r, &select))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID)))
    .argument(InputValue::new("select", TypeRef::named_nn_list(TypeRef::STRING)))
}

/// One page of records as JSON, with cursors.
struct JsonPage {
    edges: Vec<(String, Json)>,
    info: PageInfoValue,
}

fn list(registry: &Arc<Registry>, model: &Model) -> Field {
    let model_id = model.id;
    let registry = registry.clone();
    let field = Field::new(
        format!("list{}", pascal(&model.api_id)),
        TypeRef::named_nn(ty(model, "RecordConnection")),
        move |ctx| {
            let registry = registry.clone();
            FieldFuture::new(async move {
                let context = system(&ctx)?;
                let model = registry.get(model_id);
                let select = select_arg(&ctx)?;
                let args = page_args(&registry, model, ctx.args.as_index_map(), &context.input_limits)?;
                let page = context
                    .reader
                    .page(model_id, &args, &Columns::All, true)
                    .await
                    .map_err(query_error)?;
                let edges: Vec<(String, Json)> = page
                    .records
                    .iter()
                    .map(|r| (page.cursor(model, r), record_json(model, r, &select)))
                    .collect();
                let info = PageInfoValue {
                    has_next_page: page.has_next_page,
                    has_previous_page: page.has_previous_page,
                    start_cursor: edges.first().map(|e| e.0.clone()),
                    end_cursor: edges.last().map(|e| e.0.clone()),
                };
                Ok(Some(FieldValue::owned_any(JsonPage { edges, info })))
            })
        },
    )
    .argument(InputValue::new("select", TypeRef::named_nn_list(TypeRef::STRING)));
    page_arguments(field, model)
}

/// The connection and edge types of the lists, the input and the results of the writes.
fn register_types(schema: SchemaBuilder, registry: &Registry, model: &Model) -> SchemaBuilder {
    let connection = Object::new(ty(model, "RecordConnection"))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(ty(model, "RecordEdge")),
            |ctx| {
                FieldFuture::new(async move {
                    let page = ctx.parent_value.try_downcast_ref::<JsonPage>()?;
                    Ok(Some(FieldValue::list(
                        page.edges.iter().map(|edge| FieldValue::borrowed_any(edge)),
                    )))
                })
            },
        ))
        .field(Field::new("pageInfo", TypeRef::named_nn(PAGE_INFO), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<JsonPage>()?;
                Ok(Some(FieldValue::borrowed_any(&page.info)))
            })
        }));
    let edge = Object::new(ty(model, "RecordEdge"))
        .field(Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                let (cursor, _) = ctx.parent_value.try_downcast_ref::<(String, Json)>()?;
                Ok(Some(FieldValue::value(cursor.clone())))
            })
        }))
        .field(Field::new("node", TypeRef::named_nn(JSON_OBJECT), |ctx| {
            FieldFuture::new(async move {
                let (_, node) = ctx.parent_value.try_downcast_ref::<(String, Json)>()?;
                Ok(Some(json_value(node.clone())))
            })
        }));
    let mut schema = schema
        .register(connection)
        .register(edge)
        .register(record_input(registry, model));
    if model.generic_writes {
        let record = |name: String, field: &'static str| {
            Object::new(name)
                .field(success_field())
                .field(errors_field())
                .field(result_json_field(field))
        };
        let api = model.api_id.as_str();
        let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        let (one, many) = (leak(api), leak(&model.plural_api_id));
        schema = schema
            .register(record(result_name(model, "Create"), one))
            .register(record(result_name(model, "Update"), one))
            .register(record(result_name(model, "Upsert"), one))
            .register(record(result_name(model, "Delete"), one))
            .register(
                Object::new(format!("InternalDeleteMany{}Result", model.type_name()))
                    .field(success_field())
                    .field(errors_field()),
            )
            .register(
                Object::new(format!("InternalBulkCreate{}Result", model.plural_type_name()))
                    .field(success_field())
                    .field(errors_field())
                    .field(Field::new(many, TypeRef::named_list(super::types::JSON), |ctx| {
                        FieldFuture::new(async move {
                            let result = ctx.parent_value.try_downcast_ref::<ActionResult>()?;
                            // `[JSON]`, not `[JSONObject]`: a failed element is null, which
                            // the JSONObject scalar refuses.
                            let Some(Json::Array(records)) = &result.result else {
                                return Ok(None);
                            };
                            Ok(Some(FieldValue::list(records.iter().map(|r| match r {
                                Json::Null => FieldValue::value(Value::Null),
                                r => json_value(r.clone()),
                            }))))
                        })
                    })),
            );
    }
    schema
}

fn result_name(model: &Model, verb: &str) -> String {
    format!("Internal{verb}{}Result", model.type_name())
}

/// The written record(s) of an internal result, as JSON.
fn result_json_field(name: &'static str) -> Field {
    Field::new(name, TypeRef::named(JSON_OBJECT), move |ctx| {
        FieldFuture::new(async move {
            let result = ctx.parent_value.try_downcast_ref::<ActionResult>()?;
            Ok(result.result.clone().map(json_value))
        })
    })
}

/// `Internal<Model>Input`: the stored fields (belongsTo as `xId` or `x: {_link}`) and
/// `_atomics`.
fn record_input(registry: &Registry, model: &Model) -> InputObject {
    let mut input =
        InputObject::new(ty(model, "Input")).field(InputValue::new("id", TypeRef::named(GADGET_ID)));
    for f in model.fields.iter().filter(|f| !f.is_managed() && !f.hidden) {
        input = input.field(InputValue::new(
            f.api_id.clone(),
            TypeRef::named(super::types::scalar_of(f.ty)),
        ));
    }
    for relation in &model.relations {
        // `store: {_link: "5"}`, as well as `storeId: "5"`.
        if let RelationKind::BelongsTo { .. } = relation.kind
            && registry.get(relation.target).id == relation.target
        {
            input = input.field(InputValue::new(
                relation.api_id.clone(),
                TypeRef::named(JSON_OBJECT),
            ));
        }
    }
    if !super::inputs::atomic_fields(model).is_empty() {
        input = input.field(InputValue::new(
            "_atomics",
            TypeRef::named(format!("{}AtomicsInput", model.type_name())),
        ));
    }
    input
}

/// The internal input as the runtime takes it: `storeId: "5"` becomes
/// `store: {_link: "5"}`; anything else is already in its shape.
fn runtime_input(model: &Model, input: Json) -> Result<(Option<i64>, Json), ActionError> {
    let Json::Object(mut map) = input else {
        return Err(ActionError::InvalidInput(format!(
            "input for {} must be an object",
            model.api_id
        )));
    };
    let id = match map.remove("id") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(
            crate::query::value::parse_id(&s)
                .ok_or_else(|| ActionError::InvalidInput(format!("`{s}` is not a record id")))?,
        ),
        Some(other) => other
            .as_i64()
            .filter(|i| *i > 0)
            .map(Some)
            .ok_or_else(|| ActionError::InvalidInput(format!("`{other}` is not a record id")))?,
    };
    for relation in &model.relations {
        if let RelationKind::BelongsTo { field } = relation.kind {
            let key = &model.fields[field].api_id;
            if let Some(value) = map.remove(key) {
                map.insert(relation.api_id.clone(), serde_json::json!({ "_link": value }));
            }
        }
    }
    Ok((id, Json::Object(map)))
}

fn input_arg(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Json> {
    match ctx.args.get(name) {
        Some(v) if !v.is_null() => super::to_json(v.as_value()),
        _ => Ok(Json::Object(Default::default())),
    }
}

fn write_fields(model: &Model) -> Vec<Field> {
    let pascal_api = pascal(&model.api_id);
    let id = model.id;
    let input_type = ty(model, "Input");
    let mut fields: Vec<Field> = [Write::Create, Write::Update, Write::Upsert]
        .into_iter()
        .map(|write| single_write(model, write, &input_type))
        .collect();
    fields.push(
        Field::new(
            format!("delete{pascal_api}"),
            TypeRef::named(result_name(model, "Delete")),
            move |ctx| {
                FieldFuture::new(async move {
                    let context = system(&ctx)?;
                    let model = context.api.registry.get(id);
                    let record_id = id_arg(&ctx)?;
                    let before = context.reader.find(id, record_id).await.map_err(query_error)?;
                    let deleted = context.api.model_by_id(id).delete(record_id).await;
                    let mut result = ActionResult::of_unit(deleted);
                    if result.success {
                        result.result = before.map(|r| record_json(model, &r, &None));
                    }
                    Ok(Some(FieldValue::owned_any(result)))
                })
            },
        )
        .argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
    );

    fields.push(
        Field::new(
            format!("deleteMany{pascal_api}"),
            TypeRef::named(format!("InternalDeleteMany{}Result", model.type_name())),
            move |ctx| {
                FieldFuture::new(async move {
                    let context = system(&ctx)?;
                    let registry = context.api.registry.clone();
                    let model = registry.get(id);
                    let mut args = page_args(&registry, model, ctx.args.as_index_map(), &context.input_limits)?;
                    args.first = Some(DELETE_MANY_BATCH);
                    let mut errors = Vec::new();
                    // Round after round of the first matching ids, until none match.
                    loop {
                        let page = context
                            .reader
                            .page(id, &args, &Columns::id_only(model), false)
                            .await
                            .map_err(query_error)?;
                        let ids: Vec<i64> = page.records.iter().map(Record::id).collect();
                        if ids.is_empty() {
                            break;
                        }
                        let failed: Vec<ErrorValue> = context
                            .api
                            .model_by_id(id)
                            .bulk_delete(ids)
                            .await
                            .iter()
                            .filter_map(|r| r.as_ref().err().map(ErrorValue::from))
                            .collect();
                        if !failed.is_empty() {
                            errors = failed;
                            break;
                        }
                    }
                    Ok(Some(FieldValue::owned_any(ActionResult {
                        success: errors.is_empty(),
                        errors,
                        ..Default::default()
                    })))
                })
            },
        )
        .argument(InputValue::new("search", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new(
            "filter",
            TypeRef::named_nn_list(filter_type(model)),
        ))
        .argument(InputValue::new(
            "searchFields",
            TypeRef::named(search_fields_type(model)),
        )),
    );

    let plural = model.plural_api_id.clone();
    fields.push(
        Field::new(
            format!("bulkCreate{}", pascal(&model.plural_api_id)),
            TypeRef::named(format!("InternalBulkCreate{}Result", model.plural_type_name())),
            move |ctx| {
                let plural = plural.clone();
                FieldFuture::new(async move {
                    let context = system(&ctx)?;
                    let model = context.api.registry.get(id);
                    let inputs = match ctx.args.get(&plural) {
                        Some(v) if !v.is_null() => v
                            .list()?
                            .iter()
                            .map(|v| super::to_json(v.as_value()))
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => Vec::new(),
                    };
                    let mut shaped = Vec::with_capacity(inputs.len());
                    let mut errors = Vec::new();
                    for input in inputs {
                        match runtime_input(model, input) {
                            Ok((_, input)) => shaped.push(input),
                            Err(e) => errors.push(ErrorValue::from(&e)),
                        }
                    }
                    if !errors.is_empty() {
                        return Ok(Some(FieldValue::owned_any(ActionResult {
                            errors,
                            ..Default::default()
                        })));
                    }
                    let results = context.api.model_by_id(id).bulk_create(shaped).await;
                    let ids: Vec<i64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
                    let errors: Vec<ErrorValue> = results
                        .iter()
                        .filter_map(|r| r.as_ref().err().map(ErrorValue::from))
                        .collect();
                    let found = context.reader.find_many(id, &ids).await.map_err(query_error)?;
                    let records: Vec<Json> = results
                        .iter()
                        .map(|r| match r {
                            Ok(rid) => found
                                .iter()
                                .find(|f| f.id() == *rid)
                                .map(|f| record_json(model, f, &None))
                                .unwrap_or(Json::Null),
                            Err(_) => Json::Null,
                        })
                        .collect();
                    Ok(Some(FieldValue::owned_any(ActionResult {
                        success: errors.is_empty(),
                        errors,
                        result: Some(Json::Array(records)),
                        ..Default::default()
                    })))
                })
            },
        )
        .argument(InputValue::new(
            model.plural_api_id.clone(),
            TypeRef::named_list_nn(input_type),
        )),
    );
    fields
}

/// The writes of one record, each run as the public action of the same verb.
#[derive(Clone, Copy)]
enum Write {
    Create,
    Update,
    Upsert,
}

fn single_write(model: &Model, write: Write, input_type: &str) -> Field {
    let verb = match write {
        Write::Create => "Create",
        Write::Update => "Update",
        Write::Upsert => "Upsert",
    };
    let (key, id) = (model.api_id.clone(), model.id);
    let field = Field::new(
        format!("{}{}", verb.to_lowercase(), pascal(&model.api_id)),
        TypeRef::named(result_name(model, verb)),
        move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move {
                let context = system(&ctx)?;
                let model = context.api.registry.get(id);
                let input = input_arg(&ctx, &key)?;
                let record_id = match write {
                    Write::Update => Some(id_arg(&ctx)?),
                    _ => None,
                };
                let on: Vec<String> = match ctx.args.get("on").filter(|v| !v.is_null()) {
                    Some(v) => v
                        .list()?
                        .iter()
                        .map(|s| s.string().map(str::to_owned))
                        .collect::<Result<_, _>>()?,
                    None => vec!["id".to_owned()],
                };
                let written = async {
                    let (given_id, mut input) = runtime_input(model, input)?;
                    let api = context.api.model_by_id(id);
                    match (write, record_id) {
                        (Write::Update, Some(record_id)) => api.update(record_id, input).await,
                        (Write::Upsert, _) => {
                            // An upsert on `id` matches the id the input gives.
                            if let (Some(given), Json::Object(map)) = (given_id, &mut input) {
                                map.insert("id".into(), Json::String(given.to_string()));
                            }
                            let on: Vec<&str> = on.iter().map(String::as_str).collect();
                            api.upsert(input, &on).await.map(|(r, _)| r)
                        }
                        _ => api.create(input).await,
                    }
                }
                .await;
                Ok(Some(FieldValue::owned_any(record_result(model, written))))
            })
        },
    );
    let field = match write {
        Write::Create => field,
        Write::Update => field.argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
        Write::Upsert => field.argument(InputValue::new("on", TypeRef::named_nn_list(TypeRef::STRING))),
    };
    field.argument(InputValue::new(model.api_id.clone(), TypeRef::named(input_type)))
}

/// A single write's result, its record as JSON.
fn record_result(model: &Model, written: Result<Record, ActionError>) -> ActionResult {
    let json = written.as_ref().ok().map(|r| record_json(model, r, &None));
    let mut result = ActionResult::of_record(written);
    result.record = None;
    result.result = json;
    result
}
