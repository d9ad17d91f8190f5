//! Metafields go with what they belong to. BigCommerce drops a resource's metafields with
//! the resource and sends no webhook for them, so whatever deletes a resource locally (a
//! pull that found it gone, a sync's reconciliation) deletes its metafields too.

use crate::action::{ActionError, Api};
use crate::model::names;
use crate::query::sql::Sql;
use sea_orm::ConnectionTrait;

/// Resource ids per statement: far below every database's limit on bound parameters.
const CHUNK: usize = 500;

/// BigCommerce's `resource_type` for the metafields of a model's records, if they have any.
pub fn owner_type(model: &str) -> Option<&'static str> {
    match model {
        names::PRODUCT => Some("product"),
        names::PRODUCT_VARIANT => Some("variant"),
        names::CATEGORY => Some("category"),
        names::BRAND => Some("brand"),
        names::CUSTOMER => Some("customer"),
        names::ORDER => Some("order"),
        _ => None,
    }
}

/// Delete the store's metafields of the `resource_type` resources with these BigCommerce
/// ids, through the action runtime. Returns how many went.
pub async fn delete_of(
    api: &Api,
    store: i64,
    resource_type: &str,
    resource_ids: &[i64],
) -> Result<u64, ActionError> {
    let model = api
        .registry
        .find(names::METAFIELD)
        .ok_or_else(|| ActionError::InvalidInput(format!("no model {}", names::METAFIELD)))?;
    let tenant = api.caller.tenant.narrowed_to(store);
    let mut deleted = 0;
    for chunk in resource_ids.chunks(CHUNK) {
        let mut sql = Sql::new(api.db.get_database_backend());
        sql.push("SELECT t0.\"id\" FROM ")
            .ident(&model.table)
            .push(" t0 WHERE t0.\"resource_type\" = ")
            .bind(resource_type.to_owned().into());
        tenant.restrict(&mut sql, model, "t0", true);
        sql.push(" AND t0.\"resource_id\" IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind((*id).into());
        }
        sql.push(")");
        let rows = api.db.query_all_raw(sql.build()).await?;
        let ids: Vec<i64> = rows.iter().filter_map(|r| r.try_get_by_index(0).ok()).collect();
        for result in api.model(names::METAFIELD).bulk_delete(ids).await {
            match result {
                Ok(()) => deleted += 1,
                // Deleted meanwhile (say, by a webhook): what we wanted.
                Err(ActionError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}
