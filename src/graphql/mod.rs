//! The GraphQL API, generated from the model registry on `async_graphql::dynamic`.
//!
//! Reads go through the query builder (`crate::query`), writes through the action
//! runtime (`crate::action`); nothing here writes SQL or names a particular model.

mod args;
mod background;
pub mod budget;
pub mod check;
pub mod cost;
pub mod errors;
pub mod execute;
pub(crate) mod fast;
mod inputs;
mod internal;
mod loaders;
mod models;
mod mutations;
mod parent;
mod results;
mod types;
mod verbs;

use crate::action::{Api, Caller, GlobalActions};
use crate::auth::Identity;
use crate::model::{Model, Registry, pascal};
use crate::query::Reader;
use crate::query::bounds::InputLimits;
use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, Schema, SchemaError, TypeRef,
};
use budget::RecordBudget;
use loaders::Loaders;
use models::{ConnectionValue, page_args, page_arguments};
use std::collections::HashMap;
use std::sync::Arc;

pub use errors::coded;

/// Deepest nesting the parser accepts before giving up on a document.
pub const MAX_RECURSION: usize = 64;
/// Most fields a document may select.
pub const MAX_COMPLEXITY: usize = 2_000;

/// Everything a request's resolvers need: who is asking and how to read for them.
pub struct RequestContext {
    /// Who is asking, as authentication established.
    pub identity: Identity,
    /// The action runtime acting as that identity.
    pub api: Api,
    pub reader: Reader,
    loaders: Loaders,
    null_items: NullItems,
    /// Records the resolvers may still hand out (`BCGRAPH_MAX_RECORDS_PER_REQUEST`).
    budget: Arc<RecordBudget>,
    /// Bounds on filters and search terms.
    pub input_limits: InputLimits,
}

/// Response paths of list items that must read `null`. async-graphql's dynamic
/// executor cannot put a null into a list of objects, so such an item resolves as a
/// placeholder record and is replaced by `null` once the response is complete.
pub type NullItems = Arc<std::sync::Mutex<Vec<Vec<String>>>>;

impl RequestContext {
    /// The context of a request by `identity`; `api` is the gateway's (system) API.
    pub fn new(api: &Api, identity: Identity) -> Self {
        let api = api.as_caller(Caller::of(&identity, api.caller.permissions.clone()));
        let reader = api.reader();
        let loaders = Loaders::new(&reader);
        RequestContext {
            identity,
            api,
            reader,
            loaders,
            null_items: NullItems::default(),
            budget: Arc::new(RecordBudget::new(budget::DEFAULT_MAX_RECORDS)),
            input_limits: InputLimits::default(),
        }
    }

    /// The same context under these limits instead of the defaults.
    pub fn with_limits(mut self, max_records: u64, input_limits: &InputLimits) -> Self {
        self.budget = Arc::new(RecordBudget::new(max_records));
        self.input_limits = input_limits.clone();
        self
    }

    /// The request's record budget, for checking it once execution is over.
    pub fn budget(&self) -> Arc<RecordBudget> {
        self.budget.clone()
    }

    /// Take `n` records from the budget before handing them to the executor; false once
    /// the budget is spent, and the resolver then hands out nothing.
    pub fn take_records(&self, n: usize) -> bool {
        self.budget.take(n)
    }

    /// Give back records taken before a read that found fewer.
    pub fn give_back_records(&self, n: usize) {
        self.budget.give_back(n)
    }

    /// Refuse a read of `model` the caller's roles do not allow.
    pub fn check_read(&self, model: &Model) -> async_graphql::Result<()> {
        self.api
            .caller
            .check(model, "read")
            .map_err(|e| coded(e.code(), e.public_message()))
    }

    /// Refuse a list of `model` whose filter reads a related model the caller may not
    /// read (a filter by a hidden customer's email would tell it anyway).
    pub fn check_list(&self, model: &Model, args: &crate::query::PageArgs) -> async_graphql::Result<()> {
        self.check_read(model)?;
        let registry = &self.api.registry;
        for related in args.cond.related_models(registry, model.id) {
            self.check_read(registry.get(related))?;
        }
        Ok(())
    }

    /// The handle through which the response is patched after execution.
    pub fn null_items(&self) -> NullItems {
        self.null_items.clone()
    }
}

/// Replace the recorded list items of `data` with `null`.
pub fn apply_null_items(data: &mut Value, null_items: &NullItems) {
    let paths = std::mem::take(&mut *null_items.lock().unwrap_or_else(|e| e.into_inner()));
    for path in paths {
        null_at(data, &path);
    }
}

fn null_at(node: &mut Value, path: &[String]) {
    let Some((step, rest)) = path.split_first() else {
        *node = Value::Null;
        return;
    };
    let next = match node {
        Value::Object(map) => map.get_mut(step.as_str()),
        Value::List(items) => step.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    };
    if let Some(next) = next {
        null_at(next, rest);
    }
}

/// An argument as JSON, serialized in place rather than copied first.
pub(crate) fn to_json(value: &Value) -> async_graphql::Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| async_graphql::Error::new(format!("invalid argument: {e}")))
}

fn namespace_type(namespace: &str, suffix: &str) -> String {
    format!("{}{suffix}", pascal(namespace))
}

/// Placeholder parent value of namespace objects, which have no data of their own.
fn namespace_value<'a>() -> FieldFuture<'a> {
    FieldFuture::Value(Some(FieldValue::owned_any(())))
}

/// Refuse global actions whose mutation field or result type would take the name of
/// something the models already generate (a root `createBigcommerceProduct` and the
/// model's `CreateBigcommerceProductResult`): the schema builder would silently keep one.
fn check_global_names(
    registry: &Arc<Registry>,
    globals: &GlobalActions,
    limits: &cost::DocumentLimits,
) -> Result<(), SchemaError> {
    let base = build_schema_with(registry.clone(), &GlobalActions::default(), limits)?.sdl();
    let mut types: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut current = None;
    for line in base.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [kind, name, ..] if ["type", "input", "interface", "enum", "union", "scalar"].contains(kind) => {
                current = Some(*name);
                types.entry(*name).or_default();
            }
            ["}"] => current = None,
            [field, ..] if line.starts_with('\t') => {
                if let Some(t) = current {
                    let name = field.split(['(', ':']).next().unwrap_or(field);
                    types.entry(t).or_default().push(name);
                }
            }
            _ => {}
        }
    }
    let mut results = std::collections::HashSet::new();
    for action in globals.all().iter().filter(|a| !a.internal()) {
        let result = results::result_type_of_global(action.as_ref());
        let parent = match action.namespace() {
            Some(ns) => namespace_type(ns, "Mutations"),
            None => "Mutation".to_owned(),
        };
        let taken_field = types
            .get(parent.as_str())
            .is_some_and(|f| f.contains(&action.name()));
        if types.contains_key(result.as_str()) || taken_field || !results.insert(result.clone()) {
            return Err(SchemaError(format!(
                "the global action {} would take the name of {} the schema already has: rename it",
                action.name(),
                if taken_field {
                    format!("the mutation {parent}.{}", action.name())
                } else {
                    format!("the type {result}")
                }
            )));
        }
    }
    Ok(())
}

/// Build the schema for `registry` and the application's global actions.
pub fn build_schema(registry: Arc<Registry>, globals: &GlobalActions) -> Result<Schema, SchemaError> {
    build_schema_with(registry, globals, &cost::DocumentLimits::default())
}

/// [`build_schema`] with these document limits (the depth one is also async-graphql's).
pub fn build_schema_with(
    registry: Arc<Registry>,
    globals: &GlobalActions,
    limits: &cost::DocumentLimits,
) -> Result<Schema, SchemaError> {
    if !globals.all().is_empty() {
        check_global_names(&registry, globals, limits)?;
    }
    let mut schema = Schema::build("Query", Some("Mutation"), Some("Subscription"))
        .limit_depth(limits.depth)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSION)
        .limit_directives(cost::MAX_DIRECTIVES_PER_FIELD)
        .extension(fast::FastReads);
    schema = types::register(schema);
    schema = results::register_shared(schema);
    schema = background::register_shared(schema, &registry, globals);
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    // `background { <namespace> { <action>(..., backgroundOptions) } cancel(id) }`
    let mut background = Object::new("BackgroundMutations");
    for field in background::cancel_fields() {
        background = background.field(field);
    }
    for (namespace, models) in registry.namespaces() {
        let mut queries = Object::new(namespace_type(namespace, "Queries"));
        let mut writes = Object::new(namespace_type(namespace, "Mutations"));
        for model in models.iter().copied() {
            schema = models::register(schema, &registry, model);
            queries = queries.field(find_one(model)).field(find_many(&registry, model));
            if model.generic_writes {
                let (next, fields) = mutations::register_model(schema, &registry, model);
                schema = next;
                for field in fields {
                    writes = writes.field(field);
                }
            }
            for action in globals.of_model(&registry, model.id) {
                let (next, field) = mutations::model_action(schema, model, action);
                schema = next;
                writes = writes.field(field);
            }
        }
        let mut enqueues = Object::new(format!("Background{}Mutations", pascal(namespace)));
        for model in models.iter().filter(|m| m.generic_writes) {
            for field in background::model_fields(model) {
                enqueues = enqueues.field(field);
            }
        }
        for action in globals
            .all()
            .iter()
            .filter(|a| a.namespace() == Some(namespace) && !a.internal())
        {
            let (next, field) = mutations::global_action(schema, action.clone());
            schema = next;
            writes = writes.field(field);
            let arguments = mutations::global_arguments(&action.params());
            enqueues = enqueues.field(background::global_field(action.clone(), arguments));
        }
        let name = enqueues.type_name().to_owned();
        schema = schema.register(enqueues);
        background = background.field(Field::new(namespace, TypeRef::named_nn(name), |_| {
            namespace_value()
        }));
        let name = queries.type_name().to_owned();
        schema = schema.register(queries);
        query = query.field(Field::new(namespace, TypeRef::named_nn(name), |_| {
            namespace_value()
        }));
        let name = writes.type_name().to_owned();
        schema = schema.register(writes);
        mutation = mutation.field(Field::new(namespace, TypeRef::named_nn(name), |_| {
            namespace_value()
        }));
    }
    for action in globals
        .all()
        .iter()
        .filter(|a| a.namespace().is_none() && !a.internal())
    {
        let (next, field) = mutations::global_action(schema, action.clone());
        schema = next;
        mutation = mutation.field(field);
        let arguments = mutations::global_arguments(&action.params());
        background = background.field(background::global_field(action.clone(), arguments));
    }
    schema = schema.register(background);
    mutation = mutation.field(Field::new(
        "background",
        TypeRef::named_nn("BackgroundMutations"),
        |_| namespace_value(),
    ));
    let (next, internal_query, internal_mutation) = internal::register(schema, &registry);
    schema = next;
    query = query
        .field(meta::gadget_meta_field())
        .field(meta::current_session_field())
        .field(internal_query);
    mutation = mutation.field(meta::gadget_meta_field()).field(internal_mutation);
    schema = meta::register(schema, &registry);
    schema
        .register(query)
        .register(mutation)
        .register(background::subscription())
        .finish()
}

fn find_one(model: &Model) -> Field {
    let model_id = model.id;
    Field::new(
        model.api_id.clone(),
        TypeRef::named(model.type_name()),
        move |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("id")?;
                let id = match id.as_value() {
                    Value::String(s) => crate::query::value::parse_id(s),
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
                .ok_or_else(|| coded(errors::INVALID_QUERY_INPUT, "`id` must be a record id"))?;
                let context = ctx.data::<RequestContext>()?;
                context.check_read(context.reader.registry.get(model_id))?;
                if !context.take_records(1) {
                    return Ok(None);
                }
                let found = context
                    .reader
                    .find(model_id, id)
                    .await
                    .map_err(errors::query_error)?;
                if found.is_none() {
                    context.give_back_records(1);
                }
                Ok(found.map(FieldValue::owned_any))
            })
        },
    )
    .argument(InputValue::new("id", TypeRef::named_nn(types::GADGET_ID)))
    .description(format!("The {} with this id, or null.", model.qualified_name()))
}

fn find_many(registry: &Arc<Registry>, model: &Model) -> Field {
    let registry2 = registry.clone();
    let model_id = model.id;
    let field = Field::new(
        model.plural_api_id.clone(),
        TypeRef::named_nn(models::connection_type(model)),
        move |ctx| {
            let registry = registry2.clone();
            FieldFuture::new(async move {
                let model = registry.get(model_id);
                let context = ctx.data::<RequestContext>()?;
                let args = page_args(&registry, model, ctx.args.as_index_map(), &context.input_limits)?;
                let across = if args.backward() {
                    "hasNextPage"
                } else {
                    "hasPreviousPage"
                };
                let exact = ctx.look_ahead().field("pageInfo").field(across).exists();
                let columns = models::connection_columns(model, ctx.ctx.field());
                context.check_list(model, &args)?;
                let size = models::page_size(&args);
                if !context.take_records(size) {
                    return Ok(Some(FieldValue::owned_any(ConnectionValue::empty(args.sort))));
                }
                let reader = &context.reader;
                let page = reader
                    .page(model_id, &args, &columns, exact)
                    .await
                    .map_err(errors::query_error)?;
                context.give_back_records(size.saturating_sub(page.records.len()));
                Ok(Some(FieldValue::owned_any(ConnectionValue {
                    page: Arc::new(page),
                })))
            })
        },
    );
    page_arguments(field, model)
}

mod meta;
