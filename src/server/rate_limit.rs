//! Request rates on the API, per client address and per credential (GCRA, `governor`).
//!
//! The address limit runs before anything else of a request (before its body is
//! parsed, before authentication writes a session row); the credential limit once the
//! credential is known. Both count HTTP requests to `/api/graphql` and operations on the
//! websocket. Webhooks and BigCommerce's callbacks are not limited per address:
//! BigCommerce sends them from few addresses at high rates.

use super::{AppState, error_response};
use crate::auth::Identity;
use crate::config::{RATE_BURST_SECONDS, RateLimits};
use crate::graphql::errors::TOO_MANY_REQUESTS;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where a request comes from, as the rate limits and the websocket caps count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The address of a request: the first address of the trusted header when one is
    /// configured and present, the TCP peer otherwise. `None` when the server was not
    /// started with connect info (and no header says).
    pub fn of(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        trusted_header: Option<&header::HeaderName>,
    ) -> Option<Self> {
        let from_header = trusted_header
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| parse_address(first.trim()));
        from_header
            .or(peer.map(|p| p.ip()))
            .map(|ip| ClientAddress(key_of(ip)))
    }
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:80`.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// One key per client: an IPv4 address, or the /64 network of an IPv6 one (a single
/// host usually holds a whole /64, and could otherwise rotate through it).
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Who is asking, as the credential limit counts it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A merchant's staff user in a store (signed payloads, and their sessions).
    StoreUser(i64, String),
    /// A browser session.
    Session(i64),
    /// An API key, by its id.
    ApiKey(i64),
}

impl Credential {
    /// The credential behind an authenticated `identity`. `None` for a new anonymous
    /// session (only its address identifies it), and for a `system-admin` API key: the
    /// operator's own back-end code is not rate-limited.
    pub fn of(identity: &Identity, new_session: bool) -> Option<Credential> {
        if new_session {
            return None;
        }
        if identity.api_key_id.is_some()
            && identity.store_id.is_none()
            && identity.roles.iter().any(|r| r == crate::auth::ROLE_ADMIN)
        {
            return None;
        }
        if let Some(key) = identity.api_key_id {
            return Some(Credential::ApiKey(key));
        }
        if let (Some(store), Some(user)) = (identity.store_id, &identity.bigcommerce_user_id) {
            return Some(Credential::StoreUser(store, user.clone()));
        }
        identity.session_id.map(Credential::Session)
    }
}

/// Why a request was refused, and when to come back.
#[derive(Debug)]
pub struct Limited {
    pub message: String,
    pub retry_after: Duration,
}

impl Limited {
    /// HTTP 429 with `Retry-After` and the GraphQL error shape.
    pub fn response(&self) -> Response {
        let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, &self.message);
        if let Ok(value) = HeaderValue::from_str(&self.retry_seconds().to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    /// Whole seconds to wait, at least one.
    pub fn retry_seconds(&self) -> u64 {
        let whole = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        whole.max(1)
    }
}

/// Checks between which a keyed limiter drops the state of idle clients.
const SWEEP_EVERY: u64 = 4096;

/// A limiter per key, or none when its rate is 0.
struct Keyed<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
    /// What the refusal says is limited, and by which setting.
    what: &'static str,
}

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    fn new(per_second: u32, what: &'static str) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(RATE_BURST_SECONDS)).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Keyed {
            limiter,
            checks: AtomicU64::new(0),
            what,
        }
    }

    fn check(&self, key: &K) -> Result<(), Limited> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Without this the map keeps one entry per client ever seen.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(key).map_err(|not_until| Limited {
            message: format!("too many requests {}; retry later", self.what),
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

/// The process's rate limiters.
pub struct RateLimiters {
    per_address: Keyed<ClientAddress>,
    per_credential: Keyed<Credential>,
    pub client_ip_header: Option<header::HeaderName>,
}

impl RateLimiters {
    pub fn new(rates: &RateLimits) -> Self {
        RateLimiters {
            per_address: Keyed::new(
                rates.per_address,
                "from this address (BCGRAPH_RATE_LIMIT_PER_ADDRESS)",
            ),
            per_credential: Keyed::new(
                rates.per_credential,
                "with these credentials (BCGRAPH_RATE_LIMIT_PER_CREDENTIAL)",
            ),
            client_ip_header: rates.client_ip_header.clone(),
        }
    }

    /// Count one request from `address` (unknown: not limited).
    pub fn check_address(&self, address: Option<ClientAddress>) -> Result<(), Limited> {
        match address {
            Some(address) => self.per_address.check(&address),
            None => Ok(()),
        }
    }

    /// Count one request with `credential` (none: not limited).
    pub fn check_credential(&self, credential: Option<&Credential>) -> Result<(), Limited> {
        match credential {
            Some(credential) => self.per_credential.check(credential),
            None => Ok(()),
        }
    }
}

/// An address whose rate is charged only once the request's API key is known: back-end
/// code with a valid key is not limited per address (many requests from one host are
/// what it does), but a key that does not open counts against the address.
#[derive(Clone, Copy, Debug)]
pub struct AddressDeferred(pub Option<ClientAddress>);

/// Does the request present an API key (`authorization: Bearer ...`)?
fn presents_api_key(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

/// Middleware on the API routes: find the client's address, keep it in the request's
/// extensions for the handlers, and refuse the request when the address is over its rate
/// (for a request with an API key, after authentication: see [`AddressDeferred`]).
pub async fn limit_address(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let address = ClientAddress::of(
        request.headers(),
        peer,
        state.edge.rates.client_ip_header.as_ref(),
    );
    if presents_api_key(request.headers()) {
        request.extensions_mut().insert(AddressDeferred(address));
    } else if let Err(limited) = state.edge.rates.check_address(address) {
        return limited.response();
    }
    if let Some(address) = address {
        request.extensions_mut().insert(address);
    }
    next.run(request).await
}
