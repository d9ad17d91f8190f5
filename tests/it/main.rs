//! The integration tests, one module per area.

mod bigcommerce_client;
