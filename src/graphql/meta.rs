//! `gadgetMeta` (hydrations) and `currentSession`.

use super::types::{DATE_TIME, GADGET_ID, HYDRATION_PLAN, JSON_OBJECT};
use crate::auth::{Identity, role_name};
use crate::model::{FieldType, Registry};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, SchemaBuilder, TypeRef};
use async_graphql::{Name, Value};
use indexmap::IndexMap;
use std::sync::Arc;

pub(super) const META: &str = "GadgetApplicationMeta";
/// The constant fields of `gadgetMeta`.
pub(super) const CONSTANTS: [(&str, &str); 4] = [
    ("name", "bcgraph"),
    ("slug", "bcgraph"),
    ("environmentName", "Production"),
    ("environmentSlug", "production"),
];

/// A model's hydration plan: the fields the client turns into richer types (dates).
pub(super) fn hydration_plan(model: &crate::model::Model) -> IndexMap<Name, Value> {
    model
        .fields
        .iter()
        .filter(|f| f.ty == FieldType::DateTime && !f.hidden)
        .map(|f| (Name::new(&f.api_id), Value::String("DateTime".into())))
        .collect()
}
const SESSION: &str = "Session";
const ROLE: &str = "Role";

/// The hydration plan of every model, computed once.
struct Hydrations(IndexMap<String, Value>);

fn constant(name: &'static str, value: &'static str) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |_| {
        FieldFuture::Value(Some(FieldValue::value(value)))
    })
}

pub fn register(schema: SchemaBuilder, registry: &Arc<Registry>) -> SchemaBuilder {
    let plans: IndexMap<String, Value> = registry
        .models
        .iter()
        .map(|m| (m.qualified_name(), Value::Object(hydration_plan(m))))
        .collect();
    let hydrations = Arc::new(Hydrations(plans));
    let identity = |ctx: &async_graphql::dynamic::ResolverContext<'_>| -> async_graphql::Result<Identity> {
        Ok(ctx.parent_value.try_downcast_ref::<Identity>()?.clone())
    };
    let mut session = Object::new(SESSION)
        .field(Field::new("id", TypeRef::named(GADGET_ID), move |ctx| {
            FieldFuture::new(async move {
                Ok(identity(&ctx)?
                    .session_id
                    .map(|id| FieldValue::value(id.to_string())))
            })
        }))
        .field(Field::new(
            "bigcommerceUserId",
            TypeRef::named(TypeRef::STRING),
            move |ctx| {
                FieldFuture::new(
                    async move { Ok(identity(&ctx)?.bigcommerce_user_id.map(FieldValue::value)) },
                )
            },
        ))
        .field(Field::new(
            "bigcommerceStoreId",
            TypeRef::named(GADGET_ID),
            move |ctx| {
                FieldFuture::new(async move {
                    Ok(identity(&ctx)?
                        .store_id
                        .map(|id| FieldValue::value(id.to_string())))
                })
            },
        ))
        .field(session_time("createdAt"))
        .field(session_time("updatedAt"))
        .field(Field::new("_all", TypeRef::named_nn(JSON_OBJECT), move |ctx| {
            FieldFuture::new(async move {
                let identity = identity(&ctx)?;
                let context = ctx.data::<super::RequestContext>()?;
                let times = session_times(context, &identity).await?;
                let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map(|t| crate::query::value::format_datetime(&t))
                };
                let all = serde_json::json!({
                    "id": identity.session_id.map(|id| id.to_string()),
                    "createdAt": time(times.map(|t| t.0)),
                    "updatedAt": time(times.map(|t| t.1)),
                    "roles": identity.roles,
                    "bigcommerceUserId": identity.bigcommerce_user_id,
                    "bigcommerceStoreId": identity.store_id.map(|id| id.to_string()),
                });
                Ok(Some(FieldValue::value(Value::from_json(all)?)))
            })
        }))
        .field(Field::new("roles", TypeRef::named_nn_list_nn(ROLE), move |ctx| {
            FieldFuture::new(async move {
                let roles = identity(&ctx)?.roles.into_iter().map(|key| {
                    let name = role_name(&key);
                    FieldValue::owned_any((key, name))
                });
                Ok(Some(FieldValue::list(roles.collect::<Vec<_>>())))
            })
        }));
    if let Some(tenant) = registry.tenant_model {
        let tenant_type = registry.get(tenant).type_name();
        session = session.field(Field::new(
            "bigcommerceStore",
            TypeRef::named(tenant_type),
            move |ctx| {
                FieldFuture::new(async move {
                    let Some(store) = identity(&ctx)?.store_id else {
                        return Ok(None);
                    };
                    let context = ctx.data::<super::RequestContext>()?;
                    context.check_read(context.api.registry.get(tenant))?;
                    if !context.take_records(1) {
                        return Ok(None);
                    }
                    let found = context
                        .reader
                        .find(tenant, store)
                        .await
                        .map_err(super::errors::query_error)?;
                    if found.is_none() {
                        context.give_back_records(1);
                    }
                    Ok(found.map(FieldValue::owned_any))
                })
            },
        ));
    }
    let role_field = |name: &'static str| {
        Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |ctx| {
            FieldFuture::new(async move {
                let (key, label) = ctx.parent_value.try_downcast_ref::<(String, String)>()?;
                Ok(Some(FieldValue::value(if name == "key" {
                    key.clone()
                } else {
                    label.clone()
                })))
            })
        })
    };
    let mut meta = Object::new(META);
    for (name, value) in CONSTANTS {
        meta = meta.field(constant(name, value));
    }
    schema
        .register(
            meta.field(
                    Field::new("hydrations", TypeRef::named(HYDRATION_PLAN), move |ctx| {
                        let plan = ctx
                            .args
                            .get("modelName")
                            .and_then(|v| v.string().ok())
                            .and_then(|name| hydrations.0.get(name))
                            .cloned();
                        FieldFuture::Value(plan.map(FieldValue::value))
                    })
                    .argument(InputValue::new("modelName", TypeRef::named_nn(TypeRef::STRING))),
                ),
        )
        .register(session)
        .register(
            Object::new(ROLE)
                .field(role_field("key"))
                .field(role_field("name")),
        )
}

/// When the caller's session began and last changed: its row's times, or for a
/// stateless anonymous session the time its token was minted. `None` without a session
/// (an API key, the system).
async fn session_times(
    context: &super::RequestContext,
    identity: &Identity,
) -> async_graphql::Result<Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>> {
    use sea_orm::EntityTrait;
    let Some(id) = identity.session_id else {
        return Ok(None);
    };
    if identity.stateless_session {
        return Ok(identity.issued_at.map(|t| (t, t)));
    }
    let row = entity::internal::session::Entity::find_by_id(id)
        .one(&context.api.db)
        .await
        .map_err(|e| super::errors::query_error(crate::query::QueryError::Database(e)))?;
    Ok(row.map(|r| (r.created_at, r.updated_at)))
}

/// `createdAt` / `updatedAt` of the session, as every generated client selects them.
fn session_time(name: &'static str) -> Field {
    Field::new(name, TypeRef::named(DATE_TIME), move |ctx| {
        FieldFuture::new(async move {
            let identity = ctx.parent_value.try_downcast_ref::<Identity>()?.clone();
            let context = ctx.data::<super::RequestContext>()?;
            let times = session_times(context, &identity).await?;
            let at = times.map(|(created, updated)| if name == "createdAt" { created } else { updated });
            Ok(at.map(|t| FieldValue::value(crate::query::value::format_datetime(&t))))
        })
    })
}

pub fn gadget_meta_field() -> Field {
    Field::new("gadgetMeta", TypeRef::named_nn(META), |_| {
        FieldFuture::Value(Some(FieldValue::owned_any(())))
    })
}

pub fn current_session_field() -> Field {
    Field::new("currentSession", TypeRef::named(SESSION), |ctx| {
        FieldFuture::new(async move {
            let context = ctx.data::<super::RequestContext>()?;
            Ok(Some(FieldValue::owned_any(context.identity.clone())))
        })
    })
}
