//! What the generated client sends beyond the core reads and writes: the internal API
//! (as api-client-core's `InternalModelManager` spells it), `_atomics`, `_converge` by
//! identity, `createStore` without a state, multi-word `search` and `searchFields`,
//! the session's times, and a retry policy without `retryCount`.

use crate::support::{TestApp, error_codes, payload, seed};
use serde_json::{Value, json};

const INTERNAL_FIND: &str = "query InternalFindProduct($id: GadgetID!, $select: [String!]) { internal { bigcommerce { product(id: $id, select: $select) } } gadgetMeta { hydrations(modelName: \"bigcommerce.product\") } }";
const INTERNAL_LIST: &str = "query InternalFindManyProduct($search: String, $sort: [BigcommerceProductSort!], $filter: [BigcommerceProductFilter!], $first: Int, $after: String) { internal { bigcommerce { listProduct(search: $search, sort: $sort, filter: $filter, first: $first, after: $after) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node } } } } }";
const INTERNAL_CREATE: &str = "mutation InternalCreateProduct($product: InternalBigcommerceProductInput) { internal { bigcommerce { createProduct(product: $product) { success errors { message code } product } } } }";
const INTERNAL_UPDATE: &str = "mutation InternalUpdateProduct($id: GadgetID!, $product: InternalBigcommerceProductInput) { internal { bigcommerce { updateProduct(id: $id, product: $product) { success errors { message code } product } } } }";
const INTERNAL_UPSERT: &str = "mutation InternalUpsertProduct($on: [String!], $product: InternalBigcommerceProductInput) { internal { bigcommerce { upsertProduct(on: $on, product: $product) { success errors { message code } product } } } }";
const INTERNAL_DELETE: &str = "mutation InternalDeleteProduct($id: GadgetID!) { internal { bigcommerce { deleteProduct(id: $id) { success errors { message code } } } } }";
const INTERNAL_DELETE_MANY: &str = "mutation InternalDeleteManyProduct($filter: [BigcommerceProductFilter!]) { internal { bigcommerce { deleteManyProduct(filter: $filter) { success errors { message code } } } } }";
const INTERNAL_BULK_CREATE: &str = "mutation InternalBulkCreateProducts($products: [InternalBigcommerceProductInput]!) { internal { bigcommerce { bulkCreateProducts(products: $products) { success errors { message code } products } } } }";

async fn count(app: &TestApp, condition: &str) -> i64 {
    crate::support::count_rows(&app.db, "bigcommerce_product", condition).await
}

#[tokio::test]
async fn the_internal_api_reads_and_writes_records_as_json_for_the_system_only() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "internal1").await;
    let s = store.to_string();

    let created = app
        .data(
            INTERNAL_CREATE,
            json!({"product": {"name": "widget", "bigcommerceId": 1, "storeId": s, "price": 5.5}}),
        )
        .await;
    let result = &created["internal"]["bigcommerce"]["createProduct"];
    assert_eq!(result["success"], true, "{created}");
    let record = &result["product"];
    assert_eq!(record["name"], "widget");
    assert_eq!(record["storeId"], s);
    let id = record["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        count(&app, &format!("store_id = {store} AND name = 'widget'")).await,
        1
    );

    let found = app
        .data(INTERNAL_FIND, json!({"id": id, "select": ["id", "name"]}))
        .await;
    assert_eq!(
        found["internal"]["bigcommerce"]["product"],
        json!({"id": id, "name": "widget"})
    );
    let all = app.data(INTERNAL_FIND, json!({"id": id})).await;
    assert_eq!(all["internal"]["bigcommerce"]["product"]["price"], 5.5);
    let missing = app.data(INTERNAL_FIND, json!({"id": "999999"})).await;
    assert!(missing["internal"]["bigcommerce"]["product"].is_null());

    let updated = app
        .data(
            INTERNAL_UPDATE,
            json!({"id": id, "product": {"name": "gadget", "_atomics": {"inventoryLevel": {"increment": 5}}}}),
        )
        .await;
    assert_eq!(
        updated["internal"]["bigcommerce"]["updateProduct"]["product"]["name"], "gadget",
        "{updated}"
    );
    assert_eq!(
        updated["internal"]["bigcommerce"]["updateProduct"]["product"]["inventoryLevel"],
        5
    );

    let upserted = app
        .data(
            INTERNAL_UPSERT,
            json!({"on": ["bigcommerceId", "store"], "product": {"bigcommerceId": 1, "store": {"_link": s}, "name": "upserted"}}),
        )
        .await;
    let upsert = &upserted["internal"]["bigcommerce"]["upsertProduct"];
    assert_eq!(upsert["product"]["id"], id, "{upserted}");
    assert_eq!(upsert["product"]["name"], "upserted");

    let bulk = app
        .data(
            INTERNAL_BULK_CREATE,
            json!({"products": [
                {"name": "b1", "bigcommerceId": 2, "storeId": s},
                {"name": "b2", "bigcommerceId": 3, "storeId": s},
                {"name": "dup", "bigcommerceId": 3, "storeId": s},
            ]}),
        )
        .await;
    let bulk = &bulk["internal"]["bigcommerce"]["bulkCreateProducts"];
    assert_eq!(bulk["success"], false, "the duplicate fails: {bulk}");
    assert_eq!(bulk["products"][0]["name"], "b1");
    assert_eq!(bulk["products"][1]["name"], "b2");
    assert!(bulk["products"][2].is_null());
    assert_eq!(bulk["errors"][0]["code"], "GGT_INVALID_RECORD");
    assert_eq!(count(&app, &format!("store_id = {store}")).await, 3);

    let page = app
        .data(
            INTERNAL_LIST,
            json!({"first": 2, "sort": {"bigcommerceId": "Ascending"}, "filter": {"storeId": {"equals": s}}}),
        )
        .await;
    let list = &page["internal"]["bigcommerce"]["listProduct"];
    assert_eq!(list["edges"][0]["node"]["name"], "upserted", "{page}");
    assert_eq!(list["edges"][1]["node"]["name"], "b1");
    assert_eq!(list["pageInfo"]["hasNextPage"], true);
    let next = app
        .data(
            INTERNAL_LIST,
            json!({"first": 2, "sort": {"bigcommerceId": "Ascending"}, "after": list["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(
        next["internal"]["bigcommerce"]["listProduct"]["edges"][0]["node"]["name"], "b2",
        "{next}"
    );

    // A store's merchant and an anonymous caller are refused every internal field,
    // and nothing changes.
    let merchant = payload::header(&payload::jwt("internal1", 3));
    for auth in [Some(merchant.as_str()), None] {
        for (document, variables) in [
            (INTERNAL_FIND, json!({"id": id})),
            (INTERNAL_LIST, json!({})),
            (INTERNAL_DELETE, json!({"id": id})),
            (
                INTERNAL_DELETE_MANY,
                json!({"filter": {"storeId": {"equals": s}}}),
            ),
            (
                INTERNAL_CREATE,
                json!({"product": {"name": "x", "bigcommerceId": 9, "storeId": s}}),
            ),
        ] {
            let (_, refused) = app.gql_as(auth, document, variables).await;
            assert!(
                error_codes(&refused).contains(&"GGT_PERMISSION_DENIED".to_owned()),
                "{auth:?} {document}: {refused}"
            );
        }
    }
    assert_eq!(count(&app, &format!("store_id = {store}")).await, 3);

    let deleted = app.data(INTERNAL_DELETE, json!({"id": id})).await;
    assert_eq!(
        deleted["internal"]["bigcommerce"]["deleteProduct"]["success"], true,
        "{deleted}"
    );
    assert_eq!(count(&app, &format!("id = {id}")).await, 0);
    let other = seed::store(&app.db, "internal2").await;
    seed::product(&app.db, other, 1, "kept", |_| {}).await;
    let many = app
        .data(
            INTERNAL_DELETE_MANY,
            json!({"filter": {"storeId": {"equals": s}}}),
        )
        .await;
    assert_eq!(
        many["internal"]["bigcommerce"]["deleteManyProduct"]["success"], true,
        "{many}"
    );
    assert_eq!(count(&app, &format!("store_id = {store}")).await, 0);
    assert_eq!(
        count(&app, &format!("store_id = {other}")).await,
        1,
        "only what the filter matched"
    );
}

#[tokio::test]
async fn atomics_add_in_the_database_without_losing_concurrent_updates() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "atomic1").await;
    let id = seed::product(&app.db, store, 1, "counted", |p| {
        p.inventory_level = sea_orm::Set(Some(10));
        p.price = sea_orm::Set(Some(1.5));
    })
    .await;
    const UPDATE: &str = "mutation($id: GadgetID!, $p: UpdateBigcommerceProductInput) { bigcommerce { updateProduct(id: $id, product: $p) { success errors { code message } product { inventoryLevel price } } } }";
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (url, key) = (app.url.clone(), app.admin_key.clone());
            let http = app.http.clone();
            tokio::spawn(async move {
                let atomics = if i % 2 == 0 {
                    json!({"inventoryLevel": {"increment": 3}})
                } else {
                    json!({"inventoryLevel": {"decrement": 1}, "price": {"increment": 0.5}})
                };
                let body =
                    json!({"query": UPDATE, "variables": {"id": id.to_string(), "p": {"_atomics": atomics}}});
                let response: Value = http
                    .post(format!("{url}/api/graphql"))
                    .header("authorization", format!("Bearer {key}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    response["data"]["bigcommerce"]["updateProduct"]["success"], true,
                    "{response}"
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // 10 × +3 and 10 × −1 on 10; 10 × +0.5 on 1.5.
    assert_eq!(
        count(
            &app,
            &format!("id = {id} AND inventory_level = 30 AND price = 6.5")
        )
        .await,
        1
    );

    // Not on a create, not on a non-number field, not a fraction on a whole-number field.
    for (document, variables) in [
        (
            "mutation($p: CreateBigcommerceProductInput) { bigcommerce { createProduct(product: $p) { success errors { code } } } }",
            json!({"p": {"name": "n", "bigcommerceId": 5, "store": {"_link": store.to_string()}, "_atomics": {"inventoryLevel": {"increment": 1}}}}),
        ),
        (
            UPDATE,
            json!({"id": id.to_string(), "p": {"_atomics": {"inventoryLevel": {"increment": 0.5}}}}),
        ),
    ] {
        let response = app.gql(document, variables).await;
        let text = response.to_string();
        assert!(
            text.contains("\"success\":false") || response["errors"].is_array(),
            "{text}"
        );
    }
    let response = app
        .gql(
            UPDATE,
            json!({"id": id.to_string(), "p": {"_atomics": {"name": {"increment": 1}}}}),
        )
        .await;
    assert!(
        response["errors"].is_array(),
        "validation refuses a non-number field: {response}"
    );
    assert_eq!(
        count(
            &app,
            &format!("id = {id} AND inventory_level = 30 AND price = 6.5")
        )
        .await,
        1
    );
    assert_eq!(count(&app, &format!("store_id = {store}")).await, 1);
}

#[tokio::test]
async fn converge_matches_children_by_identity_and_keeps_their_ids() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "converge1").await;
    let product = seed::product(&app.db, store, 1, "p", |_| {}).await;
    let kept = seed::variant(&app.db, store, product, 10, "KEEP").await;
    let dropped = seed::variant(&app.db, store, product, 11, "DROP").await;
    let data = app
        .data(
            "mutation($id: GadgetID!, $p: UpdateBigcommerceProductInput) { bigcommerce { updateProduct(id: $id, product: $p) { success errors { message } product { variants(sort: {bigcommerceId: Ascending}) { edges { node { id bigcommerceId sku } } } } } } }",
            json!({"id": product.to_string(), "p": {"variants": [{"_converge": {"values": [
                {"bigcommerceId": 10, "sku": "KEPT"},
                {"bigcommerceId": 12, "sku": "NEW"},
            ]}}]}}),
        )
        .await;
    let edges = &data["bigcommerce"]["updateProduct"]["product"]["variants"]["edges"];
    assert_eq!(
        edges[0]["node"]["id"],
        kept.to_string(),
        "matched by bigcommerceId, updated in place: {data}"
    );
    assert_eq!(edges[0]["node"]["sku"], "KEPT");
    assert_eq!(edges[1]["node"]["bigcommerceId"], 12.0);
    assert_eq!(edges.as_array().unwrap().len(), 2);
    assert_eq!(
        crate::support::count_rows(&app.db, "bigcommerce_product_variant", &format!("id = {dropped}")).await,
        0
    );
}

#[tokio::test]
async fn search_words_each_match_and_search_fields_narrow_it() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "search1").await;
    seed::product(&app.db, store, 1, "Red Shirt", |p| {
        p.sku = sea_orm::Set(Some("COTTON-1".into()))
    })
    .await;
    seed::product(&app.db, store, 2, "Red Hat", |_| {}).await;
    seed::product(&app.db, store, 3, "Blue cotton shirt", |_| {}).await;
    let names = |data: &Value| -> Vec<String> {
        data["bigcommerce"]["products"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    const Q: &str = "query($s: String, $f: BigcommerceProductSearchFields) { bigcommerce { products(search: $s, searchFields: $f, sort: {bigcommerceId: Ascending}) { edges { node { name } } } } }";
    assert_eq!(
        names(&app.data(Q, json!({"s": "shirt red"})).await),
        ["Red Shirt"]
    );
    // A word may match another field than the others: "cotton" is Red Shirt's SKU.
    assert_eq!(
        names(&app.data(Q, json!({"s": "  cotton   SHIRT "})).await),
        ["Red Shirt", "Blue cotton shirt"]
    );
    assert_eq!(
        names(
            &app.data(Q, json!({"s": "cotton", "f": {"name": true, "sku": false}}))
                .await
        ),
        ["Blue cotton shirt"]
    );
    assert_eq!(
        names(
            &app.data(Q, json!({"s": "cotton", "f": {"sku": {"weight": 2}}}))
                .await
        ),
        ["Red Shirt"]
    );
    let refused = app.gql(Q, json!({"s": "x", "f": {"nope": true}})).await;
    assert!(refused["errors"].is_array(), "{refused}");
}

#[tokio::test]
async fn create_store_defaults_state_and_sessions_have_times() {
    let app = TestApp::start().await;
    let data = app
        .data(
            "mutation { bigcommerce { createStore(store: {storeHash: \"made1\"}) { success errors { message } store { state storeHash } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["bigcommerce"]["createStore"]["store"]["state"], "installed",
        "{data}"
    );
    assert_eq!(
        crate::support::count_rows(
            &app.db,
            "bigcommerce_store",
            "store_hash = 'made1' AND state = 'installed'"
        )
        .await,
        1
    );

    const SESSION: &str = "query { currentSession { id createdAt updatedAt _all roles { key } } }";
    let (_, anonymous) = app.gql_as(None, SESSION, json!({})).await;
    let session = &anonymous["data"]["currentSession"];
    assert!(anonymous["errors"].is_null(), "{anonymous}");
    let created = session["createdAt"].as_str().expect("a createdAt");
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert_eq!(session["_all"]["id"], session["id"]);
    assert_eq!(session["_all"]["createdAt"], session["createdAt"]);
    seed::store(&app.db, "times1").await;
    let merchant = payload::header(&payload::jwt("times1", 4));
    let (_, signed_in) = app.gql_as(Some(&merchant), SESSION, json!({})).await;
    let session = &signed_in["data"]["currentSession"];
    assert!(session["updatedAt"].as_str().is_some(), "{signed_in}");
    assert_eq!(session["_all"]["roles"], json!(["Role-BigCommerce-App"]));
    // An API key has no session: null times, never an error.
    let keyed = app.gql(SESSION, json!({})).await;
    assert!(
        keyed["errors"].is_null() && keyed["data"]["currentSession"]["createdAt"].is_null(),
        "{keyed}"
    );

    // A retry policy without retryCount (the client sends only what it was given).
    let enqueued = app
        .data(
            "mutation { background { bigcommerce { createProduct(product: {name: \"later\", bigcommerceId: 1}, backgroundOptions: {retries: {initialInterval: 500}}) { success errors { message } backgroundAction { id } } } } }",
            json!({}),
        )
        .await;
    let enqueued = &enqueued["background"]["bigcommerce"]["createProduct"];
    assert_eq!(enqueued["success"], true, "{enqueued}");
}

#[tokio::test]
async fn a_browser_session_socket_without_a_token_gets_one_in_its_ack() {
    let app = TestApp::start().await;
    let (_, ack) =
        crate::support::ws::connect(&app, json!({"type": "browser-session", "sessionToken": null})).await;
    let token = ack["payload"]["sessionToken"]
        .as_str()
        .expect("a minted session token")
        .to_owned();
    // The token is a session: HTTP resumes it without minting another.
    let (headers, first) = app
        .gql_as(
            Some(&format!("Session {token}")),
            "query { currentSession { id } }",
            json!({}),
        )
        .await;
    assert!(first["data"]["currentSession"]["id"].is_string(), "{first}");
    assert!(
        headers.get("x-set-authorization").is_none(),
        "the token was accepted as it is"
    );
    // A connection with a good token is acknowledged without a new one.
    let (_, again) =
        crate::support::ws::connect(&app, json!({"type": "browser-session", "sessionToken": token})).await;
    assert!(again["payload"]["sessionToken"].is_null(), "{again}");
}
