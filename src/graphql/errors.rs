//! The contract's error codes ([`ErrorCode`]), and how each layer's errors map onto them.
//! Every `GGT_*` code the gateway answers with is spelled here and nowhere else.

use crate::query::QueryError;
use async_graphql::ErrorExtensions;
use std::fmt;
use std::str::FromStr;

/// An error code of the contract: `extensions.code` of a GraphQL error, and `code` of
/// an action result's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The record is not valid; the per-field messages come with it.
    InvalidRecord,
    RecordNotFound,
    PermissionDenied,
    /// The document, a filter, a sort or an id is not acceptable.
    InvalidQueryInput,
    /// An action's input is not shaped like its parameters.
    InvalidActionInput,
    /// Part of the contract; nothing here produces it, but a stored result may carry it.
    NonUniqueData,
    DuplicateBackgroundActionId,
    BackgroundActionCancelled,
    /// Over a quota or a rate limit; the caller may try again later.
    TooManyRequests,
    /// Anything the caller cannot fix; the details stay in the logs.
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::InvalidRecord,
        ErrorCode::RecordNotFound,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidQueryInput,
        ErrorCode::InvalidActionInput,
        ErrorCode::NonUniqueData,
        ErrorCode::DuplicateBackgroundActionId,
        ErrorCode::BackgroundActionCancelled,
        ErrorCode::TooManyRequests,
        ErrorCode::InternalError,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRecord => "GGT_INVALID_RECORD",
            ErrorCode::RecordNotFound => "GGT_RECORD_NOT_FOUND",
            ErrorCode::PermissionDenied => "GGT_PERMISSION_DENIED",
            ErrorCode::InvalidQueryInput => "GGT_INVALID_QUERY_INPUT",
            ErrorCode::InvalidActionInput => "GGT_INVALID_ACTION_INPUT",
            ErrorCode::NonUniqueData => "GGT_NON_UNIQUE_DATA",
            ErrorCode::DuplicateBackgroundActionId => "GGT_DUPLICATE_BACKGROUND_ACTION_ID",
            ErrorCode::BackgroundActionCancelled => "GGT_BACKGROUND_ACTION_CANCELLED",
            ErrorCode::TooManyRequests => "GGT_TOO_MANY_REQUESTS",
            ErrorCode::InternalError => "GGT_INTERNAL_ERROR",
        }
    }
}

/// A code the contract does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an error code of the contract")]
pub struct UnknownCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(text: &str) -> Result<ErrorCode, UnknownCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| UnknownCode(text.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code reads as its string wherever one is expected (JSON, comparisons in tests).
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

// The codes other modules name by constant.
pub const INVALID_QUERY_INPUT: ErrorCode = ErrorCode::InvalidQueryInput;
pub const INTERNAL_ERROR: ErrorCode = ErrorCode::InternalError;
pub const TOO_MANY_REQUESTS: ErrorCode = ErrorCode::TooManyRequests;

/// A GraphQL error carrying a Gadget error code in `extensions.code`.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
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
