//! Reading a write's arguments as JSON: the shapes the mutations and their background
//! forms share (`id`, an input object, `on`, the `inputs` or `ids` of a bulk write), and
//! the parameters of a global action.

use super::to_json;
use crate::query::value::parse_id;
use async_graphql::dynamic::ResolverContext;
use serde_json::Value as Json;

/// The value of an argument as JSON (`{}` when absent or null).
pub(crate) fn arg_json(ctx: &ResolverContext, name: &str) -> async_graphql::Result<Json> {
    match ctx.args.get(name) {
        Some(v) if !v.is_null() => to_json(v.as_value()),
        _ => Ok(Json::Object(Default::default())),
    }
}

/// A record id given as a string or a number.
pub(crate) fn arg_id(value: &Json) -> async_graphql::Result<i64> {
    match value {
        Json::String(s) => parse_id(s),
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        super::coded(
            super::errors::INVALID_QUERY_INPUT,
            format!("`{value}` is not a record id"),
        )
    })
}

/// The required `id` argument.
pub(crate) fn id_arg(ctx: &ResolverContext) -> async_graphql::Result<i64> {
    arg_id(&to_json(ctx.args.try_get("id")?.as_value())?)
}

/// The `id` of one element of a bulk update.
pub(crate) fn element_id(element: &Json) -> async_graphql::Result<i64> {
    arg_id(element.get("id").unwrap_or(&Json::Null))
}

/// A list of names (`on`): a bare string is a list of one; anything else, none.
pub(crate) fn arg_strings(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Json::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The `on` argument of an upsert: the fields that identify the record.
pub(crate) fn on_arg(ctx: &ResolverContext) -> async_graphql::Result<Vec<String>> {
    let on = ctx.args.get("on").map(|v| to_json(v.as_value())).transpose()?;
    Ok(arg_strings(on.as_ref()))
}

/// A required list argument (a bare value counts as a list of one).
pub(crate) fn arg_list(ctx: &ResolverContext, name: &str) -> async_graphql::Result<Vec<Json>> {
    Ok(match to_json(ctx.args.try_get(name)?.as_value())? {
        Json::Array(items) => items,
        one => vec![one],
    })
}

/// The model input of one element of a bulk write: its `key` (the model's api id),
/// `{}` when absent.
pub(crate) fn element_input(element: &Json, key: &str) -> Json {
    element
        .get(key)
        .cloned()
        .unwrap_or(Json::Object(Default::default()))
}

/// Every argument but `skip` as one JSON object: a global action's parameters.
pub(crate) fn params_of(ctx: &ResolverContext, skip: &[&str]) -> async_graphql::Result<Json> {
    let mut params = serde_json::Map::new();
    for (name, value) in ctx.args.iter() {
        if !skip.contains(&name.as_str()) {
            params.insert(name.to_string(), to_json(value.as_value())?);
        }
    }
    Ok(Json::Object(params))
}
