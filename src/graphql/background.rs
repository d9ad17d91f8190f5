//! Background actions over GraphQL: `background { <ns> { <action>(..., backgroundOptions) } }`
//! for every action, `background { cancel(id) }`, and the `backgroundAction(id)`
//! subscription that reports the outcome and the action's typed result.

use super::RequestContext;
use super::args::{
    params_of,
};
use super::errors::ErrorCode;
use super::inputs::Names;
use super::verbs::Verb;
use super::parent::{from_parent, parent_field};
use super::results::{ActionResult, EXECUTION_ERROR, ErrorValue, error_list, result_type_of_global};
use super::types::DATE_TIME;
use crate::action::{ActionError, Api, ErasedGlobal, GlobalActions};
use crate::model::{Model, ModelId, Registry};
use crate::queue::{BackgroundAction, Job, Options, State};
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, SchemaBuilder,
    Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef, Union,
};
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;

pub const OPTIONS: &str = "EnqueueBackgroundActionOptions";
const RETRY_POLICY: &str = "BackgroundActionRetryPolicy";
const QUEUE: &str = "BackgroundActionQueue";
const PRIORITY: &str = "BackgroundActionPriority";
const OUTCOME: &str = "BackgroundActionOutcome";
const STATUS: &str = "BackgroundActionStatus";

/// What the client's `getBackgroundActionStatusOperation` reads.
fn status_of(job: &BackgroundAction) -> &'static str {
    match job.state {
        State::Waiting if job.attempts > 0 => "retrying",
        State::Waiting if job.run_at > chrono::Utc::now() => "scheduled",
        State::Waiting => "waiting",
        State::Running => "running",
        State::Completed => "completed",
        State::Failed => "failed",
        State::Cancelled => "cancelled",
    }
}
const BACKGROUND_ACTION: &str = "BackgroundAction";
const RESULT_UNION: &str = "BackgroundActionResult";
const ENQUEUE_RESULT: &str = "EnqueueBackgroundActionResult";
const ENQUEUE_BULK_RESULT: &str = "BulkEnqueueBackgroundActionResult";
const CANCEL_RESULT: &str = "CancelBackgroundActionResult";
const BULK_CANCEL_RESULT: &str = "BulkCancelBackgroundActionResult";

/// How often a subscription looks at its job: jobs may run in another process.
const POLL: Duration = Duration::from_millis(100);

/// A background action as GraphQL shows it.
struct Handle {
    id: String,
    /// `scheduled waiting retrying running completed failed cancelled`, when known.
    status: Option<&'static str>,
    outcome: Option<&'static str>,
    /// The action's result and its GraphQL type, once final.
    result: Option<(ActionResult, String)>,
}

/// What an enqueue or cancel answers.
#[derive(Default)]
struct Enqueued {
    errors: Vec<ErrorValue>,
    handles: Vec<Handle>,
}

fn handle(id: String) -> Handle {
    Handle {
        id,
        status: None,
        outcome: None,
        result: None,
    }
}

/// One write of a model, or a global action, as the `background` namespace offers it.
#[derive(Clone)]
enum Action {
    Model { model: ModelId, verb: Verb },
    Global(Arc<dyn ErasedGlobal>),
}


/// The input types, the result types and the subscription root.
pub fn register_shared(schema: SchemaBuilder, registry: &Registry, globals: &GlobalActions) -> SchemaBuilder {
    let mut union = Union::new(RESULT_UNION);
    for model in registry
        .namespaces()
        .into_iter()
        .flat_map(|(_, models)| models)
        .filter(|m| m.generic_writes)
    {
        let n = Names::of(model);
        for ty in [n.create_result(), n.update_result(), n.delete_result()] {
            union = union.possible_type(ty);
        }
    }
    for action in globals.all().iter().filter(|a| !a.internal()) {
        union = union.possible_type(result_type_of_global(action.as_ref()));
    }
    let handle_fields = |obj: Object| {
        obj.field(parent_field::<Handle>(
            "id",
            TypeRef::named_nn(TypeRef::STRING),
            |h| Some(FieldValue::value(h.id.clone())),
        ))
        .field(parent_field::<Handle>("status", TypeRef::named(STATUS), |h| {
            h.status.map(enum_value)
        }))
        .field(parent_field::<Handle>("outcome", TypeRef::named(OUTCOME), |h| {
            h.outcome.map(enum_value)
        }))
        .field(parent_field::<Handle>(
            "result",
            TypeRef::named(RESULT_UNION),
            |h| {
                h.result
                    .as_ref()
                    .map(|(r, ty)| FieldValue::borrowed_any(r).with_type(ty.clone()))
            },
        ))
    };
    let enqueue_fields = |obj: Object| {
        obj.field(parent_field::<Enqueued>(
            "success",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            |r| Some(FieldValue::value(r.errors.is_empty())),
        ))
        .field(parent_field::<Enqueued>(
            "errors",
            TypeRef::named_nn_list(EXECUTION_ERROR),
            |r| error_list(&r.errors),
        ))
    };
    schema
        .register(
            Enum::new(PRIORITY)
                .item("LOW")
                .item("DEFAULT")
                .item("HIGH")
                .item("PLATFORM"),
        )
        .register(
            Enum::new(OUTCOME)
                .item("completed")
                .item("failed")
                .item("cancelled"),
        )
        .register(
            Enum::new(STATUS)
                .item("scheduled")
                .item("waiting")
                .item("retrying")
                .item("running")
                .item("completed")
                .item("failed")
                .item("cancelled"),
        )
        .register(
            InputObject::new(RETRY_POLICY)
                .field(InputValue::new("retryCount", TypeRef::named(TypeRef::INT)))
                .field(InputValue::new("initialInterval", TypeRef::named(TypeRef::INT)))
                .field(InputValue::new("maxInterval", TypeRef::named(TypeRef::INT)))
                .field(InputValue::new("backoffFactor", TypeRef::named(TypeRef::FLOAT)))
                .field(InputValue::new(
                    "randomizeInterval",
                    TypeRef::named(TypeRef::BOOLEAN),
                )),
        )
        .register(
            InputObject::new(QUEUE)
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("maxConcurrency", TypeRef::named(TypeRef::INT))),
        )
        .register(
            InputObject::new(OPTIONS)
                .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("retries", TypeRef::named(RETRY_POLICY)))
                .field(InputValue::new("queue", TypeRef::named(QUEUE)))
                .field(InputValue::new("priority", TypeRef::named(PRIORITY)))
                .field(InputValue::new("startAt", TypeRef::named(DATE_TIME))),
        )
        .register(union)
        .register(handle_fields(Object::new(BACKGROUND_ACTION)))
        .register(enqueue_fields(Object::new(ENQUEUE_RESULT)).field(Field::new(
            "backgroundAction",
            TypeRef::named(BACKGROUND_ACTION),
            single_handle,
        )))
        .register(enqueue_fields(Object::new(CANCEL_RESULT)).field(Field::new(
            "backgroundAction",
            TypeRef::named(BACKGROUND_ACTION),
            single_handle,
        )))
        .register(enqueue_fields(Object::new(ENQUEUE_BULK_RESULT)).field(handles_field()))
        .register(enqueue_fields(Object::new(BULK_CANCEL_RESULT)).field(handles_field()))
}

/// An enum value (`status`, `outcome`) as GraphQL output.
fn enum_value<'a>(name: &'static str) -> FieldValue<'a> {
    FieldValue::value(async_graphql::Value::Enum(async_graphql::Name::new(name)))
}

/// `backgroundActions` of a bulk answer.
fn handles_field() -> Field {
    parent_field::<Enqueued>(
        "backgroundActions",
        TypeRef::named_nn_list_nn(BACKGROUND_ACTION),
        |r| {
            Some(FieldValue::list(
                r.handles.iter().map(|h| FieldValue::borrowed_any(h)),
            ))
        },
    )
}

fn single_handle(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    from_parent::<Enqueued>(&ctx, |r| r.handles.first().map(|h| FieldValue::borrowed_any(h)))
}

/// The `Subscription` root: `backgroundAction(id)`.
pub fn subscription() -> Subscription {
    Subscription::new("Subscription").field(
        SubscriptionField::new("backgroundAction", TypeRef::named(BACKGROUND_ACTION), |ctx| {
            SubscriptionFieldFuture::new(async move {
                let id = ctx.args.try_get("id")?.string()?.to_owned();
                let api = ctx.data::<RequestContext>()?.api.clone();
                let stream = futures::stream::unfold(Some((api, id, true)), |state| async move {
                    let (api, id, first) = state?;
                    loop {
                        if !first {
                            tokio::time::sleep(POLL).await;
                        }
                        let job = match api.background_action(&id).await {
                            Ok(Some(job)) => job,
                            Ok(None) => {
                                let err = super::coded(
                                    ErrorCode::RecordNotFound,
                                    format!("no background action {id}"),
                                );
                                return Some((Err(err), None));
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "reading a background action");
                                let err = super::coded(super::errors::INTERNAL_ERROR, "internal error");
                                return Some((Err(err), None));
                            }
                        };
                        if job.state.is_final() {
                            let value = final_handle(&api, &job).await;
                            return Some((Ok(FieldValue::owned_any(value)), None));
                        }
                        if first {
                            let mut value = handle(job.id.clone());
                            value.status = Some(status_of(&job));
                            return Some((Ok(FieldValue::owned_any(value)), Some((api, id, false))));
                        }
                    }
                });
                Ok(stream)
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING))),
    )
}

/// A finished job with its result as the action's own result type.
async fn final_handle(api: &Api, job: &BackgroundAction) -> Handle {
    let outcome = match job.state {
        State::Completed => "completed",
        State::Cancelled => "cancelled",
        _ => "failed",
    };
    let stored = job.result.clone().unwrap_or(Json::Null);
    let mut result = ActionResult::default();
    if job.state == State::Completed {
        result.success = true;
    } else if let Some(errors) = stored.get("errors").and_then(Json::as_array) {
        result.errors = errors
            .iter()
            .map(|e| {
                ErrorValue::stored(
                    e.get("code")
                        .and_then(Json::as_str)
                        .unwrap_or(ErrorCode::InternalError.as_str()),
                    e.get("message")
                        .and_then(Json::as_str)
                        .unwrap_or("failed")
                        .to_owned(),
                )
            })
            .collect();
    } else {
        let message = job
            .last_error
            .clone()
            .unwrap_or_else(|| format!("background action {outcome}"));
        result.errors = vec![ErrorValue::coded(ErrorCode::BackgroundActionCancelled, message)];
    }
    let inner = stored.get("result").cloned().unwrap_or(Json::Null);
    let model = |name: &str| api.registry.find(name);
    let ty = match &job.job {
        Job::Global { name, .. } => {
            result.result = result.success.then_some(inner.clone());
            api.globals.find(name).map(|a| result_type_of_global(a.as_ref()))
        }
        Job::Create { model: m, .. } => model(m).map(|m| Names::of(m).create_result()),
        Job::Update { model: m, .. } => model(m).map(|m| Names::of(m).update_result()),
        Job::Delete { model: m, .. } => model(m).map(|m| Names::of(m).delete_result()),
        Job::Upsert { model: m, .. } => {
            let created = inner.get("created").and_then(Json::as_bool).unwrap_or(false);
            let verb = if created { "Create" } else { "Update" };
            model(m).map(|m| Names::of(m).result(verb))
        }
    };
    let record_model = match &job.job {
        Job::Create { model: m, .. } | Job::Update { model: m, .. } | Job::Upsert { model: m, .. } => {
            model(m)
        }
        _ => None,
    };
    // The record is read as the subscriber: its tenant and its read grant.
    if let (true, Some(model), Some(id)) = (
        result.success,
        record_model.filter(|m| api.caller.may(m, "read")),
        inner.get("id").and_then(Json::as_i64),
    ) {
        match api.model_by_id(model.id).find(id).await {
            Ok(record) => result.record = record,
            Err(e) => tracing::warn!(error = %e, "reading a background action's record"),
        }
    }
    Handle {
        id: job.id.clone(),
        status: Some(status_of(job)),
        outcome: Some(outcome),
        result: ty.map(|ty| (result, ty)),
    }
}

fn options_of(ctx: &ResolverContext) -> async_graphql::Result<Options> {
    let value = match ctx.args.get("backgroundOptions") {
        Some(v) if !v.is_null() => super::to_json(v.as_value())?,
        _ => Json::Null,
    };
    Options::from_json(&value).map_err(|e| super::coded(ErrorCode::InvalidActionInput, e.to_string()))
}

/// Enqueue one job (or one per bulk element) in one transaction; the runtime checks
/// that the caller may run each.
async fn enqueue(ctx: &ResolverContext<'_>, jobs: Vec<Job>) -> async_graphql::Result<Enqueued> {
    let options = options_of(ctx)?;
    let api = &ctx.data::<RequestContext>()?.api;
    Ok(match api.enqueue_all(&jobs, &options).await {
        Ok(ids) => Enqueued {
            errors: Vec::new(),
            handles: ids.into_iter().map(handle).collect(),
        },
        Err(e) => Enqueued {
            errors: vec![(&ActionError::from(e)).into()],
            handles: Vec::new(),
        },
    })
}

fn enqueue_field(name: String, action: Action, bulk: bool) -> Field {
    let ty = if bulk { ENQUEUE_BULK_RESULT } else { ENQUEUE_RESULT };
    Field::new(name, TypeRef::named(ty), move |ctx| {
        let action = action.clone();
        FieldFuture::new(async move {
            let jobs = match &action {
                Action::Model { model, verb } => {
                    let registry = &ctx.data::<RequestContext>()?.api.registry;
                    verb.calls(&ctx, registry.get(*model))?
                }
                Action::Global(a) => {
                    let params = params_of(&ctx, &["backgroundOptions"])?;
                    let name = a.qualified_name();
                    vec![Job::global(&name, params)]
                }
            };
            let result = enqueue(&ctx, jobs).await?;
            Ok(Some(FieldValue::owned_any(result)))
        })
    })
    .argument(InputValue::new("backgroundOptions", TypeRef::named(OPTIONS)))
}

/// The enqueue fields of a model: the same arguments as its mutations, plus `backgroundOptions`.
pub fn model_fields(model: &Model) -> Vec<Field> {
    let n = Names::of(model);
    Verb::ALL
        .into_iter()
        .map(|verb| {
            let action = Action::Model {
                model: model.id,
                verb,
            };
            verb.arguments(model, &n)
                .into_iter()
                .fold(enqueue_field(verb.field_name(model), action, verb.is_bulk()), Field::argument)
        })
        .collect()
}

/// The enqueue field of a global action.
pub fn global_field(action: Arc<dyn ErasedGlobal>, arguments: Vec<InputValue>) -> Field {
    let mut field = enqueue_field(action.name().to_owned(), Action::Global(action), false);
    for a in arguments {
        field = field.argument(a);
    }
    field
}

/// Cancel the caller's background actions `ids`: each one cancelled, or an error for it.
async fn cancel_all(api: &Api, ids: &[String]) -> Enqueued {
    let mut answer = Enqueued::default();
    for id in ids {
        match api.cancel_background_action(id).await {
            Ok(Some(job)) => answer.handles.push(Handle {
                status: Some(status_of(&job)),
                ..handle(job.id.clone())
            }),
            // Another store's action looks exactly like one that does not exist.
            Ok(None) => answer.errors.push(ErrorValue::coded(
                ErrorCode::RecordNotFound,
                format!("no background action {id}"),
            )),
            Err(e) => answer.errors.push((&ActionError::from(e)).into()),
        }
    }
    answer
}

/// `background { cancel(id) }` and `background { bulkCancel(ids) }`.
pub fn cancel_fields() -> [Field; 2] {
    let cancel = Field::new("cancel", TypeRef::named(CANCEL_RESULT), |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?.to_owned();
            let api = &ctx.data::<RequestContext>()?.api;
            Ok(Some(FieldValue::owned_any(cancel_all(api, &[id]).await)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)));
    let bulk = Field::new("bulkCancel", TypeRef::named(BULK_CANCEL_RESULT), |ctx| {
        FieldFuture::new(async move {
            let ids = ctx
                .args
                .try_get("ids")?
                .list()?
                .iter()
                .map(|v| v.string().map(str::to_owned))
                .collect::<async_graphql::Result<Vec<String>>>()?;
            let api = &ctx.data::<RequestContext>()?.api;
            if ids.len() > api.queue_limits.max_bulk_enqueue {
                let e = ActionError::TooManyRequests(format!(
                    "at most {} background actions may be cancelled at once (BCGRAPH_MAX_BULK_ENQUEUE)",
                    api.queue_limits.max_bulk_enqueue
                ));
                return Ok(Some(FieldValue::owned_any(Enqueued {
                    errors: vec![(&e).into()],
                    handles: Vec::new(),
                })));
            }
            Ok(Some(FieldValue::owned_any(cancel_all(api, &ids).await)))
        })
    })
    .argument(InputValue::new("ids", TypeRef::named_nn_list_nn(TypeRef::STRING)));
    [cancel, bulk]
}
