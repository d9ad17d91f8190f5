//! The resources a sync copies: where each is listed, how its pages are walked (always in
//! id order, so that a position is one id or cursor and every page covers an id range),
//! and how a page is written and reconciled.

use super::super::client::{ApiVersion, StoreClient};
use super::super::mapping;
use super::super::params::Params;
use super::Counters;
use crate::action::{ActionError, Api, Upserted};
use crate::query::sql::Sql;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, HashSet};

/// Items per page: BigCommerce's maximum.
pub const PAGE_SIZE: usize = 250;
/// Order line listings fetched at once (the store's pacer still spaces them).
const LINE_FETCHES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Categories,
    Brands,
    Products,
    Metafields,
    Customers,
    Orders,
}

/// How the pages of a listing follow each other.
#[derive(Clone, Copy)]
enum Keyset {
    /// Every request asks for ids from the last one seen on: `id:min` (v3), `min_id` (v2).
    IdMin(&'static str),
    /// v3 `after=<end_cursor>`.
    Cursor,
    /// v3 `page=<n>`, in id order: the metafield listings offer nothing else.
    Page,
}

/// The metafield listings, one lane each: the `resource_type` they hold, where BigCommerce
/// lists them, and the local rows a lane stands for.
const METAFIELD_LANES: [(&str, &str, &str); 6] = [
    (
        "product",
        "/catalog/products/metafields",
        "\"resource_type\" = 'product'",
    ),
    (
        "variant",
        "/catalog/variants/metafields",
        "\"resource_type\" = 'variant'",
    ),
    (
        "category",
        "/catalog/categories/metafields",
        "\"resource_type\" = 'category'",
    ),
    (
        "brand",
        "/catalog/brands/metafields",
        "\"resource_type\" = 'brand'",
    ),
    (
        "customer",
        "/customers/metafields",
        "\"resource_type\" = 'customer'",
    ),
    ("order", "/orders/metafields", "\"resource_type\" = 'order'"),
];

fn metafield_lane(lane: u8) -> (&'static str, &'static str, &'static str) {
    METAFIELD_LANES[usize::from(lane).min(METAFIELD_LANES.len() - 1)]
}

impl Resource {
    /// In the order a sync takes them: what others refer to first.
    pub const ALL: [Resource; 6] = [
        Resource::Categories,
        Resource::Brands,
        Resource::Products,
        Resource::Metafields,
        Resource::Customers,
        Resource::Orders,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Categories => "categories",
            Resource::Brands => "brands",
            Resource::Products => "products",
            Resource::Metafields => "metafields",
            Resource::Customers => "customers",
            Resource::Orders => "orders",
        }
    }

    /// `products`, `product` or `bigcommerce/product` (and `variants`: they come with products).
    pub fn parse(text: &str) -> Option<Resource> {
        let text = text.trim();
        let text = text.strip_prefix("bigcommerce/").unwrap_or(text);
        let found = Resource::ALL.into_iter().find(|r| {
            let plural = r.name();
            text == plural || Some(text) == plural.strip_suffix('s') || text == r.singular()
        });
        found.or(match text {
            "variants" | "variant" | "productVariant" | "productVariants" => Some(Resource::Products),
            "orderProduct" | "orderProducts" => Some(Resource::Orders),
            _ => None,
        })
    }

    fn singular(self) -> &'static str {
        match self {
            Resource::Categories => "category",
            other => other.name().trim_end_matches('s'),
        }
    }

    /// The model its records are written to.
    pub fn model(self) -> &'static str {
        match self {
            Resource::Categories => "bigcommerce/category",
            Resource::Brands => "bigcommerce/brand",
            Resource::Products => "bigcommerce/product",
            Resource::Metafields => "bigcommerce/metafield",
            Resource::Customers => "bigcommerce/customer",
            Resource::Orders => "bigcommerce/order",
        }
    }

    /// The child records written with each record, under this progress name.
    pub fn children(self) -> Option<&'static str> {
        match self {
            Resource::Products => Some("variants"),
            Resource::Orders => Some("orderProducts"),
            _ => None,
        }
    }

    fn version(self) -> ApiVersion {
        match self {
            Resource::Orders => ApiVersion::V2,
            _ => ApiVersion::V3,
        }
    }

    fn path(self, lane: u8) -> &'static str {
        match self {
            Resource::Categories => "/catalog/categories",
            Resource::Brands => "/catalog/brands",
            Resource::Products => "/catalog/products",
            Resource::Metafields => metafield_lane(lane).1,
            Resource::Customers => "/customers",
            Resource::Orders => "/orders",
        }
    }

    fn keyset(self) -> Keyset {
        match self {
            Resource::Metafields => Keyset::Page,
            Resource::Customers => Keyset::Cursor,
            Resource::Orders => Keyset::IdMin("min_id"),
            _ => Keyset::IdMin("id:min"),
        }
    }

    /// Separate listings of one resource: orders are listed live, then archived
    /// (`is_deleted=true`), which BigCommerce leaves out of the plain listing; metafields
    /// are listed per kind of resource they belong to.
    pub fn lanes(self) -> u8 {
        match self {
            Resource::Orders => 2,
            Resource::Metafields => METAFIELD_LANES.len() as u8,
            _ => 1,
        }
    }

    /// Can it be listed by modification time? The others are listed whole every time
    /// (they are small).
    pub fn incremental(self) -> bool {
        !matches!(self, Resource::Categories | Resource::Brands)
    }

    /// The query of a page of `lane`: modified since `since` when given; ids only when
    /// `ids_only` (a sweep for deletions).
    fn query(self, lane: u8, since: Option<DateTime<Utc>>, ids_only: bool) -> Params {
        let mut q = Params::new().with("limit", PAGE_SIZE);
        match self {
            Resource::Products => {
                q.set("sort", "id");
                q.set("direction", "asc");
                if ids_only {
                    q.set("include_fields", "id");
                } else {
                    q.set("include", ["variants", "custom_fields"]);
                }
            }
            Resource::Orders => {
                q.set("sort", "id:asc");
                if lane == 1 {
                    q.set("is_deleted", "true");
                }
                // Each order's lines come with it, in its consignments: no request per order.
                if !ids_only {
                    q.set("include", "consignments.line_items");
                    q.set("consignment_structure", "object");
                }
            }
            Resource::Metafields => {
                q.set("direction", "asc");
                if ids_only {
                    q.set("include_fields", "resource_id");
                }
            }
            _ => {}
        }
        if let Some(since) = since.filter(|_| self.incremental()) {
            match self {
                // v2 takes RFC 2822 dates.
                Resource::Orders => q.set("min_date_modified", since.to_rfc2822()),
                // Always a full timestamp: a date alone gets the current time appended.
                _ => q.set(
                    "date_modified:min",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            }
        }
        q
    }

    /// Local rows a lane's listing covers (the rest are another lane's, or are not
    /// listed at all: metafields of other resources).
    fn scope(self, lane: u8) -> Option<&'static str> {
        match (self, lane) {
            (Resource::Metafields, lane) => Some(metafield_lane(lane).2),
            (Resource::Orders, 0) => Some("NOT COALESCE(\"is_deleted\", FALSE)"),
            (Resource::Orders, _) => Some("COALESCE(\"is_deleted\", FALSE)"),
            _ => None,
        }
    }
}

/// Where a listing continues: after this id, at this cursor, or at this page.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub last_id: Option<i64>,
    pub cursor: Option<String>,
    /// The next page of a page-numbered listing, and the listing's total when the
    /// previous page was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// One page as fetched: the items (and each order's lines), where the next page starts,
/// and whether this was the last.
pub struct FetchedPage {
    pub items: Vec<Json>,
    pub lines: Vec<Vec<Json>>,
    pub next: Position,
    pub end: bool,
    /// The listing's total, when BigCommerce tells it.
    pub total: Option<u64>,
    /// A page-numbered listing lost records since its previous page: later records slid
    /// back, some onto pages already read, so what lies between the previous page and
    /// this one was not all seen.
    pub shifted: bool,
}

/// Fetch the page of `lane` that starts at `at`.
pub async fn fetch(
    client: &StoreClient,
    resource: Resource,
    lane: u8,
    at: &Position,
    since: Option<DateTime<Utc>>,
    ids_only: bool,
) -> Result<FetchedPage, super::super::Error> {
    let mut query = resource.query(lane, since, ids_only);
    let keyset = resource.keyset();
    match keyset {
        Keyset::IdMin(key) => {
            if let Some(last) = at.last_id {
                query.set(key, last.saturating_add(1));
            }
        }
        Keyset::Cursor => {
            if let Some(cursor) = &at.cursor {
                query.set("after", cursor.as_str());
            }
        }
        Keyset::Page => query.set("page", at.page.unwrap_or(1)),
    }
    let body = client
        .request(resource.version(), reqwest::Method::GET, resource.path(lane))
        .query_params(query)
        .send_raw()
        .await?;
    let (mut items, meta) = match (resource.version(), body) {
        (_, None) => (Vec::new(), Json::Null),
        (ApiVersion::V2, Some(Json::Array(items))) => (items, Json::Null),
        (_, Some(Json::Object(mut envelope))) => {
            let items = match envelope.remove("data") {
                Some(Json::Array(items)) => items,
                _ => Vec::new(),
            };
            (items, envelope.remove("meta").unwrap_or(Json::Null))
        }
        (_, Some(_)) => (Vec::new(), Json::Null),
    };
    let last_id = items
        .iter()
        .filter_map(|i| i.get("id").and_then(mapping::id_of))
        .max();
    let total = meta
        .pointer("/pagination/total")
        .and_then(Json::as_u64)
        .or_else(|| meta.pointer("/cursor_pagination/total").and_then(Json::as_u64));
    let mut shifted = false;
    let (next, end) = match keyset {
        Keyset::IdMin(_) => (
            Position {
                last_id: last_id.or(at.last_id),
                ..Default::default()
            },
            items.len() < PAGE_SIZE,
        ),
        Keyset::Page => {
            let number = |key: &str| meta.pointer(&format!("/pagination/{key}")).and_then(Json::as_u64);
            let last_page = match (number("current_page"), number("total_pages")) {
                (Some(current), Some(pages)) => current >= pages,
                _ => items.len() < PAGE_SIZE,
            };
            shifted = matches!((at.total, total), (Some(before), Some(now)) if now < before);
            (
                Position {
                    last_id: last_id.or(at.last_id),
                    cursor: None,
                    page: Some(at.page.unwrap_or(1) + 1),
                    total,
                },
                items.is_empty() || last_page,
            )
        }
        Keyset::Cursor => {
            let more = meta
                .pointer("/cursor_pagination/links/next")
                .is_some_and(|n| !n.is_null());
            let cursor = meta
                .pointer("/cursor_pagination/end_cursor")
                .and_then(Json::as_str)
                .map(str::to_owned);
            (
                Position {
                    last_id: last_id.or(at.last_id),
                    cursor: cursor.or_else(|| at.cursor.clone()),
                    ..Default::default()
                },
                !more || items.is_empty(),
            )
        }
    };
    if resource == Resource::Metafields {
        // The lane says whose they are, should an item not.
        let kind = metafield_lane(lane).0;
        for item in items.iter_mut().filter_map(Json::as_object_mut) {
            item.entry("resource_type").or_insert_with(|| json!(kind));
        }
    }
    let lines = if resource == Resource::Orders && !ids_only {
        // One list per item, in item order: from the order's consignments, or fetched on
        // its own when they do not tell (an order without an id has none).
        let fetches: Vec<_> = items
            .iter_mut()
            .map(|order| {
                let embedded = mapping::take_consignment_lines(order);
                let id = order.get("id").and_then(mapping::id_of);
                let client = client.clone();
                async move {
                    if let Some(lines) = embedded {
                        return Ok(lines);
                    }
                    let Some(id) = id else { return Ok(Vec::new()) };
                    let lines: Vec<Json> = client
                        .v2()
                        .list("/orders/{id}/products")
                        .path_param("id", id)
                        .items()
                        .try_collect()
                        .await?;
                    Ok::<_, super::super::Error>(lines)
                }
            })
            .collect();
        futures::stream::iter(fetches)
            .buffered(LINE_FETCHES)
            .try_collect()
            .await?
    } else {
        Vec::new()
    };
    Ok(FetchedPage {
        items,
        lines,
        next,
        end,
        total,
        shifted,
    })
}

/// Counters of a page, by progress name.
pub type Tally = BTreeMap<&'static str, Counters>;

fn tally_upserts(
    counters: &mut Counters,
    results: &[Result<(i64, Upserted), ActionError>],
) -> Result<(), ActionError> {
    for result in results {
        match result {
            Ok((_, Upserted::Created)) => counters.created += 1,
            Ok((_, Upserted::Updated)) => counters.updated += 1,
            Ok((_, Upserted::Unchanged)) => counters.unchanged += 1,
            // The database itself failed: stop here; the sync continues from its checkpoint.
            Err(ActionError::Database(e)) => return Err(ActionError::Database(e.clone())),
            Err(e) => {
                counters.failed += 1;
                tracing::warn!(error = %e, "a record was not written");
            }
        }
    }
    Ok(())
}

fn identified(mut input: Map<String, Json>, bigcommerce_id: i64, store: i64) -> (Json, Vec<String>) {
    input.insert("bigcommerceId".into(), json!(bigcommerce_id));
    input.insert("store".into(), json!({"_link": store}));
    (Json::Object(input), vec!["bigcommerceId".into(), "store".into()])
}

/// Write a page through bulk upserts: the records, then their children (a product's
/// variants, an order's lines), and delete the children the page's records no longer have.
pub async fn write(api: &Api, store: i64, resource: Resource, page: &FetchedPage) -> Result<Tally, ActionError> {
    let mut tally = Tally::new();
    let mut records = Counters::default();
    let mut inputs = Vec::with_capacity(page.items.len());
    let mut children: Vec<Vec<Map<String, Json>>> = Vec::with_capacity(page.items.len());
    for (i, item) in page.items.iter().enumerate() {
        let Some(id) = item.get("id").and_then(mapping::id_of) else {
            records.failed += 1;
            continue;
        };
        let (input, kids) = match resource {
            Resource::Categories => (mapping::category(item), Vec::new()),
            Resource::Brands => (mapping::brand(item), Vec::new()),
            Resource::Products => mapping::product(item),
            Resource::Metafields => (mapping::metafield(item), Vec::new()),
            Resource::Customers => (mapping::customer(item), Vec::new()),
            Resource::Orders => (
                mapping::order(item),
                page.lines
                    .get(i)
                    .map(|lines| lines.iter().map(mapping::order_product).collect())
                    .unwrap_or_default(),
            ),
        };
        inputs.push(identified(input, id, store));
        children.push(kids);
    }
    records.seen = inputs.len() as u64;
    let results = api.model(resource.model()).bulk_upsert(inputs).await;
    tally_upserts(&mut records, &results)?;
    tally.insert(resource.name(), records);
    let Some(child_name) = resource.children() else {
        return Ok(tally);
    };
    let (child_model, parent_field, parent_column) = match resource {
        Resource::Products => ("bigcommerce/productVariant", "product", "product_id"),
        _ => ("bigcommerce/orderProduct", "order", "order_id"),
    };
    let mut child_inputs = Vec::new();
    let mut parents = Vec::new();
    let mut seen = HashSet::new();
    for (result, kids) in results.iter().zip(children) {
        let Ok((parent, how)) = result else { continue };
        // A parent just created has no children to lose.
        if *how != Upserted::Created {
            parents.push(*parent);
        }
        for kid in kids {
            let Some(id) = kid.get("bigcommerceId").and_then(mapping::id_of) else {
                continue;
            };
            seen.insert(id);
            let (mut input, on) = identified(kid, id, store);
            input[parent_field] = json!({"_link": parent});
            child_inputs.push((input, on));
        }
    }
    let mut counters = Counters {
        seen: child_inputs.len() as u64,
        ..Default::default()
    };
    let results = api.model(child_model).bulk_upsert(child_inputs).await;
    tally_upserts(&mut counters, &results)?;
    counters.deleted = delete_missing(
        api,
        child_model,
        store,
        &Covered::Parents(parent_column, &parents),
        &seen,
    )
    .await?;
    tally.insert(child_name, counters);
    Ok(tally)
}

/// The local rows a listing page stands for.
pub enum Covered<'a> {
    /// BigCommerce ids in `(after, up_to]` (unbounded when `None`), within a lane's scope.
    Range {
        after: Option<i64>,
        up_to: Option<i64>,
        scope: Option<&'static str>,
    },
    /// The children of these parents.
    Parents(&'static str, &'a [i64]),
    /// No rows.
    Nothing,
}

impl Resource {
    /// What a page of `lane` that followed `after` covers.
    pub fn covered(self, lane: u8, after: Option<i64>, page: &FetchedPage) -> Covered<'static> {
        let up_to = if page.end { None } else { page.next.last_id };
        // After a shift only what the page itself spans was seen whole: a record between
        // the previous page and this one may have slid onto a page already read. What is
        // missed here is reconciled by the next sync.
        let after = if page.shifted {
            match page.items.iter().filter_map(|i| i.get("id").and_then(mapping::id_of)).min() {
                Some(first) => Some(first - 1),
                None => return Covered::Nothing,
            }
        } else {
            after
        };
        Covered::Range {
            after,
            up_to,
            scope: self.scope(lane),
        }
    }
}

/// Delete the store's rows of `model` in `covered` whose BigCommerce ids were not seen:
/// BigCommerce no longer has them. Returns how many went.
pub async fn delete_missing(
    api: &Api,
    model: &str,
    store: i64,
    covered: &Covered<'_>,
    seen: &HashSet<i64>,
) -> Result<u64, ActionError> {
    // Their metafields go with the records (BigCommerce dropped them together).
    let owner = super::super::metafields::owner_type(model);
    let model = api
        .registry
        .find(model)
        .ok_or_else(|| ActionError::InvalidInput(format!("no model {model}")))?;
    let tenant = api.caller.tenant.narrowed_to(store);
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("SELECT t0.\"id\", t0.\"bigcommerce_id\" FROM ")
        .ident(&model.table)
        .push(" t0 WHERE ");
    match covered {
        Covered::Range { after, up_to, scope } => {
            sql.push("1=1");
            tenant.restrict(&mut sql, model, "t0", true);
            if let Some(after) = after {
                sql.push(" AND t0.\"bigcommerce_id\" > ").bind((*after).into());
            }
            if let Some(up_to) = up_to {
                sql.push(" AND t0.\"bigcommerce_id\" <= ").bind((*up_to).into());
            }
            if let Some(scope) = scope {
                sql.push(" AND ").push(scope);
            }
        }
        Covered::Parents(_, []) | Covered::Nothing => return Ok(0),
        // The parents choose the rows: PostgreSQL's plan for `store_id = $1 AND parent IN
        // (...)`, made while the table was small, scans the store's rows.
        Covered::Parents(column, parents) => {
            sql.column("t0", column).push(" IN (");
            for (i, parent) in parents.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind((*parent).into());
            }
            sql.push(")");
            tenant.restrict(&mut sql, model, "t0", false);
        }
    }
    let rows = api.db.query_all_raw(sql.build()).await?;
    let (mut gone, mut gone_ids) = (Vec::new(), Vec::new());
    for row in rows {
        let (id, bigcommerce_id): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        if !seen.contains(&bigcommerce_id) {
            gone.push(id);
            gone_ids.push(bigcommerce_id);
        }
    }
    let mut deleted = 0;
    for result in api.model_by_id(model.id).bulk_delete(gone).await {
        match result {
            Ok(()) => deleted += 1,
            // Deleted meanwhile (say, by a webhook): what we wanted.
            Err(ActionError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(owner) = owner {
        super::super::metafields::delete_of(api, store, owner, &gone_ids).await?;
    }
    Ok(deleted)
}

/// The BigCommerce ids of a page's items.
pub fn ids(page: &FetchedPage) -> HashSet<i64> {
    page.items
        .iter()
        .filter_map(|i| i.get("id").and_then(mapping::id_of))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[i64], end: bool, shifted: bool) -> FetchedPage {
        FetchedPage {
            items: ids.iter().map(|id| json!({"id": id})).collect(),
            lines: Vec::new(),
            next: Position {
                last_id: ids.iter().max().copied(),
                ..Default::default()
            },
            end,
            total: None,
            shifted,
        }
    }

    fn range(covered: Covered<'_>) -> Option<(Option<i64>, Option<i64>, Option<&'static str>)> {
        match covered {
            Covered::Range { after, up_to, scope } => Some((after, up_to, scope)),
            _ => None,
        }
    }

    #[test]
    fn a_metafield_page_covers_from_the_previous_page_to_its_last_id() {
        let covered = Resource::Metafields.covered(4, Some(250), &page(&[251, 400], false, false));
        assert_eq!(
            range(covered),
            Some((Some(250), Some(400), Some("\"resource_type\" = 'customer'")))
        );
    }

    #[test]
    fn after_a_shift_a_page_covers_only_what_it_spans() {
        let covered = Resource::Metafields.covered(0, Some(250), &page(&[260, 400], false, true));
        assert_eq!(range(covered).map(|r| (r.0, r.1)), Some((Some(259), Some(400))));
        // The last page, shifted and empty, vouches for nothing.
        let covered = Resource::Metafields.covered(0, Some(250), &page(&[], true, true));
        assert!(matches!(covered, Covered::Nothing));
    }

    #[test]
    fn each_metafield_lane_lists_its_own_kind() {
        assert_eq!(Resource::Metafields.lanes(), 6);
        let paths: Vec<&str> = (0..6).map(|lane| Resource::Metafields.path(lane)).collect();
        assert_eq!(
            paths,
            [
                "/catalog/products/metafields",
                "/catalog/variants/metafields",
                "/catalog/categories/metafields",
                "/catalog/brands/metafields",
                "/customers/metafields",
                "/orders/metafields",
            ]
        );
        let q = Resource::Orders.query(0, None, false);
        assert_eq!(q.get("include").as_deref(), Some("consignments.line_items"));
        assert_eq!(Resource::Orders.query(0, None, true).get("include"), None);
    }
}
