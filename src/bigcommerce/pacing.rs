//! Per-store pacing from BigCommerce's rate-limit headers.
//!
//! The quota belongs to the store and is shared by every app installed on it, so checking
//! "requests left" before each call is not enough: several of our own tasks may be in flight
//! at once and other apps spend the same budget. One [`Pacer`] per store is shared by every
//! task of the process; it counts requests in flight against the budget the latest responses
//! reported, and when the budget is used up, every task waits for the window to reset. A 429
//! pauses every task of the store, not only the one that saw it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::options::ClientOptions;

const MAX_HEADER_DURATION: Duration = Duration::from_secs(3600);

/// The rate-limit headers of one response (header names are matched in any case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub left: Option<u64>,
    pub quota: Option<u64>,
    pub reset: Option<Duration>,
    pub window: Option<Duration>,
    pub retry_after: Option<Duration>,
}

impl RateHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // `HeaderMap` lookups are case-insensitive; values are parsed leniently ("150", " 150 ",
        // "150.0") because a missed header means no pacing at all.
        let number = |name: &str| -> Option<u64> {
            let text = headers.get(name)?.to_str().ok()?.trim();
            text.parse::<u64>().ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .map(|v| v as u64)
            })
        };
        // An absurd figure must not overflow an `Instant` (a panic) or park the store for
        // years: no window is longer than an hour.
        let duration = |d: Duration| d.min(MAX_HEADER_DURATION);
        Self {
            left: number("x-rate-limit-requests-left"),
            quota: number("x-rate-limit-requests-quota"),
            reset: number("x-rate-limit-time-reset-ms").map(|ms| duration(Duration::from_millis(ms))),
            window: number("x-rate-limit-time-window-ms").map(|ms| duration(Duration::from_millis(ms))),
            retry_after: number("x-retry-after").map(|s| duration(Duration::from_secs(s))),
        }
    }
}

#[derive(Debug, Default)]
struct PacingState {
    in_flight: u64,
    /// 0 = no limit.
    max_in_flight: u64,
    /// Whether any response has arrived; until then only one request is sent, so the first
    /// answer tells us the budget before a burst of tasks spends it.
    answered: bool,
    left: Option<u64>,
    quota: Option<u64>,
    window: Option<Duration>,
    reset_at: Option<Instant>,
    paused_until: Option<Instant>,
    /// When the current 429 pause began: 429s of requests sent before it belong to the same
    /// burst and do not lengthen the back-off.
    pause_began: Option<Instant>,
    rate_limited_streak: u32,
}

enum Decision {
    Go,
    WaitUntil(Instant),
    WaitForAnswer,
}

impl PacingState {
    fn decide(&mut self, now: Instant) -> Decision {
        if let Some(until) = self.paused_until {
            if now < until {
                return Decision::WaitUntil(until);
            }
            self.paused_until = None;
        }
        if let Some(reset) = self.reset_at
            && now >= reset
        {
            // The window has turned over: assume the full quota until answers say otherwise,
            // and predict the next reset so late answers from the old window are recognised.
            self.left = self.quota.or(self.left);
            self.reset_at = self.window.map(|w| reset + w);
        }
        if !self.answered && self.in_flight > 0 {
            return Decision::WaitForAnswer;
        }
        if self.max_in_flight > 0 && self.in_flight >= self.max_in_flight {
            return Decision::WaitForAnswer;
        }
        match self.left {
            Some(left) if left <= self.in_flight => match self.reset_at {
                Some(reset) => Decision::WaitUntil(reset),
                // Nothing in flight will answer and no reset is known: probe with one request.
                None if self.in_flight == 0 => Decision::Go,
                None => Decision::WaitForAnswer,
            },
            _ => Decision::Go,
        }
    }

    fn observe(&mut self, now: Instant, h: &RateHeaders) {
        if h.quota.is_some() {
            self.quota = h.quota;
        }
        if h.window.is_some() {
            self.window = h.window;
        }
        let Some(left) = h.left else { return };
        let Some(reset) = h.reset.map(|r| now + r) else {
            self.left = Some(self.left.map_or(left, |l| l.min(left)));
            return;
        };
        let tolerance = self.window.map_or(Duration::from_millis(500), |w| w / 2);
        match self.reset_at {
            // An answer from a later window: its figure replaces ours.
            Some(current) if reset > current + tolerance => {
                self.left = Some(left);
                self.reset_at = Some(reset);
            }
            // A late answer from a window that has already turned over.
            Some(current) if reset + tolerance < current => {}
            // The same window: the lowest figure is the freshest, the latest reset the safest.
            Some(current) => {
                self.left = Some(self.left.map_or(left, |l| l.min(left)));
                self.reset_at = Some(current.max(reset));
            }
            None => {
                self.left = Some(left);
                self.reset_at = Some(reset);
            }
        }
    }
}

/// Pacing state of one store.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacingState>,
    changed: Notify,
}

impl Pacer {
    /// A pacer allowing at most `max_in_flight` requests at once (0 = no limit).
    pub fn new(max_in_flight: u32) -> Self {
        Pacer {
            state: Mutex::new(PacingState {
                max_in_flight: u64::from(max_in_flight),
                ..PacingState::default()
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PacingState> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way
        // worse than a stale figure, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the store's budget allows one more request, and counts it as in flight.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let decision = {
                let mut state = self.lock();
                let decision = state.decide(Instant::now());
                if let Decision::Go = decision {
                    state.in_flight += 1;
                }
                decision
            };
            match decision {
                Decision::Go => {
                    return Permit {
                        pacer: Some(self.clone()),
                        sent_at: Instant::now(),
                    };
                }
                Decision::WaitUntil(until) => {
                    tokio::select! {
                        // A millisecond of margin covers the rounding of `Reset-Ms`.
                        _ = tokio::time::sleep_until(until + Duration::from_millis(1)) => {}
                        _ = &mut notified => {}
                    }
                }
                Decision::WaitForAnswer => notified.await,
            }
        }
    }

    /// Requests currently counted as in flight (for tests and diagnostics).
    pub fn in_flight(&self) -> u64 {
        self.lock().in_flight
    }

    /// Requests left in the store's quota window as last heard (the whole quota once
    /// the window has turned over), `None` before any answer told.
    pub fn quota_left(&self) -> Option<u64> {
        let state = self.lock();
        match state.reset_at {
            Some(reset) if Instant::now() >= reset => state.quota.or(state.left),
            _ => state.left,
        }
    }
}

/// One request counted against a store's budget; finish it with the response's headers.
/// Dropping it unfinished (network error, cancellation) only releases the slot.
#[derive(Debug)]
pub struct Permit {
    pacer: Option<Arc<Pacer>>,
    sent_at: Instant,
}

impl Permit {
    /// Records an answer. For a 429, pauses every task of the store and returns how long.
    pub fn finish(mut self, status: u16, h: &RateHeaders, options: &ClientOptions) -> Duration {
        let Some(pacer) = self.pacer.take() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let pause = {
            let mut state = pacer.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.answered = true;
            state.observe(now, h);
            let after_last_pause = state.pause_began.is_none_or(|p| self.sent_at >= p);
            if status == 429 {
                if after_last_pause {
                    state.rate_limited_streak = state.rate_limited_streak.saturating_add(1);
                    state.pause_began = Some(now);
                }
                let wait = rate_limit_wait(h, state.rate_limited_streak, options);
                let until = now + wait;
                state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
                // With a reset time the budget is known to be spent until then; without one
                // only the pause applies.
                if let Some(reset) = h.reset {
                    state.left = Some(0);
                    state.reset_at = Some(now + reset);
                }
                wait
            } else {
                if after_last_pause {
                    state.rate_limited_streak = 0;
                }
                Duration::ZERO
            }
        };
        pacer.changed.notify_waiters();
        pause
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(pacer) = self.pacer.take() {
            {
                let mut state = pacer.lock();
                state.in_flight = state.in_flight.saturating_sub(1);
            }
            pacer.changed.notify_waiters();
        }
    }
}

/// How long a 429 pauses the store: the reset the server announced, else its `X-Retry-After`,
/// else the configured default doubled per repeat; repeats add an exponential back-off, and
/// jitter keeps the store's tasks from waking in lock-step.
fn rate_limit_wait(h: &RateHeaders, streak: u32, options: &ClientOptions) -> Duration {
    let repeats = streak.saturating_sub(1);
    let base = match (h.reset, h.retry_after) {
        // A reset of 0 ms (answered at the window's edge) must not turn into a tight loop:
        // a 429 always waits at least the retry base.
        (Some(reset), _) => {
            reset.max(options.backoff_base)
                + exponential(options.backoff_base, repeats, options.backoff_cap, true)
        }
        (None, Some(retry)) => {
            retry.max(options.backoff_base)
                + exponential(options.backoff_base, repeats, options.backoff_cap, true)
        }
        (None, None) => exponential(
            options.default_rate_limit_wait,
            repeats,
            options.max_rate_limit_wait.max(options.default_rate_limit_wait),
            false,
        ),
    };
    base + jitter(base / 10 + Duration::from_millis(1))
}

/// `base * 2^(n-1)` capped (zero for n = 0 when `zero_first`), else `base * 2^n` capped.
pub(crate) fn exponential(base: Duration, n: u32, cap: Duration, zero_first: bool) -> Duration {
    let n = if zero_first {
        if n == 0 {
            return Duration::ZERO;
        }
        n - 1
    } else {
        n
    };
    base.saturating_mul(1u32 << n.min(20)).min(cap)
}

/// A random duration in `[0, max]`.
pub(crate) fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(left: u64, reset_ms: u64) -> RateHeaders {
        RateHeaders {
            left: Some(left),
            quota: Some(150),
            reset: Some(Duration::from_millis(reset_ms)),
            window: Some(Duration::from_millis(30_000)),
            retry_after: None,
        }
    }

    #[test]
    fn in_flight_requests_are_capped() {
        let mut state = PacingState {
            answered: true,
            in_flight: 4,
            max_in_flight: 4,
            ..PacingState::default()
        };
        assert!(matches!(state.decide(Instant::now()), Decision::WaitForAnswer));
        state.in_flight = 3;
        assert!(matches!(state.decide(Instant::now()), Decision::Go));
    }

    #[test]
    fn only_one_request_before_the_first_answer() {
        let mut state = PacingState::default();
        let now = Instant::now();
        assert!(matches!(state.decide(now), Decision::Go));
        state.in_flight = 1;
        assert!(matches!(state.decide(now), Decision::WaitForAnswer));
    }

    #[test]
    fn waits_for_the_reset_when_the_budget_is_in_flight() {
        let mut state = PacingState {
            answered: true,
            in_flight: 2,
            ..PacingState::default()
        };
        let now = Instant::now();
        state.observe(now, &headers(2, 1_000));
        match state.decide(now) {
            Decision::WaitUntil(until) => assert_eq!(until, now + Duration::from_millis(1_000)),
            _ => panic!("expected to wait for the reset"),
        }
        // After the reset the full quota is assumed again.
        assert!(matches!(
            state.decide(now + Duration::from_millis(1_001)),
            Decision::Go
        ));
        assert_eq!(state.left, Some(150));
    }

    #[test]
    fn the_lowest_figure_of_a_window_wins_and_stale_answers_are_ignored() {
        let mut state = PacingState::default();
        let now = Instant::now();
        state.observe(now, &headers(40, 10_000));
        state.observe(now, &headers(45, 10_000));
        assert_eq!(state.left, Some(40));
        // An answer from a later window replaces the figure.
        state.observe(now + Duration::from_secs(11), &headers(149, 29_000));
        assert_eq!(state.left, Some(149));
        // A late answer from the old window does not.
        state.observe(now + Duration::from_secs(11), &headers(3, 0));
        assert_eq!(state.left, Some(149));
    }

    #[test]
    fn header_names_are_read_in_any_case() {
        let mut map = HeaderMap::new();
        map.insert("X-RATE-LIMIT-REQUESTS-LEFT", "7".parse().unwrap());
        map.insert("x-rate-limit-requests-quota", " 150 ".parse().unwrap());
        map.insert("X-Rate-Limit-Time-Reset-Ms", "1200.0".parse().unwrap());
        map.insert("x-retry-after", "2".parse().unwrap());
        let h = RateHeaders::from_headers(&map);
        assert_eq!(h.left, Some(7));
        assert_eq!(h.quota, Some(150));
        assert_eq!(h.reset, Some(Duration::from_millis(1_200)));
        assert_eq!(h.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(h.window, None);

        let mut huge = HeaderMap::new();
        huge.insert(
            "x-rate-limit-time-reset-ms",
            u64::MAX.to_string().parse().unwrap(),
        );
        huge.insert("x-retry-after", "1e300".parse().unwrap());
        let h = RateHeaders::from_headers(&huge);
        assert_eq!(h.reset, Some(MAX_HEADER_DURATION));
        assert_eq!(h.retry_after, Some(MAX_HEADER_DURATION));
    }

    #[test]
    fn repeated_header_less_429s_back_off_exponentially_up_to_the_cap() {
        let options = ClientOptions {
            default_rate_limit_wait: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(60),
            ..ClientOptions::default()
        };
        let none = RateHeaders::default();
        let waits: Vec<Duration> = (1..=6).map(|n| rate_limit_wait(&none, n, &options)).collect();
        for (n, wait) in waits.iter().enumerate() {
            let base = Duration::from_secs(5 << n).min(Duration::from_secs(60));
            assert!(
                *wait >= base && *wait <= base + base / 10 + Duration::from_millis(1),
                "{n}: {wait:?}"
            );
        }
        let with_reset = headers(0, 800);
        let wait = rate_limit_wait(&with_reset, 1, &options);
        assert!(wait >= Duration::from_millis(800) && wait < Duration::from_millis(900));
        let at_the_edge = headers(0, 0);
        assert!(rate_limit_wait(&at_the_edge, 1, &options) >= options.backoff_base);
    }
}
