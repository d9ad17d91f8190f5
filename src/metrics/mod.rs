//! Prometheus metrics: `GET /metrics` in the text format, off unless
//! `BCGRAPH_METRICS_LISTEN` or `BCGRAPH_METRICS_TOKEN` is set ([`MetricsConfig`]).
//!
//! Each gateway has its own recorder ([`Metrics`]), never the process-wide one of the
//! `metrics` facade: an app may run several gateways in one process (the integration
//! tests run dozens at once), and each must count only its own traffic. Code records
//! through the handles this module keeps, so a recording on the hot path is an atomic
//! add on a handle found without allocating (see [`http`]). Gauges that the database,
//! the connection pools or the BigCommerce client already know are read when scraped
//! ([`sample`]), not tracked on every change.
//!
//! Labels are bounded: route templates, status codes, error codes, operation kinds,
//! resources, webhook scopes and queue names, each capped (a value past the cap is
//! counted as `other`); stores only when `BCGRAPH_METRICS_STORE_LABELS` is on.

pub mod http;
pub mod sample;

use crate::action::ErrorCode;
use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use async_graphql::parser::types::OperationType;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

/// `BCGRAPH_METRICS_*`: where `/metrics` is served, if anywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `BCGRAPH_METRICS_LISTEN`: an address of its own where `/metrics` is served (and
    /// nothing else), e.g. `127.0.0.1:9464`.
    pub listen: Option<SocketAddr>,
    /// `BCGRAPH_METRICS_TOKEN`: `/metrics` is served on the public listener too, to
    /// `authorization: Bearer <token>` only (and the metrics listener asks for it too).
    pub token: Option<String>,
    /// `BCGRAPH_METRICS_STORE_LABELS`: the BigCommerce quota left per store (a `store`
    /// label per installed store) instead of the lowest across stores.
    pub store_labels: bool,
}

impl MetricsConfig {
    /// Whether anything serves `/metrics`; when not, nothing is recorded either.
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.token.is_some()
    }
}

/// The series' names, as scraped.
pub mod names {
    pub const HTTP_REQUESTS: &str = "bcgraph_http_requests_total";
    pub const HTTP_DURATION: &str = "bcgraph_http_request_duration_seconds";
    pub const GRAPHQL_OPERATIONS: &str = "bcgraph_graphql_operations_total";
    pub const DB_CONNECTIONS: &str = "bcgraph_db_connections";
    pub const DB_MAX_CONNECTIONS: &str = "bcgraph_db_max_connections";
    pub const BACKGROUND_ACTIONS: &str = "bcgraph_background_actions";
    pub const BACKGROUND_OLDEST_WAITING: &str = "bcgraph_background_action_oldest_waiting_seconds";
    pub const BACKGROUND_OUTCOMES: &str = "bcgraph_background_action_outcomes_total";
    pub const WEBHOOK_DELIVERIES: &str = "bcgraph_webhook_deliveries_total";
    pub const WEBHOOK_ACK: &str = "bcgraph_webhook_ack_duration_seconds";
    pub const WEBHOOK_STORED: &str = "bcgraph_webhook_stored_delay_seconds";
    pub const BIGCOMMERCE_REQUESTS: &str = "bcgraph_bigcommerce_requests_total";
    pub const BIGCOMMERCE_RETRIES: &str = "bcgraph_bigcommerce_retries_total";
    pub const BIGCOMMERCE_RATE_LIMITED: &str = "bcgraph_bigcommerce_rate_limited_total";
    pub const BIGCOMMERCE_QUOTA_LEFT: &str = "bcgraph_bigcommerce_quota_remaining";
    pub const SYNC_RECORDS: &str = "bcgraph_sync_records_total";
    pub const SYNC_RATE: &str = "bcgraph_sync_records_per_second";
    pub const LIVE_QUERIES: &str = "bcgraph_live_queries";
    pub const WEBSOCKET_CONNECTIONS: &str = "bcgraph_websocket_connections";
}

/// Request and acknowledgement latencies: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// From a webhook's delivery to its data in the database: queueing included, up to minutes.
const DELAY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Distinct values a label fed from outside (webhook scopes, queue names) may take;
/// past it a value counts as `other`, so no sender can grow the series without end.
pub(crate) const MAX_LABEL_VALUES: usize = 64;

/// The code of a response's first error (`other` for one without a contract code),
/// `None` when it has none.
pub fn first_code(response: &async_graphql::Response) -> Option<&'static str> {
    let error = response.errors.first()?;
    let code = error.extensions.as_ref().and_then(|e| e.get("code"));
    Some(match code {
        Some(async_graphql::Value::String(text)) => code_index(Some(text.as_str())).1,
        _ => "other",
    })
}

/// Whether `given` is the metrics token, in time that depends on neither: both are
/// hashed first, so even their lengths are compared as 32 bytes.
pub fn token_matches(given: &str, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(token.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A gateway's metrics: nothing when off, so that recording costs a branch.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Metrics(on)" } else { "Metrics(off)" })
    }
}

pub(crate) struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    store_labels: bool,
    /// Per route template (see [`http`]).
    routes: RwLock<HashMap<Box<str>, Arc<http::RouteSeries>>>,
    /// By operation kind, then by error code ([`code_index`]).
    graphql: [[OnceLock<Counter>; CODES]; KINDS],
    /// By scope, then by outcome.
    webhooks: Mutex<HashMap<String, [OnceLock<Counter>; WebhookOutcome::COUNT]>>,
    webhook_ack: Histogram,
    webhook_stored: Histogram,
    bigcommerce_status: StatusCounters,
    bigcommerce_rate_limited: Counter,
    /// Queue labels handed out so far (capped at [`MAX_LABEL_VALUES`]).
    queue_labels: Mutex<std::collections::HashSet<String>>,
    /// What the last scrape sampled (see [`sample`]).
    pub(crate) sampled: tokio::sync::Mutex<sample::Sampled>,
}

/// Counters by HTTP status code, each made on its first use.
pub(crate) struct StatusCounters {
    name: &'static str,
    extra: Vec<Label>,
    by_code: Box<[OnceLock<Counter>]>,
}

impl StatusCounters {
    fn new(name: &'static str, extra: Vec<Label>) -> StatusCounters {
        StatusCounters {
            name,
            extra,
            by_code: (0..500).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The counter of `status` (100 to 599; anything else counts as `other`).
    pub(crate) fn get(&self, recorder: &PrometheusRecorder, status: u16) -> &Counter {
        let slot = usize::from(status).checked_sub(100).filter(|i| *i < self.by_code.len());
        let make = || {
            let value = match slot {
                Some(_) => status.to_string(),
                None => "other".to_owned(),
            };
            let mut labels = self.extra.clone();
            labels.push(Label::new("status", value));
            register_counter(recorder, Key::from_parts(self.name, labels))
        };
        // Out-of-range statuses share the last slot's neighbour: slot 0 is 100, which
        // no server answers with, so `other` takes it.
        self.by_code[slot.unwrap_or(0)].get_or_init(make)
    }
}

/// The GraphQL operation kinds counted; `unknown` is a document that did not parse or
/// name an operation.
const KINDS: usize = 4;
/// Every contract code, `none` (no error) and `other` (an error without a contract code,
/// such as a validation error of async-graphql's).
const CODES: usize = ErrorCode::ALL.len() + 2;

fn kind_index(kind: Option<OperationType>) -> (usize, &'static str) {
    match kind {
        Some(OperationType::Query) => (0, "query"),
        Some(OperationType::Mutation) => (1, "mutation"),
        Some(OperationType::Subscription) => (2, "subscription"),
        None => (3, "unknown"),
    }
}

fn code_index(code: Option<&str>) -> (usize, &'static str) {
    match code {
        None => (0, "none"),
        Some(text) => match ErrorCode::ALL.iter().position(|c| c.as_str() == text) {
            Some(i) => (i + 1, ErrorCode::ALL[i].as_str()),
            None => (CODES - 1, "other"),
        },
    }
}

/// How a webhook delivery was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Checked and enqueued.
    Enqueued,
    /// Seen before (its `hash`): acknowledged, nothing enqueued.
    Duplicate,
    /// A scope nothing handles: acknowledged.
    Unhandled,
    /// Not JSON, or missing what every delivery has.
    Malformed,
    /// Its secret header or signature did not match.
    Unauthenticated,
    /// Its store is not installed here.
    UnknownStore,
    /// Over the size limit.
    TooLarge,
    /// Not stored because the database is away: answered 503 for BigCommerce to retry.
    Unavailable,
}

impl WebhookOutcome {
    const COUNT: usize = 8;

    fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Enqueued => "enqueued",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Unhandled => "unhandled",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::Unauthenticated => "unauthenticated",
            WebhookOutcome::UnknownStore => "unknown_store",
            WebhookOutcome::TooLarge => "too_large",
            WebhookOutcome::Unavailable => "unavailable",
        }
    }
}

/// How one attempt of a background action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    Succeeded,
    Failed,
    Retried,
}

impl ActionOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Succeeded => "succeeded",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Retried => "retried",
        }
    }
}

/// Every handle comes from the recorder directly: the facade's macros would go to the
/// process-wide recorder, which is not this gateway's.
const METADATA: Metadata<'static> = Metadata::new(module_path!(), ::metrics::Level::INFO, None);

fn register_counter(recorder: &PrometheusRecorder, key: Key) -> Counter {
    recorder.register_counter(&key, &METADATA)
}

fn register_gauge(recorder: &PrometheusRecorder, key: Key) -> Gauge {
    recorder.register_gauge(&key, &METADATA)
}

fn register_histogram(recorder: &PrometheusRecorder, key: Key) -> Histogram {
    recorder.register_histogram(&key, &METADATA)
}

/// How often histograms are folded into their buckets when nobody scrapes: the
/// recorder keeps raw samples until then.
const UPKEEP: Duration = Duration::from_secs(5);

impl Metrics {
    /// Metrics recorded nowhere: every call does nothing.
    pub fn off() -> Metrics {
        Metrics(None)
    }

    /// A recorder of this gateway's own when `config` serves `/metrics`.
    pub fn new(config: &MetricsConfig) -> Metrics {
        if !config.enabled() {
            return Metrics(None);
        }
        Metrics(Some(Inner::new(config.store_labels)))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One GraphQL operation: its kind and the code of its first error (`None`: no error).
    pub fn graphql_operation(&self, kind: Option<OperationType>, code: Option<&str>) {
        let Some(inner) = &self.0 else { return };
        let (k, kind_label) = kind_index(kind);
        let (c, code_label) = code_index(code);
        inner.graphql[k][c]
            .get_or_init(|| {
                let labels = [Label::from_static_parts("kind", kind_label), Label::from_static_parts("code", code_label)];
                register_counter(&inner.recorder, Key::from_parts(names::GRAPHQL_OPERATIONS, labels.to_vec()))
            })
            .increment(1);
    }

    /// A webhook delivery answered after `ack`. `scope` is `None` for a delivery refused
    /// before its sender was known: its scope is anyone's to choose.
    pub fn webhook_delivery(&self, scope: Option<&str>, outcome: WebhookOutcome, ack: Duration) {
        let Some(inner) = &self.0 else { return };
        inner.webhook_ack.record(ack.as_secs_f64());
        let mut webhooks = inner.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        let scope = match scope {
            Some(scope) if webhooks.contains_key(scope) || webhooks.len() < MAX_LABEL_VALUES => scope,
            Some(_) => "other",
            None => "unknown",
        };
        if !webhooks.contains_key(scope) {
            webhooks.insert(scope.to_owned(), Default::default());
        }
        let Some(counters) = webhooks.get(scope) else { return };
        counters[outcome as usize]
            .get_or_init(|| {
                let labels = vec![Label::new("scope", scope.to_owned()), Label::from_static_parts("outcome", outcome.as_str())];
                register_counter(&inner.recorder, Key::from_parts(names::WEBHOOK_DELIVERIES, labels))
            })
            .increment(1);
    }

    /// A webhook's action finished: its data is stored `delay` after the delivery.
    pub fn webhook_stored(&self, delay: Duration) {
        if let Some(inner) = &self.0 {
            inner.webhook_stored.record(delay.as_secs_f64());
        }
    }

    /// An attempt of a background action of `queue` (its stored name) ended.
    pub fn background_action(&self, queue: Option<&str>, outcome: ActionOutcome) {
        let Some(inner) = &self.0 else { return };
        let labels = vec![
            Label::new("queue", inner.queue_label(queue)),
            Label::from_static_parts("outcome", outcome.as_str()),
        ];
        register_counter(&inner.recorder, Key::from_parts(names::BACKGROUND_OUTCOMES, labels)).increment(1);
    }

    /// An answer from BigCommerce with `status` (after which the client may retry).
    pub fn bigcommerce_answer(&self, status: u16) {
        let Some(inner) = &self.0 else { return };
        inner.bigcommerce_status.get(&inner.recorder, status).increment(1);
        if status == 429 {
            inner.bigcommerce_rate_limited.increment(1);
        }
    }

    /// A BigCommerce request sent again, for `reason` (`rate_limited`, `server_error`,
    /// `network`, `undecodable`).
    pub fn bigcommerce_retry(&self, reason: &'static str) {
        let Some(inner) = &self.0 else { return };
        let labels = [Label::from_static_parts("reason", reason)];
        register_counter(&inner.recorder, Key::from_parts(names::BIGCOMMERCE_RETRIES, labels.to_vec())).increment(1);
    }

    /// A sync wrote `written` records of `resource` (created or updated), at `rate`
    /// records per second over its current listing.
    pub fn sync_written(&self, resource: &'static str, written: u64, rate: f64) {
        let Some(inner) = &self.0 else { return };
        let labels = [Label::from_static_parts("resource", resource)];
        register_counter(&inner.recorder, Key::from_parts(names::SYNC_RECORDS, labels.to_vec())).increment(written);
        register_gauge(&inner.recorder, Key::from_parts(names::SYNC_RATE, labels.to_vec())).set(rate);
    }

    /// A listing of `resource` is over: nothing is being written at any rate.
    pub fn sync_idle(&self, resource: &'static str) {
        let Some(inner) = &self.0 else { return };
        let labels = [Label::from_static_parts("resource", resource)];
        register_gauge(&inner.recorder, Key::from_parts(names::SYNC_RATE, labels.to_vec())).set(0.0);
    }

    /// The text format of every series, gauges sampled from `sources` first.
    pub async fn render(&self, sources: sample::Sources<'_>) -> Option<String> {
        let inner = self.0.as_ref()?;
        sample::sample(inner, &sources).await;
        Some(inner.handle.render())
    }
}

impl Inner {
    fn new(store_labels: bool) -> Arc<Inner> {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names::HTTP_DURATION.into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::WEBHOOK_ACK.into()), LATENCY_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::WEBHOOK_STORED.into()), DELAY_BUCKETS));
        // The buckets are constants: an error here is ours, and the default summaries
        // still serve.
        let builder = builder.unwrap_or_else(|e| {
            tracing::error!(error = %e, "metrics: histogram buckets refused");
            PrometheusBuilder::new()
        });
        let recorder = builder.build_recorder();
        describe(&recorder);
        let handle = recorder.handle();
        let inner = Arc::new(Inner {
            webhook_ack: register_histogram(&recorder, Key::from_static_name(names::WEBHOOK_ACK)),
            webhook_stored: register_histogram(&recorder, Key::from_static_name(names::WEBHOOK_STORED)),
            bigcommerce_status: StatusCounters::new(names::BIGCOMMERCE_REQUESTS, Vec::new()),
            bigcommerce_rate_limited: register_counter(&recorder, Key::from_static_name(names::BIGCOMMERCE_RATE_LIMITED)),
            recorder,
            handle,
            store_labels,
            routes: RwLock::new(HashMap::new()),
            graphql: Default::default(),
            webhooks: Mutex::new(HashMap::new()),
            queue_labels: Mutex::new(Default::default()),
            sampled: tokio::sync::Mutex::new(sample::Sampled::default()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(upkeep(Arc::downgrade(&inner)));
        }
        inner
    }

    /// The label of a stored queue name: the store's id dropped (`store:12/imports` is
    /// `store/imports`), `none` for actions without a named queue, `other` past
    /// [`MAX_LABEL_VALUES`] distinct names.
    pub(crate) fn queue_label(&self, stored: Option<&str>) -> String {
        let label = match stored {
            None => return "none".to_owned(),
            Some(name) => match name.strip_prefix("store:").and_then(|rest| rest.split_once('/')) {
                Some((_, queue)) => format!("store/{queue}"),
                None => name.to_owned(),
            },
        };
        let mut seen = self.queue_labels.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&label) {
            return label;
        }
        if seen.len() >= MAX_LABEL_VALUES {
            return "other".to_owned();
        }
        seen.insert(label.clone());
        label
    }
}

/// Fold histograms while the gateway lives.
async fn upkeep(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(UPKEEP).await;
        match inner.upgrade() {
            Some(inner) => inner.handle.run_upkeep(),
            None => return,
        }
    }
}

/// `# HELP` lines.
fn describe(recorder: &PrometheusRecorder) {
    let seconds = Some(Unit::Seconds);
    let help: [(&'static str, Option<Unit>, &'static str); 19] = [
        (names::HTTP_REQUESTS, None, "HTTP requests answered, by route template and status"),
        (names::HTTP_DURATION, seconds, "HTTP request latency until the response head, by route template"),
        (names::GRAPHQL_OPERATIONS, None, "GraphQL operations (HTTP and websocket), by kind and the code of their first error (none: no error)"),
        (names::DB_CONNECTIONS, None, "Database pool connections, by pool and state (in_use, idle), sampled when scraped"),
        (names::DB_MAX_CONNECTIONS, None, "Database pool size limit; in_use at the limit means statements wait for a connection"),
        (names::BACKGROUND_ACTIONS, None, "Background actions waiting (scheduled ones included) or running, by queue, over every process"),
        (names::BACKGROUND_OLDEST_WAITING, seconds, "How long the oldest ready background action of a queue has waited"),
        (names::BACKGROUND_OUTCOMES, None, "Background action attempts run by this process, by queue and outcome (succeeded, failed, retried)"),
        (names::WEBHOOK_DELIVERIES, None, "Webhook deliveries, by scope and outcome"),
        (names::WEBHOOK_ACK, seconds, "Time to acknowledge a webhook delivery"),
        (names::WEBHOOK_STORED, seconds, "Time from a webhook's delivery to its data stored (its action done)"),
        (names::BIGCOMMERCE_REQUESTS, None, "Answers from BigCommerce's API, by status"),
        (names::BIGCOMMERCE_RETRIES, None, "BigCommerce requests sent again, by reason"),
        (names::BIGCOMMERCE_RATE_LIMITED, None, "429 answers from BigCommerce"),
        (names::BIGCOMMERCE_QUOTA_LEFT, None, "Requests left in the current BigCommerce quota window: the lowest across stores, or per store"),
        (names::SYNC_RECORDS, None, "Records written (created or updated) by store syncs, by resource"),
        (names::SYNC_RATE, None, "Records written per second by the current listing of a resource (0 when none runs)"),
        (names::LIVE_QUERIES, None, "Live queries open"),
        (names::WEBSOCKET_CONNECTIONS, None, "Websocket connections open"),
    ];
    for (name, unit, text) in help {
        let (name, text) = (KeyName::from_const_str(name), SharedString::const_str(text));
        if name.as_str().ends_with("_total") {
            recorder.describe_counter(name, unit, text);
        } else if unit.is_some() && name.as_str() != names::BACKGROUND_OLDEST_WAITING {
            recorder.describe_histogram(name, unit, text);
        } else {
            recorder.describe_gauge(name, unit, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_must_match_whole() {
        assert!(token_matches("a-metrics-token-16", "a-metrics-token-16"));
        for wrong in ["", "a-metrics-token-1", "a-metrics-token-16 ", "A-metrics-token-16"] {
            assert!(!token_matches(wrong, "a-metrics-token-16"), "{wrong:?}");
        }
    }

    #[test]
    fn codes_and_kinds_are_bounded() {
        assert_eq!(code_index(None), (0, "none"));
        assert_eq!(code_index(Some("GGT_INTERNAL_ERROR")).1, "GGT_INTERNAL_ERROR");
        assert_eq!(code_index(Some("anything a resolver said")), (CODES - 1, "other"));
        assert_eq!(kind_index(None), (3, "unknown"));
    }

    #[tokio::test]
    async fn queue_labels_drop_the_store_and_are_capped() {
        let inner = Inner::new(false);
        assert_eq!(inner.queue_label(Some("store:12/imports")), "store/imports");
        assert_eq!(inner.queue_label(Some("store:13/imports")), "store/imports");
        assert_eq!(inner.queue_label(Some("internal/bigcommerce-sync")), "internal/bigcommerce-sync");
        assert_eq!(inner.queue_label(None), "none");
        for i in 0..MAX_LABEL_VALUES * 2 {
            inner.queue_label(Some(&format!("store:1/q{i}")));
        }
        assert_eq!(inner.queue_label(Some("store:1/a-new-one")), "other");
        assert_eq!(inner.queue_label(Some("store:99/imports")), "store/imports");
    }
}
