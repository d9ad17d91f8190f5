//! Rate limiting, fault injection and the record of what the fake served.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// BigCommerce's per-store quota: `quota` requests per `window`, shared with other apps.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    pub quota: u32,
    pub window: Duration,
    /// Units another app on the store spends per window, spread evenly over the window.
    pub neighbour_per_window: u32,
    /// When false, a 429 for an exhausted quota comes without any rate-limit header.
    pub headers_on_429: bool,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            quota: 150,
            window: Duration::from_secs(30),
            neighbour_per_window: 0,
            headers_on_429: true,
        }
    }
}

impl RateLimit {
    pub fn new(quota: u32, window: Duration) -> Self {
        RateLimit {
            quota,
            window,
            ..Default::default()
        }
    }
    pub fn neighbour(mut self, units_per_window: u32) -> Self {
        self.neighbour_per_window = units_per_window;
        self
    }
}

/// Faults injected into `/stores/...` requests; shares are probabilities in `[0, 1]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub error_500: f64,
    pub error_503: f64,
    /// Close the connection without any response.
    pub drop_connection: f64,
    /// Send the status and headers, then cut the body short.
    pub truncate_body: f64,
    /// Answer 429 without any header (platform load), not counted against the quota.
    pub platform_429: f64,
    /// Added before every answer.
    pub latency: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Requests of API clients counted against the quota (429s excluded).
    pub served: u32,
    /// Requests answered 429 in this window.
    pub rejected: u32,
    /// Units the neighbour app spent.
    pub neighbour: u32,
}

/// What one store saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    pub total_requests: u64,
    pub served_429: u64,
    pub served_5xx: u64,
    pub dropped_connections: u64,
    pub unauthorized: u64,
    pub peak_concurrency: u64,
    pub windows: BTreeMap<u64, WindowStats>,
}

impl StoreStats {
    /// The most requests served in any one window.
    pub fn max_served_per_window(&self) -> u32 {
        self.windows.values().map(|w| w.served).max().unwrap_or(0)
    }
}

/// One request as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub status: u16,
}

/// The quota state of one store: fixed windows counted from the server's start.
#[derive(Debug, Default)]
pub struct Limiter {
    window_index: u64,
    /// Units spent in this window, ours and the neighbour's.
    spent: u32,
    neighbour_spent: u32,
}

/// Figures for the `X-Rate-Limit-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    pub allowed: bool,
    pub left: u32,
    pub quota: u32,
    pub reset_ms: u64,
    pub window_ms: u64,
    pub window_index: u64,
    pub neighbour_spent: u32,
}

impl Limiter {
    pub fn check(&mut self, limit: &RateLimit, epoch: Instant, now: Instant) -> Verdict {
        let window = limit.window.max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(epoch);
        let index = (elapsed.as_nanos() / window.as_nanos()) as u64;
        if index != self.window_index {
            self.window_index = index;
            self.spent = 0;
            self.neighbour_spent = 0;
        }
        let window_start = epoch + window * index as u32;
        let into = now.saturating_duration_since(window_start);
        // The neighbour app sends its requests evenly over the window and, like any client,
        // only gets the units that are left when each of them arrives.
        let due = (u128::from(limit.neighbour_per_window) * into.as_nanos() / window.as_nanos()) as u32;
        while self.neighbour_spent < due && self.spent < limit.quota {
            self.neighbour_spent += 1;
            self.spent += 1;
        }
        let allowed = self.spent < limit.quota;
        if allowed {
            self.spent += 1;
        }
        let reset = (window_start + window).saturating_duration_since(now);
        Verdict {
            allowed,
            left: limit.quota.saturating_sub(self.spent),
            quota: limit.quota,
            // Rounded up, so a client that waits this long never arrives early.
            reset_ms: (reset.as_nanos().div_ceil(1_000_000) as u64).max(1),
            window_ms: window.as_millis() as u64,
            window_index: index,
            neighbour_spent: self.neighbour_spent,
        }
    }
}
