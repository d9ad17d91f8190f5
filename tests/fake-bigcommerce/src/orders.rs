//! v2 orders: bare JSON arrays, 204 for an empty page, RFC 2822 dates, money as strings.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::app::{App, Store, read};
use crate::catalog::{parse_body, parse_id};
use crate::error::{ApiError, v2_error};
use crate::model::Order;
use crate::paging::{Query, json_response};
use crate::store::with_fields;

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(v2_error)
}

/// One page of a v2 collection: the bare array, or 204 with no body when it is empty.
fn v2_page<T, O: Serialize>(
    items: &[T],
    query: &Query,
    view: impl Fn(&T) -> O,
) -> Result<Response, ApiError> {
    let (page, limit) = query.page_limit()?;
    let start = (page - 1).saturating_mul(limit).min(items.len());
    let end = (start + limit).min(items.len());
    if start == end {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let views: Vec<O> = items[start..end].iter().map(view).collect();
    Ok(json_response(StatusCode::OK, &views))
}

fn sort_orders(items: &mut [&Order], sort: Option<&str>) -> Result<(), ApiError> {
    let Some(sort) = sort else { return Ok(()) };
    let (field, direction) = sort.split_once(':').unwrap_or((sort, "asc"));
    match field {
        "id" => {}
        "date_modified" => items.sort_by_key(|o| (o.date_modified, o.id)),
        "date_created" => items.sort_by_key(|o| (o.date_created, o.id)),
        "status_id" => items.sort_by_key(|o| (o.status_id, o.id)),
        "customer_id" => items.sort_by_key(|o| (o.customer_id, o.id)),
        _ => return Err(ApiError::bad_request(format!("cannot sort by {field}"))),
    }
    match direction {
        "asc" => {}
        "desc" => items.reverse(),
        _ => return Err(ApiError::bad_request("direction must be asc or desc")),
    }
    Ok(())
}

/// `include=consignments` (or `consignments.line_items`) adds each order's consignments:
/// its gift certificates in `email.gift_certificates`, everything else in one shipping
/// consignment. Their `line_items` are resource links, or, with `consignments.line_items`,
/// the lines themselves as `/orders/{id}/products` shows them. `consignment_structure=object`
/// gives the object; without it the legacy structure, the object in an array.
fn order_view(order: &Order, query: &Query) -> Value {
    let with_lines = query.includes("consignments.line_items");
    if !with_lines && !query.includes("consignments") {
        return with_fields(order, Vec::new());
    }
    let line = |p: &crate::model::OrderProduct| {
        if with_lines {
            serde_json::to_value(p).unwrap_or(Value::Null)
        } else {
            let resource = format!("/orders/{}/products/{}", order.id, p.id);
            json!({"url": resource, "resource": resource})
        }
    };
    let (gifts, shipped): (Vec<_>, Vec<_>) = order.products.iter().partition(|p| p.product_id == 0);
    let shipping: Vec<Value> = if shipped.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "id": order.id,
            "line_items": shipped.iter().map(|p| line(p)).collect::<Vec<_>>(),
            "items_total": shipped.iter().map(|p| p.quantity).sum::<i64>(),
            "items_shipped": 0,
        })]
    };
    let gift_certificates: Vec<Value> = gifts
        .iter()
        .map(|p| json!({"recipient_email": "recipient@example.com", "line_items": [line(p)]}))
        .collect();
    let object = json!({
        "pickups": [],
        "shipping": shipping,
        "downloads": [],
        "email": {"gift_certificates": gift_certificates},
    });
    let consignments = if query.get("consignment_structure") == Some("object") {
        object
    } else {
        json!([object])
    };
    with_fields(order, vec![("consignments", consignments)])
}

pub(crate) async fn list_orders(
    Extension(store): Extension<Arc<Store>>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let query = Query::parse(raw.as_deref());
        let modified_min = query.date("min_date_modified")?;
        let modified_max = query.date("max_date_modified")?;
        let created_min = query.date("min_date_created")?;
        let id_min = query.int("min_id")?;
        let id_max = query.int("max_id")?;
        let status = query.int("status_id")?;
        let customer = query.int("customer_id")?;
        let deleted = query.get("is_deleted").is_some_and(|v| v == "true");
        let data = read(&store.data);
        let mut items: Vec<&Order> = data
            .orders
            .values()
            .filter(|o| o.is_deleted == deleted)
            .filter(|o| modified_min.is_none_or(|m| o.date_modified >= m))
            .filter(|o| modified_max.is_none_or(|m| o.date_modified <= m))
            .filter(|o| created_min.is_none_or(|m| o.date_created >= m))
            .filter(|o| id_min.is_none_or(|m| o.id >= m) && id_max.is_none_or(|m| o.id <= m))
            .filter(|o| status.is_none_or(|s| o.status_id == s))
            .filter(|o| customer.is_none_or(|c| o.customer_id == c))
            .collect();
        sort_orders(&mut items, query.get("sort"))?;
        v2_page(&items, &query, |o| order_view(o, &query))
    })())
}

pub(crate) async fn get_order(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let query = Query::parse(raw.as_deref());
        let data = read(&store.data);
        let order = data.orders.get(&id).ok_or_else(ApiError::not_found)?;
        Ok(json_response(StatusCode::OK, &order_view(order, &query)))
    })())
}

pub(crate) async fn list_order_products(
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let query = Query::parse(raw.as_deref());
        let data = read(&store.data);
        let order = data.orders.get(&id).ok_or_else(ApiError::not_found)?;
        v2_page(&order.products, &query, Clone::clone)
    })())
}

pub(crate) async fn create_order(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    body: Bytes,
) -> Response {
    respond((|| {
        let body = parse_body(&body)?;
        let order = app.write(&store, |d| d.create_order(&body))?;
        Ok(json_response(StatusCode::CREATED, &order))
    })())
}

pub(crate) async fn update_order(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        let body = parse_body(&body)?;
        let order = app.write(&store, |d| d.update_order(id, &body))?;
        Ok(json_response(StatusCode::OK, &order))
    })())
}

pub(crate) async fn delete_order(
    State(app): State<Arc<App>>,
    Extension(store): Extension<Arc<Store>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let id = parse_id(&id)?;
        app.write(&store, |d| d.delete_order(id).map(|e| ((), e)))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}
