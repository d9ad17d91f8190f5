//! The gateway's secret: from `BCGRAPH_SECRET`, or generated once and kept.

use entity::internal::setting;
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

const KEY: &str = "secret";

pub async fn load_or_create(db: &DatabaseConnection, configured: Option<&str>) -> Result<Vec<u8>, DbErr> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    if let Some(row) = setting::Entity::find_by_id(KEY).one(db).await? {
        return Ok(row.value.into_bytes());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let generated: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Several processes may start at once: the first one's secret wins.
    setting::Entity::insert(setting::ActiveModel {
        key: Set(KEY.to_owned()),
        value: Set(generated),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    tracing::warn!("BCGRAPH_SECRET is not set: using a generated secret kept in the database");
    let row = setting::Entity::find_by_id(KEY)
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotFound(KEY.into()))?;
    Ok(row.value.into_bytes())
}
