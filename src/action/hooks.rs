//! An app's code on the generated actions of a model (Gadget's `run` and `onSuccess`).
//!
//! A [`ModelHook`] registered for a model and a [`Verb`] runs on every path that
//! performs that verb on that model: the GraphQL mutation and its bulk form, upserts,
//! nested writes, background actions, webhook handlers, the sync and Rust code. Its
//! `before` runs inside the action's transaction, before the row is written: it sees
//! and may change the values, or refuse with an error, and then nothing is written. Its
//! `after` runs once the transaction has committed, with the written record.
//!
//! A model with hooks loses the multi-row fast path of bulk actions and upserts: each
//! record goes through the runtime on its own, so that each one's hooks run.

use super::input::{RecordInput, field_value};
use super::{ActionError, Api, Context};
use crate::model::{Model, ModelId};
use crate::query::Record;
use futures::future::BoxFuture;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A generated action of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `create`, the create half of an `upsert`, a nested create.
    Create,
    /// `update`, the update half of an `upsert`, a nested update.
    Update,
    /// `delete`, a nested delete.
    Delete,
}

/// The record an action is about to write, as the `before` hook sees it.
#[derive(Debug)]
pub struct Change {
    verb: Verb,
    model: String,
    id: Option<i64>,
    /// The values the action writes (plain fields, by api identifier).
    values: Map<String, Json>,
    /// The record as it is now (updates and deletes).
    existing: Option<Map<String, Json>>,
}

impl Change {
    /// Which action this is.
    pub fn verb(&self) -> Verb {
        self.verb
    }

    /// The model, `namespace/apiId`.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The record's id (updates and deletes; a create has none yet).
    pub fn id(&self) -> Option<i64> {
        self.id
    }

    /// The value `field` will have: the one being written, else the current one.
    pub fn get(&self, field: &str) -> Option<&Json> {
        self.values
            .get(field)
            .or_else(|| self.existing.as_ref().and_then(|e| e.get(field)))
    }

    /// Write `value` to `field` as well (checked against the field's type when the
    /// hook returns). Ignored for a delete.
    pub fn set(&mut self, field: &str, value: impl Into<Json>) {
        self.values.insert(field.to_owned(), value.into());
    }

    /// The values this action writes.
    pub fn values(&self) -> &Map<String, Json> {
        &self.values
    }

    /// The record as it was before this action (updates and deletes).
    pub fn existing(&self) -> Option<&Map<String, Json>> {
        self.existing.as_ref()
    }

    /// A refusal naming `field`, for a `before` hook to return: the action answers
    /// `GGT_INVALID_RECORD` with this message and writes nothing.
    pub fn refuse(&self, field: &str, message: &str) -> ActionError {
        let api_id = self.model.rsplit('/').next().unwrap_or(&self.model);
        ActionError::invalid(api_id, field, message)
    }
}

/// A record an action wrote, as the `after` hook sees it.
#[derive(Clone, Debug)]
pub struct Done {
    verb: Verb,
    model: String,
    record: Map<String, Json>,
}

impl Done {
    /// Which action wrote it.
    pub fn verb(&self) -> Verb {
        self.verb
    }

    /// The model, `namespace/apiId`.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The record's id.
    pub fn id(&self) -> i64 {
        self.record
            .get("id")
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_i64()))
            .unwrap_or_default()
    }

    /// The record as written (for a delete: as it was before).
    pub fn record(&self) -> &Map<String, Json> {
        &self.record
    }
}

/// Code on a model's generated actions. Both methods do nothing unless overridden.
///
/// ```
/// use bcgraph::{ActionError, Change, Context, Done, ModelHook};
///
/// /// Refuse products without a name; log each one created.
/// struct CheckName;
///
/// impl ModelHook for CheckName {
///     async fn before(&self, _ctx: &Context, change: &mut Change) -> Result<(), ActionError> {
///         match change.get("name").and_then(|n| n.as_str()) {
///             Some(name) if !name.trim().is_empty() => Ok(()),
///             _ => Err(change.refuse("name", "must not be blank")),
///         }
///     }
///
///     async fn after(&self, _ctx: &Context, done: &Done) -> Result<(), ActionError> {
///         tracing::info!(id = done.id(), "product created");
///         Ok(())
///     }
/// }
/// ```
pub trait ModelHook: Send + Sync + 'static {
    /// Inside the action's transaction, before the row is written. An error refuses
    /// the action: nothing of it is written.
    fn before(
        &self,
        ctx: &Context,
        change: &mut Change,
    ) -> impl Future<Output = Result<(), ActionError>> + Send {
        let _ = (ctx, change);
        async { Ok(()) }
    }

    /// After the action's transaction committed. An error is the action's answer, but
    /// the record stays written.
    fn after(&self, ctx: &Context, done: &Done) -> impl Future<Output = Result<(), ActionError>> + Send {
        let _ = (ctx, done);
        async { Ok(()) }
    }
}

/// A hook with its futures boxed, so that hooks of different types share one table.
trait ErasedHook: Send + Sync {
    fn before<'a>(
        &'a self,
        ctx: &'a Context,
        change: &'a mut Change,
    ) -> BoxFuture<'a, Result<(), ActionError>>;
    fn after<'a>(&'a self, ctx: &'a Context, done: &'a Done) -> BoxFuture<'a, Result<(), ActionError>>;
}

impl<H: ModelHook> ErasedHook for H {
    fn before<'a>(
        &'a self,
        ctx: &'a Context,
        change: &'a mut Change,
    ) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(ModelHook::before(self, ctx, change))
    }

    fn after<'a>(&'a self, ctx: &'a Context, done: &'a Done) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(ModelHook::after(self, ctx, done))
    }
}

/// Every model's hooks, by model and verb; built once at start-up.
#[derive(Default, Clone)]
pub struct Hooks {
    table: HashMap<(ModelId, Verb), Vec<Arc<dyn ErasedHook>>>,
}

impl Hooks {
    pub(crate) fn add(&mut self, model: ModelId, verb: Verb, hook: impl ModelHook) {
        self.table.entry((model, verb)).or_default().push(Arc::new(hook));
    }

    /// Does `model` have any hook? Then writes of it go one record at a time.
    pub(crate) fn any(&self, model: ModelId) -> bool {
        self.table.keys().any(|(m, _)| *m == model)
    }

    fn of(&self, model: ModelId, verb: Verb) -> &[Arc<dyn ErasedHook>] {
        self.table
            .get(&(model, verb))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The `after` hooks an action owes once it commits.
#[derive(Default)]
pub(crate) struct Pending(Mutex<Vec<(ModelId, Done)>>);

impl Pending {
    fn push(&self, model: ModelId, done: Done) {
        if let Ok(mut list) = self.0.lock() {
            list.push((model, done));
        }
    }

    fn take(&self) -> Vec<(ModelId, Done)> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// Run `model`'s `before` hooks for `verb` on `input`, then write back what they set.
pub(crate) async fn before(
    api: &Api,
    model: &Model,
    verb: Verb,
    input: &mut RecordInput,
    existing: Option<&Record>,
) -> Result<(), ActionError> {
    let hooks = api.hooks.of(model.id, verb);
    if hooks.is_empty() {
        return Ok(());
    }
    let values: Map<String, Json> = input
        .values
        .iter()
        .map(|(f, v)| (model.fields[*f].api_id.clone(), v.to_json(model.fields[*f].ty)))
        .collect();
    let mut change = Change {
        verb,
        model: qualified(model),
        id: existing.map(Record::id),
        values: values.clone(),
        existing: existing.map(|r| r.to_json_object(model)),
    };
    let ctx = api.context();
    for hook in hooks {
        hook.before(&ctx, &mut change).await?;
    }
    if verb == Verb::Delete {
        return Ok(());
    }
    let mut errors = Vec::new();
    for (name, value) in change.values {
        if values.get(&name) == Some(&value) {
            continue;
        }
        let field = model
            .field(&name)
            .filter(|f| *f != Model::ID && !model.fields[*f].hidden)
            .ok_or_else(|| {
                ActionError::InvalidInput(format!("a hook set {name}, which {} does not have", model.api_id))
            })?;
        match field_value(model, field, value) {
            Ok(v) => input.set(field, v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ActionError::InvalidRecord {
            model: model.api_id.clone(),
            errors,
        })
    }
}

/// Note that `record` was written, for its `after` hooks once the transaction commits.
pub(crate) fn written(api: &Api, pending: &Pending, model: &Model, verb: Verb, record: &Record) {
    if api.hooks.of(model.id, verb).is_empty() {
        return;
    }
    pending.push(
        model.id,
        Done {
            verb,
            model: qualified(model),
            record: record.to_json_object(model),
        },
    );
}

/// Run the `after` hooks owed; the first error is the answer (the writes stay).
pub(crate) async fn after(api: &Api, pending: &Pending) -> Result<(), ActionError> {
    let owed = pending.take();
    if owed.is_empty() {
        return Ok(());
    }
    let ctx = api.context();
    let mut first_error = None;
    for (model, done) in owed {
        for hook in api.hooks.of(model, done.verb) {
            if let Err(e) = hook.after(&ctx, &done).await {
                tracing::warn!(model = done.model, id = done.id(), error = %e, "an after hook failed");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn qualified(model: &Model) -> String {
    format!("{}/{}", model.namespace, model.api_id)
}
