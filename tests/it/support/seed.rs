//! Rows written straight into the database for read tests.

use chrono::{DateTime, TimeZone, Utc};
use entity::bigcommerce::{product, product_variant, store};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde_json::Value;

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 0)
        .single()
        .expect("valid time")
}

/// An installed store whose token (`secret-token`) is sealed with the test gateways' secret.
pub async fn store(db: &DatabaseConnection, hash: &str) -> i64 {
    store::ActiveModel {
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        store_hash: Set(hash.to_owned()),
        state: Set("installed".to_owned()),
        access_token: Set(Some(bcgraph::bigcommerce::access_token::seal(
            &super::secrets(),
            "secret-token",
        ))),
        scopes: Set(Some(serde_json::json!(["store_v2_products"]))),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert store")
    .id
}

/// A product; `with` adjusts it before insertion.
pub async fn product(
    db: &DatabaseConnection,
    store_id: i64,
    bigcommerce_id: i64,
    name: &str,
    with: impl FnOnce(&mut product::ActiveModel),
) -> i64 {
    let mut p = product::ActiveModel {
        created_at: Set(at(bigcommerce_id)),
        updated_at: Set(at(bigcommerce_id)),
        bigcommerce_id: Set(bigcommerce_id),
        name: Set(Some(name.to_owned())),
        store_id: Set(store_id),
        raw: Set(Some(serde_json::json!({"id": bigcommerce_id, "name": name}))),
        ..Default::default()
    };
    with(&mut p);
    p.insert(db).await.expect("insert product").id
}

pub async fn variant(
    db: &DatabaseConnection,
    store_id: i64,
    product_id: i64,
    bigcommerce_id: i64,
    sku: &str,
) -> i64 {
    product_variant::ActiveModel {
        created_at: Set(at(bigcommerce_id)),
        updated_at: Set(at(bigcommerce_id)),
        bigcommerce_id: Set(bigcommerce_id),
        sku: Set(Some(sku.to_owned())),
        product_id: Set(Some(product_id)),
        store_id: Set(store_id),
        raw: Set(Some(Value::Null)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert variant")
    .id
}
