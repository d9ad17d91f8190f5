//! What belongs to the platform stays the platform's: primary keys, store-bound API
//! keys, and a sync's row with the job that runs it.

use crate::support::{TestApp, error_codes, payload, seed};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// An upsert's `id` only ever matches an existing record of the caller's store; one that
/// names a free id (the top of the range, which once inserted would end every later
/// insert on SQLite) creates nothing, for anyone; later creates work.
#[tokio::test]
async fn no_caller_chooses_a_primary_key() {
    let app = TestApp::start().await;
    seed::store(&app.db, "storea").await;
    let merchant = payload::header(&payload::jwt("storea", 3));
    let upsert = "mutation($input: UpsertBigcommerceProductInput) { bigcommerce {
        upsertProduct(product: $input) { success errors { code } product { id } } } }";
    let top = i64::MAX.to_string();
    for auth in [merchant.clone(), format!("Bearer {}", app.admin_key)] {
        let (_, r) = app
            .gql_as(
                Some(&auth),
                upsert,
                json!({"input": {"id": top, "bigcommerceId": 5, "name": "squat"}}),
            )
            .await;
        assert_eq!(
            r["data"]["bigcommerce"]["upsertProduct"]["errors"][0]["code"], "GGT_RECORD_NOT_FOUND",
            "{r}"
        );
        let bulk = "mutation($inputs: [BulkUpsertBigcommerceProductsInput!]!) { bigcommerce {
            bulkUpsertProducts(inputs: $inputs) { success errors { code } } } }";
        let (_, r) = app
            .gql_as(
                Some(&auth),
                bulk,
                json!({"inputs": [{"product": {"id": top, "bigcommerceId": 6}}]}),
            )
            .await;
        assert_eq!(
            r["data"]["bigcommerce"]["bulkUpsertProducts"]["errors"][0]["code"], "GGT_RECORD_NOT_FOUND",
            "{r}"
        );
    }
    let max: Option<i64> = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT MAX(\"id\") FROM \"bigcommerce_product\"",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(max, None, "no row was made with a chosen id");
    let created = app
        .data_as(
            &merchant,
            "mutation { bigcommerce { createProduct(product: {bigcommerceId: 7, name: \"ok\"}) { success product { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(created["bigcommerce"]["createProduct"]["success"], true);
    // On PostgreSQL the database itself refuses a chosen id: no input can put the
    // sequence behind the rows.
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let err = app
            .db
            .execute_unprepared(
                "INSERT INTO \"bigcommerce_product\" (\"id\", \"created_at\", \"updated_at\", \"bigcommerce_id\", \"store_id\") \
                 VALUES (424242, now(), now(), 8, 1)",
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("non-DEFAULT value"), "{err}");
    }
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .args(args)
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "error")
        .output()
        .expect("run bcgraph")
}

/// API keys are `system-admin` or bound to one store; a store-less key of another role
/// is refused at creation, and a bound key reaches its store only.
#[tokio::test]
async fn api_keys_are_bound_to_a_store_unless_system_admin() {
    let app = TestApp::start().await;
    let a = seed::store(&app.db, "storea").await;
    let b = seed::store(&app.db, "storeb").await;
    seed::product(&app.db, a, 1, "A's", |_| {}).await;
    seed::product(&app.db, b, 2, "B's", |_| {}).await;
    let refused = cli(&app, &["api-key", "create", "--role", "Role-BigCommerce-App"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--store"), "{stderr}");
    let unknown = cli(
        &app,
        &[
            "api-key",
            "create",
            "--role",
            "Role-BigCommerce-App",
            "--store",
            "nosuch",
        ],
    );
    assert!(!unknown.status.success());
    let made = cli(
        &app,
        &[
            "api-key",
            "create",
            "--role",
            "Role-BigCommerce-App",
            "--store",
            "storea",
            "--name",
            "a-key",
        ],
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let listing = String::from_utf8(cli(&app, &["api-key", "list"]).stdout).unwrap();
    assert!(
        listing
            .lines()
            .any(|l| l.contains("a-key") && l.contains("storea")),
        "{listing}"
    );
    let auth = format!("Bearer {key}");
    let names = app
        .data_as(
            &auth,
            "{ bigcommerce { products { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        names["bigcommerce"]["products"]["edges"],
        json!([{"node": {"name": "A's"}}])
    );
    let (_, moved) = app
        .gql_as(
            Some(&auth),
            "mutation($id: GadgetID!) { bigcommerce { createProduct(product: {bigcommerceId: 9, store: {_link: $id}}) { success errors { code } } } }",
            json!({"id": b.to_string()}),
        )
        .await;
    assert_eq!(
        moved["data"]["bigcommerce"]["createProduct"]["errors"][0]["code"],
        "GGT_PERMISSION_DENIED"
    );
    // Once its store uninstalls the app, the key opens nothing.
    app.db
        .execute_unprepared(&format!(
            "UPDATE \"bigcommerce_store\" SET \"state\" = 'uninstalled' WHERE \"id\" = {a}"
        ))
        .await
        .unwrap();
    let (_, gone) = app
        .gql_as(Some(&auth), "{ currentSession { id } }", json!({}))
        .await;
    assert_eq!(error_codes(&gone), ["GGT_PERMISSION_DENIED"]);
}

/// A sync is created together with the job that runs it, or not at all: a store whose
/// sync could not be queued is not left with a sync that blocks every later one.
#[tokio::test]
async fn a_sync_is_never_left_without_its_job() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, "storea").await;
    // The gateway's own job id of the next sync is taken (as a stale row would be).
    let next: i64 = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COALESCE(MAX(\"id\"), 0) + 1 FROM \"bigcommerce_sync\"",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let taken =
        bcgraph::queue::Options::from_json(&json!({"id": format!("bigcommerce-sync-{next}")})).unwrap();
    app.api
        .within_store(store)
        .enqueue(
            &bcgraph::queue::Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": 1})),
            &taken,
        )
        .await
        .unwrap();
    let sync =
        "mutation { bigcommerce { syncStore(storeHash: \"storea\") { success errors { code message } } } }";
    let failed = app.data(sync, json!({})).await;
    assert_eq!(failed["bigcommerce"]["syncStore"]["success"], false, "{failed}");
    let unfinished = bcgraph::bigcommerce::sync::unfinished(&app.api, store)
        .await
        .unwrap();
    assert!(
        unfinished.is_none(),
        "a sync without its job was left: {unfinished:?}"
    );
    let rows: Value = app
        .data("{ bigcommerce { syncs { edges { node { id } } } } }", json!({}))
        .await;
    assert_eq!(rows["bigcommerce"]["syncs"]["edges"], json!([]));
}
