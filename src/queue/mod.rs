//! Background actions: a durable queue in the application's own database, so that
//! a write and the work it enqueues commit together and every gateway process
//! sharing the database shares the queue.
//!
//! ```ignore
//! let id = api
//!     .enqueue(Job::global("bigcommerce/pullProduct", json!({"bigcommerceId": 113})),
//!              &Options { queue: Some(QueueOption::named("products")), ..Default::default() })
//!     .await?;
//! ```
//!
//! A job runs through the action runtime as the caller that enqueued it, and belongs to
//! that caller's [`Scope`]: its id and its queue's name live in the scope, so one store's
//! ids, queues and quotas never touch another's or the gateway's own. Workers
//! ([`Worker`]) claim ready jobs by priority, honour each named queue's
//! `maxConcurrency` across processes, hold a lease they renew while running, and
//! retry failures with exponential backoff. A job whose worker died runs again
//! once its lease expires.

pub(crate) mod lease;
mod options;
mod worker;

pub use options::{Options, Priority, QueueLimits, QueueOption, Retries};
pub use worker::{Worker, WorkerOptions};

use crate::action::{ActionError, Api, Caller, Trigger};
use crate::query::Tenant;
use crate::query::sql::Sql;
use chrono::{DateTime, Utc};
use lease::{Clock, Lease};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, SqlErr};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::sync::LazyLock;
use tokio::sync::Notify;

pub(crate) const TABLE: &str = "bcgraph_background_action";

/// The action webhooks of products run, whose jobs a worker takes together.
const PULL_PRODUCT: &str = "bigcommerce/pullProduct";

/// Wakes this process's idle workers when a job is enqueued here.
pub(crate) static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// What a background action does: one action of the runtime, by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Job {
    /// A global action, `namespace/name` or `name`.
    Global {
        /// `name` or `namespace/name`.
        name: String,
        /// Its parameters, as the mutation's arguments would give them.
        params: Json,
        /// What enqueued it, when not a caller's request (a webhook, a schedule).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<Trigger>,
    },
    /// A model action; `model` is `namespace/apiId`.
    Create {
        /// `namespace/apiId`.
        model: String,
        /// The record, as the create mutation's input.
        input: Json,
    },
    /// Change the record `id`.
    Update {
        /// `namespace/apiId`.
        model: String,
        /// The record's id.
        id: i64,
        /// The changes, as the update mutation's input.
        input: Json,
    },
    /// Delete the record `id`.
    Delete {
        /// `namespace/apiId`.
        model: String,
        /// The record's id.
        id: i64,
    },
    /// Create, or update the record whose `on` fields match.
    Upsert {
        /// `namespace/apiId`.
        model: String,
        /// The record, as the upsert mutation's input.
        input: Json,
        /// The identity fields (`["bigcommerceId", "store"]`); empty means `["id"]`.
        on: Vec<String>,
    },
}

impl Job {
    /// Run the global action `name` with `params`.
    pub fn global(name: &str, params: Json) -> Job {
        Job::Global {
            name: name.to_owned(),
            params,
            trigger: None,
        }
    }

    /// A global action that `trigger` started; the action's [`Context::trigger`] says so.
    ///
    /// [`Context::trigger`]: crate::action::Context::trigger
    pub fn triggered(name: &str, params: Json, trigger: Trigger) -> Job {
        Job::Global {
            name: name.to_owned(),
            params,
            trigger: Some(trigger),
        }
    }

    /// The key under which a worker may run this job together with others waiting in the
    /// same store with the same key, and the id it pulls: webhook pulls of products,
    /// which arrive by the hundred when a merchant imports a catalogue
    /// ([`crate::bigcommerce::handlers::pull_products`]).
    pub(crate) fn batch(&self) -> Option<(&'static str, i64)> {
        match self {
            Job::Global { name, params, .. } if name == PULL_PRODUCT => {
                let params = params.as_object().filter(|p| p.len() == 1)?;
                Some((PULL_PRODUCT, params.get("bigcommerceId").and_then(crate::bigcommerce::mapping::id_of)?))
            }
            _ => None,
        }
    }

    /// Run it through `api` (already acting as the job's caller). The answer is what the
    /// job's `result` keeps: a global action's result, or the written record's id.
    pub async fn run(&self, api: &Api) -> Result<Json, ActionError> {
        let model = |name: &str| {
            api.registry
                .find(name)
                .map(|m| m.id)
                .ok_or_else(|| ActionError::InvalidInput(format!("no model named {name}")))
        };
        let api = &match self {
            Job::Global {
                trigger: Some(trigger),
                ..
            } => api.triggered_by(trigger.clone()),
            _ => api.triggered_by(Trigger::Background),
        };
        match self {
            Job::Global { name, params, .. } => api.run_global(name, params.clone()).await,
            Job::Create { model: m, input } => {
                let record = api.model_by_id(model(m)?).create(input.clone()).await?;
                Ok(json!({"id": record.id()}))
            }
            Job::Update { model: m, id, input } => {
                let record = api.model_by_id(model(m)?).update(*id, input.clone()).await?;
                Ok(json!({"id": record.id()}))
            }
            Job::Delete { model: m, id } => {
                api.model_by_id(model(m)?).delete(*id).await?;
                Ok(json!({"id": id}))
            }
            Job::Upsert { model: m, input, on } => {
                let on: Vec<&str> = on.iter().map(String::as_str).collect();
                let (record, upserted) = api.model_by_id(model(m)?).upsert(input.clone(), &on).await?;
                Ok(json!({"id": record.id(), "created": upserted == crate::action::Upserted::Created}))
            }
        }
    }
}

/// Why a background action could not be enqueued, read or cancelled.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The caller's scope has an action with this id already.
    #[error("a background action with id `{0}` exists already")]
    Duplicate(String),
    /// The options or the job are not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not enqueue this.
    #[error("{0}")]
    Denied(String),
    /// Over a quota: too many pending actions, or too many in one request.
    #[error("{0}")]
    TooMany(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl From<QueueError> for ActionError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Duplicate(id) => ActionError::DuplicateBackgroundAction(id),
            QueueError::Invalid(m) => ActionError::InvalidInput(m),
            QueueError::Denied(m) => ActionError::PermissionDenied(m),
            QueueError::TooMany(m) => ActionError::TooManyRequests(m),
            QueueError::Database(e) => ActionError::Database(e),
        }
    }
}

impl From<ActionError> for QueueError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::PermissionDenied(m) => QueueError::Denied(m),
            ActionError::Database(e) => QueueError::Database(e),
            other => QueueError::Invalid(other.to_string()),
        }
    }
}

/// Whose background actions these are. A caller's ids and queue names live in its
/// scope, and a caller reaches only its own scope's actions (`system-admin` reaches any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The gateway's own work: webhooks, syncs, schedules.
    Internal,
    /// `system-admin` callers (API keys for back-end code).
    System,
    /// One store's callers.
    Store(i64),
}

impl Scope {
    /// The scope of `caller`'s actions; a caller without a store has none.
    pub fn of(caller: &Caller) -> Option<Scope> {
        if caller.internal {
            return Some(Scope::Internal);
        }
        match caller.tenant {
            Tenant::System => Some(Scope::System),
            Tenant::Store(store) => Some(Scope::Store(store)),
            Tenant::None => None,
        }
    }

    /// How the scope is stored: the prefix of its ids and queue names.
    pub fn key(self) -> String {
        match self {
            Scope::Internal => "internal".to_owned(),
            Scope::System => "system".to_owned(),
            Scope::Store(store) => format!("store:{store}"),
        }
    }

    /// The stored form of a caller's id or queue name.
    fn qualify(self, name: &str) -> String {
        format!("{}/{name}", self.key())
    }

    /// Quotas apply to stores' callers; the system's own work is not limited.
    fn limited(self) -> bool {
        matches!(self, Scope::Store(_))
    }
}

/// The id a caller of `scope` knows a stored action by: its own ids without the scope,
/// anything else (what `system-admin` sees of other scopes) in full.
pub fn display_id(scope: Option<Scope>, stored: &str) -> String {
    match scope.map(|s| format!("{}/", s.key())) {
        Some(prefix) if stored.starts_with(&prefix) => stored[prefix.len()..].to_owned(),
        _ => stored.to_owned(),
    }
}

/// Where a background action is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started yet (or waiting for a retry).
    Waiting,
    /// A worker holds it.
    Running,
    /// It succeeded.
    Completed,
    /// It failed for good.
    Failed,
    /// Cancelled before it ran.
    Cancelled,
}

impl State {
    /// As stored and as the API spells it (`waiting`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "completed" => State::Completed,
            "failed" => State::Failed,
            "cancelled" => State::Cancelled,
            _ => State::Waiting,
        }
    }

    /// No more attempts will be made.
    pub fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Failed | State::Cancelled)
    }
}

/// A stored background action.
#[derive(Clone, Debug)]
pub struct BackgroundAction {
    /// The id its reader knows it by (`my-id`; the system sees the full `store:12/my-id`).
    pub id: String,
    /// The id as stored: `scope/id`.
    pub stored_id: String,
    /// What it does.
    pub job: Job,
    /// The store it acts for (none: the system).
    pub tenant: Option<i64>,
    /// The roles of the caller that enqueued it, which it runs with.
    pub roles: Vec<String>,
    /// Its named queue, if any.
    pub queue: Option<String>,
    /// Where it is.
    pub state: State,
    /// How many times it has started.
    pub attempts: i32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// `completed` or `failed` once final.
    pub outcome: Option<String>,
    /// On success the job's answer; on failure `{code, message}` of the last error.
    pub result: Option<Json>,
    /// When it runs (next).
    pub run_at: DateTime<Utc>,
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn new_id() -> String {
    format!("ba-{:016x}{:08x}", rand::random::<u64>(), rand::random::<u32>())
}

/// May `api`'s caller run `job`? The same grants as running it now: a model action
/// needs the model operation, a global action its grant, and internal actions run only
/// for the gateway's own code.
pub fn authorize(api: &Api, job: &Job) -> Result<(), ActionError> {
    let model = |name: &str| {
        api.registry
            .find(name)
            .ok_or_else(|| ActionError::InvalidInput(format!("no model named {name}")))
    };
    match job {
        Job::Global { name, .. } => {
            let action = api
                .globals
                .find(name)
                .ok_or_else(|| ActionError::InvalidInput(format!("no global action named {name}")))?;
            if action.internal() && !api.caller.internal {
                return Err(ActionError::PermissionDenied(format!(
                    "{name} runs only inside the gateway"
                )));
            }
            api.check_global(action.namespace(), action.name())
        }
        Job::Create { model: m, .. } => api.caller.check(model(m)?, "create"),
        Job::Update { model: m, .. } => api.caller.check(model(m)?, "update"),
        Job::Delete { model: m, .. } => api.caller.check(model(m)?, "delete"),
        Job::Upsert { model: m, .. } => {
            let m = model(m)?;
            api.caller.check(m, "create")?;
            api.caller.check(m, "update")
        }
    }
}

/// Enqueue `jobs` as `api`'s caller on `conn`: the database, or an action's
/// transaction, in which case the jobs exist only if that transaction commits. Returns
/// each job's id as the caller knows it. Several jobs sharing `options.id` get
/// `{id}-0`, `{id}-1`, ...
///
/// The caller must be allowed to run every job; a store's callers are held to
/// `api.queue_limits` and to [`Options::within_policy`].
pub async fn enqueue<C: ConnectionTrait>(
    api: &Api,
    conn: &C,
    jobs: &[Job],
    options: &Options,
) -> Result<Vec<String>, QueueError> {
    let caller = &api.caller;
    let scope = Scope::of(caller).ok_or_else(|| {
        QueueError::Denied("background actions belong to a store, and this session has none".into())
    })?;
    for job in jobs {
        authorize(api, job)?;
    }
    let internal = scope == Scope::Internal;
    let options =
        options.within_policy(&api.queue_limits, internal || caller.tenant.is_system(), internal)?;
    if let Some(id) = &options.id
        && id.trim().is_empty()
    {
        return Err(QueueError::Invalid(
            "a background action id may not be empty".into(),
        ));
    }
    let limits = &api.queue_limits;
    if scope.limited() {
        if jobs.len() > limits.max_bulk_enqueue {
            return Err(QueueError::TooMany(format!(
                "at most {} background actions may be enqueued at once (BCGRAPH_MAX_BULK_ENQUEUE)",
                limits.max_bulk_enqueue
            )));
        }
        let pending = pending_in_scope(conn, scope).await?;
        if pending + jobs.len() as i64 > limits.max_pending_per_store as i64 {
            return Err(QueueError::TooMany(format!(
                "this store has {pending} background actions waiting or running; at most {} may be (BCGRAPH_STORE_MAX_PENDING_ACTIONS)",
                limits.max_pending_per_store
            )));
        }
    }
    let bulk = jobs.len() > 1;
    let mut ids = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let key = match &options.id {
            Some(id) if bulk => format!("{id}-{i}"),
            Some(id) => id.clone(),
            None => new_id(),
        };
        insert(conn, job, caller, scope, &key, &options).await?;
        ids.push(key);
    }
    WAKE.notify_one();
    Ok(ids)
}

/// Waiting and running actions of a scope.
async fn pending_in_scope<C: ConnectionTrait>(conn: &C, scope: Scope) -> Result<i64, QueueError> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!("SELECT COUNT(*) FROM \"{TABLE}\" WHERE \"scope\" = "))
        .bind(scope.key().into())
        .push(" AND \"state\" IN ('waiting', 'running')");
    let row = conn.query_one_raw(sql.build()).await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Store one job under `scope`/`key`.
async fn insert<C: ConnectionTrait>(
    conn: &C,
    job: &Job,
    caller: &Caller,
    scope: Scope,
    key: &str,
    options: &Options,
) -> Result<(), QueueError> {
    let id = scope.qualify(key);
    let queue = options.queue.as_ref().map(|q| scope.qualify(&q.name));
    let retries = options.retries.clone();
    let now = now_ms();
    let run_at = options.start_at.map(|t| t.timestamp_millis()).unwrap_or(now);
    let backend = conn.get_database_backend();
    if let Some(q) = &queue {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO \"bcgraph_queue\" (\"name\") VALUES (")
            .bind(q.clone().into())
            .push(") ON CONFLICT DO NOTHING");
        conn.execute_raw(sql.build()).await?;
    }
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "INSERT INTO \"{TABLE}\" (\"id\", \"scope\", \"job\", \"tenant\", \"roles\", \"queue\", \"max_concurrency\", \
         \"priority\", \"run_at\", \"state\", \"attempts\", \"retry_count\", \"initial_interval\", \
         \"max_interval\", \"backoff_factor\", \"randomize\", \"created_at\", \"batch\") VALUES ("
    ));
    let job_text =
        serde_json::to_string(job).map_err(|e| QueueError::Invalid(format!("the job is not JSON: {e}")))?;
    let roles = serde_json::to_string(&caller.roles).unwrap_or_else(|_| "[]".into());
    let values: Vec<sea_orm::Value> = vec![
        id.clone().into(),
        scope.key().into(),
        job_text.into(),
        caller.tenant.store().into(),
        roles.into(),
        queue.into(),
        options
            .queue
            .as_ref()
            .map_or(0, |q| q.max_concurrency as i32)
            .into(),
        options.priority.rank().into(),
        run_at.into(),
        State::Waiting.as_str().into(),
        0i32.into(),
        (retries.retry_count as i32).into(),
        (retries.initial_interval_ms as i64).into(),
        (retries.max_interval_ms as i64).into(),
        retries.backoff_factor.into(),
        retries.randomize.into(),
        now.into(),
        job.batch().map(|(key, _)| key.to_owned()).into(),
    ];
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(v);
    }
    sql.push(")");
    match conn.execute_raw(sql.build()).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(QueueError::Duplicate(key.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Cancel every job of a store that has not finished (after an uninstall), its own
/// and the gateway's work for it; returns how many. A running one finishes its attempt
/// but is not retried.
pub async fn cancel_store<C: ConnectionTrait>(conn: &C, store_id: i64) -> Result<u64, QueueError> {
    let lease = Lease::of(TABLE, Clock::Millis, "tenant", store_id);
    Ok(conn.execute_raw(cancelling(conn, lease)).await?.rows_affected())
}

/// Cancel the unfinished jobs of `lease`; a running one's worker then records nothing.
fn cancelling<C: ConnectionTrait>(conn: &C, lease: Lease) -> sea_orm::Statement {
    let unfinished = [State::Waiting.as_str(), State::Running.as_str()];
    let cancelled = State::Cancelled.as_str();
    lease.end(conn.get_database_backend(), &unfinished, cancelled, |sets| {
        sets.value("outcome", cancelled.into())
            .time("finished_at", Utc::now());
    })
}

/// Cancel a job that has not finished: it will not run (again). Answers the job as it
/// now is, or `None` if there is no such job for this caller.
pub async fn cancel<C: ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    id: &str,
) -> Result<Option<BackgroundAction>, QueueError> {
    let Some(job) = get(conn, caller, id).await? else {
        return Ok(None);
    };
    if job.state.is_final() {
        return Err(QueueError::Invalid(format!(
            "background action {id} has already {}",
            job.state.as_str()
        )));
    }
    let lease = Lease::of(TABLE, Clock::Millis, "id", job.stored_id.clone());
    conn.execute_raw(cancelling(conn, lease)).await?;
    get(conn, caller, id).await
}

/// A job of the caller's scope by the id the caller knows it by; `system-admin` also
/// reaches any job by its full stored id (`store:12/my-id`). A caller without a
/// scope reaches none.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    id: &str,
) -> Result<Option<BackgroundAction>, QueueError> {
    let Some(scope) = Scope::of(caller) else {
        return Ok(None);
    };
    let mut candidates = vec![scope.qualify(id)];
    if caller.tenant.is_system() && id.contains('/') {
        candidates.push(id.to_owned());
    }
    for stored in candidates {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push(&format!("SELECT {COLUMNS} FROM \"{TABLE}\" WHERE \"id\" = "))
            .bind(stored.into());
        if let Some(row) = conn.query_one_raw(sql.build()).await? {
            let mut job = decode(&row)?;
            job.id = display_id(Some(scope), &job.stored_id);
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// Jobs not yet final, all stores: for draining in tests and tools.
#[cfg(feature = "internals")]
pub async fn pending_count<C: ConnectionTrait>(conn: &C) -> Result<i64, QueueError> {
    let sql = format!("SELECT COUNT(*) FROM \"{TABLE}\" WHERE \"state\" IN ('waiting', 'running')");
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

const COLUMNS: &str = "\"id\", \"job\", \"tenant\", \"roles\", \"queue\", \"state\", \"attempts\", \
                       \"last_error\", \"outcome\", \"result\", \"run_at\"";

fn decode(row: &QueryResult) -> Result<BackgroundAction, DbErr> {
    let text = |i: usize| row.try_get_by_index::<String>(i);
    let job: Job = serde_json::from_str(&text(1)?).map_err(|e| DbErr::Custom(format!("stored job: {e}")))?;
    let result: Option<String> = row.try_get_by_index(9)?;
    Ok(BackgroundAction {
        id: text(0)?,
        stored_id: text(0)?,
        job,
        tenant: row.try_get_by_index(2)?,
        roles: serde_json::from_str(&text(3)?).unwrap_or_default(),
        queue: row.try_get_by_index(4)?,
        state: State::parse(&text(5)?),
        attempts: row.try_get_by_index(6)?,
        last_error: row.try_get_by_index(7)?,
        outcome: row.try_get_by_index(8)?,
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        run_at: DateTime::from_timestamp_millis(row.try_get_by_index(10)?).unwrap_or_default(),
    })
}

pub(crate) fn is_postgres(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

impl Api {
    /// Enqueue `job` as this API's caller, in its own statement.
    pub async fn enqueue(&self, job: &Job, options: &Options) -> Result<String, QueueError> {
        let mut ids = enqueue(self, &self.db, std::slice::from_ref(job), options).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Invalid("nothing was enqueued".into()))
    }

    /// Enqueue `jobs` as this API's caller, all or none.
    pub async fn enqueue_all(&self, jobs: &[Job], options: &Options) -> Result<Vec<String>, QueueError> {
        let txn = self.begin().await.map_err(QueueError::from)?;
        let ids = enqueue(self, &txn, jobs, options).await?;
        txn.commit().await?;
        Ok(ids)
    }

    /// A background action this caller may see.
    pub async fn background_action(&self, id: &str) -> Result<Option<BackgroundAction>, QueueError> {
        get(&self.db, &self.caller, id).await
    }

    /// Cancel a background action this caller may see.
    pub async fn cancel_background_action(&self, id: &str) -> Result<Option<BackgroundAction>, QueueError> {
        cancel(&self.db, &self.caller, id).await
    }
}
