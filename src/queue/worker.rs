//! Workers: claim ready jobs, run them through the action runtime, record the outcome.

use tracing::Instrument;
use super::lease::{self, Beats, Clock, Lease, RUNNING};
use super::{Job, Retries, Scope, State, TABLE, WAKE, is_postgres, now_ms};
use crate::action::{ActionError, Api, Caller, Trigger};
use crate::metrics::{ActionOutcome, Metrics};
use crate::action::ErrorCode;
use crate::query::Tenant;
use crate::query::sql::Sql;
use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Jobs this process runs at once.
    pub concurrency: usize,
    /// How long a claim lasts without renewal: a job whose worker died runs again after it.
    pub lease: Duration,
    /// How often an idle worker looks for ready jobs (it is also woken by local enqueues).
    pub poll_interval: Duration,
    /// On shutdown, how long running jobs may finish before they are released.
    pub shutdown_grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 8,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// The workers of one process.
pub struct Worker {
    id: String,
    db: DatabaseConnection,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    grace: Duration,
}

struct Claimed {
    id: String,
    job: Job,
    caller: Caller,
    attempts: i32,
    retries: Retries,
    /// Its stored queue name, and when it was enqueued (ms): for the metrics.
    queue: Option<String>,
    created_at: i64,
    /// Jobs taken with it, run together with it ([`Job::batch`]).
    batch: Vec<Claimed>,
}

impl Worker {
    /// Start `options.concurrency` workers that run jobs through `api` (the system API;
    /// each job runs as the caller that enqueued it, with `api`'s permissions), recording
    /// no metrics: for tests and benchmarks (the gateway uses [`Worker::start_counted`]).
    #[cfg(feature = "internals")]
    pub fn start(api: Api, options: WorkerOptions) -> Worker {
        Self::start_counted(api, options, Metrics::off())
    }

    /// Start `options.concurrency` workers that run jobs through `api` (the system API;
    /// each job runs as the caller that enqueued it, with `api`'s permissions), counting
    /// each attempt's outcome (and how long after its delivery a webhook's data was
    /// stored) in `metrics`.
    pub fn start_counted(api: Api, options: WorkerOptions, metrics: Metrics) -> Worker {
        let id = format!("w-{:016x}", rand::random::<u64>());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let shared = Arc::new(Shared {
            api: api.clone(),
            worker: id.clone(),
            options: options.clone(),
            metrics,
        });
        for _ in 0..options.concurrency.max(1) {
            let shared = shared.clone();
            let stopped = stopped.clone();
            tasks.spawn(async move { shared.run_loop(stopped).await });
        }
        Worker {
            id,
            db: api.db.clone(),
            stop,
            tasks,
            grace: options.shutdown_grace,
        }
    }

    /// This worker's id, as leases name it.
    #[cfg(feature = "internals")]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stop claiming; let running jobs finish within the grace period; release the rest
    /// so that another worker takes them at once.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, all_done).await.is_err() {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        if let Err(e) = release(&self.db, &self.id).await {
            tracing::warn!(error = %e, "could not release running background actions");
        }
    }

    /// Stop at once without releasing anything, as a crash would: for tests.
    #[cfg(feature = "internals")]
    pub async fn kill(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

struct Shared {
    api: Api,
    worker: String,
    options: WorkerOptions,
    metrics: Metrics,
}

impl Shared {
    async fn run_loop(&self, mut stopped: watch::Receiver<bool>) {
        // Doubles after each failed claim (the database is away, say), back to the poll
        // interval after a good one: a worker never gives up, and does not hammer a
        // database that is coming back.
        let mut pause = self.options.poll_interval;
        loop {
            if *stopped.borrow() {
                return;
            }
            let per_store = self.api.queue_limits.max_running_per_store;
            // A worker that found every ready job held back by a limit waits for the
            // poll, not for the next enqueue: during a backlog of one store, enqueues
            // come hundreds of times a second and free no room. The worker whose job
            // ended frees the room and claims at once.
            let mut woken_by_enqueue = true;
            match claim(&self.api.db, &self.worker, self.options.lease, per_store).await {
                Ok(Claim::Taken(job)) => {
                    pause = self.options.poll_interval;
                    // Every log line of the attempt names the job.
                    let span = tracing::info_span!("job", job_id = %job.id, attempt = job.attempts);
                    self.run_one(*job).instrument(span).await;
                    continue;
                }
                Ok(Claim::Idle) => pause = self.options.poll_interval,
                Ok(Claim::Full) => {
                    pause = self.options.poll_interval;
                    woken_by_enqueue = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a background action");
                    pause = (pause * 2).clamp(self.options.poll_interval, MAX_CLAIM_PAUSE);
                }
            }
            tokio::select! {
                _ = stopped.changed() => {}
                _ = WAKE.notified(), if woken_by_enqueue => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn run_one(&self, claimed: Claimed) {
        let api = self.api.as_caller(Caller {
            permissions: self.api.caller.permissions.clone(),
            ..claimed.caller.clone()
        });
        let jobs: Vec<&Claimed> = std::iter::once(&claimed).chain(&claimed.batch).collect();
        // A lost lease (a cancel, or a takeover after a stall) does not stop the attempt:
        // its end is conditional on this worker and on `running`, so it records nothing.
        let heartbeat = async {
            let mut beats = Beats::new(self.options.lease);
            loop {
                beats.next().await;
                for job in &jobs {
                    if let Err(e) = renew(&self.api.db, &job.id, &self.worker, self.options.lease).await {
                        tracing::warn!(error = %e, id = %job.id, "could not renew a lease");
                    }
                }
            }
        };
        let outcomes = tokio::select! {
            outcomes = run_together(&api, &jobs) => outcomes,
            never = heartbeat => never,
        };
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            self.conclude(job, outcome).await;
        }
    }

    /// Count and record the outcome of one job's attempt.
    async fn conclude(&self, claimed: &Claimed, outcome: Result<Json, ActionError>) {
        let counted = match &outcome {
            Ok(_) => ActionOutcome::Succeeded,
            Err(e) if e.is_retryable() && (claimed.attempts as u32) <= claimed.retries.retry_count => {
                ActionOutcome::Retried
            }
            Err(_) => ActionOutcome::Failed,
        };
        self.metrics.background_action(claimed.queue.as_deref(), counted);
        if counted == ActionOutcome::Succeeded
            && let Job::Global {
                trigger: Some(Trigger::Webhook { .. }),
                ..
            } = &claimed.job
        {
            // Enqueued as the delivery was acknowledged: its data is stored now.
            let delay_ms = (now_ms() - claimed.created_at).max(0) as u64;
            self.metrics.webhook_stored(Duration::from_millis(delay_ms));
        }
        let finished = match outcome {
            Ok(result) => {
                let result = json!({"success": true, "errors": null, "result": result});
                self.record(|| {
                    finish(
                        &self.api.db,
                        claimed,
                        &self.worker,
                        State::Completed,
                        Some(result.clone()),
                        None,
                    )
                })
                .await
            }
            // The database went away under the action: not the action's failure, so the
            // attempt does not count; it runs again once the database is back.
            Err(ActionError::Database(e)) if crate::db::is_unavailable(&e) => {
                tracing::info!(id = %claimed.id, error = %e, "the database went away under a background action; it will run again");
                let message = crate::action::UNAVAILABLE_MESSAGE;
                self.record(|| retry_later(&self.api.db, claimed, &self.worker, OUTAGE_RETRY_MS, message, false))
                    .await
            }
            Err(e) => {
                let message = e.public_message();
                let retry = claimed.attempts as u32;
                // A missing record, a refusal or bad input fails the same way every time.
                if e.is_retryable() && retry <= claimed.retries.retry_count {
                    let delay = claimed.retries.delay_ms(retry);
                    tracing::info!(id = %claimed.id, attempt = claimed.attempts, delay_ms = delay, error = %message,
                        "background action failed; retrying");
                    self.record(|| retry_later(&self.api.db, claimed, &self.worker, delay, &message, true))
                        .await
                } else {
                    tracing::warn!(id = %claimed.id, attempts = claimed.attempts, error = %message,
                        "background action failed for good");
                    let result = json!({"success": false, "errors": [{"code": e.code().as_str(), "message": message}]});
                    self.record(|| {
                        finish(
                            &self.api.db,
                            claimed,
                            &self.worker,
                            State::Failed,
                            Some(result.clone()),
                            Some(&message),
                        )
                    })
                    .await
                }
            }
        };
        if let Err(e) = finished {
            tracing::error!(error = %e, id = %claimed.id, "could not record a background action's outcome");
        }
    }

    /// Write an outcome, again while the database is away, for as long as the lease
    /// would have lasted: past it another worker may have taken the job over (the
    /// statement, conditional on this worker, then changes nothing).
    async fn record<F, Fut>(&self, write: F) -> Result<(), DbErr>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), DbErr>>,
    {
        let until = tokio::time::Instant::now() + self.options.lease;
        let mut pause = Duration::from_millis(100);
        loop {
            match write().await {
                Err(e) if crate::db::is_unavailable(&e) && tokio::time::Instant::now() + pause < until => {
                    tracing::warn!(error = %e, "the database is unavailable; recording a background action's outcome again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_CLAIM_PAUSE);
                }
                done => return done,
            }
        }
    }
}

/// Run a claimed job, or the jobs claimed together ([`Job::batch`]): each one's outcome,
/// in order. A batch that fails as a whole fails each of its jobs alike, as each would
/// have failed alone.
async fn run_together(api: &Api, jobs: &[&Claimed]) -> Vec<Result<Json, ActionError>> {
    let [first, ..] = jobs else { return Vec::new() };
    if jobs.len() == 1 {
        return vec![first.job.run(api).await];
    }
    let api = match &first.job {
        Job::Global { trigger: Some(trigger), .. } => api.triggered_by(trigger.clone()),
        _ => api.triggered_by(Trigger::Background),
    };
    let ids: Vec<Option<i64>> = jobs.iter().map(|j| j.job.batch().map(|(_, id)| id)).collect();
    let mut distinct: Vec<i64> = ids.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    match crate::bigcommerce::handlers::pull_products(&api, &distinct).await {
        Ok(answers) => {
            let answers: std::collections::HashMap<i64, Result<Json, ActionError>> = answers.into_iter().collect();
            ids.iter()
                .map(|id| {
                    id.and_then(|id| answers.get(&id).cloned())
                        .unwrap_or_else(|| Err(ActionError::InvalidInput("not a product pull".into())))
                })
                .collect()
        }
        Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// The longest pause between two claims, or two writes of an outcome, while the
/// database fails.
const MAX_CLAIM_PAUSE: Duration = Duration::from_secs(5);

/// How long an action the database failed under waits before it runs again.
const OUTAGE_RETRY_MS: u64 = 1000;

/// What a claim found.
enum Claim {
    Taken(Box<Claimed>),
    /// Nothing is ready.
    Idle,
    /// Jobs are ready, but every one is held back by its queue's or its store's limit:
    /// only a job ending frees room.
    Full,
}

/// The columns a claim reads, in [`claim`]'s order.
const CLAIM_COLUMNS: &str = "j.\"id\", j.\"job\", j.\"tenant\", j.\"roles\", j.\"queue\", j.\"max_concurrency\", \
    j.\"attempts\", j.\"retry_count\", j.\"initial_interval\", j.\"max_interval\", j.\"backoff_factor\", \
    j.\"randomize\", j.\"scope\", j.\"created_at\"";

/// Claim the most urgent ready job whose queue has room, and whose store is not
/// already running `per_store` jobs, in one transaction.
///
/// The cost must not grow with the jobs waiting: a backlog is when workers claim most.
/// So the jobs running now (at most every process's workers) are read first and
/// turned into plain conditions, and the waiting jobs are walked in claiming order
/// (`bcgraph_background_action_claim`) up to the first one they allow. Counting the
/// running jobs of each candidate's queue and store in the candidate query instead made
/// the database evaluate two subqueries per waiting job before it could sort them: with
/// 5,000 webhook pulls waiting, a claim took 18 ms at the median.
async fn claim(db: &DatabaseConnection, worker: &str, lease: Duration, per_store: usize) -> Result<Claim, DbErr> {
    let backend = db.get_database_backend();
    let postgres = is_postgres(backend);
    // Look before taking a write lock: idle workers poll, and on SQLite every
    // write transaction holds the one writer's lock.
    let now = now_ms();
    let mut peek = Sql::new(backend);
    peek.push(&format!(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM \"{TABLE}\" WHERE \"state\" = 'waiting' AND \"run_at\" <= "
    ))
    .bind(now.into())
    .push(&format!(
        ") OR EXISTS (SELECT 1 FROM \"{TABLE}\" WHERE \"state\" = 'running' AND \"lease_until\" < "
    ))
    .bind(now.into())
    .push(")");
    if db.query_one_raw(peek.build()).await?.is_none() {
        return Ok(Claim::Idle);
    }
    let mut options = TransactionOptions::default();
    if !postgres {
        // SQLite: one writer at a time, so the count and the claim cannot interleave.
        options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
    }
    let txn = db.begin_with_options(options).await?;
    let now = now_ms();
    let room = Room::read(&txn, now, per_store).await?;
    let mut found = None;
    // A job whose worker died first: it has waited longest.
    for ready in ["j.\"state\" = 'running' AND j.\"lease_until\" < ", "j.\"state\" = 'waiting' AND j.\"run_at\" <= "] {
        let mut sql = Sql::new(backend);
        sql.push(&format!("SELECT {CLAIM_COLUMNS} FROM \"{TABLE}\" j WHERE "))
            .push(ready)
            .bind(now.into());
        room.restrict(&mut sql);
        sql.push(" ORDER BY j.\"priority\" DESC, j.\"run_at\", j.\"created_at\", j.\"id\" LIMIT 1");
        if postgres {
            sql.push(" FOR UPDATE OF j SKIP LOCKED");
        }
        found = txn.query_one_raw(sql.build()).await?;
        if found.is_some() {
            break;
        }
    }
    let Some(row) = found else {
        txn.commit().await?;
        // Ready jobs that no limit held back may all have been locked by other workers:
        // then they are taken, and looking again at once finds the next.
        return Ok(if room.is_empty() { Claim::Idle } else { Claim::Full });
    };
    let id: String = row.try_get_by_index(0)?;
    let queue: Option<String> = row.try_get_by_index(4)?;
    let max_concurrency: i32 = row.try_get_by_index(5)?;
    let scope: String = row.try_get_by_index(12)?;
    let created_at: i64 = row.try_get_by_index(13)?;
    if postgres {
        // Serialize the claims of this queue (and of this store) across processes, then
        // count again: under READ COMMITTED this statement sees every claim committed
        // before the lock, which the candidate's own query could not.
        let mut limits = Vec::new();
        if let Some(queue) = &queue {
            let mut lock = Sql::new(backend);
            lock.push("SELECT \"name\" FROM \"bcgraph_queue\" WHERE \"name\" = ")
                .bind(queue.clone().into())
                .push(" FOR UPDATE");
            limits.push((lock, "queue", queue.clone(), max_concurrency as i64));
        }
        if scope.starts_with("store:") {
            let mut lock = Sql::new(backend);
            lock.push("SELECT pg_advisory_xact_lock(hashtext(")
                .bind(format!("bcgraph-scope:{scope}").into())
                .push("))");
            limits.push((lock, "scope", scope.clone(), per_store.max(1) as i64));
        }
        for (lock, column, value, limit) in limits {
            txn.query_one_raw(lock.build()).await?;
            let mut count = Sql::new(backend);
            count
                .push(&format!("SELECT COUNT(*) FROM \"{TABLE}\" WHERE \"{column}\" = "))
                .bind(value.into())
                .push(" AND \"state\" = 'running' AND \"lease_until\" >= ")
                .bind(now_ms().into())
                .push(" AND \"id\" <> ")
                .bind(id.clone().into());
            let running: i64 = match txn.query_one_raw(count.build()).await? {
                Some(r) => r.try_get_by_index(0)?,
                None => 0,
            };
            if running >= limit {
                txn.rollback().await?;
                return Ok(Claim::Full);
            }
        }
    }
    let attempts: i32 = row.try_get_by_index::<i32>(6)? + 1;
    // Picked and locked above: taken without conditions of its own.
    let take = job_lease(&id).claim(backend, lease::until(Utc::now(), lease), None, |sets| {
        sets.value("attempts", attempts.into())
            .value("worker", worker.to_owned().into());
    });
    txn.execute_raw(take).await?;
    let mut claimed = match read_claimed(&row, attempts)? {
        Ok(claimed) => claimed,
        Err(message) => {
            txn.commit().await?;
            // Not ours to run (a newer version's job?): fail it rather than loop on it.
            let claimed = Claimed {
                id,
                job: Job::global("", json!(null)),
                caller: Caller::default(),
                attempts,
                retries: Retries::default(),
                queue,
                created_at,
                batch: Vec::new(),
            };
            let result = json!({"success": false, "errors": [{"code": ErrorCode::InternalError.as_str(), "message": message}]});
            finish(db, &claimed, worker, State::Failed, Some(result), Some(&message)).await?;
            return Ok(Claim::Idle);
        }
    };
    // Only a store's own: the gateway's webhook pulls of every store share one scope.
    if claimed.queue.is_none()
        && let Some((key, _)) = claimed.job.batch()
        && let Tenant::Store(store) = claimed.caller.tenant
    {
        let roles: String = row.try_get_by_index(3)?;
        claimed.batch = take_batch(&txn, (&scope, store), key, &roles, worker, lease, now).await?;
    }
    txn.commit().await?;
    Ok(Claim::Taken(Box::new(claimed)))
}

/// A claimed row (its attempt counted in `attempts`) as a job to run; the message when
/// its job cannot be read.
fn read_claimed(row: &sea_orm::QueryResult, attempts: i32) -> Result<Result<Claimed, String>, DbErr> {
    let job_text: String = row.try_get_by_index(1)?;
    let job = match serde_json::from_str::<Job>(&job_text) {
        Ok(job) => job,
        Err(e) => return Ok(Err(format!("the stored job cannot be read: {e}"))),
    };
    let roles: String = row.try_get_by_index(3)?;
    let scope: String = row.try_get_by_index(12)?;
    let tenant = match row.try_get_by_index::<Option<i64>>(2)? {
        Some(store) => Tenant::Store(store),
        None => Tenant::System,
    };
    Ok(Ok(Claimed {
        id: row.try_get_by_index(0)?,
        job,
        caller: Caller {
            tenant,
            roles: serde_json::from_str(&roles).unwrap_or_default(),
            internal: scope == Scope::Internal.key(),
            ..Caller::default()
        },
        attempts,
        retries: Retries {
            retry_count: row.try_get_by_index::<i32>(7)?.max(0) as u32,
            initial_interval_ms: row.try_get_by_index::<i64>(8)?.max(0) as u64,
            max_interval_ms: row.try_get_by_index::<i64>(9)?.max(0) as u64,
            backoff_factor: row.try_get_by_index(10)?,
            randomize: row.try_get_by_index(11)?,
        },
        queue: row.try_get_by_index(4)?,
        created_at: row.try_get_by_index(13)?,
        batch: Vec::new(),
    }))
}

/// Take, with the job just claimed, the other ready jobs of its scope and store that
/// share its batch key and its caller's roles (and have no queue of their own): one
/// worker runs them together ([`Job::batch`]). Each keeps its own row, attempt and outcome.
async fn take_batch(
    txn: &sea_orm::DatabaseTransaction,
    (scope, store): (&str, i64),
    key: &str,
    roles: &str,
    worker: &str,
    lease: Duration,
    now: i64,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {CLAIM_COLUMNS} FROM \"{TABLE}\" j WHERE j.\"state\" = 'waiting' AND j.\"run_at\" <= "
    ))
    .bind(now.into())
    .push(" AND j.\"scope\" = ")
    .bind(scope.to_owned().into())
    .push(" AND j.\"tenant\" = ")
    .bind(store.into())
    .push(" AND j.\"batch\" = ")
    .bind(key.to_owned().into())
    .push(" AND j.\"roles\" = ")
    .bind(roles.to_owned().into())
    .push(&format!(
        " AND j.\"queue\" IS NULL ORDER BY j.\"priority\" DESC, j.\"run_at\", j.\"created_at\", j.\"id\" LIMIT {}",
        crate::bigcommerce::handlers::PULL_BATCH - 1
    ));
    if is_postgres(backend) {
        sql.push(" FOR UPDATE OF j SKIP LOCKED");
    }
    let mut batch = Vec::new();
    for row in txn.query_all_raw(sql.build()).await? {
        let attempts = row.try_get_by_index::<i32>(6)? + 1;
        if let Ok(claimed) = read_claimed(&row, attempts)?
            && claimed.job.batch().is_some()
        {
            batch.push(claimed);
        }
    }
    if batch.is_empty() {
        return Ok(batch);
    }
    let mut take = Sql::new(backend);
    take.push(&format!("UPDATE \"{TABLE}\" SET \"state\" = 'running', \"lease_until\" = "))
        .bind(lease::until(Utc::now(), lease).timestamp_millis().into())
        .push(", \"worker\" = ")
        .bind(worker.to_owned().into())
        .push(", \"attempts\" = \"attempts\" + 1 WHERE \"state\" = 'waiting' AND \"id\" IN (");
    for (i, claimed) in batch.iter().enumerate() {
        if i > 0 {
            take.push(", ");
        }
        take.bind(claimed.id.clone().into());
    }
    take.push(")");
    txn.execute_raw(take.build()).await?;
    Ok(batch)
}

/// Which queues and stores have no room for another job, from the jobs running now.
struct Room {
    /// Each queue with running jobs, and how many: a job of it may start while fewer
    /// run than its `max_concurrency`.
    queues: Vec<(String, i64)>,
    /// Stores already running their limit.
    full_stores: Vec<String>,
}

impl Room {
    async fn read<C: ConnectionTrait>(conn: &C, now: i64, per_store: usize) -> Result<Room, DbErr> {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push(&format!(
            "SELECT \"queue\", \"scope\" FROM \"{TABLE}\" WHERE \"state\" = 'running' AND \"lease_until\" >= "
        ))
        .bind(now.into());
        let mut queues: std::collections::BTreeMap<String, i64> = Default::default();
        let mut stores: std::collections::BTreeMap<String, usize> = Default::default();
        for row in conn.query_all_raw(sql.build()).await? {
            if let Some(queue) = row.try_get_by_index::<Option<String>>(0)? {
                *queues.entry(queue).or_default() += 1;
            }
            let scope: String = row.try_get_by_index(1)?;
            if scope.starts_with("store:") {
                *stores.entry(scope).or_default() += 1;
            }
        }
        let full_stores = stores
            .into_iter()
            .filter(|(_, running)| *running >= per_store.max(1))
            .map(|(scope, _)| scope)
            .collect();
        Ok(Room {
            queues: queues.into_iter().collect(),
            full_stores,
        })
    }

    /// Nothing is held back.
    fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.full_stores.is_empty()
    }

    /// ` AND ...`: candidate `j` fits.
    fn restrict(&self, sql: &mut Sql) {
        for (queue, running) in &self.queues {
            sql.push(" AND (j.\"queue\" IS NULL OR j.\"queue\" <> ")
                .bind(queue.clone().into())
                .push(" OR j.\"max_concurrency\" > ")
                .bind((*running).into())
                .push(")");
        }
        for scope in &self.full_stores {
            sql.push(" AND j.\"scope\" <> ").bind(scope.clone().into());
        }
    }
}

/// The lease on job `id`.
fn job_lease(id: &str) -> Lease {
    Lease::of(TABLE, Clock::Millis, "id", id.to_owned())
}

async fn renew(db: &DatabaseConnection, id: &str, worker: &str, lease: Duration) -> Result<(), DbErr> {
    let renewal = job_lease(id)
        .held_by("worker", worker.to_owned())
        .renew(db.get_database_backend(), lease::until(Utc::now(), lease));
    db.execute_raw(renewal).await?;
    Ok(())
}

/// Record a final outcome, unless the job was cancelled or taken over meanwhile.
async fn finish(
    db: &DatabaseConnection,
    claimed: &Claimed,
    worker: &str,
    state: State,
    result: Option<serde_json::Value>,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let end = job_lease(&claimed.id).held_by("worker", worker.to_owned()).end(
        db.get_database_backend(),
        &[RUNNING],
        state.as_str(),
        |sets| {
            sets.value("outcome", state.as_str().into())
                .value("result", result.map(|r| r.to_string()).into())
                .expr("last_error", |sql| {
                    sql.push("COALESCE(")
                        .bind(error.map(str::to_owned).into())
                        .push(", \"last_error\")");
                })
                .time("finished_at", Utc::now());
        },
    );
    db.execute_raw(end).await?;
    Ok(())
}

/// Hand the job back to wait `delay_ms` before its next attempt. An attempt the
/// database's absence cut short does not count (`counted: false`).
async fn retry_later(
    db: &DatabaseConnection,
    claimed: &Claimed,
    worker: &str,
    delay_ms: u64,
    error: &str,
    counted: bool,
) -> Result<(), DbErr> {
    let end = job_lease(&claimed.id).held_by("worker", worker.to_owned()).end(
        db.get_database_backend(),
        &[RUNNING],
        State::Waiting.as_str(),
        |sets| {
            sets.value("run_at", (now_ms() + delay_ms as i64).into())
                .value("last_error", error.to_owned().into());
            if !counted {
                sets.expr("attempts", |sql| {
                    sql.push("\"attempts\" - 1");
                });
            }
        },
    );
    db.execute_raw(end).await?;
    Ok(())
}

/// Hand this worker's running jobs back: the attempt did not count.
async fn release(db: &DatabaseConnection, worker: &str) -> Result<(), DbErr> {
    let end = Lease::of(TABLE, Clock::Millis, "worker", worker.to_owned()).end(
        db.get_database_backend(),
        &[RUNNING],
        State::Waiting.as_str(),
        |sets| {
            sets.expr("attempts", |sql| {
                sql.push("\"attempts\" - 1");
            });
        },
    );
    db.execute_raw(end).await?;
    Ok(())
}
