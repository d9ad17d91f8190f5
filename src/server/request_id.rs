//! Every HTTP request runs in a span named `request` that carries its id, so each log
//! line it causes names it; the id comes back in the `x-request-id` response header.
//! A caller's (or a proxy's) `x-request-id` is kept when it is sane: 1 to
//! [`MAX_LENGTH`] visible ASCII characters. Anything else gets a new random id: the
//! header is outside input, and it ends up in every log line.
//!
//! When spans are exported to OpenTelemetry, a request carrying a W3C `traceparent`
//! continues the caller's trace: its span is a child of the caller's.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header read and answered.
pub const HEADER: &str = "x-request-id";
/// The longest id kept from a request.
pub const MAX_LENGTH: usize = 128;

/// The request's own id if it is sane ([`module docs`](self)), else a new one.
pub fn id_of(given: Option<&HeaderValue>) -> String {
    given
        .map(HeaderValue::as_bytes)
        .filter(|id| (1..=MAX_LENGTH).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic()))
        .and_then(|id| std::str::from_utf8(id).ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()))
}

/// The middleware: the span around the request, and the id on the response.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = id_of(request.headers().get(HEADER));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    crate::telemetry::continue_callers_trace(&span, request.headers());
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request answered"
        )
    });
    crate::telemetry::record_status(&span, response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let kept = |v: &str| id_of(Some(&HeaderValue::from_str(v).unwrap())) == v;
        assert!(kept("abc-123"));
        assert!(kept("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(kept(&"x".repeat(MAX_LENGTH)));
        assert!(!kept(&"x".repeat(MAX_LENGTH + 1)));
        assert!(!kept("has space"));
        assert!(!kept(""));
        let opaque = HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap();
        let made = id_of(Some(&opaque));
        assert_eq!(made.len(), 16);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id_of(None), id_of(None));
    }
}
