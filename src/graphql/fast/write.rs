//! Writing a fast-path answer as the general executor would serialise it: the same
//! keys in the same order, the same scalars (ids as strings, dates in UTC with
//! milliseconds, numbers as serde_json writes them), `null` where it writes `null`.
//! What it would answer with an error (a null in a non-null field, an id the
//! `GadgetID` scalar refuses) makes the whole answer fall back to it.

use super::plan::{Connection, ConnectionItem, EdgeItem, MetaItem, NamespaceItem, Node, NodeItem, PageInfoItem, RootItem};
use super::{Fallback, Loaded, LoadedItem, LoadedNamespace, LoadedRoot, Plan};
use crate::graphql::models::connection_type;
use crate::model::{Field, FieldType, Registry};
use crate::query::value::{format_datetime, parse_datetime};
use crate::query::{Page, Record, Value};
use async_graphql::Name;

type Out = Vec<u8>;

/// The whole response body: `{"data":{...}}`.
pub(super) fn response(registry: &Registry, plan: &Plan, loaded: &[LoadedRoot]) -> Result<Out, Fallback> {
    let mut out = Vec::with_capacity(8 * 1024);
    out.extend_from_slice(b"{\"data\":{");
    for (i, ((key, item), loaded)) in plan.root.iter().zip(loaded).enumerate() {
        field_key(&mut out, i, key);
        match (item, loaded) {
            (RootItem::Typename, _) => string(&mut out, "Query"),
            (RootItem::Meta(items), LoadedRoot::Meta(plans)) => {
                out.push(b'{');
                for (i, ((key, item), plan)) in items.iter().zip(plans).enumerate() {
                    field_key(&mut out, i, key);
                    match item {
                        MetaItem::Typename => string(&mut out, crate::graphql::meta::META),
                        MetaItem::Constant(value) => string(&mut out, value),
                        MetaItem::Hydrations(_) => match plan {
                            Some(plan) => {
                                let _ = serde_json::to_writer(&mut out, plan);
                            }
                            None => out.extend_from_slice(b"null"),
                        },
                    }
                }
                out.push(b'}');
            }
            (RootItem::Namespace { type_name, items }, LoadedRoot::Namespace(loaded)) => {
                out.push(b'{');
                for (i, ((key, item), loaded)) in items.iter().zip(loaded).enumerate() {
                    field_key(&mut out, i, key);
                    match (item, loaded) {
                        (NamespaceItem::Typename, _) => string(&mut out, type_name),
                        (NamespaceItem::List { connection, .. }, LoadedNamespace::List(page, loaded)) => {
                            write_connection(&mut out, registry, connection, page, loaded)?
                        }
                        (NamespaceItem::One { node, .. }, LoadedNamespace::One(record, loaded)) => match record {
                            Some(record) => write_node(&mut out, registry, node, record, loaded)?,
                            None => out.extend_from_slice(b"null"),
                        },
                        _ => return Err(Fallback),
                    }
                }
                out.push(b'}');
            }
            _ => return Err(Fallback),
        }
    }
    out.extend_from_slice(b"}}");
    Ok(out)
}

fn field_key(out: &mut Out, index: usize, key: &Name) {
    if index > 0 {
        out.push(b',');
    }
    // A GraphQL name needs no escaping.
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn string(out: &mut Out, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_connection(
    out: &mut Out,
    registry: &Registry,
    connection: &Connection,
    page: &Page,
    loaded: &Loaded,
) -> Result<(), Fallback> {
    let model = registry.get(connection.model);
    out.push(b'{');
    for (i, (key, item)) in connection.items.iter().enumerate() {
        field_key(out, i, key);
        match item {
            ConnectionItem::Typename => string(out, &connection_type(model)),
            ConnectionItem::Edges(items) => {
                out.push(b'[');
                for (n, record) in page.records.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.push(b'{');
                    for (i, (key, item)) in items.iter().enumerate() {
                        field_key(out, i, key);
                        match item {
                            EdgeItem::Typename => string(out, &format!("{}Edge", model.type_name())),
                            EdgeItem::Cursor => string(out, &page.cursor(model, record)),
                            EdgeItem::Node(node) => write_node(out, registry, node, record, loaded)?,
                        }
                    }
                    out.push(b'}');
                }
                out.push(b']');
            }
            ConnectionItem::PageInfo(items) => {
                out.push(b'{');
                for (i, (key, item)) in items.iter().enumerate() {
                    field_key(out, i, key);
                    let cursor = |record: Option<&Record>| record.map(|r| page.cursor(model, r));
                    match item {
                        PageInfoItem::Typename => string(out, crate::graphql::types::PAGE_INFO),
                        PageInfoItem::HasNextPage => boolean(out, page.has_next_page),
                        PageInfoItem::HasPreviousPage => boolean(out, page.has_previous_page),
                        PageInfoItem::StartCursor => optional_string(out, cursor(page.records.first())),
                        PageInfoItem::EndCursor => optional_string(out, cursor(page.records.last())),
                    }
                }
                out.push(b'}');
            }
        }
    }
    out.push(b'}');
    Ok(())
}

fn boolean(out: &mut Out, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn optional_string(out: &mut Out, value: Option<String>) {
    match value {
        Some(s) => string(out, &s),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_node(out: &mut Out, registry: &Registry, node: &Node, record: &Record, loaded: &Loaded) -> Result<(), Fallback> {
    let model = registry.get(node.model);
    out.push(b'{');
    for (i, ((key, item), loaded)) in node.items.iter().zip(&loaded.items).enumerate() {
        field_key(out, i, key);
        match (item, loaded) {
            (NodeItem::Typename, _) => string(out, &model.type_name()),
            (NodeItem::Field(f), _) => scalar(out, &model.fields[*f], &record.values[*f])?,
            (NodeItem::All, _) => {
                let _ = serde_json::to_writer(&mut *out, &record.to_json_object(model));
            }
            (NodeItem::BelongsTo { field, node }, LoadedItem::BelongsTo(found, below)) => {
                match record.int(*field).and_then(|fk| found.get(&fk)) {
                    Some(target) => write_node(out, registry, node, target, below)?,
                    None => out.extend_from_slice(b"null"),
                }
            }
            (NodeItem::HasMany { connection, .. }, LoadedItem::HasMany(pages, below, sort)) => {
                match pages.get(&record.id()) {
                    Some(page) => write_connection(out, registry, connection, page, below)?,
                    None => {
                        let empty = Page {
                            records: Vec::new(),
                            has_next_page: false,
                            has_previous_page: false,
                            sort: sort.clone(),
                        };
                        write_connection(out, registry, connection, &empty, below)?
                    }
                }
            }
            _ => return Err(Fallback),
        }
    }
    out.push(b'}');
    Ok(())
}

/// One field's value, as `models::to_graphql` and the output scalars make it.
fn scalar(out: &mut Out, field: &Field, value: &Value) -> Result<(), Fallback> {
    match value {
        Value::Null if matches!(field.api_id.as_str(), "id" | "createdAt" | "updatedAt") => return Err(Fallback),
        Value::Null => out.extend_from_slice(b"null"),
        // `GadgetID` refuses an id that is not positive.
        Value::Int(v) if field.ty == FieldType::Id => {
            if *v <= 0 {
                return Err(Fallback);
            }
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
            out.push(b'"');
        }
        Value::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Value::Float(v) => match serde_json::Number::from_f64(*v) {
            Some(n) => {
                let _ = serde_json::to_writer(&mut *out, &n);
            }
            None => out.extend_from_slice(b"null"),
        },
        Value::Bool(v) => boolean(out, *v),
        Value::String(s) => string(out, s),
        Value::DateTime(t) => {
            let s = format_datetime(t);
            // `DateTime` refuses what it cannot read back.
            if parse_datetime(&s).is_none() {
                return Err(Fallback);
            }
            string(out, &s)
        }
        Value::Json(v) => {
            let _ = serde_json::to_writer(&mut *out, &**v);
        }
    }
    Ok(())
}
