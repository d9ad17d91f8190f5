//! The HTTP surface: `/api/graphql` (POST; GraphiQL on GET), `/api/graphql/batch`
//! (graphql-transport-ws) and `/healthz`. Every request is authenticated here and
//! carries its identity into the GraphQL context.

use crate::action::{Api, Caller, GlobalActions};
use crate::auth::{Auth, AuthError, Identity};
use crate::bigcommerce::sync::Syncer;
use crate::bigcommerce::webhooks::{Accepted, Ingest, Triggers};
use crate::bigcommerce::{BigCommerce, ClientOptions};
use crate::config::Config;
use crate::db;
use crate::graphql::{self, RequestContext};
use crate::model::Registry;
use async_graphql::Data;
use async_graphql::dynamic::Schema;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Largest GraphQL request body accepted.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The header that hands a new session token to the client.
pub const SET_AUTHORIZATION: &str = "x-set-authorization";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The system's API; each request acts through a copy bound to its caller.
    pub api: Api,
    pub schema: Schema,
    pub auth: Auth,
    pub config: Arc<Config>,
    /// For calls to BigCommerce's login service (the install code exchange).
    pub http: reqwest::Client,
    /// The process's BigCommerce client.
    pub bigcommerce: BigCommerce,
    /// Webhook checks and the scope-to-action table.
    pub ingest: Ingest,
    /// Runs store syncs (the queue's jobs and `bcgraph sync`).
    pub syncer: Syncer,
}

impl AppState {
    /// Build the schema and authentication over `db` (already migrated).
    pub async fn new(
        db: DatabaseConnection,
        registry: Arc<Registry>,
        globals: GlobalActions,
        config: &Config,
    ) -> anyhow::Result<AppState> {
        let bigcommerce = BigCommerce::new(config.bigcommerce.api_url.as_str(), ClientOptions::default())?;
        let auth = Auth::new(db.clone(), config).await?;
        let syncer = Syncer {
            bigcommerce: bigcommerce.clone(),
            secret: auth.secret.clone(),
            lease: config.job_lease,
            db: db::connect_relaxed(&config.database_url, &db).await?,
        };
        let globals = crate::bigcommerce::register(globals, &bigcommerce, &auth.secret, Some(syncer.clone()));
        let schema = graphql::build_schema(registry.clone(), &globals)?;
        let permissions = Arc::new(config.permissions.clone());
        let api = Api::new(db.clone(), registry)
            .with_globals(globals)
            .with_queue_limits(config.queue_limits)
            .as_caller(Caller::system(permissions));
        let ingest = Ingest {
            api: api.clone(),
            triggers: Arc::new(Triggers::default()),
            gateway_secret: auth.secret.clone(),
            client_secret: config.bigcommerce.client_secret.clone(),
        };
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
        })
    }

    /// Which action each webhook scope runs (the built-in table by default).
    pub fn with_triggers(mut self, triggers: Triggers) -> AppState {
        self.ingest.triggers = Arc::new(triggers);
        self
    }
}

pub fn router(state: AppState) -> Router {
    let cors = cors(&state.config.cors_origins);
    let mut router = Router::new();
    if let Some(dir) = &state.config.app_dir {
        // The built-in page: a single-page app, so unknown paths get its index.
        let index = tower_http::services::ServeFile::new(dir.join("index.html"));
        router = router.nest_service("/app", tower_http::services::ServeDir::new(dir).fallback(index));
    }
    router
        .merge(crate::callbacks::routes())
        .route("/api/graphql", get(graphiql).post(graphql_post))
        .route("/api/graphql/batch", get(graphql_websocket))
        .route("/webhooks/bigcommerce", post(bigcommerce_webhook))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors)
        .with_state(state)
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
        .expose_headers([HeaderName::from_static(SET_AUTHORIZATION)])
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/api/graphql")
            .subscription_endpoint("/api/graphql/batch")
            .finish(),
    )
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

/// A BigCommerce webhook delivery: checked, then enqueued; answered at once.
async fn bigcommerce_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match state.ingest.deliver(&headers, &body).await {
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
                crate::bigcommerce::webhooks::Refusal::Malformed(m)
                | crate::bigcommerce::webhooks::Refusal::Unauthenticated(m)
                | crate::bigcommerce::webhooks::Refusal::UnknownStore(m) => m.clone(),
                crate::bigcommerce::webhooks::Refusal::TooLarge => "the delivery is too large".to_owned(),
            };
            (status, message).into_response()
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error answer in the GraphQL response shape, so the client can read it whatever the status.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": message, "extensions": {"code": code}}],
    });
    json_response(status, body.to_string().into_bytes())
}

fn auth_failure(e: AuthError) -> Response {
    match e {
        AuthError::Denied(message) => error_response(StatusCode::OK, "GGT_PERMISSION_DENIED", &message),
        AuthError::Database(e) => {
            tracing::error!(error = %e, "database error while authenticating");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "GGT_INTERNAL_ERROR",
                "internal error",
            )
        }
    }
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // `?operation=<name>` from the client is informational and ignored.
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("the request body is not a GraphQL request: {e}");
            return error_response(StatusCode::BAD_REQUEST, "GGT_INVALID_QUERY_INPUT", &message);
        }
    };
    if request.query.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "GGT_INVALID_QUERY_INPUT",
            "the request has no `query`",
        );
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let authenticated = match state.auth.authenticate(authorization).await {
        Ok(a) => a,
        Err(e) => return auth_failure(e),
    };
    let context = RequestContext::new(&state.api, authenticated.identity);
    let null_items = context.null_items();
    let mut response = state.schema.execute(request.data(context)).await;
    graphql::apply_null_items(&mut response.data, &null_items);
    let mut answer = match serde_json::to_vec(&response) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "GGT_INTERNAL_ERROR",
            "could not encode the response",
        ),
    };
    if let Some(token) = authenticated.new_token
        && let Ok(value) = HeaderValue::from_str(&format!("Session {token}"))
    {
        answer.headers_mut().insert(SET_AUTHORIZATION, value);
    }
    answer
}

/// graphql-transport-ws: credentials arrive in `connection_init.payload.auth`.
async fn graphql_websocket(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let executor = SocketExecutor {
                schema: state.schema.clone(),
                api: state.api.clone(),
            };
            GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| async move {
                    let auth = payload.get("auth").cloned().unwrap_or(serde_json::Value::Null);
                    let authenticated = state
                        .auth
                        .authenticate_websocket(&auth)
                        .await
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let mut data = Data::default();
                    data.insert(authenticated.identity);
                    Ok(data)
                })
                .serve()
        })
}

/// Runs the operations of one websocket connection as the identity it authenticated
/// with: each operation gets its own request context. Queries and mutations answer
/// once; subscriptions stream.
#[derive(Clone)]
struct SocketExecutor {
    schema: Schema,
    api: Api,
}

impl SocketExecutor {
    fn is_subscription(request: &async_graphql::Request) -> bool {
        let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
            return false;
        };
        let operation = match (&document.operations, request.operation_name.as_deref()) {
            (async_graphql::parser::types::DocumentOperations::Single(op), _) => Some(&op.node),
            (async_graphql::parser::types::DocumentOperations::Multiple(ops), Some(name)) => {
                ops.get(name).map(|op| &op.node)
            }
            (async_graphql::parser::types::DocumentOperations::Multiple(ops), None) => {
                ops.values().next().map(|op| &op.node)
            }
        };
        operation.is_some_and(|op| op.ty == async_graphql::parser::types::OperationType::Subscription)
    }
}

impl async_graphql::Executor for SocketExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        self.schema.execute(request).await
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        let identity = session_data
            .as_ref()
            .and_then(|data| data.get(&std::any::TypeId::of::<Identity>()))
            .and_then(|identity| identity.downcast_ref::<Identity>())
            .cloned();
        let Some(identity) = identity else {
            let denied = async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                "the connection is not authenticated",
                None,
            )]);
            return futures::stream::once(async move { denied }).boxed();
        };
        let request = request.data(RequestContext::new(&self.api, identity));
        if Self::is_subscription(&request) {
            self.schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
        } else {
            let schema = self.schema.clone();
            futures::stream::once(async move { schema.execute(request).await }).boxed()
        }
    }
}
