//! Deleting what has expired: session rows and remembered payloads. In small batches,
//! each its own statement, so a large backlog never holds SQLite's writer lock (or
//! PostgreSQL row locks) for long; webhooks and the sync write in between.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use std::time::Duration;

/// Rows per delete statement.
pub const BATCH: u64 = 500;

/// What a purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub used_payloads: u64,
    /// Delete statements run.
    pub batches: u64,
}

/// Delete every expired row, `batch` rows per statement.
pub async fn expired(db: &DatabaseConnection, batch: u64) -> Result<Purged, DbErr> {
    let mut purged = Purged::default();
    purged.sessions = in_batches(db, "bcgraph_session", "id", batch, &mut purged.batches).await?;
    purged.used_payloads = in_batches(db, "bcgraph_used_payload", "key", batch, &mut purged.batches).await?;
    Ok(purged)
}

async fn in_batches(
    db: &DatabaseConnection,
    table: &str,
    key: &str,
    batch: u64,
    batches: &mut u64,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let mut total = 0;
    loop {
        // The inner SELECT picks a bounded set through the expiry index; both backends
        // take it (neither SQLite's default build nor PostgreSQL has DELETE ... LIMIT).
        let mut sql = crate::query::sql::Sql::new(db.get_database_backend());
        sql.push(&format!(
            "DELETE FROM \"{table}\" WHERE \"{key}\" IN (SELECT \"{key}\" FROM \"{table}\" WHERE \"expires_at\" <= "
        ))
        .bind(now.into())
        .push(&format!(" LIMIT {batch})"));
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

/// Purge now and then every `every`, for as long as the process serves.
pub async fn schedule(db: DatabaseConnection, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match expired(&db, BATCH).await {
            Ok(purged) if purged.sessions + purged.used_payloads > 0 => tracing::info!(
                sessions = purged.sessions,
                used_payloads = purged.used_payloads,
                "purged expired credentials"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired credentials failed; trying again later"),
        }
    }
}
