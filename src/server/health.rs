//! What load balancers and orchestrators ask: `/livez` (is the process serving at all,
//! never touching the database) and `/healthz` (can it serve requests: the database
//! answers, and it is not shutting down), and the 503 every route answers while the
//! database is away.

use super::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// `/healthz` gives up on the database after this, whatever the pool's own timeout, so
/// that a health check answers within a second during an outage.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);

/// What `retry-after` says on a 503 for an unavailable database: long enough for a
/// restarting server, short enough not to leave a recovered one idle.
const RETRY_AFTER_SECONDS: u64 = 5;

/// 200 while the process runs: a restart would not help it.
pub(crate) async fn livez() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// 200 when the database answers within [`HEALTH_TIMEOUT`] and the process is not
/// shutting down; 503 otherwise.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    if state.edge.drain.is_started() {
        return unavailable((StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response());
    }
    match tokio::time::timeout(HEALTH_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the database failed");
            unavailable((StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response())
        }
        Err(_) => {
            tracing::warn!("health check: the database did not answer in time");
            unavailable((StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response())
        }
    }
}

/// `answer` as a 503 with `retry-after`: the database is away for now.
pub(crate) fn unavailable(mut answer: Response) -> Response {
    *answer.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    answer
}
