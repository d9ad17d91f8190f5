//! What an app's code gets when it runs: [`Context`], Gadget's `context` in Rust.
//!
//! Every global action, hook and scheduled action receives one. It carries the API as
//! the caller (tenancy applied), what started the action ([`Trigger`]), the current
//! store, the BigCommerce client for that store, and the span the action's logs go to.
//! The database itself is not on it: app code reads and writes through [`Api`], so it
//! cannot reach around tenancy. The one escape, [`Context::unscoped_database`], says
//! what it is in its name.

use super::{ActionError, Api, Caller};
use crate::bigcommerce::StoreClient;
use crate::bigcommerce::handlers::{StoreRef, resolve_store, store_client};
use crate::queue::{Job, Options};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// What started an action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Trigger {
    /// A GraphQL request, or Rust code calling the API.
    #[default]
    Api,
    /// A BigCommerce webhook: its scope (`store/product/created`) and its `data`.
    Webhook {
        /// The scope, `store/product/created`.
        scope: String,
        /// The delivery's `data` object.
        data: Json,
    },
    /// A schedule the app declared, by the action it runs.
    Schedule {
        /// The scheduled action, `name` or `namespace/name`.
        action: String,
    },
    /// A background action enqueued by a request or by code.
    Background,
}

impl Trigger {
    /// A short name for logs: `api`, `webhook`, `schedule`, `background`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Webhook { .. } => "webhook",
            Trigger::Schedule { .. } => "schedule",
            Trigger::Background => "background",
        }
    }
}

/// The installed store an action runs for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentStore {
    /// The `bigcommerce/store` record's id.
    pub id: i64,
    /// BigCommerce's store hash (`abc123`).
    pub hash: String,
}

/// The context of one action run. It carries the API as the caller (tenancy applied),
/// what started the action ([`Trigger`]), the current store, the BigCommerce client for
/// that store, and the span the action's logs go to. The database itself is not on it:
/// app code reads and writes through [`Api`], so it cannot reach around tenancy; the
/// one escape, [`Context::unscoped_database`], says what it is in its name.
///
/// ```no_run
/// use bcgraph::{ActionError, Context};
/// use serde_json::{Value, json};
///
/// async fn first_products(ctx: &Context) -> Result<Value, ActionError> {
///     // The current store's client: the webhook's store, or the session's.
///     let store = ctx.bigcommerce().current().await?;
///     let products = store
///         .v3()
///         .get("/catalog/products")
///         .query("limit", 5)
///         .send()
///         .await
///         .map_err(|e| ActionError::Remote(e.to_string()))?;
///     tracing::info!(store = store.store_hash(), "read the first products");
///     Ok(json!({"products": products}))
/// }
/// ```
#[derive(Clone)]
pub struct Context {
    api: Api,
    span: tracing::Span,
}

impl Context {
    /// The context of an action run through `api`, inside `span`.
    pub(crate) fn new(api: Api, span: tracing::Span) -> Context {
        Context { api, span }
    }

    /// The API as the caller: its grants and its store apply to every read and write.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The API as the system: every store, every grant. For work the app does on the
    /// platform's behalf (a schedule that visits every store); prefer [`Context::api`].
    pub fn system_api(&self) -> Api {
        self.api
            .as_caller(Caller::system(self.api.caller.permissions.clone()))
    }

    /// What started this action.
    pub fn trigger(&self) -> &Trigger {
        &self.api.trigger
    }

    /// The current store's record id, when the action runs for one store (a webhook, a
    /// merchant's session, a store-bound key or a background action they enqueued).
    pub fn store_id(&self) -> Option<i64> {
        self.api.caller.tenant.store()
    }

    /// The current store's id and hash; an error when the action runs for no store.
    pub async fn store(&self) -> Result<CurrentStore, ActionError> {
        let store = self.current_store().await?;
        Ok(CurrentStore {
            id: store.id,
            hash: store.hash,
        })
    }

    /// The session this action runs in, if a session's request started it.
    pub fn session_id(&self) -> Option<i64> {
        self.api.caller.session_id
    }

    /// The BigCommerce user of the session, if it has one (a merchant who loaded the app).
    pub fn user_id(&self) -> Option<&str> {
        self.api.caller.user_id.as_deref()
    }

    /// Enqueue a background action as the caller (so the caller's store, grants and queue
    /// quotas apply); `options` carry the queue name and `maxConcurrency`, retries,
    /// priority, start time and id. Answers the background action's id.
    ///
    /// ```no_run
    /// # async fn demo(ctx: &bcgraph::Context) -> Result<(), bcgraph::ActionError> {
    /// use bcgraph::background::{Job, Options, QueueOption};
    /// let options = Options {
    ///     queue: Some(QueueOption { name: "create-products".into(), max_concurrency: 2 }),
    ///     ..Options::default()
    /// };
    /// let job = Job::global("createProduct", serde_json::json!({"name": "Shirt"}));
    /// ctx.enqueue(&job, &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn enqueue(&self, job: &Job, options: &Options) -> Result<String, ActionError> {
        Ok(self.api.enqueue(job, options).await?)
    }

    /// Enqueue every job of `jobs` with the same options, all or none.
    pub async fn enqueue_all(&self, jobs: &[Job], options: &Options) -> Result<Vec<String>, ActionError> {
        Ok(self.api.enqueue_all(jobs, options).await?)
    }

    /// BigCommerce's API for the current store or a named one.
    pub fn bigcommerce(&self) -> BigCommerceConnection<'_> {
        BigCommerceConnection { ctx: self }
    }

    /// The span this action runs in; it names the action, the store and the trigger.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The raw database connection, **outside tenancy and grants**: statements run on it
    /// see every store's rows, as the system. For SQL the API cannot express (reports,
    /// an app's own maintenance); anything that reads or writes a store's data for a
    /// caller belongs on [`Context::api`] instead.
    pub fn unscoped_database(&self) -> &DatabaseConnection {
        &self.api.db
    }

    async fn current_store(&self) -> Result<StoreRef, ActionError> {
        if self.api.caller.tenant.store().is_none() {
            return Err(ActionError::InvalidInput(
                "this action runs for no store: pass a store hash to bigcommerce().for_store_hash()".into(),
            ));
        }
        resolve_store(&self.api, None).await
    }
}

/// BigCommerce's REST API for a store, from [`Context::bigcommerce`].
pub struct BigCommerceConnection<'a> {
    ctx: &'a Context,
}

impl BigCommerceConnection<'_> {
    /// The client of the store the action runs for.
    pub async fn current(&self) -> Result<StoreClient, ActionError> {
        let store = self.ctx.current_store().await?;
        self.client(&store)
    }

    /// The client of the installed store with this hash. A store session may only name
    /// its own store; an unknown or uninstalled store is an error that names the hash.
    pub async fn for_store_hash(&self, hash: &str) -> Result<StoreClient, ActionError> {
        let store = resolve_store(&self.ctx.api, Some(hash)).await?;
        self.client(&store)
    }

    fn client(&self, store: &StoreRef) -> Result<StoreClient, ActionError> {
        let platform = self.ctx.api.platform.as_ref().ok_or_else(|| {
            ActionError::InvalidInput("this gateway has no BigCommerce client configured".into())
        })?;
        store_client(&platform.bigcommerce, &platform.secrets, store)
    }
}
