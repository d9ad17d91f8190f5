//! Batched relationship loading: every belongsTo and hasMany field of a list is
//! answered by one statement per relation, not one per parent.

use super::errors::query_error;
use crate::model::ModelId;
use crate::query::{Columns, Page, PageArgs, Reader, Record};
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Records by `(model, id)`.
pub struct RecordLoader {
    reader: Reader,
}

impl Loader<(ModelId, i64)> for RecordLoader {
    type Value = Arc<Record>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[(ModelId, i64)],
    ) -> Result<HashMap<(ModelId, i64), Arc<Record>>, Self::Error> {
        let mut by_model: HashMap<ModelId, Vec<i64>> = HashMap::new();
        for (model, id) in keys {
            by_model.entry(*model).or_default().push(*id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (model, ids) in by_model {
            let records = self
                .reader
                .find_many(model, &ids)
                .await
                .map_err(|e| Arc::new(query_error(e)))?;
            out.extend(records.into_iter().map(|r| ((model, r.id()), Arc::new(r))));
        }
        Ok(out)
    }
}

/// Which children to load: a relation of a model, with the field's arguments.
#[derive(Debug)]
pub struct ChildSpec {
    pub parent: ModelId,
    pub relation: usize,
    pub args: PageArgs,
    pub columns: Columns,
}

/// Child pages by `(spec key, parent id)`: every parent that asks for the same
/// relation with the same arguments shares one statement.
pub struct ChildrenLoader {
    reader: Reader,
    specs: Mutex<HashMap<Arc<str>, Arc<ChildSpec>>>,
}

impl ChildrenLoader {
    /// The key under which `spec` is batched.
    pub fn key(&self, spec: ChildSpec) -> Arc<str> {
        let key: Arc<str> = format!(
            "{}/{}/{:?}/{:?}",
            spec.parent, spec.relation, spec.args, spec.columns
        )
        .into();
        let mut specs = self.specs.lock().unwrap_or_else(|e| e.into_inner());
        specs.entry(key.clone()).or_insert_with(|| Arc::new(spec));
        key
    }
}

impl Loader<(Arc<str>, i64)> for ChildrenLoader {
    type Value = Arc<Page>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[(Arc<str>, i64)],
    ) -> Result<HashMap<(Arc<str>, i64), Arc<Page>>, Self::Error> {
        let mut by_spec: HashMap<Arc<str>, Vec<i64>> = HashMap::new();
        for (spec, parent) in keys {
            by_spec.entry(spec.clone()).or_default().push(*parent);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (key, parents) in by_spec {
            let spec = {
                let specs = self.specs.lock().unwrap_or_else(|e| e.into_inner());
                specs.get(&key).cloned()
            };
            let Some(spec) = spec else { continue };
            let pages = self
                .reader
                .children(spec.parent, spec.relation, &parents, &spec.args, &spec.columns)
                .await
                .map_err(|e| Arc::new(query_error(e)))?;
            out.extend(
                pages
                    .into_iter()
                    .map(|(parent, page)| ((key.clone(), parent), Arc::new(page))),
            );
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub records: DataLoader<RecordLoader>,
    pub children: DataLoader<ChildrenLoader>,
}

impl Loaders {
    pub fn new(reader: &Reader) -> Self {
        Loaders {
            records: DataLoader::new(
                RecordLoader {
                    reader: reader.clone(),
                },
                tokio::spawn,
            ),
            children: DataLoader::new(
                ChildrenLoader {
                    reader: reader.clone(),
                    specs: Mutex::default(),
                },
                tokio::spawn,
            ),
        }
    }
}
