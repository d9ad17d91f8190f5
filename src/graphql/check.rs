//! The document-to-plan path without a server or a database: what `POST /api/graphql`
//! does with a request body before it reads or writes anything. It exists for the fuzz
//! targets (`fuzz/`) and tests, and is public only for them; the gateway runs the same
//! steps inline ([`read_request`] and [`super::cost::check`] are shared with it).
//!
//! [`Checker::check_body`] takes the body through:
//! 1. [`read_request`]: the JSON body, as the HTTP handler reads it (serde_json's
//!    recursion limit of 128 bounds the variables);
//! 2. [`super::cost::check`]: the nesting guard, then the parse and the document limits;
//! 3. async-graphql's validation against the real generated schema (the request is run
//!    with no request context, so every resolver that would touch data fails at once);
//! 4. the plan: every argument of the selected operation that the gateway parses itself,
//!    with its variables: filters, sorts, search terms and page arguments of each list
//!    (down to the SQL of their conditions, for SQLite and PostgreSQL, as a store and as
//!    the system), record inputs of every create, update and upsert (single, bulk and
//!    nested), and background options.

// Without the `internals` feature nothing in the crate uses the Checker: it is the fuzz
// targets' and the tests' entry point.
#![cfg_attr(not(feature = "internals"), allow(dead_code))]

use super::cost::{self, DocumentLimits};
use crate::action::{GlobalActions, input};
use crate::auth::Secrets;
use crate::bigcommerce::{BigCommerce, ClientOptions};
use crate::model::{ModelId, Registry};
use crate::query::bounds::InputLimits;
use crate::query::{Cond, PageArgs, Reader, Tenant, filter, parse_sort};
use crate::queue::{Options, QueueLimits};
use async_graphql::dynamic::Schema;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::MetaTypeName;
use async_graphql::{Name, Positioned, Value as ConstValue, Variables};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

/// Read a `POST /api/graphql` body into a request, as the HTTP handler does; the error is
/// the message of its 400 answer.
pub fn read_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    let request: async_graphql::Request = serde_json::from_slice(body)
        .map_err(|e| format!("the request body is not a GraphQL request: {e}"))?;
    if request.query.trim().is_empty() {
        return Err("the request has no `query`".into());
    }
    Ok(request)
}

/// What parses an input type of the schema.
#[derive(Clone, Copy, Debug)]
enum Input {
    Filter(ModelId),
    Sort,
    /// `Create…Input`, `Update…Input`, `Upsert…Input`.
    Record(ModelId),
    /// `Bulk{Create,Update,Upsert}…Input`: the record input under the model's key.
    Bulk(ModelId),
    /// `backgroundOptions`.
    Options,
}

/// How far a request got.
#[derive(Debug)]
pub enum Verdict {
    /// The body is not a GraphQL request (HTTP 400).
    NotARequest(String),
    /// Refused before async-graphql saw it: the nesting guard or a document limit.
    Refused(String),
    /// async-graphql's parse or validation errors.
    Invalid(Vec<String>),
    /// It would run; the arguments the gateway parses itself, parsed.
    Planned(Plan),
}

/// The arguments of a request that the gateway parses itself.
#[derive(Debug, Default)]
pub struct Plan {
    /// Lists, record inputs and options that parsed.
    pub parsed: usize,
    /// Why the others were refused (each is a client error: `GGT_INVALID_QUERY_INPUT`,
    /// `GGT_INVALID_ACTION_INPUT` or `GGT_INVALID_RECORD`).
    pub refused: Vec<String>,
}

/// The gateway's document-to-plan path over the default registry and global actions.
pub struct Checker {
    schema: Schema,
    registry: Arc<Registry>,
    limits: DocumentLimits,
    input_limits: InputLimits,
    inputs: HashMap<String, Input>,
}

/// Most selections the plan visits (the document check bounds them well below this).
const MAX_VISITS: usize = 100_000;

impl Checker {
    /// The schema of [`Registry::bigcommerce`] and the built-in global actions, with the
    /// default limits. No database, no network: the BigCommerce client it registers the
    /// actions with is never called.
    pub fn new() -> Checker {
        let registry = Arc::new(Registry::bigcommerce());
        let bigcommerce =
            BigCommerce::new("http://127.0.0.1:9", ClientOptions::default()).expect("a valid base URL");
        let secrets = Arc::new(Secrets::new(
            b"the checker's own secret, never used as a key",
            &[] as &[&[u8]],
        ));
        let globals = crate::bigcommerce::register(GlobalActions::default(), &bigcommerce, &secrets, None);
        let limits = DocumentLimits::default();
        let schema =
            super::build_schema_with(registry.clone(), &globals, &limits).expect("the schema builds");
        let mut inputs = HashMap::new();
        for model in &registry.models {
            let t = model.type_name();
            let plural = model.plural_type_name();
            let names = [
                (super::models::filter_type(model), Input::Filter(model.id)),
                (super::models::sort_type(model), Input::Sort),
                (format!("Create{t}Input"), Input::Record(model.id)),
                (format!("Update{t}Input"), Input::Record(model.id)),
                (format!("Upsert{t}Input"), Input::Record(model.id)),
                (format!("BulkCreate{plural}Input"), Input::Bulk(model.id)),
                (format!("BulkUpdate{plural}Input"), Input::Bulk(model.id)),
                (format!("BulkUpsert{plural}Input"), Input::Bulk(model.id)),
            ];
            for (name, input) in names {
                if schema.registry().types.contains_key(&name) {
                    inputs.insert(name, input);
                }
            }
        }
        inputs.insert(super::background::OPTIONS.to_owned(), Input::Options);
        Checker {
            schema,
            registry,
            limits,
            input_limits: InputLimits::default(),
            inputs,
        }
    }

    /// The schema requests are validated against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Take a `POST /api/graphql` body through the path (see the module's documentation).
    pub fn check_body(&self, body: &[u8]) -> Verdict {
        match read_request(body) {
            Ok(request) => self.check(request),
            Err(message) => Verdict::NotARequest(message),
        }
    }

    /// Take a request through the nesting guard, the document limits, validation and
    /// the plan.
    pub fn check(&self, request: async_graphql::Request) -> Verdict {
        let mut checked = match cost::check(request, &self.limits) {
            Ok(checked) => checked,
            Err(refused) => return Verdict::Refused(refused.0),
        };
        let operation_name = checked.request.operation_name.clone();
        let variables = checked.request.variables.clone();
        let document = checked.request.parsed_query().ok().cloned();
        let response = futures::executor::block_on(self.schema.execute(checked.request));
        // Resolvers find no request context here and say so; the gateway's own errors
        // carry a code. What is left is async-graphql's verdict on the document.
        let invalid: Vec<String> = response
            .errors
            .iter()
            .filter(|e| e.extensions.is_none() && !e.message.contains("RequestContext` does not exist"))
            .map(|e| e.message.clone())
            .collect();
        if !invalid.is_empty() {
            return Verdict::Invalid(invalid);
        }
        let Some(document) = document else {
            return Verdict::Invalid(vec!["the document does not parse".into()]);
        };
        let Some(operation) = operation(&document, operation_name.as_deref()) else {
            return Verdict::Invalid(vec!["no operation to run".into()]);
        };
        let registry = self.schema.registry();
        let root = match operation.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        let mut walk = Walk {
            checker: self,
            document: &document,
            operation,
            variables: &variables,
            plan: Plan::default(),
            visits: 0,
        };
        if let Some(root) = root {
            walk.selection_set(&operation.selection_set, root);
        }
        Verdict::Planned(walk.plan)
    }
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

/// The operation `name` selects (the only one when unnamed).
fn operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

struct Walk<'a> {
    checker: &'a Checker,
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    plan: Plan,
    visits: usize,
}

/// The page arguments of one list field.
#[derive(Default)]
struct PageInput {
    first: Option<i64>,
    last: Option<i64>,
    after: Option<String>,
    before: Option<String>,
    sort: Option<Json>,
    filter: Option<Json>,
    search: Option<String>,
}

impl Walk<'_> {
    fn outcome<T, E: std::fmt::Display>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => {
                self.plan.parsed += 1;
                Some(value)
            }
            Err(e) => {
                self.plan.refused.push(e.to_string());
                None
            }
        }
    }

    fn variable(&self, name: &Name) -> ConstValue {
        if let Some(value) = self.variables.get(name) {
            return value.clone();
        }
        self.operation
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value.as_ref())
            .map(|v| v.node.clone())
            .unwrap_or(ConstValue::Null)
    }

    fn selection_set(&mut self, set: &Positioned<SelectionSet>, ty: &str) {
        for item in &set.node.items {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return;
            }
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let registry = self.checker.schema.registry();
                    let Some(meta) = registry
                        .concrete_type_by_name(ty)
                        .and_then(|t| t.field_by_name(field.name.node.as_str()))
                    else {
                        continue;
                    };
                    let mut page = PageInput::default();
                    let mut list = None;
                    if let Some(arg) = meta.args.get("filter")
                        && let Some(Input::Filter(model)) =
                            self.checker.inputs.get(MetaTypeName::concrete_typename(&arg.ty))
                    {
                        list = Some(*model);
                    }
                    for (name, value) in &field.arguments {
                        let Some(arg) = meta.args.get(name.node.as_str()) else {
                            continue;
                        };
                        // The value with its variables in place, as JSON (what resolvers read).
                        let resolved = value.node.clone().into_const_with(|name: Name| {
                            Ok::<_, std::convert::Infallible>(self.variable(&name))
                        });
                        let json = match resolved {
                            Ok(value) => value.into_json().unwrap_or(Json::Null),
                            Err(never) => match never {},
                        };
                        self.argument(name.node.as_str(), &arg.ty, json, &mut page);
                    }
                    if let Some(model) = list {
                        self.page(model, page);
                    }
                    let inner = MetaTypeName::concrete_typename(&meta.ty).to_owned();
                    self.selection_set(&field.selection_set, &inner);
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.to_string())
                        .unwrap_or_else(|| ty.to_owned());
                    self.selection_set(&inline.selection_set, &on);
                }
                Selection::FragmentSpread(spread) => {
                    let document = self.document;
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                        let on = fragment.node.type_condition.node.on.node.to_string();
                        self.selection_set(&fragment.node.selection_set, &on);
                    }
                }
            }
        }
    }

    fn argument(&mut self, name: &str, ty: &str, value: Json, page: &mut PageInput) {
        let registry = self.checker.registry.clone();
        match self
            .checker
            .inputs
            .get(MetaTypeName::concrete_typename(ty))
            .copied()
        {
            Some(Input::Filter(_)) => page.filter = Some(value),
            Some(Input::Sort) => page.sort = Some(value),
            Some(Input::Record(model)) => {
                let parsed = input::parse(&registry, registry.get(model), value, false);
                self.outcome(parsed);
            }
            Some(Input::Bulk(model)) => {
                let model = registry.get(model);
                let items = match value {
                    Json::Array(items) => items,
                    one => vec![one],
                };
                for item in items {
                    let record = item
                        .get(&model.api_id)
                        .cloned()
                        .unwrap_or(Json::Object(Default::default()));
                    let parsed = input::parse(&registry, model, record, false);
                    self.outcome(parsed);
                }
            }
            Some(Input::Options) => {
                let limits = QueueLimits::default();
                let options = Options::from_json(&value)
                    .map_err(|e| e.to_string())
                    .and_then(|o| o.within_policy(&limits, false, false).map_err(|e| e.to_string()));
                if let Some(options) = self.outcome(options) {
                    for retry in 1..=options.retries.retry_count.min(64) {
                        options.retries.delay_ms(retry);
                    }
                }
            }
            None => match name {
                "first" => page.first = value.as_i64(),
                "last" => page.last = value.as_i64(),
                "after" => page.after = value.as_str().map(str::to_owned),
                "before" => page.before = value.as_str().map(str::to_owned),
                "search" => page.search = value.as_str().map(str::to_owned),
                _ => {}
            },
        }
    }

    /// A list's arguments as `models::page_args` reads them, then the SQL of its
    /// conditions on both databases, as a store and as the system.
    fn page(&mut self, model: ModelId, page: PageInput) {
        let registry = self.checker.registry.clone();
        let limits = &self.checker.input_limits;
        let model = registry.get(model);
        let args = (|| {
            let sort = parse_sort(model, page.sort.as_ref().unwrap_or(&Json::Null))?;
            let mut cond = match &page.filter {
                Some(filter) if !filter.is_null() => filter::parse(&registry, model, filter)?,
                _ => Cond::Const(true),
            };
            limits.check(&cond)?;
            if let Some(search) = &page.search {
                let term = search.trim();
                limits.check_search(term)?;
                if !term.is_empty() {
                    cond = Cond::All(vec![cond, filter::search(model, term, None)]).simplify();
                }
            }
            PageArgs::new(page.first, page.last, page.after, page.before, sort, cond)
        })();
        let Some(args) = self.outcome(args) else {
            return;
        };
        args.cond.related_models(&registry, model.id);
        for backend in [sea_orm::DbBackend::Sqlite, sea_orm::DbBackend::Postgres] {
            for tenant in [Tenant::System, Tenant::Store(1), Tenant::None] {
                let sql = Reader::conditions_sql(&registry, backend, tenant, model.id, &args);
                self.outcome(sql);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_input_is_known() {
        let checker = Checker::new();
        let registry = &checker.registry;
        for model in &registry.models {
            let kinds: Vec<Input> = checker
                .inputs
                .values()
                .filter_map(|i| match i {
                    Input::Filter(m) | Input::Record(m) | Input::Bulk(m) if *m == model.id => Some(*i),
                    _ => None,
                })
                .collect();
            let expected = if model.generic_writes { 7 } else { 1 };
            assert_eq!(kinds.len(), expected, "{}: {kinds:?}", model.api_id);
            assert!(
                checker
                    .inputs
                    .contains_key(&super::super::models::sort_type(model))
            );
        }
    }

    #[test]
    fn a_list_and_a_create_are_planned() {
        let checker = Checker::new();
        let body = serde_json::json!({
            "query": "query($f: [BigcommerceProductFilter!]) { bigcommerce { products(first: 5, filter: $f, sort: {name: Descending}, search: \"shirt\") { edges { node { id variants(filter: {sku: {startsWith: \"A\"}}) { edges { node { id } } } } } } } }",
            "variables": {"f": {"name": {"in": ["a", "b"]}, "store": {"storeHash": {"equals": "abc"}}}},
        });
        match checker.check_body(body.to_string().as_bytes()) {
            Verdict::Planned(plan) => {
                // Two lists, each parsed once and written six times.
                assert_eq!(plan.parsed, 14, "{plan:?}");
                assert!(plan.refused.is_empty(), "{plan:?}");
            }
            other => panic!("{other:?}"),
        }
        let body = serde_json::json!({
            "query": "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) { success } } }",
            "variables": {"p": {"name": "x", "bigcommerceId": 1.5}},
        });
        match checker.check_body(body.to_string().as_bytes()) {
            Verdict::Planned(plan) => assert_eq!(plan.refused.len(), 1, "{plan:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            checker.check_body(b"{\"query\": \"{ nope }\"}"),
            Verdict::Invalid(_)
        ));
        assert!(matches!(checker.check_body(b"{]"), Verdict::NotARequest(_)));
        let deep = format!("{{\"query\": \"{}\"}}", "{ a ".repeat(200));
        assert!(matches!(checker.check_body(deep.as_bytes()), Verdict::Refused(_)));
    }
}
