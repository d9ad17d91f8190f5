//! Webhook ingestion (`POST /webhooks/bigcommerce`) and registration.
//!
//! A delivery is checked (the secret header registered for its store, and the
//! Standard Webhooks signature when present), its store resolved from `producer`,
//! then the global action configured for its scope is enqueued with job id
//! `webhook-{store}-{hash}`, so a duplicate delivery enqueues nothing. The answer
//! never waits for BigCommerce or the handler.

use super::{BigCommerce, StoreClient};
use crate::action::{Api, Caller, Trigger};
use crate::auth::Secrets;
use crate::queue::{self, Job, Options, Priority, QueueError};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;
use std::sync::Arc;

/// The header every registered hook sends back.
pub const SECRET_HEADER: &str = "x-webhook-secret";
/// Largest delivery accepted; BigCommerce's are a few hundred bytes.
pub const MAX_DELIVERY_BYTES: usize = 256 * 1024;
/// Standard Webhooks timestamps older (or newer) than this are refused.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// How a scope's `data` becomes the action's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerParams {
    /// `{bigcommerceId: data.id}`
    Id,
    /// `{bigcommerceId: data.sku.product_id}` (sku and variant events refresh the product).
    SkuProduct,
    /// `{bigcommerceId: data.metafield_id, resourceType, resourceId}`: the resource type
    /// is `data.resource_type`, else the one named here. BigCommerce's
    /// `store/metafield/*` deliveries carry it; the category, brand and order metafield
    /// scopes do not, so their rules name it.
    Metafield(Option<&'static str>),
    /// `{}`
    Nothing,
    /// The whole `data` object, for actions of the application's own.
    Data,
}

/// One rule: deliveries of `scope` (a pattern) run `action`.
#[derive(Clone, Debug)]
struct Rule {
    scope: String,
    action: String,
    params: TriggerParams,
    /// Is `scope` registered with BigCommerce? Some rules only route deliveries that
    /// another registered scope already brings.
    registered: bool,
}

/// Which action each scope triggers. Patterns end in `/*` or name one scope; the first
/// matching rule wins.
#[derive(Clone, Debug)]
pub struct Triggers {
    rules: Vec<Rule>,
}

impl Default for Triggers {
    fn default() -> Self {
        let rule = |scope: &str, action: &str, params| Rule {
            scope: scope.to_owned(),
            action: action.to_owned(),
            params,
            registered: true,
        };
        // A resource's own metafield scopes (`store/category/metafield/created`, ...) come
        // with its wildcard (`store/category/*`) and carry no `id`: they are routed to the
        // metafield pull before the wildcard's rule sees them. Every metafield change also
        // fires `store/metafield/*` (customers' only that), so they need no hooks of their own.
        let metafields_of = |scope: &str, resource_type| Rule {
            registered: false,
            ..rule(
                scope,
                "bigcommerce/pullMetafield",
                TriggerParams::Metafield(Some(resource_type)),
            )
        };
        Triggers {
            rules: vec![
                metafields_of("store/product/variant/metafield/*", "variant"),
                metafields_of("store/product/metafield/*", "product"),
                metafields_of("store/category/metafield/*", "category"),
                metafields_of("store/brand/metafield/*", "brand"),
                metafields_of("store/order/metafield/*", "order"),
                rule("store/product/*", "bigcommerce/pullProduct", TriggerParams::Id),
                rule("store/sku/*", "bigcommerce/pullProduct", TriggerParams::SkuProduct),
                rule(
                    "store/metafield/*",
                    "bigcommerce/pullMetafield",
                    TriggerParams::Metafield(None),
                ),
                rule("store/category/*", "bigcommerce/pullCategory", TriggerParams::Id),
                rule("store/brand/*", "bigcommerce/pullBrand", TriggerParams::Id),
                rule("store/customer/*", "bigcommerce/pullCustomer", TriggerParams::Id),
                rule("store/order/*", "bigcommerce/pullOrder", TriggerParams::Id),
                rule(
                    "store/app/uninstalled",
                    "bigcommerce/uninstallStore",
                    TriggerParams::Nothing,
                ),
            ],
        }
    }
}

fn matches(pattern: &str, scope: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => scope.starts_with(prefix),
        None => pattern == scope,
    }
}

impl Triggers {
    /// Run `action` (`namespace/name`) for `scope` (or a pattern ending in `/*`); the
    /// action's parameters are the delivery's `data`, it runs for the delivery's store,
    /// and its [`Context::trigger`](crate::action::Context::trigger) holds the scope and
    /// the data. Registered rules win over the built-in ones.
    pub fn on(mut self, scope: &str, action: &str) -> Self {
        self.rules.insert(
            0,
            Rule {
                scope: scope.to_owned(),
                action: action.to_owned(),
                params: TriggerParams::Data,
                registered: true,
            },
        );
        self
    }

    /// The scopes to register with BigCommerce (`BIGCOMMERCE_WEBHOOK_SCOPES` replaces them).
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.registered)
            .map(|r| r.scope.clone())
            .collect();
        scopes.dedup();
        scopes
    }

    /// The job for a delivery, or `None` for a scope nothing handles.
    pub fn job(&self, scope: &str, data: &Json) -> Option<Job> {
        let rule = self.rules.iter().find(|r| matches(&r.scope, scope))?;
        let params = match rule.params {
            TriggerParams::Id => json!({"bigcommerceId": data.get("id")?}),
            TriggerParams::SkuProduct => json!({"bigcommerceId": data.get("sku")?.get("product_id")?}),
            TriggerParams::Metafield(implied) => {
                let resource_type = data
                    .get("resource_type")
                    .and_then(Json::as_str)
                    .or(implied)?;
                json!({
                    "bigcommerceId": data.get("metafield_id")?,
                    "resourceType": resource_type,
                    "resourceId": data.get("resource_id")?,
                })
            }
            TriggerParams::Nothing => json!({}),
            TriggerParams::Data => data.clone(),
        };
        let trigger = Trigger::Webhook {
            scope: scope.to_owned(),
            data: data.clone(),
        };
        Some(Job::triggered(&rule.action, params, trigger))
    }
}

/// The secret header value registered for a store's hooks: derived from the webhook key
/// of the gateway's current secret, so nothing more is stored and every process agrees.
/// Deliveries are also accepted with a previous secret's header while a rotation is under
/// way ([`Secrets::accepts_webhook_header`]).
pub fn store_secret(secrets: &Secrets, store_hash: &str) -> String {
    secrets.current().webhook_header(store_hash)
}

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum WebhookRefusal {
    /// 400
    Malformed(String),
    /// 401
    Unauthenticated(String),
    /// 404: no installed store by that producer.
    UnknownStore(String),
    /// 413
    TooLarge,
    /// 503: the database is away; the delivery was not stored.
    Unavailable,
}

impl WebhookRefusal {
    pub fn status(&self) -> u16 {
        match self {
            WebhookRefusal::Malformed(_) => 400,
            WebhookRefusal::Unauthenticated(_) => 401,
            WebhookRefusal::UnknownStore(_) => 404,
            WebhookRefusal::TooLarge => 413,
            WebhookRefusal::Unavailable => 503,
        }
    }
}

/// What a delivery did.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Enqueued as the background action `id`.
    Enqueued { id: String, scope: String },
    /// Delivered before (its `hash`): nothing enqueued.
    Duplicate { scope: String },
    UnknownScope(String),
}

/// Everything ingestion needs.
#[derive(Clone)]
pub struct Ingest {
    api: Api,
    /// What each scope runs (an app's own triggers replace the defaults).
    pub triggers: Arc<Triggers>,
    gateway_secret: Arc<Secrets>,
    /// The app's client secret: the key of Standard Webhooks signatures.
    client_secret: Option<String>,
    stores: Arc<InstalledStores>,
}

/// Installed stores by hash, remembered for [`STORE_CACHE_TTL`]: a delivery then costs
/// its enqueue alone, which keeps the acknowledgement's p99 under 5 ms on PostgreSQL at
/// 500 deliveries a second. An uninstall in this process forgets the store at once; one
/// in another process within the TTL, during which a late delivery is still enqueued
/// (its handler then finds the store uninstalled, as it would for one already queued).
type InstalledStores = std::sync::Mutex<std::collections::HashMap<String, (i64, std::time::Instant)>>;
const STORE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
const STORE_CACHE_MAX: usize = 10_000;

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A delivery that passed every check that needs no database ([`check`]).
#[derive(Debug, PartialEq)]
pub struct Checked {
    pub scope: String,
    /// From `producer` (`stores/{hash}`).
    pub store_hash: String,
    /// The delivery's `hash`, which deduplicates it.
    pub hash: String,
    /// The job its scope runs; `None` for a scope nothing handles.
    pub job: Option<Job>,
}

/// Check a delivery as [`Ingest::deliver`] does before it reads the database: its size,
/// its JSON, `scope`, `producer` and `hash`, the store's secret header (with
/// `gateway_secret`'s keys), the Standard Webhooks signature when there is one (keyed
/// with `client_secret`, its timestamp against `now`, in Unix seconds), and the job its
/// scope runs. Pure, so that the fuzz target `webhook` runs it as it is.
pub fn check(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    gateway_secret: &Secrets,
    client_secret: Option<&str>,
    triggers: &Triggers,
    now: i64,
) -> Result<Checked, WebhookRefusal> {
    if body.len() > MAX_DELIVERY_BYTES {
        return Err(WebhookRefusal::TooLarge);
    }
    let delivery: Json =
        serde_json::from_slice(body).map_err(|e| WebhookRefusal::Malformed(format!("the body is not JSON: {e}")))?;
    let text = |key: &str| delivery.get(key).and_then(Json::as_str);
    let (Some(scope), Some(producer), Some(hash)) = (text("scope"), text("producer"), text("hash")) else {
        return Err(WebhookRefusal::Malformed("scope, producer and hash are required".into()));
    };
    let data = delivery.get("data").cloned().unwrap_or(Json::Null);
    let store_hash = producer
        .strip_prefix("stores/")
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| WebhookRefusal::Malformed(format!("`{producer}` is not a stores/{{hash}} producer")))?;
    if hash.is_empty() || hash.len() > 128 {
        return Err(WebhookRefusal::Malformed("hash must be 1 to 128 characters".into()));
    }
    let given = header(headers, SECRET_HEADER).unwrap_or("");
    if !gateway_secret.accepts_webhook_header(store_hash, given) {
        return Err(WebhookRefusal::Unauthenticated(
            "missing or wrong webhook secret for this store".into(),
        ));
    }
    if let Some(signature) = header(headers, "webhook-signature") {
        check_signature(headers, signature, body, client_secret, now)?;
    }
    Ok(Checked {
        scope: scope.to_owned(),
        store_hash: store_hash.to_owned(),
        hash: hash.to_owned(),
        job: triggers.job(scope, &data),
    })
}

/// The Standard Webhooks signature of a delivery (base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}`); a `whsec_` key is base64, any other is used as it is.
pub fn signature(key: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key_bytes = key
        .strip_prefix("whsec_")
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .unwrap_or_else(|| key.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_bytes).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn check_signature(
    headers: &axum::http::HeaderMap,
    given: &str,
    body: &[u8],
    client_secret: Option<&str>,
    now: i64,
) -> Result<(), WebhookRefusal> {
    let bad = |m: &str| WebhookRefusal::Unauthenticated(format!("webhook signature: {m}"));
    let key = client_secret.ok_or_else(|| bad("no client secret to check it"))?;
    let id = header(headers, "webhook-id").ok_or_else(|| bad("webhook-id is missing"))?;
    let timestamp =
        header(headers, "webhook-timestamp").ok_or_else(|| bad("webhook-timestamp is missing"))?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| bad("webhook-timestamp is not a number"))?;
    // Checked: a timestamp near either end of i64 overflowed the subtraction.
    let skew = now.checked_sub(seconds).map(i64::unsigned_abs);
    if skew.is_none_or(|skew| skew > SIGNATURE_TOLERANCE_SECS.unsigned_abs()) {
        return Err(bad("the timestamp is too old or in the future"));
    }
    let expected = signature(key, id, timestamp, body);
    let ok = given.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    });
    if ok { Ok(()) } else { Err(bad("it does not match")) }
}

impl Ingest {
    /// Webhook ingestion for `api`'s gateway.
    pub fn new(api: Api, triggers: Arc<Triggers>, gateway_secret: Arc<Secrets>, client_secret: Option<String>) -> Ingest {
        let stores: Arc<InstalledStores> = Arc::default();
        forget_uninstalled(Arc::downgrade(&stores));
        Ingest {
            api,
            triggers,
            gateway_secret,
            client_secret,
            stores,
        }
    }

    /// Check ([`check`]) and enqueue one delivery.
    pub async fn deliver(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Accepted, WebhookRefusal> {
        let checked = check(
            headers,
            body,
            &self.gateway_secret,
            self.client_secret.as_deref(),
            &self.triggers,
            chrono::Utc::now().timestamp(),
        )?;
        let store_id = self.installed_store(&checked.store_hash).await?;
        let Some(job) = checked.job else {
            tracing::info!(
                scope = checked.scope,
                store = checked.store_hash,
                "webhook for a scope nothing handles"
            );
            return Ok(Accepted::UnknownScope(checked.scope));
        };
        // The gateway's own work for the store, ahead of what callers enqueue.
        let api = self
            .api
            .as_caller(Caller::system(self.api.caller.permissions.clone()).within_store(store_id));
        let options = Options {
            id: Some(format!("webhook-{store_id}-{}", checked.hash)),
            priority: Priority::Platform,
            ..Options::default()
        };
        let scope = checked.scope;
        match queue::enqueue(&api, &api.db, &[job], &options).await {
            Ok(mut ids) => Ok(Accepted::Enqueued {
                id: ids.pop().unwrap_or_default(),
                scope,
            }),
            Err(QueueError::Duplicate(_)) => Ok(Accepted::Duplicate { scope }),
            // Not stored, so not acknowledged: BigCommerce sends it again.
            Err(QueueError::Database(e)) if crate::db::is_unavailable(&e) => {
                tracing::warn!(error = %e, "the database is unavailable to a webhook");
                Err(WebhookRefusal::Unavailable)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not enqueue a webhook");
                Err(WebhookRefusal::Malformed("could not enqueue".into()))
            }
        }
    }

    async fn installed_store(&self, store_hash: &str) -> Result<i64, WebhookRefusal> {
        if let Some((id, at)) = self.stores.lock().unwrap_or_else(|e| e.into_inner()).get(store_hash)
            && at.elapsed() < STORE_CACHE_TTL
        {
            return Ok(*id);
        }
        let id = self.look_up_store(store_hash).await?;
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if stores.len() >= STORE_CACHE_MAX {
            stores.clear();
        }
        stores.insert(store_hash.to_owned(), (id, std::time::Instant::now()));
        Ok(id)
    }

    async fn look_up_store(&self, store_hash: &str) -> Result<i64, WebhookRefusal> {
        let store = super::stores::installed_by_hash(&self.api.db, store_hash)
            .await
            .map_err(|e| {
                if crate::db::is_unavailable(&e) {
                    tracing::warn!(error = %e, "the database is unavailable to a webhook");
                    return WebhookRefusal::Unavailable;
                }
                tracing::error!(error = %e, "looking up a webhook's store");
                WebhookRefusal::UnknownStore("the store could not be read".into())
            })?;
        store
            .map(|s| s.id)
            .ok_or_else(|| WebhookRefusal::UnknownStore(format!("no installed store {store_hash}")))
    }
}

/// Forget a store uninstalled anywhere in this process.
fn forget_uninstalled(stores: std::sync::Weak<InstalledStores>) {
    use crate::auth::revocation::{self, Revoked};
    revocation::prune(stores, |stores, event| match event {
        Some(Revoked::Store { store_id }) => stores.retain(|_, (id, _)| id != store_id),
        Some(Revoked::User { .. }) => {}
        None => stores.clear(),
    });
}

/// What registration changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Registered {
    pub created: Vec<String>,
    pub reactivated: Vec<String>,
    /// Active hooks whose secret header was another (a rotated secret): updated.
    pub rekeyed: Vec<String>,
    pub deleted: Vec<String>,
}

/// Make the store's hooks that point at `destination` be exactly `scopes`, active and
/// carrying the store's secret header: create the missing, reactivate the inactive,
/// re-key the ones whose header is not `secret` (after a rotation), delete the ones no
/// longer configured. Hooks to other destinations stay.
pub async fn register(
    client: &StoreClient,
    destination: &str,
    secret: &str,
    scopes: &[String],
) -> Result<Registered, super::Error> {
    use futures::TryStreamExt;
    let hooks: Vec<Json> = client.v3().list("/hooks").items().try_collect().await?;
    let ours: Vec<&Json> = hooks
        .iter()
        .filter(|h| h.get("destination").and_then(Json::as_str) == Some(destination))
        .collect();
    let headers = json!({SECRET_HEADER: secret});
    let mut out = Registered::default();
    for scope in scopes {
        let existing = ours
            .iter()
            .find(|h| h.get("scope").and_then(Json::as_str) == Some(scope.as_str()));
        match existing {
            None => {
                client
                    .v3()
                    .post("/hooks")
                    .json(
                        &json!({"scope": scope, "destination": destination, "is_active": true,
                                  "headers": headers}),
                    )
                    .send()
                    .await?;
                out.created.push(scope.clone());
            }
            Some(hook) => {
                let active = hook.get("is_active").and_then(Json::as_bool) == Some(true);
                let keyed = hook.get("headers").and_then(|h| h.get(SECRET_HEADER)) == Some(&json!(secret));
                if !(active && keyed) {
                    let id = hook.get("id").and_then(Json::as_i64).unwrap_or_default();
                    client
                        .v3()
                        .put("/hooks/{id}")
                        .path_param("id", id)
                        .json(&json!({"is_active": true, "headers": headers}))
                        .send()
                        .await?;
                    if active {
                        out.rekeyed.push(scope.clone());
                    } else {
                        out.reactivated.push(scope.clone());
                    }
                }
            }
        }
    }
    for hook in ours {
        let scope = hook.get("scope").and_then(Json::as_str).unwrap_or_default();
        if !scopes.iter().any(|s| s == scope) {
            let id = hook.get("id").and_then(Json::as_i64).unwrap_or_default();
            client
                .v3()
                .delete("/hooks/{id}")
                .path_param("id", id)
                .send()
                .await?;
            out.deleted.push(scope.to_owned());
        }
    }
    Ok(out)
}

/// Register the configured hooks of an installed store (the CLI and the install flow).
pub async fn register_store(
    api: &Api,
    bigcommerce: &BigCommerce,
    gateway_secret: &Secrets,
    public_url: &str,
    scopes: &[String],
    store_hash: &str,
) -> anyhow::Result<Registered> {
    let store = super::handlers::resolve_store(api, Some(store_hash)).await?;
    let client = super::handlers::store_client(bigcommerce, gateway_secret, &store)?;
    let destination = format!("{}/webhooks/bigcommerce", public_url.trim_end_matches('/'));
    let secret = store_secret(gateway_secret, &store.hash);
    Ok(register(&client, &destination, &secret, scopes).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    const NOW: i64 = 1_767_225_600;

    fn secrets() -> Secrets {
        Secrets::new(b"a gateway secret of at least thirty-two bytes", &[] as &[&[u8]])
    }

    fn headers(pairs: &[(&str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_delivery_is_checked_without_a_database() {
        let secrets = secrets();
        let body = br#"{"scope": "store/product/updated", "producer": "stores/abc", "hash": "h1", "data": {"id": 7}}"#;
        let good = headers(&[(SECRET_HEADER, store_secret(&secrets, "abc"))]);
        let checked = check(&good, body, &secrets, None, &Triggers::default(), NOW).unwrap();
        assert_eq!(checked.store_hash, "abc");
        assert_eq!(
            checked.job,
            Some(Job::triggered(
                "bigcommerce/pullProduct",
                json!({"bigcommerceId": 7}),
                Trigger::Webhook {
                    scope: "store/product/updated".into(),
                    data: json!({"id": 7})
                }
            ))
        );
        let refused =
            |h: &HeaderMap, body: &[u8]| check(h, body, &secrets, Some("key"), &Triggers::default(), NOW);
        assert_eq!(refused(&HeaderMap::new(), body).unwrap_err().status(), 401);
        assert_eq!(refused(&good, b"[1").unwrap_err().status(), 400);
        assert_eq!(
            refused(&good, &vec![b' '; MAX_DELIVERY_BYTES + 1])
                .unwrap_err()
                .status(),
            413
        );
        // A signature: right, wrong, or stale.
        let signed = |timestamp: i64, signature: &str| {
            headers(&[
                (SECRET_HEADER, store_secret(&secrets, "abc")),
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", format!("v1,{signature}")),
            ])
        };
        let right = signature("key", "msg_1", &NOW.to_string(), body);
        assert!(refused(&signed(NOW, &right), body).is_ok());
        assert_eq!(refused(&signed(NOW, "bad"), body).unwrap_err().status(), 401);
        let old = signature("key", "msg_1", &(NOW - 600).to_string(), body);
        assert_eq!(refused(&signed(NOW - 600, &old), body).unwrap_err().status(), 401);
        // Timestamps at the ends of i64 are far from now, not an overflow (which panicked
        // in debug builds and, wrapped, passed the tolerance check in release ones).
        for extreme in [i64::MIN, i64::MIN + 1, i64::MAX, NOW - i64::MAX] {
            let signed_extreme = signature("key", "msg_1", &extreme.to_string(), body);
            let refusal = refused(&signed(extreme, &signed_extreme), body).unwrap_err();
            assert_eq!(
                refusal,
                WebhookRefusal::Unauthenticated(
                    "webhook signature: the timestamp is too old or in the future".into()
                )
            );
        }
    }

    #[test]
    fn scopes_map_to_actions() {
        let t = Triggers::default();
        let data = json!({"id": 5, "sku": {"product_id": 9, "variant_id": 5}});
        let job = t.job("store/sku/updated", &data);
        let webhook = |scope: &str, data: &Json| Trigger::Webhook {
            scope: scope.into(),
            data: data.clone(),
        };
        assert_eq!(
            job,
            Some(Job::triggered(
                "bigcommerce/pullProduct",
                json!({"bigcommerceId": 9}),
                webhook("store/sku/updated", &data)
            ))
        );
        assert_eq!(t.job("store/shipment/created", &json!({"id": 1})), None);
        // A category's metafield scope carries no type: the scope tells it.
        let data = json!({"metafield_id": 17, "resource_id": "24"});
        assert_eq!(
            t.job("store/category/metafield/updated", &data),
            Some(Job::triggered(
                "bigcommerce/pullMetafield",
                json!({"bigcommerceId": 17, "resourceType": "category", "resourceId": "24"}),
                webhook("store/category/metafield/updated", &data)
            ))
        );
        let data = json!({"metafield_id": 3, "resource_id": "8", "resource_type": "customer"});
        assert_eq!(
            t.job("store/metafield/created", &data),
            Some(Job::triggered(
                "bigcommerce/pullMetafield",
                json!({"bigcommerceId": 3, "resourceType": "customer", "resourceId": "8"}),
                webhook("store/metafield/created", &data)
            ))
        );
        assert!(!t.scopes().iter().any(|s| s.contains("/metafield/") && s != "store/metafield/*"));
        let t = t.on("store/cart/*", "mine/cartChanged");
        assert_eq!(
            t.job("store/cart/created", &json!({"id": "c1"})),
            Some(Job::triggered(
                "mine/cartChanged",
                json!({"id": "c1"}),
                webhook("store/cart/created", &json!({"id": "c1"}))
            ))
        );
    }
}
