//! Every schema change of bcgraph, numbered. A migration, once released, is never edited:
//! change the schema with a new one.

pub use sea_orm_migration::prelude::*;

mod m0001_bigcommerce_models;
mod m0002_auth;
mod m0003_tenant_indexes;
mod m0004_queue;
mod m0005_sync;
mod m0006_authorization;
mod m0007_credentials;
mod m0008_retention;
mod m0009_metafield_owners;
mod m0010_claim_order;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_bigcommerce_models::Migration),
            Box::new(m0002_auth::Migration),
            Box::new(m0003_tenant_indexes::Migration),
            Box::new(m0004_queue::Migration),
            Box::new(m0005_sync::Migration),
            Box::new(m0006_authorization::Migration),
            Box::new(m0007_credentials::Migration),
            Box::new(m0008_retention::Migration),
            Box::new(m0009_metafield_owners::Migration),
            Box::new(m0010_claim_order::Migration),
        ]
    }
}
