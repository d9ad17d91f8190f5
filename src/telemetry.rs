//! OpenTelemetry export of the spans bcgraph writes its log lines in (a request's, a
//! background action's, a sync's and its pages'), when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set: over OTLP/HTTP with protobuf, in batches,
//! from the SDK's own thread. Unset, none of it is built: no layer in the subscriber, no
//! thread, and a request pays one load of a flag.
//!
//! The standard `OTEL_*` variables keep their standard meaning, and the SDK reads most of
//! them itself: the exporter's headers, timeout and per-signal endpoint, the sampler,
//! the batch processor's `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`
//! (`bcgraph` when neither names the service). Compression is not built in: the SDK
//! ignores `OTEL_EXPORTER_OTLP_COMPRESSION` and the batches go uncompressed. Read here:
//! `OTEL_SDK_DISABLED=true` and `OTEL_TRACES_EXPORTER=none` turn the export off, and the
//! protocol. Only `http/protobuf` (the standard default) is built in, and `grpc` or
//! `http/json` stop the process at start, naming the variable. The SDK would instead
//! send protobuf over HTTP anyway, which a collector's gRPC port turns down batch after
//! batch while the process looks healthy.

use axum::http::HeaderMap;
use opentelemetry::InstrumentationScope;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};

/// The service's name when the environment gives none.
const DEFAULT_SERVICE_NAME: &str = "bcgraph";
/// The only protocol built in.
const HTTP_PROTOBUF: &str = "http/protobuf";
/// How long the exit waits for the last batches to be sent: a collector that is away
/// does not hold the process up for longer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once the export is on: the request middleware looks for a caller's trace only then.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The export of a process that exports: [`Exporter::shutdown`] sends what is buffered.
pub(crate) struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Send the spans still buffered and stop the exporter's thread, waiting at most
    /// [`FLUSH_TIMEOUT`]. For the end of the process, once its runtime has stopped (the
    /// spans of tasks dropped then have ended too).
    pub(crate) fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %e, "OpenTelemetry: the last spans may not have been sent");
        }
    }
}

/// Start the export if the environment asks for it: the exporter and the tracer the
/// subscriber's layer records into. A setting bcgraph cannot honour is an error naming it.
pub(crate) fn from_env() -> Result<Option<(Exporter, SdkTracer)>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if !wanted(&env)? {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("OpenTelemetry export (OTEL_EXPORTER_OTLP_*): {e}"))?;
    // The standard detectors (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the SDK's
    // own attributes); their fallback name is `unknown_service:<binary>`.
    let mut resource = Resource::builder();
    if !names_service(&env) {
        resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let scope = InstrumentationScope::builder("bcgraph")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let tracer = provider.tracer_with_scope(scope);
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Some((Exporter { provider }, tracer)))
}

/// What the exporting layer records: spans and events at `info` and above, whatever
/// `RUST_LOG` lets through to the log lines, and nothing of the SDK's own (its warnings
/// about failed exports go to the log lines only: recording them could feed the exporter
/// its own failures).
pub(crate) fn filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
}

/// Make `span` (a request's, not yet entered) a child of the caller's trace when the
/// request carries a W3C `traceparent` (and `tracestate`) and the export is on. A
/// malformed header is ignored: the span starts a trace of its own.
pub(crate) fn continue_callers_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    let callers =
        TraceContextPropagator::new().extract_with_context(&opentelemetry::Context::new(), &Headers(headers));
    // Only fails if the span is off or already started, and then there is nothing to join.
    let _ = span.set_parent(callers);
}

/// Record the response's status on the request's span, for the exported span only (its
/// log lines have the status in their own "request answered" line).
pub(crate) fn record_status(span: &tracing::Span, status: u16) {
    if EXPORTING.load(Ordering::Relaxed) {
        span.set_attribute("http.response.status_code", i64::from(status));
    }
}

/// A request's headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Does the environment (`env`: a variable's value, `None` when unset or blank) ask for
/// the export, and in a form bcgraph can send?
fn wanted(env: &impl Fn(&str) -> Option<String>) -> Result<bool, String> {
    let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if endpoint.is_none() {
        return Ok(false);
    }
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    if let Some(exporters) = env("OTEL_TRACES_EXPORTER") {
        let exporters: Vec<String> = exporters
            .split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .collect();
        if exporters.iter().any(|e| e == "none") {
            return Ok(false);
        }
        if let Some(other) = exporters.iter().find(|e| *e != "otlp") {
            return Err(format!(
                "OTEL_TRACES_EXPORTER: `{other}` is not supported; bcgraph exports traces with `otlp` (or `none`)"
            ));
        }
    }
    // The traces' own variable wins over the general one, as in the SDK.
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = env(name) {
            if protocol.trim().eq_ignore_ascii_case(HTTP_PROTOBUF) {
                break;
            }
            return Err(format!(
                "{name}: `{}` is not supported; bcgraph exports OTLP over HTTP with protobuf \
                 (`{HTTP_PROTOBUF}`): point the endpoint at the collector's OTLP/HTTP port (4318 by default)",
                protocol.trim()
            ));
        }
    }
    Ok(true)
}

/// Does `OTEL_SERVICE_NAME`, or a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, name the
/// service?
fn names_service(env: &impl Fn(&str) -> Option<String>) -> bool {
    env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
            attributes.split(',').any(|pair| {
                pair.split_once('=')
                    .is_some_and(|(key, value)| key.trim() == "service.name" && !value.trim().is_empty())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, v)| *n == name && !v.trim().is_empty())
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");

    #[test]
    fn an_endpoint_turns_the_export_on() {
        assert_eq!(wanted(&env(&[])), Ok(false));
        assert_eq!(wanted(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])), Ok(false));
        assert_eq!(wanted(&env(&[("OTEL_SERVICE_NAME", "shop")])), Ok(false));
        assert_eq!(wanted(&env(&[ENDPOINT])), Ok(true));
        let traces = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces",
        );
        assert_eq!(wanted(&env(&[traces])), Ok(true));
    }

    #[test]
    fn the_standard_switches_turn_it_off() {
        assert_eq!(
            wanted(&env(&[ENDPOINT, ("OTEL_SDK_DISABLED", "true")])),
            Ok(false)
        );
        assert_eq!(
            wanted(&env(&[ENDPOINT, ("OTEL_SDK_DISABLED", "false")])),
            Ok(true)
        );
        assert_eq!(
            wanted(&env(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "none")])),
            Ok(false)
        );
        assert_eq!(
            wanted(&env(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "otlp")])),
            Ok(true)
        );
        let refused = wanted(&env(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "otlp,zipkin")])).unwrap_err();
        assert!(
            refused.contains("OTEL_TRACES_EXPORTER") && refused.contains("zipkin"),
            "{refused}"
        );
    }

    #[test]
    fn only_http_protobuf_is_sent() {
        for fine in ["http/protobuf", "HTTP/PROTOBUF"] {
            assert_eq!(
                wanted(&env(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_PROTOCOL", fine)])),
                Ok(true)
            );
        }
        for other in ["grpc", "http/json", "carrier-pigeon"] {
            let refused = wanted(&env(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_PROTOCOL", other)])).unwrap_err();
            assert!(refused.starts_with("OTEL_EXPORTER_OTLP_PROTOCOL:") && refused.contains(other));
        }
        // The traces' own variable wins, either way.
        let both = |traces, general| {
            wanted(&env(&[
                ENDPOINT,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", traces),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", general),
            ]))
        };
        assert_eq!(both("http/protobuf", "grpc"), Ok(true));
        assert!(
            both("grpc", "http/protobuf")
                .unwrap_err()
                .starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL:")
        );
    }

    #[test]
    fn the_service_is_named_by_either_variable() {
        assert!(!names_service(&env(&[])));
        assert!(names_service(&env(&[("OTEL_SERVICE_NAME", "shop")])));
        assert!(names_service(&env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "a=b, service.name=shop"
        )])));
        assert!(!names_service(&env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.namespace=x,service.name="
        )])));
    }

    #[test]
    fn a_callers_trace_is_read_from_its_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let cx = TraceContextPropagator::new()
            .extract_with_context(&opentelemetry::Context::new(), &Headers(&headers));
        use opentelemetry::trace::TraceContextExt;
        let parent = cx.span().span_context().clone();
        assert!(parent.is_remote() && parent.is_sampled());
        assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
    }
}
