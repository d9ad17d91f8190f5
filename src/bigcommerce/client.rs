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
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
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
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::GET, path)
    }
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::POST, path)
    }
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.store.request(self.version, Method::PUT, path)
    }
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
    pub fn store_hash(&self) -> &str {
        &self.store_hash
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The pacing state shared by every client of this store in the process.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    pub fn v3(&self) -> Versioned<'_> {
        Versioned {
            store: self,
            version: ApiVersion::V3,
        }
    }

    pub fn v2(&self) -> Versioned<'_> {
        Versioned {
            store: self,
            version: ApiVersion::V2,
        }
    }

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

        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        loop {
            let permit = self.pacer.acquire().await;
            attempts += 1;
            let mut request = self
                .inner
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", token.clone())
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, options.user_agent.as_str());
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(source) => {
                    drop(permit);
                    failures += 1;
                    if failures >= options.max_attempts || !is_transient(&source) {
                        return Err(Error::Network {
                            method: method.clone(),
                            path: api_path,
                            attempts,
                            source: source.without_url(),
                        });
                    }
                    tracing::debug!(%method, path = %api_path, error = %source.without_url(), failures, "BigCommerce request failed; retrying");
                    self.backoff(failures).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let limits = RateHeaders::from_headers(response.headers());
            permit.finish(status, &limits, options);
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(source) => {
                    failures += 1;
                    if failures >= options.max_attempts {
                        return Err(Error::Network {
                            method: method.clone(),
                            path: api_path,
                            attempts,
                            source: source.without_url(),
                        });
                    }
                    self.backoff(failures).await;
                    continue;
                }
            };
            match status {
                429 => {
                    rate_limited += 1;
                    tracing::debug!(%method, path = %api_path, rate_limited, "BigCommerce answered 429");
                    if rate_limited >= options.max_rate_limited_attempts {
                        return Err(Error::RateLimited {
                            method: method.clone(),
                            path: api_path,
                            body: truncate_body(&bytes),
                            attempts,
                        });
                    }
                    // The pacer now holds every task of this store until the pause is over.
                }
                500 | 502 | 503 | 504 => {
                    failures += 1;
                    if failures >= options.max_attempts {
                        return Err(Error::Status {
                            method: method.clone(),
                            path: api_path,
                            status,
                            body: truncate_body(&bytes),
                            attempts,
                        });
                    }
                    tracing::debug!(%method, path = %api_path, status, failures, "BigCommerce server error; retrying");
                    self.backoff(failures).await;
                }
                200..=299 | 404 => {
                    if status == 404 || status == 204 || bytes.iter().all(u8::is_ascii_whitespace) {
                        return Ok(Answer { status, body: None });
                    }
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(json) => {
                            return Ok(Answer {
                                status,
                                body: Some(json),
                            });
                        }
                        // A success status with a body that is not JSON is most often a body
                        // cut short on the way; it is retried like a network error.
                        Err(e) => {
                            failures += 1;
                            if failures >= options.max_attempts {
                                return Err(Error::Decode {
                                    method: method.clone(),
                                    path: api_path,
                                    status,
                                    reason: e.to_string(),
                                    body: truncate_body(&bytes),
                                });
                            }
                            self.backoff(failures).await;
                        }
                    }
                }
                _ => {
                    return Err(Error::Status {
                        method: method.clone(),
                        path: api_path,
                        status,
                        body: truncate_body(&bytes),
                        attempts,
                    });
                }
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

    pub fn path_params(mut self, params: Params) -> Self {
        self.path_params = params;
        self
    }

    /// Adds a query parameter; lists are comma-joined (`id:in=1,2,3`).
    pub fn query(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.query.set(key, value);
        self
    }

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
