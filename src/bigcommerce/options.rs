//! Timings and limits of the BigCommerce client.

use std::time::Duration;

/// Tunables of [`super::BigCommerce`]. The defaults suit production; tests shorten the timings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
    /// Connect timeout, shorter than `timeout` so a dead host is noticed early.
    pub connect_timeout: Duration,
    /// Attempts for a request that fails with 5xx or a network error (the first one included).
    pub max_attempts: u32,
    /// Attempts for a request answered 429 (the first one included); 429s are expected under
    /// load, so this is larger than `max_attempts`.
    pub max_rate_limited_attempts: u32,
    /// First retry delay after a 5xx or network error; doubled on each further attempt.
    pub backoff_base: Duration,
    /// Upper bound of the retry delay and of the repeated-429 back-off.
    pub backoff_cap: Duration,
    /// Pause after a 429 that carries neither `X-Rate-Limit-Time-Reset-Ms` nor `X-Retry-After`
    /// (platform load); doubled while such 429s repeat.
    pub default_rate_limit_wait: Duration,
    /// Upper bound of the pause after repeated header-less 429s.
    pub max_rate_limit_wait: Duration,
    /// Requests in flight to one store at most, across every task of the process; keeps a
    /// burst of tasks from opening hundreds of connections when the budget is large.
    pub max_in_flight_per_store: u32,
    /// Items per page for listings (BigCommerce's maximum is 250).
    pub page_limit: u32,
    /// Sent as `User-Agent`.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 6,
            max_rate_limited_attempts: 20,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            default_rate_limit_wait: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(120),
            max_in_flight_per_store: 32,
            page_limit: 250,
            user_agent: concat!("bcgraph/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}
