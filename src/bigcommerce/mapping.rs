//! BigCommerce objects as the inputs of our models: one place that knows which
//! BigCommerce key fills which field, shared by the webhook handlers and the sync.
//! Each input keeps the whole object in `raw` (a product's without its variants, which
//! are rows of their own).

use serde_json::{Map, Value as Json, json};

/// Copy `(bigcommerce key, api id)` pairs from a BigCommerce object.
fn pick(source: &Json, pairs: &[(&str, &str)]) -> Map<String, Json> {
    let mut out = Map::new();
    for (from, to) in pairs {
        if let Some(v) = source.get(*from) {
            out.insert((*to).to_owned(), v.clone());
        }
    }
    out
}

fn with_raw(mut input: Map<String, Json>, raw: &Json) -> Map<String, Json> {
    input.insert("raw".into(), raw.clone());
    input
}

/// A BigCommerce id, sent as a number or as a string.
pub fn id_of(value: &Json) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// v2 sends money as decimal strings.
fn money(value: &Json) -> Json {
    json!(
        value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
    )
}

/// v2 dates are RFC 2822.
fn v2_date(value: &Json) -> Json {
    value
        .as_str()
        .and_then(|text| {
            chrono::DateTime::parse_from_rfc2822(text)
                .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
                .ok()
        })
        .map(|d| json!(d.with_timezone(&chrono::Utc).to_rfc3339()))
        .unwrap_or(Json::Null)
}

/// A product (listed or fetched with `include=variants,custom_fields`) and its variants.
pub fn product(p: &Json) -> (Map<String, Json>, Vec<Map<String, Json>>) {
    let input = pick(
        p,
        &[
            ("name", "name"),
            ("type", "type"),
            ("sku", "sku"),
            ("price", "price"),
            ("sale_price", "salePrice"),
            ("weight", "weight"),
            ("inventory_level", "inventoryLevel"),
            ("inventory_tracking", "inventoryTracking"),
            ("is_visible", "isVisible"),
            ("categories", "categories"),
            ("brand_id", "brandId"),
            ("custom_fields", "customFields"),
            ("date_created", "dateCreated"),
            ("date_modified", "dateModified"),
        ],
    );
    let variants = p
        .get("variants")
        .and_then(Json::as_array)
        .map(|vs| vs.iter().map(variant).collect())
        .unwrap_or_default();
    let mut raw = p.clone();
    if let Some(o) = raw.as_object_mut() {
        o.remove("variants");
    }
    (with_raw(input, &raw), variants)
}

pub fn variant(v: &Json) -> Map<String, Json> {
    let input = pick(
        v,
        &[
            ("id", "bigcommerceId"),
            ("sku", "sku"),
            ("price", "price"),
            ("sale_price", "salePrice"),
            ("inventory_level", "inventoryLevel"),
            ("option_values", "optionValues"),
        ],
    );
    with_raw(input, v)
}

pub fn category(c: &Json) -> Map<String, Json> {
    let input = pick(
        c,
        &[
            ("name", "name"),
            ("parent_id", "parentId"),
            ("is_visible", "isVisible"),
        ],
    );
    with_raw(input, c)
}

pub fn brand(b: &Json) -> Map<String, Json> {
    with_raw(pick(b, &[("name", "name")]), b)
}

pub fn customer(c: &Json) -> Map<String, Json> {
    let input = pick(
        c,
        &[
            ("email", "email"),
            ("first_name", "firstName"),
            ("last_name", "lastName"),
            ("company", "company"),
            ("customer_group_id", "customerGroupId"),
            ("date_created", "dateCreated"),
            ("date_modified", "dateModified"),
        ],
    );
    with_raw(input, c)
}

/// A v2 order, without its lines.
pub fn order(o: &Json) -> Map<String, Json> {
    let mut input = pick(
        o,
        &[
            ("customer_id", "customerId"),
            ("status_id", "statusId"),
            ("status", "status"),
            ("currency_code", "currencyCode"),
            ("is_deleted", "isDeleted"),
        ],
    );
    if let Some(total) = o.get("total_inc_tax") {
        input.insert("totalIncTax".into(), money(total));
    }
    for (from, to) in [("date_created", "dateCreated"), ("date_modified", "dateModified")] {
        if let Some(date) = o.get(from) {
            input.insert(to.into(), v2_date(date));
        }
    }
    with_raw(input, o)
}

/// A line of a v2 order (`/orders/{id}/products`).
pub fn order_product(p: &Json) -> Map<String, Json> {
    let mut line = pick(
        p,
        &[
            ("id", "bigcommerceId"),
            ("name", "name"),
            ("sku", "sku"),
            ("quantity", "quantity"),
            ("product_id", "productId"),
            ("variant_id", "variantId"),
        ],
    );
    if let Some(price) = p.get("price_inc_tax") {
        line.insert("priceIncTax".into(), money(price));
    }
    with_raw(line, p)
}

pub fn metafield(m: &Json) -> Map<String, Json> {
    let input = pick(
        m,
        &[
            ("key", "key"),
            ("value", "value"),
            ("namespace", "namespace"),
            ("description", "description"),
            ("permission_set", "permissionSet"),
            ("resource_type", "resourceType"),
            ("resource_id", "resourceId"),
            ("date_created", "dateCreated"),
            ("date_modified", "dateModified"),
        ],
    );
    with_raw(input, m)
}

/// Take an order's lines out of its `consignments` (v2 `include=consignments.line_items`
/// with `consignment_structure=object`): the `line_items` of its pickup, shipping,
/// download and gift certificate consignments, each line once. The order keeps the rest.
///
/// `None` when they cannot be told from it, and the lines are to be fetched on their own
/// (`/orders/{id}/products`): no `consignments` (a store that ignored the include), lines
/// as resource links, or no lines at all in an order of items.
pub fn take_consignment_lines(order: &mut Json) -> Option<Vec<Json>> {
    let consignments = order.as_object_mut()?.remove("consignments")?;
    // The legacy structure is the object inside an array.
    let structures: Vec<&Json> = match &consignments {
        Json::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for structure in structures {
        let groups = ["pickups", "shipping", "downloads"]
            .iter()
            .filter_map(|k| structure.get(*k))
            .chain(structure.pointer("/email/gift_certificates"));
        for consignment in groups.filter_map(Json::as_array).flatten() {
            let items = match consignment.get("line_items") {
                Some(Json::Array(items)) => items.iter().collect::<Vec<_>>(),
                // A download consignment's one line may come bare.
                Some(item @ Json::Object(_)) => vec![item],
                _ => Vec::new(),
            };
            for item in items {
                // A link (`{url, resource}`) is not the line.
                let id = item.get("product_id").and(item.get("id")).and_then(id_of)?;
                if seen.insert(id) {
                    lines.push(item.clone());
                }
            }
        }
    }
    let has_items = order
        .get("items_total")
        .and_then(|n| n.as_i64().or_else(|| n.as_str().and_then(|s| s.parse().ok())))
        .is_some_and(|n| n > 0);
    if lines.is_empty() && has_items {
        return None;
    }
    Some(lines)
}

#[cfg(test)]
mod consignment_tests {
    use super::*;

    #[test]
    fn lines_come_from_every_consignment_once() {
        let line = |id: i64| json!({"id": id, "order_id": 7, "product_id": 3, "quantity": 1});
        let mut order = json!({"id": 7, "items_total": 3, "consignments": {
            "pickups": [],
            "shipping": [{"id": 1, "line_items": [line(1), line(2)]}],
            "downloads": [],
            "email": {"gift_certificates": [{"line_items": [line(3), line(2)]}]},
        }});
        let lines = take_consignment_lines(&mut order).unwrap();
        let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(order.get("consignments").is_none(), "the order keeps the rest");
    }

    #[test]
    fn links_or_no_consignments_mean_fetching_the_lines() {
        let mut plain = json!({"id": 7, "items_total": 1});
        assert_eq!(take_consignment_lines(&mut plain), None);
        let link = json!({"url": "https://x/orders/7/products/1", "resource": "/orders/7/products/1"});
        let mut linked = json!({"id": 7, "items_total": 1, "consignments": [{"shipping": [{"line_items": [link]}]}]});
        assert_eq!(take_consignment_lines(&mut linked), None);
        let mut empty = json!({"id": 8, "items_total": 1, "consignments": {"shipping": []}});
        assert_eq!(take_consignment_lines(&mut empty), None);
        let mut nothing = json!({"id": 9, "items_total": 0, "consignments": {"shipping": []}});
        assert_eq!(take_consignment_lines(&mut nothing), Some(Vec::new()));
    }
}
