//! v3 catalog, customers and hooks.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::app::{App, Store, read};
use crate::error::ApiError;
use crate::model::*;
use crate::paging::{Query, SortKey, cursor_page, page, page_of, single, sort_by};

pub(crate) fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| ApiError::not_found())
}

pub(crate) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("The request body is not valid JSON.").with_error("body", e.to_string())
    })
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn created(value: Value) -> Response {
    single(&value)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

// ---- products -----------------------------------------------------------------------------

#[derive(Serialize)]
struct ProductOut<'a> {
    #[serde(flatten)]
    product: &'a Product,
    #[serde(skip_serializing_if = "Option::is_none")]
    variants: Option<&'a [Variant]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_fields: Option<&'a [CustomField]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<[Image; 1]>,
}

struct Includes {
    variants: bool,
    custom_fields: bool,
    images: bool,
}

impl Includes {
    fn from(query: &Query) -> Self {
        Includes {
            variants: query.includes("variants"),
            custom_fields: query.includes("custom_fields"),
            images: query.includes("images"),
        }
    }
    fn view<'a>(&self, product: &'a Product) -> ProductOut<'a> {
        ProductOut {
            product,
            variants: self.variants.then_some(product.variants.as_slice()),
            custom_fields: self.custom_fields.then_some(product.custom_fields.as_slice()),
            images: self.images.then(|| [Image::for_product(product.id)]),
        }
    }
}

pub(crate) async fn list_products(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let ids = query.ids("id:in")?;
        let not_ids = query.ids("id:not_in")?;
        let id_min = query.int("id:min")?;
        let id_max = query.int("id:max")?;
        let modified_min = query.date("date_modified:min")?;
        let modified_max = query.date("date_modified:max")?;
        let name = query.get("name").map(str::to_string);
        let name_like = query.get("name:like").map(str::to_lowercase);
        let sku = query.get("sku").map(str::to_string);
        let visible = query.get("is_visible").map(|v| v == "true" || v == "1");
        let includes = Includes::from(&query);
        let data = read(&store.data);
        let unfiltered = [
            ids.is_none(),
            not_ids.is_none(),
            id_min.is_none(),
            id_max.is_none(),
        ]
        .into_iter()
        .chain([modified_min.is_none(), modified_max.is_none(), name.is_none()])
        .chain([name_like.is_none(), sku.is_none(), visible.is_none()])
        .all(|none| none);
        if unfiltered && query.get("sort").unwrap_or("id") == "id" {
            // The sync's plain listing: skip to the page instead of scanning the whole store.
            let descending = match query.get("direction").unwrap_or("asc") {
                "asc" => false,
                "desc" => true,
                _ => return Err(ApiError::bad_request("direction must be asc or desc")),
            };
            let skip = (page_number - 1).saturating_mul(limit);
            let values = data.products.values();
            let picked: Vec<ProductOut<'_>> = if descending {
                values
                    .rev()
                    .skip(skip)
                    .take(limit)
                    .map(|p| includes.view(p))
                    .collect()
            } else {
                values.skip(skip).take(limit).map(|p| includes.view(p)).collect()
            };
            return Ok(page_of(data.products.len(), page_number, limit, &picked));
        }
        // Ids key the map: an id range is a range of it (the sync's pages ask `id:min`).
        let (low, high) = (id_min.unwrap_or(i64::MIN), id_max.unwrap_or(i64::MAX));
        let in_range = if low <= high {
            data.products.range(low..=high)
        } else {
            data.products.range(0..0)
        };
        let mut items: Vec<&Product> = in_range
            .map(|(_, p)| p)
            .filter(|p| ids.as_ref().is_none_or(|ids| ids.contains(&p.id)))
            .filter(|p| not_ids.as_ref().is_none_or(|ids| !ids.contains(&p.id)))
            .filter(|p| modified_min.is_none_or(|m| p.date_modified >= m))
            .filter(|p| modified_max.is_none_or(|m| p.date_modified <= m))
            .filter(|p| name.as_ref().is_none_or(|n| &p.name == n))
            .filter(|p| {
                name_like
                    .as_ref()
                    .is_none_or(|n| p.name.to_lowercase().contains(n))
            })
            .filter(|p| sku.as_ref().is_none_or(|s| &p.sku == s))
            .filter(|p| visible.is_none_or(|v| p.is_visible == v))
            .collect();
        sort_by(
            &mut items,
            &query,
            &[
                ("id", |p: &Product| SortKey::Int(p.id)),
                ("date_modified", |p: &Product| SortKey::Int(p.date_modified)),
                ("date_last_imported", |p: &Product| SortKey::Int(p.date_modified)),
                ("name", |p: &Product| SortKey::Text(p.name.clone())),
                ("sku", |p: &Product| SortKey::Text(p.sku.clone())),
                ("price", |p: &Product| SortKey::Int((p.price * 100.0) as i64)),
                ("inventory_level", |p: &Product| SortKey::Int(p.inventory_level)),
                ("total_sold", |p: &Product| SortKey::Int(p.total_sold)),
            ],
        )?;
        Ok(page(&items, page_number, limit, |p| includes.view(p)))
    })())
}

pub(crate) async fn get_product(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let includes = Includes::from(&Query::parse(raw.as_deref()));
        let data = read(&store.data);
        let product = data.products.get(&id).ok_or_else(ApiError::not_found)?;
        Ok(single(&includes.view(product)))
    })())
}

pub(crate) async fn create_product(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let body = parse_body(&body)?;
        let includes = Includes {
            variants: true,
            custom_fields: true,
            images: false,
        };
        let value = app.write(&store, |d| {
            d.create_product(&body)
                .map(|(p, e)| (serde_json::to_value(includes.view(&p)).unwrap_or(Value::Null), e))
        })?;
        Ok(created(value))
    })())
}

pub(crate) async fn update_product(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let body = parse_body(&body)?;
        Ok(single(&app.write(&store, |d| d.update_product(id, &body))?))
    })())
}

pub(crate) async fn delete_product(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        app.write(&store, |d| d.delete_product(id).map(|e| ((), e)))?;
        Ok(no_content())
    })())
}

// ---- variants -----------------------------------------------------------------------------

pub(crate) async fn list_product_variants(
    Extension(store): Extension<Arc<Store>>,
    Path((_, product_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let product_id = parse_id(&product_id)?;
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let data = read(&store.data);
        let product = data.products.get(&product_id).ok_or_else(ApiError::not_found)?;
        Ok(page(&product.variants, page_number, limit, |v| v))
    })())
}

pub(crate) async fn list_variants(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let product_ids = query.ids("product_id:in")?;
        let ids = query.ids("id:in")?;
        let sku = query.get("sku").map(str::to_string);
        let data = read(&store.data);
        let items: Vec<&Variant> = data
            .products
            .values()
            .filter(|p| product_ids.as_ref().is_none_or(|ids| ids.contains(&p.id)))
            .flat_map(|p| p.variants.iter())
            .filter(|v| ids.as_ref().is_none_or(|ids| ids.contains(&v.id)))
            .filter(|v| sku.as_ref().is_none_or(|s| &v.sku == s))
            .collect();
        Ok(page(&items, page_number, limit, |v| *v))
    })())
}

pub(crate) async fn get_variant(
    Extension(store): Extension<Arc<Store>>,
    Path((_, product_id, variant_id)): Path<(String, String, String)>,
) -> Response {
    respond((|| {
        let (product_id, variant_id) = (parse_id(&product_id)?, parse_id(&variant_id)?);
        let data = read(&store.data);
        let variant = data
            .products
            .get(&product_id)
            .and_then(|p| p.variants.iter().find(|v| v.id == variant_id))
            .ok_or_else(ApiError::not_found)?;
        Ok(single(variant))
    })())
}

pub(crate) async fn create_variant(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, product_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let product_id = parse_id(&product_id)?;
        let body = parse_body(&body)?;
        Ok(created(
            app.write(&store, |d| d.create_variant(product_id, &body))?,
        ))
    })())
}

pub(crate) async fn update_variant(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, product_id, variant_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let (product_id, variant_id) = (parse_id(&product_id)?, parse_id(&variant_id)?);
        let body = parse_body(&body)?;
        Ok(single(&app.write(&store, |d| {
            d.update_variant(product_id, variant_id, &body)
        })?))
    })())
}

pub(crate) async fn delete_variant(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, product_id, variant_id)): Path<(String, String, String)>,
) -> Response {
    respond((|| {
        let (product_id, variant_id) = (parse_id(&product_id)?, parse_id(&variant_id)?);
        app.write(&store, |d| {
            d.delete_variant(product_id, variant_id).map(|e| ((), e))
        })?;
        Ok(no_content())
    })())
}

// ---- categories and brands ----------------------------------------------------------------

pub(crate) async fn list_categories(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let ids = query.ids("id:in")?;
        let parent = query.int("parent_id")?;
        let (id_min, id_max) = (query.int("id:min")?, query.int("id:max")?);
        let data = read(&store.data);
        let items: Vec<&Category> = data
            .categories
            .values()
            .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .filter(|c| id_min.is_none_or(|m| c.id >= m) && id_max.is_none_or(|m| c.id <= m))
            .filter(|c| parent.is_none_or(|p| c.parent_id == p))
            .collect();
        Ok(page(&items, page_number, limit, |c| *c))
    })())
}

pub(crate) async fn get_category(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let data = read(&store.data);
        Ok(single(data.categories.get(&id).ok_or_else(ApiError::not_found)?))
    })())
}

pub(crate) async fn create_category(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let body = parse_body(&body)?;
        Ok(created(app.write(&store, |d| d.create_category(&body))?))
    })())
}

pub(crate) async fn update_category(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let body = parse_body(&body)?;
        Ok(single(&app.write(&store, |d| d.update_category(id, &body))?))
    })())
}

pub(crate) async fn delete_category(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        app.write(&store, |d| d.delete_category(id).map(|e| ((), e)))?;
        Ok(no_content())
    })())
}

pub(crate) async fn list_brands(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let ids = query.ids("id:in")?;
        let (id_min, id_max) = (query.int("id:min")?, query.int("id:max")?);
        let data = read(&store.data);
        let items: Vec<&Brand> = data
            .brands
            .values()
            .filter(|b| ids.as_ref().is_none_or(|ids| ids.contains(&b.id)))
            .filter(|b| id_min.is_none_or(|m| b.id >= m) && id_max.is_none_or(|m| b.id <= m))
            .collect();
        Ok(page(&items, page_number, limit, |b| *b))
    })())
}

pub(crate) async fn get_brand(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let data = read(&store.data);
        Ok(single(data.brands.get(&id).ok_or_else(ApiError::not_found)?))
    })())
}

pub(crate) async fn create_brand(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let body = parse_body(&body)?;
        Ok(created(app.write(&store, |d| d.create_brand(&body))?))
    })())
}

pub(crate) async fn update_brand(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let body = parse_body(&body)?;
        Ok(single(&app.write(&store, |d| d.update_brand(id, &body))?))
    })())
}

pub(crate) async fn delete_brand(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        app.write(&store, |d| d.delete_brand(id).map(|e| ((), e)))?;
        Ok(no_content())
    })())
}

// ---- customers (cursor paging; writes take arrays) ----------------------------------------

pub(crate) async fn list_customers(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let ids = query.ids("id:in")?;
        let modified_min = query.date("date_modified:min")?;
        let modified_max = query.date("date_modified:max")?;
        let email = query
            .get("email:in")
            .map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>());
        let data = read(&store.data);
        let items: Vec<&Customer> = data
            .customers
            .values()
            .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .filter(|c| modified_min.is_none_or(|m| c.date_modified >= m))
            .filter(|c| modified_max.is_none_or(|m| c.date_modified <= m))
            .filter(|c| email.as_ref().is_none_or(|e| e.contains(&c.email)))
            .collect();
        cursor_page(&items, &query, |c| c.id, |c| *c)
    })())
}

fn as_list(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        other => vec![other],
    }
}

pub(crate) async fn create_customers(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let mut out = Vec::new();
        for item in as_list(parse_body(&body)?) {
            out.push(app.write(&store, |d| d.create_customer(&item))?);
        }
        Ok(single(&out))
    })())
}

pub(crate) async fn update_customers(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let mut out = Vec::new();
        for item in as_list(parse_body(&body)?) {
            let id = item.get("id").and_then(Value::as_i64).ok_or_else(|| {
                ApiError::unprocessable("Each customer needs an id.").with_error("id", "id is required")
            })?;
            out.push(app.write(&store, |d| d.update_customer(id, &item))?);
        }
        Ok(single(&out))
    })())
}

pub(crate) async fn delete_customers(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let ids = query
            .ids("id:in")?
            .ok_or_else(|| ApiError::bad_request("id:in is required"))?;
        for id in ids {
            // Missing customers are skipped, as a bulk delete does.
            let _ = app.write(&store, |d| d.delete_customer(id).map(|e| ((), e)));
        }
        Ok(no_content())
    })())
}

// ---- hooks --------------------------------------------------------------------------------

pub(crate) async fn list_hooks(Extension(store): Extension<Arc<Store>>, RawQuery(raw): RawQuery) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let (page_number, limit) = query.page_limit()?;
        let data = read(&store.data);
        let hooks: Vec<&Hook> = data.hooks.values().collect();
        Ok(page(&hooks, page_number, limit, |h| *h))
    })())
}

pub(crate) async fn get_hook(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let data = read(&store.data);
        Ok(single(data.hooks.get(&id).ok_or_else(ApiError::not_found)?))
    })())
}

pub(crate) async fn create_hook(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let body = parse_body(&body)?;
        let client_id = crate::app::lock(&app.oauth).client_id.clone();
        let hook = crate::app::write(&store.data).create_hook(&body, &client_id)?;
        Ok(single(&hook))
    })())
}

pub(crate) async fn update_hook(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let body = parse_body(&body)?;
        let hook = crate::app::write(&store.data).update_hook(id, &body)?;
        Ok(single(&hook))
    })())
}

pub(crate) async fn delete_hook(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let hook = crate::app::write(&store.data).delete_hook(id)?;
        Ok(single(&hook))
    })())
}
