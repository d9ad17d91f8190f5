//! Every filter operator on every field type, and their combinations.

use crate::read_api::catalog;
use crate::support::{TestApp, error_codes};
use serde_json::{Value, json};

const QUERY: &str = "query($filter: [BigcommerceProductFilter!]) { bigcommerce { products(first: 250, filter: $filter) { edges { node { name } } } } }";

async fn names(app: &TestApp, filter: Value) -> Vec<String> {
    let response = app.gql(QUERY, json!({"filter": filter})).await;
    assert!(response["errors"].is_null(), "filter {filter} failed: {response}");
    response["data"]["bigcommerce"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

const BLUE: &str = "Blue Shirt";
const RED: &str = "Red Shirt";
const GREEN: &str = "Green Hat";
const BLACK: &str = "Black Socks";
const WOOL: &str = "Wool Scarf";
const OTHER: &str = "Other Store Shirt";
const ALL: [&str; 6] = [BLUE, RED, GREEN, BLACK, WOOL, OTHER];

fn t(secs: i64) -> String {
    crate::support::seed::at(secs).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn check(app: &TestApp, cases: Vec<(Value, Vec<&str>)>) {
    let mut failures = Vec::new();
    for (filter, expected) in cases {
        let got = names(app, filter.clone()).await;
        if got != expected {
            failures.push(format!("{filter}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} filters wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn id_filters() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    let id = |i: usize| c.products[i].to_string();
    check(
        &app,
        vec![
            (json!({"id": {"equals": id(1)}}), vec![RED]),
            (
                json!({"id": {"notEquals": id(1)}}),
                vec![BLUE, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"id": {"in": [id(0), id(2)]}}), vec![BLUE, GREEN]),
            (json!({"id": {"in": []}}), vec![]),
            (
                json!({"id": {"notIn": [id(0)]}}),
                vec![RED, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"id": {"notIn": []}}), ALL.to_vec()),
            (json!({"id": {"lessThan": id(2)}}), vec![BLUE, RED]),
            (json!({"id": {"lessThanOrEqual": id(2)}}), vec![BLUE, RED, GREEN]),
            (json!({"id": {"greaterThan": id(3)}}), vec![WOOL, OTHER]),
            (json!({"id": {"greaterThanOrEqual": id(4)}}), vec![WOOL, OTHER]),
            (json!({"id": {"isSet": true}}), ALL.to_vec()),
            (
                json!({"storeId": {"equals": c.other_store.to_string()}}),
                vec![OTHER],
            ),
            (
                json!({"storeId": {"notEquals": c.other_store.to_string()}}),
                vec![BLUE, RED, GREEN, BLACK, WOOL],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn string_filters() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"name": {"equals": GREEN}}), vec![GREEN]),
            (
                json!({"name": {"notEquals": GREEN}}),
                vec![BLUE, RED, BLACK, WOOL, OTHER],
            ),
            // A row without a value is "not equal" to any value.
            (
                json!({"sku": {"notEquals": "SH-B"}}),
                vec![RED, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"sku": {"equals": null}}), vec![OTHER]),
            (
                json!({"sku": {"in": ["SH-B", "SO-K", "missing"]}}),
                vec![BLUE, BLACK],
            ),
            (json!({"sku": {"in": []}}), vec![]),
            (
                json!({"sku": {"notIn": ["SH-B"]}}),
                vec![RED, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"sku": {"lessThan": "SH"}}), vec![GREEN, WOOL]),
            (
                json!({"sku": {"lessThanOrEqual": "SH-B"}}),
                vec![BLUE, GREEN, WOOL],
            ),
            (json!({"sku": {"greaterThan": "SH-R"}}), vec![BLACK]),
            (json!({"sku": {"greaterThanOrEqual": "SH-R"}}), vec![RED, BLACK]),
            (json!({"sku": {"startsWith": "SH-"}}), vec![BLUE, RED]),
            (json!({"sku": {"startsWith": "sh-"}}), vec![]),
            (json!({"name": {"startsWith": "Wool Scarf and more"}}), vec![]),
            (json!({"sku": {"isSet": false}}), vec![OTHER]),
            (
                json!({"sku": {"isSet": true}}),
                vec![BLUE, RED, GREEN, BLACK, WOOL],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn number_filters() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"price": {"equals": 8.5}}), vec![GREEN]),
            (
                json!({"price": {"notEquals": 20}}),
                vec![RED, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"price": {"in": [15, 30]}}), vec![RED, WOOL]),
            (
                json!({"price": {"notIn": [15, 30]}}),
                vec![BLUE, GREEN, BLACK, OTHER],
            ),
            (json!({"price": {"lessThan": 15}}), vec![GREEN]),
            (json!({"price": {"lessThanOrEqual": 15}}), vec![RED, GREEN]),
            (json!({"price": {"greaterThan": 20}}), vec![WOOL, OTHER]),
            (
                json!({"price": {"greaterThanOrEqual": 20}}),
                vec![BLUE, WOOL, OTHER],
            ),
            (json!({"price": {"isSet": false}}), vec![BLACK]),
            // Integer columns compare with whole and fractional bounds alike.
            (
                json!({"inventoryLevel": {"greaterThan": 15}}),
                vec![GREEN, BLACK, WOOL],
            ),
            (json!({"inventoryLevel": {"equals": 10}}), vec![RED]),
            (json!({"inventoryLevel": {"lessThan": 10.5}}), vec![BLUE, RED]),
            (json!({"bigcommerceId": {"equals": 100}}), vec![BLUE, OTHER]),
            (json!({"bigcommerceId": {"in": [101, 104]}}), vec![RED, WOOL]),
        ],
    )
    .await;
}

#[tokio::test]
async fn boolean_enum_and_datetime_filters() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"isVisible": {"equals": true}}), vec![BLUE, GREEN, WOOL]),
            (json!({"isVisible": {"equals": false}}), vec![RED, BLACK]),
            (json!({"isVisible": {"notEquals": true}}), vec![RED, BLACK, OTHER]),
            (json!({"isVisible": {"isSet": false}}), vec![OTHER]),
            (json!({"type": {"equals": "digital"}}), vec![GREEN]),
            (
                json!({"type": {"notEquals": "digital"}}),
                vec![BLUE, RED, BLACK, WOOL, OTHER],
            ),
            (
                json!({"type": {"in": ["digital", "physical"]}}),
                vec![BLUE, RED, GREEN, BLACK, WOOL],
            ),
            (json!({"type": {"notIn": ["physical"]}}), vec![GREEN, OTHER]),
            (json!({"type": {"isSet": false}}), vec![OTHER]),
            (json!({"dateModified": {"equals": t(900)}}), vec![RED]),
            (
                json!({"dateModified": {"notEquals": t(900)}}),
                vec![BLUE, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"dateModified": {"in": [t(900), t(600)]}}), vec![RED, WOOL]),
            (
                json!({"dateModified": {"notIn": [t(900), t(600)]}}),
                vec![BLUE, GREEN, BLACK, OTHER],
            ),
            (json!({"dateModified": {"before": t(800)}}), vec![BLACK, WOOL]),
            (json!({"dateModified": {"lessThan": t(800)}}), vec![BLACK, WOOL]),
            (
                json!({"dateModified": {"lessThanOrEqual": t(800)}}),
                vec![GREEN, BLACK, WOOL],
            ),
            (json!({"dateModified": {"after": t(800)}}), vec![BLUE, RED]),
            (json!({"dateModified": {"greaterThan": t(800)}}), vec![BLUE, RED]),
            (
                json!({"dateModified": {"greaterThanOrEqual": t(800)}}),
                vec![BLUE, RED, GREEN],
            ),
            // Any offset is understood and compared in UTC.
            (
                json!({"dateModified": {"equals": "2026-01-01T01:15:00+01:00"}}),
                vec![RED],
            ),
            (json!({"dateModified": {"isSet": false}}), vec![OTHER]),
            (json!({"createdAt": {"equals": t(100)}}), vec![BLUE, OTHER]),
        ],
    )
    .await;
}

#[tokio::test]
async fn json_filters() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"customFields": {"matches": {"color": "Red"}}}), vec![RED]),
            (json!({"customFields": {"matches": {"size": 4}}}), vec![WOOL]),
            (
                json!({"customFields": {"matches": {"color": "Blue", "size": 0}}}),
                vec![BLUE],
            ),
            (
                json!({"customFields": {"matches": {"color": "Blue", "size": 1}}}),
                vec![],
            ),
            (
                json!({"customFields": {"equals": {"color": "Green", "size": 2}}}),
                vec![GREEN],
            ),
            (
                json!({"customFields": {"notEquals": {"color": "Green", "size": 2}}}),
                vec![BLUE, RED, BLACK, WOOL, OTHER],
            ),
            (
                json!({"customFields": {"in": [{"color": "Red", "size": 1}, {"color": "Wool", "size": 4}]}}),
                vec![RED, WOOL],
            ),
            (
                json!({"customFields": {"notIn": [{"color": "Red", "size": 1}]}}),
                vec![BLUE, GREEN, BLACK, WOOL, OTHER],
            ),
            (json!({"customFields": {"isSet": false}}), vec![BLACK, OTHER]),
            (json!({"raw": {"matches": {"name": "Green Hat"}}}), vec![GREEN]),
        ],
    )
    .await;
}

#[tokio::test]
async fn and_or_not_and_lists() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"OR": [{"price": {"lessThan": 10}}, {"sku": {"equals": "SO-K"}}]}), vec![GREEN, BLACK]),
            (json!({"NOT": [{"price": {"isSet": true}}]}), vec![BLACK]),
            (
                json!({"AND": [{"name": {"startsWith": "B"}}, {"OR": [{"price": {"greaterThan": 19}}, {"price": {"isSet": false}}]}]}),
                vec![BLUE, BLACK],
            ),
            // Unknown (NULL) comparisons inside NOT keep the row, as "not (visible or expensive)" should.
            (json!({"NOT": [{"OR": [{"isVisible": {"equals": true}}, {"price": {"greaterThan": 24}}]}]}), vec![RED, BLACK]),
            (json!([{"price": {"greaterThan": 10}}, {"isVisible": {"equals": true}}]), vec![BLUE, WOOL]),
            // Keys of one object are ANDed too.
            (json!({"price": {"greaterThan": 10, "lessThan": 25}}), vec![BLUE, RED]),
            (json!({"OR": []}), vec![]),
            (json!({"AND": []}), ALL.to_vec()),
            (json!({}), ALL.to_vec()),
        ],
    )
    .await;
}

#[tokio::test]
async fn relationship_filters() {
    let app = TestApp::start().await;
    catalog(&app).await;
    check(
        &app,
        vec![
            (json!({"store": {"storeHash": {"equals": "xyz"}}}), vec![OTHER]),
            (
                json!({"store": {"storeHash": {"startsWith": "a"}, "state": {"equals": "installed"}}}),
                vec![BLUE, RED, GREEN, BLACK, WOOL],
            ),
            (json!({"store": {"isSet": true}}), ALL.to_vec()),
            (json!({"store": {"isSet": false}}), vec![]),
            (
                json!({"variants": {"some": {"sku": {"startsWith": "SH-R"}}}}),
                vec![RED],
            ),
            (json!({"variants": {"some": {}}}), vec![BLUE, RED]),
            // `every` holds for products without variants.
            (
                json!({"variants": {"every": {"sku": {"startsWith": "SH-B"}}}}),
                vec![BLUE, GREEN, BLACK, WOOL, OTHER],
            ),
            (
                json!({"NOT": [{"variants": {"some": {}}}]}),
                vec![GREEN, BLACK, WOOL, OTHER],
            ),
        ],
    )
    .await;
    let variants = app
        .data(
            "{ bigcommerce { productVariants(filter: {product: {name: {equals: \"Red Shirt\"}}}) { edges { node { sku } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        variants["bigcommerce"]["productVariants"]["edges"],
        json!([{"node": {"sku": "SH-R-S"}}])
    );
}

#[tokio::test]
async fn bad_filter_values_are_refused() {
    let app = TestApp::start().await;
    catalog(&app).await;
    for (filter, code) in [
        (json!({"type": {"equals": "bogus"}}), "GGT_INVALID_QUERY_INPUT"),
        (json!({"price": {"equals": "cheap"}}), ""),
        (json!({"nope": {"equals": 1}}), ""),
        (json!({"price": {"near": 1}}), ""),
        (json!({"dateModified": {"before": "yesterday"}}), ""),
        (json!({"id": {"equals": "abc"}}), ""),
    ] {
        let response = app.gql(QUERY, json!({"filter": filter})).await;
        assert!(crate::bad_input::no_data(&response), "{filter}: {response}");
        let codes = error_codes(&response);
        assert_eq!(codes.len(), 1, "{filter}: {response}");
        if !code.is_empty() {
            assert_eq!(codes[0], code, "{filter}: {response}");
        }
    }
}
