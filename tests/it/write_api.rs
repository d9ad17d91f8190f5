//! The write API: every action and nested form through the client's documents,
//! validations and error paths (each checked against the rows), the concurrent
//! upsert, global actions and the Rust API.

use crate::support::client_documents::{
    BULK_CREATE, BULK_DELETE, BULK_UPDATE, BULK_UPSERT, CREATE, DELETE, UPDATE, UPSERT,
};
use crate::support::{TestApp, seed};
use bcgraph::action::{ActionError, GlobalAction, GlobalActions, Param, ParamType, Upserted};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// Rows of a table as `(bigcommerce_id, text)` pairs, for checking what the database holds.
async fn rows(app: &TestApp, table: &str, column: &str) -> Vec<(i64, Option<String>)> {
    let sql = format!("SELECT bigcommerce_id, {column} FROM {table} ORDER BY bigcommerce_id, id");
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<i64>(0).unwrap(),
                r.try_get_by_index::<Option<String>>(1).unwrap(),
            )
        })
        .collect()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn result<'a>(data: &'a Value, action: &str) -> &'a Value {
    &data["bigcommerce"][action]
}

fn codes(result: &Value) -> Vec<String> {
    result["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["code"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_update_delete_through_the_client_documents() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let created = app
        .data(
            CREATE,
            json!({"product": {"bigcommerceId": 77, "name": "Mug", "price": 9.5, "type": "physical", "customFields": {"a": 1},
                   "store": {"_link": store.to_string()},
                   "variants": [{"create": {"bigcommerceId": 1, "sku": "MUG-1"}}, {"create": {"bigcommerceId": 2, "sku": "MUG-2"}}]}}),
        )
        .await;
    let r = result(&created, "createProduct");
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["errors"], Value::Null, "errors is null on success, never []");
    assert_eq!(r["product"]["name"], "Mug");
    assert_eq!(r["product"]["bigcommerceId"], 77.0);
    assert_eq!(r["product"]["store"]["id"], store.to_string());
    let skus: Vec<&str> = r["product"]["variants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["MUG-1", "MUG-2"]);
    assert_eq!(created["gadgetMeta"]["hydrations"]["updatedAt"], "DateTime");
    let id = r["product"]["id"].as_str().unwrap().to_owned();
    let first_updated_at = r["product"]["updatedAt"].clone();
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(1, Some("MUG-1".into())), (2, Some("MUG-2".into()))]
    );

    // An update that changes nothing leaves updatedAt alone; one that changes something moves it.
    let same = app
        .data(
            UPDATE,
            json!({"id": id, "product": {"name": "Mug", "price": 9.5}}),
        )
        .await;
    assert_eq!(
        result(&same, "updateProduct")["product"]["updatedAt"],
        first_updated_at
    );
    let changed = app
        .data(UPDATE, json!({"id": id, "product": {"name": "Big Mug"}}))
        .await;
    let r = result(&changed, "updateProduct");
    assert_eq!(r["success"], true);
    assert_eq!(r["product"]["name"], "Big Mug");
    assert_eq!(r["product"]["price"], 9.5, "fields not given keep their values");
    assert_ne!(r["product"]["updatedAt"], first_updated_at);
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await,
        [(77, Some("Big Mug".into()))]
    );

    let deleted = app.data(DELETE, json!({"id": id})).await;
    assert_eq!(
        result(&deleted, "deleteProduct"),
        &json!({"success": true, "errors": null})
    );
    assert_eq!(count(&app, "bigcommerce_product").await, 0);
    assert_eq!(
        count(&app, "bigcommerce_product_variant").await,
        0,
        "children go with their parent"
    );

    let again = app.data(DELETE, json!({"id": id})).await;
    assert_eq!(codes(result(&again, "deleteProduct")), ["GGT_RECORD_NOT_FOUND"]);
    let missing = app
        .data(UPDATE, json!({"id": "424242", "product": {"name": "x"}}))
        .await;
    assert_eq!(result(&missing, "updateProduct")["success"], false);
    assert_eq!(codes(result(&missing, "updateProduct")), ["GGT_RECORD_NOT_FOUND"]);
}

#[tokio::test]
async fn validation_errors_write_nothing() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let other = seed::store(&app.db, "xyz").await;
    let create = |product: Value| app.data(CREATE, json!({"product": product}));

    let missing = create(json!({"name": "No id"})).await;
    let r = result(&missing, "createProduct");
    assert_eq!(r["success"], false);
    assert_eq!(r["product"], Value::Null);
    assert_eq!(r["errors"][0]["code"], "GGT_INVALID_RECORD");
    assert_eq!(r["errors"][0]["model"]["apiIdentifier"], "product");
    let mut fields: Vec<(String, String)> = r["errors"][0]["validationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["apiIdentifier"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("bigcommerceId".to_owned(), "is required".to_owned()),
            ("store".to_owned(), "is required".to_owned())
        ]
    );

    let bad_enum = create(json!({"bigcommerceId": 1, "store": {"_link": store}, "type": "edible"})).await;
    let e = &result(&bad_enum, "createProduct")["errors"][0];
    assert_eq!(e["code"], "GGT_INVALID_RECORD");
    assert_eq!(
        e["validationErrors"],
        json!([{"message": "must be one of physical, digital", "apiIdentifier": "type"}])
    );

    let too_long =
        create(json!({"bigcommerceId": 1, "store": {"_link": store}, "name": "x".repeat(300)})).await;
    assert_eq!(
        result(&too_long, "createProduct")["errors"][0]["validationErrors"][0]["apiIdentifier"],
        "name"
    );
    let fractional = create(json!({"bigcommerceId": 1.5, "store": {"_link": store}})).await;
    assert_eq!(
        result(&fractional, "createProduct")["errors"][0]["validationErrors"][0]["message"],
        "must be a whole number"
    );

    let link_missing = create(json!({"bigcommerceId": 1, "store": {"_link": "999"}})).await;
    assert_eq!(
        codes(result(&link_missing, "createProduct")),
        ["GGT_RECORD_NOT_FOUND"]
    );
    assert_eq!(
        count(&app, "bigcommerce_product").await,
        0,
        "nothing was written by the failures"
    );

    // Unique per store: the same id in the same store is refused, in another store allowed.
    let ok = create(json!({"bigcommerceId": 5, "store": {"_link": store}, "name": "first"})).await;
    assert_eq!(result(&ok, "createProduct")["success"], true);
    let dup = create(json!({"bigcommerceId": 5, "store": {"_link": store}, "name": "dup"})).await;
    let e = &result(&dup, "createProduct")["errors"][0];
    assert_eq!(e["code"], "GGT_INVALID_RECORD");
    assert_eq!(
        e["validationErrors"],
        json!([{"message": "must be unique", "apiIdentifier": "bigcommerceId"}])
    );
    let elsewhere = create(json!({"bigcommerceId": 5, "store": {"_link": other}, "name": "elsewhere"})).await;
    assert_eq!(result(&elsewhere, "createProduct")["success"], true);
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await,
        [(5, Some("first".into())), (5, Some("elsewhere".into()))]
    );

    // An update to a taken identity is refused and changes nothing.
    let second = create(json!({"bigcommerceId": 6, "store": {"_link": store}, "name": "second"})).await;
    let id = result(&second, "createProduct")["product"]["id"].clone();
    let clash = app
        .data(
            UPDATE,
            json!({"id": id, "product": {"bigcommerceId": 5, "name": "renamed"}}),
        )
        .await;
    assert_eq!(codes(result(&clash, "updateProduct")), ["GGT_INVALID_RECORD"]);
    let null_required = app
        .data(UPDATE, json!({"id": id, "product": {"bigcommerceId": null}}))
        .await;
    assert_eq!(
        codes(result(&null_required, "updateProduct")),
        ["GGT_INVALID_RECORD"]
    );
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await[2],
        (6, Some("second".into()))
    );

    // Input that is not the action's shape is a GraphQL error.
    let unknown = app.gql(CREATE, json!({"product": {"nope": 1}})).await;
    assert!(unknown["errors"].is_array(), "{unknown}");
}

#[tokio::test]
async fn upsert_creates_then_updates_and_converges_children() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let input = |name: &str, variants: Value| {
        json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": 113, "name": name, "store": {"_link": store},
              "variants": [{"_converge": {"values": variants}}]}})
    };
    let first = app.data(UPSERT, input("Shirt", json!([{"bigcommerceId": 1, "sku": "S"}, {"bigcommerceId": 2, "sku": "M"}, {"bigcommerceId": 3, "sku": "L"}]))).await;
    let r = result(&first, "upsertProduct");
    assert_eq!(r["success"], true, "{r}");
    let id = r["product"]["id"].clone();
    assert_eq!(rows(&app, "bigcommerce_product_variant", "sku").await.len(), 3);

    // With the fragments of the typed client, the result says which happened.
    let typed = "mutation($on: [String!], $product: UpsertBigcommerceProductInput) { bigcommerce { upsertProduct(on: $on, product: $product) {
        __typename success ... on CreateBigcommerceProductResult { product { id name } } ... on UpdateBigcommerceProductResult { product { id name } } } } }";
    let second = app
        .data(
            typed,
            input(
                "Shirt v2",
                json!([{"bigcommerceId": 2, "sku": "M2"}, {"bigcommerceId": 4, "sku": "XL"}]),
            ),
        )
        .await;
    let r = result(&second, "upsertProduct");
    assert_eq!(r["__typename"], "UpdateBigcommerceProductResult");
    assert_eq!(r["product"]["id"], id);
    assert_eq!(r["product"]["name"], "Shirt v2");
    // Matched by identity (2) updated, new (4) created, absent (1, 3) deleted.
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(2, Some("M2".into())), (4, Some("XL".into()))]
    );
    assert_eq!(count(&app, "bigcommerce_product").await, 1);

    let other = app.data(typed, json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": 114, "name": "Hat", "store": {"_link": store}}})).await;
    assert_eq!(
        result(&other, "upsertProduct")["__typename"],
        "CreateBigcommerceProductResult"
    );

    // An upsert that changes nothing keeps updatedAt.
    let before = rows(&app, "bigcommerce_product", "CAST(updated_at AS TEXT)").await;
    app.data(UPSERT, json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": 114, "name": "Hat", "store": {"_link": store}}})).await;
    assert_eq!(
        rows(&app, "bigcommerce_product", "CAST(updated_at AS TEXT)").await,
        before
    );

    // Upsert on `id`.
    let by_id = app
        .data(
            UPSERT,
            json!({"on": ["id"], "product": {"id": id, "name": "By id"}}),
        )
        .await;
    assert_eq!(
        result(&by_id, "upsertProduct")["product"]["name"],
        "By id",
        "{by_id}"
    );
    let bad_on = app
        .data(UPSERT, json!({"on": ["name"], "product": {"name": "x"}}))
        .await;
    assert_eq!(
        codes(result(&bad_on, "upsertProduct")),
        ["GGT_INVALID_ACTION_INPUT"]
    );
}

#[tokio::test]
async fn nested_failures_roll_back_the_whole_action() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    // The second child is invalid: neither the product nor the first child remains.
    let bad = app
        .data(
            CREATE,
            json!({"product": {"bigcommerceId": 1, "store": {"_link": store},
                   "variants": [{"create": {"bigcommerceId": 10, "sku": "OK"}}, {"create": {"sku": "no id"}}]}}),
        )
        .await;
    assert_eq!(codes(result(&bad, "createProduct")), ["GGT_INVALID_RECORD"]);
    assert_eq!(count(&app, "bigcommerce_product").await, 0);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 0);

    // _converge naming a child of another parent fails, and the parent's own change is undone.
    let a = app.data(CREATE, json!({"product": {"bigcommerceId": 1, "name": "A", "store": {"_link": store}, "variants": [{"create": {"bigcommerceId": 10}}]}})).await;
    let b = app.data(CREATE, json!({"product": {"bigcommerceId": 2, "name": "B", "store": {"_link": store}, "variants": [{"create": {"bigcommerceId": 20}}]}})).await;
    let a_id = result(&a, "createProduct")["product"]["id"].clone();
    let b_variant = result(&b, "createProduct")["product"]["variants"]["edges"][0]["node"]["id"].clone();
    let steal = app
        .data(UPDATE, json!({"id": a_id, "product": {"name": "A changed", "variants": [{"_converge": {"values": [{"id": b_variant, "sku": "stolen"}]}}]}}))
        .await;
    assert_eq!(codes(result(&steal, "updateProduct")), ["GGT_RECORD_NOT_FOUND"]);
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await,
        [(1, Some("A".into())), (2, Some("B".into()))]
    );
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(10, None), (20, None)]
    );
    // Nested update/delete of another parent's child are refused the same way.
    let update_other = app
        .data(
            UPDATE,
            json!({"id": a_id, "product": {"variants": [{"update": {"id": b_variant, "sku": "x"}}]}}),
        )
        .await;
    assert_eq!(
        codes(result(&update_other, "updateProduct")),
        ["GGT_RECORD_NOT_FOUND"]
    );
    let delete_other = app
        .data(
            UPDATE,
            json!({"id": a_id, "product": {"variants": [{"delete": {"id": b_variant}}]}}),
        )
        .await;
    assert_eq!(
        codes(result(&delete_other, "updateProduct")),
        ["GGT_RECORD_NOT_FOUND"]
    );
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 2);
}

#[tokio::test]
async fn nested_belongs_to_and_has_many_forms() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let variant = "mutation($v: CreateBigcommerceProductVariantInput) { bigcommerce { createProductVariant(productVariant: $v) {
        success errors { code message } productVariant { id sku product { id name } } } } }";
    // belongsTo create: the parent is made in the same action.
    let made = app.data(variant, json!({"v": {"bigcommerceId": 1, "sku": "V1", "store": {"_link": store}, "product": {"create": {"bigcommerceId": 50, "name": "Made", "store": {"_link": store}}}}})).await;
    let r = &made["bigcommerce"]["createProductVariant"];
    assert_eq!(r["productVariant"]["product"]["name"], "Made", "{r}");
    let product = r["productVariant"]["product"]["id"].clone();
    let variant_id = r["productVariant"]["id"].clone();
    // belongsTo update, then _link: null.
    let update = "mutation($id: GadgetID!, $v: UpdateBigcommerceProductVariantInput) { bigcommerce { updateProductVariant(id: $id, productVariant: $v) {
        success errors { code message } productVariant { sku product { name } } } } }";
    let r = app
        .data(
            update,
            json!({"id": variant_id, "v": {"product": {"update": {"id": product, "name": "Renamed"}}}}),
        )
        .await;
    assert_eq!(
        r["bigcommerce"]["updateProductVariant"]["productVariant"]["product"]["name"],
        "Renamed"
    );
    let r = app
        .data(
            update,
            json!({"id": variant_id, "v": {"product": {"_link": null}}}),
        )
        .await;
    assert_eq!(
        r["bigcommerce"]["updateProductVariant"]["productVariant"]["product"],
        Value::Null
    );
    let r = app
        .data(
            update,
            json!({"id": variant_id, "v": {"product": {"_link": product}}}),
        )
        .await;
    assert_eq!(
        r["bigcommerce"]["updateProductVariant"]["productVariant"]["product"]["name"],
        "Renamed"
    );
    // hasMany create, update and delete in one update of the parent.
    let r = app
        .data(
            UPDATE,
            json!({"id": product, "product": {"variants": [
                {"create": {"bigcommerceId": 2, "sku": "V2"}},
                {"update": {"id": variant_id, "sku": "V1b"}},
            ]}}),
        )
        .await;
    assert_eq!(result(&r, "updateProduct")["success"], true, "{r}");
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(1, Some("V1b".into())), (2, Some("V2".into()))]
    );
    let r = app
        .data(
            UPDATE,
            json!({"id": product, "product": {"variants": [{"delete": {"id": variant_id}}]}}),
        )
        .await;
    assert_eq!(result(&r, "updateProduct")["success"], true);
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(2, Some("V2".into()))]
    );
    // belongsTo delete removes the parent (and with it its children).
    let last = app
        .data(
            CREATE,
            json!({"product": {"bigcommerceId": 60, "store": {"_link": store}}}),
        )
        .await;
    let last_id = result(&last, "createProduct")["product"]["id"].clone();
    let r = app
        .data(
            variant,
            json!({"v": {"bigcommerceId": 3, "store": {"_link": store}, "product": {"_link": last_id}}}),
        )
        .await;
    let v3 = r["bigcommerce"]["createProductVariant"]["productVariant"]["id"].clone();
    let r = app
        .data(
            update,
            json!({"id": v3, "v": {"product": {"delete": {"id": last_id}}}}),
        )
        .await;
    assert_eq!(r["bigcommerce"]["updateProductVariant"]["success"], true, "{r}");
    assert_eq!(count(&app, "bigcommerce_product").await, 1);
}

#[tokio::test]
async fn bulk_actions_keep_order_and_fail_per_element() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let product = |id: i64, name: &str| json!({"bigcommerceId": id, "name": name, "store": {"_link": store}});
    let created = app
        .data(BULK_CREATE, json!({"inputs": [{"product": product(1, "one")}, {"product": {"name": "no id"}}, {"product": product(3, "three")}]}))
        .await;
    let r = result(&created, "bulkCreateProducts");
    assert_eq!(r["success"], false);
    assert_eq!(codes(r), ["GGT_INVALID_RECORD"]);
    assert_eq!(r["products"][0]["name"], "one");
    assert_eq!(r["products"][1], Value::Null);
    assert_eq!(r["products"][2]["name"], "three");
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await,
        [(1, Some("one".into())), (3, Some("three".into()))]
    );

    // A duplicate inside the batch fails alone; the others are written.
    let dup = app
        .data(
            BULK_CREATE,
            json!({"inputs": [{"product": product(4, "four")}, {"product": product(1, "dup")}]}),
        )
        .await;
    let r = result(&dup, "bulkCreateProducts");
    assert_eq!(r["products"][0]["name"], "four");
    assert_eq!(r["products"][1], Value::Null);
    assert_eq!(r["errors"][0]["validationErrors"][0]["message"], "must be unique");

    let ok = app
        .data(BULK_CREATE, json!({"inputs": [{"product": product(5, "five")}]}))
        .await;
    assert_eq!(result(&ok, "bulkCreateProducts")["success"], true);
    assert_eq!(result(&ok, "bulkCreateProducts")["errors"], Value::Null);

    let on = json!(["bigcommerceId", "store"]);
    let upserted = app
        .data(BULK_UPSERT, json!({"inputs": [{"on": on, "product": product(1, "one v2")}, {"on": on, "product": product(6, "six")}, {"on": on, "product": product(1, "one v3")}]}))
        .await;
    let r = result(&upserted, "bulkUpsertProducts");
    assert_eq!(r["success"], true, "{r}");
    // A key repeated in one batch is applied in order; both elements show the final record.
    assert_eq!(r["products"][0]["name"], "one v3");
    assert_eq!(r["products"][1]["name"], "six");
    assert_eq!(r["products"][2]["name"], "one v3");
    assert_eq!(r["products"][0]["id"], r["products"][2]["id"]);
    assert_eq!(count(&app, "bigcommerce_product").await, 5);

    let ids: Vec<Value> = r["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    let updated = app
        .data(BULK_UPDATE, json!({"inputs": [{"id": ids[1], "product": {"name": "six v2"}}, {"id": "99999", "product": {"name": "ghost"}}, {"id": ids[0], "product": {"price": 2.5}}]}))
        .await;
    let r = result(&updated, "bulkUpdateProducts");
    assert_eq!(r["success"], false);
    assert_eq!(codes(r), ["GGT_RECORD_NOT_FOUND"]);
    assert_eq!(r["products"][0]["name"], "six v2");
    assert_eq!(r["products"][1], Value::Null);
    assert_eq!(r["products"][2]["price"], 2.5);
    assert_eq!(r["products"][2]["name"], "one v3");

    // A failed element reads `null` whatever its selection: its stand-in record's null
    // store id answered an "internal: invalid value for scalar" error per element (found
    // by the property test).
    let response = app
        .gql(
            "mutation($inputs: [BulkCreateBigcommerceProductsInput!]!) { bigcommerce { \
             bulkCreateProducts(inputs: $inputs) { success products { id storeId store { id } dateModified } } } }",
            json!({"inputs": [{"product": {"name": "no id"}}, {"product": product(7, "seven")}]}),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let r = result(&response["data"], "bulkCreateProducts");
    assert_eq!(r["products"][0], Value::Null, "{r}");
    assert_eq!(r["products"][1]["storeId"], store.to_string(), "{r}");

    let deleted = app.data(BULK_DELETE, json!({"ids": [ids[1], "99999"]})).await;
    let r = result(&deleted, "bulkDeleteProducts");
    assert_eq!(r["success"], false);
    assert_eq!(codes(r), ["GGT_RECORD_NOT_FOUND"]);
    assert_eq!(count(&app, "bigcommerce_product").await, 5);
}

#[tokio::test]
async fn bulk_upsert_writes_many_rows_per_statement() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let inputs: Vec<Value> = (0..200)
        .map(|i| json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": i, "name": format!("P{i}"), "price": i, "store": {"_link": store}}}))
        .collect();
    let start = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let r = app.data(BULK_UPSERT, json!({"inputs": inputs})).await;
    let statements = app.count_since(start);
    assert_eq!(result(&r, "bulkUpsertProducts")["success"], true);
    assert_eq!(count(&app, "bigcommerce_product").await, 200);
    // The link check, the upsert, BEGIN/COMMIT, and the relation loads of the answer.
    assert!(statements <= 12, "{statements} statements for 200 rows");
}

/// Products with nested variant creates, as a catalog import sends them.
fn with_variants(store: &str, from: i64, n: i64) -> Vec<Value> {
    (from..from + n)
        .map(|i| {
            let variants: Vec<Value> = (1..=3)
                .map(|v| json!({"create": {"bigcommerceId": i * 10 + v, "sku": format!("S{i}-{v}"), "store": {"_link": store}}}))
                .collect();
            json!({"product": {"bigcommerceId": i, "name": format!("P{i}"), "store": {"_link": store}, "variants": variants}})
        })
        .collect()
}

#[tokio::test]
async fn bulk_creates_with_children_write_many_rows_per_statement() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await.to_string();
    let start = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let r = app
        .data(BULK_CREATE, json!({"inputs": with_variants(&store, 1, 200)}))
        .await;
    let statements = app.count_since(start);
    assert_eq!(result(&r, "bulkCreateProducts")["success"], true, "{r}");
    assert_eq!(count(&app, "bigcommerce_product").await, 200);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 600);
    // Every variant belongs to its own product and store.
    let misplaced = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) FROM bigcommerce_product_variant v JOIN bigcommerce_product p ON p.id = v.product_id \
             WHERE v.bigcommerce_id / 10 <> p.bigcommerce_id OR v.store_id <> p.store_id"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(misplaced, 0);
    // Link checks, BEGIN, one statement per table, COMMIT, and the answer's reads: not
    // one transaction per product.
    assert!(statements <= 16, "{statements} statements for 800 rows");
}

#[tokio::test]
async fn a_bulk_create_with_children_fails_per_element() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await.to_string();
    let other = seed::store(&app.db, "xyz").await.to_string();
    let mut inputs = with_variants(&store, 1, 4);
    // A variant that repeats a sibling's identity, one without its required
    // bigcommerceId, and (below, as a store's session) one linking another store.
    inputs[1]["product"]["variants"][2]["create"]["bigcommerceId"] = json!(21);
    inputs[2]["product"]["variants"][0]["create"]
        .as_object_mut()
        .unwrap()
        .remove("bigcommerceId");
    let r = app.data(BULK_CREATE, json!({"inputs": inputs})).await;
    let r = result(&r, "bulkCreateProducts");
    assert_eq!(r["success"], false, "{r}");
    assert!(
        r["products"][0]["id"].is_string() && r["products"][3]["id"].is_string(),
        "{r}"
    );
    assert!(r["products"][1].is_null() && r["products"][2].is_null(), "{r}");
    assert_eq!(codes(r), ["GGT_INVALID_RECORD", "GGT_INVALID_RECORD"], "{r}");
    // The failed elements left nothing behind, not even their products.
    assert_eq!(
        rows(&app, "bigcommerce_product", "name")
            .await
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        [1, 4]
    );
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 6);

    let session = crate::support::payload::header(&crate::support::payload::jwt("abc", 3));
    let mut inputs = with_variants(&store, 10, 2);
    inputs[0]["product"]["variants"][1]["create"]["store"] = json!({"_link": other});
    let (_, r) = app
        .gql_as(Some(&session), BULK_CREATE, json!({"inputs": inputs}))
        .await;
    let r = result(&r["data"], "bulkCreateProducts");
    assert_eq!(codes(r), ["GGT_PERMISSION_DENIED"], "{r}");
    assert!(
        r["products"][0].is_null() && r["products"][1]["id"].is_string(),
        "{r}"
    );
    assert_eq!(count(&app, "bigcommerce_product").await, 3);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 9);
}

#[tokio::test]
async fn bulk_upserts_with_children_write_many_rows_per_statement() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await.to_string();
    let on = json!(["bigcommerceId", "store"]);
    let upserts = |inputs: Vec<Value>| -> Vec<Value> {
        inputs
            .into_iter()
            .map(|i| json!({"on": on, "product": i["product"]}))
            .collect()
    };
    // 100 products exist (ids 1..=100) with 3 variants each.
    let r = app
        .data(
            BULK_UPSERT,
            json!({"inputs": upserts(with_variants(&store, 1, 100))}),
        )
        .await;
    assert_eq!(result(&r, "bulkUpsertProducts")["success"], true, "{r}");
    // Then 200 more: the first 100 match and get three new variants each (their
    // identities moved by 1,000,000), the other 100 are new.
    let mut inputs = upserts(with_variants(&store, 51, 200));
    for input in &mut inputs {
        input["product"]["name"] = json!(format!("{} v2", input["product"]["name"].as_str().unwrap()));
        for v in input["product"]["variants"].as_array_mut().unwrap() {
            let id = v["create"]["bigcommerceId"].as_i64().unwrap();
            v["create"]["bigcommerceId"] = json!(id + 1_000_000);
        }
    }
    let start = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let r = app.data(BULK_UPSERT, json!({"inputs": inputs})).await;
    let statements = app.count_since(start);
    let r = result(&r, "bulkUpsertProducts");
    assert_eq!(r["success"], true, "{r}");
    let answered = r["products"].as_array().unwrap();
    assert_eq!(answered.len(), 200);
    for (n, p) in answered.iter().enumerate() {
        assert_eq!(
            p["bigcommerceId"],
            json!(51 + n as i64),
            "answers keep the input order"
        );
        assert_eq!(p["name"], json!(format!("P{} v2", 51 + n)));
        // An existing product keeps its old variants and gets the new ones.
        let variants = p["variants"]["edges"].as_array().unwrap().len();
        assert_eq!(variants, if n < 50 { 6 } else { 3 }, "{p}");
    }
    assert_eq!(count(&app, "bigcommerce_product").await, 250);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 300 + 600);
    // Link checks, BEGIN, one upsert, one insert of the children, COMMIT, and the
    // answer's reads: not one transaction per product.
    assert!(statements <= 16, "{statements} statements for 800 rows");
}

#[tokio::test]
async fn a_bulk_upsert_with_children_fails_per_element_and_keeps_to_its_store() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await.to_string();
    let other = seed::store(&app.db, "xyz").await.to_string();
    let on = json!(["bigcommerceId", "store"]);
    let upsert = |p: &Value| json!({"on": on, "product": p["product"]});
    // Store xyz has product 7.
    let theirs: Vec<Value> = with_variants(&other, 7, 1).iter().map(upsert).collect();
    let r = app.data(BULK_UPSERT, json!({"inputs": theirs})).await;
    assert_eq!(result(&r, "bulkUpsertProducts")["success"], true, "{r}");

    // One element repeats a sibling variant's identity: it alone fails, and leaves nothing.
    let mut inputs: Vec<Value> = with_variants(&store, 1, 4).iter().map(upsert).collect();
    inputs[1]["product"]["variants"][2]["create"]["bigcommerceId"] = json!(21);
    let r = app.data(BULK_UPSERT, json!({"inputs": inputs})).await;
    let r = result(&r, "bulkUpsertProducts");
    assert_eq!(r["success"], false, "{r}");
    assert_eq!(codes(r), ["GGT_INVALID_RECORD"], "{r}");
    assert!(
        r["products"][1].is_null() && r["products"][3]["id"].is_string(),
        "{r}"
    );
    assert_eq!(count(&app, "bigcommerce_product").await, 1 + 3);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 3 + 9);

    // Store abc's merchant upserts product 7 with children: it matches only abc's rows,
    // so it creates abc's own product 7 and leaves xyz's alone.
    let session = crate::support::payload::header(&crate::support::payload::jwt("abc", 3));
    let mine: Vec<Value> = with_variants(&store, 7, 2).iter().map(upsert).collect();
    let (_, r) = app
        .gql_as(Some(&session), BULK_UPSERT, json!({"inputs": mine}))
        .await;
    let r = result(&r["data"], "bulkUpsertProducts");
    assert_eq!(r["success"], true, "{r}");
    let names = rows(&app, "bigcommerce_product", "name").await;
    let sevens: Vec<_> = names.iter().filter(|(id, _)| *id == 7).collect();
    assert_eq!(sevens.len(), 2, "{names:?}");
    // Naming another store in the link is refused, and writes nothing.
    let (_, r) = app
        .gql_as(
            Some(&session),
            BULK_UPSERT,
            json!({"inputs": with_variants(&other, 30, 1).iter().map(upsert).collect::<Vec<_>>()}),
        )
        .await;
    let r = result(&r["data"], "bulkUpsertProducts");
    assert_eq!(codes(r), ["GGT_PERMISSION_DENIED"], "{r}");
    assert_eq!(count(&app, "bigcommerce_product").await, 1 + 3 + 2);
    assert_eq!(count(&app, "bigcommerce_product_variant").await, 3 + 9 + 6);
}

#[tokio::test]
async fn fifty_concurrent_identical_upserts_make_one_row() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    let doc = "mutation($on: [String!], $product: UpsertBigcommerceProductInput) { bigcommerce { upsertProduct(on: $on, product: $product) { __typename success errors { code message } } } }";
    let vars = json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": 42, "name": "Race", "store": {"_link": store}}});
    let requests = (0..50).map(|_| app.gql(doc, vars.clone()));
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut updated = 0;
    for response in &responses {
        let r = &response["data"]["bigcommerce"]["upsertProduct"];
        assert_eq!(r["success"], true, "{response}");
        match r["__typename"].as_str() {
            Some("CreateBigcommerceProductResult") => created += 1,
            Some("UpdateBigcommerceProductResult") => updated += 1,
            other => panic!("unexpected result type {other:?}"),
        }
    }
    assert_eq!((created, updated), (1, 49));
    assert_eq!(count(&app, "bigcommerce_product").await, 1);
}

/// A global action written against the Rust API: it renames every product of a store.
struct RenameProducts;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenameParams {
    store_id: String,
    prefix: String,
}

impl GlobalAction for RenameProducts {
    type Params = RenameParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        "renameProducts"
    }

    fn params(&self) -> Vec<Param> {
        vec![
            Param::required("storeId", ParamType::Id),
            Param::required("prefix", ParamType::String),
        ]
    }

    async fn run(&self, ctx: &bcgraph::Context, params: RenameParams) -> Result<Value, ActionError> {
        let api = ctx.api();
        let page = api
            .reader()
            .page(
                api.registry.find("bigcommerce/product").unwrap().id,
                &bcgraph::query::PageArgs::new(
                    Some(250),
                    None,
                    None,
                    None,
                    bcgraph::query::parse_sort(
                        api.registry.find("bigcommerce/product").unwrap(),
                        &Value::Null,
                    )?,
                    bcgraph::query::filter::parse(
                        &api.registry,
                        api.registry.find("bigcommerce/product").unwrap(),
                        &json!({"storeId": {"equals": params.store_id}}),
                    )?,
                )?,
                &bcgraph::query::Columns::All,
                false,
            )
            .await?;
        let name = api
            .registry
            .find("bigcommerce/product")
            .unwrap()
            .field("name")
            .unwrap();
        let updates = page
            .records
            .iter()
            .map(|r| {
                let old = r.values[name].to_json(bcgraph::model::FieldType::String);
                (
                    r.id(),
                    json!({"name": format!("{}{}", params.prefix, old.as_str().unwrap_or(""))}),
                )
            })
            .collect();
        let results = api.model("bigcommerce/product").bulk_update(updates).await;
        Ok(json!({"renamed": results.iter().filter(|r| r.is_ok()).count()}))
    }
}

#[tokio::test]
async fn global_actions_run_from_graphql_and_from_rust() {
    let app = TestApp::start_with(GlobalActions::default().register(RenameProducts)).await;
    let store = seed::store(&app.db, "abc").await;
    seed::product(&app.db, store, 1, "Mug", |_| {}).await;
    seed::product(&app.db, store, 2, "Cup", |_| {}).await;
    let doc = "mutation($storeId: GadgetID!, $prefix: String!) { bigcommerce { renameProducts(storeId: $storeId, prefix: $prefix) { success errors { code } result } } }";
    let r = app
        .data(doc, json!({"storeId": store.to_string(), "prefix": "New "}))
        .await;
    assert_eq!(
        r["bigcommerce"]["renameProducts"],
        json!({"success": true, "errors": null, "result": {"renamed": 2}})
    );
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await,
        [(1, Some("New Mug".into())), (2, Some("New Cup".into()))]
    );
    let direct = app
        .api
        .run_global(
            "bigcommerce/renameProducts",
            json!({"storeId": store.to_string(), "prefix": "Old "}),
        )
        .await
        .unwrap();
    assert_eq!(direct, json!({"renamed": 2}));
    assert_eq!(
        rows(&app, "bigcommerce_product", "name").await[0],
        (1, Some("Old New Mug".into()))
    );
    let bad = app
        .api
        .run_global("bigcommerce/renameProducts", json!({"prefix": 1}))
        .await;
    assert!(matches!(bad, Err(ActionError::InvalidInput(_))));
}

#[tokio::test]
async fn the_rust_api_upserts_and_converges_like_the_seed() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    // What a webhook handler does with a product fetched from BigCommerce.
    let fetched = json!({"id": 113, "name": "Tee", "price": "12.50", "variants": [{"id": 7, "sku": "T-S"}, {"id": 8, "sku": "T-M"}]});
    let input = json!({
        "bigcommerceId": fetched["id"], "name": fetched["name"], "raw": fetched, "store": {"_link": store},
        "variants": [{"_converge": {"values": fetched["variants"].as_array().unwrap().iter()
            .map(|v| json!({"bigcommerceId": v["id"], "sku": v["sku"], "raw": v})).collect::<Vec<_>>()}}],
    });
    let products = app.api.model("bigcommerce/product");
    let (record, how) = products
        .upsert(input.clone(), &["bigcommerceId", "store"])
        .await
        .unwrap();
    assert_eq!(how, Upserted::Created);
    // The same values again: the record is found and left as it was.
    let (again, how) = products.upsert(input, &["bigcommerceId", "store"]).await.unwrap();
    assert_eq!((again.id(), how), (record.id(), Upserted::Unchanged));
    assert_eq!(
        rows(&app, "bigcommerce_product_variant", "sku").await,
        [(7, Some("T-S".into())), (8, Some("T-M".into()))]
    );
    assert!(matches!(
        products.update(9999, json!({"name": "x"})).await,
        Err(ActionError::NotFound(_))
    ));
}
