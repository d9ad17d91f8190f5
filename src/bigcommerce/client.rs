//! The BigCommerce REST client: one [`BigCommerce`] per process, one [`StoreClient`] per store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, USER_AGENT};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Error, truncate_body};
use super::listing::ListBuilder;
use super::options::ClientOptions;
use super::pacing::{Pacer, RateHeaders, exponential, jitter};
use super::params::{ParamValue, Params, expand_path};

/// The BigCommerce API of the process: one HTTP connection pool and the pacing state of every
/// store, so all tasks that talk to one store share its budget. Cheap to clone.
#[derive(Clone)]
pub struct BigCommerce {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    options: ClientOptions,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    metrics: crate::metrics::Metrics,
}

impl fmt::Debug for BigCommerce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigCommerce")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl BigCommerce {
    /// `base_url` is the API root (`https://api.bigcommerce.com` in production).
    pub fn new(base_url: impl Into<String>, options: ClientOptions) -> Result<Self, Error> {
        Self::with_metrics(base_url, options, crate::metrics::Metrics::off())
    }

    /// [`BigCommerce::new`], counting its requests, retries and 429s in `metrics`.
    pub(crate) fn with_metrics(
        base_url: impl Into<String>,
        options: ClientOptions,
        metrics: crate::metrics::Metrics,
    ) -> Result<Self, Error> {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::InvalidRequest(format!(
                "base URL {base_url:?} is not an http(s) URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                options,
                pacers: Mutex::new(HashMap::new()),
                metrics,
            }),
        })
    }

    /// The API base URL (`https://api.bigcommerce.com`, or a fake's).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Its retry, pacing and timeout options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Each store's requests left in its quota window, as last heard (see
    /// [`Pacer::quota_left`]), for the metrics.
    pub(crate) fn quota_left(&self) -> Vec<(String, u64)> {
        let pacers = self.inner.pacers.lock().unwrap_or_else(|e| e.into_inner());
        pacers
            .iter()
            .filter_map(|(store, pacer)| Some((store.clone(), pacer.quota_left()?)))
            .collect()
    }

    /// A client for one store; every client of the same store hash shares its pacing.
    pub fn store(&self, store_hash: impl Into<String>, access_token: impl Into<String>) -> StoreClient {
        let store_hash: String = store_hash.into();
        let pacer = {
            let mut pacers = self.inner.pacers.lock().unwrap_or_else(|e| e.into_inner());
            pacers
                .entry(store_hash.clone())
                .or_insert_with(|| Arc::new(Pacer::new(self.inner.options.max_in_flight_per_store)))
                .clone()
        };
        StoreClient {
            inner: self.inner.clone(),
            store_hash: store_hash.into(),
            access_token: access_token.into().into(),
            pacer,
        }
    }
}

/// Which REST API a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `/v2`: bare JSON bodies; an empty collection is `204 No Content`.
    V2,
    /// `/v3`: `{data, meta}` envelopes.
    V3,
}

impl ApiVersion {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            ApiVersion::V2 => "/v2",
            ApiVersion::V3 => "/v3",
        }
    }
}

/// Talks to one store. Cheap to clone; the access token is never printed.
#[derive(Clone)]
pub struct StoreClient {
    inner: Arc<Inner>,
    store_hash: Arc<str>,
    access_token: Arc<str>,
    pacer: Arc<Pacer>,
}

impl fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreClient")
            .field("store_hash", &self.store_hash)
            .field("access_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The requests of one API version of a store: `store.v3().get("/catalog/products/{id}")`.
#[derive(Clone, Copy, Debug)]
pub struct Versioned<'a> {
    store: &'a StoreClient,
    version: ApiVersion,
}

impl Versioned<'_> {
    /// A `GET` of `path` (a template: `/catalog/products/{id}`).
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::GET, path)
    }
    /// A `POST` to `path`; add the body with [`RequestBuilder::json`].
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::POST, path)
    }
    /// A `PUT` to `path`.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::PUT, path)
    }
    /// A `DELETE` of `path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::DELETE, path)
    }
    /// Every item of a collection, page after page.
    pub fn list(&self, path: &str) -> ListBuilder {
        self.store.list(self.version, path)
    }
}

/// A complete answer: status and parsed JSON body (`None` for 204 or an empty body).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Option<Value>,
}

impl StoreClient {
    /// The store this client calls.
    pub fn store_hash(&self) -> &str {
        &self.store_hash
    }

    /// Its retry, pacing and timeout options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The pacing state shared by every client of this store in the process.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// The v3 API: answers are the envelope's `data`.
    pub fn v3(&self) -> Versioned<'_> {
        Versioned {
            store: self,
            version: ApiVersion::V3,
        }
    }

    /// The v2 API (orders): answers are bare JSON.
    pub fn v2(&self) -> Versioned<'_> {
        Versioned {
            store: self,
            version: ApiVersion::V2,
        }
    }

    /// A request of any method to `path` of `version`.
    pub fn request(&self, version: ApiVersion, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder {
            store: self.clone(),
            version,
            method,
            path: path.to_string(),
            path_params: Params::new(),
            query: Params::new(),
            body: Ok(None),
        }
    }

    /// Every page of a listing of `path` of `version`.
    pub fn list(&self, version: ApiVersion, path: &str) -> ListBuilder {
        ListBuilder::new(self.clone(), version, path)
    }

    /// Sends one request with pacing and retries. 2xx and 404 are answers; everything else
    /// that is not retried, or still fails at the retry cap, is an error.
    pub(crate) async fn execute(
        &self,
        method: &Method,
        version: ApiVersion,
        path: &str,
        query: &Params,
        body: Option<&Bytes>,
    ) -> Result<Answer, Error> {
        let options = &self.inner.options;
        let api_path = format!("{}{}", version.prefix(), path);
        let mut url = format!(
            "{}/stores/{}{}",
            self.inner.base_url,
            percent_encoding::utf8_percent_encode(&self.store_hash, percent_encoding::NON_ALPHANUMERIC),
            api_path
        );
        let query_string = query.to_query_string();
        if !query_string.is_empty() {
            url.push('?');
            url.push_str(&query_string);
        }
        let mut token = HeaderValue::from_str(&self.access_token).map_err(|_| {
            Error::InvalidRequest("the access token contains characters not allowed in a header".into())
        })?;
        token.set_sensitive(true);

        let request = Request {
            method,
            path: &api_path,
        };
        let mut tries = Tries::default();
        loop {
            let permit = self.pacer.acquire().await;
            tries.attempts += 1;
            let mut sending = self
                .inner
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", token.clone())
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, options.user_agent.as_str());
            if let Some(body) = body {
                sending = sending
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let attempt = match sending.send().await {
                Err(source) => {
                    drop(permit);
                    let transient = is_transient(&source);
                    let source = source.without_url();
                    tracing::debug!(%method, path = %api_path, error = %source, "BigCommerce request failed");
                    request.network_failure(&tries, options, transient, source)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    self.inner.metrics.bigcommerce_answer(status);
                    let limits = RateHeaders::from_headers(response.headers());
                    permit.finish(status, &limits, options);
                    match response.bytes().await {
                        Ok(bytes) => request.classify(status, &bytes, &tries, options),
                        // The answer was cut short: retried like any network failure.
                        Err(source) => request.network_failure(&tries, options, true, source.without_url()),
                    }
                }
            };
            let reason = match attempt {
                Attempt::Answer(answer) => return Ok(answer),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry(reason) => reason,
            };
            tries.count(&reason);
            self.inner.metrics.bigcommerce_retry(reason.label());
            tracing::debug!(%method, path = %api_path, ?reason, failures = tries.failures,
                rate_limited = tries.rate_limited, "BigCommerce request not answered; retrying");
            // After a 429 the pacer holds every task of this store until the pause is over.
            if reason != Reason::RateLimited {
                self.backoff(tries.failures).await;
            }
        }
    }

    async fn backoff(&self, failures: u32) {
        let options = &self.inner.options;
        let delay = exponential(
            options.backoff_base,
            failures.saturating_sub(1),
            options.backoff_cap,
            false,
        );
        // "Equal jitter": at least half the delay, so retries stay spaced out, randomised so
        // tasks that failed together do not retry together.
        tokio::time::sleep(delay / 2 + jitter(delay / 2)).await;
    }
}

fn is_transient(error: &reqwest::Error) -> bool {
    !(error.is_builder() || error.is_redirect())
}

/// The attempts of one request so far. Rate limits have their own, larger budget: they
/// say nothing about the request, only about the store's quota.
#[derive(Clone, Copy, Debug, Default)]
struct Tries {
    attempts: u32,
    /// Network failures, 5xx answers and undecodable bodies.
    failures: u32,
    /// 429 answers.
    rate_limited: u32,
}

impl Tries {
    fn count(&mut self, reason: &Reason) {
        match reason {
            Reason::RateLimited => self.rate_limited += 1,
            _ => self.failures += 1,
        }
    }
}

/// Why an attempt is made again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// 429: the pacer pauses the store, so no backoff of our own.
    RateLimited,
    /// 500, 502, 503 or 504.
    ServerError(u16),
    /// A success status with a body that is not JSON: most often a body cut short on
    /// the way, so it is retried like a network failure.
    Undecodable,
    /// The request, or its answer, did not make it.
    Network,
}

impl Reason {
    /// The `reason` label of the retry counter.
    fn label(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::ServerError(_) => "server_error",
            Reason::Undecodable => "undecodable",
            Reason::Network => "network",
        }
    }
}

/// What to do after one attempt.
#[derive(Debug)]
enum Attempt {
    Answer(Answer),
    Retry(Reason),
    Fail(Error),
}

/// What the errors of a request name: its method and its API path (`/v3/...`).
struct Request<'a> {
    method: &'a Method,
    path: &'a str,
}

impl Request<'_> {
    /// The meaning of an answer, given the attempts before it: 2xx and 404 are answers;
    /// 429, 5xx and undecodable success bodies are retried until their budget is spent;
    /// anything else fails at once.
    fn classify(&self, status: u16, bytes: &[u8], tries: &Tries, options: &ClientOptions) -> Attempt {
        // The attempt counts against its budget whether it is retried or not.
        let (failures, rate_limited) = (tries.failures + 1, tries.rate_limited + 1);
        let method = self.method.clone();
        let path = self.path.to_owned();
        match status {
            429 if rate_limited >= options.max_rate_limited_attempts => Attempt::Fail(Error::RateLimited {
                method,
                path,
                body: truncate_body(bytes),
                attempts: tries.attempts,
            }),
            429 => Attempt::Retry(Reason::RateLimited),
            500 | 502 | 503 | 504 if failures < options.max_attempts => {
                Attempt::Retry(Reason::ServerError(status))
            }
            200..=299 | 404 => {
                if status == 404 || status == 204 || bytes.iter().all(u8::is_ascii_whitespace) {
                    return Attempt::Answer(Answer { status, body: None });
                }
                match serde_json::from_slice::<Value>(bytes) {
                    Ok(json) => Attempt::Answer(Answer {
                        status,
                        body: Some(json),
                    }),
                    Err(_) if failures < options.max_attempts => Attempt::Retry(Reason::Undecodable),
                    Err(e) => Attempt::Fail(Error::Decode {
                        method,
                        path,
                        status,
                        reason: e.to_string(),
                        body: truncate_body(bytes),
                    }),
                }
            }
            // Other statuses, and server errors past the budget.
            _ => Attempt::Fail(Error::Status {
                method,
                path,
                status,
                body: truncate_body(bytes),
                attempts: tries.attempts,
            }),
        }
    }

    /// After a network failure (`source`, without its URL): retried while `transient`
    /// and within the budget.
    fn network_failure(
        &self,
        tries: &Tries,
        options: &ClientOptions,
        transient: bool,
        source: reqwest::Error,
    ) -> Attempt {
        if transient && tries.failures + 1 < options.max_attempts {
            return Attempt::Retry(Reason::Network);
        }
        Attempt::Fail(Error::Network {
            method: self.method.clone(),
            path: self.path.to_owned(),
            attempts: tries.attempts,
            source,
        })
    }
}

/// One request: path parameters, query, optional JSON body.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    store: StoreClient,
    version: ApiVersion,
    method: Method,
    path: String,
    path_params: Params,
    query: Params,
    body: Result<Option<Bytes>, String>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("path_params", &self.path_params)
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    /// Fills the `{key}` placeholder of the path template.
    pub fn path_param(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.path_params.set(key, value);
        self
    }

    /// Fill every `{key}` of the path from `params`.
    pub fn path_params(mut self, params: Params) -> Self {
        self.path_params = params;
        self
    }

    /// Adds a query parameter; lists are comma-joined (`id:in=1,2,3`).
    pub fn query(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.query.set(key, value);
        self
    }

    /// Add every parameter of `params` to the query.
    pub fn query_params(mut self, params: Params) -> Self {
        self.query = params;
        self
    }

    /// Sends `body` as JSON.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = serde_json::to_vec(body)
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| e.to_string());
        self
    }

    async fn answer(self) -> Result<(ApiVersion, Answer), Error> {
        let body = self
            .body
            .map_err(|e| Error::InvalidRequest(format!("request body is not JSON: {e}")))?;
        let path = expand_path(&self.path, &self.path_params)?;
        let answer = self
            .store
            .execute(&self.method, self.version, &path, &self.query, body.as_ref())
            .await?;
        Ok((self.version, answer))
    }

    /// The whole JSON body as sent (v3: the envelope with `data` and `meta`); `None` for a
    /// 404 or an empty answer.
    pub async fn send_raw(self) -> Result<Option<Value>, Error> {
        Ok(self.answer().await?.1.body)
    }

    /// v3: the envelope's `data`; v2: the body. `None` for a 404 or an empty answer (204).
    pub async fn send(self) -> Result<Option<Value>, Error> {
        let (version, answer) = self.answer().await?;
        Ok(answer.body.map(|body| unwrap_data(version, body)))
    }

    /// Like [`Self::send`], deserialised into `T`.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Option<T>, Error> {
        let method = self.method.clone();
        let path = format!("{}{}", self.version.prefix(), self.path);
        let (version, answer) = self.answer().await?;
        let status = answer.status;
        match answer.body {
            None => Ok(None),
            Some(body) => {
                let data = unwrap_data(version, body);
                serde_json::from_value::<T>(data.clone())
                    .map(Some)
                    .map_err(|e| Error::Decode {
                        method,
                        path,
                        status,
                        reason: e.to_string(),
                        body: truncate_body(data.to_string().as_bytes()),
                    })
            }
        }
    }
}

/// v3 answers wrap the resource in `data`; an answer without it is returned whole.
pub(crate) fn unwrap_data(version: ApiVersion, body: Value) -> Value {
    match (version, body) {
        (ApiVersion::V3, Value::Object(mut map)) if map.contains_key("data") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        (_, body) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three attempts for failures, five for rate limits.
    fn classify(status: u16, body: &str, failures: u32, rate_limited: u32) -> Attempt {
        let options = ClientOptions {
            max_attempts: 3,
            max_rate_limited_attempts: 5,
            ..ClientOptions::default()
        };
        let tries = Tries {
            attempts: failures + rate_limited + 1,
            failures,
            rate_limited,
        };
        let request = Request {
            method: &Method::GET,
            path: "/v3/catalog/products",
        };
        request.classify(status, body.as_bytes(), &tries, &options)
    }

    fn answer(attempt: Attempt) -> Answer {
        match attempt {
            Attempt::Answer(answer) => answer,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn retry(attempt: Attempt) -> Reason {
        match attempt {
            Attempt::Retry(reason) => reason,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    fn fail(attempt: Attempt) -> Error {
        match attempt {
            Attempt::Fail(error) => error,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn success_bodies_are_parsed_and_empty_ones_are_none() {
        let ok = answer(classify(200, r#"{"data": [1]}"#, 0, 0));
        assert_eq!(
            (ok.status, ok.body),
            (200, Some(serde_json::json!({"data": [1]})))
        );
        for (status, body) in [(204, ""), (200, " \n"), (404, r#"{"status": 404}"#), (201, "")] {
            let empty = answer(classify(status, body, 0, 0));
            assert_eq!((empty.status, empty.body), (status, None), "{status} {body:?}");
        }
    }

    #[test]
    fn an_undecodable_success_is_retried_then_fails_as_decode() {
        assert_eq!(retry(classify(200, "{\"cut", 1, 0)), Reason::Undecodable);
        let error = fail(classify(200, "{\"cut", 2, 0));
        assert!(matches!(error, Error::Decode { status: 200, .. }), "{error}");
    }

    #[test]
    fn server_errors_are_retried_within_the_failure_budget() {
        for status in [500, 502, 503, 504] {
            assert_eq!(retry(classify(status, "oops", 1, 0)), Reason::ServerError(status));
            let error = fail(classify(status, "oops", 2, 7));
            assert!(matches!(error, Error::Status { attempts: 10, .. }), "{error}");
            assert_eq!(error.status(), Some(status));
        }
    }

    #[test]
    fn rate_limits_have_their_own_budget() {
        // Failures so far do not count against it, nor it against them.
        assert_eq!(retry(classify(429, "", 2, 3)), Reason::RateLimited);
        let error = fail(classify(429, "slow down", 0, 4));
        assert!(matches!(error, Error::RateLimited { attempts: 5, .. }), "{error}");
        let mut tries = Tries::default();
        tries.count(&Reason::RateLimited);
        tries.count(&Reason::Network);
        tries.count(&Reason::ServerError(503));
        assert_eq!((tries.rate_limited, tries.failures), (1, 2));
    }

    #[test]
    fn other_statuses_fail_at_once() {
        for status in [301, 400, 401, 403, 409, 422, 501] {
            let error = fail(classify(status, "no", 0, 0));
            assert!(matches!(error, Error::Status { attempts: 1, .. }), "{error}");
            assert_eq!(error.status(), Some(status));
        }
    }
}
