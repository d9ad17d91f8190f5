//! Retention: each table keeps what is younger than its configured age and loses what
//! is older (finished background actions, webhook deliveries' dedupe keys, finished
//! syncs but each store's last completed one, expired sessions), in batches; and a
//! delivery repeated inside the window is still refused after a prune.

use crate::support::{TestApp, count_rows, seed};
use bcgraph::bigcommerce::webhooks::{SECRET_HEADER, store_secret};
use bcgraph::config::Retention;
use bcgraph::query::sql::Sql;
use chrono::{DateTime, Duration, Utc};
use entity::bigcommerce::sync;
use entity::internal::session;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};
use serde_json::json;
use std::collections::BTreeSet;

const HASH: &str = "abc123";

/// A background action `id` (as stored, `scope/id`) in `state`, finished at `finished_at`.
async fn action(db: &impl ConnectionTrait, id: &str, state: &str, finished_at: Option<DateTime<Utc>>) {
    let scope = id.split('/').next().unwrap_or("system").to_owned();
    let created = finished_at.unwrap_or_else(Utc::now) - Duration::minutes(1);
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "INSERT INTO \"bcgraph_background_action\" (\"id\", \"scope\", \"job\", \"roles\", \"max_concurrency\", \
         \"priority\", \"run_at\", \"state\", \"attempts\", \"retry_count\", \"initial_interval\", \"max_interval\", \
         \"backoff_factor\", \"randomize\", \"created_at\", \"finished_at\", \"outcome\") VALUES (",
    );
    let job = json!({"kind": "global", "name": "bigcommerce/pullProduct", "params": {"bigcommerceId": 1}});
    let finished = matches!(state, "completed" | "failed" | "cancelled");
    let values: Vec<sea_orm::Value> = vec![
        id.to_owned().into(),
        scope.into(),
        job.to_string().into(),
        "[]".to_owned().into(),
        0i32.into(),
        0i32.into(),
        created.timestamp_millis().into(),
        state.to_owned().into(),
        1i32.into(),
        6i32.into(),
        1000i64.into(),
        60_000i64.into(),
        2.0f64.into(),
        true.into(),
        created.timestamp_millis().into(),
        finished_at.map(|t| t.timestamp_millis()).into(),
        finished.then(|| state.to_owned()).into(),
    ];
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(v);
    }
    sql.push(")");
    db.execute_raw(sql.build()).await.expect("insert an action");
}

async fn sync_row(
    db: &impl ConnectionTrait,
    store: i64,
    state: &str,
    started: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
) -> i64 {
    sync::ActiveModel {
        created_at: Set(started),
        updated_at: Set(finished.unwrap_or(started)),
        state: Set(state.to_owned()),
        started_at: Set(Some(started)),
        finished_at: Set(finished),
        store_id: Set(store),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert a sync")
    .id
}

async fn session_row(db: &impl ConnectionTrait, expires_at: DateTime<Utc>) -> i64 {
    session::ActiveModel {
        created_at: Set(expires_at - Duration::days(30)),
        updated_at: Set(expires_at - Duration::days(30)),
        expires_at: Set(expires_at),
        roles: Set(json!(["unauthenticated"])),
        store_id: Set(None),
        bigcommerce_user_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert a session")
    .id
}

async fn action_ids(app: &TestApp) -> BTreeSet<String> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT \"id\" FROM \"bcgraph_background_action\"",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

fn names(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn each_table_keeps_what_is_younger_than_its_age() {
    let app = TestApp::start().await;
    // The ages as an operator sets them.
    let retention = app
        .config(&[
            ("BCGRAPH_RETAIN_FINISHED_ACTIONS_SECONDS", "3600"),
            ("BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS", "172800"),
            ("BCGRAPH_RETAIN_SYNCS_SECONDS", "7200"),
        ])
        .retention;
    let now = Utc::now();
    let minutes = Duration::minutes;
    let (action_age, key_age, sync_age) = (Duration::hours(1), Duration::hours(48), Duration::hours(2));

    // Background actions: finished either side of an hour, in every final state; unfinished ones of any age.
    for (i, state) in ["completed", "failed", "cancelled"].iter().enumerate() {
        action(
            &app.db,
            &format!("system/old-{i}"),
            state,
            Some(now - action_age - minutes(5)),
        )
        .await;
        action(
            &app.db,
            &format!("system/young-{i}"),
            state,
            Some(now - action_age + minutes(5)),
        )
        .await;
    }
    action(&app.db, "store:1/waiting", "waiting", None).await;
    action(&app.db, "internal/bigcommerce-sync-9", "running", None).await;
    // Webhook keys: kept for 48 hours, whatever the actions' age.
    action(
        &app.db,
        "internal/webhook-1-old",
        "completed",
        Some(now - key_age - minutes(5)),
    )
    .await;
    action(
        &app.db,
        "internal/webhook-1-young",
        "completed",
        Some(now - key_age + minutes(5)),
    )
    .await;
    action(
        &app.db,
        "internal/webhook-1-day",
        "failed",
        Some(now - Duration::hours(24)),
    )
    .await;
    action(&app.db, "internal/webhook-1-waiting", "waiting", None).await;

    // Syncs: finished either side of two hours; a store's last completed one stays.
    let store = seed::store(&app.db, HASH).await;
    let other = seed::store(&app.db, "other1").await;
    let long_ago = now - Duration::days(40);
    let old_completed = sync_row(
        &app.db,
        store,
        "completed",
        long_ago,
        Some(long_ago + minutes(10)),
    )
    .await;
    let last_completed = sync_row(
        &app.db,
        store,
        "completed",
        now - Duration::days(3),
        Some(now - Duration::days(3) + minutes(10)),
    )
    .await;
    let old_errored = sync_row(
        &app.db,
        store,
        "errored",
        now - sync_age - minutes(30),
        Some(now - sync_age - minutes(5)),
    )
    .await;
    let young_aborted = sync_row(
        &app.db,
        store,
        "aborted",
        now - sync_age,
        Some(now - sync_age + minutes(5)),
    )
    .await;
    let running = sync_row(&app.db, store, "running", long_ago, None).await;
    let other_only = sync_row(&app.db, other, "completed", long_ago, Some(long_ago + minutes(1))).await;
    let other_old_aborted = sync_row(&app.db, other, "aborted", long_ago, Some(long_ago + minutes(2))).await;

    // Sessions: expired, or not yet.
    let expired = session_row(&app.db, now - minutes(5)).await;
    let live = session_row(&app.db, now + minutes(5)).await;

    // Small batches, so that every table takes more than one statement.
    let pruned = bcgraph::retention::prune(&app.db, &retention, now, 2)
        .await
        .unwrap();
    assert_eq!(
        (
            pruned.finished_actions,
            pruned.webhook_keys,
            pruned.syncs,
            pruned.sessions
        ),
        (3, 1, 3, 1),
        "{pruned:?}"
    );
    assert!(pruned.batches >= 2 + 2 + 1 + 2, "{pruned:?}");

    assert_eq!(
        action_ids(&app).await,
        names(&[
            "system/young-0",
            "system/young-1",
            "system/young-2",
            "store:1/waiting",
            "internal/bigcommerce-sync-9",
            "internal/webhook-1-young",
            "internal/webhook-1-day",
            "internal/webhook-1-waiting",
        ])
    );
    let syncs: BTreeSet<i64> = sync::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        syncs,
        BTreeSet::from([last_completed, young_aborted, running, other_only])
    );
    for gone in [old_completed, old_errored, other_old_aborted] {
        assert!(!syncs.contains(&gone));
    }
    let sessions: BTreeSet<i64> = session::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(sessions, BTreeSet::from([live]));
    assert!(!sessions.contains(&expired));

    // Nothing more to do: a second pass deletes nothing.
    let again = bcgraph::retention::prune(&app.db, &retention, now, 2)
        .await
        .unwrap();
    assert_eq!(
        again.finished_actions + again.webhook_keys + again.syncs + again.sessions + again.used_payloads,
        0
    );
    // Ages of 0 keep for ever.
    let forever = app
        .config(&[
            ("BCGRAPH_RETAIN_FINISHED_ACTIONS_SECONDS", "0"),
            ("BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS", "0"),
            ("BCGRAPH_RETAIN_SYNCS_SECONDS", "0"),
        ])
        .retention;
    let later = now + Duration::days(365);
    let kept = bcgraph::retention::prune(&app.db, &forever, later, 2)
        .await
        .unwrap();
    assert_eq!(kept.finished_actions + kept.webhook_keys + kept.syncs, 0);
}

#[tokio::test]
async fn more_rows_than_a_batch_go_in_several_statements() {
    let app = TestApp::start().await;
    let now = Utc::now();
    let old = now - Duration::days(8);
    let txn = app.db.begin().await.unwrap();
    for i in 0..1_203 {
        action(&txn, &format!("system/old-{i}"), "completed", Some(old)).await;
    }
    for i in 0..3 {
        action(
            &txn,
            &format!("system/young-{i}"),
            "completed",
            Some(now - Duration::days(6)),
        )
        .await;
    }
    txn.commit().await.unwrap();
    let pruned = bcgraph::retention::prune(&app.db, &Retention::default(), now, bcgraph::retention::BATCH)
        .await
        .unwrap();
    assert_eq!(pruned.finished_actions, 1_203);
    assert_eq!(
        action_ids(&app).await,
        names(&["system/young-0", "system/young-1", "system/young-2"])
    );
    // Two pruners at once (two processes): every old row goes once, nothing fails.
    let txn = app.db.begin().await.unwrap();
    for i in 0..1_000 {
        action(&txn, &format!("system/older-{i}"), "failed", Some(old)).await;
    }
    txn.commit().await.unwrap();
    let retention = Retention::default();
    let (a, b) = tokio::join!(
        bcgraph::retention::prune(&app.db, &retention, now, 100),
        bcgraph::retention::prune(&app.db, &retention, now, 100)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.finished_actions + b.finished_actions <= 1_000);
    let rest = bcgraph::retention::prune(&app.db, &retention, now, 100)
        .await
        .unwrap();
    assert_eq!(
        a.finished_actions + b.finished_actions + rest.finished_actions,
        1_000
    );
    assert_eq!(count_rows(&app.db, "bcgraph_background_action", "1 = 1").await, 3);
}

/// Through the real route: a delivery whose key is inside the window is still refused
/// after a prune; one whose key was pruned is taken again (what a too-short window costs).
#[tokio::test]
async fn a_repeated_delivery_inside_the_window_is_still_refused() {
    let app = TestApp::start().await;
    let store = seed::store(&app.db, HASH).await;
    let secret = store_secret(&crate::support::secrets(), HASH);
    let deliver = |hash: &str| {
        let body = json!({"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": 7},
                          "hash": hash, "created_at": 1, "producer": format!("stores/{HASH}")});
        let request = app
            .http
            .post(format!("{}/webhooks/bigcommerce", app.url))
            .header(SECRET_HEADER, secret.clone())
            .body(body.to_string());
        async move { request.send().await.expect("answered").status().as_u16() }
    };
    let jobs = || {
        count_rows(
            &app.db,
            "bcgraph_background_action",
            "\"id\" LIKE 'internal/webhook-%'",
        )
    };
    assert_eq!(deliver("recent").await, 200);
    assert_eq!(deliver("stale").await, 200);
    assert_eq!(jobs().await, 2);
    // Both handled: one a day ago (inside the 3 days kept by default), one 4 days ago.
    let now = Utc::now();
    for (hash, at) in [
        ("recent", now - Duration::days(1)),
        ("stale", now - Duration::days(4)),
    ] {
        let mut sql = Sql::new(app.db.get_database_backend());
        sql.push("UPDATE \"bcgraph_background_action\" SET \"state\" = 'completed', \"outcome\" = 'completed', \"finished_at\" = ")
            .bind(at.timestamp_millis().into())
            .push(" WHERE \"id\" = ")
            .bind(format!("internal/webhook-{store}-{hash}").into());
        assert_eq!(app.db.execute_raw(sql.build()).await.unwrap().rows_affected(), 1);
    }
    let pruned = bcgraph::retention::prune(&app.db, &Retention::default(), now, 500)
        .await
        .unwrap();
    assert_eq!(pruned.webhook_keys, 1);
    // BigCommerce retries the recent one: acknowledged, not enqueued again.
    assert_eq!(deliver("recent").await, 200);
    assert_eq!(jobs().await, 1);
    let state = count_rows(
        &app.db,
        "bcgraph_background_action",
        &format!("\"id\" = 'internal/webhook-{store}-recent' AND \"state\" = 'completed'"),
    )
    .await;
    assert_eq!(state, 1, "the kept key is the handled delivery's, untouched");
    // The stale one's key is gone: it would run again.
    assert_eq!(deliver("stale").await, 200);
    assert_eq!(jobs().await, 2);
}
