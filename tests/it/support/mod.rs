//! The test harness: a real gateway on a local port over a fresh database
//! (SQLite by default, PostgreSQL when `BCGRAPH_TEST_DATABASE_URL` is set), and
//! clients that speak HTTP to it.

pub mod client_documents;
pub mod mirror;
pub mod netns;
pub mod payload;
pub mod pgbouncer;
pub mod proxy;
pub mod seed;
pub mod ws;

use bcgraph::action::{Api, GlobalActions};
use bcgraph::auth::api_keys;
use bcgraph::config::Config;
use bcgraph::model::Registry;
use bcgraph::server::{self, AppState};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The app credentials every test gateway is configured with.
pub const CLIENT_ID: &str = "test-client-id";
pub const TEST_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
pub const CLIENT_SECRET: &str = "test-client-secret";

/// A fresh database for one test; it is dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct TestDb {
    pub url: String,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "bcgraph_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("BCGRAPH_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = unique_name();
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .expect("connect to BCGRAPH_TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
                TestDb {
                    url: format!("{base}/{name}"),
                    cleanup: Some(Cleanup::Postgres { admin_url, name }),
                }
            }
            None => {
                let dir = std::env::temp_dir().join("bcgraph-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join(format!("{}.db", unique_name()));
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Some(Cleanup::File(path)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.cleanup.take() {
            Some(Cleanup::File(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Some(Cleanup::Postgres { admin_url, name }) => {
                // Drop from a separate thread: the test's runtime may be shutting down.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .await
                            .ok()
                    })
                })
                .join();
            }
            None => {}
        }
    }
}

/// The configuration of a test gateway at `url` over `database_url`, with `vars` on top.
fn test_config(url: &str, database_url: &str, vars: &[(&str, &str)]) -> Config {
    let mut settings: Vec<(String, String)> = vec![
        ("BCGRAPH_PUBLIC_URL".into(), url.to_owned()),
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("BCGRAPH_SECRET".into(), TEST_SECRET.into()),
        ("BIGCOMMERCE_CLIENT_ID".into(), CLIENT_ID.into()),
        ("BIGCOMMERCE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ("BCGRAPH_CORS_ORIGINS".into(), "https://app.example.com".into()),
    ];
    settings.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|name| {
        settings
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("configuration")
}

/// What a test gateway serves.
enum Served {
    /// bcgraph's gateway with these global actions, without workers.
    Gateway(GlobalActions),
    /// An app, as `serve` runs it (workers and schedules included); its database URL
    /// when it is not the test database's own (a proxy's).
    App(Box<bcgraph::App>, Option<String>),
}

/// A running gateway.
pub struct TestApp {
    pub url: String,
    /// A system-admin API key; `gql` and `data` send it.
    pub admin_key: String,
    /// The gateway's own action API, for Rust-side writes and checks.
    pub api: Api,
    pub db: DatabaseConnection,
    /// Statements the gateway has sent to the database.
    pub statements: Arc<AtomicU64>,
    pub http: reqwest::Client,
    /// Kept until the app is dropped, then the database goes.
    _test_db: Option<TestDb>,
    server: tokio::task::JoinHandle<()>,
    /// Ends the server gracefully (see [`TestApp::restart`]).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(GlobalActions::default()).await
    }

    /// A gateway with these global actions.
    pub async fn start_with(globals: GlobalActions) -> TestApp {
        Self::start_configured(globals, &[]).await
    }

    /// A gateway with these global actions and extra configuration variables.
    pub async fn start_configured(globals: GlobalActions, vars: &[(&str, &str)]) -> TestApp {
        let test_db = TestDb::new().await;
        // Bound first, so that the gateway knows its own public URL.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(test_db, listener, globals, vars).await
    }

    /// Stop this gateway (open connections finish) and start another over the same
    /// database at the same address, configured with `vars`: a restart, e.g. with a new
    /// secret.
    pub async fn restart(mut self, vars: &[(&str, &str)]) -> TestApp {
        let address = self.url.trim_start_matches("http://").to_owned();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        if tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .is_err()
        {
            panic!("the gateway did not stop within 10 s");
        }
        let test_db = self._test_db.take().expect("the database");
        drop(self);
        let listener = tokio::net::TcpListener::bind(&address).await.expect("bind again");
        Self::start_on(test_db, listener, GlobalActions::default(), vars).await
    }

    /// Shut the gateway down as SIGTERM does and wait until it has stopped; how long
    /// that took.
    pub async fn stop(&mut self) -> std::time::Duration {
        let started = std::time::Instant::now();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        if tokio::time::timeout(std::time::Duration::from_secs(60), server)
            .await
            .is_err()
        {
            panic!("the gateway did not stop within 60 s");
        }
        started.elapsed()
    }

    async fn start_on(
        test_db: TestDb,
        listener: tokio::net::TcpListener,
        globals: GlobalActions,
        vars: &[(&str, &str)],
    ) -> TestApp {
        Self::serve(test_db, listener, Served::Gateway(globals), vars).await
    }

    /// Another gateway over this one's database, as a second host runs it: its own
    /// process state (caches, listeners, live queries), the same rows.
    pub async fn beside(&self) -> TestApp {
        self.beside_configured(&[]).await
    }

    /// [`TestApp::beside`], configured with `vars`.
    pub async fn beside_configured(&self, vars: &[(&str, &str)]) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        // The first gateway owns the database and drops it.
        let shared = TestDb {
            url: self.database_url(),
            cleanup: None,
        };
        Self::serve(shared, listener, Served::Gateway(GlobalActions::default()), vars).await
    }

    /// An app built on the library ([`bcgraph::App`]), served as `bcgraph serve` serves
    /// it: its migrations, its gateway, and the configured workers and schedules.
    pub async fn start_app(app: bcgraph::App, vars: &[(&str, &str)]) -> TestApp {
        let test_db = TestDb::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(test_db, listener, Served::App(Box::new(app), None), vars).await
    }

    /// [`TestApp::start_app`] with the gateway reaching its database through `proxy`
    /// (the test's own connection, `db`, reaches it directly).
    pub async fn start_app_through(
        app: bcgraph::App,
        vars: &[(&str, &str)],
        proxy: &proxy::DbProxy,
    ) -> TestApp {
        let test_db = TestDb::new().await;
        let through = proxy.url_for(&test_db.url);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(test_db, listener, Served::App(Box::new(app), Some(through)), vars).await
    }

    async fn serve(
        test_db: TestDb,
        listener: tokio::net::TcpListener,
        served: Served,
        vars: &[(&str, &str)],
    ) -> TestApp {
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let gateway_db_url = match &served {
            Served::App(_, Some(through)) => through.clone(),
            _ => test_db.url.clone(),
        };
        let config = test_config(&url, &gateway_db_url, vars);
        // The gateway's pool; the test's own connection when the gateway's is direct.
        let mut gateway_db = bcgraph::db::connect_with(
            &gateway_db_url,
            config.database_timeout,
            config.database_pool_size,
        )
        .await
        .expect("connect");
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        gateway_db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let db = match gateway_db_url == test_db.url {
            true => gateway_db.clone(),
            false => bcgraph::db::connect(&test_db.url).await.expect("connect"),
        };
        match &served {
            Served::Gateway(_) => bcgraph::db::migrate(&db).await.expect("migrate"),
            Served::App(app, _) => app.migrate(&db).await.expect("migrate"),
        }
        let (_, admin_key) = api_keys::create(&db, "tests", &["system-admin".to_owned()], None)
            .await
            .expect("api key");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let (api, server) = match served {
            // The gateway alone: tests start the workers they want.
            Served::Gateway(globals) => {
                let state = AppState::new(gateway_db, Arc::new(Registry::bigcommerce()), globals, &config)
                    .await
                    .expect("state");
                let api = state.api.clone();
                let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
                let served = async move {
                    axum::serve(server::no_delay(listener), app)
                        .with_graceful_shutdown(stopped)
                        .await
                        .expect("serve")
                };
                (api, tokio::spawn(served))
            }
            Served::App(app, _) => {
                let gateway = app.gateway(gateway_db, &config).await.expect("gateway");
                let api = gateway.api().clone();
                let served = async move { gateway.serve(listener, stopped).await.expect("serve") };
                (api, tokio::spawn(served))
            }
        };
        TestApp {
            url,
            admin_key,
            api,
            db,
            statements,
            http: reqwest::Client::new(),
            _test_db: Some(test_db),
            server,
            shutdown: Some(shutdown),
        }
    }

    /// POST a GraphQL document and return the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.post_json(&json!({"query": query, "variables": variables}))
            .await
            .1
    }

    /// POST a GraphQL document with this `authorization` header (or none); returns the
    /// response headers and JSON.
    pub async fn gql_as(
        &self,
        authorization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/graphql", self.url))
            .header("content-type", "application/json")
            .body(json!({"query": query, "variables": variables}).to_string());
        if let Some(auth) = authorization {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("request");
        let headers = response.headers().clone();
        let body = response.json().await.expect("JSON body");
        (headers, body)
    }

    /// `data` of a request with this `authorization`, failing on errors.
    pub async fn data_as(&self, authorization: &str, query: &str, variables: Value) -> Value {
        let (_, response) = self.gql_as(Some(authorization), query, variables).await;
        assert!(
            response.get("errors").is_none_or(Value::is_null),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// POST a GraphQL document and return `data`, failing the test on any error.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.gql(query, variables).await;
        assert!(
            response.get("errors").is_none_or(Value::is_null),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    pub async fn post_json(&self, body: &Value) -> (u16, Value) {
        self.post_raw(body.to_string().into_bytes()).await
    }

    pub async fn post_raw(&self, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/graphql?operation=test", self.url))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.admin_key))
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    /// The keys of the gateway's secret (`BCGRAPH_SECRET`), which seal access tokens.
    pub fn api_secret(&self) -> bcgraph::auth::Secrets {
        secrets()
    }

    /// The URL of this gateway's database, for running the CLI against it.
    pub fn database_url(&self) -> String {
        self._test_db.as_ref().expect("the database").url.clone()
    }

    /// The configuration this gateway was started with, plus `vars`.
    pub fn config(&self, vars: &[(&str, &str)]) -> Config {
        let mut settings: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), self.database_url()),
            ("BCGRAPH_PUBLIC_URL".into(), self.url.clone()),
            ("BCGRAPH_SECRET".into(), TEST_SECRET.into()),
            ("BIGCOMMERCE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("BIGCOMMERCE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ];
        settings.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(|name| {
            settings
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("configuration")
    }

    /// An `Auth` over this gateway's database, configured like it (plus `vars`), for
    /// checks of what the gateway's own authentication decides.
    pub async fn auth(&self, vars: &[(&str, &str)]) -> bcgraph::auth::Auth {
        bcgraph::auth::Auth::new(self.db.clone(), &self.config(vars))
            .await
            .expect("auth")
    }

    /// Statements sent while running `f`.
    pub fn count_since(&self, start: u64) -> u64 {
        self.statements.load(Ordering::Relaxed) - start
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `url` (a database's) with its host and port replaced by `address`: the same
/// database, reached through a proxy or a pooler there.
pub fn url_at(url: &str, address: std::net::SocketAddr) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("a database URL");
    parsed.set_host(Some(&address.ip().to_string())).expect("a host");
    parsed.set_port(Some(address.port())).expect("a port");
    parsed.to_string()
}

/// A free local port (bound, then let go), for a `bcgraph serve` process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Rows of `table` matching `condition` (SQL both backends read, e.g. `"store_id" = 1`).
pub async fn count_rows(db: &DatabaseConnection, table: &str, condition: &str) -> i64 {
    scalar(db, &format!("SELECT COUNT(*) FROM \"{table}\" WHERE {condition}")).await
}

/// The one integer a statement answers (a count, a sum).
pub async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("run the statement")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

/// The keys of the test gateways' secret ([`TEST_SECRET`]).
pub fn secrets() -> bcgraph::auth::Secrets {
    bcgraph::auth::Secrets::new(TEST_SECRET.as_bytes(), &[] as &[&[u8]])
}

/// The codes of a response's errors.
pub fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of a response's errors, joined.
pub fn error_text(response: &Value) -> String {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}
