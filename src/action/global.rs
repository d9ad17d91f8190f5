//! Global actions: named actions that are not about one model (e.g. `syncStore`),
//! written in Rust with typed parameters and a JSON result, exposed as mutations
//! and callable from Rust through the same [`Api`].

use super::{ActionError, Api, Context};
use crate::model::{ModelId, Registry};
use crate::query::Record;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use std::future::Future;
use std::sync::Arc;

/// The GraphQL type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `String`
    String,
    /// `Float`: any number.
    Number,
    /// `Boolean`
    Boolean,
    /// `GadgetID`: a record id.
    Id,
    /// `JSON`: any value.
    Json,
}

/// A parameter of a global action: a GraphQL argument of its mutation.
#[derive(Clone, Debug)]
pub struct Param {
    /// Its name, camelCase as the params struct deserializes it.
    pub name: &'static str,
    /// Its GraphQL type.
    pub ty: ParamType,
    /// Non-null in the schema.
    pub required: bool,
}

impl Param {
    /// A parameter the mutation must be given.
    pub fn required(name: &'static str, ty: ParamType) -> Param {
        Param {
            name,
            ty,
            required: true,
        }
    }

    /// A parameter that may be left out (`null`).
    pub fn optional(name: &'static str, ty: ParamType) -> Param {
        Param {
            name,
            ty,
            required: false,
        }
    }
}

/// An action with typed parameters. Implement it and register it with
/// [`App::action`](crate::App::action).
pub trait GlobalAction: Send + Sync + 'static {
    /// Deserialized from the mutation's arguments (camelCase keys).
    type Params: DeserializeOwned + Send;

    /// The namespace it appears in (`bigcommerce`), or `None` for the root.
    fn namespace(&self) -> Option<&'static str>;
    /// Its api identifier, e.g. `syncStore`.
    fn name(&self) -> &'static str;
    /// Its parameters, as GraphQL arguments.
    fn params(&self) -> Vec<Param>;
    /// Run it. `ctx.api()` acts as the caller (tenancy applied); see [`Context`].
    fn run(
        &self,
        ctx: &Context,
        params: Self::Params,
    ) -> impl Future<Output = Result<Json, ActionError>> + Send;
    /// Runs from Rust and the queue only: the API has no mutation for it.
    fn internal(&self) -> bool {
        false
    }
}

/// A registered action with its parameters still JSON.
pub trait ErasedGlobalAction: Send + Sync {
    fn namespace(&self) -> Option<&'static str>;
    fn name(&self) -> &'static str;
    /// `namespace/name`, or `name` at the root: what [`Api::run_global`] and jobs name.
    fn qualified_name(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name()),
            None => self.name().to_owned(),
        }
    }
    fn params(&self) -> Vec<Param>;
    fn internal(&self) -> bool;
    fn run_json<'a>(&'a self, ctx: &'a Context, params: Json) -> BoxFuture<'a, Result<Json, ActionError>>;
}

impl<A: GlobalAction> ErasedGlobalAction for A {
    fn namespace(&self) -> Option<&'static str> {
        GlobalAction::namespace(self)
    }

    fn name(&self) -> &'static str {
        GlobalAction::name(self)
    }

    fn params(&self) -> Vec<Param> {
        GlobalAction::params(self)
    }

    fn internal(&self) -> bool {
        GlobalAction::internal(self)
    }

    fn run_json<'a>(&'a self, ctx: &'a Context, params: Json) -> BoxFuture<'a, Result<Json, ActionError>> {
        Box::pin(async move {
            let params: A::Params = serde_json::from_value(params)
                .map_err(|e| ActionError::InvalidInput(format!("{}: {e}", GlobalAction::name(self))))?;
            self.run(ctx, params).await
        })
    }
}

/// An action of one model besides the generated ones (a sync's `run` and `abort`). It
/// takes an input object of `params`, and the record's id when `on_record`, and answers
/// with the record; the API names it `<name><Model>` (`runSync`).
pub trait ModelAction: Send + Sync + 'static {
    /// `namespace/apiId` of its model.
    fn model(&self) -> &'static str;
    fn name(&self) -> &'static str;
    fn on_record(&self) -> bool;
    fn params(&self) -> Vec<Param>;
    fn run<'a>(
        &'a self,
        api: &'a Api,
        id: Option<i64>,
        input: Json,
    ) -> BoxFuture<'a, Result<Record, ActionError>>;
}

/// The global actions (and model actions) of an application.
#[derive(Default, Clone)]
pub struct GlobalActions {
    actions: Vec<Arc<dyn ErasedGlobalAction>>,
    model_actions: Vec<Arc<dyn ModelAction>>,
}

impl GlobalActions {
    pub fn register(mut self, action: impl GlobalAction) -> Self {
        self.actions.push(Arc::new(action));
        self
    }

    pub fn register_model_action(mut self, action: impl ModelAction) -> Self {
        self.model_actions.push(Arc::new(action));
        self
    }

    pub fn all(&self) -> &[Arc<dyn ErasedGlobalAction>] {
        &self.actions
    }

    /// The actions of a model.
    pub fn of_model(&self, registry: &Registry, model: ModelId) -> Vec<Arc<dyn ModelAction>> {
        self.model_actions
            .iter()
            .filter(|a| registry.find(a.model()).map(|m| m.id) == Some(model))
            .cloned()
            .collect()
    }

    /// By `name` or `namespace/name`.
    pub fn find(&self, name: &str) -> Option<&Arc<dyn ErasedGlobalAction>> {
        let (namespace, name) = match name.split_once(['/', '.']) {
            Some((ns, n)) => (Some(ns), n),
            None => (None, name),
        };
        self.actions
            .iter()
            .find(|a| a.name() == name && (namespace.is_none() || a.namespace() == namespace))
    }
}
