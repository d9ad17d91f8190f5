//! The sync in the API: the model's `run` and `abort` actions, the `syncStore` global
//! action, the background job that runs a sync, and the schedule.

use super::row::SyncState;
use super::run::Attempt;
use super::{MODEL, Outcome, Request, Syncer};
use crate::action::{
    ActionError, Api, Caller, Context, GlobalAction, GlobalActions, ModelAction, Param, ParamType,
};
use crate::bigcommerce::handlers::resolve_store;
use crate::bigcommerce::mapping::id_of;
use crate::query::Record;
use crate::query::Tenant;
use crate::queue::{self, Job, Options, QueueOption};
use futures::future::BoxFuture;
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::time::Duration;

/// Syncs run in this queue, this many at once over every process: each is long and
/// spends its store's quota, and other background work must keep flowing.
const QUEUE: &str = "bigcommerce-sync";
const QUEUE_CONCURRENCY: u32 = 2;
const RESUME: &str = "bigcommerce/resumeSync";

fn sync_params() -> Vec<Param> {
    vec![
        Param::optional("models", ParamType::Json),
        Param::optional("syncSince", ParamType::String),
        Param::optional("force", ParamType::Boolean),
    ]
}

/// Create a sync of `store` and queue the job that runs it, in one transaction: a sync
/// never exists without its job (an unfinished sync blocks the store's next ones).
pub async fn start(api: &Api, store: i64, request: Request) -> Result<Record, ActionError> {
    let txn = api.begin().await?;
    let sync = super::create_in(api, &txn, store, request).await?;
    let job = Continue {
        id: sync.id(),
        retry: 0,
        at: None,
    };
    enqueue(api, &txn, store, job, format!("bigcommerce-sync-{}", sync.id())).await?;
    txn.commit().await?;
    Ok(sync)
}

/// A run of a sync for the queue: the first, a continuation, or retry `retry` after a
/// transient failure, not before `at`.
struct Continue {
    id: i64,
    retry: u32,
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Queue the job that runs `job`'s sync, as the gateway's own background action `job_id`.
async fn enqueue<C: ConnectionTrait>(
    api: &Api,
    conn: &C,
    store: i64,
    job: Continue,
    job_id: String,
) -> Result<String, ActionError> {
    let options = Options {
        queue: Some(QueueOption {
            name: QUEUE.to_owned(),
            max_concurrency: QUEUE_CONCURRENCY,
        }),
        id: Some(job_id),
        start_at: job.at,
        ..Default::default()
    };
    let params = match job.retry {
        0 => json!({"id": job.id}),
        retry => json!({"id": job.id, "retry": retry}),
    };
    let job = Job::global(RESUME, params);
    let mut ids = queue::enqueue(&system_for(api, store), conn, &[job], &options).await?;
    Ok(ids.pop().unwrap_or_default())
}

/// The gateway's own code acting for `store`: its jobs are internal, whoever asked.
fn system_for(api: &Api, store: i64) -> Api {
    api.as_caller(Caller::system(api.caller.permissions.clone()).within_store(store))
}

/// `runSync(sync: {store, models, syncSince, force})`: create a sync and run it in the background.
pub struct RunSync;

impl ModelAction for RunSync {
    fn model(&self) -> &'static str {
        MODEL
    }

    fn name(&self) -> &'static str {
        "run"
    }

    fn on_record(&self) -> bool {
        false
    }

    fn params(&self) -> Vec<Param> {
        let mut params = vec![Param::optional("store", ParamType::Json)];
        params.extend(sync_params());
        params
    }

    fn run<'a>(
        &'a self,
        api: &'a Api,
        _id: Option<i64>,
        input: Json,
    ) -> BoxFuture<'a, Result<Record, ActionError>> {
        Box::pin(async move {
            let linked = input.pointer("/store/_link").map(|v| {
                id_of(v).ok_or_else(|| ActionError::InvalidInput("store._link must be a store id".into()))
            });
            let tenant = api.caller.tenant;
            let store = match (linked.transpose()?, tenant) {
                (Some(linked), _) => linked,
                (None, Tenant::Store(own)) => own,
                (None, Tenant::System) => return Err(ActionError::InvalidInput("store is required".into())),
                (None, Tenant::None) => {
                    return Err(ActionError::PermissionDenied(
                        "this session belongs to no store".into(),
                    ));
                }
            };
            if !tenant.admits(store) {
                return Err(ActionError::PermissionDenied(
                    "a store session may only sync its own store".into(),
                ));
            }
            let installed = resolve_store(&api.within_store(store), None).await?;
            start(api, installed.id, Request::from_json(&input)?).await
        })
    }
}

/// `abortSync(id)`: stop a sync that has not finished.
pub struct AbortSync;

impl ModelAction for AbortSync {
    fn model(&self) -> &'static str {
        MODEL
    }

    fn name(&self) -> &'static str {
        "abort"
    }

    fn on_record(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<Param> {
        Vec::new()
    }

    fn run<'a>(
        &'a self,
        api: &'a Api,
        id: Option<i64>,
        _input: Json,
    ) -> BoxFuture<'a, Result<Record, ActionError>> {
        Box::pin(async move {
            let id = id.ok_or_else(|| ActionError::InvalidInput("id is required".into()))?;
            super::abort(api, id).await
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStoreParams {
    store_hash: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Json>,
}

/// `syncStore(storeHash, models, syncSince, force)`: start a sync of a store by its hash.
pub struct SyncStore;

impl GlobalAction for SyncStore {
    type Params = SyncStoreParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        "syncStore"
    }

    fn params(&self) -> Vec<Param> {
        let mut params = vec![Param::optional("storeHash", ParamType::String)];
        params.extend(sync_params());
        params
    }

    async fn run(&self, ctx: &Context, params: SyncStoreParams) -> Result<Json, ActionError> {
        let api = ctx.api();
        let store = resolve_store(api, params.store_hash.as_deref()).await?;
        let request = Request::from_json(&Json::Object(params.rest))?;
        let sync = start(api, store.id, request).await?;
        Ok(json!({"syncId": sync.id().to_string(), "storeHash": store.hash}))
    }
}

#[derive(Deserialize)]
pub struct ResumeParams {
    id: i64,
    /// Which retry after a transient failure this run is (0: the first run).
    #[serde(default)]
    retry: u32,
}

/// The background job that runs (or continues) a sync.
pub struct ResumeSync(Option<Syncer>);

impl GlobalAction for ResumeSync {
    type Params = ResumeParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        "resumeSync"
    }

    fn params(&self) -> Vec<Param> {
        vec![Param::required("id", ParamType::Number)]
    }

    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, params: ResumeParams) -> Result<Json, ActionError> {
        let api = ctx.api();
        let syncer = self
            .0
            .as_ref()
            .ok_or_else(|| ActionError::InvalidInput("this process does not run syncs".into()))?;
        let outcome = match syncer.attempt(api, params.id, &()).await? {
            Attempt::Ended(outcome) => outcome,
            Attempt::Transient(message) => return retry_later(api, syncer, &params, message).await,
        };
        match outcome {
            // Retried by the queue until the other process's lease runs out.
            Outcome::Busy(until) => Err(ActionError::Busy(format!(
                "sync {} is held by another process until {until}",
                params.id
            ))),
            Outcome::Completed => Ok(json!({"state": SyncState::Completed.as_str()})),
            Outcome::Aborted => Ok(json!({"state": SyncState::Aborted.as_str()})),
            Outcome::Errored(message) => {
                Ok(json!({"state": SyncState::Errored.as_str(), "errorMessage": message}))
            }
        }
    }
}

/// After a transient failure: queue the next retry, the sync waiting for it from its
/// checkpoint (both or neither), or once the retries are spent end the sync as errored.
async fn retry_later(api: &Api, syncer: &Syncer, params: &ResumeParams, message: String) -> Result<Json, ActionError> {
    let id = params.id;
    let retries = syncer.retries;
    if params.retry >= retries.retries {
        let message = format!("{message} (gave up after {} attempts)", params.retry + 1);
        tracing::warn!(sync = id, error = %message, "a sync failed for good");
        super::row::finish(api, id, &Outcome::Errored(message.clone())).await?;
        return Ok(json!({"state": SyncState::Errored.as_str(), "errorMessage": message}));
    }
    let retry = params.retry + 1;
    let at = chrono::Utc::now() + chrono::Duration::from_std(retries.wait(retry)).unwrap_or_default();
    let store = super::row::load(api, id).await?.store_id;
    let note = format!(
        "{message}; retry {retry} of {} at {}",
        retries.retries,
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    tracing::warn!(sync = id, retry, error = %message, %at, "a sync failed on a transient error; retrying");
    let txn = api.begin().await?;
    // Aborted meanwhile: nothing to continue.
    if super::row::hand_back(&txn, id, &note).await? {
        let job = Continue {
            id,
            retry,
            at: Some(at),
        };
        enqueue(api, &txn, store, job, format!("bigcommerce-sync-{id}-retry-{retry}")).await?;
    }
    txn.commit().await?;
    Ok(json!({"state": SyncState::Created.as_str(), "retry": retry, "retryAt": at.to_rfc3339()}))
}

/// The sync's actions; without a syncer (`bcgraph schema` has no database) they are
/// only declared.
pub fn register(globals: GlobalActions, syncer: Option<Syncer>) -> GlobalActions {
    globals
        .register_model_action(RunSync)
        .register_model_action(AbortSync)
        .register(SyncStore)
        .register(ResumeSync(syncer))
}

/// How often the schedule looks for syncs whose process died.
const ADOPT_EVERY: Duration = Duration::from_secs(5 * 60);

/// Every `interval`, queue an incremental sync of each installed store; and every few
/// minutes, queue the continuation of a sync whose process died (a killed `bcgraph sync`
/// leaves its sync unfinished, with a lease that runs out). Processes that share a
/// database queue each job once: its id names the interval (or the dead lease), and a
/// second enqueue of it is refused.
pub async fn schedule(api: Api, interval: Duration) {
    let seconds = interval.as_secs().max(1) as i64;
    loop {
        let now = chrono::Utc::now();
        let slot = now.timestamp() / seconds;
        let stores = crate::bigcommerce::stores::all_installed(&api.db).await;
        match stores {
            Ok(stores) => {
                for s in stores {
                    if let Err(e) = tend(&api, s.id, slot, now).await {
                        tracing::warn!(store = s.id, error = %e, "cannot schedule a sync");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list stores to sync"),
        }
        let next_slot = Duration::from_secs(((slot + 1) * seconds - now.timestamp()).max(1) as u64);
        tokio::time::sleep(next_slot.min(ADOPT_EVERY)).await;
    }
}

/// One store's turn of the schedule.
async fn tend(
    api: &Api,
    store: i64,
    slot: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ActionError> {
    let duplicate_is_fine = |result: Result<String, ActionError>| match result {
        Err(ActionError::DuplicateBackgroundAction(_)) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    match super::unfinished(api, store).await? {
        None => {
            let options = Options {
                id: Some(format!("bigcommerce-scheduled-sync-{store}-{slot}")),
                ..Default::default()
            };
            let job = Job::global("bigcommerce/syncStore", json!({}));
            let queued = queue::enqueue(&system_for(api, store), &api.db, &[job], &options).await;
            duplicate_is_fine(queued.map(|_| String::new()).map_err(ActionError::from))
        }
        Some(sync) => match sync.lease_until {
            Some(lease) if lease < now => {
                let job_id = format!("bigcommerce-sync-{}-after-{}", sync.id, lease.timestamp_millis());
                let job = Continue {
                    id: sync.id,
                    retry: 0,
                    at: None,
                };
                duplicate_is_fine(enqueue(api, &api.db, store, job, job_id).await)
            }
            // Running somewhere, or waiting for its job.
            _ => Ok(()),
        },
    }
}
