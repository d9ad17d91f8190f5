//! The fast read path (`graphql::fast`) answers exactly as the general executor does.
//! Two gateways share one database, one with `BCGRAPH_FAST_READS=0`; a corpus of
//! documents — generated from the registry and the schema's filter types, plus paging
//! both ways, aliases, fragments, `_all`, hydrations, the client's own documents and
//! errors — goes to both as each kind of caller, and the answers must be the same JSON.
//! Every answer without errors must have come from the fast path (the corpus stays within
//! what it covers) and every answer with errors from the general one. Each error-free
//! document also goes over the fast gateway's websocket (which answers plain queries and
//! live queries' runs by the fast path too), as the same caller, and must get the same
//! data there.

use crate::read_api::catalog;
use crate::support::client_documents::{FIND_BY, FIND_MANY, FIND_ONE};
use crate::support::ws::{Socket, next_json, subscribe};
use crate::support::{TestApp, payload, seed};
use bcgraph::model::{FieldType, Model, Registry, RelationKind};
use serde_json::{Value, json};

struct Pair {
    fast: TestApp,
    general: TestApp,
    /// Documents answered, and how many of them the fast path answered.
    asked: usize,
    fast_answers: usize,
    /// A websocket to the fast gateway per caller, by the caller's `authorization`.
    sockets: Vec<(Option<String>, Socket)>,
    socket_asks: usize,
}

/// The callers every document is asked as: `system-admin` by API key, a merchant of
/// store `abc`, a merchant of store `xyz`, and anonymous. Each with its `authorization`
/// header, and how a websocket authenticates as it.
fn callers(admin_key: &str) -> Vec<(Option<String>, Value)> {
    let (mine, theirs) = (payload::jwt("abc", 3), payload::jwt("xyz", 4));
    vec![
        (
            Some(format!("Bearer {admin_key}")),
            json!({"type": "api-key", "key": admin_key}),
        ),
        (
            Some(payload::header(&mine)),
            json!({"type": "custom", "bigcommerceSignedPayload": mine}),
        ),
        (
            Some(payload::header(&theirs)),
            json!({"type": "custom", "bigcommerceSignedPayload": theirs}),
        ),
        (None, json!({"type": "anonymous"})),
    ]
}

impl Pair {
    /// The two gateways, and a websocket to the fast one as each of `callers` (see
    /// [`callers`]).
    async fn new(fast: TestApp, general: TestApp, callers: &[(Option<String>, Value)]) -> Pair {
        let mut sockets = Vec::new();
        for (auth, socket_auth) in callers {
            sockets.push((
                auth.clone(),
                crate::support::ws::connect(&fast, socket_auth.clone()).await.0,
            ));
        }
        Pair {
            fast,
            general,
            asked: 0,
            fast_answers: 0,
            sockets,
            socket_asks: 0,
        }
    }

    /// Ask both gateways; the bodies must be identical. Returns the parsed body.
    async fn ask(&mut self, auth: Option<&str>, query: &str, variables: Value) -> Value {
        let body = json!({"query": query, "variables": variables}).to_string();
        let (fast_path, fast_body) = post(&self.fast, auth, &body).await;
        let (general_path, general_body) = post(&self.general, auth, &body).await;
        assert!(
            !general_path,
            "the gateway with BCGRAPH_FAST_READS=0 used the fast path"
        );
        // Compared as JSON values: the general executor puts an object's keys in the
        // order its fields finished (async-graphql joins sibling fields unordered), the
        // fast path in the order the document selects them, as GraphQL says.
        let parsed: Value = serde_json::from_str(&fast_body).expect("JSON");
        let general: Value = serde_json::from_str(&general_body).expect("JSON");
        assert_eq!(
            without_budget_count(&parsed),
            without_budget_count(&general),
            "the fast and general paths answered differently as {auth:?}\ndocument: {query}\nvariables: {variables}"
        );
        let errors = parsed.get("errors").is_some_and(|e| !e.is_null());
        assert_eq!(
            fast_path,
            !errors,
            "an answer {} errors came from the {} path\ndocument: {query}\nvariables: {variables}\nanswer: {parsed}",
            if errors { "with" } else { "without" },
            if fast_path { "fast" } else { "general" }
        );
        self.asked += 1;
        self.fast_answers += usize::from(fast_path);
        let socket = self
            .sockets
            .iter_mut()
            .find(|(a, _)| a.as_deref() == auth)
            .map(|(_, socket)| socket);
        if let (Some(socket), false) = (socket, errors) {
            self.socket_asks += 1;
            let id = self.socket_asks.to_string();
            subscribe(socket, &id, query, variables.clone()).await;
            let answer = loop {
                let message = next_json(socket, std::time::Duration::from_secs(15))
                    .await
                    .expect("an answer over the websocket");
                if message["id"] == id.as_str() && message["type"] == "next" {
                    break message["payload"].clone();
                }
            };
            assert_eq!(
                answer, general,
                "the websocket answered differently as {auth:?}\ndocument: {query}\nvariables: {variables}"
            );
        }
        parsed
    }
}

/// The answer with the number of records a budget refusal says it stopped after left
/// out: the general path's resolvers run concurrently, so where it stopped depends on
/// their order, while both paths refuse the same documents.
fn without_budget_count(answer: &Value) -> Value {
    let mut answer = answer.clone();
    if let Some(message) = answer["errors"][0]["message"].as_str()
        && let Some(at) = message.find("stopped after ")
        && let Some(end) = message[at..].find(" records")
    {
        let message = format!("{}stopped after N{}", &message[..at], &message[at + end..]);
        answer["errors"][0]["message"] = Value::String(message);
    }
    answer
}

/// POST a document; whether the fast path answered it, and the body as sent.
async fn post(app: &TestApp, auth: Option<&str>, body: &str) -> (bool, String) {
    let mut request = app
        .http
        .post(format!("{}/api/graphql", app.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let fast = response
        .headers()
        .get("x-bcgraph-read-path")
        .is_some_and(|v| v == "fast");
    (fast, response.text().await.expect("body"))
}

/// Every visible field of `model`, `_all`, `__typename`, each belongsTo's `id` and each
/// hasMany's first two children with cursors and `pageInfo`.
fn selection(registry: &Registry, model: &Model, depth: usize) -> String {
    let mut s = String::from("__typename ");
    for f in model.fields.iter().filter(|f| !f.hidden) {
        s.push_str(&f.api_id);
        s.push(' ');
    }
    s.push_str("_all ");
    for rel in &model.relations {
        let target = registry.get(rel.target);
        let inner = if depth > 0 {
            selection(registry, target, depth - 1)
        } else {
            "id __typename".to_owned()
        };
        match rel.kind {
            RelationKind::BelongsTo { .. } => s.push_str(&format!("{} {{ {inner} }} ", rel.api_id)),
            RelationKind::HasMany { .. } => s.push_str(&format!(
                "{}(first: 2) {{ __typename edges {{ __typename cursor node {{ {inner} }} }} \
                 pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }} }} ",
                rel.api_id
            )),
        }
    }
    s
}

fn list(model: &Model, args: &str, selection: &str) -> String {
    format!(
        "{{ {ns} {{ __typename {plural}{args} {{ edges {{ cursor node {{ {selection} }} }} \
         pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }} }}",
        ns = model.namespace,
        plural = model.plural_api_id
    )
}

/// A value for `operator` on a field of type `ty`, from `sample` when it has one.
fn operand(ty: FieldType, operator: &str, sample: &Value) -> Value {
    let value = if sample.is_null() {
        match ty {
            FieldType::Integer | FieldType::Float => json!(10),
            FieldType::Boolean => json!(true),
            FieldType::DateTime => json!("2020-01-01T00:00:00.000Z"),
            FieldType::Id => json!("1"),
            FieldType::Json => json!({"color": "Blue"}),
            FieldType::String | FieldType::Enum => json!("S"),
        }
    } else {
        sample.clone()
    };
    match operator {
        "in" | "notIn" => json!([value]),
        "isSet" => json!(true),
        "startsWith" => json!(
            value
                .as_str()
                .map(|s| s.chars().take(2).collect::<String>())
                .unwrap_or_default()
        ),
        _ => value,
    }
}

#[tokio::test]
async fn the_fast_path_answers_as_the_general_one() {
    let fast = TestApp::start().await;
    let general = fast.beside_configured(&[("BCGRAPH_FAST_READS", "0")]).await;
    let c = catalog(&fast).await;
    // A row that points across stores: a variant of store `abc` whose product is store
    // `xyz`'s. Nothing writes one through the API; read as `abc`'s merchant, its
    // `product` must be null on both paths (the fast path reads a `product` in the same
    // statement as the variants that point at it, behind the same tenant condition).
    let theirs = seed::product(&fast.db, c.other_store, 900, "Their Hat", |_| {}).await;
    seed::variant(&fast.db, c.store, theirs, 9000, "ACROSS").await;
    let registry = Registry::bigcommerce();
    let admin_key = fast.admin_key.clone();
    let asked_as = callers(&admin_key);
    let callers: Vec<Option<&str>> = asked_as.iter().map(|(auth, _)| auth.as_deref()).collect();
    let (admin, merchant) = (callers[0].unwrap_or_default(), callers[1].unwrap_or_default());
    let mut pair = Pair::new(fast, general, &asked_as).await;

    // Every model, as every caller: a page forwards, backwards, after its cursor, and
    // the first record by id, with every field and relation two levels deep.
    for model in &registry.models {
        let full = selection(&registry, model, 1);
        for auth in &callers {
            let page = pair
                .ask(*auth, &list(model, "(first: 3)", &full), json!({}))
                .await;
            let edges = page["data"][&model.namespace][&model.plural_api_id]["edges"].clone();
            pair.ask(*auth, &list(model, "(last: 2)", &full), json!({})).await;
            if let Some(cursor) = edges[0]["cursor"].as_str() {
                let args = format!("(first: 2, after: \"{cursor}\")");
                pair.ask(*auth, &list(model, &args, &full), json!({})).await;
                let args = format!("(last: 1, before: \"{cursor}\", sort: {{id: Descending}})");
                pair.ask(*auth, &list(model, &args, "id"), json!({})).await;
            }
            if let Some(id) = edges[0]["node"]["id"].as_str() {
                let one = format!(
                    "query One($id: GadgetID!) {{ {} {{ {}(id: $id) {{ {full} }} }} }}",
                    model.namespace, model.api_id
                );
                pair.ask(*auth, &one, json!({"id": id})).await;
                pair.ask(*auth, &one, json!({"id": 999_999_999})).await;
            }
        }
    }

    // Every filter operator the schema has for every filterable product field, with a
    // value from the first product, as a variable and as a literal list.
    let product = registry
        .models
        .iter()
        .find(|m| m.type_name() == "BigcommerceProduct")
        .expect("product");
    let sample = pair
        .ask(
            Some(admin),
            &list(product, "(first: 1, sort: {id: Ascending})", "_all"),
            json!({}),
        )
        .await["data"]["bigcommerce"]["products"]["edges"][0]["node"]["_all"]
        .clone();
    // Each field's filter type, as the schema spells it.
    let fields = pair
        .fast
        .data(
            "{ __type(name: \"BigcommerceProductFilter\") { inputFields { name type { name } } } }",
            json!({}),
        )
        .await;
    let filter_of = |api_id: &str| {
        fields["__type"]["inputFields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == api_id))
            .and_then(|f| f["type"]["name"].as_str())
            .map(str::to_owned)
            .expect("a filter type")
    };
    let mut operators_tried = 0;
    for field in product.fields.iter().filter(|f| !f.hidden) {
        let filter_type = format!(
            "{{ __type(name: \"{}\") {{ inputFields {{ name }} }} }}",
            filter_of(&field.api_id)
        );
        let ops = pair.fast.data(&filter_type, json!({})).await;
        for op in ops["__type"]["inputFields"].as_array().expect("operators") {
            let op = op["name"].as_str().expect("name");
            let value = operand(field.ty, op, &sample[&field.api_id]);
            let filter = json!([{ (field.api_id.clone()): { (op): value } }]);
            let doc = "query F($filter: [BigcommerceProductFilter!]) { bigcommerce { products(filter: $filter, first: 5) \
                       { edges { node { id name price } } pageInfo { hasNextPage } } } }";
            for auth in [Some(admin), Some(merchant)] {
                pair.ask(auth, doc, json!({"filter": filter})).await;
            }
            operators_tried += 1;
        }
    }
    assert!(
        operators_tried > 40,
        "only {operators_tried} filter operators were tried"
    );

    // Logical filters, relationship filters, search, sorts on several keys, paging a
    // whole list both ways by cursor.
    let filters = [
        json!([{"OR": [{"price": {"greaterThan": 16}}, {"name": {"startsWith": "Green"}}]}]),
        json!([{"NOT": [{"price": {"isSet": true}}]}]),
        json!([{"store": {"storeHash": {"equals": "abc"}}}]),
        json!([{"variants": {"some": [{"sku": {"startsWith": "SH-B"}}]}}]),
        json!({"name": {"in": ["Blue Shirt", "Wool Scarf"]}}),
    ];
    for filter in filters {
        for auth in &callers {
            pair.ask(*auth, FIND_MANY, json!({"filter": filter, "first": 3}))
                .await;
        }
    }
    for search in ["shirt", "blue shirt", "SH-", "  ", "nothing matches this"] {
        pair.ask(Some(admin), FIND_MANY, json!({"search": search})).await;
    }
    for sort in [
        json!([{"price": "Descending"}, {"id": "Ascending"}]),
        json!({"name": "Ascending"}),
        json!([{"dateModified": "Descending"}]),
    ] {
        let mut vars = json!({"sort": sort, "first": 2});
        loop {
            let page = pair.ask(Some(merchant), FIND_MANY, vars.clone()).await;
            let info = &page["data"]["bigcommerce"]["products"]["pageInfo"];
            if info["hasNextPage"] != json!(true) {
                break;
            }
            vars["after"] = info["endCursor"].clone();
        }
        let mut vars = json!({"sort": sort, "last": 2});
        loop {
            let page = pair.ask(Some(merchant), FIND_MANY, vars.clone()).await;
            let info = &page["data"]["bigcommerce"]["products"]["pageInfo"];
            if info["hasPreviousPage"] != json!(true) {
                break;
            }
            vars["before"] = info["startCursor"].clone();
        }
    }

    // The client's own documents, with `gadgetMeta { hydrations }`.
    pair.ask(Some(merchant), FIND_ONE, json!({"id": c.products[0].to_string()}))
        .await;
    pair.ask(Some(merchant), FIND_ONE, json!({"id": c.products[0]}))
        .await;
    pair.ask(
        Some(merchant),
        FIND_BY,
        json!({"filter": {"sku": {"equals": "SH-R"}}, "first": 2}),
    )
    .await;

    // Aliases, fragments (named and inline), a field selected twice, `__typename` at
    // every level, the same list twice under two aliases, a finder beside a list, and
    // metadata fields.
    let shapes = [
        "fragment P on BigcommerceProduct { id name sku } \
         query { __typename bigcommerce { __typename cheap: products(first: 2, sort: {price: Ascending}) { edges { node { ...P price } } } \
         dear: products(first: 2, sort: {price: Descending}) { edges { node { ...P ... on BigcommerceProduct { price name } } } } } }",
        "query { gadgetMeta { __typename name slug environmentName environmentSlug hydrations(modelName: \"bigcommerce.product\") \
         none: hydrations(modelName: \"bigcommerce.nothing\") } bigcommerce { products(first: 1) { edges { node { id createdAt updatedAt } } } } }",
        "query { bigcommerce { products(first: 2) { edges { node { id id name n: name store { id storeHash products(first: 1) { edges { node { id variants(first: 1) { edges { node { id sku product { id name } } } } } } } } } } } } }",
        "query Named { bigcommerce { products(first: 2) { pageInfo { startCursor } edges { cursor cursor node { variants(last: 2) { edges { cursor node { id } } pageInfo { hasPreviousPage hasNextPage } } } } } } }",
        "query { bigcommerce { productVariants(first: 3, filter: {product: {name: {equals: \"Blue Shirt\"}}}) { edges { node { id sku product { id variants(first: 1, sort: {sku: Descending}) { edges { node { sku } } } } } } } } }",
    ];
    let across = pair
        .ask(
            Some(merchant),
            "query { bigcommerce { productVariants(first: 1, filter: {sku: {equals: \"ACROSS\"}}) { edges { node { id sku product { id name } } } } } }",
            json!({}),
        )
        .await;
    let edges = &across["data"]["bigcommerce"]["productVariants"]["edges"];
    assert_eq!(edges.as_array().map(Vec::len), Some(1), "{across}");
    assert_eq!(edges[0]["node"]["sku"], "ACROSS");
    assert!(
        edges[0]["node"]["product"].is_null(),
        "another store's product stays out of reach through a belongsTo: {across}"
    );
    // The finder reads its belongsTo in its own statement too: asked by id, as every
    // caller. Only the system sees the other store's product; `abc`'s merchant sees the
    // variant without it; `xyz`'s merchant and the anonymous caller see no variant.
    let one = "query One($id: GadgetID!) { bigcommerce { productVariant(id: $id) { id sku product { id name } } } }";
    let vars = json!({"id": edges[0]["node"]["id"]});
    let found: Vec<Value> = {
        let mut found = Vec::new();
        for auth in &callers {
            found.push(
                pair.ask(*auth, one, vars.clone()).await["data"]["bigcommerce"]["productVariant"].clone(),
            );
        }
        found
    };
    assert_eq!(
        found[0]["product"]["name"], "Their Hat",
        "the system: {}",
        found[0]
    );
    assert_eq!(found[1]["sku"], "ACROSS", "abc's merchant: {}", found[1]);
    assert!(found[1]["product"].is_null(), "abc's merchant: {}", found[1]);
    assert!(found[2].is_null() && found[3].is_null(), "{found:?}");
    for doc in shapes {
        for auth in &callers {
            pair.ask(*auth, doc, json!({})).await;
        }
    }

    // Errors: each answered by the general path alike.
    let refused = [
        (
            "query { bigcommerce { products(first: -1) { edges { node { id } } } } }",
            json!({}),
        ),
        (
            "query { bigcommerce { products(first: 2, after: \"not a cursor\") { edges { node { id } } } } }",
            json!({}),
        ),
        (
            "query { bigcommerce { products(first: 1, last: 1) { edges { node { id } } } } }",
            json!({}),
        ),
        (
            "query { bigcommerce { products(filter: {nope: {equals: 1}}) { edges { node { id } } } } }",
            json!({}),
        ),
        (
            "query { bigcommerce { products { edges { node { nope } } } } }",
            json!({}),
        ),
        (
            "query Q($first: Int) { bigcommerce { products(first: $first) { edges { node { id } } } } }",
            json!({"first": "two"}),
        ),
        (
            "query Q($id: GadgetID!) { bigcommerce { product(id: $id) { id } } }",
            json!({}),
        ),
        ("query { bigcommerce { product(id: \"-4\") { id } } }", json!({})),
        (
            "query { bigcommerce { products(search: \"x\", searchFields: {nope: true}) { edges { node { id } } } } }",
            json!({}),
        ),
        (
            "{ bigcommerce { products(first: 1) { edges { node { id } } } } } { bigcommerce { products { edges { node { id } } } } }",
            json!({}),
        ),
    ];
    for (doc, vars) in refused {
        for auth in &callers {
            pair.ask(*auth, doc, vars.clone()).await;
        }
    }

    assert!(
        pair.fast_answers * 2 > pair.asked,
        "only {} of {} answers came from the fast path",
        pair.fast_answers,
        pair.asked
    );
    assert_eq!(
        pair.socket_asks, pair.fast_answers,
        "every answer without errors went over the websocket too"
    );
    println!(
        "{} documents, {} answered by the fast path, {} over the websocket too",
        pair.asked, pair.fast_answers, pair.socket_asks
    );
}

/// The record budget refuses a document on both paths alike, and a plain document
/// within it is still fast.
#[tokio::test]
async fn the_record_budget_applies_to_both_paths() {
    let base = TestApp::start().await;
    catalog(&base).await;
    let fast = base
        .beside_configured(&[("BCGRAPH_MAX_RECORDS_PER_REQUEST", "6")])
        .await;
    let general = base
        .beside_configured(&[
            ("BCGRAPH_MAX_RECORDS_PER_REQUEST", "6"),
            ("BCGRAPH_FAST_READS", "0"),
        ])
        .await;
    let admin = format!("Bearer {}", base.admin_key);
    let mut pair = Pair::new(fast, general, &callers(&base.admin_key)).await;
    let over = pair
        .ask(
            Some(&admin),
            "query { bigcommerce { products(first: 5) { edges { node { id variants(first: 3) { edges { node { id } } } } } } } }",
            json!({}),
        )
        .await;
    assert!(
        over["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("BCGRAPH_MAX_RECORDS_PER_REQUEST")),
        "{over}"
    );
    // A record read once and written many times is charged per appearance: every
    // product's store is one store, with its own products below it.
    let shared = pair
        .ask(
            Some(&admin),
            "query { bigcommerce { products(first: 2) { edges { node { store { products(first: 2) { edges { node { id } } } } } } } } }",
            json!({}),
        )
        .await;
    assert!(
        shared["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("BCGRAPH_MAX_RECORDS_PER_REQUEST")),
        "{shared}"
    );
    let within = pair
        .ask(
            Some(&admin),
            "query { bigcommerce { products(first: 3) { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        within["data"]["bigcommerce"]["products"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(pair.fast_answers, 1);
}
