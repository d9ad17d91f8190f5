//! The integration tests: one binary, one module per area.

mod auth;
mod background_api;
mod bad_input;
mod bigcommerce_client;
mod browser;
mod filters;
mod limits;
mod queue;
mod read_api;
mod schema;
mod single_click;
mod support;
mod sync;
mod tenancy;
mod webhooks;
mod write_api;
