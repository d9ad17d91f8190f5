//! Retention: what `bcgraph serve` deletes on its purge interval. Expired sessions and
//! remembered payloads (`auth::purge`), finished background actions, the actions of
//! webhook deliveries (their ids are the deliveries' dedupe keys, so they are kept at
//! least as long as BigCommerce retries a delivery) and finished syncs, each past its
//! configured age.
//!
//! Every delete takes at most [`BATCH`] rows (`DELETE ... WHERE key IN (SELECT key ...
//! LIMIT n)`, through an index on the age column) and is its own short statement, with a
//! pause between batches: a backlog never holds SQLite's writer lock or PostgreSQL's row
//! locks for long. Several processes may prune at once: a row is deleted once, and on
//! PostgreSQL a batch skips the rows another pruner has locked instead of waiting.

use crate::config::Retention;
use crate::query::sql::Sql;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::time::Duration;

/// Rows per delete statement.
pub const BATCH: u64 = 500;

/// The queue's ids of webhook deliveries' actions: the gateway's own scope, then
/// `webhook-{store}-{hash}` (see `bigcommerce::webhooks`).
const WEBHOOK_KEYS: &str = "internal/webhook-%";

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub used_payloads: u64,
    pub finished_actions: u64,
    pub webhook_keys: u64,
    pub syncs: u64,
    /// Delete statements run.
    pub batches: u64,
}

impl Pruned {
    fn total(&self) -> u64 {
        self.sessions + self.used_payloads + self.finished_actions + self.webhook_keys + self.syncs
    }
}

/// Delete everything past its age (`retention`) as of `now`, `batch` rows per statement.
pub async fn prune(
    db: &DatabaseConnection,
    retention: &Retention,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<Pruned, DbErr> {
    let purged = crate::auth::purge::expired(db, batch).await?;
    let mut pruned = Pruned {
        sessions: purged.sessions,
        used_payloads: purged.used_payloads,
        batches: purged.batches,
        ..Pruned::default()
    };
    let cutoff = |age: Option<Duration>| age.map(|a| now - chrono::Duration::from_std(a).unwrap_or_default());
    let finished = "\"state\" IN ('completed', 'failed', 'cancelled')";
    if let Some(before) = cutoff(retention.finished_actions) {
        let condition = |sql: &mut Sql| {
            sql.push(&format!("{finished} AND \"id\" NOT LIKE '{WEBHOOK_KEYS}' AND \"finished_at\" <= "))
                .bind(before.timestamp_millis().into());
        };
        pruned.finished_actions = in_batches(db, QUEUE, "id", condition, batch, &mut pruned.batches).await?;
    }
    if let Some(before) = cutoff(retention.webhook_keys) {
        let condition = |sql: &mut Sql| {
            sql.push(&format!("{finished} AND \"id\" LIKE '{WEBHOOK_KEYS}' AND \"finished_at\" <= "))
                .bind(before.timestamp_millis().into());
        };
        pruned.webhook_keys = in_batches(db, QUEUE, "id", condition, batch, &mut pruned.batches).await?;
    }
    if let Some(before) = cutoff(retention.syncs) {
        // A store's last completed sync stays: the next incremental sync starts from it.
        let condition = |sql: &mut Sql| {
            sql.push("\"state\" IN ('completed', 'errored', 'aborted') AND \"finished_at\" <= ")
                .bind(before.into())
                .push(
                    " AND (\"state\" <> 'completed' OR EXISTS (SELECT 1 FROM \"bigcommerce_sync\" l \
                     WHERE l.\"store_id\" = c.\"store_id\" AND l.\"state\" = 'completed' \
                     AND l.\"started_at\" > c.\"started_at\"))",
                );
        };
        pruned.syncs = in_batches(db, "bigcommerce_sync", "id", condition, batch, &mut pruned.batches).await?;
    }
    Ok(pruned)
}

const QUEUE: &str = crate::queue::TABLE;

/// Delete the rows of `table` that `condition` (SQL written into the statement, where
/// the table is `c`) selects,
/// `batch` at a time, each batch its own statement; answers how many went.
pub(crate) async fn in_batches(
    db: &DatabaseConnection,
    table: &str,
    key: &str,
    condition: impl Fn(&mut Sql),
    batch: u64,
    batches: &mut u64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let mut total = 0;
    loop {
        // The inner SELECT picks a bounded set through the age column's index; both
        // backends take it (neither SQLite's default build nor PostgreSQL has DELETE ... LIMIT).
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "DELETE FROM \"{table}\" WHERE \"{key}\" IN (SELECT c.\"{key}\" FROM \"{table}\" c WHERE "
        ));
        condition(&mut sql);
        sql.push(&format!(" LIMIT {batch}"));
        if backend == DbBackend::Postgres {
            // Another pruner's batch is left to it rather than waited for.
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        sql.push(")");
        let deleted = db.execute_raw(sql.build()).await?.rows_affected();
        *batches += 1;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        // Let other writers in between batches.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Prune now and then every `every`, for as long as the process serves.
pub async fn schedule(db: DatabaseConnection, every: Duration, retention: Retention) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match prune(&db, &retention, Utc::now(), BATCH).await {
            Ok(pruned) if pruned.total() > 0 => tracing::info!(
                sessions = pruned.sessions,
                used_payloads = pruned.used_payloads,
                finished_actions = pruned.finished_actions,
                webhook_keys = pruned.webhook_keys,
                syncs = pruned.syncs,
                "pruned expired and old rows"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed; trying again later"),
        }
    }
}
