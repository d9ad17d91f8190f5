//! Metafields of products, variants, categories, brands, customers and orders (v3).
//!
//! Each resource has a batch listing of all its metafields (`/catalog/variants/metafields`,
//! `/customers/metafields`, `/orders/metafields`, ...) and the per-resource ones
//! (`/catalog/categories/{id}/metafields/{metafield_id}`, ...). As BigCommerce's reference
//! documents them, every listing is page-numbered (`page`, `limit`, `meta.pagination`),
//! in id order (`direction=desc` reverses it), filtered by `key`, `namespace` and the date
//! bounds, and `include_fields` trims each record to its id and the named fields.
//! A variant's metafield paths carry a product id only "for path consistency": any value
//! is accepted.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::Value;

use crate::app::{App, Store, read};
use crate::catalog::{parse_body, parse_id};
use crate::error::ApiError;
use crate::model::Metafield;
use crate::paging::{Query, page, single};
use crate::store::Owner;

type Params = HashMap<String, String>;

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The path parameter naming the owner (the names the resources' own routes use).
fn owner_key(owner: Owner) -> &'static str {
    match owner {
        Owner::Product => "product_id",
        Owner::Variant => "variant_id",
        _ => "id",
    }
}

fn owner_id(owner: Owner, params: &Params) -> Result<i64, ApiError> {
    params
        .get(owner_key(owner))
        .ok_or_else(ApiError::not_found)
        .and_then(|id| parse_id(id))
}

fn metafield_id(params: &Params) -> Result<i64, ApiError> {
    params
        .get("metafield_id")
        .ok_or_else(ApiError::not_found)
        .and_then(|id| parse_id(id))
}

/// A record with only its id and the `include_fields` (all of it without them).
fn view(metafield: &Metafield, fields: Option<&[String]>) -> Value {
    let mut value = serde_json::to_value(metafield).unwrap_or(Value::Null);
    if let (Some(fields), Value::Object(map)) = (fields, &mut value) {
        map.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
    }
    value
}

/// One page of `owner`'s metafields (of one resource when `resource_id` is given).
fn list(
    store: &Store,
    owner: Owner,
    resource_id: Option<i64>,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw);
    let (page_number, limit) = query.page_limit()?;
    let key = query.get("key").map(str::to_owned);
    let namespace = query.get("namespace").map(str::to_owned);
    let list_of = |name: &str| {
        query
            .get(name)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>())
    };
    let (keys, namespaces) = (list_of("key:in"), list_of("namespace:in"));
    let fields = list_of("include_fields");
    let modified_min = query.date("date_modified:min")?;
    let modified_max = query.date("date_modified:max")?;
    let created_min = query.date("date_created:min")?;
    let created_max = query.date("date_created:max")?;
    let descending = match query.get("direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::bad_request("direction must be asc or desc")),
    };
    let data = read(&store.data);
    if let Some(id) = resource_id
        && !data.owner_exists(owner, id)
    {
        return Err(ApiError::not_found());
    }
    let kind = owner.resource_type();
    let mut items: Vec<&Metafield> = data
        .metafields
        .values()
        .filter(|m| m.resource_type == kind)
        .filter(|m| resource_id.is_none_or(|id| m.resource_id == id))
        .filter(|m| key.as_ref().is_none_or(|k| m.key == k.as_str()))
        .filter(|m| {
            keys.as_ref()
                .is_none_or(|ks| ks.iter().any(|k| m.key == k.as_str()))
        })
        .filter(|m| namespace.as_ref().is_none_or(|n| m.namespace == n.as_str()))
        .filter(|m| {
            namespaces
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| m.namespace == n.as_str()))
        })
        .filter(|m| modified_min.is_none_or(|d| m.date_modified >= d))
        .filter(|m| modified_max.is_none_or(|d| m.date_modified <= d))
        .filter(|m| created_min.is_none_or(|d| m.date_created >= d))
        .filter(|m| created_max.is_none_or(|d| m.date_created <= d))
        .collect();
    if descending {
        items.reverse();
    }
    Ok(page(&items, page_number, limit, |m| view(m, fields.as_deref())))
}

async fn list_all(owner: Owner, store: Arc<Store>, raw: Option<String>) -> Response {
    respond(list(&store, owner, None, raw.as_deref()))
}

async fn list_one(owner: Owner, store: Arc<Store>, params: Params, raw: Option<String>) -> Response {
    respond(owner_id(owner, &params).and_then(|id| list(&store, owner, Some(id), raw.as_deref())))
}

async fn get_one(owner: Owner, store: Arc<Store>, params: Params) -> Response {
    respond((|| {
        let (resource_id, id) = (owner_id(owner, &params)?, metafield_id(&params)?);
        let data = read(&store.data);
        Ok(single(data.metafield_of(owner, resource_id, id)?))
    })())
}

async fn create(owner: Owner, app: Arc<App>, store: Arc<Store>, params: Params, body: Bytes) -> Response {
    respond((|| {
        let resource_id = owner_id(owner, &params)?;
        let body = parse_body(&body)?;
        let created = app.write(&store, |d| d.create_metafield_of(owner, resource_id, &body))?;
        Ok(single(&created))
    })())
}

async fn update(owner: Owner, app: Arc<App>, store: Arc<Store>, params: Params, body: Bytes) -> Response {
    respond((|| {
        let (resource_id, id) = (owner_id(owner, &params)?, metafield_id(&params)?);
        let body = parse_body(&body)?;
        let updated = app.write(&store, |d| d.update_metafield_of(owner, resource_id, id, &body))?;
        Ok(single(&updated))
    })())
}

async fn delete(owner: Owner, app: Arc<App>, store: Arc<Store>, params: Params) -> Response {
    respond((|| {
        let (resource_id, id) = (owner_id(owner, &params)?, metafield_id(&params)?);
        app.write(&store, |d| {
            d.delete_metafield_of(owner, resource_id, id).map(|e| ((), e))
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

/// Where each owner's metafields live: the batch listing, and one resource's collection.
fn paths(owner: Owner) -> (&'static str, &'static str) {
    match owner {
        Owner::Product => (
            "/catalog/products/metafields",
            "/catalog/products/{product_id}/metafields",
        ),
        Owner::Variant => (
            "/catalog/variants/metafields",
            "/catalog/products/{product_id}/variants/{variant_id}/metafields",
        ),
        Owner::Category => (
            "/catalog/categories/metafields",
            "/catalog/categories/{id}/metafields",
        ),
        Owner::Brand => ("/catalog/brands/metafields", "/catalog/brands/{id}/metafields"),
        Owner::Customer => ("/customers/metafields", "/customers/{id}/metafields"),
        Owner::Order => ("/orders/metafields", "/orders/{id}/metafields"),
    }
}

/// The v3 routes of every owner's metafields.
pub(crate) fn routes(mut router: Router<Arc<App>>) -> Router<Arc<App>> {
    for owner in Owner::ALL {
        let (batch, collection) = paths(owner);
        router = router
            .route(
                batch,
                get(
                    move |Extension(store): Extension<Arc<Store>>, RawQuery(raw): RawQuery| {
                        list_all(owner, store, raw)
                    },
                ),
            )
            .route(
                collection,
                get(
                    move |Extension(store): Extension<Arc<Store>>,
                          Path(params): Path<Params>,
                          RawQuery(raw): RawQuery| list_one(owner, store, params, raw),
                )
                .post(
                    move |State(app): State<Arc<App>>,
                          Extension(store): Extension<Arc<Store>>,
                          Path(params): Path<Params>,
                          body: Bytes| create(owner, app, store, params, body),
                ),
            )
            .route(
                &format!("{collection}/{{metafield_id}}"),
                get(
                    move |Extension(store): Extension<Arc<Store>>, Path(params): Path<Params>| {
                        get_one(owner, store, params)
                    },
                )
                .put(
                    move |State(app): State<Arc<App>>,
                          Extension(store): Extension<Arc<Store>>,
                          Path(params): Path<Params>,
                          body: Bytes| update(owner, app, store, params, body),
                )
                .delete(
                    move |State(app): State<Arc<App>>,
                          Extension(store): Extension<Arc<Store>>,
                          Path(params): Path<Params>| delete(owner, app, store, params),
                ),
            );
    }
    router
}
