//! The `bigcommerce` namespace: a copy of each merchant store's data.

pub mod brand;
pub mod category;
pub mod customer;
pub mod metafield;
pub mod order;
pub mod order_product;
pub mod product;
pub mod product_variant;
pub mod store;
pub mod sync;
