//! The contract's error codes, and how each layer's errors map onto them.

use crate::query::QueryError;
use async_graphql::ErrorExtensions;

pub const INVALID_QUERY_INPUT: &str = "GGT_INVALID_QUERY_INPUT";
pub const INTERNAL_ERROR: &str = "GGT_INTERNAL_ERROR";

/// A GraphQL error carrying a Gadget error code in `extensions.code`.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// The GraphQL error for a failed read.
pub fn query_error(err: QueryError) -> async_graphql::Error {
    match err {
        QueryError::InvalidInput(msg) => coded(INVALID_QUERY_INPUT, msg),
        QueryError::Database(db) => {
            // The caller learns that something failed, never the SQL.
            tracing::error!(error = %db, "database error while reading");
            coded(INTERNAL_ERROR, "internal error while reading data")
        }
    }
}

pub const TOO_MANY_REQUESTS: &str = "GGT_TOO_MANY_REQUESTS";

/// A response refused as a whole: `data: null` and this one error.
pub fn refusal(code: &'static str, message: &str) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    async_graphql::Response::from_errors(vec![error])
}
