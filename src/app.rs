//! The front door: an app built on bcgraph is an [`App`] with its models, fields,
//! actions, hooks, webhook triggers, schedules, grants and routes, run with the same
//! command line as the `bcgraph` binary (which is itself `App::new().run()`).

use crate::action::{Api, Caller, GlobalAction, GlobalActions, Hooks, ModelHook, Trigger, Verb};
use crate::bigcommerce::webhooks::Triggers;
use crate::bigcommerce::{BigCommerce, ClientOptions};
use crate::config::Config;
use crate::model::{Declaration, ExtraField, Registry, RegistryBuilder};
use crate::queue::{Job, Options, Priority, QueueError, Worker, WorkerOptions};
use crate::server::{self, AppState};
use axum::Router;
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::Value as Json;
use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Why an app could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Two migrations share a name: the history could not tell them apart.
    #[error("two migrations are named {0}: give the app's migrations names of their own")]
    DuplicateMigration(String),
    /// A field added with [`App::field`] has no column: the app's migration is missing.
    #[error("{table}.{column} does not exist: add it in one of the app's migrations")]
    MissingColumn {
        /// The model's table.
        table: String,
        /// The field's column.
        column: String,
    },
    /// The database failed (a migration, a connection).
    #[error(transparent)]
    Database(#[from] DbErr),
    /// The gateway could not be put together (its schema, its BigCommerce client).
    #[error("{0}")]
    Start(String),
}

type Migrate = for<'a> fn(&'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;
type HookSlot = Box<dyn FnOnce(&mut Hooks, &Registry) + Send>;

/// An app: bcgraph's built-in BigCommerce models and actions, plus the app's own.
///
/// ```no_run
/// use bcgraph::{ActionError, App, Context, ExtraField, GlobalAction, Param, ParamType, names};
/// use serde_json::{Value, json};
///
/// /// Keep the latest metafield value of each product on the product itself.
/// struct NoteMetafield;
///
/// impl GlobalAction for NoteMetafield {
///     type Params = Value; // the webhook's `data`
///     fn namespace(&self) -> Option<&'static str> { None }
///     fn name(&self) -> &'static str { "noteMetafield" }
///     fn params(&self) -> Vec<Param> { vec![Param::optional("resource_id", ParamType::Json)] }
///     async fn run(&self, ctx: &Context, data: Value) -> Result<Value, ActionError> {
///         tracing::info!(trigger = ctx.trigger().kind(), ?data, "a metafield changed");
///         Ok(json!({"ok": true}))
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     App::new()
///         .field(names::PRODUCT, ExtraField::string("metafieldValue"))
///         .action(NoteMetafield)
///         .trigger("store/product/metafield/*", "noteMetafield")
///         .run()
/// }
/// ```
pub struct App {
    registry: RegistryBuilder,
    /// (table, field) of each field added to a model the app does not own.
    fields: Vec<(String, ExtraField)>,
    migrate: Migrate,
    migration_names: fn() -> Vec<String>,
    globals: GlobalActions,
    hooks: Vec<HookSlot>,
    triggers: Triggers,
    schedules: Vec<Schedule>,
    grants: Vec<Grant>,
    routes: Router<AppState>,
}

/// A schedule: `action` runs every `every`, as the system, in the background.
#[derive(Clone, Debug)]
struct Schedule {
    action: String,
    every: Duration,
    params: Json,
}

enum Grant {
    Model(String, String, Vec<String>),
    Action(String, String),
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// bcgraph as it comes: the `bigcommerce` models, their webhooks, the sync.
    pub fn new() -> App {
        App {
            registry: Registry::builder(),
            fields: Vec::new(),
            migrate: migrate_with::<NoMigrations>,
            migration_names: names_of::<NoMigrations>,
            globals: GlobalActions::default(),
            hooks: Vec::new(),
            triggers: Triggers::default(),
            schedules: Vec::new(),
            grants: Vec::new(),
            routes: Router::new(),
        }
    }

    /// Add a model of the app's own, from its SeaORM entity. A `belongs_to` relation to
    /// `bigcommerce/store` makes it tenant-scoped like the built-in models: every caller
    /// reaches only its store's rows. Its table comes from the app's migrations.
    pub fn model<E: EntityTrait>(mut self, declaration: Declaration) -> App {
        self.registry = self.registry.model::<E>(declaration);
        self
    }

    /// Add a field to a model the app does not own (`bigcommerce/product`). Its column
    /// comes from one of the app's migrations; the gateway checks it is there at start.
    pub fn field(mut self, model: &str, field: ExtraField) -> App {
        self.registry = self.registry.field(model, field.clone());
        let table = self.registry.table_of(model).unwrap_or_default();
        self.fields.push((table, field));
        self
    }

    /// The app's migrations: they run after bcgraph's own, in one history (SeaORM's
    /// `seaql_migrations` table), so their names must differ from bcgraph's `m0001_...`.
    pub fn migrations<M: MigratorTrait + 'static>(mut self) -> App {
        self.migrate = migrate_with::<M>;
        self.migration_names = names_of::<M>;
        self
    }

    /// Add a global action: a mutation (`namespace { name(...) }` or at the root), a
    /// background action, a webhook's or a schedule's target.
    pub fn action(mut self, action: impl GlobalAction) -> App {
        self.globals = self.globals.register(action);
        self
    }

    /// Run `hook` on `model`'s generated `verb` action, on every path that performs it.
    pub fn hook(mut self, model: &str, verb: Verb, hook: impl ModelHook) -> App {
        let model = model.to_owned();
        self.hooks
            .push(Box::new(move |hooks: &mut Hooks, registry: &Registry| {
                let found = registry
                    .find(&model)
                    .unwrap_or_else(|| panic!("a hook names {model}, which is not a model"));
                hooks.add(found.id, verb, hook);
            }));
        self
    }

    /// Run `action` (`name` or `namespace/name`) on every webhook of `scope`
    /// (`store/product/created`, or a prefix ending in `/*`), for the delivery's store,
    /// with the delivery's `data` as its parameters. The app's triggers take precedence
    /// over the built-in handlers, and their scopes are registered with BigCommerce.
    pub fn trigger(mut self, scope: &str, action: &str) -> App {
        self.triggers = self.triggers.on(scope, action);
        self
    }

    /// Run `action` every `every` with `params`, as the system, as a background action.
    /// Every process sharing the database schedules it, and each run happens once.
    pub fn schedule(mut self, action: &str, every: Duration, params: Json) -> App {
        self.schedules.push(Schedule {
            action: action.to_owned(),
            every: every.max(Duration::from_secs(1)),
            params,
        });
        self
    }

    /// Let `role` perform `operations` (`read`, `create`, `update`, `delete`) on `model`
    /// (`namespace/apiId` or `namespace/*`), on top of the defaults or the permissions file.
    pub fn grant(mut self, role: &str, model: &str, operations: &[&str]) -> App {
        self.grants.push(Grant::Model(
            role.to_owned(),
            model.to_owned(),
            operations.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }

    /// Let `role` run the global action `name` (`name`, `namespace/name` or `namespace/*`).
    pub fn grant_action(mut self, role: &str, name: &str) -> App {
        self.grants.push(Grant::Action(role.to_owned(), name.to_owned()));
        self
    }

    /// Serve the app's own HTTP routes next to the API. A handler learns who calls it
    /// with the [`RequestApi`](crate::server::RequestApi) extractor: the API as that
    /// caller, its tenancy applied.
    pub fn routes(mut self, routes: Router<AppState>) -> App {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Parse the command line and run it: `serve` (the default), `migrate`, `schema`,
    /// `sync`, `api-key`, `webhooks`, `secret`. Logs go to stderr (`RUST_LOG`, and
    /// `BCGRAPH_LOG_FORMAT=json` for JSON lines); spans go to an OpenTelemetry collector
    /// too when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and are flushed as the command ends.
    pub fn run(self) -> ExitCode {
        use clap::{CommandFactory, FromArgMatches};
        let name = std::env::args()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "bcgraph".into());
        let matches = crate::cli::Cli::command().bin_name(name).get_matches();
        let cli = match crate::cli::Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        let exporter = match crate::logging::init() {
            Ok(exporter) => exporter,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let command = cli.command.unwrap_or(crate::cli::Command::Serve);
        let outcome = runtime.block_on(crate::cli::run(self, command));
        // Tasks still running (a request dropped at the shutdown timeout) do not hold
        // the exit up.
        runtime.shutdown_timeout(Duration::from_secs(1));
        // Only now have all spans ended (those of tasks dropped just above too): send
        // what the exporter still holds, or it is lost with the process.
        if let Some(exporter) = exporter {
            exporter.shutdown();
        }
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    /// The GraphQL schema (SDL) the app serves: what `bcgraph schema` prints.
    pub fn schema_sdl(self) -> Result<String, AppError> {
        self.registry_and_sdl().map(|(_, sdl)| sdl)
    }

    /// The registry and the schema (SDL) the app serves: what the client package
    /// (`client --out`) is generated from.
    pub(crate) fn registry_and_sdl(self) -> Result<(Arc<Registry>, String), AppError> {
        let registry = Arc::new(self.registry.build());
        let bigcommerce = BigCommerce::new("https://api.bigcommerce.com", ClientOptions::default())
            .map_err(|e| AppError::Start(e.to_string()))?;
        // The schema does not depend on the secret; handlers only need one to run.
        let globals = crate::bigcommerce::register(self.globals, &bigcommerce, &Default::default(), None);
        crate::graphql::build_schema(registry.clone(), &globals)
            .map(|s| (registry, s.sdl()))
            .map_err(|e| AppError::Start(e.to_string()))
    }

    /// Apply bcgraph's migrations and then the app's, and check the app's added fields.
    pub async fn migrate(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let mut seen = HashSet::new();
        for name in (self.migration_names)() {
            if !seen.insert(name.clone()) {
                return Err(AppError::DuplicateMigration(name));
            }
        }
        (self.migrate)(db).await?;
        for (table, field) in &self.fields {
            let column = field.column();
            // Asked of the catalog: SQLite takes an unknown double-quoted name in a SELECT
            // for a string literal, so selecting the column proves nothing there.
            let sql = match db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = $1 AND column_name = $2"
                }
                _ => "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?",
            };
            let found = db
                .query_one_raw(Statement::from_sql_and_values(
                    db.get_database_backend(),
                    sql,
                    [table.clone().into(), column.clone().into()],
                ))
                .await?
                .and_then(|row| row.try_get_by_index::<i64>(0).ok())
                .unwrap_or(0);
            if found == 0 {
                return Err(AppError::MissingColumn {
                    table: table.clone(),
                    column,
                });
            }
        }
        Ok(())
    }

    /// Everything the app serves, over `db` (migrated with [`App::migrate`]): the API,
    /// the workers, the schedules and the routes. [`Gateway::serve`] serves it.
    pub async fn gateway(self, db: DatabaseConnection, config: &Config) -> Result<Gateway, AppError> {
        let registry = Arc::new(self.registry.build());
        let mut hooks = Hooks::default();
        for slot in self.hooks {
            slot(&mut hooks, &registry);
        }
        let mut permissions = config.permissions.clone();
        for grant in &self.grants {
            match grant {
                Grant::Model(role, model, ops) => permissions.grant(role, model, ops),
                Grant::Action(role, name) => permissions.grant_action(role, name),
            }
        }
        let mut config = config.clone();
        config.permissions = permissions;
        let state = AppState::assemble(db, registry, self.globals, hooks, self.triggers, &config)
            .await
            .map_err(|e| AppError::Start(format!("{e:#}")))?;
        Ok(Gateway {
            state,
            routes: self.routes,
            schedules: self.schedules,
        })
    }
}

/// An app with no migrations of its own.
struct NoMigrations;

impl MigratorTrait for NoMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}

/// bcgraph's migrations followed by `M`'s: one ordered history.
struct Combined<M>(PhantomData<M>);

impl<M: MigratorTrait> MigratorTrait for Combined<M> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = migration::Migrator::migrations();
        all.extend(M::migrations());
        all
    }
}

fn migrate_with<M: MigratorTrait + 'static>(db: &DatabaseConnection) -> BoxFuture<'_, Result<(), DbErr>> {
    Box::pin(Combined::<M>::up(db, None))
}

fn names_of<M: MigratorTrait + 'static>() -> Vec<String> {
    Combined::<M>::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// A built app, ready to serve: see [`App::gateway`].
pub struct Gateway {
    state: AppState,
    routes: Router<AppState>,
    schedules: Vec<Schedule>,
}

impl Gateway {
    /// The API as the system (every store, every grant), for the app's own set-up code.
    pub fn api(&self) -> &Api {
        &self.state.api
    }

    /// What the handlers share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every route: the API, webhooks, BigCommerce's callbacks and the app's own.
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn router(&self) -> Router {
        server::router_with(self.state.clone(), self.routes.clone())
    }

    /// Serve on `listener` until `shutdown` completes, with the configured workers and
    /// the app's schedules. Then the listener closes, websockets get a close frame, and
    /// in-flight requests and running background actions have
    /// `BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS` to finish: requests past it are dropped,
    /// actions past it are stopped and handed back to the queue (their attempt not
    /// counted) for another process to take at once. Last, the live-query relay's
    /// connection is given back.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let config = self.state.config.clone();
        // Bound before anything starts, so that a taken address stops `serve` at once.
        let metrics_listener = match config.metrics.listen {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await?),
            None => None,
        };
        let workers = (config.workers > 0).then(|| {
            Worker::start_counted(
                self.state.worker_api(),
                WorkerOptions {
                    concurrency: config.workers,
                    lease: config.job_lease,
                    shutdown_grace: config.shutdown_timeout,
                    ..Default::default()
                },
                self.state.metrics.clone(),
            )
        });
        let mut tasks = Vec::new();
        if let Some(listener) = metrics_listener {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "serving /metrics");
            }
            let metrics = server::metrics_router(self.state.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }));
        }
        if let Some(interval) = config.sync_interval {
            tasks.push(tokio::spawn(crate::bigcommerce::sync::actions::schedule(
                self.state.api.clone(),
                interval,
            )));
        }
        if let Some(interval) = config.purge_interval {
            tasks.push(tokio::spawn(crate::retention::schedule(
                self.state.db.clone(),
                interval,
                config.retention,
            )));
        }
        for schedule in &self.schedules {
            tasks.push(tokio::spawn(run_schedule(
                self.state.api.clone(),
                schedule.clone(),
            )));
        }
        // Connect info: rate limits and websocket caps count clients by their address.
        let app = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        // Once the drain starts the listener closes and requests in flight finish.
        let drain = self.state.edge.drain.clone();
        let serving = axum::serve(crate::server::no_delay(listener), app).with_graceful_shutdown({
            let drain = drain.clone();
            async move { drain.started().await }
        });
        let stopping = async move {
            for task in tasks {
                task.abort();
            }
            if let Some(workers) = workers {
                workers.shutdown().await;
            }
        };
        let served =
            server::drain::serve_until(serving, shutdown, &drain, config.shutdown_timeout, stopping).await;
        self.state.live.stop().await;
        served
    }
}

/// Enqueue `schedule`'s action at each multiple of its period. The job id names the
/// period, so every process enqueues the same job and the queue keeps one.
async fn run_schedule(api: Api, schedule: Schedule) {
    let api = api.as_caller(Caller::system(api.caller.permissions.clone()));
    let every = schedule.every.as_millis().max(1) as i64;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let next = (now / every + 1) * every;
        tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
        let job = Job::triggered(
            &schedule.action,
            schedule.params.clone(),
            Trigger::Schedule {
                action: schedule.action.clone(),
            },
        );
        let options = Options {
            id: Some(format!("schedule-{}-{next}", schedule.action.replace('/', "-"))),
            priority: Priority::Platform,
            ..Options::default()
        };
        match api.enqueue(&job, &options).await {
            Ok(_) | Err(QueueError::Duplicate(_)) => {}
            Err(e) => {
                tracing::error!(action = schedule.action, error = %e, "could not enqueue a scheduled action")
            }
        }
    }
}
