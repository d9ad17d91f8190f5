//! The read API as Gadget's client uses it: findOne, findMany, findFirst, findBy,
//! relationships, paging both ways, hydrations and the session.

use crate::support::client_documents::{FIND_BY, FIND_MANY, FIND_ONE};
use crate::support::{TestApp, error_codes, seed};
use entity::bigcommerce::product;
use sea_orm::Set;
use serde_json::{Value, json};

/// Two stores: "abc" with five products (two with variants), "xyz" with one.
pub struct Catalog {
    pub store: i64,
    pub other_store: i64,
    /// Product ids in insertion order: Blue Shirt, Red Shirt, Green Hat, Black Socks, Wool Scarf.
    pub products: Vec<i64>,
    pub variants: Vec<i64>,
}

pub async fn catalog(app: &TestApp) -> Catalog {
    let db = &app.db;
    let store = seed::store(db, "abc").await;
    let other_store = seed::store(db, "xyz").await;
    let rows: [(&str, Option<f64>, &str); 5] = [
        ("Blue Shirt", Some(20.0), "SH-B"),
        ("Red Shirt", Some(15.0), "SH-R"),
        ("Green Hat", Some(8.5), "HAT-G"),
        ("Black Socks", None, "SO-K"),
        ("Wool Scarf", Some(30.0), "SC-W"),
    ];
    let mut products = Vec::new();
    for (i, (name, price, sku)) in rows.into_iter().enumerate() {
        let i = i as i64;
        let id = seed::product(db, store, 100 + i, name, |p: &mut product::ActiveModel| {
            p.price = Set(price);
            p.sku = Set(Some(sku.to_owned()));
            p.is_visible = Set(Some(i % 2 == 0));
            p.r#type = Set(Some(if i == 2 { "digital" } else { "physical" }.to_owned()));
            p.inventory_level = Set(Some(i * 10));
            p.categories = Set(Some(json!([i, 99])));
            p.custom_fields = Set(if i == 3 {
                None
            } else {
                Some(json!({"color": name.split(' ').next(), "size": i}))
            });
            p.date_modified = Set(Some(seed::at(1000 - i * 100)));
        })
        .await;
        products.push(id);
    }
    seed::product(db, other_store, 100, "Other Store Shirt", |p| {
        p.price = Set(Some(25.0))
    })
    .await;
    let mut variants = Vec::new();
    for (n, sku) in ["SH-B-S", "SH-B-M", "SH-B-L"].iter().enumerate() {
        variants.push(seed::variant(db, store, products[0], 1000 + n as i64, sku).await);
    }
    variants.push(seed::variant(db, store, products[1], 2000, "SH-R-S").await);
    Catalog {
        store,
        other_store,
        products,
        variants,
    }
}

fn names(products: &Value) -> Vec<String> {
    products["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

#[tokio::test]
async fn find_one_returns_the_record_with_relations_and_hydrations() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    let data = app.data(FIND_ONE, json!({"id": c.products[0].to_string()})).await;
    assert_eq!(
        data,
        json!({
            "bigcommerce": {"product": {
                "id": c.products[0].to_string(),
                "name": "Blue Shirt",
                "price": 20.0,
                "createdAt": "2026-01-01T00:01:40.000Z",
                "store": {"id": c.store.to_string(), "storeHash": "abc"},
                "variants": {"edges": [
                    {"node": {"id": c.variants[0].to_string(), "sku": "SH-B-S"}},
                    {"node": {"id": c.variants[1].to_string(), "sku": "SH-B-M"}},
                    {"node": {"id": c.variants[2].to_string(), "sku": "SH-B-L"}},
                ]},
                "__typename": "BigcommerceProduct",
            }},
            "gadgetMeta": {"hydrations": {"createdAt": "DateTime", "updatedAt": "DateTime", "dateCreated": "DateTime", "dateModified": "DateTime"}},
        })
    );
    let missing = app.data(FIND_ONE, json!({"id": "999999"})).await;
    assert_eq!(missing["bigcommerce"]["product"], Value::Null);
}

#[tokio::test]
async fn find_many_filters_sorts_searches_and_pages_both_ways() {
    let app = TestApp::start().await;
    let _c = catalog(&app).await;
    // The client sends `sort` and `filter` as bare objects for list arguments.
    let vars = json!({"first": 2, "sort": {"price": "Descending"}, "filter": {"price": {"greaterThan": 10}}});
    let page1 = app.data(FIND_MANY, vars.clone()).await["bigcommerce"]["products"].clone();
    assert_eq!(names(&page1), ["Wool Scarf", "Other Store Shirt"]);
    assert_eq!(page1["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["pageInfo"]["hasPreviousPage"], false);
    let after = page1["pageInfo"]["endCursor"].clone();
    let page2 = app
        .data(
            FIND_MANY,
            json!({"first": 2, "after": after, "sort": vars["sort"], "filter": vars["filter"]}),
        )
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&page2), ["Blue Shirt", "Red Shirt"]);
    assert_eq!(page2["pageInfo"]["hasNextPage"], false);
    assert_eq!(page2["pageInfo"]["hasPreviousPage"], true);
    // Backwards from the start of page 2 gives page 1 again.
    let before = page2["pageInfo"]["startCursor"].clone();
    let back = app
        .data(
            FIND_MANY,
            json!({"last": 2, "before": before, "sort": vars["sort"], "filter": vars["filter"]}),
        )
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&back), ["Wool Scarf", "Other Store Shirt"]);
    assert_eq!(back["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(back["pageInfo"]["hasNextPage"], true);
    // `last` alone is the end of the list.
    let tail = app.data(FIND_MANY, json!({"last": 2})).await["bigcommerce"]["products"].clone();
    assert_eq!(names(&tail), ["Wool Scarf", "Other Store Shirt"]);
    assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
    // search is case-insensitive over name and sku, combined with the filter.
    let search = app
        .data(
            FIND_MANY,
            json!({"search": "SHIRT", "filter": {"price": {"lessThan": 21}}}),
        )
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&search), ["Blue Shirt", "Red Shirt"]);
    let by_sku = app.data(FIND_MANY, json!({"search": "hat-g"})).await["bigcommerce"]["products"].clone();
    assert_eq!(names(&by_sku), ["Green Hat"]);
}

#[tokio::test]
async fn find_first_and_find_by_use_the_client_variables() {
    let app = TestApp::start().await;
    let _c = catalog(&app).await;
    let first = app.data(FIND_MANY, json!({"first": 1})).await["bigcommerce"]["products"].clone();
    assert_eq!(names(&first), ["Blue Shirt"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let by = app
        .data(
            FIND_BY,
            json!({"first": 2, "filter": {"sku": {"equals": "SH-R"}}}),
        )
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&by), ["Red Shirt"]);
    assert_eq!(by["pageInfo"]["hasNextPage"], false);
    let none = app
        .data(
            FIND_BY,
            json!({"first": 2, "filter": {"sku": {"equals": "nope"}}}),
        )
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&none), Vec::<String>::new());
    assert_eq!(none["pageInfo"]["startCursor"], Value::Null);
}

#[tokio::test]
async fn paging_walks_every_record_once_in_both_directions() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    for extra in 0..20 {
        seed::product(&app.db, c.store, 500 + extra, &format!("Item {extra:02}"), |p| {
            p.price = Set(Some((extra % 4) as f64));
        })
        .await;
    }
    let query = "query($first: Int, $after: String, $last: Int, $before: String) { bigcommerce { products(first: $first, after: $after, last: $last, before: $before, sort: [{price: Ascending}, {name: Descending}]) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name price } } } } }";
    let mut forward = Vec::new();
    let mut after = Value::Null;
    loop {
        let page =
            app.data(query, json!({"first": 4, "after": after})).await["bigcommerce"]["products"].clone();
        forward.extend(names(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let all = app.data(query, json!({"first": 250})).await["bigcommerce"]["products"].clone();
    assert_eq!(forward, names(&all));
    assert_eq!(forward.len(), 26);
    // Nulls sort first ascending.
    assert_eq!(forward[0], "Black Socks");
    let mut backward = Vec::new();
    let mut before = Value::Null;
    loop {
        let page =
            app.data(query, json!({"last": 5, "before": before})).await["bigcommerce"]["products"].clone();
        let mut chunk = names(&page);
        chunk.append(&mut backward);
        backward = chunk;
        if page["pageInfo"]["hasPreviousPage"] != true {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(backward, forward);
}

#[tokio::test]
async fn paging_is_stable_under_concurrent_inserts() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    let query = "query($after: String) { bigcommerce { products(first: 2, after: $after) { pageInfo { endCursor hasNextPage } edges { node { name } } } } }";
    let page1 = app.data(query, json!({})).await["bigcommerce"]["products"].clone();
    // A row inserted before the cursor does not shift the next page.
    seed::product(&app.db, c.store, 1, "Early Bird", |_| {}).await;
    let page2 = app
        .data(query, json!({"after": page1["pageInfo"]["endCursor"]}))
        .await["bigcommerce"]["products"]
        .clone();
    assert_eq!(names(&page1), ["Blue Shirt", "Red Shirt"]);
    assert_eq!(names(&page2), ["Green Hat", "Black Socks"]);
}

#[tokio::test]
async fn relationship_fields_load_in_a_constant_number_of_statements() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    for n in 0..60 {
        let p = seed::product(&app.db, c.store, 10_000 + n, &format!("Bulk {n}"), |_| {}).await;
        for v in 0..3 {
            seed::variant(&app.db, c.store, p, 100_000 + n * 10 + v, &format!("B{n}-{v}")).await;
        }
    }
    let query = "{ bigcommerce { products(first: 50) { edges { node { id store { storeHash } variants(first: 10) { edges { node { sku product { name } } } } } } } } }";
    let start = app.statements.load(std::sync::atomic::Ordering::Relaxed);
    let data = app.data(query, json!({})).await;
    let statements = app.count_since(start);
    let edges = data["bigcommerce"]["products"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    assert!(edges.iter().all(|e| e["node"]["store"]["storeHash"].is_string()));
    let with_variants = edges
        .iter()
        .filter(|e| e["node"]["variants"]["edges"].as_array().unwrap().len() == 3)
        .count();
    assert_eq!(
        with_variants, 45,
        "Blue Shirt and the 44 bulk products on the page have three variants"
    );
    let variant_parent = &edges[0]["node"]["variants"]["edges"][0]["node"]["product"]["name"];
    assert_eq!(variant_parent, "Blue Shirt");
    // The products page, their stores, their variants, the variants' products: one
    // statement each (a batch can split in two when the machine stalls mid-request).
    assert!(
        (4..=6).contains(&statements),
        "{statements} statements for 50 products with relations"
    );
}

#[tokio::test]
async fn nested_has_many_fields_take_arguments_per_relation() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    let query = r#"{ bigcommerce { stores(sort: {storeHash: Ascending}) { edges { node { storeHash
        products(first: 2, filter: {price: {isSet: true}}, sort: {price: Descending}) { pageInfo { hasNextPage } edges { node { name variants(last: 1) { edges { node { sku } } } } } } } } } } }"#;
    let data = app.data(query, json!({})).await;
    let stores = data["bigcommerce"]["stores"]["edges"].as_array().unwrap();
    assert_eq!(stores[0]["node"]["storeHash"], "abc");
    assert_eq!(
        names(&stores[0]["node"]["products"]),
        ["Wool Scarf", "Blue Shirt"]
    );
    assert_eq!(stores[0]["node"]["products"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        stores[0]["node"]["products"]["edges"][1]["node"]["variants"]["edges"],
        json!([{"node": {"sku": "SH-B-L"}}])
    );
    assert_eq!(names(&stores[1]["node"]["products"]), ["Other Store Shirt"]);
    assert_eq!(stores[1]["node"]["products"]["pageInfo"]["hasNextPage"], false);
    let _ = c.other_store;
}

#[tokio::test]
async fn all_field_and_typename_everywhere() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    let query = "query($id: GadgetID!) { __typename bigcommerce { __typename store(id: $id) { __typename _all
        products(first: 1) { __typename pageInfo { __typename hasNextPage } edges { __typename node { __typename ... on BigcommerceProduct { name } } } } } } }";
    let data = app.data(query, json!({"id": c.store})).await;
    let store = &data["bigcommerce"]["store"];
    assert_eq!(data["__typename"], "Query");
    assert_eq!(data["bigcommerce"]["__typename"], "BigcommerceQueries");
    assert_eq!(store["__typename"], "BigcommerceStore");
    assert_eq!(store["products"]["__typename"], "BigcommerceProductConnection");
    assert_eq!(store["products"]["pageInfo"]["__typename"], "PageInfo");
    assert_eq!(
        store["products"]["edges"][0]["__typename"],
        "BigcommerceProductEdge"
    );
    assert_eq!(store["products"]["edges"][0]["node"]["name"], "Blue Shirt");
    let all = &store["_all"];
    assert_eq!(all["storeHash"], "abc");
    assert_eq!(all["id"], c.store.to_string());
    assert_eq!(all["scopes"], json!(["store_v2_products"]));
    assert!(
        all.get("accessToken").is_none(),
        "the access token never leaves the database: {all}"
    );
    // And it is not a field either.
    let response = app
        .gql(
            "{ bigcommerce { stores { edges { node { accessToken } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&response).len(), 1, "{response}");
}

#[tokio::test]
async fn gadget_meta_answers_on_both_roots() {
    let app = TestApp::start().await;
    let data = app
        .data(
            "{ gadgetMeta { name hydrations(modelName: \"nope.nothing\") } }",
            json!({}),
        )
        .await;
    assert_eq!(data["gadgetMeta"]["hydrations"], Value::Null);
    let mutation = app
        .data(
            "mutation { gadgetMeta { hydrations(modelName: \"bigcommerce.order\") } }",
            json!({}),
        )
        .await;
    assert_eq!(mutation["gadgetMeta"]["hydrations"]["dateModified"], "DateTime");
}

#[tokio::test]
async fn id_arguments_accept_strings_and_numbers() {
    let app = TestApp::start().await;
    let c = catalog(&app).await;
    for id in [json!(c.products[2].to_string()), json!(c.products[2])] {
        let data = app
            .data(
                "query($id: GadgetID!) { bigcommerce { product(id: $id) { name storeId } } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            data["bigcommerce"]["product"],
            json!({"name": "Green Hat", "storeId": c.store.to_string()})
        );
    }
}

#[tokio::test]
async fn cursors_work_when_the_sort_field_is_not_selected() {
    let app = TestApp::start().await;
    let _c = catalog(&app).await;
    let query = "query($after: String) { bigcommerce { products(first: 2, after: $after, sort: {inventoryLevel: Descending}, filter: {inventoryLevel: {isSet: true}}) {
        pageInfo { endCursor hasNextPage } edges { node { name } } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.data(query, json!({"after": after})).await["bigcommerce"]["products"].clone();
        seen.extend(names(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        seen,
        [
            "Wool Scarf",
            "Black Socks",
            "Green Hat",
            "Red Shirt",
            "Blue Shirt"
        ]
    );
}

/// A null id or date-time (a variant without its product, an installed store's
/// `uninstalledAt`) reads as `null`. Their scalars refuse null as a value, so these
/// fields answered `null` with an "internal: invalid value for scalar" error each (found
/// by the property test).
#[tokio::test]
async fn null_ids_and_date_times_read_as_null_without_errors() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "abc").await;
    app.api
        .model("bigcommerce/productVariant")
        .create(json!({"bigcommerceId": 5, "sku": "loose", "store": {"_link": store}}))
        .await
        .expect("a variant without a product");
    let response = app
        .gql(
            "{ bigcommerce { stores { edges { node { id uninstalledAt } } } \
             productVariants { edges { node { sku productId product { id } } } } } }",
            json!({}),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let data = &response["data"]["bigcommerce"];
    assert_eq!(data["stores"]["edges"][0]["node"]["uninstalledAt"], Value::Null);
    let variant = &data["productVariants"]["edges"][0]["node"];
    assert_eq!(variant["sku"], "loose");
    assert_eq!(variant["productId"], Value::Null);
    assert_eq!(variant["product"], Value::Null);
}
