//! The generated mutations: create, update, delete, upsert and the bulk actions of
//! every model, global actions, and each model's own actions. Every resolver here
//! calls the action runtime; none writes itself. The types they take are in
//! [`super::inputs`], the types they answer with in [`super::results`].

use super::RequestContext;
use super::args::{id_arg, params_of};
use super::inputs::{self, Names};
use super::verbs::Verb;
use crate::queue::Job;
use super::results::{
    ActionResult, EXECUTION_ERROR, action_run_field, errors_field, json_result_field, record_field,
    result_type_of_global, success_field,
};
use super::types::{GADGET_ID, JSON};
use crate::action::{ErasedGlobal, ParamType, Upserted};
use crate::model::{Model, Registry, pascal};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField, Object,
    SchemaBuilder, TypeRef,
};
use serde_json::Value as Json;
use std::sync::Arc;

/// Register the write types of `model` and return its mutation fields.
pub(crate) fn register_model(
    mut schema: SchemaBuilder,
    registry: &Arc<Registry>,
    model: &Model,
) -> (SchemaBuilder, Vec<Field>) {
    let n = Names::of(model);
    schema = inputs::register(schema, registry, model, &n);
    schema = register_results(schema, model, &n);
    let fields = Verb::ALL.into_iter().map(|verb| model_field(model, &n, verb)).collect();
    (schema, fields)
}

/// The result types of a model's writes. Create and update results implement the
/// upsert result: an upsert answers as whichever it turned out to be.
fn register_results(mut schema: SchemaBuilder, model: &Model, n: &Names) -> SchemaBuilder {
    let api = model.api_id.clone();
    let plural = model.plural_api_id.clone();
    let upsert_result = n.upsert_result();
    schema = schema.register(
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
    for result in [n.create_result(), n.update_result()] {
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
        Object::new(n.delete_result())
            .field(success_field())
            .field(errors_field())
            .field(action_run_field()),
    );
    for verb in ["Create", "Update", "Upsert"] {
        schema = schema.register(
            Object::new(n.bulk_result(verb))
                .field(success_field())
                .field(errors_field())
                .field(record_field(plural.clone(), model, true)),
        );
    }
    schema.register(
        Object::new(n.bulk_result("Delete"))
            .field(success_field())
            .field(errors_field()),
    )
}

/// The mutation of `verb` on `model`: its name, arguments and result type from the verb
/// table, its arguments parsed into runtime calls there too, and the calls run here.
fn model_field(model: &Model, n: &Names, verb: Verb) -> Field {
    let id = model.id;
    let plural: Arc<str> = model.plural_api_id.clone().into();
    let (created, updated) = (n.result("Create"), n.result("Update"));
    let field = Field::new(
        verb.field_name(model),
        TypeRef::named(verb.result_type(n)),
        move |ctx| {
            let plural = plural.clone();
            let (created, updated) = (created.clone(), updated.clone());
            FieldFuture::new(async move {
                let api = &ctx.data::<RequestContext>()?.api;
                let calls = verb.calls(&ctx, api.registry.get(id))?;
                let records = api.model_by_id(id);
                let value = match verb {
                    Verb::Create | Verb::Update | Verb::Delete | Verb::Upsert => {
                        let Some(call) = calls.into_iter().next() else {
                            return Ok(None);
                        };
                        match call {
                            Job::Create { input, .. } => {
                                FieldValue::owned_any(ActionResult::of_record(records.create(input).await).budgeted(&ctx))
                            }
                            Job::Update { id, input, .. } => FieldValue::owned_any(
                                ActionResult::of_record(records.update(id, input).await).budgeted(&ctx),
                            ),
                            Job::Delete { id, .. } => FieldValue::owned_any(ActionResult::of_unit(records.delete(id).await)),
                            Job::Upsert { input, on, .. } => {
                                let on: Vec<&str> = on.iter().map(String::as_str).collect();
                                // An upsert answers as the create or the update it turned out to be;
                                // a failed one as the update it would have been.
                                let (result, ty) = match records.upsert(input, &on).await {
                                    Ok((record, Upserted::Created)) => (ActionResult::of_record(Ok(record)), created),
                                    Ok((record, _)) => (ActionResult::of_record(Ok(record)), updated),
                                    Err(e) => (ActionResult::of_record(Err(e)), updated),
                                };
                                FieldValue::owned_any(result.budgeted(&ctx)).with_type(ty)
                            }
                            Job::Global { .. } => return Ok(None),
                        }
                    }
                    Verb::BulkCreate => {
                        let inputs = calls.into_iter().filter_map(|c| match c {
                            Job::Create { input, .. } => Some(input),
                            _ => None,
                        });
                        let results = records.bulk_create(inputs.collect()).await;
                        FieldValue::owned_any(ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?)
                    }
                    Verb::BulkUpdate => {
                        let inputs = calls.into_iter().filter_map(|c| match c {
                            Job::Update { id, input, .. } => Some((id, input)),
                            _ => None,
                        });
                        let results = records.bulk_update(inputs.collect()).await;
                        FieldValue::owned_any(ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?)
                    }
                    Verb::BulkUpsert => {
                        let inputs = calls.into_iter().filter_map(|c| match c {
                            Job::Upsert { input, on, .. } => Some((input, on)),
                            _ => None,
                        });
                        let results = records.bulk_upsert(inputs.collect()).await;
                        FieldValue::owned_any(
                            ActionResult::of_bulk(&ctx, id, &plural, results, |(id, _)| Some(*id)).await?,
                        )
                    }
                    Verb::BulkDelete => {
                        let ids = calls.into_iter().filter_map(|c| match c {
                            Job::Delete { id, .. } => Some(id),
                            _ => None,
                        });
                        let results = records.bulk_delete(ids.collect()).await;
                        FieldValue::owned_any(ActionResult::of_bulk(&ctx, id, &plural, results, |_| None).await?)
                    }
                };
                Ok(Some(value))
            })
        },
    );
    verb.arguments(model, n).into_iter().fold(field, Field::argument)
}

/// A global action as a mutation field, with its result type registered.
pub(crate) fn global_action(
    mut schema: SchemaBuilder,
    action: Arc<dyn ErasedGlobal>,
) -> (SchemaBuilder, Field) {
    let result_type = result_type_of_global(action.as_ref());
    schema = schema.register(
        Object::new(&result_type)
            .field(success_field())
            .field(errors_field())
            .field(json_result_field()),
    );
    let params = action.params();
    let mut field = Field::new(action.name(), TypeRef::named(result_type), move |ctx| {
        let action = action.clone();
        FieldFuture::new(async move {
            let params = params_of(&ctx, &[])?;
            let api = &ctx.data::<RequestContext>()?.api;
            let result = api.run_global(&action.qualified_name(), params).await;
            Ok(Some(FieldValue::owned_any(ActionResult::of_json(result))))
        })
    });
    for argument in global_arguments(&params) {
        field = field.argument(argument);
    }
    (schema, field)
}

/// The arguments of a global action.
pub(crate) fn global_arguments(params: &[crate::action::Param]) -> Vec<InputValue> {
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
pub(crate) fn model_action(
    mut schema: SchemaBuilder,
    model: &Model,
    action: Arc<dyn crate::action::ModelAction>,
) -> (SchemaBuilder, Field) {
    let verb = pascal(action.name());
    let n = Names::of(model);
    let (input_type, result_type) = (n.input(&verb), n.result(&verb));
    // An action without parameters takes no input: GraphQL has no empty input type.
    let arguments = global_arguments(&action.params());
    let takes_input = !arguments.is_empty();
    if takes_input {
        let mut input = InputObject::new(&input_type);
        for argument in arguments {
            input = input.field(argument);
        }
        schema = schema.register(input);
    }
    schema = schema.register(
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
                    true => Some(id_arg(&ctx)?),
                    false => None,
                };
                // An explicit null goes to the action as null (`arg_json` would read `{}`).
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
    if takes_input {
        field = field.argument(InputValue::new(model.api_id.clone(), TypeRef::named(input_type)));
    }
    (schema, field)
}
