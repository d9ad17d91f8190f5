//! The action runtime: every write (GraphQL mutations, webhook handlers, the sync,
//! background jobs, Rust code) goes through here, so validation, tenancy and
//! transactions cannot be skipped by a side door. It knows no GraphQL and no HTTP.
//!
//! ```no_run
//! # async fn demo(api: &bcgraph::Api, store_id: i64) -> Result<(), bcgraph::ActionError> {
//! use serde_json::json;
//! let (product, _) = api
//!     .model(bcgraph::names::PRODUCT)
//!     .upsert(json!({"bigcommerceId": 113, "name": "Shirt", "store": {"_link": store_id},
//!                   "variants": [{"_converge": {"values": [{"bigcommerceId": 7, "sku": "S-1"}]}}]}),
//!             &["bigcommerceId", "store"])
//!     .await?;
//! println!("product {}", product.id());
//! # Ok(()) }
//! ```

mod bulk;
mod code;
mod context;
mod error;
pub mod global;
pub mod hooks;
pub mod input;
mod run;
pub mod statements;

pub use code::ErrorCode;
#[cfg(test)]
pub(crate) use code::UnknownCode;
pub use context::{BigCommerceConnection, Context, CurrentStore, Trigger};
pub use error::{ActionError, FieldError};
pub(crate) use error::UNAVAILABLE_MESSAGE;
pub use global::{
    ErasedGlobalAction as ErasedGlobal, GlobalAction, GlobalActions, ModelAction, Param, ParamType,
};
pub use hooks::{Change, Done, Hooks, ModelHook, Verb};

use crate::auth::{Identity, Permissions, ROLE_ADMIN};
use crate::model::{Model, ModelId, Registry};
use crate::query::{Reader, Record, Tenant};
use crate::queue::QueueLimits;
use input::RecordInput;
use run::Ctx;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionOptions, TransactionTrait,
};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Who is acting: which stores' rows it reaches, what its roles allow, and whether it
/// is the gateway's own code. The default caller is the system itself (handlers, the sync).
#[derive(Clone, Debug)]
pub struct Caller {
    /// Whose rows it reaches: one store, every store (the system) or none.
    pub tenant: Tenant,
    /// Its roles ([`roles`](crate::roles)).
    pub roles: Vec<String>,
    #[doc(hidden)]
    pub permissions: Arc<Permissions>,
    /// The gateway's own code (handlers, install and uninstall, the sync, the CLI), not a
    /// request: only it writes hidden fields and a store's platform fields, and runs
    /// internal actions.
    pub internal: bool,
    /// The session a request came with, if any.
    pub session_id: Option<i64>,
    /// The BigCommerce user of that session, if any.
    pub user_id: Option<String>,
}

impl Default for Caller {
    fn default() -> Self {
        Caller::system(Arc::new(Permissions::default()))
    }
}

impl Caller {
    /// The gateway's own code: every store, every action.
    pub fn system(permissions: Arc<Permissions>) -> Caller {
        Caller {
            tenant: Tenant::System,
            roles: vec![ROLE_ADMIN.to_owned()],
            permissions,
            internal: true,
            session_id: None,
            user_id: None,
        }
    }

    /// The caller a request's identity makes. Only `system-admin` without a store is
    /// the system; any other identity without a store reaches no store's rows.
    pub fn of(identity: &Identity, permissions: Arc<Permissions>) -> Caller {
        let tenant = match identity.store_id {
            Some(store) => Tenant::Store(store),
            None if identity.roles.iter().any(|r| r == ROLE_ADMIN) => Tenant::System,
            None => Tenant::None,
        };
        Caller {
            tenant,
            roles: identity.roles.clone(),
            permissions,
            internal: false,
            session_id: identity.session_id,
            user_id: identity.bigcommerce_user_id.clone(),
        }
    }

    /// The same caller acting for one store it may reach (nothing, if it may not).
    pub fn within_store(&self, store: i64) -> Caller {
        Caller {
            tenant: self.tenant.narrowed_to(store),
            ..self.clone()
        }
    }

    /// May this caller perform `operation` (`read`, `create`, `update`, `delete`) on `model`?
    pub fn may(&self, model: &Model, operation: &str) -> bool {
        self.permissions.allows(&self.roles, model, operation)
    }

    /// Refuse with `GGT_PERMISSION_DENIED` unless allowed.
    pub fn check(&self, model: &Model, operation: &str) -> Result<(), ActionError> {
        if self.may(model, operation) {
            Ok(())
        } else {
            Err(ActionError::PermissionDenied(format!(
                "this session may not {operation} {}",
                model.qualified_name()
            )))
        }
    }
}

/// Whether an upsert created the record or updated an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// A new record.
    Created,
    /// The existing record, changed.
    Updated,
    /// The record existed and its own fields already held the values written (its
    /// `updatedAt` stays; nested writes may still have changed its children).
    Unchanged,
}

/// The BigCommerce client and the secret that opens stores' access tokens: what
/// [`Context::bigcommerce`] needs.
#[derive(Clone)]
pub(crate) struct Platform {
    pub(crate) bigcommerce: crate::bigcommerce::BigCommerce,
    pub(crate) secrets: Arc<crate::auth::Secrets>,
}

/// The API over the action runtime, for one caller: every read and write of app code,
/// handlers, the sync and the GraphQL layer goes through one. It has no public database
/// handle: tenancy and grants apply to everything done through it.
#[derive(Clone)]
pub struct Api {
    pub(crate) db: DatabaseConnection,
    #[doc(hidden)]
    pub registry: Arc<Registry>,
    pub(crate) globals: Arc<GlobalActions>,
    /// Who acts through this API.
    pub caller: Caller,
    /// What one store's callers may hold in the background queue.
    pub(crate) queue_limits: QueueLimits,
    pub(crate) hooks: Arc<Hooks>,
    /// What started the work this API does (carried into hooks and enqueued jobs).
    pub(crate) trigger: Trigger,
    pub(crate) platform: Option<Platform>,
}

impl Api {
    #[doc(hidden)]
    pub fn new(db: DatabaseConnection, registry: Arc<Registry>) -> Api {
        Api {
            db,
            registry,
            globals: Arc::new(GlobalActions::default()),
            caller: Caller::default(),
            queue_limits: QueueLimits::default(),
            hooks: Arc::new(Hooks::default()),
            trigger: Trigger::Api,
            platform: None,
        }
    }

    pub(crate) fn with_hooks(mut self, hooks: Hooks) -> Api {
        self.hooks = Arc::new(hooks);
        self
    }

    pub(crate) fn with_platform(
        mut self,
        bigcommerce: crate::bigcommerce::BigCommerce,
        secrets: Arc<crate::auth::Secrets>,
    ) -> Api {
        self.platform = Some(Platform { bigcommerce, secrets });
        self
    }

    /// The same API over another pool of connections to the same database (a second
    /// process's, or the sync's relaxed one).
    pub fn with_pool(&self, db: DatabaseConnection) -> Api {
        Api { db, ..self.clone() }
    }

    /// The same API, for work that `trigger` started.
    pub(crate) fn triggered_by(&self, trigger: Trigger) -> Api {
        Api {
            trigger,
            ..self.clone()
        }
    }

    /// The context app code runs with, in the current span.
    pub(crate) fn context(&self) -> Context {
        Context::new(self.clone(), tracing::Span::current())
    }

    /// The global actions this API runs.
    pub fn global_actions(&self) -> &GlobalActions {
        &self.globals
    }

    #[doc(hidden)]
    pub fn with_queue_limits(mut self, limits: QueueLimits) -> Api {
        self.queue_limits = limits;
        self
    }

    #[doc(hidden)]
    pub fn with_globals(mut self, globals: GlobalActions) -> Api {
        self.globals = Arc::new(globals);
        self
    }

    /// The same API acting as `caller`.
    pub fn as_caller(&self, caller: Caller) -> Api {
        Api {
            caller,
            ..self.clone()
        }
    }

    /// The same API acting for one store its caller may reach (see [`Caller::within_store`]).
    pub fn within_store(&self, store: i64) -> Api {
        self.as_caller(self.caller.within_store(store))
    }

    /// Reads for this caller.
    pub fn reader(&self) -> Reader {
        Reader {
            db: self.db.clone(),
            registry: self.registry.clone(),
            tenant: self.caller.tenant,
        }
    }

    /// The actions of a model, by `namespace/apiId`. Panics on a name that is not
    /// registered: model names in code are fixed at build time.
    pub fn model(&self, name: &str) -> ModelApi<'_> {
        let model = self
            .registry
            .find(name)
            .unwrap_or_else(|| panic!("no model named {name}"));
        self.model_by_id(model.id)
    }

    #[doc(hidden)]
    pub fn model_by_id(&self, model: ModelId) -> ModelApi<'_> {
        ModelApi { api: self, model }
    }

    /// Run a global action by name (`syncStore` or `bigcommerce/syncStore`).
    pub async fn run_global(&self, name: &str, params: Json) -> Result<Json, ActionError> {
        let action = self
            .globals
            .find(name)
            .ok_or_else(|| ActionError::InvalidInput(format!("no global action named {name}")))?;
        if action.internal() && !self.caller.internal {
            return Err(ActionError::PermissionDenied(format!(
                "{name} runs only inside the gateway"
            )));
        }
        self.check_global(action.namespace(), action.name())?;
        let span = tracing::info_span!(
            "action",
            name = %name,
            store = self.caller.tenant.store(),
            trigger = self.trigger.kind(),
        );
        let ctx = Context::new(self.clone(), span.clone());
        tracing::Instrument::instrument(action.run_json(&ctx, params), span).await
    }

    /// Refuse a global action the caller's roles do not allow.
    pub fn check_global(&self, namespace: Option<&str>, name: &str) -> Result<(), ActionError> {
        if self
            .caller
            .permissions
            .allows_global(&self.caller.roles, namespace, name)
        {
            Ok(())
        } else {
            Err(ActionError::PermissionDenied(format!(
                "this session may not run {name}"
            )))
        }
    }

    /// One action in its own transaction.
    pub(crate) async fn create_parsed(
        &self,
        model: ModelId,
        input: RecordInput,
    ) -> Result<Record, ActionError> {
        let txn = self.begin().await?;
        let ctx = self.ctx();
        let record = run::create(&txn, &ctx, model, input).await?;
        txn.commit().await?;
        hooks::after(self, &ctx.pending).await?;
        Ok(record)
    }

    pub(crate) async fn update_parsed(
        &self,
        model: ModelId,
        id: i64,
        input: RecordInput,
    ) -> Result<Record, ActionError> {
        let txn = self.begin().await?;
        let ctx = self.ctx();
        let record = run::update(&txn, &ctx, model, id, input).await?;
        txn.commit().await?;
        hooks::after(self, &ctx.pending).await?;
        Ok(record)
    }

    pub(crate) async fn upsert_parsed(
        &self,
        model: ModelId,
        input: RecordInput,
        on: &[String],
    ) -> Result<(Record, Upserted), ActionError> {
        let txn = self.begin().await?;
        let ctx = self.ctx();
        let result = run::upsert(&txn, &ctx, model, input, on).await?;
        txn.commit().await?;
        hooks::after(self, &ctx.pending).await?;
        Ok(result)
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            registry: &self.registry,
            tenant: self.caller.tenant,
            caller: &self.caller,
            api: self,
            pending: Default::default(),
        }
    }

    /// A write transaction. On SQLite it takes the write lock at once, so that a
    /// transaction that reads first cannot deadlock against another writer.
    pub async fn begin(&self) -> Result<DatabaseTransaction, ActionError> {
        let mut options = TransactionOptions::default();
        if self.db.get_database_backend() == DbBackend::Sqlite {
            options.sqlite_transaction_mode = Some(sea_orm::SqliteTransactionMode::Immediate);
        }
        Ok(self.db.begin_with_options(options).await?)
    }
}

/// The actions of one model.
pub struct ModelApi<'a> {
    api: &'a Api,
    model: ModelId,
}

impl ModelApi<'_> {
    fn parse(&self, input: Json) -> Result<RecordInput, ActionError> {
        let registry = &self.api.registry;
        input::parse(
            registry,
            registry.get(self.model),
            input,
            self.api.caller.internal,
        )
    }

    /// Create a record from `input` (the GraphQL input's JSON: fields by api
    /// identifier, relations as `{"_link": id}`, nested `create`/`update`/`_converge`).
    pub async fn create(&self, input: Json) -> Result<Record, ActionError> {
        self.api.create_parsed(self.model, self.parse(input)?).await
    }

    /// Create inside a transaction of the caller's ([`Api::begin`]), so that what goes
    /// with the record (say, the job that processes it) commits with it or not at all.
    /// Its `before` hooks run; its `after` hooks do not (the caller owns the commit).
    pub(crate) async fn create_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        input: Json,
    ) -> Result<Record, ActionError> {
        run::create(conn, &self.api.ctx(), self.model, self.parse(input)?).await
    }

    /// Change the record `id` with `input`; only what changes is written.
    pub async fn update(&self, id: i64, input: Json) -> Result<Record, ActionError> {
        self.api.update_parsed(self.model, id, self.parse(input)?).await
    }

    /// Update inside a transaction of the caller's, as [`ModelApi::create_in`] creates.
    pub(crate) async fn update_in<C: ConnectionTrait>(&self, conn: &C, id: i64, input: Json) -> Result<Record, ActionError> {
        run::update(conn, &self.api.ctx(), self.model, id, self.parse(input)?).await
    }

    /// Delete the record `id` (its children go with it).
    pub async fn delete(&self, id: i64) -> Result<(), ActionError> {
        let txn = self.api.begin().await?;
        let ctx = self.api.ctx();
        run::delete(&txn, &ctx, self.model, id).await?;
        txn.commit().await?;
        hooks::after(self.api, &ctx.pending).await?;
        Ok(())
    }

    /// Create, or update the record whose `on` fields match (default `["id"]`).
    pub async fn upsert(&self, input: Json, on: &[&str]) -> Result<(Record, Upserted), ActionError> {
        let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
        self.api.upsert_parsed(self.model, self.parse(input)?, &on).await
    }

    /// Each input succeeds or fails on its own; results keep input order. Bulk
    /// actions answer with ids: read the records that are wanted with [`Self::find_many`].
    pub async fn bulk_create(&self, inputs: Vec<Json>) -> Vec<Result<i64, ActionError>> {
        bulk::create(self.api, self.model, inputs).await
    }

    /// `(id, input)` pairs; each succeeds or fails on its own.
    pub async fn bulk_update(&self, inputs: Vec<(i64, Json)>) -> Vec<Result<i64, ActionError>> {
        bulk::update(self.api, self.model, inputs).await
    }

    /// `(input, on)` pairs; an empty `on` means `["id"]`.
    pub async fn bulk_upsert(
        &self,
        inputs: Vec<(Json, Vec<String>)>,
    ) -> Vec<Result<(i64, Upserted), ActionError>> {
        bulk::upsert(self.api, self.model, inputs).await
    }

    /// Delete these records; each succeeds or fails on its own.
    pub async fn bulk_delete(&self, ids: Vec<i64>) -> Vec<Result<(), ActionError>> {
        bulk::delete(self.api, self.model, ids).await
    }

    /// Run the model's own action `name` (`run`, `abort`, ...); the caller must be
    /// allowed to create the model's records (`update` them for an action on a record).
    pub async fn act(&self, name: &str, id: Option<i64>, input: Json) -> Result<Record, ActionError> {
        let model = self.api.registry.get(self.model);
        let action = self
            .api
            .globals
            .of_model(&self.api.registry, self.model)
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                ActionError::InvalidInput(format!("{} has no action {name}", model.qualified_name()))
            })?;
        self.api
            .caller
            .check(model, if action.on_record() { "update" } else { "create" })?;
        if action.on_record() != id.is_some() {
            return Err(ActionError::InvalidInput(format!(
                "{name} {} a record id",
                if action.on_record() { "needs" } else { "takes no" }
            )));
        }
        action.run(self.api, id, input).await
    }

    /// The records with these ids that the caller may see, in no particular order.
    pub async fn find_many(&self, ids: &[i64]) -> Result<Vec<Record>, ActionError> {
        Ok(self.api.reader().find_many(self.model, ids).await?)
    }

    /// The record with this id, if the caller may see it.
    pub async fn find(&self, id: i64) -> Result<Option<Record>, ActionError> {
        Ok(self.api.reader().find(self.model, id).await?)
    }

    /// Up to `first` (at most 250) records the caller may see that match `filter`, in
    /// `sort` order, as JSON objects keyed by api identifier (Gadget's `findMany`).
    /// `filter` and `sort` are the JSON of the GraphQL arguments of the same names:
    /// `{"price": {"greaterThan": 10}}`, `{"createdAt": "Descending"}`; `null` for none.
    ///
    /// ```no_run
    /// # async fn demo(api: &bcgraph::Api) -> Result<(), bcgraph::ActionError> {
    /// use serde_json::json;
    /// let recent = api
    ///     .model(bcgraph::names::ORDER)
    ///     .records(json!({"status": {"equals": "Pending"}}), json!({"id": "Descending"}), 10)
    ///     .await?;
    /// for order in &recent {
    ///     println!("{} {}", order["id"], order["totalIncTax"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn records(
        &self,
        filter: Json,
        sort: Json,
        first: u64,
    ) -> Result<Vec<Map<String, Json>>, ActionError> {
        let registry = &self.api.registry;
        let model = registry.get(self.model);
        let cond = if filter.is_null() {
            crate::query::Cond::Const(true)
        } else {
            crate::query::filter::parse(registry, model, &filter)?
        };
        // `id` ends every order, so a null sort still gives one.
        let sort = crate::query::parse_sort(model, &sort)?;
        let args = crate::query::PageArgs::new(Some(first as i64), None, None, None, sort, cond)?;
        let page = self
            .api
            .reader()
            .page(self.model, &args, &crate::query::Columns::All, false)
            .await?;
        Ok(page.records.iter().map(|r| r.to_json_object(model)).collect())
    }

    /// The first record matching `filter`, if any (Gadget's `maybeFindFirst`).
    pub async fn first(&self, filter: Json) -> Result<Option<Map<String, Json>>, ActionError> {
        Ok(self.records(filter, Json::Null, 1).await?.pop())
    }

    /// The record whose `field` equals `value`, if any (Gadget's `maybeFindBy<Field>`,
    /// such as `maybeFindByBigcommerceId`; within a store session, the store's own).
    pub async fn find_by(
        &self,
        field: &str,
        value: impl Into<Json>,
    ) -> Result<Option<Map<String, Json>>, ActionError> {
        self.first(serde_json::json!({ field: {"equals": value.into()} }))
            .await
    }
}
