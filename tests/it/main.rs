//! The integration tests: one binary, one module per area.

mod auth;
mod authorization;
mod background_api;
mod bad_input;
mod bigcommerce_client;
mod browser;
mod client_package;
mod filters;
mod guide;
mod limits;
mod live;
mod ownership;
mod properties;
mod queue;
mod quotas;
mod read_api;
mod revalidate;
mod schema;
mod secret_rotation;
mod sessions;
mod signed_payloads;
mod single_click;
mod support;
mod sync;
mod webhooks;
mod write_api;
