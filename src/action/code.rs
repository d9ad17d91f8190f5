//! The contract's error codes: `extensions.code` of a GraphQL error, `code` of an action
//! result's errors and of a background action's failure. Every `GGT_*` code the gateway
//! answers with is spelled here and nowhere else. It lives with the runtime's errors,
//! which know no GraphQL; `graphql/errors.rs` turns them into GraphQL errors.

use std::fmt;
use std::str::FromStr;

/// An error code of the contract: `extensions.code` of a GraphQL error, and `code` of
/// an action result's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The record is not valid; the per-field messages come with it.
    InvalidRecord,
    /// No such record, or not one the caller may see.
    RecordNotFound,
    /// The caller's grants or store do not allow it.
    PermissionDenied,
    /// The document, a filter, a sort or an id is not acceptable.
    InvalidQueryInput,
    /// An action's input is not shaped like its parameters.
    InvalidActionInput,
    /// Part of the contract; nothing here produces it, but a stored result may carry it.
    NonUniqueData,
    /// A background action with this id exists already.
    DuplicateBackgroundActionId,
    /// The background action was cancelled.
    BackgroundActionCancelled,
    /// Over a quota or a rate limit; the caller may try again later.
    TooManyRequests,
    /// Anything the caller cannot fix; the details stay in the logs.
    InternalError,
    /// The database is unreachable for now (not one of Gadget's codes: bcgraph's own, so
    /// that clients can tell an outage, worth retrying as it is, from an internal error).
    Unavailable,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 11] = [
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
        ErrorCode::Unavailable,
    ];

    /// `GGT_...`, as the wire spells it.
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
            ErrorCode::Unavailable => "GGT_UNAVAILABLE",
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

