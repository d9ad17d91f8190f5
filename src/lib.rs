//! bcgraph: a self-hosted backend for BigCommerce apps.

pub mod bigcommerce;
