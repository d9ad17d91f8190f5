//! Errors of the BigCommerce client.

use reqwest::Method;

/// Longest response body kept in an error; BigCommerce error bodies are small, but a proxy's
/// HTML page should not end up whole in every log line.
pub(crate) const MAX_ERROR_BODY: usize = 16 * 1024;

/// Why a request to BigCommerce failed, after the client's retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// BigCommerce answered with a status that is not retried (4xx other than 429), or a
    /// retried status (5xx) persisted through every attempt.
    #[error("BigCommerce {method} {path} answered {status} after {attempts} attempt(s): {body}")]
    Status {
        /// The request's method.
        method: Method,
        /// The request's path template.
        path: String,
        /// The status of the last answer.
        status: u16,
        /// The last answer's body, truncated.
        body: String,
        /// How many times it was sent.
        attempts: u32,
    },
    /// The store kept answering 429 past the rate-limit retry cap.
    #[error("BigCommerce {method} {path} still rate limited (429) after {attempts} attempt(s): {body}")]
    RateLimited {
        /// The request's method.
        method: Method,
        /// The request's path template.
        path: String,
        /// The last answer's body, truncated.
        body: String,
        /// How many times it was sent.
        attempts: u32,
    },
    /// The request never got a complete answer (connect error, reset, timeout, truncated body).
    #[error("BigCommerce {method} {path} failed after {attempts} attempt(s): {source}")]
    Network {
        /// The request's method.
        method: Method,
        /// The request's path template.
        path: String,
        /// How many times it was sent.
        attempts: u32,
        #[source]
        /// The transport's error.
        source: reqwest::Error,
    },
    /// A success status whose body is not the JSON BigCommerce documents.
    #[error("BigCommerce {method} {path} answered {status} with an unexpected body ({reason}): {body}")]
    Decode {
        /// The request's method.
        method: Method,
        /// The request's path template.
        path: String,
        /// The status of the last answer.
        status: u16,
        /// Why the body could not be read.
        reason: String,
        /// The last answer's body, truncated.
        body: String,
    },
    /// The request could not be built (bad path template, parameters or base URL).
    #[error("invalid BigCommerce request: {0}")]
    InvalidRequest(String),
    /// A background page fetch of a listing ended abnormally (panicked or was cancelled).
    #[error("a BigCommerce listing task failed: {0}")]
    Task(String),
    /// The HTTP client could not be created.
    #[error("cannot build the BigCommerce HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl Error {
    /// The HTTP status BigCommerce answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// The body BigCommerce sent with the failing answer, when there was one.
    pub fn body(&self) -> Option<&str> {
        match self {
            Error::Status { body, .. } | Error::RateLimited { body, .. } | Error::Decode { body, .. } => {
                Some(body)
            }
            _ => None,
        }
    }

    /// How many attempts were made before giving up.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Status { attempts, .. }
            | Error::RateLimited { attempts, .. }
            | Error::Network { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

pub(crate) fn truncate_body(bytes: &[u8]) -> String {
    let cut = bytes.len().min(MAX_ERROR_BODY);
    let mut text = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    if bytes.len() > cut {
        text.push_str("…(truncated)");
    }
    text
}
