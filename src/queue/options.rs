//! Gadget's `backgroundOptions`: queue, retries, priority, start time and id.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;

/// The longest wait between retries, and the largest backoff factor, a caller may ask for.
pub const MAX_RETRY_INTERVAL_MS: u64 = 24 * 60 * 60 * 1000;
pub const MAX_BACKOFF_FACTOR: f64 = 10.0;

/// What one store's callers may hold in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Waiting and running actions per store (`BCGRAPH_STORE_MAX_PENDING_ACTIONS`).
    pub max_pending_per_store: usize,
    /// Actions of one store running at once over every process
    /// (`BCGRAPH_STORE_MAX_RUNNING_ACTIONS`): the rest of the workers stay free for
    /// other stores and for the gateway's own work.
    pub max_running_per_store: usize,
    /// Actions one request may enqueue (`BCGRAPH_MAX_BULK_ENQUEUE`).
    pub max_bulk_enqueue: usize,
    /// Most retries a caller may ask for (`BCGRAPH_MAX_RETRY_COUNT`) and the shortest
    /// wait between them (`BCGRAPH_MIN_RETRY_INTERVAL_MS`): a failing action comes back no
    /// faster and no more often than this.
    pub max_retry_count: u32,
    pub min_retry_interval_ms: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_pending_per_store: 10_000,
            max_running_per_store: 4,
            max_bulk_enqueue: 1_000,
            max_retry_count: 20,
            min_retry_interval_ms: 1_000,
        }
    }
}

/// Why a `backgroundOptions` argument is refused; the message is the caller's.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// Not shaped like the options (an unknown key, a wrong type).
    #[error("invalid backgroundOptions: {0}")]
    Malformed(String),
    #[error("a queue needs a name")]
    QueueWithoutName,
    #[error("maxConcurrency must be at least 1")]
    NoConcurrency,
    #[error("backoffFactor must be at least 1")]
    BackoffFactor,
    #[error("unknown priority `{0}`")]
    UnknownPriority(String),
    #[error("startAt `{0}` is not an ISO 8601 date-time")]
    StartAt(String),
}

/// How a job is enqueued. Deserializes from the `backgroundOptions` argument.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// A named queue and its concurrency; none: the shared pool.
    pub queue: Option<QueueOption>,
    /// How failures are retried.
    pub retries: Retries,
    /// Which waiting actions are claimed first.
    pub priority: Priority,
    /// Not before then.
    pub start_at: Option<DateTime<Utc>>,
    /// The action's id within the caller's scope; a second enqueue with it is refused.
    pub id: Option<String>,
}

/// A named queue; at most `max_concurrency` of its jobs run at once, over every process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueOption {
    /// The queue's name, within the caller's store.
    pub name: String,
    /// At most this many of its actions run at once, over every process.
    pub max_concurrency: u32,
}

impl QueueOption {
    /// A bare name: one at a time.
    pub fn named(name: &str) -> QueueOption {
        QueueOption {
            name: name.to_owned(),
            max_concurrency: 1,
        }
    }
}

/// Failures are retried `retry_count` times, waiting `initial_interval * factor^n`
/// (at most `max_interval`; times 1 to 2 at random when `randomize`).
#[derive(Clone, Debug, PartialEq)]
pub struct Retries {
    /// Retries after the first failure.
    pub retry_count: u32,
    /// The wait before the first retry.
    pub initial_interval_ms: u64,
    /// The longest wait.
    pub max_interval_ms: u64,
    /// Each wait is the last one times this.
    pub backoff_factor: f64,
    /// Multiply each wait by a random 1 to 2.
    pub randomize: bool,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            retry_count: 6,
            initial_interval_ms: 1000,
            max_interval_ms: 10 * 60 * 1000,
            backoff_factor: 2.0,
            randomize: false,
        }
    }
}

impl Retries {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let exponent = retry.saturating_sub(1).min(60) as i32;
        let base = self.initial_interval_ms as f64 * self.backoff_factor.powi(exponent);
        let mut delay = base.min(self.max_interval_ms as f64);
        if self.randomize {
            delay = (delay * (1.0 + rand::random::<f64>())).min(self.max_interval_ms as f64);
        }
        delay.max(0.0) as u64
    }
}

/// The order ready jobs run in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// After everything else.
    Low,
    /// What an enqueue gets unless it asks.
    #[default]
    Default,
    /// Before the default.
    High,
    /// The gateway's own work (webhooks, schedules): the system's only.
    Platform,
}

impl Priority {
    /// Higher runs first.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => 0,
            Priority::Default => 10,
            Priority::High => 20,
            Priority::Platform => 30,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum QueueInput {
    Name(String),
    Full {
        name: String,
        #[serde(rename = "maxConcurrency")]
        max_concurrency: Option<u32>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RetriesInput {
    Count(u32),
    Full {
        #[serde(rename = "retryCount")]
        retry_count: Option<u32>,
        #[serde(rename = "initialInterval")]
        initial_interval: Option<u64>,
        #[serde(rename = "maxInterval")]
        max_interval: Option<u64>,
        #[serde(rename = "backoffFactor")]
        backoff_factor: Option<f64>,
        #[serde(rename = "randomizeInterval")]
        randomize_interval: Option<bool>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsInput {
    queue: Option<QueueInput>,
    retries: Option<RetriesInput>,
    priority: Option<String>,
    #[serde(rename = "startAt")]
    start_at: Option<String>,
    id: Option<String>,
}

impl Options {
    /// These options as a caller may have them: `PLATFORM` priority only for the system
    /// (`privileged`: the gateway's own code and `system-admin`), whose work it keeps
    /// ahead of everyone's; for callers (not `internal`, the gateway's own code) retries
    /// clamped to `limits` and a day.
    pub fn within_policy(
        &self,
        limits: &QueueLimits,
        privileged: bool,
        internal: bool,
    ) -> Result<Options, super::QueueError> {
        if self.priority == Priority::Platform && !privileged {
            return Err(super::QueueError::Denied(
                "priority PLATFORM is reserved to the system".into(),
            ));
        }
        let mut options = self.clone();
        if internal {
            return Ok(options);
        }
        let r = &mut options.retries;
        r.retry_count = r.retry_count.min(limits.max_retry_count);
        let shortest = limits.min_retry_interval_ms.min(MAX_RETRY_INTERVAL_MS);
        r.initial_interval_ms = r.initial_interval_ms.clamp(shortest, MAX_RETRY_INTERVAL_MS);
        r.max_interval_ms = r
            .max_interval_ms
            .clamp(r.initial_interval_ms, MAX_RETRY_INTERVAL_MS);
        r.backoff_factor = r.backoff_factor.min(MAX_BACKOFF_FACTOR);
        Ok(options)
    }

    /// Parse `backgroundOptions` (null or absent means the defaults).
    pub fn from_json(value: &Json) -> Result<Options, OptionsError> {
        if value.is_null() {
            return Ok(Options::default());
        }
        let input: OptionsInput =
            serde_json::from_value(value.clone()).map_err(|e| OptionsError::Malformed(e.to_string()))?;
        let queue = match input.queue {
            None => None,
            Some(QueueInput::Name(name)) => Some(QueueOption::named(&name)),
            Some(QueueInput::Full {
                name,
                max_concurrency,
            }) => Some(QueueOption {
                name,
                max_concurrency: max_concurrency.unwrap_or(1),
            }),
        };
        if let Some(q) = &queue {
            if q.name.is_empty() {
                return Err(OptionsError::QueueWithoutName);
            }
            if q.max_concurrency == 0 {
                return Err(OptionsError::NoConcurrency);
            }
        }
        let mut retries = Retries::default();
        match input.retries {
            None => {}
            Some(RetriesInput::Count(n)) => retries.retry_count = n,
            Some(RetriesInput::Full {
                retry_count,
                initial_interval,
                max_interval,
                backoff_factor,
                randomize_interval,
            }) => {
                retries.retry_count = retry_count.unwrap_or(retries.retry_count);
                retries.initial_interval_ms = initial_interval.unwrap_or(retries.initial_interval_ms);
                retries.max_interval_ms = max_interval.unwrap_or(retries.max_interval_ms);
                retries.backoff_factor = backoff_factor.unwrap_or(retries.backoff_factor);
                retries.randomize = randomize_interval.unwrap_or(false);
            }
        }
        if !(retries.backoff_factor.is_finite() && retries.backoff_factor >= 1.0) {
            return Err(OptionsError::BackoffFactor);
        }
        let priority = match input.priority.as_deref() {
            None | Some("DEFAULT") => Priority::Default,
            Some("LOW") => Priority::Low,
            Some("HIGH") => Priority::High,
            Some("PLATFORM") => Priority::Platform,
            Some(other) => return Err(OptionsError::UnknownPriority(other.to_owned())),
        };
        let start_at = match input.start_at {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| OptionsError::StartAt(text.clone()))?
                    .with_timezone(&Utc),
            ),
        };
        Ok(Options {
            queue,
            retries,
            priority,
            start_at,
            id: input.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_queue_name_means_one() {
        let o = Options::from_json(&json!({"queue": "q"})).unwrap();
        assert_eq!(o.queue, Some(QueueOption::named("q")));
        let o = Options::from_json(&json!({"queue": {"name": "q", "maxConcurrency": 2}})).unwrap();
        assert_eq!(o.queue.unwrap().max_concurrency, 2);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retries {
            max_interval_ms: 5000,
            ..Retries::default()
        };
        assert_eq!(
            (1..=5).map(|n| r.delay_ms(n)).collect::<Vec<_>>(),
            [1000, 2000, 4000, 5000, 5000]
        );
    }

    #[test]
    fn callers_get_clamped_retries_and_no_platform_priority() {
        let limits = QueueLimits::default();
        let asked = Options::from_json(
            &json!({"retries": {"retryCount": 2_000_000_000u32, "initialInterval": 0, "maxInterval": 0}}),
        )
        .unwrap();
        assert_eq!(
            asked.within_policy(&limits, false, true).unwrap(),
            asked,
            "the gateway's own code is not clamped"
        );
        let o = asked.within_policy(&limits, false, false).unwrap();
        assert_eq!(o.retries.retry_count, limits.max_retry_count);
        assert_eq!(o.retries.initial_interval_ms, limits.min_retry_interval_ms);
        assert_eq!(o.retries.max_interval_ms, limits.min_retry_interval_ms);
        let platform = Options::from_json(&json!({"priority": "PLATFORM"})).unwrap();
        assert!(platform.within_policy(&limits, false, false).is_err());
        assert_eq!(
            platform.within_policy(&limits, true, false).unwrap().priority,
            Priority::Platform
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let refused = |value: Json| Options::from_json(&value).unwrap_err();
        assert_eq!(
            refused(json!({"priority": "URGENT"})).to_string(),
            "unknown priority `URGENT`"
        );
        assert_eq!(
            refused(json!({"startAt": "tomorrow"})).to_string(),
            "startAt `tomorrow` is not an ISO 8601 date-time"
        );
        assert_eq!(
            refused(json!({"queue": {"name": "q", "maxConcurrency": 0}})),
            OptionsError::NoConcurrency
        );
        assert_eq!(refused(json!({"queue": ""})), OptionsError::QueueWithoutName);
        assert_eq!(
            refused(json!({"retries": {"backoffFactor": 0.5}})),
            OptionsError::BackoffFactor
        );
        assert!(
            refused(json!({"colour": 1}))
                .to_string()
                .starts_with("invalid backgroundOptions: ")
        );
    }
}
