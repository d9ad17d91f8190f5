//! Running a sync: [`Syncer::run`] claims the row, keeps its lease alive, walks each
//! resource from its checkpoint ([`run_resource`]) while a task fetches the listing's
//! pages ahead of the writes ([`fetch_pages`]), and records how the sync ended.

use super::super::handlers::{StoreRef, store_client};
use super::super::{BigCommerce, StoreClient};
use super::MODEL;
use super::progress::{Checkpoint, Counters, Phase};
use super::resource::{self, Resource};
use super::row::{Outcome, Stop, SyncState, claim, decoded, finish, heartbeat, load, store_caller};
use crate::action::{ActionError, Api};
use chrono::{DateTime, Utc};
use entity::bigcommerce::sync as row;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// Pages fetched ahead of the writes.
const AHEAD: usize = 2;

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
    /// How the queue's job tries again after a transient failure.
    pub retries: crate::config::SyncRetries,
    /// Records written and their rate, by resource.
    pub metrics: crate::metrics::Metrics,
}

/// The in-memory state of a running sync, saved to its row after each page.
struct Run {
    id: i64,
    since: Option<DateTime<Utc>>,
    checkpoint: BTreeMap<String, Checkpoint>,
    progress: BTreeMap<String, Counters>,
    metrics: crate::metrics::Metrics,
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
            .is_some_and(|s| s == SyncState::Aborted.as_str()))
    }
}

impl Syncer {
    /// Run (or continue) sync `id` to its end in this task; a transient failure ends it
    /// as errored too (`bcgraph sync` reports it; the queue's job retries instead, see
    /// [`Syncer::attempt`]).
    pub async fn run(&self, api: &Api, id: i64, observer: &dyn Observer) -> Result<Outcome, ActionError> {
        match self.attempt(api, id, observer).await? {
            Attempt::Ended(outcome) => Ok(outcome),
            Attempt::Transient(message) => {
                let outcome = Outcome::Errored(message);
                finish(api, id, &outcome).await?;
                Ok(outcome)
            }
        }
    }

    /// One attempt at sync `id`: it ends the sync, unless it failed on a transient error,
    /// which leaves the sync running (its lease runs out) for the caller to retry or end.
    pub(crate) async fn attempt(&self, api: &Api, id: i64, observer: &dyn Observer) -> Result<Attempt, ActionError> {
        let sync = load(api, id).await?;
        if let Some(ended) = Outcome::of_ended(&sync) {
            return Ok(Attempt::Ended(ended));
        }
        let api = store_caller(api, sync.store_id).with_pool(self.db.clone());
        let lease = match claim(&api, id, self.lease).await? {
            Ok(lease) => lease,
            Err(busy) => return Ok(Attempt::Ended(busy)),
        };
        let (stop_tx, stop) = watch::channel(None);
        let heartbeat = tokio::spawn(heartbeat(api.clone(), id, lease, self.lease, stop_tx));
        let span = tracing::info_span!("sync", sync = id, store = sync.store_id);
        let result = self.work(&api, &sync, stop.clone(), observer).instrument(span).await;
        heartbeat.abort();
        let stopped = stop.borrow().clone();
        let aborted = load(&api, id)
            .await
            .is_ok_and(|s| SyncState::parse(&s.state) == Some(SyncState::Aborted));
        let outcome = match (result, stopped) {
            _ if aborted => Outcome::Aborted,
            (_, Some(Stop::Aborted)) => Outcome::Aborted,
            // Someone else runs it now: leave the row to them.
            (_, Some(Stop::LeaseLost)) => return Ok(Attempt::Ended(Outcome::Busy(Utc::now()))),
            (Ok(()), None) => Outcome::Completed,
            // The reason is shown to the store's sessions: our own failures are logged, not told.
            (Err(failure), None) if failure.transient => {
                return Ok(Attempt::Transient(failure.error.public_message()));
            }
            (Err(failure), None) => Outcome::Errored(failure.error.public_message()),
        };
        finish(&api, id, &outcome).await?;
        Ok(Attempt::Ended(outcome))
    }

    async fn work(
        &self,
        api: &Api,
        sync: &row::Model,
        stop: watch::Receiver<Option<Stop>>,
        observer: &dyn Observer,
    ) -> Result<(), Failure> {
        let store = super::super::handlers::resolve_store(api, None).await?;
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
            metrics: self.metrics.clone(),
        };
        for resource in models {
            let span = tracing::info_span!("sync_resource", resource = resource.name());
            let stopped = run_resource(api, &client, &store, resource, &mut run, &stop, observer)
                .instrument(span)
                .await?;
            if stopped {
                break;
            }
        }
        Ok(())
    }
}

/// How one attempt at a sync ended ([`Syncer::attempt`]).
pub(crate) enum Attempt {
    Ended(Outcome),
    /// Failed on a transient error (the message says which); the sync is still running.
    Transient(String),
}

/// Why an attempt stopped, and whether trying again later may succeed: BigCommerce's
/// 5xx, 429 and network failures past the client's retries, and the database's errors.
struct Failure {
    error: ActionError,
    transient: bool,
}

impl From<ActionError> for Failure {
    fn from(error: ActionError) -> Self {
        let transient = matches!(error, ActionError::Database(_));
        Failure { error, transient }
    }
}

/// A page and where the listing stood before it.
struct Fetched {
    page: resource::FetchedPage,
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
) -> Result<bool, Failure> {
    let key = resource.name().to_owned();
    let incremental = run.since.is_some() && resource.incremental();
    loop {
        let checkpoint = run.checkpoint.get(&key).cloned().unwrap_or_default();
        if checkpoint.phase == Phase::Done {
            return Ok(false);
        }
        let sweep = checkpoint.phase == Phase::Sweep;
        let since = if incremental && !sweep { run.since } else { None };
        let (tx, mut rx) = mpsc::channel::<Result<Fetched, super::super::Error>>(AHEAD);
        let fetcher = tokio::spawn(
            fetch_pages(
                client.clone(),
                resource,
                checkpoint.lane,
                checkpoint.at.clone(),
                since,
                sweep,
                tx,
            )
            .in_current_span(),
        );
        let _abort_fetcher = AbortOnDrop(fetcher);
        let mut finished = false;
        // Where the time goes, for the log: waiting on BigCommerce, writing, saving.
        let (mut waited, mut wrote, mut saved) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        // Records written by this listing, by model, for its rate.
        let (listing, mut written) = (std::time::Instant::now(), BTreeMap::<&'static str, u64>::new());
        loop {
            let waiting = std::time::Instant::now();
            let Some(fetched) = rx.recv().await else { break };
            waited += waiting.elapsed();
            let writing = std::time::Instant::now();
            let Fetched { page, after } = fetched.map_err(|e| Failure {
                transient: transient(&e),
                error: remote(resource, e),
            })?;
            // What one page causes (writes, deletions, the checkpoint) logs under its span.
            let page_span = tracing::info_span!("sync_page", after = ?after, items = page.items.len());
            let mut tally = async {
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
                Ok::<_, ActionError>(tally)
            }
            .instrument(page_span.clone())
            .await?;
            tally.entry(resource.name()).or_default().pages += 1;
            for (name, counters) in tally {
                let total = written.entry(name).or_default();
                *total += counters.created + counters.updated;
                let rate = *total as f64 / listing.elapsed().as_secs_f64().max(0.001);
                run.metrics.sync_written(name, counters.created + counters.updated, rate);
                run.progress.entry(name.to_owned()).or_default().add(&counters);
            }
            let entry = run.checkpoint.entry(key.clone()).or_default();
            finished = entry.advance(page.next.clone(), page.end, resource.lanes(), incremental);
            if finished && entry.phase == Phase::Done {
                for name in [Some(resource.name()), resource.children()].into_iter().flatten() {
                    run.progress.entry(name.to_owned()).or_default().done = true;
                }
            }
            wrote += writing.elapsed();
            let saving = std::time::Instant::now();
            let aborted = run.save(api).instrument(page_span).await?;
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
        for name in written.keys() {
            run.metrics.sync_idle(name);
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
            return Err(Failure::from(ActionError::Remote(format!(
                "the {} listing ended without its last page",
                resource.name()
            ))));
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Is trying again later worth it? A 5xx, a 429 or a network failure that outlasted
/// the client's own retries: the sync is then retried as a whole from its checkpoint
/// (`bigcommerce::sync::actions`), with a growing wait, rather than page by page here.
fn transient(e: &super::super::Error) -> bool {
    matches!(
        e,
        super::super::Error::RateLimited { .. } | super::super::Error::Network { .. }
    ) || e.status().is_some_and(|s| s >= 500)
}

async fn fetch_pages(
    client: StoreClient,
    resource: Resource,
    lane: u8,
    mut at: resource::Position,
    since: Option<DateTime<Utc>>,
    ids_only: bool,
    tx: mpsc::Sender<Result<Fetched, super::super::Error>>,
) {
    let mut rate_limited = 0u32;
    loop {
        match resource::fetch(&client, resource, lane, &at, since, ids_only).await {
            Ok(page) => {
                rate_limited = 0;
                let after = at.last_id;
                at = page.next.clone();
                let end = page.end;
                if tx.send(Ok(Fetched { page, after })).await.is_err() || end {
                    return;
                }
            }
            // Rate limits are waited out without end: the quota always comes back.
            Err(e @ super::super::Error::RateLimited { .. }) => {
                rate_limited += 1;
                let pause = Duration::from_secs(1 << rate_limited.min(5));
                tracing::warn!(resource = resource.name(), error = %e, ?pause, "a sync page is rate limited; waiting");
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

fn remote(resource: Resource, e: super::super::Error) -> ActionError {
    ActionError::Remote(format!("BigCommerce ({}): {e}", resource.name()))
}
