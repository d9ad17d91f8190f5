//! The sync: copies a store's existing BigCommerce data into the database, whole
//! (`force`, or the first time) or since a time, and survives crashes and rate limits.
//!
//! A sync is a `bigcommerce/sync` row. Running it walks each resource's listing in id
//! order through the store's paced client, one page ahead of the writes, and writes each
//! page with bulk upserts. After every page it saves a checkpoint (where each listing
//! continues) and the progress counters in the row, so a sync whose process died
//! continues from there. A full sync also deletes the rows in each page's id range that
//! BigCommerce no longer lists; an incremental one lists what changed, then sweeps the
//! ids for deletions.
//!
//! One process at a time runs a sync: it holds a lease on the row and renews it; another
//! process may take over once the lease has run out.

pub mod actions;
mod resource;

pub use resource::Resource;

use super::handlers::{StoreRef, store_client};
use super::{BigCommerce, StoreClient};
use crate::action::{ActionError, Api};
use crate::query::sql::Sql;
use chrono::{DateTime, Utc};
use entity::bigcommerce::sync as row;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub const STATES: &[&str] = &["created", "running", "completed", "errored", "aborted"];
pub const MODEL: &str = "bigcommerce/sync";
/// An incremental sync starts this long before the last completed one started: clocks
/// differ and BigCommerce's times have whole seconds.
pub const OVERLAP: Duration = Duration::from_secs(5 * 60);
/// Pages fetched ahead of the writes.
const AHEAD: usize = 2;

/// One resource's (or child model's) tally.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    pub pages: u64,
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    /// Listed again with nothing new (an incremental sync's overlap, whole listings).
    pub unchanged: u64,
    pub deleted: u64,
    pub failed: u64,
    pub done: bool,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.pages += other.pages;
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.failed += other.failed;
    }
}

/// Where a resource's work stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Writing what the listing returns.
    #[default]
    Write,
    /// Listing ids only, to delete what BigCommerce no longer has (incremental syncs).
    Sweep,
    Done,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Checkpoint {
    pub phase: Phase,
    pub lane: u8,
    #[serde(flatten)]
    pub at: resource::Position,
}

/// What a new sync is asked to do.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Every resource when empty.
    pub models: Vec<Resource>,
    pub since: Option<DateTime<Utc>>,
    pub force: bool,
}

impl Request {
    /// From the API's input: `models` (names), `syncSince`, `force`.
    pub fn from_json(input: &Json) -> Result<Request, ActionError> {
        let invalid = |m: String| ActionError::InvalidInput(m);
        let models = match input.get("models") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .and_then(Resource::parse)
                        .ok_or_else(|| invalid(format!("models: `{n}` is not a resource the sync copies")))
                })
                .collect::<Result<_, _>>()?,
            Some(Json::String(list)) => list
                .split(',')
                .map(|n| {
                    Resource::parse(n).ok_or_else(|| invalid(format!("models: `{n}` is not a resource")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(invalid(format!("models must be a list of names, not {other}"))),
        };
        let since = match input.get("syncSince") {
            None | Some(Json::Null) => None,
            Some(Json::String(text)) => {
                Some(parse_time(text).ok_or_else(|| {
                    invalid(format!("syncSince: `{text}` is not a date and time (RFC 3339)"))
                })?)
            }
            Some(other) => return Err(invalid(format!("syncSince must be a date and time, not {other}"))),
        };
        let force = match input.get("force") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(other) => return Err(invalid(format!("force must be true or false, not {other}"))),
        };
        Ok(Request { models, since, force })
    }
}

/// RFC 3339, or a date alone (its midnight, UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

fn store_caller(api: &Api, store: i64) -> Api {
    api.within_store(store)
}

async fn load(api: &Api, id: i64) -> Result<row::Model, ActionError> {
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
        .filter(row::Column::State.is_in(UNFINISHED.iter().copied()))
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
            .filter(row::Column::State.eq("completed"))
            .order_by_desc(row::Column::StartedAt)
            .one(conn)
            .await?
            .and_then(|last| last.started_at)
            .map(|started| started - chrono::Duration::from_std(OVERLAP).unwrap_or_default()),
    };
    let models: Vec<&str> = request.models.iter().map(|m| m.name()).collect();
    store_caller(api, store)
        .model(MODEL)
        .create_in(
            conn,
            json!({
                "store": {"_link": store},
                "models": if models.is_empty() { Json::Null } else { json!(models) },
                "syncSince": since.map(|s| s.to_rfc3339()),
                "force": request.force,
                "state": "created",
            }),
        )
        .await
}

/// A JSON column of the row as what it holds; empty when unset (a sync not yet run).
fn decoded<T: serde::de::DeserializeOwned + Default>(column: &Option<Json>) -> T {
    column
        .clone()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// A sync's progress counters, by resource.
pub async fn progress_of(api: &Api, id: i64) -> Result<BTreeMap<String, Counters>, ActionError> {
    Ok(decoded(&load(api, id).await?.progress))
}

/// Syncs in these states have not finished.
const UNFINISHED: &[&str] = &["created", "running"];

/// End the syncs whose `column` is `value` and whose state is one of `from`: set `state`
/// and `message`, stamp `finished_at` and free the lease. Answers how many ended.
async fn end(
    api: &Api,
    (column, value): (&str, i64),
    from: &[&str],
    state: &str,
    message: Option<&str>,
) -> Result<u64, ActionError> {
    let now = Utc::now();
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("UPDATE \"bigcommerce_sync\" SET \"state\" = ")
        .bind(state.into())
        .push(", \"error_message\" = ")
        .bind(message.map(str::to_owned).into())
        .push(", \"finished_at\" = ")
        .bind(now.into())
        .push(", \"updated_at\" = ")
        .bind(now.into())
        .push(", \"lease_until\" = NULL WHERE ")
        .ident(column)
        .push(" = ")
        .bind(value.into())
        .push(" AND \"state\" IN (");
    for (i, state) in from.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind((*state).into());
    }
    sql.push(")");
    Ok(api.db.execute_raw(sql.build()).await?.rows_affected())
}

/// Stop a sync that has not finished; the process running it stops after its current page.
pub async fn abort(api: &Api, id: i64) -> Result<crate::query::Record, ActionError> {
    let sync = load(api, id).await?;
    if end(api, ("id", id), UNFINISHED, "aborted", None).await? == 0 {
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
pub async fn abort_store(api: &Api, store: i64) -> Result<u64, ActionError> {
    end(
        api,
        ("store_id", store),
        UNFINISHED,
        "aborted",
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

/// Told of progress as pages are written (the CLI draws progress bars from it).
pub trait Observer: Send + Sync {
    fn progress(&self, _resource: Resource, _counters: &BTreeMap<String, Counters>, _total: Option<u64>) {}
}

impl Observer for () {}

/// Runs syncs: the BigCommerce client and the secret that opens stores' tokens.
#[derive(Clone)]
pub struct Syncer {
    pub bigcommerce: BigCommerce,
    pub secret: Arc<crate::auth::Secrets>,
    /// How long a claim on a sync lasts without renewal.
    pub lease: Duration,
    /// Where the sync writes (see [`crate::db::connect_relaxed`]).
    pub db: sea_orm::DatabaseConnection,
}

/// Why a running sync stops early.
#[derive(Clone, Debug, PartialEq)]
enum Stop {
    Aborted,
    LeaseLost,
}

/// The in-memory state of a running sync, saved to its row after each page.
struct Run {
    id: i64,
    since: Option<DateTime<Utc>>,
    checkpoint: BTreeMap<String, Checkpoint>,
    progress: BTreeMap<String, Counters>,
}

impl Run {
    /// Save the checkpoint and the progress; answers whether the sync was aborted meanwhile.
    async fn save(&self, api: &Api) -> Result<bool, ActionError> {
        let saved = api
            .model(MODEL)
            .update(
                self.id,
                json!({"checkpoint": self.checkpoint, "progress": self.progress}),
            )
            .await?;
        let model = api.registry.find(MODEL).expect("the sync model is registered");
        Ok(saved
            .to_json_object(model)
            .get("state")
            .is_some_and(|s| s == "aborted"))
    }
}

impl Syncer {
    /// Run (or continue) sync `id` to its end in this task.
    pub async fn run(&self, api: &Api, id: i64, observer: &dyn Observer) -> Result<Outcome, ActionError> {
        let sync = load(api, id).await?;
        match sync.state.as_str() {
            "completed" => return Ok(Outcome::Completed),
            "aborted" => return Ok(Outcome::Aborted),
            "errored" => return Ok(Outcome::Errored(sync.error_message.unwrap_or_default())),
            _ => {}
        }
        let mut api = store_caller(api, sync.store_id);
        api.db = self.db.clone();
        let lease = match self.claim(&api, id).await? {
            Ok(lease) => lease,
            Err(busy) => return Ok(busy),
        };
        let (stop_tx, stop) = watch::channel(None);
        let heartbeat = tokio::spawn(heartbeat(api.clone(), id, lease, self.lease, stop_tx));
        let result = self.work(&api, &sync, stop.clone(), observer).await;
        heartbeat.abort();
        let stopped = stop.borrow().clone();
        let aborted = load(&api, id).await.is_ok_and(|s| s.state == "aborted");
        let outcome = match (result, stopped) {
            _ if aborted => Outcome::Aborted,
            (_, Some(Stop::Aborted)) => Outcome::Aborted,
            // Someone else runs it now: leave the row to them.
            (_, Some(Stop::LeaseLost)) => return Ok(Outcome::Busy(Utc::now())),
            (Ok(()), None) => Outcome::Completed,
            // The reason is shown to the store's sessions: our own failures are logged, not told.
            (Err(e), None) => Outcome::Errored(e.public_message()),
        };
        self.finish(&api, id, &outcome).await?;
        Ok(outcome)
    }

    /// Take the sync for this process: `Err(Busy)` while another holds a live lease.
    async fn claim(&self, api: &Api, id: i64) -> Result<Result<DateTime<Utc>, Outcome>, ActionError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let mut sql = Sql::new(api.db.get_database_backend());
        sql.push("UPDATE \"bigcommerce_sync\" SET \"state\" = 'running', \"lease_until\" = ")
            .bind(until.into())
            .push(", \"started_at\" = COALESCE(\"started_at\", ")
            .bind(now.into())
            .push("), \"updated_at\" = ")
            .bind(now.into())
            .push(" WHERE \"id\" = ")
            .bind(id.into())
            .push(
                " AND \"state\" IN ('created', 'running') AND (\"lease_until\" IS NULL OR \"lease_until\" < ",
            )
            .bind(now.into())
            .push(")");
        if api.db.execute_raw(sql.build()).await?.rows_affected() == 1 {
            return Ok(Ok(until));
        }
        let sync = load(api, id).await?;
        Ok(Err(match (sync.state.as_str(), sync.lease_until) {
            ("completed", _) => Outcome::Completed,
            ("aborted", _) => Outcome::Aborted,
            ("errored", _) => Outcome::Errored(sync.error_message.unwrap_or_default()),
            (_, until) => Outcome::Busy(until.unwrap_or(now)),
        }))
    }

    /// The final state, unless the sync was aborted meanwhile.
    async fn finish(&self, api: &Api, id: i64, outcome: &Outcome) -> Result<(), ActionError> {
        let (state, message) = match outcome {
            Outcome::Completed => ("completed", None),
            Outcome::Errored(m) => ("errored", Some(m.as_str())),
            Outcome::Aborted | Outcome::Busy(_) => return Ok(()),
        };
        end(api, ("id", id), &["running"], state, message).await?;
        Ok(())
    }

    async fn work(
        &self,
        api: &Api,
        sync: &row::Model,
        stop: watch::Receiver<Option<Stop>>,
        observer: &dyn Observer,
    ) -> Result<(), ActionError> {
        let store = super::handlers::resolve_store(api, None).await?;
        let client = store_client(&self.bigcommerce, &self.secret, &store)?;
        let models: Vec<Resource> = match &sync.models {
            Some(Json::Array(names)) if !names.is_empty() => {
                let wanted: Vec<Resource> = names
                    .iter()
                    .filter_map(|n| n.as_str())
                    .filter_map(Resource::parse)
                    .collect();
                Resource::ALL.into_iter().filter(|r| wanted.contains(r)).collect()
            }
            _ => Resource::ALL.to_vec(),
        };
        let mut run = Run {
            id: sync.id,
            since: sync.sync_since,
            checkpoint: decoded(&sync.checkpoint),
            progress: decoded(&sync.progress),
        };
        for resource in models {
            if run_resource(api, &client, &store, resource, &mut run, &stop, observer).await? {
                break;
            }
        }
        Ok(())
    }
}

/// Renews the lease while the sync runs, and tells the run to stop when the sync was
/// aborted or another process took it over.
async fn heartbeat(
    api: Api,
    id: i64,
    mut held: DateTime<Utc>,
    lease: Duration,
    stop: watch::Sender<Option<Stop>>,
) {
    let every = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
        let mut sql = Sql::new(api.db.get_database_backend());
        sql.push("UPDATE \"bigcommerce_sync\" SET \"lease_until\" = ")
            .bind(until.into())
            .push(" WHERE \"id\" = ")
            .bind(id.into())
            .push(" AND \"state\" = 'running' AND \"lease_until\" = ")
            .bind(held.into());
        match api.db.execute_raw(sql.build()).await {
            Ok(done) if done.rows_affected() == 1 => held = until,
            Ok(_) => {
                let state = load(&api, id).await.map(|s| s.state).unwrap_or_default();
                let why = if state == "aborted" {
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

/// A page and where the listing stood before it.
struct Fetched {
    page: resource::Page,
    after: Option<i64>,
}

/// One resource from its checkpoint to its end: each lane's listing written (and, for a
/// full sync, reconciled) page by page, then swept for deletions when incremental.
/// Answers whether the sync must stop (aborted, or taken over).
async fn run_resource(
    api: &Api,
    client: &StoreClient,
    store: &StoreRef,
    resource: Resource,
    run: &mut Run,
    stop: &watch::Receiver<Option<Stop>>,
    observer: &dyn Observer,
) -> Result<bool, ActionError> {
    let key = resource.name().to_owned();
    let incremental = run.since.is_some() && resource.incremental();
    loop {
        let checkpoint = run.checkpoint.get(&key).cloned().unwrap_or_default();
        if checkpoint.phase == Phase::Done {
            return Ok(false);
        }
        let sweep = checkpoint.phase == Phase::Sweep;
        let since = if incremental && !sweep { run.since } else { None };
        let (tx, mut rx) = mpsc::channel::<Result<Fetched, super::Error>>(AHEAD);
        let fetcher = tokio::spawn(fetch_pages(
            client.clone(),
            resource,
            checkpoint.lane,
            checkpoint.at.clone(),
            since,
            sweep,
            tx,
        ));
        let _abort_fetcher = AbortOnDrop(fetcher);
        let mut finished = false;
        // Where the time goes, for the log: waiting on BigCommerce, writing, saving.
        let (mut waited, mut wrote, mut saved) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        loop {
            let waiting = std::time::Instant::now();
            let Some(fetched) = rx.recv().await else { break };
            waited += waiting.elapsed();
            let writing = std::time::Instant::now();
            let Fetched { page, after } = fetched.map_err(|e| remote(resource, e))?;
            let mut tally = if sweep {
                resource::Tally::new()
            } else {
                resource::write(api, store.id, resource, &page).await?
            };
            if sweep || !incremental {
                let seen = resource::ids(&page);
                let covered = resource.covered(checkpoint.lane, after, &page);
                let deleted =
                    resource::delete_missing(api, resource.model(), store.id, &covered, &seen).await?;
                tally.entry(resource.name()).or_default().deleted += deleted;
            }
            tally.entry(resource.name()).or_default().pages += 1;
            for (name, counters) in tally {
                run.progress.entry(name.to_owned()).or_default().add(&counters);
            }
            let entry = run.checkpoint.entry(key.clone()).or_default();
            entry.at = page.next.clone();
            if page.end {
                // The lane is done: the next lane, the sweep, or the end.
                entry.at = Default::default();
                if entry.lane + 1 < resource.lanes() {
                    entry.lane += 1;
                } else if !sweep && incremental {
                    entry.lane = 0;
                    entry.phase = Phase::Sweep;
                } else {
                    entry.phase = Phase::Done;
                    for name in [Some(resource.name()), resource.children()].into_iter().flatten() {
                        run.progress.entry(name.to_owned()).or_default().done = true;
                    }
                }
                finished = true;
            }
            wrote += writing.elapsed();
            let saving = std::time::Instant::now();
            let aborted = run.save(api).await?;
            saved += saving.elapsed();
            // Listings by id tell how many remain: only the first page tells the whole.
            let total = page
                .total
                .filter(|_| after.is_none() && checkpoint.at.cursor.is_none());
            observer.progress(resource, &run.progress, total);
            if aborted || stop.borrow().is_some() {
                return Ok(true);
            }
            if finished {
                break;
            }
        }
        tracing::info!(
            sync = run.id,
            resource = resource.name(),
            sweep,
            lane = checkpoint.lane,
            waited_ms = waited.as_millis() as u64,
            wrote_ms = wrote.as_millis() as u64,
            saved_ms = saved.as_millis() as u64,
            "listing done"
        );
        if !finished {
            return Err(ActionError::Remote(format!(
                "the {} listing ended without its last page",
                resource.name()
            )));
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Transient failures (rate limits past the client's own retries, 5xx, network) are
/// retried here after a pause, rate limits without end: the quota always comes back.
const PAGE_ATTEMPTS: u32 = 8;

fn transient(e: &super::Error) -> bool {
    matches!(e, super::Error::RateLimited { .. } | super::Error::Network { .. })
        || e.status().is_some_and(|s| s >= 500)
}

async fn fetch_pages(
    client: StoreClient,
    resource: Resource,
    lane: u8,
    mut at: resource::Position,
    since: Option<DateTime<Utc>>,
    ids_only: bool,
    tx: mpsc::Sender<Result<Fetched, super::Error>>,
) {
    let mut failures = 0u32;
    loop {
        match resource::fetch(&client, resource, lane, &at, since, ids_only).await {
            Ok(page) => {
                failures = 0;
                let after = at.last_id;
                at = page.next.clone();
                let end = page.end;
                if tx.send(Ok(Fetched { page, after })).await.is_err() || end {
                    return;
                }
            }
            Err(e)
                if transient(&e)
                    && (failures < PAGE_ATTEMPTS || matches!(e, super::Error::RateLimited { .. })) =>
            {
                failures += 1;
                let pause = Duration::from_secs(1 << failures.min(5));
                tracing::warn!(resource = resource.name(), error = %e, ?pause, "retrying a sync page");
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

fn remote(resource: Resource, e: super::Error) -> ActionError {
    ActionError::Remote(format!("BigCommerce ({}): {e}", resource.name()))
}
