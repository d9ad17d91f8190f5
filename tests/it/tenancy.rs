//! The wall between stores. A matrix generated from the model registry, so a new
//! model is covered without new test code: a store-A session attempts every read and
//! write against store B's rows (root, nested, filters, search, every bulk action and
//! every form of nested input); each attempt is refused or sees nothing, and B's rows
//! are unchanged afterwards.

use crate::support::{TestApp, payload, seed};
use bcgraph::model::{FieldType, Model, RelationKind, pascal};
use bcgraph::query::{Columns, Cond, PageArgs, parse_sort};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The field an attempted write sets.
fn probe(model: &Model) -> (String, Value) {
    let field = model
        .fields
        .iter()
        .enumerate()
        .find(|(i, f)| {
            f.ty == FieldType::String && !f.hidden && !f.is_managed() && model.relation_of_field(*i).is_none()
        })
        .map(|(_, f)| f.api_id.clone());
    match field {
        Some(f) => (f, json!("written by another store")),
        None => ("bigcommerceId".to_owned(), json!(424_242)),
    }
}

/// Every row of a store, all columns, as text: what must not change.
async fn snapshot(app: &TestApp, store: i64) -> Vec<String> {
    let registry = &app.api.registry;
    let reader = app.api.reader();
    let mut rows = Vec::new();
    for model in &registry.models {
        let Some(scope) = model.tenant_scope() else {
            continue;
        };
        let cond = Cond::Compare {
            field: scope,
            op: bcgraph::query::filter::Cmp::Ge,
            value: bcgraph::query::Value::Int(store),
        };
        let cond = Cond::All(vec![
            cond,
            Cond::Compare {
                field: scope,
                op: bcgraph::query::filter::Cmp::Le,
                value: bcgraph::query::Value::Int(store),
            },
        ]);
        let args = PageArgs::new(
            Some(250),
            None,
            None,
            None,
            parse_sort(model, &Value::Null).unwrap(),
            cond,
        )
        .unwrap();
        let page = reader.page(model.id, &args, &Columns::All, false).await.unwrap();
        rows.extend(
            page.records
                .iter()
                .map(|r| format!("{}: {:?}", model.api_id, r.values)),
        );
    }
    rows
}

struct Fixture {
    app: TestApp,
    /// (model id, store id) → a record id.
    ids: HashMap<(usize, i64), i64>,
    a: i64,
    b: i64,
}

async fn fixture() -> Fixture {
    let app = TestApp::start().await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    let mut ids = HashMap::new();
    let registry = app.api.registry.clone();
    for model in registry.models.iter().filter(|m| !m.is_tenant) {
        for (store, n) in [(a, 1), (b, 2)] {
            let mut input = json!({});
            if model.field("bigcommerceId").is_some() {
                input["bigcommerceId"] = json!(n * 1000 + model.id as i64);
            }
            for field in model
                .fields
                .iter()
                .filter(|f| f.is_required() && !f.enum_values.is_empty())
            {
                input[&field.api_id] = json!(field.enum_values[0]);
            }
            for (rel_idx, rel) in model.relations.iter().enumerate() {
                if let RelationKind::BelongsTo { .. } = rel.kind {
                    // Link every parent in the same store; parents are registered first.
                    let parent = if Some(rel_idx) == model.tenant {
                        Some(store)
                    } else {
                        ids.get(&(rel.target, store)).copied()
                    };
                    if let Some(parent) = parent {
                        input[&rel.api_id] = json!({"_link": parent});
                    }
                }
            }
            if let Some(search) = model.searchable.first() {
                input[&model.fields[*search].api_id] = json!(format!("shared text {n}"));
            }
            let record = app
                .api
                .model_by_id(model.id)
                .create(input)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", model.api_id));
            ids.insert((model.id, store), record.id());
        }
    }
    Fixture { app, ids, a, b }
}

fn failed(result: &Value) -> bool {
    result["success"] == false && result["errors"].as_array().is_some_and(|e| !e.is_empty())
}

#[tokio::test]
async fn a_session_of_one_store_never_reaches_another() {
    let f = fixture().await;
    let app = &f.app;
    let before = snapshot(app, f.b).await;
    assert_eq!(
        before.len(),
        app.api.registry.models.len(),
        "store B has a row of every model"
    );
    let auth = payload::header(&payload::jwt("storea", 1));
    let registry = app.api.registry.clone();
    let mut failures: Vec<String> = Vec::new();
    let mut attempts = 0;
    macro_rules! expect {
        ($cond:expr, $($what:tt)*) => {{
            attempts += 1;
            if !$cond {
                failures.push(format!($($what)*));
            }
        }};
    }
    for model in &registry.models {
        let (t, api, plural) = (
            model.type_name(),
            model.api_id.clone(),
            model.plural_api_id.clone(),
        );
        let (p, pp) = (pascal(&api), pascal(&plural));
        let tp_plural = model.plural_type_name();
        let own = if model.is_tenant {
            f.a
        } else {
            f.ids[&(model.id, f.a)]
        };
        let theirs = if model.is_tenant {
            f.b
        } else {
            f.ids[&(model.id, f.b)]
        };
        let gql = |query: String, vars: Value| {
            let auth = auth.clone();
            async move { app.gql_as(Some(&auth), &query, vars).await.1 }
        };

        // Reads.
        let one = gql(
            format!("query($id: GadgetID!) {{ bigcommerce {{ {api}(id: $id) {{ id }} }} }}"),
            json!({"id": theirs.to_string()}),
        )
        .await;
        expect!(
            one["data"]["bigcommerce"][&api].is_null() && one["errors"].is_null(),
            "{api}(id: B) = {one}"
        );
        let list_query = format!(
            "query($filter: [{t}Filter!], $search: String) {{ bigcommerce {{ {plural}(first: 250, filter: $filter, search: $search) {{ edges {{ node {{ id _all }} }} }} }} }}"
        );
        let ids_of = |response: &Value| -> Vec<String> {
            response["data"]["bigcommerce"][&plural]["edges"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|e| e["node"]["id"].as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let all = gql(list_query.clone(), json!({})).await;
        expect!(
            ids_of(&all) == [own.to_string()],
            "{plural} lists only A's row: {all}"
        );
        let by_id = gql(
            list_query.clone(),
            json!({"filter": {"id": {"equals": theirs.to_string()}}}),
        )
        .await;
        expect!(
            ids_of(&by_id).is_empty() && by_id["errors"].is_null(),
            "{plural}(filter id = B) = {by_id}"
        );
        let searched = gql(list_query.clone(), json!({"search": "shared text"})).await;
        if !model.searchable.is_empty() && !model.is_tenant {
            expect!(
                ids_of(&searched) == [own.to_string()],
                "{plural}(search) = {searched}"
            );
        }
        if model.tenant.is_some() {
            let via_store = gql(
                list_query.clone(),
                json!({"filter": {"store": {"storeHash": {"equals": "storeb"}}}}),
            )
            .await;
            expect!(
                ids_of(&via_store).is_empty(),
                "{plural}(filter store = B) = {via_store}"
            );
            let nested = gql(format!("{{ bigcommerce {{ stores {{ edges {{ node {{ storeHash {plural} {{ edges {{ node {{ id }} }} }} }} }} }} }} }}"), json!({})).await;
            let stores = nested["data"]["bigcommerce"]["stores"]["edges"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            expect!(
                stores.len() == 1 && stores[0]["node"]["storeHash"] == "storea",
                "stores seen through {plural}: {nested}"
            );
        }
        for (rel_idx, rel) in model.relations.iter().enumerate() {
            if let RelationKind::HasMany { .. } = rel.kind {
                // A relationship filter that names B's child finds nothing either.
                let target = registry.get(rel.target);
                let child = f.ids.get(&(target.id, f.b)).copied().unwrap_or(i64::MAX);
                let some = gql(
                    list_query.clone(),
                    json!({"filter": {rel.api_id.clone(): {"some": {"id": {"equals": child.to_string()}}}}}),
                )
                .await;
                expect!(
                    ids_of(&some).is_empty(),
                    "{plural}(filter {}.some = B's child) = {some}",
                    rel.api_id
                );
                let _ = rel_idx;
            }
        }

        // The model's own actions, on B's record or for store B.
        for action in app.api.globals.of_model(&registry, model.id) {
            let name = format!("{}{p}", action.name());
            let r = if action.on_record() {
                gql(
                    format!("mutation($id: GadgetID!) {{ bigcommerce {{ {name}(id: $id) {{ success errors {{ code }} }} }} }}"),
                    json!({"id": theirs.to_string()}),
                )
                .await
            } else {
                let input = format!("{}{t}Input", pascal(action.name()));
                gql(
                    format!("mutation($input: {input}) {{ bigcommerce {{ {name}({api}: $input) {{ success errors {{ code }} }} }} }}"),
                    json!({"input": {"store": {"_link": f.b.to_string()}}}),
                )
                .await
            };
            expect!(failed(&r["data"]["bigcommerce"][&name]), "{name}(B) = {r}");
        }
        if !model.generic_writes {
            continue;
        }

        // Writes, one by one and in bulk.
        let (probe_field, probe_value) = probe(model);
        let update = format!(
            "mutation($id: GadgetID!, $input: Update{t}Input) {{ bigcommerce {{ update{p}(id: $id, {api}: $input) {{ success errors {{ code }} }} }} }}"
        );
        let r = gql(
            update.clone(),
            json!({"id": theirs.to_string(), "input": {probe_field.clone(): probe_value.clone()}}),
        )
        .await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("update{p}")]),
            "update{p}(B) = {r}"
        );
        let r = gql(format!("mutation($id: GadgetID!) {{ bigcommerce {{ delete{p}(id: $id) {{ success errors {{ code }} }} }} }}"), json!({"id": theirs.to_string()})).await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("delete{p}")]),
            "delete{p}(B) = {r}"
        );
        let upsert = format!(
            "mutation($on: [String!], $input: Upsert{t}Input) {{ bigcommerce {{ upsert{p}(on: $on, {api}: $input) {{ success errors {{ code }} }} }} }}"
        );
        let r = gql(upsert.clone(), json!({"on": ["id"], "input": {"id": theirs.to_string(), probe_field.clone(): probe_value.clone()}})).await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("upsert{p}")]),
            "upsert{p}(on id = B) = {r}"
        );
        let bulk_update = format!(
            "mutation($inputs: [BulkUpdate{tp_plural}Input!]!) {{ bigcommerce {{ bulkUpdate{pp}(inputs: $inputs) {{ success errors {{ code }} }} }} }}"
        );
        let r = gql(bulk_update, json!({"inputs": [{"id": theirs.to_string(), api.clone(): {probe_field.clone(): probe_value.clone()}}]})).await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("bulkUpdate{pp}")]),
            "bulkUpdate{pp}(B) = {r}"
        );
        let r = gql(format!("mutation($ids: [GadgetID!]!) {{ bigcommerce {{ bulkDelete{pp}(ids: $ids) {{ success errors {{ code }} }} }} }}"), json!({"ids": [theirs.to_string()]})).await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("bulkDelete{pp}")]),
            "bulkDelete{pp}(B) = {r}"
        );
        let bulk_upsert = format!(
            "mutation($inputs: [BulkUpsert{tp_plural}Input!]!) {{ bigcommerce {{ bulkUpsert{pp}(inputs: $inputs) {{ success errors {{ code }} }} }} }}"
        );
        let r = gql(bulk_upsert.clone(), json!({"inputs": [{"on": ["id"], api.clone(): {"id": theirs.to_string(), probe_field.clone(): probe_value.clone()}}]})).await;
        expect!(
            failed(&r["data"]["bigcommerce"][format!("bulkUpsert{pp}")]),
            "bulkUpsert{pp}(on id = B) = {r}"
        );
        if let Some(store_rel) = model.tenant.map(|t| model.relations[t].api_id.clone()) {
            let create = format!(
                "mutation($input: Create{t}Input) {{ bigcommerce {{ create{p}({api}: $input) {{ success errors {{ code }} }} }} }}"
            );
            let r = gql(
                create,
                json!({"input": {"bigcommerceId": 777, store_rel.clone(): {"_link": f.b.to_string()}}}),
            )
            .await;
            let result = &r["data"]["bigcommerce"][format!("create{p}")];
            expect!(
                failed(result) && result["errors"][0]["code"] == "GGT_PERMISSION_DENIED",
                "create{p}(store B) = {r}"
            );
            let bulk_create = format!(
                "mutation($inputs: [BulkCreate{tp_plural}Input!]!) {{ bigcommerce {{ bulkCreate{pp}(inputs: $inputs) {{ success errors {{ code }} }} }} }}"
            );
            let r = gql(bulk_create, json!({"inputs": [{api.clone(): {"bigcommerceId": 778, store_rel.clone(): {"_link": f.b.to_string()}}}]})).await;
            expect!(
                failed(&r["data"]["bigcommerce"][format!("bulkCreate{pp}")]),
                "bulkCreate{pp}(store B) = {r}"
            );
            // An upsert by B's identity makes a row in A; it never matches B's.
            let bc_id = (2 * 1000 + model.id) as i64;
            let r = gql(upsert.clone(), json!({"on": ["bigcommerceId", "store"], "input": {"bigcommerceId": bc_id, probe_field.clone(): probe_value.clone()}})).await;
            expect!(
                r["data"]["bigcommerce"][format!("upsert{p}")]["success"] == true,
                "upsert{p}(B's identity) in A = {r}"
            );
        }

        // Every form of nested input that names one of B's rows.
        for (rel_idx, rel) in model.relations.iter().enumerate() {
            let target = registry.get(rel.target);
            // Models written only through their own actions take no nested input.
            if !target.generic_writes {
                continue;
            }
            let (tp, tt) = (pascal(&target.api_id), target.type_name());
            let _ = (&tp, &tt);
            let their_target = if target.is_tenant {
                f.b
            } else {
                match f.ids.get(&(target.id, f.b)) {
                    Some(id) => *id,
                    None => continue,
                }
            };
            let (target_probe, target_value) = probe(target);
            let forms: Vec<(&str, Value)> = match rel.kind {
                // Linking another store is covered by the creates above.
                RelationKind::BelongsTo { .. } if Some(rel_idx) == model.tenant => vec![],
                RelationKind::BelongsTo { .. } => vec![
                    ("_link", json!({"_link": their_target.to_string()})),
                    (
                        "update",
                        json!({"update": {"id": their_target.to_string(), target_probe.clone(): target_value.clone()}}),
                    ),
                    ("delete", json!({"delete": {"id": their_target.to_string()}})),
                ],
                RelationKind::HasMany { .. } => vec![
                    (
                        "update",
                        json!([{"update": {"id": their_target.to_string(), target_probe.clone(): target_value.clone()}}]),
                    ),
                    ("delete", json!([{"delete": {"id": their_target.to_string()}}])),
                    (
                        "_converge",
                        json!([{"_converge": {"values": [{"id": their_target.to_string(), target_probe.clone(): target_value.clone()}]}}]),
                    ),
                ],
            };
            for (form, value) in forms {
                let r = gql(
                    update.clone(),
                    json!({"id": own.to_string(), "input": {rel.api_id.clone(): value}}),
                )
                .await;
                expect!(
                    failed(&r["data"]["bigcommerce"][format!("update{p}")]),
                    "update{p}({}: {form} of B's row) = {r}",
                    rel.api_id
                );
            }
        }
    }
    let after = snapshot(app, f.b).await;
    assert_eq!(before, after, "store B's rows changed");
    assert!(
        failures.is_empty(),
        "{} of {attempts} cross-store attempts got through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(attempts > 150, "the matrix covered {attempts} attempts");
}
