//! The generated client package (`bcgraph client`): generated from the running app's
//! registry and schema, installed with its real dependency, type-checked with `tsc
//! --strict`, and driven from Node against the live gateway through every manager
//! method, a global action, `enqueue` with each option, `currentSession` and the
//! internal API; then the rows are read back from the database.

use crate::support::{TestApp, count_rows};
use bcgraph::client_package::{API_CLIENT_CORE_VERSION, Package};
use bcgraph::{ActionError, Context, GlobalAction, Param, ParamType};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "bcgraph-test-client";
/// The TypeScript the program is checked with, pinned so that runs agree.
const TYPESCRIPT: &str = "5.9.3";
/// Node 20 has no WebSocket of its own; live queries need one.
const WS: &str = "8.18.3";

/// A root global action that answers with what it was given.
struct Echo;

#[derive(serde::Deserialize)]
struct EchoParams {
    message: Option<String>,
}

impl GlobalAction for Echo {
    type Params = EchoParams;
    fn namespace(&self) -> Option<&'static str> {
        None
    }
    fn name(&self) -> &'static str {
        "echo"
    }
    fn params(&self) -> Vec<Param> {
        vec![Param::optional("message", ParamType::String)]
    }
    async fn run(&self, _ctx: &Context, params: EchoParams) -> Result<Value, ActionError> {
        Ok(json!({"echoed": params.message}))
    }
}

fn app() -> bcgraph::App {
    bcgraph::App::new().action(Echo)
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A directory with `node_modules` holding api-client-core and TypeScript, kept outside
/// the clone and keyed by the dependency list, so that later runs install nothing.
fn dependencies() -> PathBuf {
    let manifest = json!({
        "name": "bcgraph-client-package-test",
        "private": true,
        "type": "module",
        "dependencies": {"@gadgetinc/api-client-core": API_CLIENT_CORE_VERSION, "typescript": TYPESCRIPT, "ws": WS}
    })
    .to_string();
    let key = manifest.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let base = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = PathBuf::from(base)
        .join("client-package-npm")
        .join(format!("{key:016x}"));
    let ready = dir.join("node_modules/typescript/package.json").exists()
        && dir
            .join("node_modules/@gadgetinc/api-client-core/package.json")
            .exists();
    if !ready {
        // Installed beside and moved into place, so that a concurrent run never sees
        // half an install.
        let staging = dir.with_extension(format!("staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).expect("staging dir");
        std::fs::write(staging.join("package.json"), &manifest).expect("manifest");
        let out = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
                "--loglevel=error",
            ])
            .current_dir(&staging)
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if std::fs::rename(&staging, &dir).is_err() {
            // Another run finished first; its install is as good.
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    dir
}

/// A fresh directory under the install with the package as `node_modules/<PACKAGE>`.
fn run_dir(deps: &Path, package: &Package) -> PathBuf {
    let dir = deps
        .join("runs")
        .join(format!("{}-{}", std::process::id(), rand::random::<u32>()));
    let target = dir.join("node_modules").join(PACKAGE);
    package.write(&target).expect("the package is written");
    assert!(
        package.stale_files(&target).is_empty(),
        "a written package checks clean"
    );
    dir
}

const TYPED_PROGRAM: &str = r#"
import { Client, BigcommerceProductRecord, DefaultBigcommerceProductSelection } from "bcgraph-test-client";

const api = new Client({ endpoint: "http://127.0.0.1/api/graphql", authenticationMode: { apiKey: "key" } });

export async function uses(): Promise<void> {
  const one = await api.bigcommerce.product.findOne("1");
  const name: string | null = one.name;
  const created: Date = one.createdAt;
  const some = await api.bigcommerce.product.findMany({
    select: { id: true, name: true, store: { storeHash: true } },
    filter: { price: { greaterThan: 1 } },
    sort: { name: "Descending" },
    first: 5,
    search: "widget",
  });
  for (const record of some) {
    const id: string = record.id;
    const hash: string | null | undefined = record.store?.storeHash;
    console.log(id, hash);
  }
  // @ts-expect-error price was not selected
  some[0].price;
  // @ts-expect-error not a field of the product filter
  await api.bigcommerce.product.findMany({ filter: { colour: { equals: "red" } } });
  const first = await api.bigcommerce.product.maybeFindFirst({ sort: { price: "Ascending" } });
  const price: number | null | undefined = first?.price;
  const store = await api.bigcommerce.store.findByStoreHash("abc");
  const hash: string | null = store.storeHash;
  const product = await api.bigcommerce.product.create({ name: "n", store: { _link: store.id } });
  await api.bigcommerce.product.update(product.id, { product: { name: "m" } });
  await api.bigcommerce.product.upsert({ on: ["bigcommerceId", "store"], bigcommerceId: 1, name: "u" });
  const made = await api.bigcommerce.product.bulkCreate([{ name: "a" }, { product: { name: "b" } }]);
  await api.bigcommerce.product.bulkUpdate(made.map((r) => ({ id: r.id, name: "c" })));
  await api.bigcommerce.product.bulkUpsert([{ on: ["bigcommerceId", "store"], bigcommerceId: 2 }]);
  await api.bigcommerce.product.bulkDelete(made.map((r) => r.id));
  await api.bigcommerce.product.delete(product.id);
  const session = await api.currentSession.get();
  const roles: Array<{ key: string }> = session.roles;
  const result: unknown = await api.echo({ message: "hi" });
  const handle = await api.enqueue(api.bigcommerce.product.create, { name: "q" }, {
    queue: { name: "q", maxConcurrency: 2 }, retries: { retryCount: 3 }, priority: "HIGH", startAt: new Date(), id: "x",
  });
  const handles = await api.enqueue(api.bigcommerce.product.bulkDelete, ["1"], { queue: "q", retries: 1 });
  const handleId: string = handle.id;
  const internal = await api.internal.bigcommerce.product.findMany({ first: 1 });
  // A live list is an async iterable of lists, not a promise.
  for await (const list of api.bigcommerce.product.findMany({ live: true, first: 5, searchFields: { name: true } })) {
    const names: Array<string | null> = list.map((r) => r.name);
    console.log(names);
    break;
  }
  const typed: BigcommerceProductRecord = one;
  console.log(name, created, price, hash, roles, result, handles.length, handleId, internal, typed,
    DefaultBigcommerceProductSelection.name, api.bigcommerce.product.findMany.operationName);
}
"#;

/// The Node program: every manager method against the gateway; prints one JSON object
/// of what each step answered (`{error}` where a step threw).
const SCRIPT: &str = r#"
import { Client } from "bcgraph-test-client";
import WebSocket from "ws";

const endpoint = process.env.ENDPOINT;
const api = new Client({ endpoint, authenticationMode: { apiKey: process.env.API_KEY } });
const anonymous = new Client({ endpoint, authenticationMode: { anonymous: true } });
const out = { errors: {} };
const step = async (name, run) => {
  try {
    out[name] = await run();
  } catch (error) {
    out.errors[name] = `${error?.code ?? ""} ${error?.message ?? error}`;
  }
};
const product = api.bigcommerce.product;

await step("store", async () => (await api.bigcommerce.store.create({ storeHash: "cpstore" })).id);
const link = { _link: out.store };
await step("storeByHash", async () => (await api.bigcommerce.store.findByStoreHash("cpstore")).id);
await step("alpha", async () => (await product.create({ name: "Alpha widget", price: 5, bigcommerceId: 101, store: link })).id);
await step("beta", async () => (await product.create({ product: { name: "Beta gadget", price: 7, bigcommerceId: 102, store: link } })).id);
await step("findOne", async () => (await product.findOne(out.alpha)).name);
await step("findOneSelect", async () => Object.keys((await product.findOne(out.alpha, { select: { id: true, price: true } })).toJSON()).sort());
await step("maybeFindOne", async () => await product.maybeFindOne("987654321"));
await step("findMany", async () => (await product.findMany({ filter: { price: { greaterThan: 1 } }, sort: { name: "Descending" }, first: 10, search: "widget" })).map((r) => r.name));
await step("findManySorted", async () => (await product.findMany({ sort: { price: "Descending" } })).map((r) => r.name));
await step("findManyPage", async () => {
  const page = await product.findMany({ sort: { name: "Ascending" }, first: 1 });
  const next = await page.nextPage();
  return [page.hasNextPage, page[0].name, next[0].name];
});
await step("findManyDates", async () => (await product.findMany({ first: 1 }))[0].createdAt instanceof Date);
await step("findFirst", async () => (await product.findFirst({ sort: { price: "Descending" } })).name);
await step("maybeFindFirst", async () => await product.maybeFindFirst({ filter: { name: { equals: "nothing like it" } } }));
await step("findById", async () => (await product.findById(out.alpha)).name);
await step("maybeFindById", async () => await product.maybeFindById("987654321"));
await step("update", async () => (await product.update(out.alpha, { name: "Alpha widget 2" })).name);
await step("upsertExisting", async () => {
  const record = await product.upsert({ on: ["bigcommerceId", "store"], bigcommerceId: 101, name: "Alpha upserted", store: link });
  return [record.id, record.name];
});
await step("upsertNew", async () => (await product.upsert({ on: ["bigcommerceId", "store"], bigcommerceId: 103, name: "Gamma", store: link })).name);
await step("bulkCreate", async () => (await product.bulkCreate([
  { name: "Bulk 1", bigcommerceId: 201, store: link },
  { product: { name: "Bulk 2", bigcommerceId: 202, store: link } },
])).map((r) => r.id));
await step("bulkUpdate", async () => (await product.bulkUpdate(out.bulkCreate.map((id, i) => ({ id, name: `Bulk ${i + 1}b` })))).map((r) => r.name));
await step("bulkUpsert", async () => (await product.bulkUpsert([
  { on: ["bigcommerceId", "store"], bigcommerceId: 201, name: "Bulk 1c", store: link },
  { on: ["bigcommerceId", "store"], bigcommerceId: 204, name: "Bulk 4", store: link },
])).map((r) => r.name));
await step("bulkDelete", async () => (await product.bulkDelete([out.bulkCreate[1]])) ?? "done");
await step("delete", async () => (await product.delete(out.beta)) ?? "done");
await step("echo", async () => await api.echo({ message: "hi" }));
await step("session", async () => {
  const session = await anonymous.currentSession.get();
  return session.roles.map((r) => r.key);
});
const future = new Date(Date.now() + 3600 * 1000);
await step("enqueueQueueName", async () => (await api.enqueue(product.create, { name: "Queued 1", store: link },
  { queue: "cp-queue", id: "cp-e1", priority: "HIGH", retries: 2, startAt: future })).id);
await step("enqueueQueueObject", async () => (await api.enqueue(product.update, { id: out.alpha, name: "Queued update" },
  { queue: { name: "cp-q2", maxConcurrency: 3 }, id: "cp-e2", priority: "LOW", retries: { retryCount: 4, initialInterval: 2000 }, startAt: future.toISOString() })).id);
await step("enqueueBulk", async () => (await api.enqueue(product.bulkCreate, [{ name: "Queued bulk 1", store: link }, { name: "Queued bulk 2", store: link }],
  { queue: "cp-bulk", startAt: future })).map((h) => h.id));
await step("enqueueGlobal", async () => (await api.enqueue(api.echo, { message: "later" }, { id: "cp-e4", startAt: future })).id);
await step("metadata", async () => ({
  findManyOperation: product.findMany.operationName,
  createVariables: product.create.variables,
  upsertReturn: product.upsert.hasReturnType,
  bulkSingle: product.bulkCreate.singleActionFunctionName,
  planHasHydrations: product.findMany.plan({ first: 1 }).query.includes("hydrations"),
  processed: product.findOne.processResult({ data: { bigcommerce: { product: { id: "5", name: "x" } } } }).data.name,
  coreImplementation: typeof api[Symbol.for("gadget/coreImplementation")].disambiguateActionVariables,
}));
await step("raw", async () => (await api.query("{ bigcommerce { products(first: 1) { edges { node { id } } } } }")).bigcommerce.products.edges.length);
await step("internal", async () => {
  const listed = await api.internal.bigcommerce.product.findMany({ first: 5 });
  const made = await api.internal.bigcommerce.product.create({ name: "Internal", bigcommerceId: 301, storeId: out.store });
  const found = await api.internal.bigcommerce.product.findOne(made.id);
  return { listed: listed.length, made: made.id, found: found.name };
});
// findMany({live: true}) over the websocket: the list now, then again after a create.
const live = new Client({ endpoint, authenticationMode: { apiKey: process.env.API_KEY }, websocketImplementation: WebSocket });
await step("live", async () => {
  const answers = live.bigcommerce.product.findMany({ live: true, filter: { name: { startsWith: "Live" } }, first: 10 })[Symbol.asyncIterator]();
  const names = (list) => list.map((r) => r.name);
  const first = await answers.next();
  await product.create({ name: "Live one", bigcommerceId: 401, store: link });
  const late = new Promise((_, reject) => setTimeout(() => reject(new Error("no live answer within 3 s")), 3000));
  const second = await Promise.race([answers.next(), late]);
  await answers.return?.();
  return [names(first.value), names(second.value)];
});
live.connection.close();
console.log(JSON.stringify(out));
process.exit(0);
"#;

#[tokio::test]
async fn the_generated_client_drives_every_manager_method_against_the_gateway() {
    if !node_available() {
        eprintln!("skipped: `node` is not installed, so the generated client cannot be run");
        return;
    }
    let test = TestApp::start_app(app(), &[]).await;
    let sdl = app().schema_sdl().expect("the schema");
    let package = Package::generate(&test.api.registry, &sdl, PACKAGE).expect("the package");
    for file in [
        "package.json",
        "index.js",
        "index.d.ts",
        "runtime.js",
        "metadata.js",
    ] {
        assert!(package.files.contains_key(file), "the package has {file}");
    }
    let again = Package::generate(&test.api.registry, &sdl, PACKAGE).expect("the package");
    assert_eq!(package, again, "generation is deterministic");
    // Blocking work off the runtime: the gateway serves from the same test runtime.
    let deps = tokio::task::spawn_blocking(dependencies)
        .await
        .expect("npm install");
    let dir = run_dir(&deps, &package);

    // The declarations type-check a program that uses the managers, under --strict.
    std::fs::write(dir.join("check.ts"), TYPED_PROGRAM).expect("program");
    let tsc = deps.join("node_modules/typescript/bin/tsc");
    let out = tokio::process::Command::new("node")
        .arg(&tsc)
        .args([
            "--strict",
            "--noEmit",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--target",
            "es2022",
            "--skipLibCheck",
            "false",
            "check.ts",
        ])
        .current_dir(&dir)
        .output()
        .await
        .expect("tsc runs");
    let report = String::from_utf8_lossy(&out.stdout);
    // Errors inside other packages' declarations (urql, type-fest) are theirs; the
    // program's and the generated package's must be none.
    let ours: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("error TS"))
        .filter(|l| !l.contains("node_modules/") || l.contains(&format!("node_modules/{PACKAGE}/")))
        .collect();
    assert!(ours.is_empty(), "tsc found errors:\n{}", ours.join("\n"));

    // Every method against the live gateway.
    std::fs::write(dir.join("script.mjs"), SCRIPT).expect("script");
    let script = tokio::process::Command::new("node")
        .arg("script.mjs")
        .env("ENDPOINT", format!("{}/api/graphql", test.url))
        .env("API_KEY", &test.admin_key)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), script)
        .await
        .expect("the script ends within two minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the script failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's JSON");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r["errors"], json!({}), "every step succeeds: {r:#}");

    assert_eq!(r["storeByHash"], r["store"]);
    assert_eq!(r["findOne"], "Alpha widget");
    assert_eq!(
        r["findOneSelect"],
        json!(["__typename", "id", "price"]),
        "select picks the fields"
    );
    assert_eq!(r["maybeFindOne"], Value::Null);
    assert_eq!(r["findMany"], json!(["Alpha widget"]), "filter + search + sort");
    assert_eq!(r["findManySorted"], json!(["Beta gadget", "Alpha widget"]));
    assert_eq!(r["findManyPage"], json!([true, "Alpha widget", "Beta gadget"]));
    assert_eq!(r["findManyDates"], true, "DateTime fields are hydrated to Date");
    assert_eq!(r["findFirst"], "Beta gadget");
    assert_eq!(r["maybeFindFirst"], Value::Null);
    assert_eq!(r["findById"], "Alpha widget");
    assert_eq!(r["maybeFindById"], Value::Null);
    assert_eq!(r["update"], "Alpha widget 2");
    assert_eq!(
        r["upsertExisting"],
        json!([r["alpha"], "Alpha upserted"]),
        "the upsert matched"
    );
    assert_eq!(r["upsertNew"], "Gamma");
    assert_eq!(r["bulkUpdate"], json!(["Bulk 1b", "Bulk 2b"]));
    assert_eq!(r["bulkUpsert"], json!(["Bulk 1c", "Bulk 4"]));
    assert_eq!(r["echo"], json!({"echoed": "hi"}));
    assert_eq!(r["session"], json!(["unauthenticated"]));
    assert_eq!(r["metadata"]["findManyOperation"], "products");
    assert_eq!(
        r["metadata"]["createVariables"],
        json!({"product": {"required": false, "type": "CreateBigcommerceProductInput"}})
    );
    assert_eq!(
        r["metadata"]["upsertReturn"],
        json!({"... on CreateBigcommerceProductResult": {"hasReturnType": false},
               "... on UpdateBigcommerceProductResult": {"hasReturnType": false}})
    );
    assert_eq!(r["metadata"]["bulkSingle"], "create");
    assert_eq!(r["metadata"]["planHasHydrations"], true);
    assert_eq!(r["metadata"]["processed"], "x");
    assert_eq!(r["metadata"]["coreImplementation"], "function");
    assert_eq!(r["raw"], 1);

    // The rows, read from the database.
    let db = &test.db;
    let store = r["store"].as_str().expect("store id");
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            &format!("store_id = {store} AND bigcommerce_id < 300")
        )
        .await,
        4,
        "alpha, gamma, bulk 1 and bulk 4 remain"
    );
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            "name = 'Alpha upserted' AND bigcommerce_id = 101"
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            "name = 'Gamma' AND bigcommerce_id = 103"
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            "name = 'Bulk 1c' AND bigcommerce_id = 201"
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            "name = 'Bulk 4' AND bigcommerce_id = 204"
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(db, "bigcommerce_product", "bigcommerce_id IN (102, 202)").await,
        0,
        "delete and bulkDelete removed them"
    );
    assert_eq!(
        count_rows(db, "bcgraph_background_action", "id LIKE '%cp-e1' AND queue LIKE '%/cp-queue' AND max_concurrency = 1 AND priority = 20 AND retry_count = 2").await,
        1,
        "a bare queue name, a retry count, HIGH: {}",
        job_row(db, "cp-e1").await
    );
    assert_eq!(
        count_rows(db, "bcgraph_background_action", "id LIKE '%cp-e2' AND queue LIKE '%/cp-q2' AND max_concurrency = 3 AND priority = 0 AND retry_count = 4 AND initial_interval = 2000").await,
        1,
        "a queue object, a retry policy, LOW: {}",
        job_row(db, "cp-e2").await
    );
    // Stored ids and queue names carry the caller's scope before the caller's own.
    let later = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
    assert_eq!(
        count_rows(
            db,
            "bcgraph_background_action",
            &format!("(id LIKE '%cp-e1' OR id LIKE '%cp-e2' OR id LIKE '%cp-e4') AND run_at > {later}")
        )
        .await,
        3,
        "startAt (a Date or a string) delays them"
    );
    let bulk: Vec<String> = r["enqueueBulk"]
        .as_array()
        .expect("handles")
        .iter()
        .map(|h| format!("id LIKE '%{}'", h.as_str().unwrap_or("")))
        .collect();
    assert_eq!(bulk.len(), 2, "one background action per element");
    assert_eq!(
        count_rows(
            db,
            "bcgraph_background_action",
            &format!("({}) AND queue LIKE '%/cp-bulk'", bulk.join(" OR "))
        )
        .await,
        2
    );
    assert_eq!(r["enqueueGlobal"], "cp-e4");
    assert!(r["internal"]["listed"].as_u64().is_some_and(|n| n >= 1), "{r:#}");
    assert_eq!(r["internal"]["found"], "Internal");
    assert_eq!(
        count_rows(
            db,
            "bigcommerce_product",
            "name = 'Internal' AND bigcommerce_id = 301"
        )
        .await,
        1
    );
    assert_eq!(
        r["live"],
        json!([[], ["Live one"]]),
        "the live list answered the create"
    );
}

/// A background action's options, for failure messages.
async fn job_row(db: &sea_orm::DatabaseConnection, id: &str) -> String {
    use sea_orm::ConnectionTrait;
    let sql = format!(
        "SELECT queue, max_concurrency, priority, retry_count, initial_interval FROM bcgraph_background_action WHERE id LIKE '%{id}'"
    );
    match db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
    {
        Ok(Some(row)) => format!(
            "queue {:?}, max_concurrency {:?}, priority {:?}, retry_count {:?}, initial_interval {:?}",
            row.try_get_by_index::<Option<String>>(0).ok(),
            row.try_get_by_index::<i32>(1).ok(),
            row.try_get_by_index::<i32>(2).ok(),
            row.try_get_by_index::<i32>(3).ok(),
            row.try_get_by_index::<i64>(4).ok(),
        ),
        other => format!("no row {id}: {other:?}"),
    }
}

#[test]
fn the_command_writes_a_package_and_checks_it() {
    let bin = env!("CARGO_BIN_EXE_bcgraph");
    let dir = std::env::temp_dir().join(format!(
        "bcgraph-client-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let run = |args: &[&str]| Command::new(bin).args(args).output().expect("bcgraph runs");
    let path = dir.to_string_lossy().into_owned();
    let out = run(&["client", "--out", &path, "--name", "@acme/store-client"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).expect("package.json"))
            .expect("JSON");
    assert_eq!(manifest["name"], "@acme/store-client");
    assert_eq!(manifest["type"], "module");
    assert_eq!(manifest["dependencies"]["@gadgetinc/api-client-core"], "0.15.46");

    let check = run(&["client", "--check", &path]);
    assert!(
        check.status.success(),
        "a fresh package is current (keeping its name): {}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(dir.join("index.d.ts"), "// edited\n").expect("edit");
    std::fs::remove_file(dir.join("metadata.js")).expect("remove");
    let check = run(&["client", "--check", &path]);
    let message = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "an edited package is stale");
    assert!(
        message.contains("index.d.ts") && message.contains("metadata.js") && !message.contains("runtime.js"),
        "the message names the stale files: {message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
