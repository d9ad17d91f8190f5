//! bcgraph: a self-hosted backend for BigCommerce apps. It keeps a copy of each
//! merchant's store data and serves it through a GraphQL API generated from the
//! SeaORM entities, wire-compatible with Gadget's JavaScript client.

pub mod action;
mod app;
pub mod auth;
pub mod bigcommerce;
pub mod callbacks;
mod cli;
pub mod config;
pub mod db;
pub mod graphql;
pub mod model;
pub mod query;
pub mod queue;
pub mod server;

pub use action::{
    ActionError, Api, BigCommerceConnection, Change, Context, CurrentStore, Done, GlobalAction, ModelHook,
    Param, ParamType, Trigger, Verb,
};
pub use app::{App, AppError, Gateway};
/// bcgraph's own SeaORM entities: an app's entity refers to them in its relations
/// (`belongs_to = "bcgraph::entity::bigcommerce::store::Entity"`).
pub use entity;
/// bcgraph's migrations, for an app whose own migrations refer to them.
pub use migration;
pub use model::{Declaration, ExtraField, names};
