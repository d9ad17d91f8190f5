//! The HTTP side: routes, the gate every store request passes (rate limit, auth, faults,
//! records), and an accept loop that can drop a connection without answering.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::app::{App, Store, lock, read};
use crate::catalog as c;
use crate::error::ApiError;
use crate::limits::RecordedRequest;
use crate::oauth;
use crate::orders as o;

/// Set on every request by the accept loop: notifying it closes the connection at once.
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

pub(crate) fn router(app: Arc<App>) -> Router {
    let v3 = Router::new()
        .route("/catalog/products", get(c::list_products).post(c::create_product))
        .route(
            "/catalog/products/{product_id}",
            get(c::get_product)
                .put(c::update_product)
                .delete(c::delete_product),
        )
        .route(
            "/catalog/products/{product_id}/variants",
            get(c::list_product_variants).post(c::create_variant),
        )
        .route(
            "/catalog/products/{product_id}/variants/{variant_id}",
            get(c::get_variant)
                .put(c::update_variant)
                .delete(c::delete_variant),
        )
        .route("/catalog/variants", get(c::list_variants))
        .route(
            "/catalog/categories",
            get(c::list_categories).post(c::create_category),
        )
        .route(
            "/catalog/categories/{id}",
            get(c::get_category)
                .put(c::update_category)
                .delete(c::delete_category),
        )
        .route("/catalog/brands", get(c::list_brands).post(c::create_brand))
        .route(
            "/catalog/brands/{id}",
            get(c::get_brand).put(c::update_brand).delete(c::delete_brand),
        )
        .route(
            "/customers",
            get(c::list_customers)
                .post(c::create_customers)
                .put(c::update_customers)
                .delete(c::delete_customers),
        )
        .route("/hooks", get(c::list_hooks).post(c::create_hook))
        .route(
            "/hooks/{id}",
            get(c::get_hook).put(c::update_hook).delete(c::delete_hook),
        );
    let v3 = crate::metafields::routes(v3);
    let v2 = Router::new()
        .route("/orders", get(o::list_orders).post(o::create_order))
        .route(
            "/orders/{id}",
            get(o::get_order).put(o::update_order).delete(o::delete_order),
        )
        .route("/orders/{id}/products", get(o::list_order_products));
    let stores = Router::new()
        .nest("/stores/{store_hash}/v3", v3)
        .nest("/stores/{store_hash}/v2", v2)
        .fallback(|| async { ApiError::not_found().into_response() })
        .layer(middleware::from_fn_with_state(app.clone(), gate));
    Router::new()
        .route("/oauth2/token", post(oauth::token))
        .merge(stores)
        .with_state(app)
}

/// Lowers the store's in-flight gauge however the request ends (even when dropped).
struct InFlight(Arc<Store>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn roll(app: &App, share: f64) -> bool {
    share > 0.0 && lock(&app.fault_rng).random_bool(share.clamp(0.0, 1.0))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn gate(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let hash = path
        .strip_prefix("/stores/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let Some(store) = app.store(hash) else {
        return ApiError::not_found().into_response();
    };
    request.extensions_mut().insert(store.clone());
    let now_in_flight = store.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _in_flight = InFlight(store.clone());
    {
        let mut stats = lock(&store.stats);
        stats.total_requests += 1;
        stats.peak_concurrency = stats.peak_concurrency.max(now_in_flight);
    }
    let mut recorded = RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_string),
        user_agent: header_text(request.headers(), header::USER_AGENT),
        content_type: header_text(request.headers(), header::CONTENT_TYPE),
        accept: header_text(request.headers(), header::ACCEPT),
        status: 0,
    };
    let settings = read(&app.settings).clone();
    if !settings.faults.latency.is_zero() {
        tokio::time::sleep(settings.faults.latency).await;
    }

    if roll(&app, settings.faults.platform_429) {
        lock(&store.stats).served_429 += 1;
        recorded.status = 429;
        store.record(recorded);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(ApiError::new(429, "Too many requests").body()),
        )
            .into_response();
    }

    let verdict = settings.rate_limit.as_ref().map(|limit| {
        (
            limit.clone(),
            lock(&store.limiter).check(limit, app.epoch, Instant::now()),
        )
    });
    if let Some((_, v)) = &verdict {
        let mut stats = lock(&store.stats);
        let window = stats.windows.entry(v.window_index).or_default();
        window.neighbour = v.neighbour_spent;
        if v.allowed {
            window.served += 1;
        } else {
            window.rejected += 1;
            stats.served_429 += 1;
        }
    }
    let rate_headers = |response: &mut Response| {
        if let Some((_, v)) = &verdict {
            let headers = response.headers_mut();
            for (name, value) in [
                ("X-Rate-Limit-Requests-Left", u64::from(v.left)),
                ("X-Rate-Limit-Requests-Quota", u64::from(v.quota)),
                ("X-Rate-Limit-Time-Reset-Ms", v.reset_ms),
                ("X-Rate-Limit-Time-Window-Ms", v.window_ms),
            ] {
                headers.insert(name, HeaderValue::from(value));
            }
        }
    };
    if let Some((limit, v)) = &verdict
        && !v.allowed
    {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(ApiError::new(429, "Too many requests").body()),
        )
            .into_response();
        if limit.headers_on_429 {
            rate_headers(&mut response);
            response
                .headers_mut()
                .insert("X-Retry-After", HeaderValue::from(v.reset_ms.div_ceil(1000)));
        }
        recorded.status = 429;
        store.record(recorded);
        return response;
    }

    // An uninstalled app's token is revoked: every call with it is a 401.
    let token_ok = store.app_installed.load(Ordering::Relaxed)
        && request
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == read(&store.access_token).as_str());
    if !token_ok {
        lock(&store.stats).unauthorized += 1;
        let mut response =
            ApiError::new(401, "You are not authorized to access this resource.").into_response();
        rate_headers(&mut response);
        recorded.status = 401;
        store.record(recorded);
        return response;
    }

    let faults = &settings.faults;
    if roll(&app, faults.drop_connection)
        && let Some(kill) = request.extensions().get::<ConnectionKill>()
    {
        lock(&store.stats).dropped_connections += 1;
        store.record(recorded);
        kill.0.notify_one();
        // The accept loop drops the connection; this answer is never sent.
        return futures::future::pending::<Response>().await;
    }
    for (share, status) in [(faults.error_500, 500u16), (faults.error_503, 503)] {
        if roll(&app, share) {
            lock(&store.stats).served_5xx += 1;
            let mut response = ApiError::new(status, "Internal fault injected by the fake").into_response();
            rate_headers(&mut response);
            recorded.status = status;
            store.record(recorded);
            return response;
        }
    }
    let truncate = roll(&app, faults.truncate_body);

    let mut response = next.run(request).await;
    rate_headers(&mut response);
    recorded.status = response.status().as_u16();
    store.record(recorded);
    if truncate {
        lock(&store.stats).dropped_connections += 1;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let half = bytes.slice(..bytes.len() / 2);
        let stream = futures::stream::iter([
            Ok::<Bytes, std::io::Error>(half),
            Err(std::io::Error::other("connection cut by the fake")),
        ]);
        let mut response = Response::from_parts(parts, Body::from_stream(stream));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        return response;
    }
    response
}

/// Serves `router` on `listener` until the returned task is aborted; aborting it also ends
/// every open connection.
pub(crate) fn serve(listener: TcpListener, router: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let (socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "fake BigCommerce: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            while connections.try_join_next().is_some() {}
            let router = router.clone();
            connections.spawn(async move {
                let kill = Arc::new(Notify::new());
                let conn_kill = kill.clone();
                let service =
                    hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ConnectionKill(conn_kill.clone()));
                        let router = router.clone();
                        async move {
                            let response = router.oneshot(request.map(Body::new)).await;
                            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                        }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service);
                tokio::select! {
                    _ = connection => {}
                    // Dropping the connection future closes the socket without an answer.
                    _ = kill.notified() => {}
                }
            });
        }
    })
}
