//! The integration tests: one binary, one module per area.

mod auth;
mod bad_input;
mod bigcommerce_client;
mod browser;
mod filters;
mod read_api;
mod schema;
mod single_click;
mod support;
mod tenancy;
mod write_api;
