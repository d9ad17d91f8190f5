//! The fast read path. A query made only of model reads — lists and finders, their
//! fields, `_all`, belongsTo and hasMany relations, aliases, fragments, `__typename` —
//! is answered without async-graphql's executor, which resolves every field of every
//! record as a future of its own and builds the whole answer as a `Value` tree first.
//! Here each relation level is one statement for all of its records (as the general
//! path's loaders batch them) and the JSON is written straight into the response body.
//!
//! async-graphql still parses and validates every document: the plan runs from the
//! `execute` hook of an extension, which validation has passed by then. Anything the
//! plan does not cover, and any error on the way (a refused argument, a denied
//! relation, a spent record budget), is answered by the general executor instead, so
//! that the two answer the same; `tests/it/fast_reads.rs` runs a corpus through both.

mod plan;
mod write;

pub use plan::Plan;

use super::RequestContext;
use super::models::{page_args, page_size};
use crate::model::{ModelId, RelationKind};
use crate::query::{Joined, JoinedRecords, Page, PageArgs, Record, find_joined_in, find_many_in};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Name, Response, Value as ConstValue, Variables};
use futures::future::BoxFuture;
use indexmap::IndexMap;
use plan::{ConnectionItem, EdgeItem, NamespaceItem, Node, NodeItem, PageInfoItem, RootItem};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A field's arguments as the document gives them, variables unresolved.
type Args = Vec<(Name, async_graphql_value::Value)>;

/// Where the extension leaves the response body of a request it answered.
pub type AnswerSlot = Arc<Mutex<Option<Vec<u8>>>>;

/// What a request hands the extension: the plan, its variables, and where the answer goes.
pub struct FastRead {
    plan: Arc<Plan>,
    variables: Variables,
    body: AnswerSlot,
}

impl FastRead {
    /// The fast path for `request`, when its document has a plan. The returned slot holds
    /// the response body once the fast path has answered.
    pub fn prepare(
        registry: &crate::model::Registry,
        request: &mut async_graphql::Request,
    ) -> Option<(FastRead, AnswerSlot)> {
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let plan = Plan::compile(registry, document, operation_name.as_deref())?;
        let body = Arc::new(Mutex::new(None));
        let fast = FastRead {
            plan: Arc::new(plan),
            variables: request.variables.clone(),
            body: body.clone(),
        };
        Some((fast, body))
    }
}

/// How a request was answered by [`execute`].
pub enum Answer {
    /// By the fast path: the response body, `{"data": ...}`, without errors.
    Body(Vec<u8>),
    /// By the general executor (or a refusal before it).
    Response(Response),
}

impl Answer {
    /// As a `Response`, for a live query, which compares each answer with the last: the
    /// fast answer's JSON is read back into a `Value`. (The websocket's other answers go
    /// out as the bytes the fast path wrote: `server::socket_answers`.)
    pub fn into_response(self) -> Response {
        let body = match self {
            Answer::Response(response) => return response,
            Answer::Body(body) => body,
        };
        let data = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(mut answer)) => answer.remove("data").map(ConstValue::from_json),
            _ => None,
        };
        match data {
            Some(Ok(data)) => Response::new(data),
            // Cannot happen: the body is JSON the fast path wrote itself.
            _ => super::errors::refusal(super::errors::INTERNAL_ERROR, "could not read the fast path's answer"),
        }
    }
}

/// Run `request` as `context` (see [`super::execute::run`]), through the fast path when
/// `fast` allows it and the document has a plan.
pub async fn execute(
    schema: &async_graphql::dynamic::Schema,
    request: async_graphql::Request,
    context: RequestContext,
    timeout: std::time::Duration,
    fast: bool,
) -> Answer {
    let mut request = request;
    let prepared = match fast {
        true => FastRead::prepare(&context.api.registry, &mut request),
        false => None,
    };
    let (request, slot) = match prepared {
        Some((fast, slot)) => (request.data(fast), Some(slot)),
        None => (request, None),
    };
    let response = super::execute::run(schema, request, context, timeout).await;
    match slot.and_then(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take()) {
        Some(body) => Answer::Body(body),
        None => Answer::Response(response),
    }
}

/// The extension that runs [`FastRead`]s (registered on every schema).
pub struct FastReads;

impl ExtensionFactory for FastReads {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FastReads)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for FastReads {
    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        if let (Some(fast), Some(context)) = (ctx.data_opt::<FastRead>(), ctx.data_opt::<RequestContext>()) {
            let mut run = Run {
                context,
                plan: &fast.plan,
                variables: &fast.variables,
                taken: 0,
                unavailable: false,
            };
            match run.answer().await {
                Ok(body) => {
                    *fast.body.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
                    return Response::default();
                }
                Err(Fallback) if run.unavailable => {
                    return super::errors::refusal(super::errors::UNAVAILABLE, crate::action::UNAVAILABLE_MESSAGE);
                }
                // Records the fast path took are the general path's to take again.
                Err(Fallback) => context.give_back_records(run.taken),
            }
        }
        next.run(ctx, operation_name).await
    }
}

/// The fast path cannot answer exactly as the general one would: let it answer.
#[derive(Debug)]
struct Fallback;

impl From<async_graphql::Error> for Fallback {
    fn from(_: async_graphql::Error) -> Fallback {
        Fallback
    }
}

impl From<crate::query::QueryError> for Fallback {
    fn from(_: crate::query::QueryError) -> Fallback {
        Fallback
    }
}

/// What one plan level read: per relation item of a node, the records or pages it
/// reads for every record of that level, and what their own relations read.
#[derive(Default)]
struct Loaded {
    items: Vec<LoadedItem>,
}

enum LoadedItem {
    Leaf,
    BelongsTo(HashMap<i64, Record>, Loaded),
    HasMany(HashMap<i64, Page>, Loaded, Arc<[crate::query::SortKey]>),
}

enum LoadedRoot {
    Leaf,
    /// `gadgetMeta`, its hydration plans resolved.
    Meta(Vec<Option<async_graphql::Value>>),
    Namespace(Vec<LoadedNamespace>),
}

enum LoadedNamespace {
    Leaf,
    List(Page, Loaded),
    One(Option<Record>, Loaded),
}

struct Run<'a> {
    context: &'a RequestContext,
    plan: &'a Plan,
    variables: &'a Variables,
    /// Records taken from the budget, given back if the general path takes over.
    taken: usize,
    /// A read failed because the database is away: the general path would only wait
    /// for it as long again, so the request is answered unavailable instead.
    unavailable: bool,
}

impl<'a> Run<'a> {
    /// The result of a read, noting an unavailable database.
    fn read<T>(&mut self, result: Result<T, crate::query::QueryError>) -> Result<T, Fallback> {
        result.map_err(|e| {
            if let crate::query::QueryError::Database(db) = &e {
                self.unavailable |= crate::db::is_unavailable(db);
            }
            Fallback
        })
    }

    async fn answer(&mut self) -> Result<Vec<u8>, Fallback> {
        let plan = self.plan;
        let mut loaded = Vec::with_capacity(plan.root.len());
        for (_, item) in &plan.root {
            loaded.push(match item {
                RootItem::Typename => LoadedRoot::Leaf,
                RootItem::Meta(items) => LoadedRoot::Meta(self.meta(items)?),
                RootItem::Namespace { items, .. } => LoadedRoot::Namespace(self.namespace(items).await?),
            });
        }
        let registry = &self.context.reader.registry;
        write::response(registry, plan, &loaded)
    }

    /// The arguments of a field with its variables resolved, as async-graphql hands
    /// them to a resolver.
    fn resolve(&self, args: &Args) -> Result<IndexMap<Name, ConstValue>, Fallback> {
        let mut out = IndexMap::with_capacity(args.len());
        for (name, value) in args {
            // A variable the request leaves out takes its default, or reads as null
            // (validation has refused a missing non-null one).
            let value = value.clone().into_const_with(|var: Name| {
                let (name, default) = self.plan.variables.iter().find(|(n, _)| *n == var).ok_or(Fallback)?;
                Ok::<_, Fallback>(
                    self.variables
                        .get(name)
                        .or(default.as_ref())
                        .cloned()
                        .unwrap_or(ConstValue::Null),
                )
            })?;
            out.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// The hydration plans `gadgetMeta` is asked for, as its resolver finds them.
    fn meta(&self, items: &[(Name, plan::MetaItem)]) -> Result<Vec<Option<ConstValue>>, Fallback> {
        let registry = &self.context.reader.registry;
        let mut out = Vec::with_capacity(items.len());
        for (_, item) in items {
            out.push(match item {
                plan::MetaItem::Hydrations(args) => match self.resolve(args)?.get("modelName") {
                    Some(ConstValue::String(name)) => registry
                        .models
                        .iter()
                        .find(|m| m.qualified_name() == *name)
                        .map(|m| ConstValue::Object(super::meta::hydration_plan(m))),
                    _ => None,
                },
                _ => None,
            });
        }
        Ok(out)
    }

    fn page_args(&self, model: ModelId, args: &Args) -> Result<PageArgs, Fallback> {
        let registry = &self.context.reader.registry;
        let args = self.resolve(args)?;
        let args = page_args(registry, registry.get(model), &args, &self.context.input_limits)?;
        self.context.check_list(registry.get(model), &args)?;
        Ok(args)
    }

    fn take(&mut self, n: usize) -> Result<(), Fallback> {
        if !self.context.take_records(n) {
            // The budget is spent and the answer is its refusal whichever path gives
            // it; what was handed out so far stays handed, as the refusal counts it.
            self.taken = 0;
            return Err(Fallback);
        }
        self.taken += n;
        Ok(())
    }

    fn give_back(&mut self, n: usize) {
        self.context.give_back_records(n);
        self.taken = self.taken.saturating_sub(n);
    }

    /// A namespace's lists and finders: every one reserves its records first, as the
    /// general path's sibling resolvers do, then each is read.
    async fn namespace(&mut self, items: &[(Name, NamespaceItem)]) -> Result<Vec<LoadedNamespace>, Fallback> {
        let registry = self.context.reader.registry.clone();
        enum Ready<'p> {
            Leaf,
            List(PageArgs, &'p plan::Connection, usize),
            One(i64, &'p Node),
        }
        let mut ready = Vec::with_capacity(items.len());
        for (_, item) in items {
            ready.push(match item {
                NamespaceItem::Typename => Ready::Leaf,
                NamespaceItem::List { args, connection } => {
                    let args = self.page_args(connection.model, args)?;
                    let size = page_size(&args);
                    self.take(size)?;
                    Ready::List(args, connection, size)
                }
                NamespaceItem::One { args, node } => {
                    let id = match self.resolve(args)?.get("id") {
                        Some(ConstValue::String(s)) => crate::query::value::parse_id(s),
                        Some(ConstValue::Number(n)) => n.as_i64(),
                        _ => None,
                    }
                    .ok_or(Fallback)?;
                    self.context.check_read(registry.get(node.model))?;
                    self.take(1)?;
                    Ready::One(id, node)
                }
            });
        }
        let mut out = Vec::with_capacity(ready.len());
        for item in ready {
            out.push(match item {
                Ready::Leaf => LoadedNamespace::Leaf,
                Ready::List(args, connection, size) => {
                    let exact = asks_across(connection, args.backward());
                    let node = connection_node(connection);
                    let columns = node.map_or_else(|| crate::query::Columns::id_only(registry.get(connection.model)), |n| n.columns.clone());
                    let joins = node.map(|n| self.joins(n)).unwrap_or_default();
                    let page = self.context.reader.page_joined(connection.model, &args, &columns, exact, &joins.joins).await;
                    let (page, joined) = self.read(page)?;
                    self.give_back(size.saturating_sub(page.records.len()));
                    let loaded = match node {
                        Some(node) => self.node(node, page.records.iter().map(|r| (r, 1)).collect(), joins.by_item(node, joined)).await?,
                        None => Loaded::default(),
                    };
                    LoadedNamespace::List(page, loaded)
                }
                Ready::One(id, node) => {
                    let joins = self.joins(node);
                    let reader = &self.context.reader;
                    let found = find_joined_in(&reader.db, &registry, reader.tenant, node.model, &[id], &node.columns, &joins.joins).await;
                    let (mut found, joined) = self.read(found)?;
                    let found = found.pop();
                    if found.is_none() {
                        self.give_back(1);
                    }
                    let loaded = self.node(node, found.iter().map(|r| (r, 1)).collect(), joins.by_item(node, joined)).await?;
                    LoadedNamespace::One(found, loaded)
                }
            });
        }
        Ok(out)
    }

    /// The belongsTo relations of `node` that the statement reading its records can read
    /// too (see [`Joined`]): those the caller may read. A denied one is left to
    /// [`Run::node`], whose check sends the request to the general path.
    fn joins(&self, node: &Node) -> Joins {
        let registry = &self.context.reader.registry;
        let (items, joins) = node
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, (_, item))| match item {
                NodeItem::BelongsTo { field, node: target } if self.context.check_read(registry.get(target.model)).is_ok() => {
                    let mut columns = target.columns.clone();
                    columns.add(crate::model::Model::ID);
                    let join = Joined {
                        field: *field,
                        target: target.model,
                        columns,
                    };
                    Some((i, join))
                }
                _ => None,
            })
            .unzip();
        Joins { items, joins }
    }

    /// The relations of `node` for all of `records` (one plan level): each reserves its
    /// records, then each is read in one statement, then the level below. `joined` holds
    /// what the statement that read `records` read of the belongsTo relations that
    /// [`Run::joins`] chose, by item; the others are read here.
    ///
    /// A record read once can appear many times in the answer (every product's `store`
    /// is the same store): each comes with the number of times it is written, and the
    /// budget is charged per appearance, as the general path's resolvers charge it.
    /// Otherwise `store { products { edges { node { store { products ...` would read a
    /// little and write an answer that grows by 250 times at every turn.
    fn node<'r>(
        &'r mut self,
        node: &'r Node,
        records: Vec<(&'r Record, usize)>,
        mut joined: Vec<Option<HashMap<i64, Record>>>,
    ) -> BoxFuture<'r, Result<Loaded, Fallback>> {
        Box::pin(async move {
            let registry = self.context.reader.registry.clone();
            let model = registry.get(node.model);
            if records.is_empty() || !node.items.iter().any(|(_, i)| matches!(i, NodeItem::BelongsTo { .. } | NodeItem::HasMany { .. })) {
                return Ok(Loaded {
                    items: node.items.iter().map(|_| LoadedItem::Leaf).collect(),
                });
            }
            // Reserve first, for every relation of the level.
            let mut reserved = Vec::with_capacity(node.items.len());
            for (_, item) in &node.items {
                reserved.push(match item {
                    NodeItem::BelongsTo { field, node: target } => {
                        let pointing = records
                            .iter()
                            .filter(|(r, _)| r.int(*field).is_some())
                            .fold(0usize, |sum, (_, times)| sum.saturating_add(*times));
                        self.context.check_read(registry.get(target.model))?;
                        self.take(pointing)?;
                        (None, pointing)
                    }
                    NodeItem::HasMany { args, connection, .. } => {
                        let args = self.page_args(connection.model, args)?;
                        let appearances = records.iter().fold(0usize, |sum, (_, times)| sum.saturating_add(*times));
                        let size = page_size(&args).saturating_mul(appearances);
                        self.take(size)?;
                        (Some(args), size)
                    }
                    _ => (None, 0),
                });
            }
            let mut items = Vec::with_capacity(node.items.len());
            for (index, ((_, item), (args, reserved))) in node.items.iter().zip(reserved).enumerate() {
                items.push(match item {
                    NodeItem::BelongsTo { field, node: target } => {
                        // How often each target appears: the appearances of the records pointing at it.
                        let mut pointed: HashMap<i64, usize> = HashMap::new();
                        for (r, times) in &records {
                            if let Some(fk) = r.int(*field) {
                                let count = pointed.entry(fk).or_default();
                                *count = count.saturating_add(*times);
                            }
                        }
                        let found: HashMap<i64, Record> = match joined.get_mut(index).and_then(Option::take) {
                            Some(mut found) => {
                                found.retain(|id, _| pointed.contains_key(id));
                                found
                            }
                            None => {
                                let ids: Vec<i64> = pointed.keys().copied().collect();
                                let reader = &self.context.reader;
                                let found = find_many_in(&reader.db, &registry, reader.tenant, target.model, &ids, &target.columns).await;
                                self.read(found)?.into_iter().map(|r| (r.id(), r)).collect()
                            }
                        };
                        let missing = pointed
                            .iter()
                            .filter(|(fk, _)| !found.contains_key(fk))
                            .fold(0usize, |sum, (_, times)| sum.saturating_add(*times));
                        self.give_back(missing);
                        let below = self
                            .node(target, found.values().map(|r| (r, pointed.get(&r.id()).copied().unwrap_or(1))).collect(), Vec::new())
                            .await?;
                        LoadedItem::BelongsTo(found, below)
                    }
                    NodeItem::HasMany { relation, connection, .. } => {
                        let args = args.ok_or(Fallback)?;
                        let child = connection_node(connection);
                        let mut columns = child.map_or_else(
                            || crate::query::Columns::id_only(registry.get(connection.model)),
                            |n| n.columns.clone(),
                        );
                        if let RelationKind::HasMany { target_field } = model.relations[*relation].kind {
                            columns.add(target_field);
                        }
                        let mut parents: HashMap<i64, usize> = HashMap::new();
                        for (r, times) in &records {
                            let count = parents.entry(r.id()).or_default();
                            *count = count.saturating_add(*times);
                        }
                        let ids: Vec<i64> = parents.keys().copied().collect();
                        let pages = self.context.reader.children(node.model, *relation, &ids, &args, &columns).await;
                        let pages = self.read(pages)?;
                        let found = pages
                            .iter()
                            .fold(0usize, |sum, (parent, page)| sum.saturating_add(page.records.len().saturating_mul(parents.get(parent).copied().unwrap_or(1))));
                        self.give_back(reserved.saturating_sub(found));
                        let children = pages
                            .iter()
                            .flat_map(|(parent, page)| page.records.iter().map(|r| (r, parents.get(parent).copied().unwrap_or(1))))
                            .collect();
                        let below = match child {
                            Some(child) => self.node(child, children, Vec::new()).await?,
                            None => Loaded::default(),
                        };
                        LoadedItem::HasMany(pages, below, args.sort.into())
                    }
                    _ => LoadedItem::Leaf,
                });
            }
            Ok(Loaded { items })
        })
    }
}

/// The belongsTo relations of a node read with its records: which items, and how.
#[derive(Default)]
struct Joins {
    items: Vec<usize>,
    joins: Vec<Joined>,
}

impl Joins {
    /// What the joins found, by item of `node`, for [`Run::node`].
    fn by_item(&self, node: &Node, found: JoinedRecords) -> Vec<Option<HashMap<i64, Record>>> {
        let mut by_item: Vec<Option<HashMap<i64, Record>>> = node.items.iter().map(|_| None).collect();
        for (item, found) in self.items.iter().zip(found) {
            by_item[*item] = Some(found);
        }
        by_item
    }
}

/// The node selection of a connection's edges, if it has one.
fn connection_node(connection: &plan::Connection) -> Option<&Node> {
    connection.items.iter().find_map(|(_, item)| match item {
        ConnectionItem::Edges(edges) => edges.iter().find_map(|(_, e)| match e {
            EdgeItem::Node(node) => Some(node),
            _ => None,
        }),
        _ => None,
    })
}

/// Whether `pageInfo` asks across the cursor (`hasPreviousPage` going forward), which
/// costs the general path one more statement too.
fn asks_across(connection: &plan::Connection, backward: bool) -> bool {
    let across = if backward {
        PageInfoItem::HasNextPage
    } else {
        PageInfoItem::HasPreviousPage
    };
    connection.items.iter().any(|(_, item)| match item {
        ConnectionItem::PageInfo(items) => items.iter().any(|(_, i)| *i == across),
        _ => false,
    })
}
