//! Gauges read when `/metrics` is scraped rather than tracked on every change: the
//! database pools, the background queue (one grouped query, at most once a second
//! whatever the number of scrapers), BigCommerce's quota as the client last saw it,
//! and the open websockets and live queries.

use super::{Inner, MAX_LABEL_VALUES, names, register_gauge};
use crate::bigcommerce::BigCommerce;
use ::metrics::{Key, Label};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sea_orm::{DatabaseConnectionType, DbErr};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The queue is counted again only after this long; scrapes in between see the last count.
pub const QUEUE_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What a scrape reads.
pub struct Sources<'a> {
    /// The pools by name (`main`, and `sync` where the sync has its own).
    pub pools: Vec<(&'static str, &'a DatabaseConnection)>,
    /// Where the queue lives.
    pub db: &'a DatabaseConnection,
    pub bigcommerce: &'a BigCommerce,
    pub websockets: usize,
    pub live_queries: usize,
}

/// The last sample of the queue.
#[derive(Default)]
pub struct Sampled {
    queue_at: Option<Instant>,
    /// Queue labels given a value, so a queue that emptied reads 0 rather than its last count.
    queues: HashSet<String>,
}

pub(super) async fn sample(inner: &Inner, sources: &Sources<'_>) {
    let gauge = |name: &'static str, labels: Vec<Label>| register_gauge(&inner.recorder, Key::from_parts(name, labels));
    gauge(names::WEBSOCKET_CONNECTIONS, Vec::new()).set(sources.websockets as f64);
    gauge(names::LIVE_QUERIES, Vec::new()).set(sources.live_queries as f64);
    for &(pool, db) in &sources.pools {
        let Some((size, idle, max)) = pool_state(db) else { continue };
        let labels = |state: &'static str| vec![Label::from_static_parts("pool", pool), Label::from_static_parts("state", state)];
        gauge(names::DB_CONNECTIONS, labels("in_use")).set((size as usize).saturating_sub(idle) as f64);
        gauge(names::DB_CONNECTIONS, labels("idle")).set(idle as f64);
        gauge(names::DB_MAX_CONNECTIONS, vec![Label::from_static_parts("pool", pool)]).set(max as f64);
    }
    let mut sampled = inner.sampled.lock().await;
    sample_quota(inner, sources.bigcommerce);
    if sampled.queue_at.is_some_and(|at| at.elapsed() < QUEUE_SAMPLE_EVERY) {
        return;
    }
    sampled.queue_at = Some(Instant::now());
    match queue_counts(sources.db).await {
        Ok(rows) => set_queue_gauges(inner, rows, &mut sampled),
        Err(e) => tracing::warn!(error = %e, "metrics: could not count the background queue"),
    }
}

/// Connections open, idle and allowed, without taking one.
fn pool_state(db: &DatabaseConnection) -> Option<(u32, usize, u32)> {
    match &db.inner {
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        _ => None,
    }
}

/// One stored queue's waiting and running actions.
struct QueueRow {
    queue: Option<String>,
    state: String,
    count: i64,
    oldest_run_at: Option<i64>,
}

/// Waiting and running actions by queue and state, with the earliest `run_at` of each:
/// one statement over the `(queue, state)` index.
async fn queue_counts(db: &DatabaseConnection) -> Result<Vec<QueueRow>, DbErr> {
    let sql = format!(
        "SELECT \"queue\", \"state\", COUNT(*), MIN(\"run_at\") FROM \"{}\" \
         WHERE \"state\" IN ('waiting', 'running') GROUP BY \"queue\", \"state\"",
        crate::queue::TABLE
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(QueueRow {
                queue: row.try_get_by_index(0)?,
                state: row.try_get_by_index(1)?,
                count: row.try_get_by_index(2)?,
                oldest_run_at: row.try_get_by_index(3)?,
            })
        })
        .collect()
}

#[derive(Default)]
struct QueueGauges {
    waiting: i64,
    running: i64,
    oldest_run_at: Option<i64>,
}

fn set_queue_gauges(inner: &Inner, rows: Vec<QueueRow>, sampled: &mut Sampled) {
    let mut by_label: HashMap<String, QueueGauges> = HashMap::new();
    for row in rows {
        let entry = by_label.entry(inner.queue_label(row.queue.as_deref())).or_default();
        if row.state == "waiting" {
            entry.waiting += row.count;
            entry.oldest_run_at = match (entry.oldest_run_at, row.oldest_run_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        } else {
            entry.running += row.count;
        }
    }
    for gone in sampled.queues.iter().filter(|q| !by_label.contains_key(*q)).cloned().collect::<Vec<_>>() {
        by_label.insert(gone, QueueGauges::default());
    }
    let now = crate::queue::now_ms();
    let gauge = |name: &'static str, labels: Vec<Label>| register_gauge(&inner.recorder, Key::from_parts(name, labels));
    for (queue, counts) in &by_label {
        let labels = |state: &'static str| vec![Label::new("queue", queue.clone()), Label::from_static_parts("state", state)];
        gauge(names::BACKGROUND_ACTIONS, labels("waiting")).set(counts.waiting as f64);
        gauge(names::BACKGROUND_ACTIONS, labels("running")).set(counts.running as f64);
        // A scheduled action is not late before its time.
        let waited_ms = counts.oldest_run_at.map_or(0, |at| (now - at).max(0));
        gauge(names::BACKGROUND_OLDEST_WAITING, vec![Label::new("queue", queue.clone())]).set(waited_ms as f64 / 1000.0);
    }
    sampled.queues = by_label.into_keys().collect();
}

/// The requests left in each store's quota window, as the client last heard: the lowest
/// of them, or one gauge per store when store labels are allowed.
fn sample_quota(inner: &Inner, bigcommerce: &BigCommerce) {
    let left = bigcommerce.quota_left();
    if !inner.store_labels {
        if let Some(lowest) = left.iter().map(|(_, n)| *n).min() {
            register_gauge(&inner.recorder, Key::from_static_name(names::BIGCOMMERCE_QUOTA_LEFT)).set(lowest as f64);
        }
        return;
    }
    for (store, n) in left.iter().take(MAX_LABEL_VALUES * 16) {
        let labels = vec![Label::new("store", store.clone())];
        register_gauge(&inner.recorder, Key::from_parts(names::BIGCOMMERCE_QUOTA_LEFT, labels)).set(*n as f64);
    }
}
