//! Bad input gets a clear GraphQL error, never a panic or a 500, and the routes
//! around the API behave.

use crate::support::{TestApp, error_codes, error_text};
use serde_json::json;

/// The response carries no record: errors stop at the root or at the namespace.
pub fn no_data(body: &serde_json::Value) -> bool {
    body["data"].is_null() || body["data"]["bigcommerce"].is_null()
}

#[tokio::test]
async fn malformed_documents_and_wrong_types_are_errors() {
    let app = TestApp::start().await;
    let cases = [
        (
            "{ bigcommerce { products { edges { node { nope } } } } }",
            json!({}),
            "Unknown field \"nope\"",
        ),
        (
            "{ bigcommerce { products(first: \"ten\") { edges { node { id } } } } }",
            json!({}),
            "Invalid value for argument \"first\"",
        ),
        (
            "query($id: GadgetID!) { bigcommerce { product(id: $id) { id } } }",
            json!({"id": true}),
            "Invalid value for argument \"id\"",
        ),
        (
            "query($id: GadgetID!) { bigcommerce { product(id: $id) { id } } }",
            json!({}),
            "Variable id is not defined",
        ),
        ("{ bigcommerce { products(", json!({}), "expected"),
        (
            "{ bigcommerce { products(sort: {name: Sideways}) { edges { node { id } } } } }",
            json!({}),
            "Sideways",
        ),
    ];
    for (query, variables, expected) in cases {
        let (status, body) = app
            .post_json(&json!({"query": query, "variables": variables}))
            .await;
        assert_eq!(status, 200, "{query}");
        assert!(no_data(&body), "{query}: {body}");
        let text = error_text(&body);
        assert!(
            text.contains(expected),
            "{query}: expected `{expected}` in `{text}`"
        );
    }
}

#[tokio::test]
async fn page_size_and_cursor_errors() {
    let app = TestApp::start().await;
    let query = "query($first: Int, $last: Int, $after: String) { bigcommerce { products(first: $first, last: $last, after: $after) { edges { node { id } } } } }";
    for (variables, expected) in [
        (json!({"first": 1000}), "at most 250"),
        (json!({"last": 251}), "at most 250"),
        (json!({"first": -1}), "must not be negative"),
        (json!({"first": 1, "last": 1}), "not both"),
        (json!({"after": "not-a-cursor!!"}), "not a valid cursor"),
        (json!({"after": "WzEsMiwzXQ"}), "not a valid cursor"),
    ] {
        let response = app.gql(query, variables.clone()).await;
        assert_eq!(
            error_codes(&response),
            ["GGT_INVALID_QUERY_INPUT"],
            "{variables}: {response}"
        );
        assert!(
            error_text(&response).contains(expected),
            "{variables}: {response}"
        );
    }
    // 250 is allowed.
    let ok = app.gql(query, json!({"first": 250})).await;
    assert!(ok["errors"].is_null(), "{ok}");
}

#[tokio::test]
async fn depth_and_complexity_bombs_are_refused() {
    let app = TestApp::start().await;
    let nested = |levels: usize| {
        let mut query = String::from("{ bigcommerce { products { edges { node { id ");
        query.push_str(&"store { products { edges { node { id ".repeat(levels));
        query.push_str(&"} } } } ".repeat(levels));
        query.push_str("} } } } }");
        query
    };
    // Within the limit it runs; past it, a clear refusal naming the setting; far past
    // it, the nesting guard refuses it before the parser sees it.
    let ok = app.gql(&nested(2), json!({})).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let response = app.gql(&nested(5), json!({})).await;
    assert!(response["data"].is_null());
    assert_eq!(error_codes(&response), ["GGT_INVALID_QUERY_INPUT"], "{response}");
    assert!(
        error_text(&response)
            .contains("nests fields 25 deep; at most 16 is allowed (BCGRAPH_MAX_QUERY_DEPTH)"),
        "{response}"
    );
    let response = app.gql(&nested(500), json!({})).await;
    assert!(response["data"].is_null());
    assert_eq!(error_codes(&response), ["GGT_INVALID_QUERY_INPUT"], "{response}");
    assert!(error_text(&response).contains("at most 128 levels"), "{response}");
    let wide: String = (0..3000)
        .map(|i| format!("a{i}: gadgetMeta {{ name }} "))
        .collect();
    let response = app.gql(&format!("{{ {wide} }}"), json!({})).await;
    assert!(
        error_text(&response).contains("3000 aliases once its fragments are expanded; at most 200"),
        "{response}"
    );
    // Without aliases, async-graphql's own complexity limit still answers.
    let fields = "name slug environmentName environmentSlug ".repeat(4);
    let spreads: String = (0..150).map(|i| format!("...F{i} ")).collect();
    let fragments: String = (0..150)
        .map(|i| format!("fragment F{i} on Query {{ gadgetMeta {{ {fields} }} currentSession {{ id }} }} "))
        .collect();
    let response = app.gql(&format!("{{ {spreads} }} {fragments}"), json!({})).await;
    assert!(error_text(&response).contains("too complex"), "{response}");
}

#[tokio::test]
async fn bodies_that_are_not_graphql_requests() {
    let app = TestApp::start().await;
    let (status, body) = app.post_raw(b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["GGT_INVALID_QUERY_INPUT"]);
    let (status, body) = app.post_raw(b"{\"variables\": {}}".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_text(&body).contains("no `query`"), "{body}");
    let huge = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": \"{}\"}}}}",
        "x".repeat(3 * 1024 * 1024)
    );
    let response = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn graphiql_and_health() {
    let app = TestApp::start().await;
    let page = app
        .http
        .get(format!("{}/api/graphql", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
    let health = app.http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// The NUL character (U+0000), which PostgreSQL stores in neither text nor jsonb, is
/// refused as bad input on both databases, wherever it comes in: a string of a record or
/// a filter, a JSON value or key, a search or prefix term, a cursor, an action's
/// parameter, an escape in the document. On PostgreSQL each of these was an internal
/// error, logged as a database failure (found by the property test).
#[tokio::test]
async fn the_nul_character_is_bad_input_on_both_databases() {
    use base64::Engine;
    let app = TestApp::start().await;
    let store = crate::support::seed::store(&app.db, "abc").await;
    let create = "mutation($o: CreateBigcommerceOrderInput) { bigcommerce { createOrder(order: $o) { success errors { code message } } } }";
    let list = "query($f: [BigcommerceOrderFilter!], $s: String, $c: String) { bigcommerce { \
                orders(filter: $f, search: $s, after: $c, sort: {currencyCode: Ascending}) { edges { node { id } } } } }";
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!(["a\u{0}", 1]).to_string());
    let cases = [
        (
            create,
            json!({"o": {"bigcommerceId": 1, "currencyCode": "a\u{0}b", "store": {"_link": store}}}),
        ),
        (
            create,
            json!({"o": {"bigcommerceId": 2, "raw": {"a": "x\u{0}"}, "store": {"_link": store}}}),
        ),
        (
            create,
            json!({"o": {"bigcommerceId": 3, "raw": {"a\u{0}": 1}, "store": {"_link": store}}}),
        ),
        (list, json!({"f": {"currencyCode": {"equals": "\u{0}"}}})),
        (list, json!({"f": {"currencyCode": {"in": ["a", "\u{0}"]}}})),
        (list, json!({"f": {"currencyCode": {"startsWith": "\u{0}"}}})),
        (list, json!({"f": {"raw": {"matches": {"a": "\u{0}"}}}})),
        (list, json!({"f": {"raw": {"equals": {"a": "\u{0}"}}}})),
        (list, json!({"s": "a\u{0}"})),
        (list, json!({"c": cursor})),
        (
            "mutation { bigcommerce { pullProduct(bigcommerceId: 1, storeHash: \"a\\u0000\") { success } } }",
            json!({}),
        ),
        (
            "{ bigcommerce { orders(filter: {currencyCode: {equals: \"\\u0000\"}}) { edges { node { id } } } } }",
            json!({}),
        ),
    ];
    for (document, variables) in cases {
        let response = app.gql(document, variables.clone()).await;
        let codes = error_codes(&response);
        let result_codes: Vec<String> = response["data"]["bigcommerce"]["createOrder"]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["code"].as_str().unwrap_or("").to_owned())
            .collect();
        assert!(
            codes == ["GGT_INVALID_QUERY_INPUT"] || result_codes == ["GGT_INVALID_RECORD"],
            "{variables}: {response}"
        );
        // A cursor is opaque: it is simply not a valid one.
        let text = response.to_string();
        assert!(
            text.contains("U+0000") || text.contains("not a valid cursor"),
            "{response}"
        );
    }
    assert_eq!(
        crate::support::count_rows(&app.db, "bigcommerce_order", "1=1").await,
        0
    );
}

/// The system's bulk writes let foreign keys vouch for their links; a link to a record
/// that does not exist breaks the batch, and the one-record retry reports it as missing
/// (found by the property test: it was an internal error).
#[tokio::test]
async fn a_bulk_link_to_a_missing_record_is_not_found_not_an_internal_error() {
    let app = TestApp::start().await;
    let store = crate::support::seed::store(&app.db, "abc").await;
    let product = crate::support::seed::product(&app.db, store, 1, "Shirt", |_| {}).await;
    let variant = crate::support::seed::variant(&app.db, store, product, 10, "S-1").await;
    let update = "mutation($i: [BulkUpdateBigcommerceProductVariantsInput!]!) { bigcommerce {
        bulkUpdateProductVariants(inputs: $i) { success errors { code } } } }";
    let body = app
        .gql(
            update,
            json!({"i": [{"id": variant.to_string(), "productVariant": {"product": {"_link": "9223372036854775807"}}}]}),
        )
        .await;
    let result = &body["data"]["bigcommerce"]["bulkUpdateProductVariants"];
    assert_eq!(result["errors"][0]["code"], "GGT_RECORD_NOT_FOUND", "{body}");
    let create = "mutation($i: [BulkCreateBigcommerceProductVariantsInput!]!) { bigcommerce {
        bulkCreateProductVariants(inputs: $i) { success errors { code } } } }";
    let body = app
        .gql(
            create,
            json!({"i": [{"productVariant": {"bigcommerceId": 11, "store": {"_link": store.to_string()},
                                            "product": {"_link": "9223372036854775807"}}}]}),
        )
        .await;
    let result = &body["data"]["bigcommerce"]["bulkCreateProductVariants"];
    assert_eq!(result["errors"][0]["code"], "GGT_RECORD_NOT_FOUND", "{body}");
    // Nothing moved and nothing was added.
    assert_eq!(
        crate::support::count_rows(
            &app.db,
            "bigcommerce_product_variant",
            &format!("product_id = {product}")
        )
        .await,
        1
    );
}
