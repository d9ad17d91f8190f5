//! Compiling a query document into a read plan, or finding that the fast path does not
//! cover it. The plan keeps only what the answer needs: the response keys in selection
//! order, which field of which model each one is, and the arguments of each list.

use super::Args;
use crate::graphql::models::connection_type;
use crate::model::{Model, ModelId, Registry, RelationKind};
use crate::query::Columns;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Value as ConstValue};

/// How deep fragment spreads may nest inside one selection set. Validation refuses
/// cycles, but plans are compiled before it runs.
const MAX_FRAGMENT_DEPTH: usize = 16;

/// A query the fast path answers: what is read and how the answer is laid out.
#[derive(Debug)]
pub struct Plan {
    /// The operation's variables and their default values.
    pub(super) variables: Vec<(Name, Option<ConstValue>)>,
    pub(super) root: Vec<(Name, RootItem)>,
}

#[derive(Debug)]
pub(super) enum RootItem {
    Typename,
    /// `gadgetMeta { ... }`, which every generated client's document selects.
    Meta(Vec<(Name, MetaItem)>),
    /// `bigcommerce { ... }`: a namespace's queries.
    Namespace { type_name: String, items: Vec<(Name, NamespaceItem)> },
}

#[derive(Debug)]
pub(super) enum MetaItem {
    Typename,
    Constant(&'static str),
    /// `hydrations(modelName: ...)`
    Hydrations(Args),
}

#[derive(Debug)]
pub(super) enum NamespaceItem {
    Typename,
    /// `products(first: ...) { edges { ... } pageInfo { ... } }`
    List { args: Args, connection: Connection },
    /// `product(id: ...) { ... }`
    One { args: Args, node: Node },
}

/// The selection on a connection of `model`.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) model: ModelId,
    pub(super) items: Vec<(Name, ConnectionItem)>,
}

#[derive(Debug)]
pub(super) enum ConnectionItem {
    Typename,
    Edges(Vec<(Name, EdgeItem)>),
    PageInfo(Vec<(Name, PageInfoItem)>),
}

#[derive(Debug)]
pub(super) enum EdgeItem {
    Typename,
    Cursor,
    Node(Node),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageInfoItem {
    Typename,
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

/// The selection on a record of `model`, and the columns it reads.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) model: ModelId,
    pub(super) items: Vec<(Name, NodeItem)>,
    pub(super) columns: Columns,
}

#[derive(Debug)]
pub(super) enum NodeItem {
    Typename,
    Field(usize),
    All,
    /// A belongsTo relation: the record its foreign key `field` points at.
    BelongsTo { field: usize, node: Node },
    /// A hasMany relation: a page of children per record.
    HasMany { relation: usize, args: Args, connection: Connection },
}

impl Plan {
    /// The plan of the operation `operation_name` selects in `document`, or `None` when
    /// the fast path does not answer it (a mutation, a directive, a field it does not
    /// know, two different selections under one response key, ...).
    pub fn compile(registry: &Registry, document: &ExecutableDocument, operation_name: Option<&str>) -> Option<Plan> {
        let operation = select_operation(document, operation_name)?;
        if operation.ty != OperationType::Query || !operation.directives.is_empty() {
            return None;
        }
        let compiler = Compiler { registry, document };
        let mut root = Vec::new();
        for field in compiler.fields(&operation.selection_set.node, "Query")? {
            let item = match field.name.node.as_str() {
                "__typename" => RootItem::Typename,
                "gadgetMeta" if field.arguments.is_empty() => RootItem::Meta(compiler.meta(field)?),
                name => compiler.namespace(name, field)?,
            };
            push(&mut root, field, item)?;
        }
        let variables = operation
            .variable_definitions
            .iter()
            .map(|v| (v.node.name.node.clone(), v.node.default_value.as_ref().map(|d| d.node.clone())))
            .collect();
        Some(Plan { variables, root })
    }
}

/// The operation a request runs, as async-graphql picks it.
fn select_operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

/// Add `item` under `field`'s response key. A key selected twice is merged by GraphQL;
/// the plan merges only the same leaf selected twice and leaves the rest to the
/// general executor.
fn push<T: Leaf>(items: &mut Vec<(Name, T)>, field: &Field, item: T) -> Option<()> {
    let key = field.response_key().node.clone();
    match items.iter().find(|(k, _)| *k == key) {
        Some((_, existing)) if existing.same_leaf(&item) && field.arguments.is_empty() => Some(()),
        Some(_) => None,
        None => {
            items.push((key, item));
            Some(())
        }
    }
}

/// Items that can be selected twice under one key and mean the same thing.
trait Leaf {
    fn same_leaf(&self, other: &Self) -> bool;
}

impl Leaf for RootItem {
    fn same_leaf(&self, other: &Self) -> bool {
        matches!((self, other), (RootItem::Typename, RootItem::Typename))
    }
}
impl Leaf for MetaItem {
    fn same_leaf(&self, other: &Self) -> bool {
        match (self, other) {
            (MetaItem::Typename, MetaItem::Typename) => true,
            (MetaItem::Constant(a), MetaItem::Constant(b)) => a == b,
            _ => false,
        }
    }
}
impl Leaf for NamespaceItem {
    fn same_leaf(&self, other: &Self) -> bool {
        matches!((self, other), (NamespaceItem::Typename, NamespaceItem::Typename))
    }
}
impl Leaf for ConnectionItem {
    fn same_leaf(&self, other: &Self) -> bool {
        matches!((self, other), (ConnectionItem::Typename, ConnectionItem::Typename))
    }
}
impl Leaf for EdgeItem {
    fn same_leaf(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (EdgeItem::Typename, EdgeItem::Typename) | (EdgeItem::Cursor, EdgeItem::Cursor)
        )
    }
}
impl Leaf for PageInfoItem {
    fn same_leaf(&self, other: &Self) -> bool {
        self == other
    }
}
impl Leaf for NodeItem {
    fn same_leaf(&self, other: &Self) -> bool {
        match (self, other) {
            (NodeItem::Typename, NodeItem::Typename) | (NodeItem::All, NodeItem::All) => true,
            (NodeItem::Field(a), NodeItem::Field(b)) => a == b,
            _ => false,
        }
    }
}

struct Compiler<'d> {
    registry: &'d Registry,
    document: &'d ExecutableDocument,
}

impl<'d> Compiler<'d> {
    /// The fields of a selection set on `type_name`, fragments spread in place. `None`
    /// for a directive anywhere or a fragment on another type.
    fn fields(&self, set: &'d SelectionSet, type_name: &str) -> Option<Vec<&'d Field>> {
        let mut out = Vec::new();
        self.collect(set, type_name, 0, &mut out)?;
        Some(out)
    }

    fn collect(&self, set: &'d SelectionSet, type_name: &str, depth: usize, out: &mut Vec<&'d Field>) -> Option<()> {
        if depth > MAX_FRAGMENT_DEPTH {
            return None;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if !field.node.directives.is_empty() {
                        return None;
                    }
                    out.push(&field.node);
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let on = fragment.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    if !fragment.directives.is_empty() || on.is_some_and(|on| on != type_name) {
                        return None;
                    }
                    self.collect(&fragment.selection_set.node, type_name, depth + 1, out)?;
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    let fragment = &self.document.fragments.get(&spread.fragment_name.node)?.node;
                    if !spread.directives.is_empty()
                        || !fragment.directives.is_empty()
                        || fragment.type_condition.node.on.node != type_name
                    {
                        return None;
                    }
                    self.collect(&fragment.selection_set.node, type_name, depth + 1, out)?;
                }
            }
        }
        Some(())
    }

    fn meta(&self, field: &'d Field) -> Option<Vec<(Name, MetaItem)>> {
        let mut items = Vec::new();
        for field in self.fields(&field.selection_set.node, crate::graphql::meta::META)? {
            let name = field.name.node.as_str();
            let item = match name {
                "__typename" => MetaItem::Typename,
                "hydrations" => MetaItem::Hydrations(args(field)),
                _ => MetaItem::Constant(
                    crate::graphql::meta::CONSTANTS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, value)| *value)?,
                ),
            };
            push(&mut items, field, item)?;
        }
        Some(items)
    }

    fn namespace(&self, name: &str, field: &'d Field) -> Option<RootItem> {
        let models: Vec<&Model> = self.registry.models.iter().filter(|m| m.namespace == name).collect();
        if models.is_empty() || !field.arguments.is_empty() {
            return None;
        }
        let type_name = crate::graphql::namespace_type(name, "Queries");
        let mut items = Vec::new();
        for field in self.fields(&field.selection_set.node, &type_name)? {
            let name = field.name.node.as_str();
            let item = if name == "__typename" {
                NamespaceItem::Typename
            } else if let Some(model) = models.iter().find(|m| m.plural_api_id == name) {
                NamespaceItem::List {
                    args: args(field),
                    connection: self.connection(model, field)?,
                }
            } else if let Some(model) = models.iter().find(|m| m.api_id == name) {
                NamespaceItem::One {
                    args: args(field),
                    node: self.node(model, field)?,
                }
            } else {
                return None;
            };
            push(&mut items, field, item)?;
        }
        Some(RootItem::Namespace { type_name, items })
    }

    fn connection(&self, model: &Model, field: &'d Field) -> Option<Connection> {
        let mut items = Vec::new();
        for field in self.fields(&field.selection_set.node, &connection_type(model))? {
            let item = match field.name.node.as_str() {
                "__typename" => ConnectionItem::Typename,
                "edges" => ConnectionItem::Edges(self.edges(model, field)?),
                "pageInfo" => ConnectionItem::PageInfo(self.page_info(field)?),
                _ => return None,
            };
            push(&mut items, field, item)?;
        }
        // The general path reads the union of several `edges` or `node` selections.
        let edges: Vec<_> = items
            .iter()
            .filter_map(|(_, i)| match i {
                ConnectionItem::Edges(e) => Some(e),
                _ => None,
            })
            .collect();
        let nodes = edges
            .iter()
            .flat_map(|e| e.iter())
            .filter(|(_, i)| matches!(i, EdgeItem::Node(_)))
            .count();
        if edges.len() > 1 || nodes > 1 {
            return None;
        }
        Some(Connection { model: model.id, items })
    }

    fn edges(&self, model: &Model, field: &'d Field) -> Option<Vec<(Name, EdgeItem)>> {
        let mut items = Vec::new();
        for field in self.fields(&field.selection_set.node, &format!("{}Edge", model.type_name()))? {
            let item = match field.name.node.as_str() {
                "__typename" => EdgeItem::Typename,
                "cursor" => EdgeItem::Cursor,
                "node" => EdgeItem::Node(self.node(model, field)?),
                _ => return None,
            };
            push(&mut items, field, item)?;
        }
        Some(items)
    }

    fn page_info(&self, field: &'d Field) -> Option<Vec<(Name, PageInfoItem)>> {
        let mut items = Vec::new();
        for field in self.fields(&field.selection_set.node, crate::graphql::types::PAGE_INFO)? {
            let item = match field.name.node.as_str() {
                "__typename" => PageInfoItem::Typename,
                "hasNextPage" => PageInfoItem::HasNextPage,
                "hasPreviousPage" => PageInfoItem::HasPreviousPage,
                "startCursor" => PageInfoItem::StartCursor,
                "endCursor" => PageInfoItem::EndCursor,
                _ => return None,
            };
            push(&mut items, field, item)?;
        }
        Some(items)
    }

    fn node(&self, model: &Model, field: &'d Field) -> Option<Node> {
        let mut items = Vec::new();
        let mut columns = Columns::id_only(model);
        for field in self.fields(&field.selection_set.node, &model.type_name())? {
            let name = field.name.node.as_str();
            let item = if name == "__typename" {
                NodeItem::Typename
            } else if name == "_all" {
                columns = Columns::All;
                NodeItem::All
            } else if let Some(i) = model.field(name).filter(|&i| !model.fields[i].hidden) {
                columns.add(i);
                NodeItem::Field(i)
            } else if let Some(r) = model.relation(name) {
                let relation = &model.relations[r];
                let target = self.registry.get(relation.target);
                match relation.kind {
                    RelationKind::BelongsTo { field: fk } => {
                        columns.add(fk);
                        NodeItem::BelongsTo {
                            field: fk,
                            node: self.node(target, field)?,
                        }
                    }
                    RelationKind::HasMany { .. } => NodeItem::HasMany {
                        relation: r,
                        args: args(field),
                        connection: self.connection(target, field)?,
                    },
                }
            } else {
                return None;
            };
            push(&mut items, field, item)?;
        }
        Some(Node {
            model: model.id,
            items,
            columns,
        })
    }
}

fn args(field: &Field) -> Args {
    field
        .arguments
        .iter()
        .map(|(name, value)| (name.node.clone(), value.node.clone()))
        .collect()
}
