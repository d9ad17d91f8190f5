//! Deleting what has expired: session rows and remembered payloads, in small batches
//! ([`crate::retention`], which runs this with the rest of the pruning).

use crate::retention::in_batches;
use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

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
    let now = Utc::now();
    let expired = |sql: &mut crate::query::sql::Sql| {
        sql.push("\"expires_at\" <= ").bind(now.into());
    };
    let mut purged = Purged::default();
    purged.sessions = in_batches(db, "bcgraph_session", "id", expired, batch, &mut purged.batches).await?;
    purged.used_payloads =
        in_batches(db, "bcgraph_used_payload", "key", expired, batch, &mut purged.batches).await?;
    Ok(purged)
}
