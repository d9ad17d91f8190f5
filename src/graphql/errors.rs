//! How each layer's errors become GraphQL errors with the contract's codes
//! ([`ErrorCode`], spelled in `action/code.rs` and nowhere else).

use crate::query::QueryError;
use async_graphql::ErrorExtensions;
pub use crate::action::ErrorCode;

// The codes other modules name by constant.
pub const INVALID_QUERY_INPUT: ErrorCode = ErrorCode::InvalidQueryInput;
pub const INTERNAL_ERROR: ErrorCode = ErrorCode::InternalError;
pub const TOO_MANY_REQUESTS: ErrorCode = ErrorCode::TooManyRequests;
pub const UNAVAILABLE: ErrorCode = ErrorCode::Unavailable;

/// A GraphQL error carrying a Gadget error code in `extensions.code`.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// The GraphQL error for a failed read.
pub fn query_error(err: QueryError) -> async_graphql::Error {
    match err {
        QueryError::InvalidInput(msg) => coded(INVALID_QUERY_INPUT, msg),
        QueryError::Database(db) if crate::db::is_unavailable(&db) => {
            tracing::warn!(error = %db, "the database is unavailable to a read");
            coded(UNAVAILABLE, crate::action::UNAVAILABLE_MESSAGE)
        }
        QueryError::Database(db) => {
            // The caller learns that something failed, never the SQL.
            tracing::error!(error = %db, "database error while reading");
            coded(INTERNAL_ERROR, "internal error while reading data")
        }
    }
}

/// Did `response` fail (wholly or in part) because the database is away? Its HTTP
/// answer is then a 503 the client may retry.
pub fn is_unavailable(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| matches!(code, async_graphql::Value::String(s) if s == UNAVAILABLE.as_str()))
    })
}

/// A response refused as a whole: `data: null` and this one error.
pub fn refusal(code: ErrorCode, message: &str) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    async_graphql::Response::from_errors(vec![error])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::UnknownCode;

    #[test]
    fn every_code_reads_back_as_written() {
        for code in ErrorCode::ALL {
            assert!(code.as_str().starts_with("GGT_"), "{code}");
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(code == code.as_str() && code.as_str() == code);
        }
        assert_eq!(
            "GGT_SOMETHING_ELSE".parse::<ErrorCode>(),
            Err(UnknownCode("GGT_SOMETHING_ELSE".into()))
        );
    }
}
