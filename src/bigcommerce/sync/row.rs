//! The sync's row (`bigcommerce/sync`) and its persistence: loading it for a caller,
//! creating one (refused while another of the store is unfinished), ending it
//! (completed, errored, aborted), and the lease a running process holds on it: claimed
//! once, renewed by a heartbeat, freed when the sync ends. These few UPDATEs are written
//! here rather than through the runtime (see docs/architecture.md): they are
//! conditional on the row's state and lease, which the runtime's writes cannot express.

use super::{Counters, MODEL, OVERLAP, Request};
use crate::action::{ActionError, Api};
use crate::queue::lease::{self, Beats, Clock, Lease};
use chrono::{DateTime, Utc};
use entity::bigcommerce::sync as row;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// Where a sync is. `created` and `running` are unfinished; a store has at most one
/// unfinished sync. The row stores [`SyncState::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncState {
    /// Waiting for its job to run it.
    Created,
    /// Held by a process (see the lease), or waiting for its lease to run out.
    Running,
    Completed,
    Errored,
    Aborted,
}

impl SyncState {
    pub(crate) const ALL: [SyncState; 5] = [
        SyncState::Created,
        SyncState::Running,
        SyncState::Completed,
        SyncState::Errored,
        SyncState::Aborted,
    ];
    /// Syncs in these states have not finished.
    const UNFINISHED: [SyncState; 2] = [SyncState::Created, SyncState::Running];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            SyncState::Created => "created",
            SyncState::Running => "running",
            SyncState::Completed => "completed",
            SyncState::Errored => "errored",
            SyncState::Aborted => "aborted",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<SyncState> {
        SyncState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The sync row's lease: `bigcommerce_sync` keeps times as timestamps.
fn sync_lease(column: &'static str, value: i64) -> Lease {
    Lease::of("bigcommerce_sync", Clock::Timestamp, column, value)
}

pub(super) fn store_caller(api: &Api, store: i64) -> Api {
    api.within_store(store)
}

pub(super) async fn load(api: &Api, id: i64) -> Result<row::Model, ActionError> {
    let found = row::Entity::find_by_id(id).one(&api.db).await?;
    found
        .filter(|r| api.caller.tenant.admits(r.store_id))
        .ok_or_else(|| ActionError::NotFound(format!("no sync {id}")))
}

/// The store's sync that has not finished, if any.
pub async fn unfinished(api: &Api, store: i64) -> Result<Option<row::Model>, ActionError> {
    unfinished_in(&api.db, store).await
}

async fn unfinished_in<C: ConnectionTrait>(conn: &C, store: i64) -> Result<Option<row::Model>, ActionError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    Ok(row::Entity::find()
        .filter(row::Column::StoreId.eq(store))
        .filter(row::Column::State.is_in(SyncState::UNFINISHED.map(SyncState::as_str)))
        .order_by_asc(row::Column::Id)
        .one(conn)
        .await?)
}

/// Create a sync of `store` (not yet running). Without `since` and `force`, it copies
/// what changed since the last completed sync started (less [`OVERLAP`]), or everything
/// when none has completed. Refused while another sync of the store is unfinished.
pub async fn create(api: &Api, store: i64, request: Request) -> Result<crate::query::Record, ActionError> {
    let txn = api.begin().await?;
    let sync = create_in(api, &txn, store, request).await?;
    txn.commit().await?;
    Ok(sync)
}

/// [`create`] inside the caller's transaction, so that whatever goes with the new
/// sync (its job) commits with it or not at all.
pub async fn create_in<C: ConnectionTrait>(
    api: &Api,
    conn: &C,
    store: i64,
    request: Request,
) -> Result<crate::query::Record, ActionError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    if let Some(other) = unfinished_in(conn, store).await? {
        return Err(ActionError::InvalidInput(format!(
            "sync {} of this store has not finished; abort it or wait for it",
            other.id
        )));
    }
    let since = match (request.force, request.since) {
        (true, _) => None,
        (false, Some(since)) => Some(since),
        (false, None) => row::Entity::find()
            .filter(row::Column::StoreId.eq(store))
            .filter(row::Column::State.eq(SyncState::Completed.as_str()))
            .order_by_desc(row::Column::StartedAt)
            .one(conn)
            .await?
            .and_then(|last| last.started_at)
            .map(|started| started - chrono::Duration::from_std(OVERLAP).unwrap_or_default()),
    };
    let models: Vec<&str> = request.models.iter().map(|m| m.name()).collect();
    let created = store_caller(api, store)
        .model(MODEL)
        .create_in(
            conn,
            json!({
                "store": {"_link": store},
                "models": if models.is_empty() { Json::Null } else { json!(models) },
                "syncSince": since.map(|s| s.to_rfc3339()),
                "force": request.force,
                "state": SyncState::Created.as_str(),
            }),
        )
        .await;
    match created {
        // Another caller's sync was created between the check above and this insert: the
        // unique index on a store's unfinished sync (migration m0008) refused this one.
        Err(e) if is_unfinished_conflict(&e) => Err(ActionError::InvalidInput(
            "another sync of this store has just started; abort it or wait for it".into(),
        )),
        other => other,
    }
}

/// The runtime reports a unique index's refusal as an invalid record ("must be unique");
/// the sync model has no unique field of its own, so that is the unfinished-sync index.
fn is_unfinished_conflict(e: &ActionError) -> bool {
    match e {
        ActionError::InvalidRecord { errors, .. } => {
            !errors.is_empty() && errors.iter().all(|f| f.message == "must be unique")
        }
        other => other.is_unique_violation(),
    }
}

/// Give a running sync back after an attempt that failed on a transient error: it waits
/// (`created`, no lease) for the job that continues it from its checkpoint, and its
/// message says why and when. Answers whether the sync was still running (not aborted).
pub(super) async fn hand_back<C: ConnectionTrait>(conn: &C, id: i64, message: &str) -> Result<bool, ActionError> {
    let now = Utc::now();
    let running = [SyncState::Running.as_str()];
    let back = sync_lease("id", id).end(
        conn.get_database_backend(),
        &running,
        SyncState::Created.as_str(),
        |sets| {
            sets.value("error_message", message.to_owned().into())
                .time("updated_at", now);
        },
    );
    Ok(conn.execute_raw(back).await?.rows_affected() == 1)
}

/// A JSON column of the row as what it holds; empty when unset (a sync not yet run).
pub(super) fn decoded<T: serde::de::DeserializeOwned + Default>(column: &Option<Json>) -> T {
    column
        .clone()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// A sync's progress counters, by resource.
pub async fn progress_of(api: &Api, id: i64) -> Result<BTreeMap<String, Counters>, ActionError> {
    Ok(decoded(&load(api, id).await?.progress))
}

/// End the syncs whose `column` is `value` and whose state is one of `from`: set `state`
/// and `message`, stamp `finished_at` and free the lease. Answers how many ended.
async fn end(
    api: &Api,
    key: (&'static str, i64),
    from: &[SyncState],
    state: SyncState,
    message: Option<&str>,
) -> Result<u64, ActionError> {
    end_in(&api.db, key, from, state, message).await
}

/// [`end`] on `conn`: the database, or a transaction of the caller's.
async fn end_in<C: ConnectionTrait>(
    conn: &C,
    (column, value): (&'static str, i64),
    from: &[SyncState],
    state: SyncState,
    message: Option<&str>,
) -> Result<u64, ActionError> {
    let now = Utc::now();
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let end = sync_lease(column, value).end(conn.get_database_backend(), &from, state.as_str(), |sets| {
        sets.value("error_message", message.map(str::to_owned).into())
            .time("finished_at", now)
            .time("updated_at", now);
    });
    Ok(conn.execute_raw(end).await?.rows_affected())
}

/// Stop a sync that has not finished; the process running it stops after its current page.
pub async fn abort(api: &Api, id: i64) -> Result<crate::query::Record, ActionError> {
    let sync = load(api, id).await?;
    if end(api, ("id", id), &SyncState::UNFINISHED, SyncState::Aborted, None).await? == 0 {
        return Err(ActionError::InvalidInput(format!(
            "sync {id} has already {}",
            sync.state
        )));
    }
    store_caller(api, sync.store_id)
        .model(MODEL)
        .find(id)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("no sync {id}")))
}

/// Abort every unfinished sync of a store (it was uninstalled).
pub async fn abort_store<C: ConnectionTrait>(conn: &C, store: i64) -> Result<u64, ActionError> {
    end_in(
        conn,
        ("store_id", store),
        &SyncState::UNFINISHED,
        SyncState::Aborted,
        Some("the store was uninstalled"),
    )
    .await
}

/// How a run of a sync ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Aborted,
    Errored(String),
    /// Another process holds it until then.
    Busy(DateTime<Utc>),
}

impl Outcome {
    /// How `sync` ended, or `None` while it has not.
    pub(super) fn of_ended(sync: &row::Model) -> Option<Outcome> {
        match SyncState::parse(&sync.state)? {
            SyncState::Completed => Some(Outcome::Completed),
            SyncState::Aborted => Some(Outcome::Aborted),
            SyncState::Errored => Some(Outcome::Errored(sync.error_message.clone().unwrap_or_default())),
            SyncState::Created | SyncState::Running => None,
        }
    }
}

/// Why a running sync stops early.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Stop {
    Aborted,
    LeaseLost,
}

/// Take the sync for this process for `lease`: `Err(Busy)` while another holds a live
/// lease, or the outcome if the sync has ended meanwhile.
pub(super) async fn claim(
    api: &Api,
    id: i64,
    lease: Duration,
) -> Result<Result<DateTime<Utc>, Outcome>, ActionError> {
    let now = Utc::now();
    let until = lease::until(now, lease);
    let unfinished = SyncState::UNFINISHED.map(SyncState::as_str);
    let take = sync_lease("id", id).claim(
        api.db.get_database_backend(),
        until,
        Some((&unfinished, now)),
        |sets| {
            // A continued sync keeps the time it first started.
            sets.expr("started_at", |sql| {
                sql.push("COALESCE(\"started_at\", ")
                    .bind(Clock::Timestamp.at(now))
                    .push(")");
            })
            .time("updated_at", now);
        },
    );
    if api.db.execute_raw(take).await?.rows_affected() == 1 {
        return Ok(Ok(until));
    }
    let sync = load(api, id).await?;
    let busy = Outcome::Busy(sync.lease_until.unwrap_or(now));
    Ok(Err(Outcome::of_ended(&sync).unwrap_or(busy)))
}

/// The final state, unless the sync was aborted meanwhile.
pub(super) async fn finish(api: &Api, id: i64, outcome: &Outcome) -> Result<(), ActionError> {
    let (state, message) = match outcome {
        Outcome::Completed => (SyncState::Completed, None),
        Outcome::Errored(m) => (SyncState::Errored, Some(m.as_str())),
        Outcome::Aborted | Outcome::Busy(_) => return Ok(()),
    };
    end(api, ("id", id), &[SyncState::Running], state, message).await?;
    Ok(())
}

/// Renews the lease while the sync runs, and tells the run to stop when the sync was
/// aborted or another process took it over.
pub(super) async fn heartbeat(
    api: Api,
    id: i64,
    mut held: DateTime<Utc>,
    lease: Duration,
    stop: watch::Sender<Option<Stop>>,
) {
    let mut beats = Beats::new(lease);
    loop {
        beats.next().await;
        let until = lease::until(Utc::now(), lease);
        let renewal = sync_lease("id", id)
            .held_until(held)
            .renew(api.db.get_database_backend(), until);
        match api.db.execute_raw(renewal).await {
            Ok(done) if done.rows_affected() == 1 => held = until,
            Ok(_) => {
                let state = load(&api, id).await.map(|s| s.state).unwrap_or_default();
                let why = if SyncState::parse(&state) == Some(SyncState::Aborted) {
                    Stop::Aborted
                } else {
                    Stop::LeaseLost
                };
                let _ = stop.send(Some(why));
                return;
            }
            // The database is briefly unreachable: try again at the next beat.
            Err(e) => tracing::warn!(sync = id, error = %e, "cannot renew the sync's lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_written() {
        for state in SyncState::ALL {
            assert_eq!(SyncState::parse(state.as_str()), Some(state));
        }
        assert_eq!(SyncState::parse("paused"), None);
        assert_eq!(
            SyncState::Running.as_str(),
            lease::RUNNING,
            "the lease's running state"
        );
        assert_eq!(super::super::STATES, SyncState::ALL.map(SyncState::as_str));
    }
}
