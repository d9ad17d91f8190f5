//! bcgraph: a self-hosted backend for BigCommerce apps. It keeps a copy of each
//! merchant's store data and serves it through a GraphQL API generated from the
//! SeaORM entities, wire-compatible with Gadget's JavaScript client.

pub mod action;
pub mod auth;
pub mod bigcommerce;
pub mod callbacks;
pub mod config;
pub mod db;
pub mod graphql;
pub mod model;
pub mod query;
pub mod queue;
pub mod server;
