//! The built-in webhook handlers: each fetches one resource from BigCommerce and writes
//! BigCommerce's current state through the action runtime, for one store. Each is a
//! global action in the `bigcommerce` namespace (`pullProduct`, ...), so it is also a
//! mutation that pulls a resource on demand and can run in the background; webhooks
//! enqueue the very same actions. Because each re-fetches, duplicate deliveries and
//! any delivery order end in BigCommerce's current state.

use crate::model::names;
use super::mapping::{self, id_of};
use super::metafields;
use super::{BigCommerce, StoreClient};
use crate::action::{ActionError, Api, Context, GlobalAction, GlobalActions, Param, ParamType};
use crate::query::Tenant;
use crate::query::sql::Sql;
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The store a handler acts for.
pub struct StoreRef {
    pub id: i64,
    pub hash: String,
    access_token: Option<String>,
}

/// The installed store an API acts for: the caller's own store, or, for the system,
/// the one named by `store_hash`. A caller without a store reaches none.
pub async fn resolve_store(api: &Api, store_hash: Option<&str>) -> Result<StoreRef, ActionError> {
    let tenant = api.caller.tenant;
    let model = api
        .registry
        .tenant_model
        .map(|m| api.registry.get(m))
        .ok_or_else(|| ActionError::InvalidInput("no store model is registered".into()))?;
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("SELECT t0.\"id\", t0.\"store_hash\", t0.\"access_token\" FROM \"bigcommerce_store\" t0 WHERE t0.\"state\" = ")
        .bind(super::stores::StoreState::Installed.as_str().into());
    match (tenant, store_hash) {
        (Tenant::None, _) => {
            return Err(ActionError::PermissionDenied(
                "this session belongs to no store".into(),
            ));
        }
        (Tenant::System, None) => {
            return Err(ActionError::InvalidInput(
                "storeHash is required without a store session".into(),
            ));
        }
        (Tenant::System, Some(hash)) => {
            sql.push(" AND t0.\"store_hash\" = ").bind(hash.to_owned().into());
        }
        (Tenant::Store(_), _) => {}
    }
    tenant.restrict(&mut sql, model, "t0", true);
    let row = api
        .db
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| match store_hash {
            Some(hash) => ActionError::NotFound(format!("no installed store with hash {hash}")),
            None => ActionError::NotFound("the session's store is not installed".into()),
        })?;
    let store = StoreRef {
        id: row.try_get_by_index(0)?,
        hash: row.try_get_by_index(1)?,
        access_token: row.try_get_by_index(2)?,
    };
    if let (Tenant::Store(_), Some(hash)) = (tenant, store_hash)
        && hash != store.hash
    {
        return Err(ActionError::PermissionDenied(
            "a store session may only act for its own store".into(),
        ));
    }
    Ok(store)
}

/// The REST client of a store. The one place that reads a store's access token.
/// Tokens are sealed at rest with `secret` (the gateway's).
pub fn store_client(
    bigcommerce: &BigCommerce,
    secret: &crate::auth::Secrets,
    store: &StoreRef,
) -> Result<StoreClient, ActionError> {
    let token = store
        .access_token
        .as_deref()
        .and_then(|stored| super::access_token::reveal(secret, stored))
        .ok_or_else(|| {
            ActionError::PermissionDenied(format!("store {} has no usable access token", store.hash))
        })?;
    Ok(bigcommerce.store(store.hash.clone(), token))
}

/// A BigCommerce failure as an action error (retried by the queue).
fn remote(e: super::Error) -> ActionError {
    ActionError::Remote(format!("BigCommerce: {e}"))
}

/// The local id of the record of `model` with this BigCommerce id in the store.
async fn local_id(
    api: &Api,
    model: &str,
    store: i64,
    bigcommerce_id: i64,
) -> Result<Option<i64>, ActionError> {
    Ok(
        local_ids(api, model, store, &[("bigcommerceId", bigcommerce_id.into())])
            .await?
            .pop(),
    )
}

/// `SELECT t0."id"[, t0.<also>] FROM <model's table> t0 WHERE` the store's rows, as the
/// caller may reach them: the start of every local lookup here.
fn store_rows<'a>(
    api: &'a Api,
    model: &str,
    store: i64,
    also: Option<&str>,
) -> Result<(Sql, &'a crate::model::Model), ActionError> {
    let model = api
        .registry
        .find(model)
        .ok_or_else(|| ActionError::InvalidInput(format!("no model {model}")))?;
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("SELECT t0.\"id\"");
    if let Some(field) = also {
        sql.push(", ").column("t0", column_of(model, field)?);
    }
    sql.push(" FROM ").ident(&model.table).push(" t0 WHERE 1=1");
    api.caller
        .tenant
        .narrowed_to(store)
        .restrict(&mut sql, model, "t0", true);
    Ok((sql, model))
}

/// The column of `model`'s field `field`.
fn column_of<'m>(model: &'m crate::model::Model, field: &str) -> Result<&'m str, ActionError> {
    let f = model
        .field(field)
        .ok_or_else(|| ActionError::InvalidInput(format!("no field {field}")))?;
    Ok(&model.fields[f].column)
}

/// The local ids of the store's records of `model` whose fields equal these values.
async fn local_ids(
    api: &Api,
    model: &str,
    store: i64,
    equal: &[(&str, sea_orm::Value)],
) -> Result<Vec<i64>, ActionError> {
    let (mut sql, model) = store_rows(api, model, store, None)?;
    for (field, value) in equal {
        sql.push(" AND ")
            .column("t0", column_of(model, field)?)
            .push(" = ")
            .bind(value.clone());
    }
    let rows = api.db.query_all_raw(sql.build()).await?;
    Ok(rows.iter().filter_map(|r| r.try_get_by_index(0).ok()).collect())
}

/// The local ids of the store's records of `model` by BigCommerce id, for those stored.
async fn local_ids_by_bigcommerce_id(
    api: &Api,
    model: &str,
    store: i64,
    bigcommerce_ids: &[i64],
) -> Result<HashMap<i64, i64>, ActionError> {
    let (mut sql, model) = store_rows(api, model, store, Some("bigcommerceId"))?;
    sql.push(" AND ")
        .column("t0", column_of(model, "bigcommerceId")?)
        .push(" IN (");
    for (i, id) in bigcommerce_ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind((*id).into());
    }
    sql.push(")");
    let rows = api.db.query_all_raw(sql.build()).await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.try_get_by_index(1).ok()?, r.try_get_by_index(0).ok()?)))
        .collect())
}

/// The BigCommerce ids of a stored product's variants.
async fn variant_ids(api: &Api, store: i64, product: i64) -> Result<Vec<i64>, ActionError> {
    let model = api
        .registry
        .find(names::PRODUCT_VARIANT)
        .ok_or_else(|| ActionError::InvalidInput(format!("no model {}", names::PRODUCT_VARIANT)))?;
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("SELECT t0.\"bigcommerce_id\" FROM ")
        .ident(&model.table)
        .push(" t0 WHERE t0.\"product_id\" = ")
        .bind(product.into());
    api.caller
        .tenant
        .narrowed_to(store)
        .restrict(&mut sql, model, "t0", false);
    let rows = api.db.query_all_raw(sql.build()).await?;
    Ok(rows.iter().filter_map(|r| r.try_get_by_index(0).ok()).collect())
}

/// The BigCommerce id of the product of a stored variant.
async fn product_of_variant(api: &Api, store: i64, variant: i64) -> Result<Option<i64>, ActionError> {
    let find = |name: &str| {
        api.registry
            .find(name)
            .ok_or_else(|| ActionError::InvalidInput(format!("no model {name}")))
    };
    let (variants, products) = (find(names::PRODUCT_VARIANT)?, find(names::PRODUCT)?);
    let mut sql = Sql::new(api.db.get_database_backend());
    sql.push("SELECT t1.\"bigcommerce_id\" FROM ")
        .ident(&variants.table)
        .push(" t0 JOIN ")
        .ident(&products.table)
        .push(" t1 ON t1.\"id\" = t0.\"product_id\" WHERE t0.\"bigcommerce_id\" = ")
        .bind(variant.into());
    api.caller
        .tenant
        .narrowed_to(store)
        .restrict(&mut sql, variants, "t0", true);
    let row = api.db.query_one_raw(sql.build()).await?;
    Ok(row.and_then(|r| r.try_get_by_index(0).ok()))
}

/// Upsert on `["bigcommerceId", "store"]`, or delete when BigCommerce no longer has it
/// (and its metafields, which BigCommerce dropped with it without a webhook).
async fn write(
    api: &Api,
    model: &str,
    store: &StoreRef,
    bigcommerce_id: i64,
    fetched: Option<Map<String, Json>>,
) -> Result<Json, ActionError> {
    match fetched {
        Some(mut input) => {
            input.insert("bigcommerceId".into(), json!(bigcommerce_id));
            input.insert("store".into(), json!({"_link": store.id}));
            let (record, _) = api
                .model(model)
                .upsert(Json::Object(input), &["bigcommerceId", "store"])
                .await?;
            Ok(json!({"id": record.id(), "deleted": false}))
        }
        None => {
            if let Some(id) = local_id(api, model, store.id, bigcommerce_id).await? {
                api.model(model).delete(id).await?;
            }
            if let Some(owner) = metafields::owner_type(model) {
                metafields::delete_of(api, store.id, owner, &[bigcommerce_id]).await?;
            }
            Ok(json!({"id": null, "deleted": true}))
        }
    }
}

/// The most products one batched pull asks BigCommerce for. Its listings take 250; 50
/// keeps each batch's write short. In `cargo bench --bench webhooks` (PostgreSQL, a burst
/// from 16 senders) a delivery's data was stored 0.1 s after it at the median with 50 and
/// 0.13 s with 250, against 0.6–0.8 s with 10 and 5–6.5 s one at a time.
pub(crate) const PULL_BATCH: usize = 50;

/// `pullProduct` for many products of the caller's store at once, as the queue runs
/// webhook pulls that wait together: one listing request (`id:in`) and the sync's bulk
/// writes, where one pull each made a request and a transaction of its own. The answer
/// is each id's own result, as its `pullProduct` would have given it. Products that
/// BigCommerce no longer has, and any that the bulk write refused, are pulled alone,
/// which deletes them or reports their own error.
pub(crate) async fn pull_products(api: &Api, ids: &[i64]) -> Result<Vec<(i64, Result<Json, ActionError>)>, ActionError> {
    api.check_global(Some("bigcommerce"), "pullProduct")?;
    let platform = api
        .platform
        .as_ref()
        .ok_or_else(|| ActionError::InvalidInput("no BigCommerce client is configured".into()))?;
    let store = resolve_store(api, None).await?;
    let api = api.within_store(store.id);
    let client = store_client(&platform.bigcommerce, &platform.secrets, &store)?;
    let listed = client
        .v3()
        .get("/catalog/products")
        .query(
            "id:in",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        )
        .query("include", ["variants", "custom_fields"])
        .query("limit", PULL_BATCH)
        .send()
        .await
        .map_err(remote)?;
    // Only what was asked for is written, whatever the answer holds.
    let items: Vec<Json> = match listed {
        Some(Json::Array(items)) => items
            .into_iter()
            .filter(|p| p.get("id").and_then(id_of).is_some_and(|id| ids.contains(&id)))
            .collect(),
        _ => Vec::new(),
    };
    let page = crate::bigcommerce::sync::FetchedPage {
        items,
        lines: Vec::new(),
        next: Default::default(),
        end: true,
        total: None,
        shifted: false,
    };
    let tally =
        crate::bigcommerce::sync::write_page(&api, store.id, crate::bigcommerce::sync::Resource::Products, &page)
            .await?;
    // Which record the bulk write refused, it does not say: then every one goes alone.
    let refused = tally.values().any(|counters| counters.failed > 0);
    let listed: Vec<i64> = page
        .items
        .iter()
        .filter_map(|p| p.get("id").and_then(id_of))
        .collect();
    let written = match refused || listed.is_empty() {
        true => HashMap::new(),
        false => local_ids_by_bigcommerce_id(&api, names::PRODUCT, store.id, &listed).await?,
    };
    let mut answers = Vec::with_capacity(ids.len());
    for &id in ids {
        let answer = match written.get(&id) {
            Some(local) => Ok(json!({"id": local, "deleted": false})),
            // Gone from BigCommerce, or refused by the bulk write: alone, as a webhook's
            // pull would have run it.
            None => api.run_global("bigcommerce/pullProduct", json!({"bigcommerceId": id})).await,
        };
        answers.push((id, answer));
    }
    Ok(answers)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullParams {
    bigcommerce_id: Json,
    store_hash: Option<String>,
}

fn pull_params() -> Vec<Param> {
    vec![
        Param::required("bigcommerceId", ParamType::Number),
        Param::optional("storeHash", ParamType::String),
    ]
}

/// Which resource a pull action fetches.
#[derive(Clone, Copy)]
enum Resource {
    Product,
    Category,
    Brand,
    Customer,
    Order,
}

/// `pullProduct`, `pullCategory`, ...: fetch one resource and write it (or delete it).
pub struct Pull {
    bigcommerce: BigCommerce,
    secret: Arc<crate::auth::Secrets>,
    resource: Resource,
}

impl GlobalAction for Pull {
    type Params = PullParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        match self.resource {
            Resource::Product => "pullProduct",
            Resource::Category => "pullCategory",
            Resource::Brand => "pullBrand",
            Resource::Customer => "pullCustomer",
            Resource::Order => "pullOrder",
        }
    }

    fn params(&self) -> Vec<Param> {
        pull_params()
    }

    async fn run(&self, ctx: &Context, params: PullParams) -> Result<Json, ActionError> {
        let api = ctx.api();
        let bc_id = id_of(&params.bigcommerce_id)
            .ok_or_else(|| ActionError::InvalidInput("bigcommerceId must be a number".into()))?;
        let store = resolve_store(api, params.store_hash.as_deref()).await?;
        let api = api.within_store(store.id);
        let client = store_client(&self.bigcommerce, &self.secret, &store)?;
        match self.resource {
            Resource::Product => {
                let product = client
                    .v3()
                    .get("/catalog/products/{id}")
                    .path_param("id", bc_id)
                    .query("include", ["variants", "custom_fields"])
                    .send()
                    .await
                    .map_err(remote)?;
                let mut kept = std::collections::HashSet::new();
                let input = product.map(|p| {
                    let (mut input, variants) = mapping::product(&p);
                    kept.extend(variants.iter().filter_map(|v| v.get("bigcommerceId").and_then(id_of)));
                    let variants: Vec<Json> = variants.into_iter().map(Json::Object).collect();
                    input.insert("variants".into(), json!([{"_converge": {"values": variants}}]));
                    input
                });
                let local = local_id(&api, names::PRODUCT, store.id, bc_id).await?;
                let before = match local {
                    Some(id) => variant_ids(&api, store.id, id).await?,
                    None => Vec::new(),
                };
                if input.is_none()
                    && let Some(id) = local
                {
                    // Its variants go first: they belong to it.
                    let empty = json!({"variants": [{"_converge": {"values": []}}]});
                    api.model(names::PRODUCT).update(id, empty).await?;
                }
                let written = write(&api, names::PRODUCT, &store, bc_id, input).await?;
                // The metafields of the variants it no longer has went with them.
                let gone: Vec<i64> = before.into_iter().filter(|v| !kept.contains(v)).collect();
                metafields::delete_of(&api, store.id, "variant", &gone).await?;
                Ok(written)
            }
            Resource::Category | Resource::Brand => {
                let (path, model) = match self.resource {
                    Resource::Category => ("/catalog/categories/{id}", names::CATEGORY),
                    _ => ("/catalog/brands/{id}", names::BRAND),
                };
                let fetched = client
                    .v3()
                    .get(path)
                    .path_param("id", bc_id)
                    .send()
                    .await
                    .map_err(remote)?;
                let input = fetched.map(|c| match self.resource {
                    Resource::Brand => mapping::brand(&c),
                    _ => mapping::category(&c),
                });
                write(&api, model, &store, bc_id, input).await
            }
            Resource::Customer => {
                let found = client
                    .v3()
                    .get("/customers")
                    .query("id:in", bc_id)
                    .send()
                    .await
                    .map_err(remote)?;
                let customer = found
                    .and_then(|list| list.as_array().and_then(|l| l.first().cloned()))
                    .filter(|c| c.get("id").and_then(id_of) == Some(bc_id));
                let input = customer.map(|c| mapping::customer(&c));
                write(&api, names::CUSTOMER, &store, bc_id, input).await
            }
            Resource::Order => {
                // Its lines come with it, in its consignments: one request, not two.
                let order = client
                    .v2()
                    .get("/orders/{id}")
                    .path_param("id", bc_id)
                    .query("include", "consignments.line_items")
                    .query("consignment_structure", "object")
                    .send()
                    .await
                    .map_err(remote)?;
                let Some(mut order) = order else {
                    return write(&api, names::ORDER, &store, bc_id, None).await;
                };
                let products = match mapping::take_consignment_lines(&mut order) {
                    Some(lines) => lines,
                    None => {
                        use futures::TryStreamExt;
                        client
                            .v2()
                            .list("/orders/{id}/products")
                            .path_param("id", bc_id)
                            .items()
                            .try_collect::<Vec<Json>>()
                            .await
                            .map_err(remote)?
                    }
                };
                let mut input = mapping::order(&order);
                let lines: Vec<Json> = products
                    .iter()
                    .map(|p| Json::Object(mapping::order_product(p)))
                    .collect();
                input.insert("orderProducts".into(), json!([{"_converge": {"values": lines}}]));
                write(&api, names::ORDER, &store, bc_id, Some(input)).await
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldParams {
    bigcommerce_id: Json,
    resource_type: String,
    resource_id: Json,
    store_hash: Option<String>,
}

/// `pullMetafield`: a metafield of a product, variant, category, brand, customer or order.
pub struct PullMetafield {
    bigcommerce: BigCommerce,
    secret: Arc<crate::auth::Secrets>,
}

impl GlobalAction for PullMetafield {
    type Params = MetafieldParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        "pullMetafield"
    }

    fn params(&self) -> Vec<Param> {
        vec![
            Param::required("bigcommerceId", ParamType::Number),
            Param::required("resourceType", ParamType::String),
            Param::required("resourceId", ParamType::Number),
            Param::optional("storeHash", ParamType::String),
        ]
    }

    async fn run(&self, ctx: &Context, params: MetafieldParams) -> Result<Json, ActionError> {
        let api = ctx.api();
        let (Some(bc_id), Some(resource_id)) = (id_of(&params.bigcommerce_id), id_of(&params.resource_id))
        else {
            return Err(ActionError::InvalidInput(
                "bigcommerceId and resourceId must be numbers".into(),
            ));
        };
        let store = resolve_store(api, params.store_hash.as_deref()).await?;
        let api = api.within_store(store.id);
        let client = store_client(&self.bigcommerce, &self.secret, &store)?;
        let resource_type = params.resource_type.as_str();
        let path = match resource_type {
            "product" => format!("/catalog/products/{resource_id}/metafields/{bc_id}"),
            "variant" => {
                // The product id is in the path "for consistency" only: BigCommerce
                // answers for any. The stored one when there is one.
                let product = product_of_variant(&api, store.id, resource_id)
                    .await?
                    .unwrap_or(0);
                format!("/catalog/products/{product}/variants/{resource_id}/metafields/{bc_id}")
            }
            "category" => format!("/catalog/categories/{resource_id}/metafields/{bc_id}"),
            "brand" => format!("/catalog/brands/{resource_id}/metafields/{bc_id}"),
            "customer" => format!("/customers/{resource_id}/metafields/{bc_id}"),
            "order" => format!("/orders/{resource_id}/metafields/{bc_id}"),
            other => {
                return Err(ActionError::InvalidInput(format!(
                    "metafields of a {other} are not pulled: only of a product, variant, \
                     category, brand, customer or order"
                )));
            }
        };
        let fetched = client.v3().get(&path).send().await.map_err(remote)?;
        let input = fetched.map(|m| {
            let mut input = mapping::metafield(&m);
            input.entry("resourceType").or_insert_with(|| json!(resource_type));
            input.entry("resourceId").or_insert_with(|| json!(resource_id));
            input
        });
        write(&api, names::METAFIELD, &store, bc_id, input).await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallParams {
    store_hash: Option<String>,
}

/// `uninstallStore` (`store/app/uninstalled`): the store is marked uninstalled and its
/// token forgotten; its data stays.
pub struct UninstallStore;

impl GlobalAction for UninstallStore {
    type Params = UninstallParams;

    fn namespace(&self) -> Option<&'static str> {
        Some("bigcommerce")
    }

    fn name(&self) -> &'static str {
        "uninstallStore"
    }

    fn params(&self) -> Vec<Param> {
        vec![Param::optional("storeHash", ParamType::String)]
    }

    /// Only BigCommerce uninstalls a store: its webhook runs this, never a caller.
    fn internal(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context, params: UninstallParams) -> Result<Json, ActionError> {
        let api = ctx.api();
        let store = resolve_store(api, params.store_hash.as_deref()).await?;
        super::lifecycle::uninstall(api, store.id).await?;
        Ok(json!({"storeHash": store.hash}))
    }
}

/// The built-in handlers, talking to BigCommerce through `bigcommerce`.
pub fn register(
    globals: GlobalActions,
    bigcommerce: &BigCommerce,
    secret: &Arc<crate::auth::Secrets>,
) -> GlobalActions {
    let pull = |resource| Pull {
        bigcommerce: bigcommerce.clone(),
        secret: secret.clone(),
        resource,
    };
    globals
        .register(pull(Resource::Product))
        .register(pull(Resource::Category))
        .register(pull(Resource::Brand))
        .register(pull(Resource::Customer))
        .register(pull(Resource::Order))
        .register(PullMetafield {
            bigcommerce: bigcommerce.clone(),
            secret: secret.clone(),
        })
        .register(UninstallStore)
}
