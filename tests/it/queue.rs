//! The background action queue, on the test database (SQLite, or PostgreSQL when
//! `BCGRAPH_TEST_DATABASE_URL` is set): retries, concurrency limits across workers
//! with their own connection pools, leases, scheduling, cancellation, duplicate ids.

use crate::support::TestApp;
use bcgraph::action::{ActionError, Api, GlobalAction, GlobalActions, Param, ParamType};
use bcgraph::query::Tenant;
use bcgraph::queue::{self, BackgroundAction, Job, Options, QueueError, State, Worker, WorkerOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the probe action saw.
#[derive(Default)]
pub(crate) struct Seen {
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
    completions: Mutex<HashMap<String, usize>>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Seen {
    pub(crate) fn attempts(&self, key: &str) -> Vec<Instant> {
        self.attempts
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn completions(&self, key: &str) -> usize {
        self.completions.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// A global action that fails, hangs or sleeps as told, and records what happened.
pub(crate) struct Probe(pub(crate) Arc<Seen>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProbeParams {
    key: String,
    // Options, not defaults: GraphQL passes an unset variable as null.
    fail_times: Option<usize>,
    sleep_ms: Option<u64>,
    hang_first: Option<bool>,
    /// Fail with an error that no retry can fix (bad input).
    refuse: Option<bool>,
}

struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl GlobalAction for Probe {
    type Params = ProbeParams;

    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn name(&self) -> &'static str {
        "probe"
    }

    fn params(&self) -> Vec<Param> {
        vec![
            Param::required("key", ParamType::String),
            Param::optional("failTimes", ParamType::Number),
            Param::optional("sleepMs", ParamType::Number),
            Param::optional("hangFirst", ParamType::Boolean),
            Param::optional("refuse", ParamType::Boolean),
        ]
    }

    async fn run(&self, _ctx: &bcgraph::Context, p: ProbeParams) -> Result<Value, ActionError> {
        let attempt = {
            let mut attempts = self.0.attempts.lock().unwrap();
            let list = attempts.entry(p.key.clone()).or_default();
            list.push(Instant::now());
            list.len()
        };
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.0.running);
        self.0.peak.fetch_max(now, Ordering::SeqCst);
        if p.hang_first == Some(true) && attempt == 1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        tokio::time::sleep(Duration::from_millis(p.sleep_ms.unwrap_or(0))).await;
        if p.refuse == Some(true) {
            return Err(ActionError::InvalidInput(format!("refused on attempt {attempt}")));
        }
        if attempt <= p.fail_times.unwrap_or(0) {
            // A failure that may pass on its own (a service down), so it is retried.
            return Err(ActionError::Remote(format!("planned failure {attempt}")));
        }
        *self
            .0
            .completions
            .lock()
            .unwrap()
            .entry(p.key.clone())
            .or_default() += 1;
        Ok(json!({"key": p.key, "attempt": attempt}))
    }
}

async fn app() -> (TestApp, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = TestApp::start_with(GlobalActions::default().register(Probe(seen.clone()))).await;
    (app, seen)
}

pub(crate) fn fast(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
    }
}

fn probe(params: Value) -> Job {
    Job::global("probe", params)
}

fn options(value: Value) -> Options {
    Options::from_json(&value).expect("valid options")
}

/// Wait until the job is final (or fail after `limit`).
async fn settled(api: &Api, id: &str, limit: Duration) -> BackgroundAction {
    let start = Instant::now();
    loop {
        let job = api.background_action(id).await.expect("read").expect("exists");
        if job.state.is_final() {
            return job;
        }
        assert!(
            start.elapsed() < limit,
            "job {id} still {:?} after {limit:?}",
            job.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_runs_and_keeps_its_result() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(&probe(json!({"key": "a"})), &Options::default())
        .await
        .unwrap();
    let job = app.api.background_action(&id).await.unwrap().unwrap();
    assert_eq!(job.state, State::Waiting);
    let worker = Worker::start(app.api.clone(), fast(2));
    let job = settled(&app.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Completed);
    assert_eq!(job.outcome.as_deref(), Some("completed"));
    assert_eq!(job.attempts, 1);
    assert_eq!(
        job.result,
        Some(json!({"success": true, "errors": null, "result": {"key": "a", "attempt": 1}}))
    );
    assert_eq!(seen.completions("a"), 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn failures_are_retried_with_the_configured_backoff() {
    let (app, seen) = app().await;
    let retries = json!({"retries": {"retryCount": 3, "initialInterval": 300, "backoffFactor": 2}});
    let flaky = app
        .api
        .enqueue(&probe(json!({"key": "flaky", "failTimes": 2})), &options(retries))
        .await
        .unwrap();
    let doomed = app
        .api
        .enqueue(
            &probe(json!({"key": "doomed", "failTimes": 99})),
            &options(json!({"retries": {"retryCount": 1, "initialInterval": 100}})),
        )
        .await
        .unwrap();
    let worker = Worker::start(app.api.clone(), fast(2));
    let job = settled(&app.api, &flaky, Duration::from_secs(15)).await;
    assert_eq!(job.state, State::Completed);
    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("planned failure 2"));
    let times = seen.attempts("flaky");
    assert_eq!(times.len(), 3);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(300),
        "first retry after {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(600),
        "second retry after {:?}",
        gaps[1]
    );
    assert!(
        gaps[1] < Duration::from_millis(2000),
        "second retry after {:?}",
        gaps[1]
    );

    let job = settled(&app.api, &doomed, Duration::from_secs(15)).await;
    assert_eq!(job.state, State::Failed);
    assert_eq!(job.outcome.as_deref(), Some("failed"));
    assert_eq!(job.attempts, 2);
    assert_eq!(seen.attempts("doomed").len(), 2);
    assert_eq!(job.result.unwrap()["errors"][0]["code"], "GGT_INTERNAL_ERROR");
    worker.shutdown().await;
}

#[tokio::test]
async fn max_concurrency_holds_across_workers_with_their_own_connections() {
    let (app, seen) = app().await;
    for i in 0..12 {
        app.api
            .enqueue(
                &probe(json!({"key": format!("c{i}"), "sleepMs": 150})),
                &options(json!({"queue": {"name": "limited", "maxConcurrency": 2}})),
            )
            .await
            .unwrap();
    }
    // A second process, as far as the database can tell: its own pool.
    let other_db = bcgraph::db::connect(&app.database_url()).await.unwrap();
    let other = app.api.with_pool(other_db);
    let a = Worker::start(app.api.clone(), fast(4));
    let b = Worker::start(other, fast(4));
    let start = Instant::now();
    while queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.peak.load(Ordering::SeqCst), 2, "peak concurrency");
    assert_eq!(
        (0..12).map(|i| seen.completions(&format!("c{i}"))).sum::<usize>(),
        12
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_bare_queue_name_runs_one_at_a_time() {
    let (app, seen) = app().await;
    for i in 0..4 {
        app.api
            .enqueue(
                &probe(json!({"key": format!("s{i}"), "sleepMs": 100})),
                &options(json!({"queue": "serial"})),
            )
            .await
            .unwrap();
    }
    let worker = Worker::start(app.api.clone(), fast(4));
    let start = Instant::now();
    while queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(seen.peak.load(Ordering::SeqCst), 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_job_whose_worker_died_runs_again_and_completes_once() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "orphan", "hangFirst": true})),
            &Options::default(),
        )
        .await
        .unwrap();
    let short_lease = WorkerOptions {
        lease: Duration::from_millis(900),
        ..fast(1)
    };
    let doomed = Worker::start(app.api.clone(), short_lease.clone());
    let start = Instant::now();
    while seen.attempts("orphan").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await;
    let job = app.api.background_action(&id).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        State::Running,
        "a dead worker's job stays claimed until its lease ends"
    );
    let rescuer = Worker::start(app.api.clone(), short_lease);
    let job = settled(&app.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Completed);
    assert_eq!(job.attempts, 2);
    assert_eq!(seen.completions("orphan"), 1);
    rescuer.shutdown().await;
}

#[tokio::test]
async fn a_live_worker_keeps_its_lease() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "long", "sleepMs": 1500})),
            &Options::default(),
        )
        .await
        .unwrap();
    let options = WorkerOptions {
        lease: Duration::from_millis(450),
        ..fast(2)
    };
    let a = Worker::start(app.api.clone(), options.clone());
    let b = Worker::start(app.api.clone(), options);
    let job = settled(&app.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Completed);
    assert_eq!(
        seen.attempts("long").len(),
        1,
        "renewed leases: nobody took the job over"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_releases_jobs_that_do_not_finish_in_time() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "stuck", "hangFirst": true})),
            &Options::default(),
        )
        .await
        .unwrap();
    let worker = Worker::start(
        app.api.clone(),
        WorkerOptions {
            shutdown_grace: Duration::from_millis(200),
            ..fast(1)
        },
    );
    let start = Instant::now();
    while seen.attempts("stuck").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.shutdown().await;
    let job = app.api.background_action(&id).await.unwrap().unwrap();
    assert_eq!(job.state, State::Waiting);
    assert_eq!(job.attempts, 0, "a released attempt does not count");
    // The next worker takes it at once, without waiting for a lease to expire.
    let next = Worker::start(app.api.clone(), fast(1));
    let job = settled(&app.api, &id, Duration::from_secs(5)).await;
    assert_eq!(job.state, State::Completed);
    next.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_running_jobs_finish() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "short", "sleepMs": 300})),
            &Options::default(),
        )
        .await
        .unwrap();
    let worker = Worker::start(app.api.clone(), fast(1));
    let start = Instant::now();
    while seen.attempts("short").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.shutdown().await;
    let job = app.api.background_action(&id).await.unwrap().unwrap();
    assert_eq!(job.state, State::Completed);
}

#[tokio::test]
async fn start_at_in_the_future_waits() {
    let (app, seen) = app().await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "later"})),
            &options(json!({"startAt": at.to_rfc3339()})),
        )
        .await
        .unwrap();
    let worker = Worker::start(app.api.clone(), fast(2));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        app.api.background_action(&id).await.unwrap().unwrap().state,
        State::Waiting
    );
    assert!(seen.attempts("later").is_empty());
    let job = settled(&app.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Completed);
    assert!(chrono::Utc::now() >= at);
    worker.shutdown().await;
}

#[tokio::test]
async fn higher_priority_runs_first() {
    let (app, seen) = app().await;
    for (key, priority) in [("low", "LOW"), ("default", "DEFAULT"), ("high", "HIGH")] {
        app.api
            .enqueue(
                &probe(json!({"key": key})),
                &options(json!({"priority": priority})),
            )
            .await
            .unwrap();
    }
    let worker = Worker::start(app.api.clone(), fast(1));
    let start = Instant::now();
    while queue::pending_count(&app.db).await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = |k: &str| seen.attempts(k)[0];
    assert!(first("high") < first("default") && first("default") < first("low"));
    worker.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_job_never_runs() {
    let (app, seen) = app().await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "cancelled"})),
            &options(json!({"startAt": at.to_rfc3339()})),
        )
        .await
        .unwrap();
    let job = app.api.cancel_background_action(&id).await.unwrap().unwrap();
    assert_eq!(job.state, State::Cancelled);
    let worker = Worker::start(app.api.clone(), fast(1));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(seen.attempts("cancelled").is_empty());
    assert!(matches!(
        app.api.cancel_background_action(&id).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(
        app.api
            .cancel_background_action("no-such-job")
            .await
            .unwrap()
            .is_none()
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_id_is_refused() {
    let (app, _) = app().await;
    let with_id = options(json!({"id": "my-id"}));
    app.api
        .enqueue(&probe(json!({"key": "x"})), &with_id)
        .await
        .unwrap();
    let err = app
        .api
        .enqueue(&probe(json!({"key": "y"})), &with_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::Duplicate(ref id) if id == "my-id"),
        "{err}"
    );
    assert_eq!(
        ActionError::from(err).code(),
        "GGT_DUPLICATE_BACKGROUND_ACTION_ID"
    );
}

#[tokio::test]
async fn enqueueing_in_a_transaction_commits_with_it() {
    use sea_orm::TransactionTrait;
    let (app, _) = app().await;
    let txn = app.db.begin().await.unwrap();
    let ids = queue::enqueue(&app.api, &txn, &[probe(json!({"key": "t"}))], &Options::default())
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert!(app.api.background_action(&ids[0]).await.unwrap().is_none());
    let txn = app.db.begin().await.unwrap();
    let ids = queue::enqueue(&app.api, &txn, &[probe(json!({"key": "t"}))], &Options::default())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert!(app.api.background_action(&ids[0]).await.unwrap().is_some());
}

#[tokio::test]
async fn errors_that_cannot_pass_are_not_retried() {
    let (app, seen) = app().await;
    let id = app
        .api
        .enqueue(
            &probe(json!({"key": "refused", "refuse": true})),
            &options(json!({"retries": {"retryCount": 5}})),
        )
        .await
        .unwrap();
    let worker = Worker::start(app.api.clone(), fast(1));
    let job = settled(&app.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Failed);
    assert_eq!(job.attempts, 1, "bad input fails at once: {job:?}");
    assert_eq!(seen.attempts("refused").len(), 1);
    assert_eq!(
        job.result.unwrap()["errors"][0]["code"],
        "GGT_INVALID_ACTION_INPUT"
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_model_action_runs_in_the_background_for_its_store() {
    use sea_orm::EntityTrait;
    let (app, _) = app().await;
    let store = crate::support::seed::store(&app.db, "bg-store").await;
    // A store's own caller (a merchant's session), not the gateway's code.
    let api = app.api.as_caller(bcgraph::action::Caller {
        tenant: Tenant::Store(store),
        internal: false,
        ..app.api.caller.clone()
    });
    let id = api
        .enqueue(
            &Job::Create {
                model: "bigcommerce/product".into(),
                input: json!({"bigcommerceId": 5, "name": "Queued"}),
            },
            &Options::default(),
        )
        .await
        .unwrap();
    let worker = Worker::start(app.api.clone(), fast(1));
    let job = settled(&api, &id, Duration::from_secs(10)).await;
    assert_eq!(job.state, State::Completed, "{job:?}");
    let product_id = job.result.unwrap()["result"]["id"].as_i64().unwrap();
    let record = entity::bigcommerce::product::Entity::find_by_id(product_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.name.as_deref(), Some("Queued"));
    assert_eq!(
        record.store_id, store,
        "the job acted for the store that enqueued it"
    );
    // Another store cannot see the job.
    let stranger = app.api.as_caller(bcgraph::action::Caller {
        tenant: Tenant::Store(store + 1000),
        internal: false,
        ..app.api.caller.clone()
    });
    assert!(stranger.background_action(&id).await.unwrap().is_none());
    worker.shutdown().await;
}
