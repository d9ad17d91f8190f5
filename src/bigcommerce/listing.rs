//! Listings: every item of every page, with one page fetched ahead.

use std::collections::VecDeque;

use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::client::{ApiVersion, StoreClient};
use super::error::Error;
use super::params::{ParamValue, Params, expand_path};

/// How a collection is paged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Paging {
    /// v3: cursor paging when the first answer's `meta` has `cursor_pagination`, page
    /// numbers otherwise. v2: page numbers.
    #[default]
    Auto,
    /// `page=1,2,...`; v3 ends at `current_page >= total_pages` or without a `next` link, v2
    /// at a 204 or a short page.
    Pages,
    /// v3 `after=<end_cursor>` (customers); ends without a `next` link.
    Cursor,
}

/// Builds a listing; consume it with [`ListBuilder::items`] or [`ListBuilder::pages`].
#[must_use = "a listing does nothing until its stream is polled"]
#[derive(Debug)]
pub struct ListBuilder {
    store: StoreClient,
    version: ApiVersion,
    path: String,
    path_params: Params,
    query: Params,
    paging: Paging,
    limit: u32,
    concurrency: usize,
}

/// Where the next page starts.
#[derive(Clone, Debug)]
enum Next {
    Page(u64),
    After(String),
    First,
}

struct Cursor {
    store: StoreClient,
    version: ApiVersion,
    path: Result<String, Error>,
    query: Params,
    paging: Paging,
    limit: u32,
    concurrency: usize,
    /// Pages being fetched, in order.
    ahead: VecDeque<Ahead>,
    /// The page to fetch when nothing is ahead (sequential paging).
    next: Option<Next>,
    /// With a known page count: the next page number to start and the last one.
    planned: Option<(u64, u64)>,
}

impl Cursor {
    fn spawn(&mut self, next: Next) {
        let Ok(path) = &self.path else { return };
        let task = tokio::spawn(fetch(
            self.store.clone(),
            self.version,
            path.clone(),
            self.query.clone(),
            self.paging,
            self.limit,
            next,
        ));
        self.ahead.push_back(Ahead(task));
    }

    /// Starts fetching what comes after `page`: the planned pages up to `concurrency` at
    /// once, else the one page its answer points to.
    fn plan_after(&mut self, page: &Fetched) {
        if self.planned.is_none()
            && self.concurrency > 1
            && self.version == ApiVersion::V3
            && page.paging == Paging::Pages
            && page.page == 1
            && let Some(total) = page.total_pages
        {
            self.planned = Some((2, total));
        }
        match self.planned {
            Some((_, last)) if page.items.is_empty() || page.page >= last => {
                // The planned pages are done (or the collection shrank): follow the last
                // answer, in case the collection grew meanwhile.
                self.planned = None;
                self.ahead.clear();
                if let Some(next) = page.next.clone() {
                    self.spawn(next);
                }
            }
            Some((mut next_page, last)) => {
                while self.ahead.len() < self.concurrency && next_page <= last {
                    self.spawn(Next::Page(next_page));
                    next_page += 1;
                }
                self.planned = Some((next_page, last));
            }
            None => {
                if let Some(next) = page.next.clone() {
                    self.spawn(next);
                }
            }
        }
    }
}

/// The page being fetched while the caller consumes the current one. Aborted when the
/// listing is dropped, so an abandoned stream stops spending the store's quota.
struct Ahead(JoinHandle<Result<Fetched, Error>>);

impl Drop for Ahead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Fetched {
    items: Vec<Value>,
    next: Option<Next>,
    paging: Paging,
    /// The page number fetched (0 for a cursor page).
    page: u64,
    /// `meta.pagination.total_pages` of a v3 page-numbered answer.
    total_pages: Option<u64>,
}

impl ListBuilder {
    pub(crate) fn new(store: StoreClient, version: ApiVersion, path: &str) -> Self {
        let limit = store.options().page_limit.clamp(1, 250);
        Self {
            store,
            version,
            path: path.to_string(),
            path_params: Params::new(),
            query: Params::new(),
            paging: Paging::Auto,
            limit,
            concurrency: 1,
        }
    }

    /// Fill `{key}` in the path.
    pub fn path_param(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.path_params.set(key, value);
        self
    }

    /// Add a query parameter (a list becomes comma-separated).
    pub fn query(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.query.set(key, value);
        self
    }

    /// Add every parameter of `params`.
    pub fn query_params(mut self, params: Params) -> Self {
        self.query = params;
        self
    }

    /// How pages are walked, when not detected from the first answer's `meta`.
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// Items per page (1..=250; the client's `page_limit` by default).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, 250);
        self
    }

    /// Pages fetched at once. With 1 (the default) the next page is fetched while the caller
    /// consumes the current one. Larger values apply to v3 page-numbered collections once the
    /// first answer has told the page count; the pages still arrive in order, and the store's
    /// pacer keeps the requests within its quota.
    pub fn concurrency(mut self, pages: usize) -> Self {
        self.concurrency = pages.max(1);
        self
    }

    /// Every page's items, in order. The stream ends after the first error.
    pub fn pages(self) -> BoxStream<'static, Result<Vec<Value>, Error>> {
        let mut query = self.query;
        query.remove("page");
        query.remove("after");
        query.set("limit", self.limit);
        let cursor = Cursor {
            path: expand_path(&self.path, &self.path_params),
            store: self.store,
            version: self.version,
            query,
            paging: self.paging,
            limit: self.limit,
            concurrency: self.concurrency,
            ahead: VecDeque::new(),
            next: Some(Next::First),
            planned: None,
        };
        stream::unfold(cursor, |mut cursor| async move {
            let fetched = match cursor.ahead.pop_front() {
                Some(mut ahead) => match (&mut ahead.0).await {
                    Ok(result) => result,
                    Err(e) => Err(Error::Task(e.to_string())),
                },
                None => {
                    let next = cursor.next.take()?;
                    let path = match &cursor.path {
                        Ok(path) => path.clone(),
                        Err(e) => return Some((Err(Error::InvalidRequest(e.to_string())), cursor)),
                    };
                    fetch(
                        cursor.store.clone(),
                        cursor.version,
                        path,
                        cursor.query.clone(),
                        cursor.paging,
                        cursor.limit,
                        next,
                    )
                    .await
                }
            };
            match fetched {
                Ok(page) => {
                    cursor.paging = page.paging;
                    cursor.plan_after(&page);
                    Some((Ok(page.items), cursor))
                }
                Err(e) => {
                    cursor.ahead.clear();
                    cursor.next = None;
                    cursor.planned = None;
                    Some((Err(e), cursor))
                }
            }
        })
        .boxed()
    }

    /// Every item of every page, in order. The stream ends after the first error.
    pub fn items(self) -> BoxStream<'static, Result<Value, Error>> {
        self.pages()
            .flat_map(|page| {
                let items: Vec<Result<Value, Error>> = match page {
                    Ok(items) => items.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                stream::iter(items)
            })
            .boxed()
    }

    /// Every item, deserialised into `T`.
    pub fn items_as<T: DeserializeOwned + Send + 'static>(self) -> BoxStream<'static, Result<T, Error>> {
        let path = self.path.clone();
        self.items()
            .map(move |item| {
                let item = item?;
                serde_json::from_value::<T>(item.clone()).map_err(|e| Error::Decode {
                    method: Method::GET,
                    path: path.clone(),
                    status: 200,
                    reason: e.to_string(),
                    body: super::error::truncate_body(item.to_string().as_bytes()),
                })
            })
            .boxed()
    }
}

async fn fetch(
    store: StoreClient,
    version: ApiVersion,
    path: String,
    mut query: Params,
    paging: Paging,
    limit: u32,
    next: Next,
) -> Result<Fetched, Error> {
    let page_number = match &next {
        Next::Page(n) => *n,
        Next::First => 1,
        Next::After(_) => 0,
    };
    match &next {
        Next::Page(n) => query.set("page", *n),
        Next::After(after) => query.set("after", after.as_str()),
        Next::First if paging == Paging::Pages || version == ApiVersion::V2 => query.set("page", 1u64),
        Next::First => {}
    }
    let answer = store.execute(&Method::GET, version, &path, &query, None).await?;
    let decode_error = |reason: &str, body: &Value| Error::Decode {
        method: Method::GET,
        path: format!("{}{path}", version.prefix()),
        status: answer.status,
        reason: reason.to_string(),
        body: super::error::truncate_body(body.to_string().as_bytes()),
    };
    let Some(body) = answer.body else {
        // v2 204 (an empty page) or a 404 collection: nothing (more) to list.
        return Ok(Fetched {
            items: Vec::new(),
            next: None,
            paging,
            page: page_number,
            total_pages: None,
        });
    };
    match version {
        ApiVersion::V2 => {
            let Value::Array(items) = body else {
                return Err(decode_error("a v2 listing must be a JSON array", &body));
            };
            let next = (items.len() as u64 >= u64::from(limit)).then_some(Next::Page(page_number + 1));
            Ok(Fetched {
                items,
                next,
                paging,
                page: page_number,
                total_pages: None,
            })
        }
        ApiVersion::V3 => {
            let Value::Object(mut envelope) = body else {
                return Err(decode_error("a v3 listing must be an object with data", &body));
            };
            let items = match envelope.remove("data") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(other) => return Err(decode_error("data is not an array", &other)),
            };
            let meta = envelope.remove("meta").unwrap_or(Value::Null);
            let paging = match paging {
                Paging::Auto if meta.get("cursor_pagination").is_some() => Paging::Cursor,
                Paging::Auto => Paging::Pages,
                other => other,
            };
            let next = if items.is_empty() {
                None
            } else if paging == Paging::Cursor {
                cursor_next(&meta)
            } else {
                pages_next(&meta, page_number, items.len(), limit)
            };
            let total_pages = meta.pointer("/pagination/total_pages").and_then(Value::as_u64);
            Ok(Fetched {
                items,
                next,
                paging,
                page: page_number,
                total_pages,
            })
        }
    }
}

fn has_next_link(links: Option<&Value>) -> Option<bool> {
    let next = links?.get("next");
    Some(matches!(next, Some(Value::String(s)) if !s.is_empty()))
}

fn pages_next(meta: &Value, page: u64, count: usize, limit: u32) -> Option<Next> {
    let Some(pagination) = meta.get("pagination") else {
        // No pagination meta: a full page may have a successor.
        return (count as u64 >= u64::from(limit)).then_some(Next::Page(page + 1));
    };
    let current = pagination
        .get("current_page")
        .and_then(Value::as_u64)
        .unwrap_or(page);
    if let Some(total) = pagination.get("total_pages").and_then(Value::as_u64)
        && current >= total
    {
        return None;
    }
    if has_next_link(pagination.get("links")) == Some(false) {
        return None;
    }
    Some(Next::Page(current + 1))
}

fn cursor_next(meta: &Value) -> Option<Next> {
    let pagination = meta.get("cursor_pagination")?;
    if has_next_link(pagination.get("links")) == Some(false) {
        return None;
    }
    let end = pagination.get("end_cursor").and_then(Value::as_str)?;
    (!end.is_empty()).then(|| Next::After(end.to_string()))
}
