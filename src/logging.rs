//! Where log lines go: stderr, human-readable by default, or one JSON object per line
//! with `BCGRAPH_LOG_FORMAT=json` (for log collectors). Either way a line names the spans
//! it was written in (a request's id, a job's id, a sync and its page), with their fields.
//! With an OTLP endpoint set, the same spans also go to an OpenTelemetry collector
//! ([`crate::telemetry`]).

use crate::telemetry::{self, Exporter};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Install the process's subscriber (`RUST_LOG` filters its lines; `info` by default). A
/// bad `BCGRAPH_LOG_FORMAT` or OpenTelemetry setting is an error naming it; a subscriber
/// already installed (a test harness's) is kept. The exporter, when there is one, is the
/// caller's to shut down as the process ends.
pub(crate) fn init() -> Result<Option<Exporter>, String> {
    let json = match std::env::var("BCGRAPH_LOG_FORMAT").unwrap_or_default().trim() {
        "" | "text" => false,
        "json" => true,
        other => return Err(format!("BCGRAPH_LOG_FORMAT: `{other}` is not `text` or `json`")),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match telemetry::from_env()? {
        // As before the export existed: one filter for everything.
        None => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(lines(json))
                .try_init();
            Ok(None)
        }
        // Each layer its own filter: `RUST_LOG` quieting the lines does not take the
        // spans away from the collector.
        Some((exporter, tracer)) => {
            let spans = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(telemetry::filter());
            let _ = tracing_subscriber::registry()
                .with(lines(json).with_filter(filter))
                .with(spans)
                .try_init();
            Ok(Some(exporter))
        }
    }
}

/// The layer writing the lines to stderr.
fn lines<S>(json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    }
}
