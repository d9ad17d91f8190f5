//! `gadgetMeta` (hydrations) and `currentSession`.

use super::types::{GADGET_ID, HYDRATION_PLAN};
use crate::model::{FieldType, Registry};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, SchemaBuilder, TypeRef};
use async_graphql::{Name, Value};
use indexmap::IndexMap;
use std::sync::Arc;

const META: &str = "GadgetApplicationMeta";
const SESSION: &str = "Session";
const ROLE: &str = "Role";

/// The hydration plan of every model, computed once.
struct Hydrations(IndexMap<String, Value>);

/// What `currentSession` resolves from.
pub struct SessionValue {
    pub id: Option<i64>,
    pub roles: Vec<(String, String)>,
}

fn constant(name: &'static str, value: &'static str) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |_| {
        FieldFuture::Value(Some(FieldValue::value(value)))
    })
}

pub fn register(schema: SchemaBuilder, registry: &Arc<Registry>) -> SchemaBuilder {
    let plans: IndexMap<String, Value> = registry
        .models
        .iter()
        .map(|m| {
            let plan: IndexMap<Name, Value> = m
                .fields
                .iter()
                .filter(|f| f.ty == FieldType::DateTime && !f.hidden)
                .map(|f| (Name::new(&f.api_id), Value::String("DateTime".into())))
                .collect();
            (m.qualified_name(), Value::Object(plan))
        })
        .collect();
    let hydrations = Arc::new(Hydrations(plans));
    let tenant_type = registry.tenant_model.map(|t| registry.get(t).type_name());
    let mut session = Object::new(SESSION)
        .field(Field::new("id", TypeRef::named(GADGET_ID), |ctx| {
            FieldFuture::new(async move {
                let s = ctx.parent_value.try_downcast_ref::<SessionValue>()?;
                Ok(s.id.map(|id| FieldValue::value(id.to_string())))
            })
        }))
        .field(Field::new(
            "bigcommerceUserId",
            TypeRef::named(TypeRef::STRING),
            |_| FieldFuture::Value(None),
        ))
        .field(Field::new(
            "bigcommerceStoreId",
            TypeRef::named(GADGET_ID),
            |_| FieldFuture::Value(None),
        ))
        .field(Field::new("roles", TypeRef::named_nn_list_nn(ROLE), |ctx| {
            FieldFuture::new(async move {
                let s = ctx.parent_value.try_downcast_ref::<SessionValue>()?;
                Ok(Some(FieldValue::list(
                    s.roles.iter().map(|r| FieldValue::borrowed_any(r)),
                )))
            })
        }));
    if let Some(tenant_type) = tenant_type {
        session = session.field(Field::new(
            "bigcommerceStore",
            TypeRef::named(tenant_type),
            |_| FieldFuture::Value(None),
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
    schema
        .register(
            Object::new(META)
                .field(constant("name", "bcgraph"))
                .field(constant("slug", "bcgraph"))
                .field(constant("environmentName", "Production"))
                .field(constant("environmentSlug", "production"))
                .field(
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

pub fn gadget_meta_field() -> Field {
    Field::new("gadgetMeta", TypeRef::named_nn(META), |_| {
        FieldFuture::Value(Some(FieldValue::owned_any(())))
    })
}

pub fn current_session_field() -> Field {
    Field::new("currentSession", TypeRef::named(SESSION), |_| {
        // Sessions arrive with authentication; until then every caller is anonymous.
        FieldFuture::Value(Some(FieldValue::owned_any(SessionValue {
            id: None,
            roles: vec![("unauthenticated".into(), "Unauthenticated".into())],
        })))
    })
}
