//! Signed payloads already used where one use is all a payload gets (the uninstall and
//! remove-user callbacks), remembered until they expire.

use chrono::{DateTime, Utc};
use entity::internal::used_payload;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set, TryInsertResult};

/// Record a use of the payload named `key`; `false` if it was used before. One
/// statement, so two concurrent uses cannot both be the first.
pub async fn first_use(db: &DatabaseConnection, key: &str, expires_at: DateTime<Utc>) -> Result<bool, DbErr> {
    let inserted = used_payload::Entity::insert(used_payload::ActiveModel {
        key: Set(key.to_owned()),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing_on([used_payload::Column::Key])
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}
