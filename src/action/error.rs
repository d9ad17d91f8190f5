//! What can go wrong in an action, with the contract's error codes.

use super::code::ErrorCode;
use crate::query::QueryError;
use sea_orm::{DbErr, SqlErr};

/// What a caller reads when the database is away.
pub(crate) const UNAVAILABLE_MESSAGE: &str = "the database is unavailable; try again shortly";

/// A validation failure of one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field, by api identifier (`price`).
    pub api_id: String,
    /// What is wrong with it (`must not be negative`).
    pub message: String,
}

impl FieldError {
    /// A failure of `api_id`.
    pub fn new(api_id: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            api_id: api_id.into(),
            message: message.into(),
        }
    }
}

/// Why an action failed. Each kind answers its contract error code ([`ActionError::code`]);
/// `Remote` and `Busy` failures of a background action are retried, the others are not.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ActionError {
    /// The record is not valid; nothing was written.
    #[error("{model} is invalid: {}", .errors.iter().map(|e| format!("{} {}", e.api_id, e.message)).collect::<Vec<_>>().join(", "))]
    InvalidRecord {
        /// The model's api identifier.
        model: String,
        /// Each field's failure.
        errors: Vec<FieldError>,
    },
    /// No such record, or not one the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The caller's grants or store do not allow it.
    #[error("{0}")]
    PermissionDenied(String),
    /// The input is not shaped like the action's input.
    #[error("{0}")]
    InvalidInput(String),
    /// A background action with this id exists already.
    #[error("a background action with id `{0}` exists already")]
    DuplicateBackgroundAction(String),
    /// The database failed; callers see only "internal error".
    #[error("database error: {0}")]
    Database(DbErr),
    /// A service the action called failed (BigCommerce answered an error, or not at all).
    /// Its message is shown: it is about the caller's own store, never our internals.
    #[error("{0}")]
    Remote(String),
    /// Over a quota; the caller may try again later.
    #[error("{0}")]
    TooManyRequests(String),
    /// Something else holds what the action needs for now (a sync another process
    /// runs): worth trying again later.
    #[error("{0}")]
    Busy(String),
}

impl ActionError {
    /// The contract's error code (`GGT_INVALID_RECORD`, ...).
    pub fn code(&self) -> ErrorCode {
        match self {
            ActionError::InvalidRecord { .. } => ErrorCode::InvalidRecord,
            ActionError::NotFound(_) => ErrorCode::RecordNotFound,
            ActionError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ActionError::InvalidInput(_) => ErrorCode::InvalidActionInput,
            ActionError::DuplicateBackgroundAction(_) => ErrorCode::DuplicateBackgroundActionId,
            ActionError::TooManyRequests(_) => ErrorCode::TooManyRequests,
            ActionError::Database(e) if crate::db::is_unavailable(e) => ErrorCode::Unavailable,
            ActionError::Database(_) | ActionError::Remote(_) | ActionError::Busy(_) => {
                ErrorCode::InternalError
            }
        }
    }

    /// Can trying again succeed? A missing record, a refusal or bad input cannot: the
    /// queue fails those at once instead of retrying them.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ActionError::Database(_)
                | ActionError::Remote(_)
                | ActionError::Busy(_)
                | ActionError::TooManyRequests(_)
        )
    }

    /// The message a caller may see: database details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            ActionError::Database(e) if crate::db::is_unavailable(e) => {
                tracing::warn!(error = %e, "the database is unavailable to an action");
                UNAVAILABLE_MESSAGE.to_owned()
            }
            ActionError::Database(e) => {
                tracing::error!(error = %e, "database error in an action");
                "internal error while writing data".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// A copy for each of several elements that failed together.
    pub fn duplicate(&self) -> ActionError {
        match self {
            ActionError::InvalidRecord { model, errors } => ActionError::InvalidRecord {
                model: model.clone(),
                errors: errors.clone(),
            },
            ActionError::NotFound(m) => ActionError::NotFound(m.clone()),
            ActionError::PermissionDenied(m) => ActionError::PermissionDenied(m.clone()),
            ActionError::InvalidInput(m) => ActionError::InvalidInput(m.clone()),
            ActionError::DuplicateBackgroundAction(m) => ActionError::DuplicateBackgroundAction(m.clone()),
            ActionError::Remote(m) => ActionError::Remote(m.clone()),
            ActionError::TooManyRequests(m) => ActionError::TooManyRequests(m.clone()),
            ActionError::Busy(m) => ActionError::Busy(m.clone()),
            ActionError::Database(e) => ActionError::Database(DbErr::Custom(e.to_string())),
        }
    }

    /// One field of a `model` record is invalid.
    pub fn invalid(model: &str, api_id: &str, message: &str) -> ActionError {
        ActionError::InvalidRecord {
            model: model.to_owned(),
            errors: vec![FieldError::new(api_id, message)],
        }
    }

    /// A unique index refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, ActionError::Database(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))))
    }
}

impl From<DbErr> for ActionError {
    fn from(e: DbErr) -> Self {
        ActionError::Database(e)
    }
}

impl From<QueryError> for ActionError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::InvalidInput(msg) => ActionError::InvalidInput(msg),
            QueryError::Database(db) => ActionError::Database(db),
        }
    }
}

/// A failed call to BigCommerce, in an app's action: retried when it runs in the
/// background, like the built-in handlers' failures.
impl From<crate::bigcommerce::Error> for ActionError {
    fn from(e: crate::bigcommerce::Error) -> Self {
        ActionError::Remote(format!("BigCommerce: {e}"))
    }
}
