//! Authorization, generated: every identity × every model × every operation, with the
//! verdict of each cell computed from the gateway's permission table and the caller's
//! tenant, never written per row. A new model, action or identity is covered with no
//! new test code.
//!
//! Two gateways run the matrix: one with the default grants (anonymous, store A's app
//! session, `system-admin`), one with a permissions file (anonymous granted everything,
//! which tenancy must still stop; store A's staff under a restricted role; an API key of
//! another role bound to store A; `system-admin`). Each cell is one request over HTTP
//! (or the websocket); every table of the database is compared before and after it: a
//! refused cell changes nothing, an allowed one changes what it should and only rows of
//! stores the caller reaches.

use crate::support::{CLIENT_ID, TestApp, payload, seed};
use bcgraph::action::{Caller, GlobalActions};
use bcgraph::auth::{Permissions, ROLE_ADMIN, ROLE_ANONYMOUS, ROLE_APP, api_keys};
use bcgraph::model::{FieldType, Model, ModelId, Registry, RelationKind, pascal};
use bcgraph::query::Tenant;
use bcgraph::queue::{Job, Options};
use fake_bigcommerce::{FakeBigCommerce, FakeOptions, StoreSpec};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "secret-token";

/// The second gateway's grants: anonymous callers are granted everything (tenancy must
/// still give them nothing), store staff get a patchwork, integrations a role of their own.
/// The patchwork puts each check where it alone decides: staff may update products but
/// not read them (a written product is not returned; a variant may not link one) and
/// may not create variants (a product's `_converge` may not add one); the integration may
/// update orders and create their lines but not delete them (`_converge` may not drop one),
/// and may delete stores (only the platform's own rule keeps it from deleting its own).
const PERMISSIONS_FILE: &str = r#"{
  "unauthenticated": {"models": {"bigcommerce/*": ["read", "create", "update", "delete"]},
                      "globalActions": ["bigcommerce/*"]},
  "Role-BigCommerce-App": {"models": {
      "bigcommerce/product": ["update"],
      "bigcommerce/productVariant": ["read", "update", "delete"],
      "bigcommerce/metafield": ["create", "update"],
      "bigcommerce/category": ["read", "create", "update", "delete"],
      "bigcommerce/order": ["read"],
      "bigcommerce/orderProduct": ["read", "update", "delete"],
      "bigcommerce/store": ["read"],
      "bigcommerce/sync": ["read", "update"]},
    "globalActions": ["bigcommerce/pullCategory"]},
  "Role-Integration": {"models": {"bigcommerce/*": ["read", "create", "update", "delete"],
                                  "bigcommerce/order": ["read", "update"],
                                  "bigcommerce/orderProduct": ["read", "create", "update"],
                                  "bigcommerce/store": ["read", "update", "delete"]},
                       "globalActions": ["bigcommerce/pullProduct", "bigcommerce/pullCategory",
                                         "bigcommerce/pullBrand", "bigcommerce/pullCustomer",
                                         "bigcommerce/pullMetafield", "bigcommerce/syncStore"]}
}"#;

/// Who asks, and what the matrix expects of them.
struct Who {
    name: &'static str,
    /// The `authorization` header.
    auth: Option<String>,
    /// `connection_init.payload.auth` on the websocket.
    ws: Value,
    roles: Vec<String>,
    tenant: Tenant,
}

impl Who {
    /// The scope its background actions live in (see `bcgraph::queue::Scope`).
    fn scope(&self) -> Option<String> {
        match self.tenant {
            Tenant::System => Some("system".into()),
            Tenant::Store(s) => Some(format!("store:{s}")),
            Tenant::None => None,
        }
    }
}

/// A table's rows: first column → every column as text.
type Table = BTreeMap<String, Vec<Option<String>>>;

struct Snapshot {
    tables: BTreeMap<String, (Vec<String>, Table)>,
}

/// One row that a cell changed: (table, key, the row before, the row after).
type Changed = (
    String,
    String,
    Option<Vec<Option<String>>>,
    Option<Vec<Option<String>>>,
);

async fn table_names(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1",
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .filter(|t| t != "seaql_migrations")
        .collect()
}

async fn columns(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let statement = match backend {
        sea_orm::DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = $1 ORDER BY ordinal_position",
            [table.into()],
        ),
        _ => Statement::from_string(backend, format!("SELECT name FROM pragma_table_info('{table}')")),
    };
    let rows = db.query_all_raw(statement).await.unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

impl Snapshot {
    /// Every row of every table.
    async fn take(db: &DatabaseConnection, names: &[(String, Vec<String>)]) -> Snapshot {
        let mut tables = BTreeMap::new();
        for (table, cols) in names {
            let list: Vec<String> = cols.iter().map(|c| format!("CAST(\"{c}\" AS TEXT)")).collect();
            let sql = format!("SELECT {} FROM \"{table}\"", list.join(", "));
            let rows = db
                .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap();
            let mut out = Table::new();
            for row in rows {
                let values: Vec<Option<String>> = (0..cols.len())
                    .map(|i| row.try_get_by_index::<Option<String>>(i).unwrap())
                    .collect();
                out.insert(values[0].clone().unwrap_or_default(), values);
            }
            tables.insert(table.clone(), (cols.clone(), out));
        }
        Snapshot { tables }
    }

    fn diff(&self, after: &Snapshot) -> Vec<Changed> {
        let mut out = Vec::new();
        for (table, (_, before)) in &self.tables {
            let empty = Table::new();
            let now = after.tables.get(table).map(|(_, t)| t).unwrap_or(&empty);
            for (key, row) in before {
                match now.get(key) {
                    Some(new) if new == row => {}
                    new => out.push((table.clone(), key.clone(), Some(row.clone()), new.cloned())),
                }
            }
            for (key, row) in now {
                if !before.contains_key(key) {
                    out.push((table.clone(), key.clone(), None, Some(row.clone())));
                }
            }
        }
        out
    }

    fn column_of(&self, table: &str, column: &str) -> Option<usize> {
        self.tables.get(table)?.0.iter().position(|c| c == column)
    }
}

/// What an allowed write must be seen to do.
enum Effect {
    /// This row (by its key) changed or went.
    Touches(String, String),
    /// This row went.
    Removes(String, String),
    /// A new row in this table.
    Adds(String),
    /// Something changed (a global action's effect depends on BigCommerce).
    Runs,
}

/// One write cell.
struct Write {
    what: String,
    doc: String,
    vars: Value,
    /// Where the action's result (`{success errors}`) is in `data`.
    path: Vec<String>,
    /// Grants it needs, all of them.
    needs: Vec<(ModelId, &'static str)>,
    /// A global action it runs, by `namespace/name`.
    global: Option<(Option<String>, String)>,
    /// Stores whose rows it touches: the caller must reach each.
    stores: Vec<i64>,
    /// Any other rule that refuses it whoever asks (a platform field, a caller's id).
    refused_anyway: bool,
    /// Only the system may do it (create or delete a store).
    system_only: bool,
    effect: Effect,
    /// The result selects the written record: it needs the read grant of this model.
    returns: Option<ModelId>,
    /// The code a store's caller gets when only its store stops it, when not the one its
    /// effect implies (a new row elsewhere: `GGT_PERMISSION_DENIED`; another store's
    /// record: `GGT_RECORD_NOT_FOUND`, it looks like none).
    foreign_code: Option<&'static str>,
}

impl Write {
    /// The same cell (to ask the verdict with one rule left out).
    fn same(&self) -> Write {
        Write {
            what: self.what.clone(),
            doc: self.doc.clone(),
            vars: self.vars.clone(),
            path: self.path.clone(),
            needs: self.needs.clone(),
            global: self.global.clone(),
            stores: self.stores.clone(),
            refused_anyway: self.refused_anyway,
            system_only: self.system_only,
            effect: match &self.effect {
                Effect::Touches(t, k) => Effect::Touches(t.clone(), k.clone()),
                Effect::Removes(t, k) => Effect::Removes(t.clone(), k.clone()),
                Effect::Adds(t) => Effect::Adds(t.clone()),
                Effect::Runs => Effect::Runs,
            },
            returns: self.returns,
            foreign_code: self.foreign_code,
        }
    }

    /// What a store's caller must be told when the other store is all that stops it.
    fn code_for_a_foreign_store(&self) -> &'static str {
        self.foreign_code.unwrap_or(match self.effect {
            Effect::Adds(_) | Effect::Runs => "GGT_PERMISSION_DENIED",
            Effect::Touches(..) | Effect::Removes(..) => "GGT_RECORD_NOT_FOUND",
        })
    }
}

/// One read cell: the ids found at `path` (a connection or a record), or a refusal.
struct Read {
    what: String,
    doc: String,
    vars: Value,
    /// Read grants it needs.
    needs: Vec<ModelId>,
    /// The ids it must answer with, computed for the caller's tenant.
    expect: Vec<i64>,
}

struct Matrix {
    app: TestApp,
    perms: Permissions,
    registry: Arc<Registry>,
    tables: Vec<(String, Vec<String>)>,
    a: i64,
    b: i64,
    hashes: HashMap<i64, String>,
    /// (model, store) → a record every read is checked against.
    fixture: HashMap<(ModelId, i64), i64>,
    next: AtomicI64,
    cells: usize,
    failures: Vec<String>,
    _fake: FakeBigCommerce,
}

fn ns_of(model: &Model) -> &str {
    &model.namespace
}

/// A string field an update can set, or `bigcommerceId` (with a number no row has).
fn probe(model: &Model) -> Option<(String, Value)> {
    static NEXT: AtomicI64 = AtomicI64::new(900_000);
    let field = model.fields.iter().enumerate().find(|(i, f)| {
        f.ty == FieldType::String
            && f.enum_values.is_empty()
            && !f.hidden
            && !f.platform
            && !f.is_managed()
            && model.relation_of_field(*i).is_none()
    });
    match field {
        Some((_, f)) => Some((f.api_id.clone(), json!("written by the matrix"))),
        None if model.field("bigcommerceId").is_some() => Some((
            "bigcommerceId".into(),
            json!(NEXT.fetch_add(1, Ordering::Relaxed)),
        )),
        None => None,
    }
}

fn dig<'v>(value: &'v Value, path: &[String]) -> &'v Value {
    path.iter().fold(value, |v, key| &v[key.as_str()])
}

fn codes(response: &Value) -> Vec<String> {
    crate::support::error_codes(response)
}

impl Matrix {
    async fn start(permissions: Option<&str>) -> Matrix {
        let fake = FakeBigCommerce::start(
            FakeOptions::default()
                .rate_limit(None)
                .store(StoreSpec::new("storea", TOKEN).products(2).orders(1).customers(1))
                .store(StoreSpec::new("storeb", TOKEN).products(2).orders(1).customers(1)),
        )
        .await
        .expect("fake starts");
        let file = permissions.map(|text| {
            let path =
                std::env::temp_dir().join(format!("bcgraph-permissions-{}.json", rand::random::<u64>()));
            std::fs::write(&path, text).unwrap();
            path
        });
        // Thousands of requests from one address: rate limits are another test's subject.
        let mut vars = vec![
            ("BIGCOMMERCE_API_URL", fake.url().to_owned()),
            ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "0".to_owned()),
            ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "0".to_owned()),
        ];
        if let Some(path) = &file {
            vars.push(("BCGRAPH_PERMISSIONS", path.display().to_string()));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = TestApp::start_configured(GlobalActions::default(), &vars).await;
        let perms = match permissions {
            Some(text) => Permissions::from_json(text).unwrap(),
            None => Permissions::default(),
        };
        let registry = app.api.registry.clone();
        let a = seed::store(&app.db, "storea").await;
        let b = seed::store(&app.db, "storeb").await;
        let mut tables = Vec::new();
        for t in table_names(&app.db).await {
            let cols = columns(&app.db, &t).await;
            tables.push((t, cols));
        }
        let mut m = Matrix {
            app,
            perms,
            registry,
            tables,
            a,
            b,
            hashes: HashMap::from([(a, "storea".to_owned()), (b, "storeb".to_owned())]),
            fixture: HashMap::new(),
            next: AtomicI64::new(100_000),
            cells: 0,
            failures: Vec::new(),
            _fake: fake,
        };
        // One record of every model in each store, linked to parents of the same store.
        let registry = m.registry.clone();
        for model in registry.models.iter().filter(|m| !m.is_tenant) {
            for (store, n) in [(a, 1), (b, 2)] {
                let mut input = m.base_input(model, store);
                for (i, rel) in model.relations.iter().enumerate() {
                    if let RelationKind::BelongsTo { .. } = rel.kind
                        && Some(i) != model.tenant
                        && let Some(parent) = m.fixture.get(&(rel.target, store))
                    {
                        input[&rel.api_id] = json!({"_link": parent});
                    }
                }
                if let Some(search) = model.searchable.first() {
                    input[&model.fields[*search].api_id] = json!(format!("shared text {n}"));
                }
                let record = m
                    .app
                    .api
                    .model_by_id(model.id)
                    .create(input)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", model.api_id));
                m.fixture.insert((model.id, store), record.id());
            }
        }
        m
    }

    /// The identities of this gateway.
    async fn identities(&self, restricted: bool) -> Vec<Who> {
        let session = payload::header(&payload::jwt("storea", 7));
        let jwt = payload::jwt("storea", 7);
        let mut who = vec![
            Who {
                name: if restricted {
                    "anonymous (granted everything)"
                } else {
                    "anonymous"
                },
                auth: None,
                ws: json!({"type": "anonymous"}),
                roles: vec![ROLE_ANONYMOUS.into()],
                tenant: Tenant::None,
            },
            Who {
                name: if restricted {
                    "store A staff, restricted role"
                } else {
                    "store A app session"
                },
                auth: Some(session),
                ws: json!({"type": "custom", "bigcommerceSignedPayload": jwt}),
                roles: vec![ROLE_APP.into()],
                tenant: Tenant::Store(self.a),
            },
            Who {
                name: "system-admin key",
                auth: Some(format!("Bearer {}", self.app.admin_key)),
                ws: json!({"type": "api-key", "key": self.app.admin_key}),
                roles: vec![ROLE_ADMIN.into()],
                tenant: Tenant::System,
            },
        ];
        if restricted {
            let role = "Role-Integration".to_owned();
            let (_, key) = api_keys::create(
                &self.app.db,
                "integration",
                std::slice::from_ref(&role),
                Some("storea"),
            )
            .await
            .unwrap();
            who.push(Who {
                name: "store A key, Role-Integration",
                auth: Some(format!("Bearer {key}")),
                ws: json!({"type": "api-key", "key": key}),
                roles: vec![role],
                tenant: Tenant::Store(self.a),
            });
        }
        who
    }

    fn fresh(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// What a new record of `model` in `store` needs: every required field, unique
    /// values where they must be.
    fn base_input(&self, model: &Model, store: i64) -> Value {
        let mut input = json!({});
        if model.field("bigcommerceId").is_some() {
            input["bigcommerceId"] = json!(self.fresh());
        }
        for (i, f) in model.fields.iter().enumerate() {
            if !f.is_required() || model.relation_of_field(i).is_some() || input.get(&f.api_id).is_some() {
                continue;
            }
            input[&f.api_id] = match f.ty {
                _ if !f.enum_values.is_empty() => json!(f.enum_values[0]),
                FieldType::String => json!(format!("v{}", self.fresh())),
                FieldType::Integer | FieldType::Float => json!(self.fresh()),
                FieldType::Boolean => json!(false),
                FieldType::Json => json!({}),
                FieldType::DateTime => json!("2026-01-01T00:00:00.000Z"),
                FieldType::Id | FieldType::Enum => continue,
            };
        }
        if let Some(t) = model.tenant {
            input[&model.relations[t].api_id] = json!({"_link": store});
        }
        input
    }

    /// A record made by the system for one cell.
    async fn scratch(&self, model: &Model, store: i64, extra: Value) -> i64 {
        let mut input = self.base_input(model, store);
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                input[k] = v;
            }
        }
        self.app
            .api
            .model_by_id(model.id)
            .create(input)
            .await
            .unwrap_or_else(|e| panic!("scratch {}: {e}", model.api_id))
            .id()
    }

    async fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.app.db, &self.tables).await
    }

    async fn ask(&self, who: &Who, doc: &str, vars: Value) -> Value {
        self.app.gql_as(who.auth.as_deref(), doc, vars).await.1
    }

    fn fail(&mut self, who: &Who, what: &str, why: String) {
        self.failures.push(format!("[{}] {what}: {why}", who.name));
    }

    /// Rows of registry tables (and background actions) a cell changed that belong to a
    /// store the caller does not reach.
    fn foreign_rows(&self, who: &Who, before: &Snapshot, diff: &[Changed]) -> Vec<String> {
        let mut out = Vec::new();
        for (table, key, old, new) in diff {
            let column = match self.registry.models.iter().find(|m| m.table == *table) {
                Some(model) => match model.tenant_scope() {
                    Some(f) => model.fields[f].column.clone(),
                    None => continue,
                },
                None if table == "bcgraph_background_action" => "tenant".to_owned(),
                None => continue,
            };
            let Some(i) = before.column_of(table, &column) else {
                continue;
            };
            for row in [old, new].into_iter().flatten() {
                let store = row[i].as_deref().and_then(|s| s.parse::<i64>().ok());
                // A background action of the system (no store) is the system's.
                let reached = match store {
                    Some(s) => who.tenant.admits(s),
                    None => who.tenant.is_system(),
                };
                if !reached {
                    out.push(format!("{table} {key}"));
                }
            }
        }
        out
    }

    fn allows(&self, who: &Who, w: &Write) -> bool {
        let model_grants = w
            .needs
            .iter()
            .all(|(m, op)| self.perms.allows(&who.roles, self.registry.get(*m), op));
        let global = w
            .global
            .as_ref()
            .is_none_or(|(ns, name)| self.perms.allows_global(&who.roles, ns.as_deref(), name));
        model_grants
            && global
            && w.stores.iter().all(|s| who.tenant.admits(*s))
            && !w.refused_anyway
            && (!w.system_only || who.tenant.is_system())
    }

    async fn write(&mut self, who: &Who, w: Write) {
        self.cells += 1;
        let before = self.snapshot().await;
        let response = self.ask(who, &w.doc, w.vars.clone()).await;
        let after = self.snapshot().await;
        let diff = before.diff(&after);
        let result = dig(&response["data"], &w.path).clone();
        let allowed = self.allows(who, &w);
        let what = w.what.clone();
        if allowed {
            if result["success"] != true {
                self.fail(who, &what, format!("allowed, but answered {response}"));
                return;
            }
            let seen = match &w.effect {
                Effect::Touches(table, key) => diff.iter().any(|(t, k, _, _)| t == table && k == key),
                Effect::Removes(table, key) => diff
                    .iter()
                    .any(|(t, k, _, new)| t == table && k == key && new.is_none()),
                Effect::Adds(table) => diff.iter().any(|(t, _, old, _)| t == table && old.is_none()),
                Effect::Runs => true,
            };
            if !seen {
                self.fail(
                    who,
                    &what,
                    format!("allowed, but its effect is missing: {diff:?}"),
                );
            }
            let foreign = self.foreign_rows(who, &before, &diff);
            if !foreign.is_empty() {
                self.fail(who, &what, format!("changed rows of another store: {foreign:?}"));
            }
            // The written record is read like any other.
            if let Some(model) = w.returns {
                let readable = self.perms.allows(&who.roles, self.registry.get(model), "read");
                let denied = codes(&response).iter().any(|c| c == "GGT_PERMISSION_DENIED");
                if readable == denied {
                    self.fail(
                        who,
                        &what,
                        format!("the returned record (read grant: {readable}) answered {response}"),
                    );
                }
            }
        } else {
            let refused = result["success"] == false
                && result["errors"].as_array().is_some_and(|e| !e.is_empty())
                || (result.is_null() && !codes(&response).is_empty());
            if !refused {
                self.fail(who, &what, format!("should be refused, answered {response}"));
            }
            // A store's caller stopped only by the other store is told what the contract
            // says: another store's record looks missing, a link to another store is refused.
            // A caller without a store is refused a new row as such (every existing record
            // looks missing to it).
            let only_the_store = Write {
                stores: Vec::new(),
                ..w.same()
            };
            let told = match who.tenant {
                Tenant::Store(_) => true,
                // A top-level create: nested ones first find their parent missing.
                Tenant::None => {
                    matches!(w.effect, Effect::Adds(_))
                        && (w.what.starts_with("create") || w.what.starts_with("bulkCreate"))
                }
                Tenant::System => false,
            };
            if told && refused && self.allows(who, &only_the_store) {
                let code = result["errors"][0]["code"].as_str().unwrap_or("");
                // A store-less caller's top-level create is refused as such, whatever
                // it links.
                let expected = match who.tenant {
                    Tenant::None => "GGT_PERMISSION_DENIED",
                    _ => w.code_for_a_foreign_store(),
                };
                if code != expected {
                    self.fail(
                        who,
                        &what,
                        format!("refused with {code}, expected {expected}: {response}"),
                    );
                }
            }
            // Only the platform's rule stops it (creating or deleting a store, for a caller
            // whose grants and store would allow it): that is a refusal, not an accident.
            let not_platform_only = Write {
                system_only: false,
                ..w.same()
            };
            if w.system_only && refused && self.allows(who, &not_platform_only) {
                let code = result["errors"][0]["code"].as_str().unwrap_or("");
                if code != "GGT_PERMISSION_DENIED" {
                    self.fail(
                        who,
                        &what,
                        format!("refused with {code}, expected GGT_PERMISSION_DENIED: {response}"),
                    );
                }
            }
            if !diff.is_empty() {
                self.fail(who, &what, format!("refused, but changed {diff:?}"));
            }
        }
    }

    async fn read(&mut self, who: &Who, r: Read) {
        self.cells += 1;
        let before = self.snapshot().await;
        let response = self.ask(who, &r.doc, r.vars.clone()).await;
        let diff = before.diff(&self.snapshot().await);
        if !diff.is_empty() {
            self.fail(who, &r.what, format!("a read changed {diff:?}"));
        }
        let readable = r
            .needs
            .iter()
            .all(|m| self.perms.allows(&who.roles, self.registry.get(*m), "read"));
        if !readable {
            if !codes(&response).iter().any(|c| c == "GGT_PERMISSION_DENIED") {
                self.fail(who, &r.what, format!("should be refused, answered {response}"));
            }
            return;
        }
        if !codes(&response).is_empty() {
            self.fail(who, &r.what, format!("allowed, but answered {response}"));
            return;
        }
        let mut found = Vec::new();
        collect_ids(&response["data"], &mut found);
        found.sort();
        found.dedup();
        let mut expect = r.expect.clone();
        expect.sort();
        expect.dedup();
        if found != expect {
            self.fail(who, &r.what, format!("saw ids {found:?}, expected {expect:?}"));
        }
    }

    /// Every row of `model`: (id, store, foreign keys by field).
    async fn rows(&self, model: &Model) -> Vec<(i64, i64, HashMap<usize, Option<i64>>)> {
        let scope = model.tenant_scope().expect("store-scoped");
        let fks: Vec<usize> = model
            .relations
            .iter()
            .filter_map(|r| match r.kind {
                RelationKind::BelongsTo { field } => Some(field),
                _ => None,
            })
            .collect();
        let mut cols = vec!["id".to_owned(), model.fields[scope].column.clone()];
        cols.extend(fks.iter().map(|f| model.fields[*f].column.clone()));
        let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
        let sql = format!("SELECT {} FROM \"{}\"", list.join(", "), model.table);
        let rows = self
            .app
            .db
            .query_all_raw(Statement::from_string(self.app.db.get_database_backend(), sql))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                let fk_values = fks
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (*f, r.try_get_by_index::<Option<i64>>(i + 2).unwrap()))
                    .collect();
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                    fk_values,
                )
            })
            .collect()
    }
}

/// Every `id` in a response, as numbers.
fn collect_ids(value: &Value, out: &mut Vec<i64>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "id" {
                    if let Some(id) = v.as_str().and_then(|s| s.parse().ok()) {
                        out.push(id);
                    }
                } else {
                    collect_ids(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, out)),
        _ => {}
    }
}

/// The reads of one model, for one caller.
async fn reads(m: &mut Matrix, who: &Who, model: &Model) {
    let registry = m.registry.clone();
    let (ns, api, plural, t) = (
        ns_of(model).to_owned(),
        model.api_id.clone(),
        model.plural_api_id.clone(),
        model.type_name(),
    );
    let rows = m.rows(model).await;
    let visible: Vec<i64> = rows
        .iter()
        .filter(|(_, s, _)| who.tenant.admits(*s))
        .map(|(id, _, _)| *id)
        .collect();
    for store in [m.a, m.b] {
        let id = if model.is_tenant {
            store
        } else {
            m.fixture[&(model.id, store)]
        };
        let expect = if who.tenant.admits(store) {
            vec![id]
        } else {
            vec![]
        };
        m.read(
            who,
            Read {
                what: format!("{api}(id) of store {store}"),
                doc: format!("query($id: GadgetID!) {{ {ns} {{ {api}(id: $id) {{ id }} }} }}"),
                vars: json!({"id": id.to_string()}),
                needs: vec![model.id],
                expect: expect.clone(),
            },
        )
        .await;
        m.read(
            who,
            Read {
                what: format!("{plural}(filter id) of store {store}"),
                doc: format!(
                    "query($f: [{t}Filter!]) {{ {ns} {{ {plural}(first: 250, filter: $f) {{ edges {{ node {{ id }} }} }} }} }}"
                ),
                vars: json!({"f": {"id": {"equals": id.to_string()}}}),
                needs: vec![model.id],
                expect,
            },
        )
        .await;
    }
    m.read(
        who,
        Read {
            what: format!("{plural} (every row)"),
            doc: format!("{{ {ns} {{ {plural}(first: 250) {{ edges {{ node {{ id _all }} }} }} }} }}"),
            vars: json!({}),
            needs: vec![model.id],
            expect: visible.clone(),
        },
    )
    .await;
    if !model.searchable.is_empty() && !model.is_tenant {
        let expect = [m.a, m.b]
            .into_iter()
            .filter(|s| who.tenant.admits(*s))
            .map(|s| m.fixture[&(model.id, s)])
            .collect();
        m.read(
            who,
            Read {
                what: format!("{plural}(search)"),
                doc: format!(
                    "{{ {ns} {{ {plural}(first: 250, search: \"shared text\") {{ edges {{ node {{ id }} }} }} }} }}"
                ),
                vars: json!({}),
                needs: vec![model.id],
                expect,
            },
        )
        .await;
    }
    for rel in &model.relations {
        let target = registry.get(rel.target);
        let target_rows = m.rows(target).await;
        let admitted = |id: i64| {
            target_rows
                .iter()
                .any(|(t, s, _)| *t == id && who.tenant.admits(*s))
        };
        // The related records of the visible rows, as the caller sees them.
        let related: Vec<i64> = match rel.kind {
            RelationKind::BelongsTo { field } => rows
                .iter()
                .filter(|(id, _, _)| visible.contains(id))
                .filter_map(|(_, _, fks)| fks.get(&field).copied().flatten())
                .filter(|id| admitted(*id))
                .collect(),
            RelationKind::HasMany { target_field } => target_rows
                .iter()
                .filter(|(_, s, fks)| {
                    who.tenant.admits(*s)
                        && fks
                            .get(&target_field)
                            .copied()
                            .flatten()
                            .is_some_and(|p| visible.contains(&p))
                })
                .map(|(id, _, _)| *id)
                .collect(),
        };
        let selection = match rel.kind {
            RelationKind::BelongsTo { .. } => format!("{} {{ id }}", rel.api_id),
            RelationKind::HasMany { .. } => {
                format!("{}(first: 250) {{ edges {{ node {{ id }} }} }}", rel.api_id)
            }
        };
        let mut expect = visible.clone();
        expect.extend(related);
        m.read(
            who,
            Read {
                what: format!("{plural} with nested {}", rel.api_id),
                doc: format!(
                    "{{ {ns} {{ {plural}(first: 250) {{ edges {{ node {{ id {selection} }} }} }} }} }}"
                ),
                vars: json!({}),
                needs: vec![model.id, target.id],
                expect,
            },
        )
        .await;
        // Filtering through the relationship by each store's related record.
        for store in [m.a, m.b] {
            let Some(other) = (if target.is_tenant {
                Some(store)
            } else {
                m.fixture.get(&(target.id, store)).copied()
            }) else {
                continue;
            };
            let (filter, matches): (Value, Vec<i64>) = match rel.kind {
                RelationKind::BelongsTo { field } => (
                    json!({rel.api_id.clone(): {"id": {"equals": other.to_string()}}}),
                    rows.iter()
                        .filter(|(id, _, fks)| {
                            visible.contains(id)
                                && fks.get(&field).copied().flatten() == Some(other)
                                && admitted(other)
                        })
                        .map(|(id, _, _)| *id)
                        .collect(),
                ),
                RelationKind::HasMany { target_field } => (
                    json!({rel.api_id.clone(): {"some": {"id": {"equals": other.to_string()}}}}),
                    target_rows
                        .iter()
                        .filter(|(id, s, _)| *id == other && who.tenant.admits(*s))
                        .filter_map(|(_, _, fks)| fks.get(&target_field).copied().flatten())
                        .filter(|p| visible.contains(p))
                        .collect(),
                ),
            };
            m.read(
                who,
                Read {
                    what: format!("{plural}(filter through {} = store {store}'s)", rel.api_id),
                    doc: format!(
                        "query($f: [{t}Filter!]) {{ {ns} {{ {plural}(first: 250, filter: $f) {{ edges {{ node {{ id }} }} }} }} }}"
                    ),
                    vars: json!({"f": filter}),
                    needs: vec![model.id, target.id],
                    expect: matches,
                },
            )
            .await;
        }
    }
}

/// A mutation document of `model`'s namespace that selects `{success errors{code}}` and more.
fn mutation(model: &Model, field: &str, args: &str, params: &str, more: &str) -> (String, Vec<String>) {
    let ns = ns_of(model);
    let head = if params.is_empty() {
        String::new()
    } else {
        format!("({params})")
    };
    (
        format!("mutation{head} {{ {ns} {{ {field}{args} {{ success errors {{ code }} {more} }} }} }}"),
        vec![ns.to_owned(), field.to_owned()],
    )
}

/// The writes of one model, single and bulk, against a record of each store.
async fn writes(m: &mut Matrix, who: &Who, model: &Model) {
    let (api, t, tp) = (model.api_id.clone(), model.type_name(), model.plural_type_name());
    let (p, pp) = (pascal(&model.api_id), pascal(&model.plural_api_id));
    let table = model.table.clone();
    let probe = probe(model);
    for store in [m.a, m.b] {
        // Create: into a store of the caller's choosing.
        let input = m.base_input(model, store);
        let (doc, path) = mutation(
            model,
            &format!("create{p}"),
            &format!("({api}: $input)"),
            &format!("$input: Create{t}Input"),
            &format!("{api} {{ id }}"),
        );
        m.write(
            who,
            Write {
                what: format!("create{p} in store {store}"),
                doc,
                vars: json!({"input": input}),
                path,
                needs: vec![(model.id, "create")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: model.is_tenant,
                effect: Effect::Adds(table.clone()),
                returns: Some(model.id),
                foreign_code: None,
            },
        )
        .await;
        let (doc, path) = mutation(
            model,
            &format!("bulkCreate{pp}"),
            "(inputs: $inputs)",
            &format!("$inputs: [BulkCreate{tp}Input!]!"),
            "",
        );
        m.write(
            who,
            Write {
                what: format!("bulkCreate{pp} in store {store}"),
                doc,
                vars: json!({"inputs": [{api.clone(): m.base_input(model, store)}, {api.clone(): m.base_input(model, store)}]}),
                path,
                needs: vec![(model.id, "create")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: model.is_tenant,
                effect: Effect::Adds(table.clone()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
        // A bulk element linking a record (not the store) of `store`: bulk.rs resolves the
        // links of a whole batch in one statement per target model, apart from the
        // one-record path, so only a cell of its own reaches that check.
        let registry = m.registry.clone();
        for (index, rel) in model.relations.iter().enumerate() {
            if Some(index) == model.tenant || !matches!(rel.kind, RelationKind::BelongsTo { .. }) {
                continue;
            }
            let target = registry.get(rel.target);
            let linked = m.scratch(target, store, json!({})).await;
            let mut element = m.base_input(model, m.a);
            element[&rel.api_id] = json!({"_link": linked.to_string()});
            let (doc, path) = mutation(
                model,
                &format!("bulkCreate{pp}"),
                "(inputs: $inputs)",
                &format!("$inputs: [BulkCreate{tp}Input!]!"),
                "",
            );
            m.write(
                who,
                Write {
                    what: format!(
                        "bulkCreate{pp} in store {} linking `{}` of store {store}",
                        m.a, rel.api_id
                    ),
                    doc,
                    vars: json!({"inputs": [{api.clone(): element}]}),
                    path,
                    needs: vec![(model.id, "create"), (target.id, "read")],
                    global: None,
                    stores: vec![m.a, store],
                    refused_anyway: false,
                    system_only: model.is_tenant,
                    effect: Effect::Adds(table.clone()),
                    returns: None,
                    // Another store's record looks like none, as on the one-record path.
                    foreign_code: Some("GGT_RECORD_NOT_FOUND"),
                },
            )
            .await;
        }
        if model.is_tenant {
            continue;
        }
        let Some((field, value)) = probe.clone() else {
            continue;
        };
        // Update, upsert and delete of a record of the store, made for the cell.
        let target = m.scratch(model, store, json!({})).await;
        let (doc, path) = mutation(
            model,
            &format!("update{p}"),
            &format!("(id: $id, {api}: $input)"),
            &format!("$id: GadgetID!, $input: Update{t}Input"),
            &format!("{api} {{ id }}"),
        );
        m.write(
            who,
            Write {
                what: format!("update{p} of store {store}"),
                doc,
                vars: json!({"id": target.to_string(), "input": {field.clone(): value.clone()}}),
                path,
                needs: vec![(model.id, "update")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Touches(table.clone(), target.to_string()),
                returns: Some(model.id),
                foreign_code: None,
            },
        )
        .await;
        let target = m.scratch(model, store, json!({})).await;
        let (doc, path) = mutation(
            model,
            &format!("bulkUpdate{pp}"),
            "(inputs: $inputs)",
            &format!("$inputs: [BulkUpdate{tp}Input!]!"),
            "",
        );
        m.write(
            who,
            Write {
                what: format!("bulkUpdate{pp} of store {store}"),
                doc,
                vars: json!({"inputs": [{"id": target.to_string(), api.clone(): {field.clone(): value.clone()}}]}),
                path,
                needs: vec![(model.id, "update")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Touches(table.clone(), target.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
        let upsert = mutation(
            model,
            &format!("upsert{p}"),
            &format!("(on: $on, {api}: $input)"),
            &format!("$on: [String!], $input: Upsert{t}Input"),
            "",
        );
        let target = m.scratch(model, store, json!({})).await;
        m.write(
            who,
            Write {
                what: format!("upsert{p}(on id) of store {store}"),
                doc: upsert.0.clone(),
                vars: json!({"on": ["id"], "input": {"id": target.to_string(), field.clone(): value.clone()}}),
                path: upsert.1.clone(),
                needs: vec![(model.id, "create"), (model.id, "update")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Touches(table.clone(), target.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
        if let Some(store_rel) = model.tenant.map(|i| model.relations[i].api_id.clone())
            && model.field("bigcommerceId").is_some()
        {
            let bc = m.fresh();
            let target = m.scratch(model, store, json!({"bigcommerceId": bc})).await;
            m.write(
                who,
                Write {
                    what: format!("upsert{p}(on bigcommerceId and store) of store {store}"),
                    doc: upsert.0.clone(),
                    vars: json!({"on": ["bigcommerceId", store_rel.clone()],
                                 "input": {"bigcommerceId": bc, store_rel.clone(): {"_link": store.to_string()}, field.clone(): value.clone()}}),
                    path: upsert.1.clone(),
                    needs: vec![(model.id, "create"), (model.id, "update")],
                    global: None,
                    stores: vec![store],
                    refused_anyway: false,
                    system_only: false,
                    effect: Effect::Touches(table.clone(), target.to_string()),
                    returns: None,
                    foreign_code: Some("GGT_PERMISSION_DENIED"),
                },
            )
            .await;
        }
        let target = m.scratch(model, store, json!({})).await;
        let (doc, path) = mutation(
            model,
            &format!("bulkUpsert{pp}"),
            "(inputs: $inputs)",
            &format!("$inputs: [BulkUpsert{tp}Input!]!"),
            "",
        );
        m.write(
            who,
            Write {
                what: format!("bulkUpsert{pp}(on id) of store {store}"),
                doc,
                vars: json!({"inputs": [{"on": ["id"], api.clone(): {"id": target.to_string(), field.clone(): value.clone()}}]}),
                path,
                needs: vec![(model.id, "create"), (model.id, "update")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Touches(table.clone(), target.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
        let target = m.scratch(model, store, json!({})).await;
        let (doc, path) = mutation(model, &format!("delete{p}"), "(id: $id)", "$id: GadgetID!", "");
        m.write(
            who,
            Write {
                what: format!("delete{p} of store {store}"),
                doc,
                vars: json!({"id": target.to_string()}),
                path,
                needs: vec![(model.id, "delete")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Removes(table.clone(), target.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
        let target = m.scratch(model, store, json!({})).await;
        let (doc, path) = mutation(
            model,
            &format!("bulkDelete{pp}"),
            "(ids: $ids)",
            "$ids: [GadgetID!]!",
            "",
        );
        m.write(
            who,
            Write {
                what: format!("bulkDelete{pp} of store {store}"),
                doc,
                vars: json!({"ids": [target.to_string()]}),
                path,
                needs: vec![(model.id, "delete")],
                global: None,
                stores: vec![store],
                refused_anyway: false,
                system_only: false,
                effect: Effect::Removes(table.clone(), target.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
    }
    if model.is_tenant {
        store_writes(m, who, model).await;
        return;
    }
    // No caller chooses a new record's primary key, not even the system.
    let (doc, path) = mutation(
        model,
        &format!("upsert{p}"),
        &format!("(on: [\"id\"], {api}: $input)"),
        &format!("$input: Upsert{t}Input"),
        "",
    );
    let mut input = m.base_input(model, m.a);
    input["id"] = json!(i64::MAX.to_string());
    m.write(
        who,
        Write {
            what: format!("upsert{p} with a new id of the caller's choosing"),
            doc,
            vars: json!({"input": input}),
            path,
            needs: vec![(model.id, "create"), (model.id, "update")],
            global: None,
            stores: vec![m.a],
            refused_anyway: true,
            system_only: false,
            effect: Effect::Runs,
            returns: None,
            foreign_code: None,
        },
    )
    .await;
}

/// The store row is the platform's: its fields never change by a caller, stores are
/// created and removed only by the system.
async fn store_writes(m: &mut Matrix, who: &Who, model: &Model) {
    let table = model.table.clone();
    for store in [m.a, m.b] {
        for (field, value) in [
            ("ownerEmail", json!("taken@example.com")),
            ("state", json!("uninstalled")),
        ] {
            let (doc, path) = mutation(
                model,
                "updateStore",
                "(id: $id, store: $input)",
                "$id: GadgetID!, $input: UpdateBigcommerceStoreInput",
                "",
            );
            m.write(
                who,
                Write {
                    what: format!("updateStore({field}) of store {store}"),
                    doc,
                    vars: json!({"id": store.to_string(), "input": {field: value}}),
                    path,
                    needs: vec![(model.id, "update")],
                    global: None,
                    stores: vec![store],
                    refused_anyway: true,
                    system_only: false,
                    effect: Effect::Runs,
                    returns: None,
                    foreign_code: None,
                },
            )
            .await;
        }
    }
    // A store of its own, so that an allowed delete takes nothing else with it.
    let hash = format!("scratch{}", m.fresh());
    let scratch = seed::store(&m.app.db, &hash).await;
    let (doc, path) = mutation(model, "deleteStore", "(id: $id)", "$id: GadgetID!", "");
    m.write(
        who,
        Write {
            what: "deleteStore".into(),
            doc,
            vars: json!({"id": scratch.to_string()}),
            path,
            needs: vec![(model.id, "delete")],
            global: None,
            stores: vec![scratch],
            refused_anyway: false,
            system_only: true,
            effect: Effect::Removes(table.clone(), scratch.to_string()),
            returns: None,
            foreign_code: None,
        },
    )
    .await;
    if let Tenant::Store(own) = who.tenant {
        let (doc, path) = mutation(model, "deleteStore", "(id: $id)", "$id: GadgetID!", "");
        m.write(
            who,
            Write {
                what: "deleteStore of its own store".into(),
                doc,
                vars: json!({"id": own.to_string()}),
                path,
                needs: vec![(model.id, "delete")],
                global: None,
                stores: vec![own],
                refused_anyway: false,
                system_only: true,
                effect: Effect::Removes(table, own.to_string()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
    }
}

/// Every nested form of `model`'s relations, through an update of a record of store A.
async fn nested(m: &mut Matrix, who: &Who, model: &Model) {
    if model.is_tenant || !model.generic_writes {
        return;
    }
    let registry = m.registry.clone();
    let (api, t, p) = (model.api_id.clone(), model.type_name(), pascal(&model.api_id));
    let (doc, path) = mutation(
        model,
        &format!("update{p}"),
        &format!("(id: $id, {api}: $input)"),
        &format!("$id: GadgetID!, $input: Update{t}Input"),
        "",
    );
    let a = m.a;
    for (index, rel) in model.relations.iter().enumerate() {
        let target = registry.get(rel.target);
        if !target.generic_writes {
            continue;
        }
        let target_table = target.table.clone();
        for store in [m.a, m.b] {
            let parent = m.scratch(model, a, json!({})).await;
            let cell = |what: &str,
                        input: Value,
                        needs: Vec<(ModelId, &'static str)>,
                        stores: Vec<i64>,
                        effect: Effect| Write {
                what: format!("update{p}({}: {what} of store {store})", rel.api_id),
                doc: doc.clone(),
                vars: json!({"id": parent.to_string(), "input": {rel.api_id.clone(): input}}),
                path: path.clone(),
                needs,
                global: None,
                stores,
                refused_anyway: false,
                system_only: false,
                effect,
                returns: None,
                foreign_code: None,
            };
            let update = (model.id, "update");
            match rel.kind {
                RelationKind::BelongsTo { .. } if Some(index) == model.tenant => {
                    if store != a {
                        let mut w = cell(
                            "_link (a move)",
                            json!({"_link": store.to_string()}),
                            vec![update],
                            vec![a, store],
                            Effect::Touches(model.table.clone(), parent.to_string()),
                        );
                        w.foreign_code = Some("GGT_PERMISSION_DENIED");
                        m.write(who, w).await;
                    }
                }
                RelationKind::BelongsTo { field } => {
                    let linked = m.scratch(target, store, json!({})).await;
                    let w = cell(
                        "_link",
                        json!({"_link": linked.to_string()}),
                        vec![update, (target.id, "read")],
                        vec![a, store],
                        Effect::Touches(model.table.clone(), parent.to_string()),
                    );
                    m.write(who, w).await;
                    let mut create = m.base_input(target, store);
                    if let Some(tr) = target.tenant {
                        create[&target.relations[tr].api_id] = json!({"_link": store.to_string()});
                    }
                    let w = cell(
                        "create",
                        json!({"create": create}),
                        vec![update, (target.id, "create")],
                        vec![a, store],
                        Effect::Adds(target_table.clone()),
                    );
                    m.write(who, w).await;
                    if let Some((pf, pv)) = probe(target) {
                        let other = m.scratch(target, store, json!({})).await;
                        let w = cell(
                            "update",
                            json!({"update": {"id": other.to_string(), pf: pv}}),
                            vec![update, (target.id, "update")],
                            vec![a, store],
                            Effect::Touches(target_table.clone(), other.to_string()),
                        );
                        m.write(who, w).await;
                    }
                    if model.fields[field].nullable {
                        let doomed = m.scratch(target, store, json!({})).await;
                        let w = cell(
                            "delete",
                            json!({"delete": {"id": doomed.to_string()}}),
                            vec![update, (target.id, "delete")],
                            vec![a, store],
                            Effect::Removes(target_table.clone(), doomed.to_string()),
                        );
                        m.write(who, w).await;
                    }
                }
                RelationKind::HasMany { target_field } => {
                    let fk = target
                        .relation_of_field(target_field)
                        .map(|r| target.relations[r].api_id.clone());
                    let Some(fk) = fk else { continue };
                    let child_of = json!({fk.clone(): {"_link": parent}});
                    if store == a {
                        let w = cell(
                            "create",
                            json!([{"create": m.base_input(target, a)}]),
                            vec![update, (target.id, "create")],
                            vec![a],
                            Effect::Adds(target_table.clone()),
                        );
                        m.write(who, w).await;
                        // `_converge` needs what each of its writes needs; a parent
                        // without children, so that it only creates.
                        let childless = m.scratch(model, a, json!({})).await;
                        // A plain value (its store comes from the parent): converge writes
                        // those itself, many per statement.
                        let mut value = m.base_input(target, a);
                        if let Some(tr) = target.tenant {
                            value
                                .as_object_mut()
                                .unwrap()
                                .remove(&target.relations[tr].api_id);
                        }
                        let mut w = cell(
                            "_converge creating",
                            json!([{"_converge": {"values": [value]}}]),
                            vec![update, (target.id, "create")],
                            vec![a],
                            Effect::Adds(target_table.clone()),
                        );
                        w.vars["id"] = json!(childless.to_string());
                        m.write(who, w).await;
                        let parent2 = m.scratch(model, a, json!({})).await;
                        let child = m
                            .scratch(target, a, json!({fk.clone(): {"_link": parent2}}))
                            .await;
                        let mut w = cell(
                            "_converge deleting",
                            json!([{"_converge": {"values": []}}]),
                            vec![update, (target.id, "delete")],
                            vec![a],
                            Effect::Removes(target_table.clone(), child.to_string()),
                        );
                        w.vars["id"] = json!(parent2.to_string());
                        m.write(who, w).await;
                    }
                    if let Some((pf, pv)) = probe(target) {
                        let child = m.scratch(target, store, child_of.clone()).await;
                        let w = cell(
                            "update",
                            json!([{"update": {"id": child.to_string(), pf.clone(): pv.clone()}}]),
                            vec![update, (target.id, "update")],
                            vec![a, store],
                            Effect::Touches(target_table.clone(), child.to_string()),
                        );
                        m.write(who, w).await;
                        let parent3 = m.scratch(model, a, json!({})).await;
                        let child = m
                            .scratch(target, store, json!({fk.clone(): {"_link": parent3}}))
                            .await;
                        let mut w = cell(
                            "_converge updating",
                            json!([{"_converge": {"values": [{"id": child.to_string(), pf: pv}]}}]),
                            vec![update, (target.id, "update")],
                            vec![a, store],
                            Effect::Touches(target_table.clone(), child.to_string()),
                        );
                        w.vars["id"] = json!(parent3.to_string());
                        m.write(who, w).await;
                    }
                    let child = m.scratch(target, store, child_of).await;
                    let w = cell(
                        "delete",
                        json!([{"delete": {"id": child.to_string()}}]),
                        vec![update, (target.id, "delete")],
                        vec![a, store],
                        Effect::Removes(target_table.clone(), child.to_string()),
                    );
                    m.write(who, w).await;
                }
            }
        }
    }
}

/// Enqueueing every action of a model in the background.
async fn enqueues(m: &mut Matrix, who: &Who, model: &Model) {
    if !model.generic_writes || model.is_tenant {
        return;
    }
    let (api, t, tp) = (model.api_id.clone(), model.type_name(), model.plural_type_name());
    let (p, pp) = (pascal(&model.api_id), pascal(&model.plural_api_id));
    let ns = ns_of(model).to_owned();
    let record = m.fixture[&(model.id, m.a)].to_string();
    let probe = probe(model).unwrap_or(("bigcommerceId".into(), json!(1)));
    let update = json!({probe.0.clone(): probe.1.clone()});
    // (field, its arguments, the type of `$i` and its value, the grants it needs)
    type Cell = (String, Vec<String>, Option<(String, Value)>, Vec<&'static str>);
    let input = |kind: &str, value: Value| Some((format!("{kind}{t}Input"), value));
    let inputs = |kind: &str, value: Value| Some((format!("[{kind}{tp}Input!]!"), value));
    let id_arg = format!("id: \"{record}\"");
    let cells: Vec<Cell> = vec![
        (
            format!("create{p}"),
            vec![format!("{api}: $i")],
            input("Create", m.base_input(model, m.a)),
            vec!["create"],
        ),
        (
            format!("update{p}"),
            vec![id_arg.clone(), format!("{api}: $i")],
            input("Update", update.clone()),
            vec!["update"],
        ),
        (format!("delete{p}"), vec![id_arg], None, vec!["delete"]),
        (
            format!("upsert{p}"),
            vec![format!("{api}: $i")],
            input("Upsert", m.base_input(model, m.a)),
            vec!["create", "update"],
        ),
        (
            format!("bulkCreate{pp}"),
            vec!["inputs: $i".into()],
            inputs("BulkCreate", json!([{api.clone(): m.base_input(model, m.a)}])),
            vec!["create"],
        ),
        (
            format!("bulkUpdate{pp}"),
            vec!["inputs: $i".into()],
            inputs("BulkUpdate", json!([{"id": record, api.clone(): update}])),
            vec!["update"],
        ),
        (
            format!("bulkUpsert{pp}"),
            vec!["inputs: $i".into()],
            inputs("BulkUpsert", json!([{api.clone(): m.base_input(model, m.a)}])),
            vec!["create", "update"],
        ),
        (
            format!("bulkDelete{pp}"),
            vec![format!("ids: [\"{record}\"]")],
            None,
            vec!["delete"],
        ),
    ];
    for (field, mut args, input, ops) in cells {
        let (params, vars) = match input {
            Some((ty, value)) => (format!("($i: {ty})"), json!({"i": value})),
            None => (String::new(), json!({})),
        };
        args.push("backgroundOptions: {startAt: \"2099-01-01T00:00:00.000Z\"}".into());
        let handles = if field.starts_with("bulk") {
            "backgroundActions { id }"
        } else {
            "backgroundAction { id }"
        };
        let doc = format!(
            "mutation{params} {{ background {{ {ns} {{ {field}({}) {{ success errors {{ code }} {handles} }} }} }} }}",
            args.join(", ")
        );
        m.write(
            who,
            Write {
                what: format!("background {field}"),
                doc,
                vars,
                path: vec!["background".into(), ns.clone(), field.clone()],
                needs: ops.into_iter().map(|op| (model.id, op)).collect(),
                global: None,
                // Enqueueing needs a store (or the system); the record's store is checked when it runs.
                stores: vec![],
                refused_anyway: who.tenant == Tenant::None,
                system_only: false,
                effect: Effect::Adds("bcgraph_background_action".into()),
                returns: None,
                foreign_code: None,
            },
        )
        .await;
    }
}

/// Every global action, now and in the background, for each store.
async fn globals(m: &mut Matrix, who: &Who) {
    let actions: Vec<_> = m
        .app
        .api
        .global_actions()
        .all()
        .iter()
        .filter(|a| !a.internal())
        .cloned()
        .collect();
    for action in actions {
        for store in [m.a, m.b] {
            let mut args = Vec::new();
            for param in action.params() {
                let value = match param.name {
                    "storeHash" => json!(m.hashes[&store]),
                    "bigcommerceId" | "resourceId" => json!(1),
                    "resourceType" => json!("product"),
                    _ if param.required => json!(1),
                    _ => continue,
                };
                args.push(format!("{}: {value}", param.name));
            }
            let ns = action.namespace();
            let name = action.name();
            let wrap = |inner: String| match ns {
                Some(ns) => format!("{ns} {{ {inner} }}"),
                None => inner,
            };
            let mut path: Vec<String> = ns.map(|n| vec![n.to_owned()]).unwrap_or_default();
            path.push(name.to_owned());
            let doc = format!(
                "mutation {{ {} }}",
                wrap(format!(
                    "{name}({}) {{ success errors {{ code }} }}",
                    args.join(", ")
                ))
            );
            m.write(
                who,
                Write {
                    what: format!("{name} for store {store}"),
                    doc,
                    vars: json!({}),
                    path: path.clone(),
                    needs: vec![],
                    global: Some((ns.map(str::to_owned), name.to_owned())),
                    stores: vec![store],
                    refused_anyway: false,
                    system_only: false,
                    effect: Effect::Runs,
                    returns: None,
                    foreign_code: None,
                },
            )
            .await;
            // Whatever it started (a sync) ends, so that the next cell starts clean.
            for s in [m.a, m.b] {
                bcgraph::bigcommerce::sync::abort_store(&m.app.db, s)
                    .await
                    .unwrap();
            }
            let mut bg_args = args.clone();
            bg_args.push("backgroundOptions: {startAt: \"2099-01-01T00:00:00.000Z\"}".into());
            let doc = format!(
                "mutation {{ background {{ {} }} }}",
                wrap(format!(
                    "{name}({}) {{ success errors {{ code }} backgroundAction {{ id }} }}",
                    bg_args.join(", ")
                ))
            );
            let mut bg_path = vec!["background".to_owned()];
            bg_path.extend(path);
            m.write(
                who,
                Write {
                    what: format!("background {name} for store {store}"),
                    doc,
                    vars: json!({}),
                    path: bg_path,
                    needs: vec![],
                    global: Some((ns.map(str::to_owned), name.to_owned())),
                    stores: vec![],
                    refused_anyway: who.tenant == Tenant::None,
                    system_only: false,
                    effect: Effect::Adds("bcgraph_background_action".into()),
                    returns: None,
                    foreign_code: None,
                },
            )
            .await;
        }
    }
}

/// The model actions of every model (a sync's `run` and `abort`), for each store.
async fn model_actions(m: &mut Matrix, who: &Who) {
    let registry = m.registry.clone();
    for model in &registry.models {
        for action in m.app.api.global_actions().of_model(&registry, model.id) {
            let (t, p) = (model.type_name(), pascal(&model.api_id));
            let name = format!("{}{p}", action.name());
            for store in [m.a, m.b] {
                let (doc, vars, effect) = if action.on_record() {
                    let sync = bcgraph::bigcommerce::sync::create(&m.app.api, store, Default::default())
                        .await
                        .unwrap()
                        .id();
                    let (doc, _) = mutation(model, &name, "(id: $id)", "$id: GadgetID!", "");
                    (
                        doc,
                        json!({"id": sync.to_string()}),
                        Effect::Touches(model.table.clone(), sync.to_string()),
                    )
                } else {
                    let input = format!("{}{t}Input", pascal(action.name()));
                    let (doc, _) = mutation(
                        model,
                        &name,
                        &format!("({}: $input)", model.api_id),
                        &format!("$input: {input}"),
                        "",
                    );
                    (
                        doc,
                        json!({"input": {"store": {"_link": store.to_string()}}}),
                        Effect::Adds(model.table.clone()),
                    )
                };
                m.write(
                    who,
                    Write {
                        what: format!("{name} for store {store}"),
                        doc,
                        vars,
                        path: vec![model.namespace.clone(), name.clone()],
                        needs: vec![(model.id, if action.on_record() { "update" } else { "create" })],
                        global: None,
                        stores: vec![store],
                        refused_anyway: false,
                        system_only: false,
                        effect,
                        returns: None,
                        foreign_code: None,
                    },
                )
                .await;
                for s in [m.a, m.b] {
                    bcgraph::bigcommerce::sync::abort_store(&m.app.db, s)
                        .await
                        .unwrap();
                }
            }
        }
    }
}

/// Cancelling and watching background actions of each scope.
async fn background_actions(m: &mut Matrix, who: &Who) {
    let owners: Vec<(&str, Caller)> = vec![
        (
            "store A",
            Caller {
                tenant: Tenant::Store(m.a),
                internal: false,
                ..m.app.api.caller.clone()
            },
        ),
        (
            "store B",
            Caller {
                tenant: Tenant::Store(m.b),
                internal: false,
                ..m.app.api.caller.clone()
            },
        ),
        (
            "system",
            Caller {
                tenant: Tenant::System,
                internal: false,
                ..m.app.api.caller.clone()
            },
        ),
        ("the gateway's own", m.app.api.caller.within_store(m.a)),
    ];
    let later = Options::from_json(&json!({"startAt": "2099-01-01T00:00:00.000Z"})).unwrap();
    for (owner, caller) in owners {
        let scope = bcgraph::queue::Scope::of(&caller).unwrap().key();
        for (form, full) in [("its id", false), ("its full id", true)] {
            for field in ["cancel", "bulkCancel"] {
                let api = m.app.api.as_caller(caller.clone());
                let job = Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": 1}));
                let key = api.enqueue(&job, &later).await.unwrap();
                let stored = format!("{scope}/{key}");
                let id = if full { stored.clone() } else { key.clone() };
                // A caller reaches its own scope's actions by their ids; the system any by its full id.
                let reaches = (!full && who.scope().as_deref() == Some(scope.as_str()))
                    || (full && who.tenant.is_system());
                let args = if field == "cancel" {
                    "(id: $id)"
                } else {
                    "(ids: [$id])"
                };
                let doc = format!(
                    "mutation($id: String!) {{ background {{ {field}{args} {{ success errors {{ code }} }} }} }}"
                );
                m.write(
                    who,
                    Write {
                        what: format!("{field} of {owner}'s background action by {form}"),
                        doc,
                        vars: json!({"id": id}),
                        path: vec!["background".into(), field.into()],
                        needs: vec![],
                        global: None,
                        stores: vec![],
                        refused_anyway: !reaches,
                        system_only: false,
                        effect: Effect::Touches("bcgraph_background_action".into(), stored.clone()),
                        returns: None,
                        foreign_code: None,
                    },
                )
                .await;
                if field == "cancel" {
                    let key = api.enqueue(&job, &later).await.unwrap();
                    let id = if full { format!("{scope}/{key}") } else { key };
                    subscription(m, who, owner, form, &id, reaches).await;
                }
            }
        }
    }
}

/// `backgroundAction(id)` over the websocket.
async fn subscription(m: &mut Matrix, who: &Who, owner: &str, form: &str, id: &str, reaches: bool) {
    m.cells += 1;
    let what = format!("backgroundAction subscription to {owner}'s action by {form}");
    let url = m.app.url.replace("http://", "ws://") + "/api/graphql/batch";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    let init = json!({"type": "connection_init", "payload": {"auth": who.ws}});
    ws.send(Message::text(init.to_string())).await.unwrap();
    let mut answer = None;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: String!) { backgroundAction(id: $id) { id status } }", "variables": {"id": id}}});
    let mut sent = false;
    while answer.is_none() {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = message else {
            answer = Some(json!({"closed": true}));
            break;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        match value["type"].as_str() {
            Some("connection_ack") if !sent => {
                ws.send(Message::text(subscribe.to_string())).await.unwrap();
                sent = true;
            }
            Some("next") | Some("error") => answer = Some(value),
            _ => {}
        }
    }
    let answer = answer.unwrap_or_default();
    let seen = answer["payload"]["data"]["backgroundAction"]["status"] == "scheduled";
    if seen != reaches {
        m.fail(
            who,
            &what,
            format!("expected to reach it: {reaches}, answered {answer}"),
        );
    }
    let _ = ws.close(None).await;
}

/// `currentSession` and hydrations: every caller gets its own session and the
/// metadata, nothing of a store it does not reach.
async fn session_and_metadata(m: &mut Matrix, who: &Who) {
    m.cells += 1;
    let store = m.registry.tenant_model.unwrap();
    let response = m
        .ask(
            who,
            "{ currentSession { roles { key } bigcommerceStoreId } gadgetMeta { hydrations(modelName: \"bigcommerce.product\") } }",
            json!({}),
        )
        .await;
    let roles: Vec<String> = response["data"]["currentSession"]["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|r| r["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let store_id = response["data"]["currentSession"]["bigcommerceStoreId"]
        .as_str()
        .map(str::to_owned);
    if roles != who.roles || store_id != who.tenant.store().map(|s| s.to_string()) {
        m.fail(who, "currentSession", format!("answered {response}"));
    }
    if response["data"]["gadgetMeta"]["hydrations"]["createdAt"] != "DateTime" {
        m.fail(who, "hydrations", format!("answered {response}"));
    }
    if let Tenant::Store(own) = who.tenant {
        m.read(
            who,
            Read {
                what: "currentSession.bigcommerceStore".into(),
                doc: "{ currentSession { bigcommerceStore { id } } }".into(),
                vars: json!({}),
                needs: vec![store],
                expect: vec![own],
            },
        )
        .await;
    }
}

async fn run_matrix(permissions: Option<&str>) -> (usize, Vec<String>) {
    let mut m = Matrix::start(permissions).await;
    let who = m.identities(permissions.is_some()).await;
    // A signed payload makes its session on first use: before the matrix, not in a cell.
    for w in &who {
        m.ask(w, "{ currentSession { id } }", json!({})).await;
    }
    let registry = m.registry.clone();
    for w in &who {
        session_and_metadata(&mut m, w).await;
        for model in &registry.models {
            reads(&mut m, w, model).await;
            if model.generic_writes {
                writes(&mut m, w, model).await;
            }
            nested(&mut m, w, model).await;
            enqueues(&mut m, w, model).await;
        }
        model_actions(&mut m, w).await;
        globals(&mut m, w).await;
        background_actions(&mut m, w).await;
    }
    let _ = CLIENT_ID;
    (m.cells, m.failures)
}

fn report(name: &str, cells: usize, failures: &[String]) {
    eprintln!(
        "authorization matrix ({name}): {cells} cells, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_caller_reaches_exactly_what_its_grants_and_store_allow() {
    let (cells, failures) = run_matrix(None).await;
    report("default grants", cells, &failures);
    assert!(cells > 500, "the matrix has {cells} cells");
}

#[tokio::test]
async fn a_permissions_file_narrows_grants_and_never_widens_tenancy() {
    let (cells, failures) = run_matrix(Some(PERMISSIONS_FILE)).await;
    report("permissions file", cells, &failures);
    assert!(cells > 500, "the matrix has {cells} cells");
}
