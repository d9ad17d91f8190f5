//! SeaORM entities, one module per namespace and one file per model.
//!
//! Each file is the single description of its table: the model registry in the
//! `bcgraph` crate reads columns, types and relations from these entities.

pub mod bigcommerce;
pub mod internal;
