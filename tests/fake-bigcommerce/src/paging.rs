//! Query parsing and the v3 envelopes with page-numbered and cursor pagination.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Decoded query parameters, in order.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `id:in=1,2,3` as numbers; a value that is not a number is a 400.
    pub fn ids(&self, key: &str) -> Result<Option<Vec<i64>>, ApiError> {
        let Some(text) = self.get(key) else {
            return Ok(None);
        };
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("{key} must be a list of integers")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("{key} must be an integer")))
            })
            .transpose()
    }

    pub fn date(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|s| {
                crate::model::parse_date(s)
                    .ok_or_else(|| ApiError::bad_request(format!("{key} is not a valid date")))
            })
            .transpose()
    }

    pub fn includes(&self, what: &str) -> bool {
        self.get("include")
            .is_some_and(|v| v.split(',').any(|i| i.trim() == what))
    }

    /// `page` (from 1) and `limit` (default 50, at most 250: more is a 413 like BigCommerce).
    pub fn page_limit(&self) -> Result<(usize, usize), ApiError> {
        let limit = self.int("limit")?.unwrap_or(50);
        if limit > 250 {
            return Err(ApiError::new(413, "The limit must be 250 or less."));
        }
        let limit = limit.max(1) as usize;
        let page = self.int("page")?.unwrap_or(1).max(1) as usize;
        Ok((page, limit))
    }
}

/// A JSON answer serialised straight from the records.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    data: &'a T,
    meta: Value,
}

/// `{data, meta: {}}` for one record.
pub fn single(data: &impl Serialize) -> Response {
    json_response(
        StatusCode::OK,
        &Envelope {
            data,
            meta: json!({}),
        },
    )
}

/// One page of `items` (already filtered and sorted) with `meta.pagination`.
pub fn page<'a, T, O: Serialize>(
    items: &'a [T],
    page: usize,
    limit: usize,
    view: impl Fn(&'a T) -> O,
) -> Response {
    let start = (page - 1).saturating_mul(limit).min(items.len());
    let end = (start + limit).min(items.len());
    let data: Vec<O> = items[start..end].iter().map(view).collect();
    page_of(items.len(), page, limit, &data)
}

/// The envelope of one page whose records were picked by the caller out of `total`.
pub fn page_of<O: Serialize>(total: usize, page: usize, limit: usize, data: &[O]) -> Response {
    let total_pages = total.div_ceil(limit);
    let link = |p: usize| format!("?page={p}&limit={limit}");
    let mut links = json!({"current": link(page)});
    if page > 1 {
        links["previous"] = json!(link(page - 1));
    }
    if page < total_pages {
        links["next"] = json!(link(page + 1));
    }
    let meta = json!({"pagination": {
        "total": total,
        "count": data.len(),
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    }});
    json_response(StatusCode::OK, &Envelope { data: &data, meta })
}

pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_request("The cursor is invalid."))
}

/// One cursor page of `items` (filtered, sorted by id) after the `after` cursor, with
/// `meta.cursor_pagination`.
pub fn cursor_page<'a, T, O: Serialize>(
    items: &'a [T],
    query: &Query,
    id: impl Fn(&T) -> i64,
    view: impl Fn(&'a T) -> O,
) -> Result<Response, ApiError> {
    let (_, limit) = query.page_limit()?;
    let after = query.get("after").map(decode_cursor).transpose()?;
    let start = match after {
        Some(after) => items.partition_point(|item| id(item) <= after),
        None => 0,
    };
    let end = (start + limit).min(items.len());
    let slice = &items[start..end];
    let data: Vec<O> = slice.iter().map(view).collect();
    let start_cursor = slice.first().map(|i| encode_cursor(id(i)));
    let end_cursor = slice.last().map(|i| encode_cursor(id(i)));
    let mut links = json!({});
    if let Some(end_cursor) = &end_cursor
        && end < items.len()
    {
        links["next"] = json!(format!("?after={end_cursor}&limit={limit}"));
    }
    if let Some(start_cursor) = &start_cursor
        && start > 0
    {
        links["previous"] = json!(format!("?before={start_cursor}&limit={limit}"));
    }
    let meta = json!({"cursor_pagination": {
        "count": data.len(),
        "per_page": limit,
        "start_cursor": start_cursor,
        "end_cursor": end_cursor,
        "links": links,
    }});
    Ok(json_response(StatusCode::OK, &Envelope { data: &data, meta }))
}

/// Sorts by `sort` (a key function per allowed name) and `direction`.
pub fn sort_by<T>(items: &mut [&T], query: &Query, keys: &[(&str, SortKeyFn<T>)]) -> Result<(), ApiError> {
    let sort = query.get("sort").unwrap_or("id");
    let descending = match query.get("direction").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(ApiError::bad_request("direction must be asc or desc")),
    };
    let Some((_, key)) = keys.iter().find(|(name, _)| *name == sort) else {
        return Err(ApiError::bad_request(format!("cannot sort by {sort}")));
    };
    if sort != "id" {
        items.sort_by_cached_key(|item| key(item));
    }
    if descending {
        items.reverse();
    }
    Ok(())
}

/// How a record yields its sort key.
pub type SortKeyFn<T> = fn(&T) -> SortKey;

/// A sort key: numbers and text compare in their own way; ties keep id order (stable sort).
#[derive(PartialEq, PartialOrd, Eq, Ord)]
pub enum SortKey {
    Int(i64),
    Text(String),
}
