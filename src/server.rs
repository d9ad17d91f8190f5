//! The HTTP surface: `/api/graphql` (POST, and GraphiQL on GET) and `/healthz`.

use crate::action::{Api, GlobalActions};
use crate::graphql::{self, RequestContext};
use crate::model::Registry;
use async_graphql::dynamic::Schema;
use async_graphql::http::GraphiQLSource;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Largest GraphQL request body accepted.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub api: Api,
    pub schema: Schema,
}

impl AppState {
    /// Build the schema for `registry` over `db` (already migrated).
    pub fn new(db: DatabaseConnection, registry: Arc<Registry>) -> anyhow::Result<AppState> {
        Self::with_globals(db, registry, GlobalActions::default())
    }

    /// The same, with the application's global actions.
    pub fn with_globals(
        db: DatabaseConnection,
        registry: Arc<Registry>,
        globals: GlobalActions,
    ) -> anyhow::Result<AppState> {
        let schema = graphql::build_schema(registry.clone(), &globals)?;
        let api = Api::new(db.clone(), registry).with_globals(globals);
        Ok(AppState { db, api, schema })
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/graphql", get(graphiql).post(graphql_post))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/api/graphql").finish())
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error answer in the GraphQL response shape, so the client can read it whatever the status.
fn request_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": message, "extensions": {"code": graphql::errors::INVALID_QUERY_INPUT}}],
    });
    json_response(status, body.to_string().into_bytes())
}

async fn graphql_post(State(state): State<AppState>, body: Bytes) -> Response {
    // `?operation=<name>` from the client is informational and ignored.
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                &format!("the request body is not a GraphQL request: {e}"),
            );
        }
    };
    if request.query.trim().is_empty() {
        return request_error(StatusCode::BAD_REQUEST, "the request has no `query`");
    }
    let context = RequestContext::new(state.api.clone());
    let null_items = context.null_items();
    let mut response = state.schema.execute(request.data(context)).await;
    graphql::apply_null_items(&mut response.data, &null_items);
    match serde_json::to_vec(&response) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => request_error(StatusCode::INTERNAL_SERVER_ERROR, "could not encode the response"),
    }
}
