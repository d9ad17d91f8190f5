//! A property test over HTTP: documents and variables generated from the model registry
//! (every model's lists with filters, sorts, search and paging; nested relations; finds
//! by id; every write with random inputs, nested ones included; background enqueues; and
//! hostile documents and bodies) are sent to a running gateway as each identity:
//! anonymous, store A's app session, an API key bound to store A, and `system-admin`.
//!
//! For every answer: no 5xx, the connection is not dropped (a panic), the body is
//! GraphQL JSON (`data` and/or a non-empty `errors` of `{message}` objects), and a
//! caller of store A sees no record of another store (every record is selected with its
//! `__typename` and its store id, and store B's seeded strings carry a marker that must
//! not appear anywhere in A's answers, error messages included); an anonymous caller
//! sees no store's records at all; and no answer carries `GGT_INTERNAL_ERROR` (bad input
//! is the caller's error, never the gateway's). The gateway still answers at the end.
//!
//! `BCGRAPH_PROPTEST_CASES` (default 1,000) sets the number of cases (each one to three
//! requests); `BCGRAPH_PROPTEST_SEED` replays a run (the seed is printed, and repeated
//! in the failure message); `BCGRAPH_PROPTEST_VERBOSE=1` prints every request and answer.
//! A failing case is shrunk (its choices shortened and lowered) before it is reported.

use crate::support::{TestApp, payload, seed};
use base64::Engine;
use bcgraph::action::GlobalActions;
use bcgraph::auth::{ROLE_APP, api_keys};
use bcgraph::model::{Field, FieldType, Model, ModelId, Registry, RelationKind, pascal};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What store A's and store B's seeded strings carry.
const MARK_A: &str = "secret-of-a";
const MARK_B: &str = "secret-of-b";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tenant {
    /// Anonymous: no store.
    Nobody,
    /// Store A's session and store A's key.
    StoreA,
    System,
}

struct Who {
    name: &'static str,
    authorization: Option<String>,
    tenant: Tenant,
}

/// The gateway, its seeded records and its callers.
struct Env {
    app: TestApp,
    registry: Arc<Registry>,
    a: i64,
    b: i64,
    /// Seeded record ids, by model and store.
    fixtures: HashMap<(ModelId, i64), Vec<i64>>,
    who: Vec<Who>,
    /// By model type name (`BigcommerceProduct`).
    by_type: HashMap<String, ModelId>,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    requests: usize,
    statuses: BTreeMap<u16, usize>,
    codes: BTreeMap<String, usize>,
    with_data: usize,
}

// ---------------------------------------------------------------- seeding

/// A value of `f`'s type for a seeded record; strings carry the store's marker.
fn seed_value(f: &Field, mark: &str, n: i64) -> Option<Json> {
    Some(match f.ty {
        // The last value: a sync's first values are unfinished states, and a store may have
        // only one unfinished sync.
        _ if !f.enum_values.is_empty() => json!(f.enum_values[f.enum_values.len() - 1]),
        FieldType::String => {
            let text = format!("{mark} {n}");
            match f.max_length {
                Some(max) if max < text.chars().count() => json!(text.chars().take(max).collect::<String>()),
                _ => json!(text),
            }
        }
        FieldType::Integer | FieldType::Float => json!(n),
        FieldType::Boolean => json!(n % 2 == 0),
        FieldType::Json => json!({"mark": mark, "n": n, "nested": {"list": [n, mark]}}),
        FieldType::DateTime => json!(format!("2026-01-{:02}T00:00:00.000Z", 1 + n % 28)),
        FieldType::Id | FieldType::Enum => return None,
    })
}

impl Env {
    async fn start() -> Env {
        // Thousands of requests from one address: rate limits are another test's subject.
        // BigCommerce is an address that refuses at once: nothing here may reach it.
        let app = TestApp::start_configured(
            GlobalActions::default(),
            &[
                ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0"),
                ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0"),
                ("BIGCOMMERCE_API_URL", "http://127.0.0.1:9"),
            ],
        )
        .await;
        let registry = app.api.registry.clone();
        let a = seed::store(&app.db, "storea").await;
        let b = seed::store(&app.db, "storeb").await;
        let mut fixtures: HashMap<(ModelId, i64), Vec<i64>> = HashMap::new();
        fixtures.insert((registry.tenant_model.expect("a tenant model"), a), vec![a]);
        fixtures.insert((registry.tenant_model.expect("a tenant model"), b), vec![b]);
        let mut n = 1_000;
        // Two records of every model in each store, linked to parents of the same store
        // (the registry lists parents first).
        for model in registry.models.iter().filter(|m| !m.is_tenant) {
            for (store, mark) in [(a, MARK_A), (b, MARK_B)] {
                for _ in 0..2 {
                    n += 1;
                    let mut input = json!({});
                    for (i, f) in model.fields.iter().enumerate() {
                        if f.hidden || f.is_managed() || model.relation_of_field(i).is_some() {
                            continue;
                        }
                        if let Some(value) = seed_value(f, mark, n) {
                            input[&f.api_id] = value;
                        }
                    }
                    for (i, rel) in model.relations.iter().enumerate() {
                        if let RelationKind::BelongsTo { .. } = rel.kind {
                            let parent = if Some(i) == model.tenant {
                                Some(store)
                            } else {
                                fixtures
                                    .get(&(rel.target, store))
                                    .and_then(|ids| ids.first().copied())
                            };
                            if let Some(parent) = parent {
                                input[&rel.api_id] = json!({"_link": parent});
                            }
                        }
                    }
                    let record = app
                        .api
                        .model_by_id(model.id)
                        .create(input)
                        .await
                        .unwrap_or_else(|e| panic!("seeding {}: {e}", model.api_id));
                    fixtures.entry((model.id, store)).or_default().push(record.id());
                }
            }
        }
        let (_, key) = api_keys::create(&app.db, "properties", &[ROLE_APP.to_owned()], Some("storea"))
            .await
            .expect("a store-bound key");
        let who = vec![
            Who {
                name: "anonymous",
                authorization: None,
                tenant: Tenant::Nobody,
            },
            Who {
                name: "store A app session",
                authorization: Some(payload::header(&payload::jwt("storea", 7))),
                tenant: Tenant::StoreA,
            },
            Who {
                name: "store A key (Role-BigCommerce-App)",
                authorization: Some(format!("Bearer {key}")),
                tenant: Tenant::StoreA,
            },
            Who {
                name: "system-admin key",
                authorization: Some(format!("Bearer {}", app.admin_key)),
                tenant: Tenant::System,
            },
        ];
        let by_type = registry.models.iter().map(|m| (m.type_name(), m.id)).collect();
        Env {
            app,
            registry,
            a,
            b,
            fixtures,
            who,
            by_type,
            stats: Mutex::new(Stats::default()),
        }
    }
}

// ---------------------------------------------------------------- generation

/// JSON that no schema expects: wrong types, extreme numbers, odd strings, nesting.
fn hostile() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(5e-324),
            Just(9.007_199_254_740_993e15),
            Just(i64::MAX as f64),
            Just(2_147_483_648.0),
            Just(-0.0),
            Just(0.5),
        ]
        .prop_map(Json::from),
        "\\PC{0,24}".prop_map(Json::from),
        odd_string().prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Json::Array),
            btree_map("[a-zA-Z_]{1,10}|\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that have broken parsers and SQL before.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\u{0}".to_owned()),
        Just("'; DROP TABLE bigcommerce_product; --".to_owned()),
        Just("%_\\%".to_owned()),
        Just("\"\\\"\\\\".to_owned()),
        Just("🦀\u{202e}\u{200d}é\u{301}".to_owned()),
        Just("\u{feff}\u{fffd}\u{10ffff}".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("2026-02-30T25:61:61Z".to_owned()),
        Just("+275760-09-13T00:00:00.000Z".to_owned()),
        Just("$.a[0]".to_owned()),
        Just("{\"a\": [1]}".to_owned()),
        "\\PC{0,40}",
    ]
}

/// One case: who asks, the choices the requests are built from, and a pool of values.
type Case = (usize, Vec<u32>, Vec<Json>, Vec<String>);

fn case() -> impl Strategy<Value = Case> {
    (
        0..4usize,
        vec(any::<u32>(), 32..400),
        vec(hostile(), 1..6),
        vec(odd_string(), 1..6),
    )
}

/// A request to send.
struct Request {
    /// What it is, for failure messages.
    label: String,
    body: Vec<u8>,
}

/// Builds requests from a case's choices. When the choices run out every decision takes
/// its simplest branch, so shrinking a failing case simplifies its requests.
struct Gen<'a> {
    env: &'a Env,
    tenant: Tenant,
    /// This request may hold values of the wrong type, unknown keys and operators (most
    /// are then refused by validation); the others are well-typed, to reach the resolvers.
    rough: bool,
    choices: &'a [u32],
    at: usize,
    pool: &'a [Json],
    strings: &'a [String],
    vars: serde_json::Map<String, Json>,
    defs: Vec<String>,
}

impl<'a> Gen<'a> {
    fn next(&mut self) -> Option<u32> {
        let c = self.choices.get(self.at).copied();
        self.at += 1;
        c
    }

    /// 0..n (0 once the choices are spent).
    fn pick(&mut self, n: usize) -> usize {
        match (n, self.next()) {
            (0, _) | (_, None) => 0,
            (n, Some(c)) => c as usize % n,
        }
    }

    /// True `percent` of the time (never once the choices are spent).
    fn maybe(&mut self, percent: u32) -> bool {
        self.next().is_some_and(|c| c % 100 < percent)
    }

    fn one_of<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.pick(items.len())].clone()
    }

    fn hostile(&mut self) -> Json {
        let i = self.pick(self.pool.len());
        self.pool[i].clone()
    }

    /// True `percent` of the time in a rough request, never in a well-typed one.
    fn rough(&mut self, percent: u32) -> bool {
        self.rough && self.maybe(percent)
    }

    fn string(&mut self) -> String {
        match self.pick(8) {
            0..=3 => {
                let i = self.pick(self.strings.len());
                self.strings[i].clone()
            }
            4 => "shared".to_owned(),
            5 => "x".repeat(self.one_of(&[257, 1_000, 70_000])),
            6 => "é🦀".repeat(300),
            _ => format!("v{}", self.pick(1_000)),
        }
    }

    /// A variable of GraphQL type `ty` holding `value`; its reference.
    fn var(&mut self, ty: &str, value: Json) -> String {
        let name = format!("v{}", self.defs.len());
        self.defs.push(format!("${name}: {ty}"));
        self.vars.insert(name.clone(), value);
        format!("${name}")
    }

    fn model(&mut self, writable: bool) -> &'a Model {
        let models: Vec<&'a Model> = self
            .env
            .registry
            .models
            .iter()
            .filter(|m| !writable || m.generic_writes)
            .collect();
        models[self.pick(models.len())]
    }

    /// Seeded id of `model` in store A or B, or a made-up one.
    fn id_of(&mut self, model: ModelId) -> Json {
        let store = match self.pick(5) {
            0 | 1 => self.env.a,
            2 | 3 => self.env.b,
            _ if !self.rough => return json!(self.one_of(&["12345", "9223372036854775807"])),
            _ => {
                return match self.pick(6) {
                    0 => json!("0"),
                    1 => json!("-1"),
                    2 => json!("99999999999999999999"),
                    3 => json!("9223372036854775807"),
                    4 => json!(12345),
                    _ => self.hostile(),
                };
            }
        };
        let ids = self
            .env
            .fixtures
            .get(&(model, store))
            .cloned()
            .unwrap_or_default();
        match ids.len() {
            0 => json!("1"),
            n => json!(ids[self.pick(n)].to_string()),
        }
    }

    fn number(&mut self) -> Json {
        match self.pick(10) {
            0 => json!(0),
            1 => json!(1),
            2 => json!(-1),
            3 => json!(i64::MAX),
            4 => json!(i64::MIN),
            5 => json!(u64::MAX),
            6 => json!(1e300),
            7 => json!(1.5),
            8 => json!(9_007_199_254_740_993i64),
            _ => json!(self.pick(100_000)),
        }
    }

    /// A value for field `f`: mostly of its type, sometimes anything.
    fn value(&mut self, model: &Model, field: usize) -> Json {
        if self.rough(15) {
            return self.hostile();
        }
        let f = &model.fields[field];
        match f.ty {
            FieldType::Id => match model.relation_of_field(field) {
                Some(r) => self.id_of(model.relations[r].target),
                None => self.id_of(model.id),
            },
            FieldType::Integer | FieldType::Float => self.number(),
            FieldType::String => json!(self.string()),
            FieldType::Boolean => json!(self.maybe(50)),
            FieldType::DateTime if self.rough(30) => json!(self.one_of(&["2026-13-45", "yesterday", ""])),
            FieldType::DateTime => json!(self.one_of(&[
                "2026-01-05T00:00:00.000Z",
                "2026-01-05",
                "2026-01-05T00:00:00+14:00",
                "1970-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999Z",
            ])),
            FieldType::Json => match self.pick(4) {
                0 => json!({"mark": MARK_A.replace('a', "x")}),
                1 => self.deep(),
                _ => self.hostile(),
            },
            FieldType::Enum => match self.pick(3) {
                _ if !self.rough && !f.enum_values.is_empty() => {
                    let i = self.pick(f.enum_values.len());
                    json!(f.enum_values[i])
                }
                0 | 1 if !f.enum_values.is_empty() => {
                    let i = self.pick(f.enum_values.len());
                    json!(f.enum_values[i])
                }
                _ => json!(self.string()),
            },
        }
    }

    /// JSON nested around the serde_json limit of 128 and below it.
    fn deep(&mut self) -> Json {
        let depth = if self.rough {
            self.one_of(&[2usize, 20, 100, 126, 127, 140])
        } else {
            self.one_of(&[2usize, 20, 100])
        };
        let mut value = json!(1);
        for i in 0..depth {
            value = if i % 2 == 0 {
                json!([value])
            } else {
                json!({"k": value})
            };
        }
        value
    }

    // ------------------------------------------------------------ reads

    /// The selection of a record of `model`: always `__typename`, `id` and its store id.
    fn record(&mut self, model: &Model, depth: usize) -> String {
        let mut parts = vec!["__typename".to_owned(), "id".to_owned()];
        if let Some(scope) = model.tenant_scope()
            && scope != Model::ID
        {
            parts.push(model.fields[scope].api_id.clone());
        }
        for f in model.fields.iter().filter(|f| !f.hidden) {
            if !parts.contains(&f.api_id) && self.maybe(35) {
                parts.push(f.api_id.clone());
            }
        }
        if self.maybe(15) {
            parts.push("_all".to_owned());
        }
        if depth < 2 {
            for rel in &model.relations {
                if !self.maybe(25) {
                    continue;
                }
                let target = self.env.registry.get(rel.target);
                match rel.kind {
                    RelationKind::BelongsTo { .. } => {
                        let inner = self.record(target, depth + 1);
                        parts.push(format!("{} {{ {inner} }}", rel.api_id));
                    }
                    RelationKind::HasMany { .. } => {
                        let list = self.list(target, depth + 1);
                        parts.push(format!("{}{list}", rel.api_id));
                    }
                }
            }
        }
        parts.join(" ")
    }

    /// Arguments and selection of a list of `model`.
    fn list(&mut self, model: &Model, depth: usize) -> String {
        let t = model.type_name();
        let mut args = Vec::new();
        if self.maybe(50) {
            let n = self.one_of(&[0i64, 1, 2, 5, 250, 251, -1, 2_147_483_647]);
            args.push(format!("first: {n}"));
        } else if self.maybe(20) {
            let n = self.one_of(&[1i64, 3, 250, 251, -5]);
            args.push(format!("last: {n}"));
        }
        for name in ["after", "before"] {
            if self.maybe(12) {
                let cursor = self.cursor();
                let v = self.var("String", json!(cursor));
                args.push(format!("{name}: {v}"));
            }
        }
        if self.maybe(35) {
            let sort = self.sort(model);
            let v = self.var(&format!("[{t}Sort!]"), sort);
            args.push(format!("sort: {v}"));
        }
        if self.maybe(55) {
            let filter = self.filter(model, 0);
            let v = self.var(&format!("[{t}Filter!]"), filter);
            args.push(format!("filter: {v}"));
        }
        if self.maybe(15) {
            let search = self.string();
            let v = self.var("String", json!(search));
            args.push(format!("search: {v}"));
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let node = self.record(model, depth);
        let page_info = if self.maybe(50) {
            " pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        } else {
            ""
        };
        format!("{args} {{ edges {{ cursor node {{ {node} }} }}{page_info} }}")
    }

    fn cursor(&mut self) -> String {
        let values = match self.pick(6) {
            0 => json!([1]),
            1 => json!(["x", 5]),
            2 => json!([1e308]),
            3 => json!([{"a": 1}, null]),
            4 => json!([self.hostile()]),
            _ => return self.string(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(values.to_string())
    }

    fn sort(&mut self, model: &Model) -> Json {
        let mut keys = Vec::new();
        for _ in 0..1 + self.pick(2) {
            let fields: Vec<&Field> = model.fields.iter().filter(|f| !f.hidden).collect();
            let f = fields[self.pick(fields.len())];
            let direction = match self.pick(5) {
                _ if self.rough(20) => self.hostile(),
                0 | 1 => json!("Ascending"),
                _ => json!("Descending"),
            };
            keys.push(json!({ f.api_id.clone(): direction }));
        }
        if keys.len() == 1 && self.maybe(50) {
            keys.pop().unwrap_or_default()
        } else {
            Json::Array(keys)
        }
    }

    /// A filter object for `model`, with nested `AND`/`OR`/`NOT` and relationship filters.
    fn filter(&mut self, model: &Model, depth: usize) -> Json {
        let mut object = serde_json::Map::new();
        for _ in 0..1 + self.pick(3) {
            match self.pick(10) {
                0..=5 => {
                    let fields: Vec<usize> = (0..model.fields.len())
                        .filter(|i| !model.fields[*i].hidden)
                        .collect();
                    let field = fields[self.pick(fields.len())];
                    let ops = self.operators(model, field);
                    object.insert(model.fields[field].api_id.clone(), ops);
                }
                6 if depth < 3 => {
                    let key = self.one_of(&["AND", "OR", "NOT"]);
                    let items = (0..1 + self.pick(2))
                        .map(|_| self.filter(model, depth + 1))
                        .collect();
                    object.insert(key.to_owned(), Json::Array(items));
                }
                7 | 8 if depth < 3 && !model.relations.is_empty() => {
                    let rel = &model.relations[self.pick(model.relations.len())];
                    let target = self.env.registry.get(rel.target);
                    let inner = self.filter(target, depth + 1);
                    let value = match rel.kind {
                        RelationKind::BelongsTo { .. } => {
                            let mut inner = inner;
                            if self.maybe(20)
                                && let Some(map) = inner.as_object_mut()
                            {
                                map.insert("isSet".into(), json!(self.maybe(50)));
                            }
                            inner
                        }
                        RelationKind::HasMany { .. } => {
                            json!({ self.one_of(&["some", "every"]): inner })
                        }
                    };
                    object.insert(rel.api_id.clone(), value);
                }
                9 if self.rough => {
                    let key = self.string();
                    let value = self.hostile();
                    object.insert(key, value);
                }
                _ => {
                    let field = self.pick(model.fields.len());
                    if !model.fields[field].hidden {
                        let set = json!({"isSet": self.maybe(50)});
                        object.insert(model.fields[field].api_id.clone(), set);
                    }
                }
            }
        }
        Json::Object(object)
    }

    fn operators(&mut self, model: &Model, field: usize) -> Json {
        let f = &model.fields[field];
        let ops: &[&str] = match f.ty {
            _ if !f.enum_values.is_empty() => &["equals", "notEquals", "in", "notIn", "isSet"],
            FieldType::Id => &[
                "equals",
                "notEquals",
                "in",
                "notIn",
                "lessThan",
                "greaterThanOrEqual",
                "isSet",
            ],
            FieldType::String => &[
                "equals",
                "notEquals",
                "in",
                "notIn",
                "lessThan",
                "greaterThan",
                "startsWith",
                "isSet",
            ],
            FieldType::Integer | FieldType::Float => &[
                "equals",
                "notEquals",
                "in",
                "notIn",
                "lessThan",
                "lessThanOrEqual",
                "greaterThan",
                "greaterThanOrEqual",
                "isSet",
            ],
            FieldType::Boolean => &["equals", "notEquals", "isSet"],
            FieldType::DateTime => &[
                "equals",
                "notEquals",
                "in",
                "lessThan",
                "before",
                "after",
                "isSet",
            ],
            FieldType::Json => &["equals", "notEquals", "in", "notIn", "matches", "isSet"],
            FieldType::Enum => &["equals", "isSet"],
        };
        let mut object = serde_json::Map::new();
        for _ in 0..1 + self.pick(2) {
            let op = if self.rough(10) {
                "nope".to_owned()
            } else {
                self.one_of(ops).to_owned()
            };
            let value = match op.as_str() {
                "isSet" => json!(self.maybe(50)),
                "in" | "notIn" => {
                    let n = self.one_of(&[0usize, 1, 3, 1_001]);
                    Json::Array((0..n).map(|_| self.value(model, field)).collect())
                }
                "startsWith" => json!(self.string()),
                _ => self.value(model, field),
            };
            object.insert(op, value);
        }
        Json::Object(object)
    }

    fn query(&mut self) -> String {
        let mut roots = Vec::new();
        for i in 0..1 + self.pick(2) {
            let model = self.model(false);
            let field = if self.maybe(70) {
                let list = self.list(model, 0);
                format!("{}{list}", model.plural_api_id)
            } else {
                let id = self.id_of(model.id);
                let v = self.var("GadgetID!", id);
                let node = self.record(model, 0);
                format!("{}(id: {v}) {{ {node} }}", model.api_id)
            };
            roots.push(format!("q{i}: {} {{ {field} }}", model.namespace));
        }
        if self.maybe(20) {
            roots.push(
                "currentSession { id roles { key } bigcommerceStoreId bigcommerceStore { __typename id storeHash } }"
                    .to_owned(),
            );
        }
        roots.join(" ")
    }

    // ------------------------------------------------------------ writes

    /// A record input for `model`; nested writes down to `depth` 2.
    fn input(&mut self, model: &Model, depth: usize) -> Json {
        let mut object = serde_json::Map::new();
        for (i, f) in model.fields.iter().enumerate() {
            if f.hidden || f.is_managed() || model.relation_of_field(i).is_some() {
                continue;
            }
            if self.maybe(40) {
                let value = self.value(model, i);
                object.insert(f.api_id.clone(), value);
            }
        }
        for (i, rel) in model.relations.iter().enumerate() {
            let target = self.env.registry.get(rel.target);
            if !target.generic_writes || !self.maybe(30) {
                continue;
            }
            let value = match rel.kind {
                RelationKind::BelongsTo { .. } if Some(i) == model.tenant => {
                    // The system moving one of store B's marked records into store A
                    // would be allowed, and look like a leak: it links to B only.
                    let store = match (self.tenant, self.pick(3)) {
                        (Tenant::System, _) | (_, 1) => json!(self.env.b.to_string()),
                        (_, 0) => json!(self.env.a.to_string()),
                        _ => Json::Null,
                    };
                    json!({"_link": store})
                }
                RelationKind::BelongsTo { .. } => match self.pick(if depth < 2 { 4 } else { 1 }) {
                    0 => json!({"_link": self.id_of(target.id)}),
                    1 => json!({"create": self.input(target, depth + 1)}),
                    2 => {
                        let mut update = self.input(target, depth + 1);
                        update["id"] = self.id_of(target.id);
                        json!({ "update": update })
                    }
                    _ => json!({"delete": {"id": self.id_of(target.id)}}),
                },
                RelationKind::HasMany { .. } if depth < 2 => {
                    if self.maybe(25) {
                        let values = (0..self.pick(3))
                            .map(|_| {
                                let mut value = self.input(target, depth + 1);
                                if self.maybe(50) {
                                    value["id"] = self.id_of(target.id);
                                }
                                value
                            })
                            .collect::<Vec<_>>();
                        json!({ "_converge": {"values": values} })
                    } else {
                        let ops = (0..1 + self.pick(2))
                            .map(|_| match self.pick(3) {
                                0 => json!({"create": self.input(target, depth + 1)}),
                                1 => {
                                    let mut update = self.input(target, depth + 1);
                                    update["id"] = self.id_of(target.id);
                                    json!({ "update": update })
                                }
                                _ => json!({"delete": {"id": self.id_of(target.id)}}),
                            })
                            .collect::<Vec<_>>();
                        Json::Array(ops)
                    }
                }
                RelationKind::HasMany { .. } => continue,
            };
            object.insert(rel.api_id.clone(), value);
        }
        if self.rough(15) {
            let key = self.string();
            let value = self.hostile();
            object.insert(key, value);
        }
        Json::Object(object)
    }

    fn result(&mut self, model: &Model, bulk: bool) -> String {
        let record = self.record(model, 1);
        let name = if bulk { &model.plural_api_id } else { &model.api_id };
        format!("success errors {{ code message }} {name} {{ {record} }}")
    }

    fn mutation(&mut self) -> String {
        let model = self.model(true);
        let t = model.type_name();
        let plural = model.plural_type_name();
        let api = &model.api_id;
        let p = pascal(api);
        let pp = pascal(&model.plural_api_id);
        if self.maybe(12) {
            let options = match self.pick(5) {
                0 => json!({"priority": "PLATFORM"}),
                1 => {
                    json!({"retries": {"retryCount": u32::MAX, "initialInterval": 0, "backoffFactor": 1e308}})
                }
                2 => {
                    json!({"queue": {"name": self.string(), "maxConcurrency": 0}, "startAt": "2026-01-05T00:00:00Z"})
                }
                3 => json!({"queue": "q", "priority": "HIGH", "retries": 3}),
                _ => self.hostile(),
            };
            let options = self.var("EnqueueBackgroundActionOptions", options);
            // Only the single create is enqueued: the other actions' shapes differ.
            let input = self.input(model, 0);
            let v = self.var(&format!("Create{t}Input"), input);
            return format!(
                "background {{ {} {{ create{p}({api}: {v}, backgroundOptions: {options}) {{ success errors {{ code message }} backgroundAction {{ id }} }} }} }}",
                model.namespace
            );
        }
        let field = match self.pick(9) {
            0 | 1 => {
                let input = self.input(model, 0);
                let v = self.var(&format!("Create{t}Input"), input);
                let result = self.result(model, false);
                format!("create{p}({api}: {v}) {{ {result} }}")
            }
            2 => {
                let id = self.id_of(model.id);
                let id = self.var("GadgetID!", id);
                let input = self.input(model, 0);
                let v = self.var(&format!("Update{t}Input"), input);
                let result = self.result(model, false);
                format!("update{p}(id: {id}, {api}: {v}) {{ {result} }}")
            }
            3 => {
                let id = self.doomed(model);
                let id = self.var("GadgetID!", id);
                format!("delete{p}(id: {id}) {{ success errors {{ code message }} }}")
            }
            4 => {
                let on = self.on(model);
                let on = self.var("[String!]", on);
                let input = self.input(model, 0);
                let v = self.var(&format!("Upsert{t}Input"), input);
                let result = self.result(model, false);
                format!(
                    "upsert{p}(on: {on}, {api}: {v}) {{ __typename ... on Create{t}Result {{ {result} }} \
                     ... on Update{t}Result {{ {result} }} }}"
                )
            }
            5 => {
                let inputs: Vec<Json> = (0..self.pick(4))
                    .map(|_| json!({ api.clone(): self.input(model, 0) }))
                    .collect();
                let v = self.var(&format!("[BulkCreate{plural}Input!]!"), Json::Array(inputs));
                let result = self.result(model, true);
                format!("bulkCreate{pp}(inputs: {v}) {{ {result} }}")
            }
            6 => {
                let inputs: Vec<Json> = (0..self.pick(4))
                    .map(|_| json!({"id": self.id_of(model.id), api.clone(): self.input(model, 0)}))
                    .collect();
                let v = self.var(&format!("[BulkUpdate{plural}Input!]!"), Json::Array(inputs));
                let result = self.result(model, true);
                format!("bulkUpdate{pp}(inputs: {v}) {{ {result} }}")
            }
            7 => {
                let inputs: Vec<Json> = (0..self.pick(4))
                    .map(|_| json!({"on": self.on(model), api.clone(): self.input(model, 0)}))
                    .collect();
                let v = self.var(&format!("[BulkUpsert{plural}Input!]!"), Json::Array(inputs));
                let result = self.result(model, true);
                format!("bulkUpsert{pp}(inputs: {v}) {{ {result} }}")
            }
            _ => {
                let ids: Vec<Json> = (0..self.pick(4)).map(|_| self.doomed(model)).collect();
                let v = self.var("[GadgetID!]!", Json::Array(ids));
                format!("bulkDelete{pp}(ids: {v}) {{ success errors {{ code message }} }}")
            }
        };
        format!("{} {{ {field} }}", model.namespace)
    }

    /// The id of a record to delete: the system deleting store A or B would end the test's
    /// subject (and the stores' cached sessions would then write to a store that is gone).
    fn doomed(&mut self, model: &Model) -> Json {
        if model.is_tenant && self.tenant == Tenant::System {
            json!("12345")
        } else {
            self.id_of(model.id)
        }
    }

    fn on(&mut self, model: &Model) -> Json {
        match self.pick(4) {
            0 => json!(["id"]),
            1 if model.field("bigcommerceId").is_some() => json!(["bigcommerceId", "store"]),
            2 if self.rough => json!([self.string()]),
            _ => json!([]),
        }
    }

    // ------------------------------------------------------------ hostile documents

    fn hostile_request(&mut self) -> Request {
        let deep = |n: usize| format!("{}{}", "{ a ".repeat(n), "}".repeat(n));
        let text = match self.pick(14) {
            0 => deep(self.one_of(&[64, 129, 100_000])),
            1 => format!(
                "{{ currentSession(x: {}1{}) {{ id }} }}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            2 => {
                // A fragment fan-out.
                let mut text = String::from("query{...F0}");
                for level in 0..20 {
                    let spreads = format!("...F{} ", level + 1).repeat(4);
                    text.push_str(&format!("fragment F{level} on Query{{{spreads}}}"));
                }
                text + "fragment F20 on Query{__typename}"
            }
            3 => format!(
                "{{ {} }}",
                (0..300)
                    .map(|i| format!("a{i}: __typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            4 => format!("{{ __type(name: \"{}\") {{ name }} }}", "x".repeat(100_000)),
            5 => "{ __schema { types { name fields { name args { name type { name } } } } } }".to_owned(),
            6 => "subscription { backgroundAction(id: \"1\") { id } }".to_owned(),
            7 => "query a { __typename } query b { __typename }".to_owned(),
            8 => "{ bigcommerce { nope } }".to_owned(),
            9 => self.string(),
            10 => {
                return Request {
                    label: "a body that is not JSON".into(),
                    body: vec![0xff, 0xfe, b'{', b'"'],
                };
            }
            11 => {
                let body = self.one_of(&[
                    "[]",
                    "{\"query\": 5}",
                    "{\"query\": \"\"}",
                    "null",
                    "{\"query\": \"{ __typename }\", \"variables\": [1]}",
                ]);
                return Request {
                    label: format!("the body {body}"),
                    body: body.as_bytes().to_vec(),
                };
            }
            12 => {
                let depth = self.one_of(&[127usize, 129, 10_000]);
                let body = format!(
                    "{{\"query\": \"query($v: JSON) {{ __typename }}\", \"variables\": {{\"v\": {}1{}}}}}",
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                return Request {
                    label: format!("variables nested {depth} deep"),
                    body: body.into_bytes(),
                };
            }
            _ => "{ __typename @skip(if: true) @include(if: false) }".to_owned(),
        };
        let body = json!({"query": text}).to_string().into_bytes();
        Request {
            label: format!("a hostile document of {} bytes", text.len()),
            body,
        }
    }

    /// The next request of the case.
    fn request(&mut self) -> Request {
        self.vars = serde_json::Map::new();
        self.defs.clear();
        self.rough = self.maybe(30);
        let (kind, selection) = match self.pick(10) {
            0..=4 => ("query", self.query()),
            5..=8 => ("mutation", self.mutation()),
            _ => return self.hostile_request(),
        };
        let defs = if self.defs.is_empty() {
            String::new()
        } else {
            format!("({})", self.defs.join(", "))
        };
        let document = format!("{kind} Generated{defs} {{ {selection} }}");
        let mut body = json!({"query": document, "variables": Json::Object(self.vars.clone())});
        if self.maybe(5) {
            body["operationName"] = json!(self.one_of(&["Generated", "Other"]));
        }
        Request {
            label: document,
            body: body.to_string().into_bytes(),
        }
    }
}

// ---------------------------------------------------------------- checking

/// Why an answer breaks a property, if it does.
fn check(env: &Env, tenant: Tenant, status: u16, text: &str) -> Result<(), String> {
    if status >= 500 {
        return Err(format!("status {status}"));
    }
    let answer: Json = serde_json::from_str(text).map_err(|e| format!("status {status}, not JSON ({e})"))?;
    let Json::Object(map) = &answer else {
        return Err("not an object".into());
    };
    if !map.contains_key("data") && !map.contains_key("errors") {
        return Err("neither `data` nor `errors`".into());
    }
    if let Some(data) = map.get("data")
        && !(data.is_null() || data.is_object())
    {
        return Err("`data` is neither null nor an object".into());
    }
    match map.get("errors") {
        None | Some(Json::Null) => {
            if status != 200 {
                return Err(format!("status {status} without errors"));
            }
        }
        Some(Json::Array(errors)) if !errors.is_empty() => {
            for e in errors {
                if !e["message"].is_string() {
                    return Err(format!("an error without a message: {e}"));
                }
                if !(e["extensions"]["code"].is_null() || e["extensions"]["code"].is_string()) {
                    return Err(format!("an error code that is not a string: {e}"));
                }
            }
        }
        Some(other) => return Err(format!("`errors` is {other}")),
    }
    {
        let mut stats = env.stats.lock().unwrap();
        if map.get("data").is_some_and(Json::is_object) {
            stats.with_data += 1;
        }
        for e in map.get("errors").and_then(Json::as_array).into_iter().flatten() {
            let code = e["extensions"]["code"].as_str().unwrap_or("(none)").to_owned();
            *stats.codes.entry(code).or_default() += 1;
        }
    }
    // Bad input is the caller's error; an internal error is the gateway's (a database
    // refusing what the gateway let through, a failed invariant).
    if text.contains("GGT_INTERNAL_ERROR") {
        return Err("an internal error".into());
    }
    match tenant {
        Tenant::System => Ok(()),
        Tenant::StoreA | Tenant::Nobody => {
            if text.contains(MARK_B) {
                return Err(format!("store B's marker `{MARK_B}` is in the answer"));
            }
            if tenant == Tenant::Nobody && text.contains(MARK_A) {
                return Err(format!("store A's marker `{MARK_A}` is in an anonymous answer"));
            }
            let mut found = Vec::new();
            foreign_records(env, tenant, &answer, &mut found);
            if found.is_empty() {
                Ok(())
            } else {
                Err(format!("records of another store: {}", found.join("; ")))
            }
        }
    }
}

/// Records in `value` that `tenant` may not see: of a store other than A (for A's
/// callers), of any store (for anonymous ones).
fn foreign_records(env: &Env, tenant: Tenant, value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Array(items) => items.iter().for_each(|v| foreign_records(env, tenant, v, out)),
        Json::Object(map) => {
            let model = map
                .get("__typename")
                .and_then(Json::as_str)
                .and_then(|t| env.by_type.get(t))
                .map(|id| env.registry.get(*id));
            if let Some(model) = model
                && let Some(scope) = model.tenant_scope()
            {
                let store = map.get(&model.fields[scope].api_id).and_then(|v| match v {
                    Json::String(s) => s.parse::<i64>().ok(),
                    other => other.as_i64(),
                });
                let visible = match (tenant, store) {
                    (Tenant::StoreA, Some(store)) => store == env.a,
                    // Selected with every record: a record without it is not one.
                    (Tenant::StoreA, None) => true,
                    _ => false,
                };
                if !visible {
                    out.push(format!(
                        "{} {}",
                        model.type_name(),
                        map.get("id").unwrap_or(&Json::Null)
                    ));
                }
            }
            // `_all` holds the store id as a plain field.
            if let Some(all) = map.get("_all").and_then(Json::as_object)
                && let Some(store) = all.get("storeId")
            {
                let store = store
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or(store.as_i64());
                if tenant == Tenant::Nobody || store.is_some_and(|s| s != env.a) {
                    out.push(format!("`_all` of store {store:?}"));
                }
            }
            map.values().for_each(|v| foreign_records(env, tenant, v, out));
        }
        _ => {}
    }
}

async fn send(env: &Env, who: &Who, request: &Request) -> Result<(), String> {
    let mut post = env
        .app
        .http
        .post(format!("{}/api/graphql", env.app.url))
        .header("content-type", "application/json")
        .body(request.body.clone());
    if let Some(authorization) = &who.authorization {
        post = post.header("authorization", authorization);
    }
    let response = post
        .send()
        .await
        .map_err(|e| format!("the request failed (did the gateway panic?): {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("the answer broke off (did the gateway panic?): {e}"))?;
    {
        let mut stats = env.stats.lock().unwrap();
        stats.requests += 1;
        *stats.statuses.entry(status).or_default() += 1;
    }
    if std::env::var_os("BCGRAPH_PROPTEST_VERBOSE").is_some() {
        let shown = |s: &str| s.chars().take(6000).collect::<String>();
        println!(
            "[{}] {}\n  -> {status} {}",
            who.name,
            shown(&String::from_utf8_lossy(&request.body)),
            shown(&text)
        );
    }
    check(env, who.tenant, status, &text).map_err(|why| {
        let shown: String = text.chars().take(2_000).collect();
        format!("{why}\n  answer: {shown}")
    })
}

async fn run_case(env: &Env, (who, choices, pool, strings): &Case) -> Result<(), String> {
    let who = &env.who[*who];
    let mut generator = Gen {
        env,
        tenant: who.tenant,
        rough: false,
        choices,
        at: 0,
        pool,
        strings,
        vars: serde_json::Map::new(),
        defs: Vec::new(),
    };
    let requests = 1 + generator.pick(3);
    for _ in 0..requests {
        let request = generator.request();
        if let Err(why) = send(env, who, &request).await {
            let body = String::from_utf8_lossy(&request.body);
            let body: String = body.chars().take(4_000).collect();
            return Err(format!(
                "as {}: {why}\n  request ({}): {body}",
                who.name,
                request.label.chars().take(200).collect::<String>()
            ));
        }
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")),
    )
}

#[test]
fn generated_requests_keep_the_gateways_properties() {
    let cases = env_number("BCGRAPH_PROPTEST_CASES").unwrap_or(1000) as u32;
    let seed = env_number("BCGRAPH_PROPTEST_SEED").unwrap_or_else(rand::random);
    println!("property test: {cases} cases, seed {seed} (BCGRAPH_PROPTEST_SEED={seed} replays it)");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let started = Instant::now();
    let env = runtime.block_on(Env::start());
    let seeded = started.elapsed();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let result = runner.run(&case(), |case| {
        runtime
            .block_on(run_case(&env, &case))
            .map_err(TestCaseError::fail)
    });
    // Whatever happened, the gateway still answers.
    let alive = runtime.block_on(env.app.gql("{ __typename }", json!({})));
    let stats = env.stats.lock().unwrap();
    println!(
        "  {} requests in {:.1} s (seeding {:.1} s); statuses {:?}; {} answers with data",
        stats.requests,
        (started.elapsed() - seeded).as_secs_f64(),
        seeded.as_secs_f64(),
        stats.statuses,
        stats.with_data,
    );
    println!("  error codes: {:?}", stats.codes);
    if let Err(e) = result {
        panic!("{e}\nreplay with BCGRAPH_PROPTEST_SEED={seed}");
    }
    assert_eq!(alive["data"]["__typename"], "Query", "{alive}");
}
