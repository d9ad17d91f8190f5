//! The HTTP surface: `/api/graphql` (POST; GraphiQL on GET), `/api/graphql/batch`
//! (graphql-transport-ws, `socket`), `/healthz` and `/livez` (`health`). Every request is authenticated here
//! and carries its identity into the GraphQL context; what a request may cost is bounded
//! here too (`rate_limit`, the document check, the time and record budgets).

pub mod drain;
mod health;
pub mod rate_limit;
pub mod request_id;
pub mod socket;
mod socket_answers;

use crate::action::{Api, Caller, GlobalActions, Hooks};
use crate::auth::{Auth, AuthError};
use crate::bigcommerce::sync::Syncer;
use crate::bigcommerce::webhooks::{Accepted, Ingest, Triggers, WebhookRefusal};
use crate::bigcommerce::{BigCommerce, ClientOptions};
use crate::config::{Config, Limits};
use crate::db;
use crate::metrics::{Metrics, WebhookOutcome, first_code};
use crate::graphql::errors::ErrorCode;
use crate::graphql::{self, RequestContext, cost};
use crate::model::Registry;
use async_graphql::dynamic::Schema;
use async_graphql::http::GraphiQLSource;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use rate_limit::{Credential, RateLimiters};
use sea_orm::DatabaseConnection;
use socket::SocketSlots;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// The header that hands a new session token to the client.
pub const SET_AUTHORIZATION: &str = "x-set-authorization";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) db: DatabaseConnection,
    /// The system's API; each request acts through a copy bound to its caller.
    pub api: Api,
    pub(crate) schema: Schema,
    pub(crate) auth: Auth,
    pub(crate) config: Arc<Config>,
    /// For calls to BigCommerce's login service (the install code exchange).
    pub(crate) http: reqwest::Client,
    /// The process's BigCommerce client.
    pub(crate) bigcommerce: BigCommerce,
    /// Webhook checks and the scope-to-action table.
    pub(crate) ingest: Ingest,
    /// Runs store syncs (the queue's jobs and `bcgraph sync`).
    pub(crate) syncer: Syncer,
    /// What requests may cost, and the state that counts it.
    pub(crate) edge: Arc<Edge>,
    /// Changed tables, for live queries.
    pub(crate) live: crate::live::Changes,
    /// This gateway's Prometheus metrics (off unless configured).
    pub(crate) metrics: Metrics,
}

/// The limits on requests and the counters behind them, shared by every request.
pub struct Edge {
    pub limits: Limits,
    pub rates: RateLimiters,
    pub sockets: SocketSlots,
    /// Set once the process starts shutting down.
    pub drain: drain::Drain,
}

impl Edge {
    pub fn new(limits: &Limits) -> Edge {
        Edge {
            limits: limits.clone(),
            rates: RateLimiters::new(&limits.rates),
            sockets: SocketSlots::new(limits),
            drain: drain::Drain::default(),
        }
    }
}

impl AppState {
    /// Build the schema and authentication over `db` (already migrated), for bcgraph's
    /// built-in app with `globals` added; an app built on the library goes through
    /// [`App::gateway`](crate::App::gateway) instead.
    pub async fn new(
        db: DatabaseConnection,
        registry: Arc<Registry>,
        globals: GlobalActions,
        config: &Config,
    ) -> anyhow::Result<AppState> {
        Self::assemble(
            db,
            registry,
            globals,
            Hooks::default(),
            Triggers::default(),
            config,
        )
        .await
    }

    pub(crate) async fn assemble(
        db: DatabaseConnection,
        registry: Arc<Registry>,
        globals: GlobalActions,
        hooks: Hooks,
        triggers: Triggers,
        config: &Config,
    ) -> anyhow::Result<AppState> {
        let metrics = Metrics::new(&config.metrics);
        let bigcommerce = BigCommerce::with_metrics(
            config.bigcommerce.api_url.as_str(),
            ClientOptions::default(),
            metrics.clone(),
        )?;
        let auth = Auth::new(db.clone(), config).await?;
        let syncer = Syncer {
            bigcommerce: bigcommerce.clone(),
            secret: auth.secret.clone(),
            lease: config.job_lease,
            db: db::connect_relaxed(
                &config.database_url,
                config.database_direct_url.as_deref(),
                &db,
                config.database_timeout,
                // The sync's lanes, and one for each worker.
                8 + config.workers as u32,
            )
            .await?,
            retries: config.sync_retries,
            metrics: metrics.clone(),
        };
        let globals = crate::bigcommerce::register(globals, &bigcommerce, &auth.secret, Some(syncer.clone()));
        let schema = graphql::build_schema_with(registry.clone(), &globals, &config.limits.document)?;
        let live = crate::live::Changes::start(
            &db,
            &config.database_url,
            config.database_direct_url.as_deref(),
            &registry,
        )
        .await?;
        // Without them searches are slower, not wrong: a role that may not create them
        // (it does not own the tables) still gets a gateway.
        if let Err(e) = crate::query::search_statistics::ensure(&db, &registry).await {
            tracing::warn!(error = %e, "cannot create the statistics that plan searches");
        }
        let permissions = Arc::new(config.permissions.clone());
        let api = Api::new(db.clone(), registry)
            .with_globals(globals)
            .with_queue_limits(config.queue_limits)
            .with_hooks(hooks)
            .with_platform(bigcommerce.clone(), auth.secret.clone())
            .as_caller(Caller::system(permissions));
        let ingest = Ingest::new(
            api.clone(),
            Arc::new(triggers),
            auth.secret.clone(),
            config.bigcommerce.client_secret.clone(),
        );
        Ok(AppState {
            db,
            api,
            schema,
            auth,
            config: Arc::new(config.clone()),
            http: reqwest::Client::new(),
            bigcommerce,
            ingest,
            syncer,
            edge: Arc::new(Edge::new(&config.limits)),
            live,
            metrics,
        })
    }

    /// The webhook scopes registered with BigCommerce: `BIGCOMMERCE_WEBHOOK_SCOPES`, or
    /// every scope a trigger handles.
    pub(crate) fn webhook_scopes(&self) -> Vec<String> {
        self.config
            .bigcommerce
            .webhook_scopes
            .clone()
            .unwrap_or_else(|| self.ingest.triggers.scopes())
    }

    /// The system's API for background workers: over the sync's pool, whose commits do
    /// not wait for the disk (to `BCGRAPH_DATABASE_DIRECT_URL` when set). A job's outcome
    /// is committed after its writes, so a crash that loses one loses the other, and the
    /// job, still claimed, runs again once its lease ends: the at-least-once contract.
    /// What a worker skips is the wait, which on PostgreSQL made three commits a job
    /// compete with the webhook acknowledgement's, the one commit that must reach the disk.
    pub fn worker_api(&self) -> Api {
        self.api.with_pool(self.syncer.db.clone())
    }

    /// Which action each webhook scope runs (the built-in table by default).
    pub fn with_triggers(mut self, triggers: Triggers) -> AppState {
        self.ingest.triggers = Arc::new(triggers);
        self
    }
}

/// What [`no_delay`] makes of a listener.
pub type NoDelay = axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

/// `listener`, its connections with Nagle's algorithm off. A websocket answers in
/// several small frames (a query's `next`, then its `complete`), and with Nagle's
/// algorithm the second waits for the client's delayed acknowledgement of the first:
/// about 40 ms on Linux, which capped a websocket client at some 25 answers a second.
/// axum leaves the option as the system has it.
pub fn no_delay(listener: tokio::net::TcpListener) -> NoDelay {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        // A connection that cannot take the option still works, only slower.
        let _ = tcp.set_nodelay(true);
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// The routes. Serve them with `into_make_service_with_connect_info::<SocketAddr>()`
/// on a [`no_delay`] listener: the rate limits and websocket caps count clients by
/// their address.
#[cfg(feature = "internals")]
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The routes, with an app's own (`extra`) served next to them under the same limits.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let cors = cors(&state.config.cors_origins);
    let limits = &state.edge.limits;
    let mut router = Router::new();
    if let Some(dir) = &state.config.app_dir {
        // The built-in page: a single-page app, so unknown paths get its index.
        let index = tower_http::services::ServeFile::new(dir.join("index.html"));
        router = router.nest_service("/app", tower_http::services::ServeDir::new(dir).fallback(index));
    }
    let graphql = if limits.graphiql {
        get(graphiql).post(graphql_post)
    } else {
        post(graphql_post)
    };
    // Only the API is limited per address: webhooks and callbacks come from BigCommerce's
    // few addresses at high rates.
    let api = Router::new()
        .route("/api/graphql", graphql)
        .route("/api/graphql/batch", get(socket::graphql_websocket))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_address,
        ));
    // An app's routes are limited per address like the API: they answer its callers.
    let extra = if extra.has_routes() {
        extra.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_address,
        ))
    } else {
        extra
    };
    // `/metrics` on the public listener only behind its token; without one it is not a
    // route here at all (404), and `BCGRAPH_METRICS_LISTEN` serves it apart.
    if state.metrics.is_on() && state.config.metrics.token.is_some() {
        router = router.route("/metrics", get(metrics_endpoint));
    }
    let router = router
        .merge(crate::callbacks::routes())
        .merge(api)
        .merge(extra)
        .route("/webhooks/bigcommerce", post(bigcommerce_webhook))
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        // A websocket outlives its upgrade request, so neither timeout reaches it.
        .layer(RequestBodyTimeoutLayer::new(limits.request_body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(cors);
    // Counted outside the timeout and CORS, so that their answers are counted too.
    let router = match state.metrics.layer() {
        Some(layer) => router.layer(layer),
        None => router,
    };
    // Outermost: every answer, even a refusal of the layers above, carries its id.
    router
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// What `BCGRAPH_METRICS_LISTEN` serves: `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .with_state(state)
}

/// The Prometheus text format of this gateway's series; with `BCGRAPH_METRICS_TOKEN`,
/// to its bearer only (401 otherwise).
async fn metrics_endpoint(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::metrics::token_matches(given, token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a metrics token is required",
            )
                .into_response();
        }
    }
    let postgres = state.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let mut pools = vec![("main", &state.db)];
    // On SQLite the sync shares the main pool.
    if postgres {
        pools.push(("sync", &state.syncer.db));
    }
    let sources = crate::metrics::sample::Sources {
        pools,
        db: &state.db,
        bigcommerce: &state.bigcommerce,
        websockets: state.edge.sockets.open_connections(),
        live_queries: state.edge.sockets.open_live_queries(),
    };
    match state.metrics.render(sources).await {
        Some(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Browsers may call the API from the configured origins.
fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-gadget-environment"),
        ])
        .expose_headers([
            HeaderName::from_static(SET_AUTHORIZATION),
            HeaderName::from_static(request_id::HEADER),
        ])
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/api/graphql")
            .subscription_endpoint("/api/graphql/batch")
            .finish(),
    )
}

/// A BigCommerce webhook delivery: checked, then enqueued; answered at once.
async fn bigcommerce_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let delivered = state.ingest.deliver(&headers, &body).await;
    let (scope, outcome) = match &delivered {
        Ok(Accepted::Enqueued { scope, .. }) => (Some(scope.as_str()), WebhookOutcome::Enqueued),
        Ok(Accepted::Duplicate { scope }) => (Some(scope.as_str()), WebhookOutcome::Duplicate),
        Ok(Accepted::UnknownScope(scope)) => (Some(scope.as_str()), WebhookOutcome::Unhandled),
        // Refused before its sender was known: its scope says nothing.
        Err(WebhookRefusal::Malformed(_)) => (None, WebhookOutcome::Malformed),
        Err(WebhookRefusal::Unauthenticated(_)) => (None, WebhookOutcome::Unauthenticated),
        Err(WebhookRefusal::UnknownStore(_)) => (None, WebhookOutcome::UnknownStore),
        Err(WebhookRefusal::TooLarge) => (None, WebhookOutcome::TooLarge),
        Err(WebhookRefusal::Unavailable) => (None, WebhookOutcome::Unavailable),
    };
    state.metrics.webhook_delivery(scope, outcome, started.elapsed());
    match delivered {
        Ok(accepted) => {
            if let Accepted::UnknownScope(scope) = &accepted {
                tracing::debug!(%scope, "acknowledged a webhook nothing handles");
            }
            (StatusCode::OK, "ok").into_response()
        }
        Err(refusal) => {
            tracing::warn!(?refusal, "refused a webhook delivery");
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = match &refusal {
                WebhookRefusal::Malformed(m) | WebhookRefusal::Unauthenticated(m) | WebhookRefusal::UnknownStore(m) => {
                    m.clone()
                }
                WebhookRefusal::TooLarge => "the delivery is too large".to_owned(),
                // Not stored: BigCommerce delivers it again later.
                WebhookRefusal::Unavailable => {
                    return health::unavailable((status, "the database is unavailable").into_response());
                }
            };
            (status, message).into_response()
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error answer in the GraphQL response shape, so the client can read it whatever the status.
pub(crate) fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": message, "extensions": {"code": code.as_str()}}],
    });
    json_response(status, body.to_string().into_bytes())
}

fn auth_failure(e: AuthError) -> Response {
    match e {
        AuthError::Denied(message) => error_response(StatusCode::OK, ErrorCode::PermissionDenied, &message),
        AuthError::Database(e) if db::is_unavailable(&e) => {
            tracing::warn!(error = %e, "the database is unavailable to authentication");
            health::unavailable(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                crate::action::UNAVAILABLE_MESSAGE,
            ))
        }
        AuthError::Database(e) => {
            tracing::error!(error = %e, "database error while authenticating");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalError,
                "internal error",
            )
        }
    }
}

/// Set on answers of the fast read path (`graphql::fast`): which path answered is
/// otherwise invisible, and both must answer alike.
const READ_PATH: HeaderName = HeaderName::from_static("x-bcgraph-read-path");

/// What the metrics count of a GraphQL request: its operation's kind, once known, and the
/// code of its first error.
#[derive(Default)]
struct Operation {
    kind: Option<async_graphql::parser::types::OperationType>,
    code: Option<&'static str>,
}

async fn graphql_post(
    State(state): State<AppState>,
    deferred: Option<axum::Extension<rate_limit::AddressDeferred>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut operation = Operation::default();
    let answer = graphql_answer(&state, deferred, &headers, &body, &mut operation).await;
    state.metrics.graphql_operation(operation.kind, operation.code);
    answer
}

async fn graphql_answer(
    state: &AppState,
    deferred: Option<axum::Extension<rate_limit::AddressDeferred>>,
    headers: &HeaderMap,
    body: &Bytes,
    operation: &mut Operation,
) -> Response {
    // `?operation=<name>` from the client is informational and ignored.
    let mut request = match graphql::check::read_request(body) {
        Ok(request) => request,
        Err(message) => {
            operation.code = Some(ErrorCode::InvalidQueryInput.as_str());
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidQueryInput, &message);
        }
    };
    let limits = &state.edge.limits;
    // A live query over HTTP is answered once: only the websocket can answer again.
    if request.query.contains("@live") && cost::check_nesting(&request.query, cost::MAX_NESTING).is_ok() {
        match crate::live::strip_live(&request.query) {
            Ok(Some(text)) => request.query = text,
            Ok(None) => {}
            Err(message) => {
                operation.code = Some(ErrorCode::InvalidQueryInput.as_str());
                return error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidQueryInput, &message);
            }
        }
    }
    // Before authentication: a refused document costs no session row.
    let checked = match cost::check(request, &limits.document) {
        Ok(checked) => checked,
        Err(refused) => {
            let response = refused.response();
            operation.code = first_code(&response);
            return graphql_response(&response);
        }
    };
    operation.kind = checked.operation;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let authenticated = state.auth.authenticate(authorization).await;
    // A request with an API key is charged to its address unless the key opened.
    if let Some(axum::Extension(rate_limit::AddressDeferred(address))) = deferred
        && !matches!(&authenticated, Ok(a) if a.identity.api_key_id.is_some())
        && let Err(limited) = state.edge.rates.check_address(address)
    {
        operation.code = Some(ErrorCode::TooManyRequests.as_str());
        return limited.response();
    }
    let authenticated = match authenticated {
        Ok(a) => a,
        Err(e) => {
            operation.code = Some(match &e {
                AuthError::Denied(_) => ErrorCode::PermissionDenied.as_str(),
                AuthError::Database(_) => ErrorCode::InternalError.as_str(),
            });
            return auth_failure(e);
        }
    };
    let credential = Credential::of(&authenticated.identity, authenticated.new_token.is_some());
    if let Err(limited) = state.edge.rates.check_credential(credential.as_ref()) {
        operation.code = Some(ErrorCode::TooManyRequests.as_str());
        return limited.response();
    }
    let context = RequestContext::new(&state.api, authenticated.identity)
        .with_limits(limits.records_per_request, &limits.input);
    // A plain model read is answered by the fast path, after async-graphql's validation.
    let answer = graphql::fast::execute(
        &state.schema,
        checked.request,
        context,
        limits.execution_timeout,
        limits.fast_reads,
    )
    .await;
    let mut answer = match answer {
        graphql::fast::Answer::Body(body) => {
            let mut answer = json_response(StatusCode::OK, body);
            answer.headers_mut().insert(READ_PATH, HeaderValue::from_static("fast"));
            answer
        }
        graphql::fast::Answer::Response(response) => {
            operation.code = first_code(&response);
            // A read the database could not answer: the client may send it again as it is.
            match graphql::errors::is_unavailable(&response) {
                true => health::unavailable(graphql_response(&response)),
                false => graphql_response(&response),
            }
        }
    };
    if let Some(token) = authenticated.new_token
        && let Ok(value) = HeaderValue::from_str(&format!("Session {token}"))
    {
        answer.headers_mut().insert(SET_AUTHORIZATION, value);
    }
    answer
}

/// A GraphQL response as JSON (status 200 whatever its errors, as async-graphql answers).
fn graphql_response(response: &async_graphql::Response) -> Response {
    match serde_json::to_vec(response) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "could not encode the response",
        ),
    }
}

/// The API as the caller of a request, for an app's own routes ([`App::routes`]): the
/// request's `Authorization` is checked as the GraphQL endpoint checks it, and every
/// read and write through the API applies that caller's grants and store. A request
/// without a credential is anonymous and reaches no store's rows.
///
/// ```no_run
/// use axum::{Json, Router, routing::get};
/// use bcgraph::server::{AppState, RequestApi};
///
/// async fn my_store(RequestApi(api): RequestApi) -> Json<serde_json::Value> {
///     Json(serde_json::json!({"store": api.caller.tenant.store()}))
/// }
///
/// let routes: Router<AppState> = Router::new().route("/my/store", get(my_store));
/// ```
///
/// [`App::routes`]: crate::App::routes
pub struct RequestApi(pub Api);

impl axum::extract::FromRequestParts<AppState> for RequestApi {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let authenticated = state.auth.authenticate(authorization).await;
        // A request with an API key is charged to its address unless the key opened, as
        // on `/api/graphql`.
        if let Some(rate_limit::AddressDeferred(address)) = parts.extensions.get().copied()
            && !matches!(&authenticated, Ok(a) if a.identity.api_key_id.is_some())
        {
            state
                .edge
                .rates
                .check_address(address)
                .map_err(|limited| limited.response())?;
        }
        let authenticated = authenticated.map_err(auth_failure)?;
        let credential = Credential::of(&authenticated.identity, authenticated.new_token.is_some());
        state
            .edge
            .rates
            .check_credential(credential.as_ref())
            .map_err(|limited| limited.response())?;
        let caller = Caller::of(&authenticated.identity, state.api.caller.permissions.clone());
        Ok(RequestApi(state.api.as_caller(caller)))
    }
}
