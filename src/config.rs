//! Settings, read once from the environment at start and validated: a bad value
//! stops the program with a message that names the variable.

use crate::auth::Permissions;
use crate::graphql::cost::DocumentLimits;
pub use crate::metrics::MetricsConfig;
use crate::query::bounds::{InputLimits, MAX_VALUES_CEILING};
use crate::queue::QueueLimits;
use axum::http::HeaderName;
use reqwest::Url;
use std::net::SocketAddr;
use std::time::Duration;

/// The gateway's settings ([`Config::from_env`]); the README lists every variable.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: SQLite (`sqlite://bcgraph.db?mode=rwc`, the default) or PostgreSQL.
    pub database_url: String,
    /// `BCGRAPH_LISTEN`: the address served.
    pub listen: SocketAddr,
    /// `BCGRAPH_PUBLIC_URL`: where BigCommerce reaches the gateway (callbacks, webhooks).
    pub public_url: Url,
    /// `BCGRAPH_SECRET`; when unset one is generated and kept in the database.
    pub secret: Option<String>,
    /// `BCGRAPH_PREVIOUS_SECRETS`: earlier secrets, still accepted for reading (sealed
    /// tokens, session tokens, webhook headers) while a rotation is under way.
    pub previous_secrets: Vec<String>,
    /// `BCGRAPH_SESSION_LIFETIME_SECONDS`: how long a session (anonymous or a staff
    /// user's) lasts.
    pub session_lifetime: std::time::Duration,
    /// `BCGRAPH_LEGACY_PAYLOAD_MAX_AGE_SECONDS`: how old a legacy `signed_payload` (by its
    /// `timestamp`) may be.
    pub legacy_payload_max_age: std::time::Duration,
    /// `BCGRAPH_PURGE_INTERVAL_SECONDS`: how often `bcgraph serve` deletes expired sessions
    /// and remembered payloads (`None`: never, set with 0).
    pub purge_interval: Option<std::time::Duration>,
    /// How long the purge keeps finished work (`BCGRAPH_RETAIN_*_SECONDS`).
    pub retention: Retention,
    /// How a sync that failed on a transient error is tried again.
    pub sync_retries: SyncRetries,
    /// The app's BigCommerce credentials, URLs and webhook scopes.
    pub bigcommerce: BigCommerceConfig,
    /// `BCGRAPH_FRONTEND_URL`: where a merchant's browser goes after the app loads.
    pub frontend_url: Option<Url>,
    /// `BCGRAPH_CORS_ORIGINS`: origins allowed to call the API from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// `BCGRAPH_PERMISSIONS`: roles and grants, replacing the defaults.
    pub permissions: Permissions,
    /// `BCGRAPH_APP_DIR`: built frontend files served at `/app/` (the built-in page).
    pub app_dir: Option<std::path::PathBuf>,
    /// `BCGRAPH_WORKERS`: background actions this process runs at once (0: none).
    pub workers: usize,
    /// `BCGRAPH_JOB_LEASE_SECONDS`: how long a running job stays claimed without its worker
    /// renewing the claim; a job whose process died runs again after it.
    pub job_lease: std::time::Duration,
    /// `BCGRAPH_SYNC_INTERVAL_SECONDS`: how often each installed store gets an incremental
    /// sync (`None`: never, set with 0).
    pub sync_interval: Option<std::time::Duration>,
    /// `BCGRAPH_STORE_MAX_PENDING_ACTIONS`, `BCGRAPH_STORE_MAX_RUNNING_ACTIONS`,
    /// `BCGRAPH_MAX_BULK_ENQUEUE`: what one store's callers may hold in the queue.
    pub queue_limits: QueueLimits,
    /// What one request may cost, at the edge and during execution (`Limits::read`).
    pub limits: Limits,
    /// `BCGRAPH_METRICS_LISTEN`, `BCGRAPH_METRICS_TOKEN`, `BCGRAPH_METRICS_STORE_LABELS`:
    /// where Prometheus metrics are served, if anywhere (`read_metrics`).
    pub metrics: MetricsConfig,
    /// `BCGRAPH_DATABASE_TIMEOUT_SECONDS`: how long a statement waits for a database
    /// connection before its request fails as unavailable (503, `GGT_UNAVAILABLE`).
    pub database_timeout: std::time::Duration,
    /// `BCGRAPH_DATABASE_POOL_SIZE`: most connections of the main pool (`None`: 32 on
    /// PostgreSQL, 8 on SQLite).
    pub database_pool_size: Option<u32>,
    /// `BCGRAPH_DATABASE_DIRECT_URL`: PostgreSQL itself, when `DATABASE_URL` goes through
    /// a pooler such as PgBouncer in transaction mode. What a pooled connection cannot
    /// carry uses it: the `LISTEN` behind live queries, and the sync's connections,
    /// whose commits do not wait for the disk (a session setting). `None`: `DATABASE_URL`.
    pub database_direct_url: Option<String>,
    /// `BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS`: on SIGTERM or Ctrl-C, how long in-flight
    /// requests and running background actions may take to finish before they are
    /// stopped (the actions handed back to the queue).
    pub shutdown_timeout: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct BigCommerceConfig {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub api_url: Url,
    pub login_url: Url,
    pub webhook_scopes: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://bcgraph.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_APP_DIR: &str = "examples/single-click-app/dist";
pub const DEFAULT_WORKERS: usize = 8;
pub const DEFAULT_JOB_LEASE_SECONDS: u64 = 60;
pub const DEFAULT_SYNC_INTERVAL_SECONDS: u64 = 24 * 60 * 60;
pub const DEFAULT_SESSION_LIFETIME_SECONDS: u64 = 30 * 24 * 60 * 60;
/// The lifetime BigCommerce gives its signed-payload JWTs.
pub const DEFAULT_LEGACY_PAYLOAD_MAX_AGE_SECONDS: u64 = 24 * 60 * 60;
pub const DEFAULT_PURGE_INTERVAL_SECONDS: u64 = 60 * 60;
pub const DEFAULT_DATABASE_TIMEOUT_SECONDS: u64 = 5;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 20;

impl Config {
    /// Read the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the configuration through `get`, which returns a variable's value if set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let url = |variable: &'static str, default: Option<&str>| -> Result<Option<Url>, ConfigError> {
            match var(variable).or(default.map(str::to_owned)) {
                None => Ok(None),
                Some(v) => Url::parse(&v)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(Some)
                    .ok_or_else(|| ConfigError {
                        variable,
                        message: format!("`{v}` is not an http(s) URL"),
                    }),
            }
        };
        let database_url = var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                message: format!("`{database_url}` is neither a sqlite: nor a postgres:// URL"),
            });
        }
        let listen_text = var("BCGRAPH_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError {
            variable: "BCGRAPH_LISTEN",
            message: format!("`{listen_text}` is not an address like 127.0.0.1:3000"),
        })?;
        let public_url =
            url("BCGRAPH_PUBLIC_URL", Some(&format!("http://{listen}")))?.ok_or_else(|| ConfigError {
                variable: "BCGRAPH_PUBLIC_URL",
                message: "missing".into(),
            })?;
        let secret = var("BCGRAPH_SECRET");
        if let Some(s) = &secret
            && s.len() < 32
        {
            return Err(ConfigError {
                variable: "BCGRAPH_SECRET",
                message: "must be at least 32 characters long".into(),
            });
        }
        let previous_secrets: Vec<String> = var("BCGRAPH_PREVIOUS_SECRETS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if previous_secrets.iter().any(|s| s.len() < 32) {
            return Err(ConfigError {
                variable: "BCGRAPH_PREVIOUS_SECRETS",
                message: "each secret must be at least 32 characters long (comma-separated)".into(),
            });
        }
        let seconds = |variable: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| match var(
            variable,
        ) {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| ConfigError {
                    variable,
                    message: format!(
                        "`{text}` is not a number of seconds from {} to {}",
                        range.start(),
                        range.end()
                    ),
                }),
        };
        let session_lifetime = std::time::Duration::from_secs(seconds(
            "BCGRAPH_SESSION_LIFETIME_SECONDS",
            DEFAULT_SESSION_LIFETIME_SECONDS,
            1..=10 * 365 * 24 * 60 * 60,
        )?);
        let legacy_payload_max_age = std::time::Duration::from_secs(seconds(
            "BCGRAPH_LEGACY_PAYLOAD_MAX_AGE_SECONDS",
            DEFAULT_LEGACY_PAYLOAD_MAX_AGE_SECONDS,
            1..=7 * 24 * 60 * 60,
        )?);
        let purge_interval = match seconds(
            "BCGRAPH_PURGE_INTERVAL_SECONDS",
            DEFAULT_PURGE_INTERVAL_SECONDS,
            0..=7 * 24 * 60 * 60,
        )? {
            0 => None,
            n => Some(std::time::Duration::from_secs(n)),
        };
        let database_timeout = std::time::Duration::from_secs(seconds(
            "BCGRAPH_DATABASE_TIMEOUT_SECONDS",
            DEFAULT_DATABASE_TIMEOUT_SECONDS,
            1..=300,
        )?);
        let database_pool_size = match var("BCGRAPH_DATABASE_POOL_SIZE") {
            None => None,
            Some(text) => Some(text.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                ConfigError {
                    variable: "BCGRAPH_DATABASE_POOL_SIZE",
                    message: format!("`{text}` is not a number of connections from 1 to 1000"),
                }
            })?),
        };
        let database_direct_url = match var("BCGRAPH_DATABASE_DIRECT_URL") {
            None => None,
            Some(_) if !database_url.starts_with("postgres") => {
                return Err(ConfigError {
                    variable: "BCGRAPH_DATABASE_DIRECT_URL",
                    message: "is for PostgreSQL behind a pooler, and DATABASE_URL is not PostgreSQL".into(),
                });
            }
            Some(direct) if direct.starts_with("postgres://") || direct.starts_with("postgresql://") => Some(direct),
            Some(direct) => {
                return Err(ConfigError {
                    variable: "BCGRAPH_DATABASE_DIRECT_URL",
                    message: format!("`{direct}` is not a postgres:// URL"),
                });
            }
        };
        let shutdown_timeout = std::time::Duration::from_secs(seconds(
            "BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS",
            DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            0..=3600,
        )?);
        let client_id = var("BIGCOMMERCE_CLIENT_ID");
        let client_secret = var("BIGCOMMERCE_CLIENT_SECRET");
        if client_id.is_some() != client_secret.is_some() {
            let variable = if client_id.is_some() {
                "BIGCOMMERCE_CLIENT_SECRET"
            } else {
                "BIGCOMMERCE_CLIENT_ID"
            };
            return Err(ConfigError {
                variable,
                message: "BIGCOMMERCE_CLIENT_ID and BIGCOMMERCE_CLIENT_SECRET are set together or not at all"
                    .into(),
            });
        }
        let webhook_scopes = var("BIGCOMMERCE_WEBHOOK_SCOPES").map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });
        if let Some(scopes) = &webhook_scopes
            && let Some(bad) = scopes.iter().find(|s| !s.starts_with("store/"))
        {
            return Err(ConfigError {
                variable: "BIGCOMMERCE_WEBHOOK_SCOPES",
                message: format!("`{bad}` is not a webhook scope like store/product/*"),
            });
        }
        let frontend_url = url("BCGRAPH_FRONTEND_URL", None)?;
        let mut cors_origins: Vec<String> = var("BCGRAPH_CORS_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().trim_end_matches('/').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = cors_origins.iter().find(|o| *o != "*" && Url::parse(o).is_err()) {
            return Err(ConfigError {
                variable: "BCGRAPH_CORS_ORIGINS",
                message: format!("`{bad}` is not an origin like https://app.example.com"),
            });
        }
        // The app's own frontend may always call it.
        if let Some(frontend) = &frontend_url {
            cors_origins.push(frontend.origin().ascii_serialization());
        }
        let permissions = match var("BCGRAPH_PERMISSIONS") {
            None => Permissions::default(),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                    variable: "BCGRAPH_PERMISSIONS",
                    message: format!("cannot read `{path}`: {e}"),
                })?;
                Permissions::from_json(&text).map_err(|e| ConfigError {
                    variable: "BCGRAPH_PERMISSIONS",
                    message: format!("`{path}`: {e}"),
                })?
            }
        };
        let app_dir = match var("BCGRAPH_APP_DIR") {
            Some(dir) => {
                let path = std::path::PathBuf::from(&dir);
                if !path.join("index.html").is_file() {
                    return Err(ConfigError {
                        variable: "BCGRAPH_APP_DIR",
                        message: format!("`{dir}` has no index.html"),
                    });
                }
                Some(path)
            }
            // The example frontend, when it has been built next to the binary's working directory.
            None => {
                Some(std::path::PathBuf::from(DEFAULT_APP_DIR)).filter(|p| p.join("index.html").is_file())
            }
        };
        let workers = match var("BCGRAPH_WORKERS") {
            None => DEFAULT_WORKERS,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 1024)
                .ok_or_else(|| ConfigError {
                    variable: "BCGRAPH_WORKERS",
                    message: format!("`{text}` is not a number of workers from 0 to 1024"),
                })?,
        };
        let job_lease = match var("BCGRAPH_JOB_LEASE_SECONDS") {
            None => std::time::Duration::from_secs(DEFAULT_JOB_LEASE_SECONDS),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| ConfigError {
                    variable: "BCGRAPH_JOB_LEASE_SECONDS",
                    message: format!("`{text}` is not a number of seconds from 1 to 86400"),
                })?,
        };
        let sync_interval = match var("BCGRAPH_SYNC_INTERVAL_SECONDS") {
            None => Some(std::time::Duration::from_secs(DEFAULT_SYNC_INTERVAL_SECONDS)),
            Some(text) => match text.parse::<u64>() {
                Ok(0) => None,
                Ok(n) if n >= 60 => Some(std::time::Duration::from_secs(n)),
                _ => {
                    return Err(ConfigError {
                        variable: "BCGRAPH_SYNC_INTERVAL_SECONDS",
                        message: format!(
                            "`{text}` is not 0 (no scheduled syncs) or a number of seconds of at least 60"
                        ),
                    });
                }
            },
        };
        let count = |variable: &'static str, default: usize, max: usize| -> Result<usize, ConfigError> {
            match var(variable) {
                None => Ok(default),
                Some(text) => text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| ConfigError {
                        variable,
                        message: format!("`{text}` is not a number from 1 to {max}"),
                    }),
            }
        };
        let defaults = QueueLimits::default();
        let queue_limits = QueueLimits {
            max_pending_per_store: count(
                "BCGRAPH_STORE_MAX_PENDING_ACTIONS",
                defaults.max_pending_per_store,
                100_000_000,
            )?,
            max_running_per_store: count(
                "BCGRAPH_STORE_MAX_RUNNING_ACTIONS",
                defaults.max_running_per_store,
                100_000,
            )?,
            max_bulk_enqueue: count("BCGRAPH_MAX_BULK_ENQUEUE", defaults.max_bulk_enqueue, 1_000_000)?,
            max_retry_count: match var("BCGRAPH_MAX_RETRY_COUNT") {
                None => defaults.max_retry_count,
                Some(text) => text
                    .parse()
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or_else(|| ConfigError {
                        variable: "BCGRAPH_MAX_RETRY_COUNT",
                        message: format!("`{text}` is not a number of retries from 0 to 1000"),
                    })?,
            },
            min_retry_interval_ms: count(
                "BCGRAPH_MIN_RETRY_INTERVAL_MS",
                defaults.min_retry_interval_ms as usize,
                86_400_000,
            )? as u64,
        };
        let limits = Limits::read(&var)?;
        let retention = Retention::read(&var)?;
        let sync_retries = SyncRetries::read(&var)?;
        let metrics = read_metrics(&var, listen)?;
        Ok(Config {
            retention,
            sync_retries,
            database_timeout,
            database_pool_size,
            database_direct_url,
            shutdown_timeout,
            limits,
            metrics,
            queue_limits,
            previous_secrets,
            session_lifetime,
            legacy_payload_max_age,
            purge_interval,
            sync_interval,
            app_dir,
            workers,
            job_lease,
            cors_origins,
            permissions,
            database_url,
            listen,
            public_url,
            secret,
            bigcommerce: BigCommerceConfig {
                client_id,
                client_secret,
                api_url: url("BIGCOMMERCE_API_URL", Some("https://api.bigcommerce.com"))?
                    .expect("has a default"),
                login_url: url("BIGCOMMERCE_LOGIN_URL", Some("https://login.bigcommerce.com"))?
                    .expect("has a default"),
                webhook_scopes,
            },
            frontend_url,
        })
    }
}

/// How long finished work is kept before the purge deletes it (`None`: for ever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// `BCGRAPH_RETAIN_FINISHED_ACTIONS_SECONDS`: finished background actions (a webhook
    /// delivery's have their own setting).
    pub finished_actions: Option<Duration>,
    /// `BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS`: a webhook delivery's background action, whose
    /// id is the delivery's dedupe key; at least as long as BigCommerce retries a delivery.
    pub webhook_keys: Option<Duration>,
    /// `BCGRAPH_RETAIN_SYNCS_SECONDS`: finished syncs, except each store's last completed
    /// one (the next incremental sync starts from it).
    pub syncs: Option<Duration>,
}

pub const DEFAULT_RETAIN_FINISHED_ACTIONS_SECONDS: u64 = 7 * 24 * 60 * 60;
/// BigCommerce retries a delivery for 48 hours; a day more covers clocks and queues.
pub const DEFAULT_RETAIN_WEBHOOK_KEYS_SECONDS: u64 = 3 * 24 * 60 * 60;
/// A shorter life would let a retried delivery through twice.
pub const MIN_RETAIN_WEBHOOK_KEYS_SECONDS: u64 = 48 * 60 * 60;
pub const DEFAULT_RETAIN_SYNCS_SECONDS: u64 = 30 * 24 * 60 * 60;
const MAX_RETAIN_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;

impl Default for Retention {
    fn default() -> Self {
        let days = |s: u64| Some(Duration::from_secs(s));
        Retention {
            finished_actions: days(DEFAULT_RETAIN_FINISHED_ACTIONS_SECONDS),
            webhook_keys: days(DEFAULT_RETAIN_WEBHOOK_KEYS_SECONDS),
            syncs: days(DEFAULT_RETAIN_SYNCS_SECONDS),
        }
    }
}

impl Retention {
    fn read(var: &impl Fn(&str) -> Option<String>) -> Result<Retention, ConfigError> {
        // 0 keeps for ever; anything else from `min` seconds up.
        let age = |variable: &'static str, default: u64, min: u64| match var(variable) {
            None => Ok(Some(Duration::from_secs(default))),
            Some(text) => match text.parse::<u64>() {
                Ok(0) => Ok(None),
                Ok(n) if (min..=MAX_RETAIN_SECONDS).contains(&n) => Ok(Some(Duration::from_secs(n))),
                _ => Err(ConfigError {
                    variable,
                    message: format!(
                        "`{text}` is not 0 (keep for ever) or a number of seconds from {min} to {MAX_RETAIN_SECONDS}"
                    ),
                }),
            },
        };
        Ok(Retention {
            finished_actions: age(
                "BCGRAPH_RETAIN_FINISHED_ACTIONS_SECONDS",
                DEFAULT_RETAIN_FINISHED_ACTIONS_SECONDS,
                1,
            )?,
            webhook_keys: age(
                "BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS",
                DEFAULT_RETAIN_WEBHOOK_KEYS_SECONDS,
                MIN_RETAIN_WEBHOOK_KEYS_SECONDS,
            )?,
            syncs: age("BCGRAPH_RETAIN_SYNCS_SECONDS", DEFAULT_RETAIN_SYNCS_SECONDS, 1)?,
        })
    }
}

/// How a sync that failed on a transient error (BigCommerce's 5xx or 429 past the
/// client's retries, the network, the database) is tried again from its checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncRetries {
    /// `BCGRAPH_SYNC_RETRIES`: retries after the first attempt; then it stays errored.
    pub retries: u32,
    /// `BCGRAPH_SYNC_RETRY_SECONDS`: the wait before the first retry, doubled for each
    /// further one (at most an hour).
    pub first_wait: Duration,
}

pub const DEFAULT_SYNC_RETRIES: u32 = 5;
pub const DEFAULT_SYNC_RETRY_SECONDS: u64 = 60;

impl Default for SyncRetries {
    fn default() -> Self {
        SyncRetries {
            retries: DEFAULT_SYNC_RETRIES,
            first_wait: Duration::from_secs(DEFAULT_SYNC_RETRY_SECONDS),
        }
    }
}

impl SyncRetries {
    /// The longest wait between two attempts.
    pub const MAX_WAIT: Duration = Duration::from_secs(60 * 60);

    /// The wait before retry `retry` (1 for the first).
    pub fn wait(&self, retry: u32) -> Duration {
        let doubled = self.first_wait.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        doubled.min(Self::MAX_WAIT)
    }

    fn read(var: &impl Fn(&str) -> Option<String>) -> Result<SyncRetries, ConfigError> {
        let number = |variable: &'static str, default: u64, max: u64| match var(variable) {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| ConfigError {
                    variable,
                    message: format!("`{text}` is not a number from 0 to {max}"),
                }),
        };
        let retries = number("BCGRAPH_SYNC_RETRIES", DEFAULT_SYNC_RETRIES.into(), 100)? as u32;
        let first_wait = match number("BCGRAPH_SYNC_RETRY_SECONDS", DEFAULT_SYNC_RETRY_SECONDS, 3600)? {
            0 => {
                return Err(ConfigError {
                    variable: "BCGRAPH_SYNC_RETRY_SECONDS",
                    message: "must be at least 1".into(),
                });
            }
            n => Duration::from_secs(n),
        };
        Ok(SyncRetries { retries, first_wait })
    }
}

/// A metrics token shorter than this is refused: it is all that guards `/metrics` on
/// the public listener.
pub const MIN_METRICS_TOKEN_LENGTH: usize = 16;

/// Where `/metrics` is served: on an address of its own, and/or on the public listener
/// behind a bearer token; neither by default.
fn read_metrics(var: &impl Fn(&str) -> Option<String>, listen: SocketAddr) -> Result<MetricsConfig, ConfigError> {
    let address = match var("BCGRAPH_METRICS_LISTEN") {
        None => None,
        Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| ConfigError {
            variable: "BCGRAPH_METRICS_LISTEN",
            message: format!("`{text}` is not an address like 127.0.0.1:9464"),
        })?),
    };
    if address.is_some_and(|a| a == listen && a.port() != 0) {
        return Err(ConfigError {
            variable: "BCGRAPH_METRICS_LISTEN",
            message: "must differ from BCGRAPH_LISTEN (set BCGRAPH_METRICS_TOKEN to serve /metrics there)".into(),
        });
    }
    let token = var("BCGRAPH_METRICS_TOKEN");
    if token.as_ref().is_some_and(|t| t.len() < MIN_METRICS_TOKEN_LENGTH) {
        return Err(ConfigError {
            variable: "BCGRAPH_METRICS_TOKEN",
            message: format!("must be at least {MIN_METRICS_TOKEN_LENGTH} characters long"),
        });
    }
    let store_labels = match var("BCGRAPH_METRICS_STORE_LABELS").map(|v| v.to_ascii_lowercase()) {
        None => false,
        Some(v) if matches!(v.as_str(), "1" | "true" | "on" | "yes") => true,
        Some(v) if matches!(v.as_str(), "0" | "false" | "off" | "no") => false,
        Some(v) => {
            return Err(ConfigError {
                variable: "BCGRAPH_METRICS_STORE_LABELS",
                message: format!("`{v}` is not on or off"),
            });
        }
    };
    Ok(MetricsConfig {
        listen: address,
        token,
        store_labels,
    })
}

/// Bounds on what one request may cost: the document, the records it reads, its time,
/// its rate, its filters, and the websocket's connections and operations.
#[derive(Clone, Debug)]
pub struct Limits {
    pub document: DocumentLimits,
    pub input: InputLimits,
    /// `BCGRAPH_MAX_RECORDS_PER_REQUEST`: records one request's resolvers may hand out.
    pub records_per_request: u64,
    /// `BCGRAPH_EXECUTION_TIMEOUT_SECONDS`: time budget of one GraphQL execution.
    pub execution_timeout: Duration,
    /// `BCGRAPH_REQUEST_TIMEOUT_SECONDS`: time budget of a whole HTTP request.
    pub request_timeout: Duration,
    /// `BCGRAPH_REQUEST_BODY_TIMEOUT_SECONDS`: time to receive a request body.
    pub request_body_timeout: Duration,
    pub rates: RateLimits,
    /// `BCGRAPH_GRAPHIQL`: serve GraphiQL on `GET /api/graphql`.
    pub graphiql: bool,
    /// `BCGRAPH_FAST_READS`: answer plain model reads without async-graphql's executor
    /// (`graphql::fast`). On by default; off answers every document the general way.
    pub fast_reads: bool,
    /// `BCGRAPH_MAX_BODY_BYTES`: the largest request body, and websocket message.
    pub body_bytes: usize,
    pub sockets: SocketLimits,
}

/// Request rates on `/api/graphql` (HTTP requests and websocket operations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `BCGRAPH_RATE_LIMIT_PER_ADDRESS`: requests per second per client address (0: off).
    pub per_address: u32,
    /// `BCGRAPH_RATE_LIMIT_PER_CREDENTIAL`: requests per second per credential (0: off).
    pub per_credential: u32,
    /// `BCGRAPH_CLIENT_IP_HEADER`: a header set by a trusted proxy whose first address is
    /// the client's; the TCP peer otherwise.
    pub client_ip_header: Option<HeaderName>,
}

/// Websocket (`/api/graphql/batch`) bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketLimits {
    /// `BCGRAPH_WS_MAX_CONNECTIONS`: open connections, all clients together.
    pub connections: usize,
    /// `BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS`: open connections per client address.
    pub connections_per_address: usize,
    /// `BCGRAPH_WS_MAX_OPERATIONS`: operations running at once on one connection.
    pub operations_per_connection: usize,
    /// `BCGRAPH_WS_MAX_LIVE_QUERIES`: live queries open at once on one connection (each
    /// runs again on every change of what it reads).
    pub live_queries_per_connection: usize,
    /// `BCGRAPH_SUBSCRIPTION_MAX_SECONDS`: how long one subscription (or live query) may run.
    pub subscription_lifetime: Duration,
    /// `BCGRAPH_WS_RECHECK_SECONDS`: how often an open connection's credentials are checked
    /// again when nothing announced a change (another process's uninstall, a revoked key).
    pub recheck: Duration,
}

/// Large enough for a bulk action of a thousand products with their variants.
pub const DEFAULT_BODY_BYTES: usize = 2 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 60;
pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS: u64 = 30;
/// Sustained requests per second; a client may burst [`RATE_BURST_SECONDS`] worth at once.
pub const DEFAULT_RATE_PER_ADDRESS: u32 = 50;
pub const DEFAULT_RATE_PER_CREDENTIAL: u32 = 50;
pub const RATE_BURST_SECONDS: u32 = 10;
pub const DEFAULT_WS_CONNECTIONS: usize = 5_000;
pub const DEFAULT_WS_CONNECTIONS_PER_ADDRESS: usize = 50;
pub const DEFAULT_WS_OPERATIONS: usize = 100;
/// A page's worth of live lists and records; each costs a run per change.
pub const DEFAULT_WS_LIVE_QUERIES: usize = 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            document: DocumentLimits::default(),
            input: InputLimits::default(),
            records_per_request: crate::graphql::budget::DEFAULT_MAX_RECORDS,
            execution_timeout: crate::graphql::execute::DEFAULT_EXECUTION_TIMEOUT,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECONDS),
            request_body_timeout: Duration::from_secs(DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS),
            rates: RateLimits {
                per_address: DEFAULT_RATE_PER_ADDRESS,
                per_credential: DEFAULT_RATE_PER_CREDENTIAL,
                client_ip_header: None,
            },
            graphiql: true,
            fast_reads: true,
            body_bytes: DEFAULT_BODY_BYTES,
            sockets: SocketLimits {
                connections: DEFAULT_WS_CONNECTIONS,
                connections_per_address: DEFAULT_WS_CONNECTIONS_PER_ADDRESS,
                operations_per_connection: DEFAULT_WS_OPERATIONS,
                live_queries_per_connection: DEFAULT_WS_LIVE_QUERIES,
                subscription_lifetime: crate::graphql::execute::DEFAULT_SUBSCRIPTION_LIFETIME,
                recheck: Duration::from_secs(30),
            },
        }
    }
}

impl Limits {
    /// Read every limit through `var` (a set, non-empty variable's trimmed value).
    fn read(var: &impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        // A whole number in `range`, or the default when unset.
        fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
            var: &impl Fn(&str) -> Option<String>,
            variable: &'static str,
            default: T,
            range: std::ops::RangeInclusive<T>,
            unit: &str,
        ) -> Result<T, ConfigError> {
            match var(variable) {
                None => Ok(default),
                Some(text) => text
                    .parse::<T>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| ConfigError {
                        variable,
                        message: format!(
                            "`{text}` is not a number of {unit} from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    }),
            }
        }
        let seconds = |variable: &'static str, default: Duration| {
            number(var, variable, default.as_secs(), 1..=86_400, "seconds").map(Duration::from_secs)
        };
        let switch = |variable: &'static str, default: bool| match var(variable).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "on" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "off" | "no") => Ok(false),
            Some(v) => Err(ConfigError {
                variable,
                message: format!("`{v}` is not on or off"),
            }),
        };
        let graphiql = switch("BCGRAPH_GRAPHIQL", d.graphiql)?;
        let fast_reads = switch("BCGRAPH_FAST_READS", d.fast_reads)?;
        let client_ip_header = match var("BCGRAPH_CLIENT_IP_HEADER") {
            None => None,
            Some(name) => Some(
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| ConfigError {
                    variable: "BCGRAPH_CLIENT_IP_HEADER",
                    message: format!("`{name}` is not a header name like x-forwarded-for"),
                })?,
            ),
        };
        Ok(Limits {
            document: DocumentLimits {
                selections: number(
                    var,
                    "BCGRAPH_MAX_QUERY_SELECTIONS",
                    d.document.selections,
                    1..=1_000_000,
                    "selections",
                )?,
                // The parser itself gives up past 64 levels.
                depth: number(var, "BCGRAPH_MAX_QUERY_DEPTH", d.document.depth, 2..=64, "levels")?,
                aliases: number(
                    var,
                    "BCGRAPH_MAX_QUERY_ALIASES",
                    d.document.aliases,
                    0..=1_000_000,
                    "aliases",
                )?,
                directives: number(
                    var,
                    "BCGRAPH_MAX_QUERY_DIRECTIVES",
                    d.document.directives,
                    0..=1_000_000,
                    "directives",
                )?,
                fragments: number(
                    var,
                    "BCGRAPH_MAX_QUERY_FRAGMENTS",
                    d.document.fragments,
                    0..=100_000,
                    "fragments",
                )?,
                operations: number(
                    var,
                    "BCGRAPH_MAX_QUERY_OPERATIONS",
                    d.document.operations,
                    1..=10_000,
                    "operations",
                )?,
            },
            input: InputLimits {
                list_length: number(
                    var,
                    "BCGRAPH_MAX_FILTER_LIST_LENGTH",
                    d.input.list_length,
                    1..=MAX_VALUES_CEILING,
                    "values",
                )?,
                values: number(
                    var,
                    "BCGRAPH_MAX_FILTER_VALUES",
                    d.input.values,
                    1..=MAX_VALUES_CEILING,
                    "values",
                )?,
                term_length: number(
                    var,
                    "BCGRAPH_MAX_SEARCH_LENGTH",
                    d.input.term_length,
                    1..=1_000_000,
                    "characters",
                )?,
            },
            records_per_request: number(
                var,
                "BCGRAPH_MAX_RECORDS_PER_REQUEST",
                d.records_per_request,
                1..=100_000_000,
                "records",
            )?,
            body_bytes: number(
                var,
                "BCGRAPH_MAX_BODY_BYTES",
                d.body_bytes,
                1024..=64 * 1024 * 1024,
                "bytes",
            )?,
            execution_timeout: seconds("BCGRAPH_EXECUTION_TIMEOUT_SECONDS", d.execution_timeout)?,
            request_timeout: seconds("BCGRAPH_REQUEST_TIMEOUT_SECONDS", d.request_timeout)?,
            request_body_timeout: seconds("BCGRAPH_REQUEST_BODY_TIMEOUT_SECONDS", d.request_body_timeout)?,
            rates: RateLimits {
                per_address: number(
                    var,
                    "BCGRAPH_RATE_LIMIT_PER_ADDRESS",
                    d.rates.per_address,
                    0..=1_000_000,
                    "requests per second",
                )?,
                per_credential: number(
                    var,
                    "BCGRAPH_RATE_LIMIT_PER_CREDENTIAL",
                    d.rates.per_credential,
                    0..=1_000_000,
                    "requests per second",
                )?,
                client_ip_header,
            },
            graphiql,
            fast_reads,
            sockets: SocketLimits {
                connections: number(
                    var,
                    "BCGRAPH_WS_MAX_CONNECTIONS",
                    d.sockets.connections,
                    1..=1_000_000,
                    "connections",
                )?,
                connections_per_address: number(
                    var,
                    "BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS",
                    d.sockets.connections_per_address,
                    1..=1_000_000,
                    "connections",
                )?,
                operations_per_connection: number(
                    var,
                    "BCGRAPH_WS_MAX_OPERATIONS",
                    d.sockets.operations_per_connection,
                    1..=100_000,
                    "operations",
                )?,
                live_queries_per_connection: number(
                    var,
                    "BCGRAPH_WS_MAX_LIVE_QUERIES",
                    d.sockets.live_queries_per_connection,
                    1..=10_000,
                    "live queries",
                )?,
                subscription_lifetime: seconds(
                    "BCGRAPH_SUBSCRIPTION_MAX_SECONDS",
                    d.sockets.subscription_lifetime,
                )?,
                recheck: seconds("BCGRAPH_WS_RECHECK_SECONDS", d.sockets.recheck)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn retention_and_sync_retries() {
        let c = config(&[]).unwrap();
        assert_eq!(c.retention, Retention::default());
        assert_eq!(c.sync_retries, SyncRetries::default());
        let c = config(&[
            ("BCGRAPH_RETAIN_FINISHED_ACTIONS_SECONDS", "0"),
            ("BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS", "172800"),
            ("BCGRAPH_SYNC_RETRY_SECONDS", "10"),
        ])
        .unwrap();
        assert_eq!(c.retention.finished_actions, None);
        assert_eq!(c.retention.webhook_keys, Some(Duration::from_secs(172_800)));
        let waits: Vec<u64> = (1..=4).map(|r| c.sync_retries.wait(r).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80]);
        assert_eq!(c.sync_retries.wait(30), SyncRetries::MAX_WAIT);
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:3000/");
        assert!(c.bigcommerce.client_id.is_none());
        assert!(c.previous_secrets.is_empty());
        assert_eq!(c.session_lifetime.as_secs(), 30 * 24 * 60 * 60);
        assert_eq!(c.legacy_payload_max_age.as_secs(), 24 * 60 * 60);
        assert_eq!(c.purge_interval.map(|d| d.as_secs()), Some(3600));
        assert!(!c.metrics.enabled(), "metrics are off by default");
        let c = config(&[
            (
                "BCGRAPH_PREVIOUS_SECRETS",
                " first-secret-long-enough-for-the-gateway , second-secret-long-enough-for-the-gateway,",
            ),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "0"),
        ])
        .unwrap();
        assert_eq!(c.previous_secrets.len(), 2);
        assert_eq!(c.purge_interval, None);
    }

    #[test]
    fn metrics_settings() {
        let c = config(&[
            ("BCGRAPH_METRICS_LISTEN", "127.0.0.1:9464"),
            ("BCGRAPH_METRICS_TOKEN", " a-token-of-sixteen-or-more "),
            ("BCGRAPH_METRICS_STORE_LABELS", "on"),
        ])
        .unwrap();
        assert_eq!(c.metrics.listen.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(c.metrics.token.as_deref(), Some("a-token-of-sixteen-or-more"));
        assert!(c.metrics.store_labels && c.metrics.enabled());
        let token_only = config(&[("BCGRAPH_METRICS_TOKEN", "a-token-of-sixteen-or-more")]).unwrap();
        assert!(token_only.metrics.enabled() && token_only.metrics.listen.is_none());
    }

    #[test]
    fn database_and_shutdown_timeouts() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_timeout.as_secs(), DEFAULT_DATABASE_TIMEOUT_SECONDS);
        assert_eq!(c.shutdown_timeout.as_secs(), DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
        let c = config(&[
            ("BCGRAPH_DATABASE_TIMEOUT_SECONDS", "2"),
            ("BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS", "0"),
        ])
        .unwrap();
        assert_eq!(c.database_timeout.as_secs(), 2);
        assert_eq!(config(&[("BCGRAPH_DATABASE_POOL_SIZE", "12")]).unwrap().database_pool_size, Some(12));
        assert_eq!(config(&[]).unwrap().database_pool_size, None);
        let behind_a_pooler = config(&[
            ("DATABASE_URL", "postgres://app@pgbouncer:6432/app"),
            ("BCGRAPH_DATABASE_DIRECT_URL", "postgres://app@db:5432/app"),
        ])
        .unwrap();
        assert_eq!(
            behind_a_pooler.database_direct_url.as_deref(),
            Some("postgres://app@db:5432/app")
        );
        assert_eq!(config(&[]).unwrap().database_direct_url, None);
        // SQLite has no pooler in front, and the URL must be PostgreSQL's.
        assert!(config(&[("BCGRAPH_DATABASE_DIRECT_URL", "postgres://db/app")]).is_err());
        assert!(
            config(&[
                ("DATABASE_URL", "postgres://pgbouncer/app"),
                ("BCGRAPH_DATABASE_DIRECT_URL", "db:5432")
            ])
            .is_err()
        );
        assert_eq!(c.shutdown_timeout.as_secs(), 0);
        for (variable, bad) in [
            ("BCGRAPH_DATABASE_TIMEOUT_SECONDS", "0"),
            ("BCGRAPH_DATABASE_TIMEOUT_SECONDS", "five"),
            ("BCGRAPH_SHUTDOWN_TIMEOUT_SECONDS", "3601"),
            ("BCGRAPH_DATABASE_POOL_SIZE", "0"),
            ("BCGRAPH_DATABASE_POOL_SIZE", "many"),
        ] {
            assert_eq!(config(&[(variable, bad)]).unwrap_err().variable, variable);
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("BCGRAPH_LISTEN", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("BCGRAPH_PUBLIC_URL", "not a url"),
            ("BIGCOMMERCE_API_URL", "ftp://x"),
            ("BCGRAPH_SECRET", "short"),
            ("BIGCOMMERCE_CLIENT_ID", "abc"),
            ("BIGCOMMERCE_WEBHOOK_SCOPES", "product/*"),
            ("BCGRAPH_CORS_ORIGINS", "not an origin"),
            ("BCGRAPH_PERMISSIONS", "/nonexistent/permissions.json"),
            ("BCGRAPH_APP_DIR", "/nonexistent"),
            ("BCGRAPH_WORKERS", "many"),
            ("BCGRAPH_JOB_LEASE_SECONDS", "0"),
            ("BCGRAPH_STORE_MAX_PENDING_ACTIONS", "0"),
            ("BCGRAPH_STORE_MAX_RUNNING_ACTIONS", "lots"),
            ("BCGRAPH_MAX_BULK_ENQUEUE", "-1"),
            ("BCGRAPH_MAX_RETRY_COUNT", "1001"),
            ("BCGRAPH_MAX_BODY_BYTES", "100"),
            ("BCGRAPH_WS_RECHECK_SECONDS", "0"),
            ("BCGRAPH_MIN_RETRY_INTERVAL_MS", "0"),
            (
                "BCGRAPH_PREVIOUS_SECRETS",
                "long-enough-secret-for-the-gateway-to-use,short",
            ),
            ("BCGRAPH_SESSION_LIFETIME_SECONDS", "0"),
            ("BCGRAPH_LEGACY_PAYLOAD_MAX_AGE_SECONDS", "a day"),
            ("BCGRAPH_PURGE_INTERVAL_SECONDS", "-1"),
            ("BCGRAPH_MAX_QUERY_SELECTIONS", "0"),
            ("BCGRAPH_MAX_QUERY_DEPTH", "65"),
            ("BCGRAPH_MAX_QUERY_ALIASES", "-1"),
            ("BCGRAPH_MAX_QUERY_DIRECTIVES", "lots"),
            ("BCGRAPH_MAX_QUERY_FRAGMENTS", "1e3"),
            ("BCGRAPH_MAX_QUERY_OPERATIONS", "0"),
            ("BCGRAPH_MAX_RECORDS_PER_REQUEST", "0"),
            ("BCGRAPH_EXECUTION_TIMEOUT_SECONDS", "0"),
            ("BCGRAPH_REQUEST_TIMEOUT_SECONDS", "1.5"),
            ("BCGRAPH_REQUEST_BODY_TIMEOUT_SECONDS", "never"),
            ("BCGRAPH_RATE_LIMIT_PER_ADDRESS", "-5"),
            ("BCGRAPH_RATE_LIMIT_PER_CREDENTIAL", "fast"),
            ("BCGRAPH_CLIENT_IP_HEADER", "x forwarded for"),
            ("BCGRAPH_MAX_FILTER_LIST_LENGTH", "40000"),
            ("BCGRAPH_MAX_FILTER_VALUES", "0"),
            ("BCGRAPH_MAX_SEARCH_LENGTH", "0"),
            ("BCGRAPH_GRAPHIQL", "maybe"),
            ("BCGRAPH_FAST_READS", "sometimes"),
            ("BCGRAPH_WS_MAX_CONNECTIONS", "0"),
            ("BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS", "none"),
            ("BCGRAPH_WS_MAX_OPERATIONS", "0"),
            ("BCGRAPH_SUBSCRIPTION_MAX_SECONDS", "0"),
            ("BCGRAPH_RETAIN_WEBHOOK_KEYS_SECONDS", "3600"),
            ("BCGRAPH_RETAIN_SYNCS_SECONDS", "-1"),
            ("BCGRAPH_SYNC_RETRIES", "many"),
            ("BCGRAPH_SYNC_RETRY_SECONDS", "0"),
            ("BCGRAPH_METRICS_LISTEN", "9464"),
            ("BCGRAPH_METRICS_LISTEN", "127.0.0.1:3000"),
            ("BCGRAPH_METRICS_TOKEN", "short"),
            ("BCGRAPH_METRICS_STORE_LABELS", "per store"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            let expected = if var == "BIGCOMMERCE_CLIENT_ID" {
                "BIGCOMMERCE_CLIENT_SECRET"
            } else {
                var
            };
            assert_eq!(err.variable, expected, "{var}={value}");
            assert!(err.to_string().starts_with(expected));
        }
    }
}
