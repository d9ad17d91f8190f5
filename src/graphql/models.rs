//! The generated types of each model: the record object, its connection and edge,
//! its filter and sort inputs, and the resolvers that read them.

use super::RequestContext;
use super::errors::query_error;
use super::loaders::ChildSpec;
use super::parent::{fail, from_parent, parent_field};
use super::types::{self, JSON_OBJECT, PAGE_INFO, PageInfoValue, SORT_ORDER};
use crate::model::{FieldType, Model, ModelId, Registry, RelationKind};
use crate::query::bounds::InputLimits;
use crate::query::{Columns, Cond, Page, PageArgs, Record, Value, filter, parse_sort};
use async_graphql::indexmap::IndexMap;
use async_graphql::{Name, SelectionField, Value as GqlValue};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a connection field resolves to.
pub struct ConnectionValue {
    pub page: Arc<Page>,
}

impl ConnectionValue {
    /// A page with no records: what a list answers once the record budget is spent.
    pub fn empty(sort: Vec<crate::query::SortKey>) -> ConnectionValue {
        ConnectionValue {
            page: Arc::new(Page {
                records: Vec::new(),
                has_next_page: false,
                has_previous_page: false,
                sort: sort.into(),
            }),
        }
    }
}

struct EdgeValue {
    page: Arc<Page>,
    idx: usize,
}

/// The record a field is being resolved on (owned, borrowed or shared).
pub fn record<'a>(value: &'a FieldValue<'a>) -> async_graphql::Result<&'a Record> {
    if let Some(r) = value.downcast_ref::<Record>() {
        return Ok(r);
    }
    value
        .downcast_ref::<Arc<Record>>()
        .map(|r| &**r)
        .ok_or_else(|| async_graphql::Error::new("internal error: expected a record"))
}

/// A field value as GraphQL output.
pub fn to_graphql(value: &Value, ty: FieldType) -> async_graphql::Value {
    use async_graphql::Value as G;
    match value {
        Value::Null => G::Null,
        Value::Int(v) if ty == FieldType::Id => G::String(v.to_string()),
        Value::Int(v) => G::Number((*v).into()),
        Value::Float(v) => serde_json::Number::from_f64(*v).map(G::Number).unwrap_or(G::Null),
        Value::Bool(v) => G::Boolean(*v),
        Value::String(v) => G::String(v.clone()),
        Value::DateTime(v) => G::String(crate::query::value::format_datetime(v)),
        Value::Json(v) => G::from_json(serde_json::Value::clone(v)).unwrap_or(G::Null),
    }
}

pub fn connection_type(model: &Model) -> String {
    format!("{}Connection", model.type_name())
}
pub fn filter_type(model: &Model) -> String {
    format!("{}Filter", model.type_name())
}
pub fn sort_type(model: &Model) -> String {
    format!("{}Sort", model.type_name())
}
fn belongs_to_filter_type(model: &Model) -> String {
    format!("{}RelationshipFilter", model.type_name())
}
fn has_many_filter_type(model: &Model) -> String {
    format!("{}RelationshipFilter", model.plural_type_name())
}

/// The page arguments every list field takes.
pub fn page_arguments(field: Field, model: &Model) -> Field {
    let field = field
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("before", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("last", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("sort", TypeRef::named_nn_list(sort_type(model))))
        .argument(InputValue::new(
            "filter",
            TypeRef::named_nn_list(filter_type(model)),
        ))
        .argument(InputValue::new("search", TypeRef::named(TypeRef::STRING)));
    if model.searchable.is_empty() {
        return field;
    }
    field.argument(InputValue::new(
        "searchFields",
        TypeRef::named(search_fields_type(model)),
    ))
}

/// `<Model>SearchFields`: one entry per searchable field, `true` or an options object.
pub fn search_fields_type(model: &Model) -> String {
    format!("{}SearchFields", model.type_name())
}

/// The most records a page of `args` holds, as the record budget reserves them.
pub fn page_size(args: &PageArgs) -> usize {
    args.first
        .or(args.last)
        .unwrap_or(crate::query::DEFAULT_PAGE_SIZE)
        .try_into()
        .unwrap_or(usize::MAX)
}

/// Read the page arguments of a list field, within the caller's input bounds.
pub fn page_args(
    registry: &Registry,
    model: &Model,
    args: &IndexMap<Name, GqlValue>,
    limits: &InputLimits,
) -> async_graphql::Result<PageArgs> {
    let present = |name: &str| args.get(name).filter(|v| !matches!(v, GqlValue::Null));
    let int = |name: &str| -> async_graphql::Result<Option<i64>> {
        present(name)
            .map(|v| match v {
                GqlValue::Number(n) => n.as_i64().ok_or_else(|| async_graphql::Error::new("internal: not an Int")),
                _ => Err(async_graphql::Error::new("internal: not an Int")),
            })
            .transpose()
    };
    let string = |name: &str| -> async_graphql::Result<Option<&str>> {
        present(name)
            .map(|v| match v {
                GqlValue::String(s) => Ok(s.as_str()),
                _ => Err(async_graphql::Error::new("internal: not a String")),
            })
            .transpose()
    };
    let first = int("first")?;
    let last = int("last")?;
    let after = string("after")?.map(str::to_owned);
    let before = string("before")?.map(str::to_owned);
    let sort = match present("sort") {
        Some(v) => parse_sort(model, &super::to_json(v)?).map_err(query_error)?,
        None => parse_sort(model, &serde_json::Value::Null).map_err(query_error)?,
    };
    let mut cond = match present("filter") {
        Some(v) => filter::parse(registry, model, &super::to_json(v)?).map_err(query_error)?,
        None => Cond::Const(true),
    };
    limits.check(&cond).map_err(query_error)?;
    if let Some(term) = string("search")? {
        let term = term.trim();
        limits.check_search(term).map_err(query_error)?;
        if !term.is_empty() {
            let fields = match present("searchFields") {
                Some(v) => Some(search_fields(model, &super::to_json(v)?)?),
                None => None,
            };
            cond = Cond::All(vec![cond, filter::search(model, term, fields)]).simplify();
        }
    }
    PageArgs::new(first, last, after, before, sort, cond).map_err(query_error)
}

/// The fields `searchFields: {name: true, sku: {weight: 2}}` names: those whose value
/// is neither `false` nor `null`. Weights and options are accepted and not used: the
/// search filters, it does not rank.
fn search_fields(model: &Model, value: &serde_json::Value) -> async_graphql::Result<Vec<usize>> {
    let Some(object) = value.as_object() else {
        return Err(super::coded(
            super::errors::INVALID_QUERY_INPUT,
            "`searchFields` must be an object",
        ));
    };
    let mut fields = Vec::new();
    for (name, options) in object {
        if matches!(options, serde_json::Value::Null | serde_json::Value::Bool(false)) {
            continue;
        }
        match model.field(name).filter(|i| model.searchable.contains(i)) {
            Some(i) => fields.push(i),
            None => {
                return Err(super::coded(
                    super::errors::INVALID_QUERY_INPUT,
                    format!("`{name}` is not a searchable field of {}", model.qualified_name()),
                ));
            }
        }
    }
    Ok(fields)
}

/// The columns a selection of records reads: its fields, the foreign keys of its
/// belongsTo fields, and `id`. Fetching only these keeps large JSON off the wire.
pub fn node_columns<'a>(model: &Model, fields: impl Iterator<Item = SelectionField<'a>>) -> Columns {
    let mut columns = Columns::id_only(model);
    for field in fields {
        if field.name() == "_all" {
            return Columns::All;
        }
        if let Some(i) = model.field(field.name()) {
            columns.add(i);
        } else if let Some(r) = model.relation(field.name())
            && let RelationKind::BelongsTo { field } = model.relations[r].kind
        {
            columns.add(field);
        }
    }
    columns
}

/// The columns a connection field reads: the union over its `edges { node { ... } }`.
pub fn connection_columns(model: &Model, connection: SelectionField) -> Columns {
    let edges: Vec<SelectionField> = connection
        .selection_set()
        .filter(|f| f.name() == "edges")
        .collect();
    let nodes: Vec<SelectionField> = edges
        .iter()
        .flat_map(|edges| edges.selection_set())
        .filter(|f| f.name() == "node")
        .collect();
    node_columns(model, nodes.iter().flat_map(|node| node.selection_set()))
}

/// Register every type of `model`.
pub fn register(mut schema: SchemaBuilder, registry: &Arc<Registry>, model: &Model) -> SchemaBuilder {
    schema = schema
        .register(object(registry, model))
        .register(connection(registry, model))
        .register(
            Object::new(format!("{}Edge", model.type_name()))
                .field(Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), {
                    let registry = registry.clone();
                    let model_id = model.id;
                    move |ctx| {
                        from_parent::<EdgeValue>(&ctx, |edge| {
                            let cursor = edge
                                .page
                                .cursor(registry.get(model_id), &edge.page.records[edge.idx]);
                            Some(FieldValue::value(cursor))
                        })
                    }
                }))
                .field(parent_field::<EdgeValue>(
                    "node",
                    TypeRef::named_nn(model.type_name()),
                    |edge| Some(FieldValue::borrowed_any(&edge.page.records[edge.idx])),
                )),
        )
        .register(filter_input(registry, model, &filter_type(model), false))
        .register(sort_input(model));
    if !model.searchable.is_empty() {
        let mut fields = InputObject::new(search_fields_type(model));
        for &i in &model.searchable {
            fields = fields.field(InputValue::new(
                &model.fields[i].api_id,
                TypeRef::named(types::JSON),
            ));
        }
        schema = schema.register(fields);
    }
    // Relationship filters are only generated for models that are the target of a relation.
    let targets: BTreeSet<(ModelId, bool)> = registry
        .models
        .iter()
        .flat_map(|m| m.relations.iter())
        .map(|r| (r.target, matches!(r.kind, RelationKind::HasMany { .. })))
        .collect();
    if targets.contains(&(model.id, false)) {
        schema = schema.register(filter_input(
            registry,
            model,
            &belongs_to_filter_type(model),
            true,
        ));
    }
    if targets.contains(&(model.id, true)) {
        schema = schema.register(
            InputObject::new(has_many_filter_type(model))
                .field(InputValue::new(
                    "some",
                    TypeRef::named_nn_list(filter_type(model)),
                ))
                .field(InputValue::new(
                    "every",
                    TypeRef::named_nn_list(filter_type(model)),
                )),
        );
    }
    schema
}

fn object(registry: &Arc<Registry>, model: &Model) -> Object {
    let mut obj = Object::new(model.type_name());
    for (idx, f) in model.fields.iter().enumerate() {
        if f.hidden {
            continue;
        }
        let scalar = types::scalar_of(f.ty);
        let ty = if matches!(f.api_id.as_str(), "id" | "createdAt" | "updatedAt") {
            TypeRef::named_nn(scalar)
        } else {
            TypeRef::named(scalar)
        };
        let field_ty = f.ty;
        obj = obj.field(Field::new(f.api_id.clone(), ty, move |ctx| {
            match record(ctx.parent_value) {
                // A null is no value: the `GadgetID` and `DateTime` scalars refuse `null`
                // as one, which answered an internal error for every null id or date.
                Ok(r) => FieldFuture::Value(match to_graphql(&r.values[idx], field_ty) {
                    async_graphql::Value::Null => None,
                    value => Some(FieldValue::value(value)),
                }),
                Err(e) => fail(e),
            }
        }));
    }
    for (rel_idx, rel) in model.relations.iter().enumerate() {
        let target = registry.get(rel.target);
        match rel.kind {
            RelationKind::BelongsTo { field } => {
                let target_id = target.id;
                obj = obj.field(Field::new(
                    rel.api_id.clone(),
                    TypeRef::named(target.type_name()),
                    move |ctx| {
                        FieldFuture::new(async move {
                            let Some(fk) = record(ctx.parent_value)?.int(field) else {
                                return Ok(None);
                            };
                            let context = ctx.data::<RequestContext>()?;
                            context.check_read(context.reader.registry.get(target_id))?;
                            if !context.take_records(1) {
                                return Ok(None);
                            }
                            let found = context
                                .loaders
                                .records
                                .load_one((target_id, fk))
                                .await
                                .map_err(|e| (*e).clone())?;
                            if found.is_none() {
                                context.give_back_records(1);
                            }
                            Ok(found.map(FieldValue::owned_any))
                        })
                    },
                ));
            }
            RelationKind::HasMany { .. } => {
                let registry = registry.clone();
                let model_id = model.id;
                let target_id = target.id;
                let field = Field::new(
                    rel.api_id.clone(),
                    TypeRef::named_nn(connection_type(target)),
                    move |ctx| {
                        let registry = registry.clone();
                        FieldFuture::new(async move {
                            has_many(&registry, model_id, rel_idx, target_id, ctx).await
                        })
                    },
                );
                obj = obj.field(page_arguments(field, target));
            }
        }
    }
    obj.field(Field::new("_all", TypeRef::named_nn(JSON_OBJECT), {
        let registry = registry.clone();
        let model_id = model.id;
        move |ctx| match record(ctx.parent_value) {
            Ok(r) => {
                let json = serde_json::Value::Object(r.to_json_object(registry.get(model_id)));
                FieldFuture::Value(Some(FieldValue::value(
                    async_graphql::Value::from_json(json).unwrap_or_default(),
                )))
            }
            Err(e) => fail(e),
        }
    }))
}

async fn has_many<'a>(
    registry: &Registry,
    model_id: ModelId,
    relation: usize,
    target_id: ModelId,
    ctx: ResolverContext<'a>,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let parent = record(ctx.parent_value)?.id();
    let context = ctx.data::<RequestContext>()?;
    let args = page_args(
        registry,
        registry.get(target_id),
        ctx.args.as_index_map(),
        &context.input_limits,
    )?;
    let sort = args.sort.clone();
    context.check_list(registry.get(target_id), &args)?;
    let size = page_size(&args);
    if !context.take_records(size) {
        return Ok(Some(FieldValue::owned_any(ConnectionValue::empty(sort))));
    }
    let loaders = &context.loaders;
    let columns = connection_columns(registry.get(target_id), ctx.ctx.field());
    let key = loaders.children.loader().key(ChildSpec {
        columns,
        parent: model_id,
        relation,
        args,
    });
    let page = loaders
        .children
        .load_one((key, parent))
        .await
        .map_err(|e| (*e).clone())?;
    // Pages are shared between parents that ask alike: each parent's use counts.
    let found = page.as_ref().map_or(0, |page| page.records.len());
    context.give_back_records(size.saturating_sub(found));
    let connection = match page {
        Some(page) => ConnectionValue { page },
        None => ConnectionValue::empty(sort),
    };
    Ok(Some(FieldValue::owned_any(connection)))
}

fn connection(registry: &Arc<Registry>, model: &Model) -> Object {
    let edge_type = format!("{}Edge", model.type_name());
    let registry = registry.clone();
    let model_id = model.id;
    Object::new(connection_type(model))
        .field(parent_field::<ConnectionValue>(
            "edges",
            TypeRef::named_nn_list_nn(edge_type),
            |conn| {
                Some(FieldValue::list((0..conn.page.records.len()).map(|idx| {
                    FieldValue::owned_any(EdgeValue {
                        page: conn.page.clone(),
                        idx,
                    })
                })))
            },
        ))
        .field(parent_field::<ConnectionValue>(
            "pageInfo",
            TypeRef::named_nn(PAGE_INFO),
            move |conn| {
                let model = registry.get(model_id);
                let page = &conn.page;
                Some(FieldValue::owned_any(PageInfoValue {
                    has_next_page: page.has_next_page,
                    has_previous_page: page.has_previous_page,
                    start_cursor: page.records.first().map(|r| page.cursor(model, r)),
                    end_cursor: page.records.last().map(|r| page.cursor(model, r)),
                }))
            },
        ))
}

fn filter_input(registry: &Registry, model: &Model, name: &str, with_is_set: bool) -> InputObject {
    let own = filter_type(model);
    let mut input = InputObject::new(name)
        .field(InputValue::new("AND", TypeRef::named_list(&own)))
        .field(InputValue::new("OR", TypeRef::named_list(&own)))
        .field(InputValue::new("NOT", TypeRef::named_list(&own)));
    if with_is_set {
        input = input.field(InputValue::new("isSet", TypeRef::named(TypeRef::BOOLEAN)));
    }
    for f in model.fields.iter().filter(|f| !f.hidden) {
        input = input.field(InputValue::new(
            f.api_id.clone(),
            TypeRef::named(types::filter_of(f.ty)),
        ));
    }
    for rel in &model.relations {
        let target = registry.get(rel.target);
        let ty = match rel.kind {
            RelationKind::BelongsTo { .. } => belongs_to_filter_type(target),
            RelationKind::HasMany { .. } => has_many_filter_type(target),
        };
        input = input.field(InputValue::new(rel.api_id.clone(), TypeRef::named(ty)));
    }
    input
}

fn sort_input(model: &Model) -> InputObject {
    let mut input = InputObject::new(sort_type(model));
    for f in model
        .fields
        .iter()
        .filter(|f| !f.hidden && f.ty != FieldType::Json)
    {
        input = input.field(InputValue::new(f.api_id.clone(), TypeRef::named(SORT_ORDER)));
    }
    input
}
