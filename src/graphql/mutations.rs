//! The generated mutations: create, update, delete, upsert and the bulk actions of
//! every model, global actions, and each model's own actions. Every resolver here
//! calls the action runtime; none writes itself. The types they take are in
//! [`super::inputs`], the types they answer with in [`super::results`].

use super::RequestContext;
use super::args::{
    arg_id, arg_json, arg_list, arg_strings, bulk_inputs, element_id, element_input, id_arg, on_arg,
    params_of,
};
use super::inputs::{self, Names};
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
    let fields = vec![
        create_field(model, &n),
        update_field(model, &n),
        delete_field(model, &n),
        upsert_field(model, &n),
        bulk_create_field(model, &n),
        bulk_update_field(model, &n),
        bulk_upsert_field(model, &n),
        bulk_delete_field(model, &n),
    ];
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

/// `create<Model>(<model>: {...})`
fn create_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    Field::new(
        format!("create{}", pascal(&model.api_id)),
        TypeRef::named(n.create_result()),
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
    .argument(InputValue::new(
        model.api_id.clone(),
        TypeRef::named(n.create_input()),
    ))
}

/// `update<Model>(id, <model>: {...})`
fn update_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    Field::new(
        format!("update{}", pascal(&model.api_id)),
        TypeRef::named(n.update_result()),
        move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move {
                let record_id = id_arg(&ctx)?;
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
    .argument(InputValue::new(
        model.api_id.clone(),
        TypeRef::named(n.update_input()),
    ))
}

/// `delete<Model>(id)`
fn delete_field(model: &Model, n: &Names) -> Field {
    let id = model.id;
    Field::new(
        format!("delete{}", pascal(&model.api_id)),
        TypeRef::named(n.delete_result()),
        move |ctx| {
            FieldFuture::new(async move {
                let record_id = id_arg(&ctx)?;
                let api = &ctx.data::<RequestContext>()?.api;
                Ok(Some(FieldValue::owned_any(ActionResult::of_unit(
                    api.model_by_id(id).delete(record_id).await,
                ))))
            })
        },
    )
    .argument(InputValue::new("id", TypeRef::named_nn(GADGET_ID)))
}

/// `upsert<Model>(on, <model>: {...})`: answers as a create or an update result.
fn upsert_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    let (created, updated) = (n.create_result(), n.update_result());
    Field::new(
        format!("upsert{}", pascal(&model.api_id)),
        TypeRef::named(n.upsert_result()),
        move |ctx| {
            let key = key.clone();
            let (created, updated) = (created.clone(), updated.clone());
            FieldFuture::new(async move {
                let input = arg_json(&ctx, &key)?;
                let on = on_arg(&ctx)?;
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
    .argument(InputValue::new(
        model.api_id.clone(),
        TypeRef::named(n.upsert_input()),
    ))
}

/// `bulkCreate<Models>(inputs: [{<model>: {...}}])`
fn bulk_create_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    let plural: Arc<str> = model.plural_api_id.clone().into();
    Field::new(
        format!("bulkCreate{}", pascal(&model.plural_api_id)),
        TypeRef::named(n.bulk_result("Create")),
        move |ctx| {
            let key = key.clone();
            let plural = plural.clone();
            FieldFuture::new(async move {
                let inputs = bulk_inputs(&ctx)?
                    .iter()
                    .map(|i| element_input(i, &key))
                    .collect();
                let api = &ctx.data::<RequestContext>()?.api;
                let results = api.model_by_id(id).bulk_create(inputs).await;
                let result = ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?;
                Ok(Some(FieldValue::owned_any(result)))
            })
        },
    )
    .argument(InputValue::new(
        "inputs",
        TypeRef::named_nn_list_nn(n.bulk_input("Create")),
    ))
}

/// `bulkUpdate<Models>(inputs: [{id, <model>: {...}}])`
fn bulk_update_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    let plural: Arc<str> = model.plural_api_id.clone().into();
    Field::new(
        format!("bulkUpdate{}", pascal(&model.plural_api_id)),
        TypeRef::named(n.bulk_result("Update")),
        move |ctx| {
            let key = key.clone();
            let plural = plural.clone();
            FieldFuture::new(async move {
                let mut inputs = Vec::new();
                for input in bulk_inputs(&ctx)? {
                    inputs.push((element_id(&input)?, element_input(&input, &key)));
                }
                let api = &ctx.data::<RequestContext>()?.api;
                let results = api.model_by_id(id).bulk_update(inputs).await;
                let result = ActionResult::of_bulk(&ctx, id, &plural, results, |id| Some(*id)).await?;
                Ok(Some(FieldValue::owned_any(result)))
            })
        },
    )
    .argument(InputValue::new(
        "inputs",
        TypeRef::named_nn_list_nn(n.bulk_input("Update")),
    ))
}

/// `bulkUpsert<Models>(inputs: [{on, <model>: {...}}])`
fn bulk_upsert_field(model: &Model, n: &Names) -> Field {
    let (id, key) = (model.id, model.api_id.clone());
    let plural: Arc<str> = model.plural_api_id.clone().into();
    Field::new(
        format!("bulkUpsert{}", pascal(&model.plural_api_id)),
        TypeRef::named(n.bulk_result("Upsert")),
        move |ctx| {
            let key = key.clone();
            let plural = plural.clone();
            FieldFuture::new(async move {
                let inputs = bulk_inputs(&ctx)?
                    .iter()
                    .map(|i| (element_input(i, &key), arg_strings(i.get("on"))))
                    .collect();
                let api = &ctx.data::<RequestContext>()?.api;
                let results = api.model_by_id(id).bulk_upsert(inputs).await;
                let result = ActionResult::of_bulk(&ctx, id, &plural, results, |(id, _)| Some(*id)).await?;
                Ok(Some(FieldValue::owned_any(result)))
            })
        },
    )
    .argument(InputValue::new(
        "inputs",
        TypeRef::named_nn_list_nn(n.bulk_input("Upsert")),
    ))
}

/// `bulkDelete<Models>(ids)`
fn bulk_delete_field(model: &Model, n: &Names) -> Field {
    let id = model.id;
    let plural: Arc<str> = model.plural_api_id.clone().into();
    Field::new(
        format!("bulkDelete{}", pascal(&model.plural_api_id)),
        TypeRef::named(n.bulk_result("Delete")),
        move |ctx| {
            let plural = plural.clone();
            FieldFuture::new(async move {
                let ids = arg_list(&ctx, "ids")?
                    .iter()
                    .map(arg_id)
                    .collect::<Result<Vec<_>, _>>()?;
                let api = &ctx.data::<RequestContext>()?.api;
                let results = api.model_by_id(id).bulk_delete(ids).await;
                let result = ActionResult::of_bulk(&ctx, id, &plural, results, |_| None).await?;
                Ok(Some(FieldValue::owned_any(result)))
            })
        },
    )
    .argument(InputValue::new("ids", TypeRef::named_nn_list_nn(GADGET_ID)))
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
            let name = match action.namespace() {
                Some(ns) => format!("{ns}/{}", action.name()),
                None => action.name().to_owned(),
            };
            let result = api.run_global(&name, params).await;
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
    (
        schema,
        field.argument(InputValue::new(model.api_id.clone(), TypeRef::named(input_type))),
    )
}
