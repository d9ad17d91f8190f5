//! `/api/graphql/batch`: GraphQL over a websocket (graphql-transport-ws), bounded like
//! the HTTP endpoint: the same message size as a POST body, the document check on
//! every operation, rates per address and credential, caps on connections (all and per
//! address) and on the operations one connection runs at once, and a lifetime for each
//! subscription.

use super::AppState;
use super::rate_limit::{ClientAddress, Credential};
use super::socket_answers::Held;
use crate::action::Api;
use crate::auth::{AuthError, Identity};
use crate::config::Limits;
use crate::graphql::errors::TOO_MANY_REQUESTS;
use crate::graphql::{self, RequestContext, cost, execute};
use async_graphql::Data;
use async_graphql::dynamic::Schema;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::Extensions;
use axum::response::Response;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Close code for "too many requests" (the contract's; graphql-ws clients report it).
pub const CLOSE_TOO_MANY: u16 = 4294;
/// Close code for a connection whose identity is no longer valid (graphql-ws's "Forbidden").
pub const CLOSE_REVOKED: u16 = 4403;

/// The upgrade: messages and frames no larger than a POST body (tungstenite's own
/// defaults are 64 MiB and 16 MiB); a larger one closes the connection.
pub async fn graphql_websocket(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    extensions: Extensions,
    upgrade: WebSocketUpgrade,
) -> Response {
    let address = extensions.get::<ClientAddress>().copied();
    let largest = state.edge.limits.body_bytes;
    upgrade
        .max_message_size(largest)
        .max_frame_size(largest)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, address, protocol, socket))
}

/// One connection, from the upgrade to its close.
async fn serve(
    state: AppState,
    address: Option<ClientAddress>,
    protocol: GraphQLProtocol,
    mut socket: WebSocket,
) {
    let _slot = match state.edge.sockets.open(address) {
        Ok(slot) => slot,
        Err(reason) => {
            let close = CloseFrame {
                code: CLOSE_TOO_MANY,
                reason: reason.into(),
            };
            let _ = socket.send(Message::Close(Some(close))).await;
            return;
        }
    };
    let (mut sink, stream) = socket.split();
    // The identity reaches the revocation hook once `connection_init` has established it.
    let (identity_tx, identity_rx) = tokio::sync::oneshot::channel::<Identity>();
    let revoked = Arc::new(AtomicBool::new(false));
    let going_away = Arc::new(AtomicBool::new(false));
    let until_revoked = {
        let (state, revoked) = (state.clone(), revoked.clone());
        async move {
            match identity_rx.await {
                Ok(identity) => {
                    identity_revoked(&state, &identity).await;
                    revoked.store(true, Ordering::Relaxed);
                }
                // The connection never authenticated: nothing to revoke.
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    // The process shutting down ends the connection too, with a close frame that tells
    // the client to connect again (elsewhere, or here once restarted).
    let until_ended = {
        let (drain, going_away) = (state.edge.drain.clone(), going_away.clone());
        async move {
            tokio::select! {
                () = until_revoked => {}
                () = drain.started() => going_away.store(true, Ordering::Relaxed),
            }
        }
    };
    let held = Arc::new(Held::default());
    let executor = SocketExecutor {
        schema: state.schema.clone(),
        api: state.api.clone(),
        edge: state.edge.clone(),
        changes: state.live.clone(),
        address,
        running: Arc::new(AtomicUsize::new(0)),
        live: Arc::new(AtomicUsize::new(0)),
        metrics: state.metrics.clone(),
        held: held.clone(),
    };
    let init_state = state.clone();
    // A session minted for this connection (a browser session without a usable token)
    // goes to the client in `connection_ack`'s payload, which async-graphql leaves empty.
    let minted: Minted = Default::default();
    let init_minted = minted.clone();
    let outgoing = (&mut sink).with(move |message: Message| {
        let (minted, held) = (minted.clone(), held.clone());
        async move { Ok::<_, axum::Error>(outgoing(message, &minted, &held)) }
    });
    // Ending the input ends the connection (and drops its running operations).
    GraphQLWebSocket::new_with_pair(outgoing, stream.take_until(until_ended), executor, protocol)
        .on_connection_init(move |payload| connection_init(init_state, payload, identity_tx, init_minted))
        .serve()
        .await;
    if revoked.load(Ordering::Relaxed) {
        let close = CloseFrame {
            code: CLOSE_REVOKED,
            reason: "the credentials of this connection are no longer valid".into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    } else if going_away.load(Ordering::Relaxed) {
        let close = CloseFrame {
            code: super::drain::CLOSE_GOING_AWAY,
            reason: "the server is restarting".into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    }
}

/// Resolves when the identity a connection authenticated with stops being valid (an
/// expired token, an uninstalled store, a removed user, a revoked key); the connection
/// is then closed with [`CLOSE_REVOKED`]. Checked at once when this process announces an
/// uninstall or a removal that concerns it, when its credential expires, and every
/// `BCGRAPH_WS_RECHECK_SECONDS` otherwise (another process's uninstall, a revoked key).
async fn identity_revoked(state: &AppState, identity: &Identity) {
    let mut announced = crate::auth::revocation::subscribe();
    let mut every = tokio::time::interval(state.edge.limits.sockets.recheck);
    every.tick().await;
    let expiry = identity.expires_at.map(|at| {
        let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    loop {
        let expired = async {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = announced.recv() => match event {
                Ok(event) if !event.affects(identity.store_id, identity.bigcommerce_user_id.as_deref()) => continue,
                // Ours, or missed ones: check.
                _ => {}
            },
            _ = every.tick() => {}
            _ = expired => {}
        }
        match state.auth.revalidate(identity).await {
            Ok(()) => {}
            Err(AuthError::Denied(reason)) => {
                tracing::info!(%reason, "closing a websocket whose credentials ended");
                return;
            }
            // The database is away: keep the connection, check again later.
            Err(AuthError::Database(e)) => {
                tracing::warn!(error = %e, "cannot recheck a websocket's credentials")
            }
        }
    }
}

/// The token of a session minted in `connection_init`, until `connection_ack` carries it.
type Minted = Arc<Mutex<Option<String>>>;

/// A message on its way out: a fast answer's stand-in replaced by the answer (see
/// [`Held`]); `connection_ack` with `{sessionToken}` when a session was minted for the
/// connection (the client keeps it, as it keeps `x-set-authorization` over HTTP); any
/// other message as it is.
fn outgoing(message: Message, minted: &Minted, held: &Held) -> Message {
    let Message::Text(text) = &message else {
        return message;
    };
    if let Some(answer) = held.splice(text) {
        return Message::text(answer);
    }
    let mut minted = minted.lock().unwrap_or_else(|e| e.into_inner());
    // Only read when a token waits: every answer passes here, and most are large.
    let is_ack = minted.is_some()
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v["type"] == "connection_ack");
    match minted.take_if(|_| is_ack) {
        Some(token) => Message::text(
            serde_json::json!({"type": "connection_ack", "payload": {"sessionToken": token}}).to_string(),
        ),
        None => message,
    }
}

/// `connection_init`: authenticate `payload.auth` for the life of the connection.
async fn connection_init(
    state: AppState,
    payload: serde_json::Value,
    identity_tx: tokio::sync::oneshot::Sender<Identity>,
    minted: Minted,
) -> async_graphql::Result<Data> {
    let auth = payload.get("auth").cloned().unwrap_or(serde_json::Value::Null);
    let authenticated = state
        .auth
        .authenticate_websocket(&auth)
        .await
        .map_err(|e| match e {
            AuthError::Denied(message) => async_graphql::Error::new(message),
            // The client learns that something failed, never the database's words.
            AuthError::Database(e) => {
                tracing::error!(error = %e, "database error while authenticating a websocket");
                async_graphql::Error::new("internal error while authenticating")
            }
        })?;
    let credential = Credential::of(&authenticated.identity, false);
    if let Some(token) = authenticated.new_token {
        *minted.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
    }
    let _ = identity_tx.send(authenticated.identity.clone());
    let mut data = Data::default();
    data.insert(authenticated.identity);
    data.insert(SocketCredential(credential));
    Ok(data)
}

/// The credential a connection authenticated with, for its rate limit.
struct SocketCredential(Option<Credential>);

/// Open connections, all together and per client address.
#[derive(Default)]
pub struct SocketSlots {
    max: usize,
    max_per_address: usize,
    open: AtomicUsize,
    per_address: Mutex<HashMap<ClientAddress, usize>>,
    /// Live queries open over every connection (for the metrics).
    live_queries: Arc<AtomicUsize>,
}

/// A connection's place; given back when dropped.
pub struct SocketSlot<'a> {
    slots: &'a SocketSlots,
    address: Option<ClientAddress>,
}

impl SocketSlots {
    pub fn new(limits: &Limits) -> Self {
        SocketSlots {
            max: limits.sockets.connections,
            max_per_address: limits.sockets.connections_per_address,
            ..Default::default()
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Live queries open now, over every connection.
    pub fn open_live_queries(&self) -> usize {
        self.live_queries.load(Ordering::Relaxed)
    }

    /// Take a place for a connection from `address`, or say why there is none.
    pub fn open(&self, address: Option<ClientAddress>) -> Result<SocketSlot<'_>, String> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            });
        if taken.is_err() {
            return Err(format!(
                "too many connections to the server (BCGRAPH_WS_MAX_CONNECTIONS = {})",
                self.max
            ));
        }
        if let Some(address) = address {
            let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let count = per_address.entry(address).or_default();
            if *count >= self.max_per_address {
                drop(per_address);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(format!(
                    "too many connections from this address (BCGRAPH_WS_MAX_CONNECTIONS_PER_ADDRESS = {})",
                    self.max_per_address
                ));
            }
            *count += 1;
        }
        Ok(SocketSlot { slots: self, address })
    }
}

impl Drop for SocketSlot<'_> {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            let mut per_address = self.slots.per_address.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = per_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    per_address.remove(&address);
                }
            }
        }
        self.slots.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs the operations of one connection as the identity it authenticated with: each
/// operation gets its own request context. Queries and mutations answer once;
/// subscriptions stream.
#[derive(Clone)]
struct SocketExecutor {
    schema: Schema,
    api: Api,
    edge: Arc<super::Edge>,
    changes: crate::live::Changes,
    address: Option<ClientAddress>,
    /// Operations of this connection that have not finished.
    running: Arc<AtomicUsize>,
    /// Live queries of this connection that are open.
    live: Arc<AtomicUsize>,
    /// Counts each query, mutation and subscription started here.
    metrics: crate::metrics::Metrics,
    /// Fast answers on their way to the sink.
    held: Arc<Held>,
}

/// An operation's place among its connection's running ones; given back when dropped.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn once(response: async_graphql::Response) -> BoxStream<'static, async_graphql::Response> {
    futures::stream::once(async move { response }).boxed()
}

/// Take one of `max` places counted by `count`.
fn take_place(count: &Arc<AtomicUsize>, max: usize) -> Option<Running> {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Running(count.clone()))
}

impl SocketExecutor {
    fn start(&self) -> Option<Running> {
        take_place(&self.running, self.edge.limits.sockets.operations_per_connection)
    }

    /// A live query: its answer now, then a new one whenever a table it reads changed
    /// and its answer with it (at most one per [`crate::live::COALESCE`]), until the
    /// subscription lifetime or the client stops it. Each run is checked and budgeted
    /// like a request of its own, as the connection's identity.
    fn live_query(
        &self,
        text: String,
        request: async_graphql::Request,
        identity: Identity,
        running: Running,
    ) -> BoxStream<'static, async_graphql::Response> {
        let limits = self.edge.limits.clone();
        let max = limits.sockets.live_queries_per_connection;
        let Some(open) = take_place(&self.live, max) else {
            return once(graphql::errors::refusal(
                TOO_MANY_REQUESTS,
                &format!(
                    "this connection already has {max} live queries, the most it may (BCGRAPH_WS_MAX_LIVE_QUERIES); \
                     stop one first"
                ),
            ));
        };
        // A store's caller reruns on its own store's changes (and table-wide ones).
        let store = identity.store_id;
        let tables = async_graphql::parser::parse_query(&text)
            .map(|document| crate::live::tables_read(&document, &self.api.registry))
            .unwrap_or_default();
        let (variables, operation) = (request.variables, request.operation_name);
        let (schema, api) = (self.schema.clone(), self.api.clone());
        let run = move || {
            let mut request = async_graphql::Request::new(text.clone()).variables(variables.clone());
            if let Some(name) = &operation {
                request = request.operation_name(name.clone());
            }
            let (schema, api, limits, identity) =
                (schema.clone(), api.clone(), limits.clone(), identity.clone());
            async move {
                let checked = match cost::check(request, &limits.document) {
                    Ok(checked) => checked,
                    Err(refused) => return refused.response(),
                };
                let context = RequestContext::new(&api, identity)
                    .with_limits(limits.records_per_request, &limits.input);
                let timeout = limits.execution_timeout;
                graphql::fast::execute(&schema, checked.request, context, timeout, limits.fast_reads)
                    .await
                    .into_response()
            }
        };
        self.edge.sockets.live_queries.fetch_add(1, Ordering::AcqRel);
        let counted = Running(self.edge.sockets.live_queries.clone());
        let changes = self.changes.subscribe();
        let ends = tokio::time::Instant::now() + self.edge.limits.sockets.subscription_lifetime;
        let lifetime = self.edge.limits.sockets.subscription_lifetime;
        let state = LiveState {
            changes,
            last: None,
            last_run: tokio::time::Instant::now(),
            over: false,
            _places: (running, open, counted),
        };
        futures::stream::unfold(state, move |mut state| {
            let run = run.clone();
            let tables = tables.clone();
            async move {
                if state.over {
                    return None;
                }
                if state.last.is_none() {
                    let answer = run().await;
                    state.last = Some(serde_json::to_value(&answer).unwrap_or_default());
                    state.last_run = tokio::time::Instant::now();
                    return Some((answer, state));
                }
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(ends) => {
                            state.over = true;
                            let message = format!(
                                "the live query reached its lifetime of {} s (BCGRAPH_SUBSCRIPTION_MAX_SECONDS); subscribe again",
                                lifetime.as_secs()
                            );
                            return Some((graphql::errors::refusal(TOO_MANY_REQUESTS, &message), state));
                        }
                        change = state.changes.recv() => match change {
                            Ok(change) if crate::live::concerns(&change, &tables, store) => {}
                            Ok(_) => continue,
                            // Missed some: any of them may be ours.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        },
                    }
                    // Changes that arrive meanwhile are answered by this run.
                    tokio::time::sleep_until(state.last_run + crate::live::COALESCE).await;
                    while state.changes.try_recv().is_ok() {}
                    let answer = run().await;
                    state.last_run = tokio::time::Instant::now();
                    let seen = serde_json::to_value(&answer).unwrap_or_default();
                    if state.last.as_ref() != Some(&seen) {
                        state.last = Some(seen);
                        return Some((answer, state));
                    }
                }
            }
        })
        .boxed()
    }
}

/// Where a live query stands between two answers.
struct LiveState {
    changes: tokio::sync::broadcast::Receiver<Arc<str>>,
    /// The last answer sent, to send only what differs.
    last: Option<serde_json::Value>,
    last_run: tokio::time::Instant,
    over: bool,
    /// The query's places among the connection's operations and live queries, and
    /// among every connection's live queries.
    _places: (Running, Running, Running),
}

impl async_graphql::Executor for SocketExecutor {
    /// Not used by the websocket (it always streams); checked all the same.
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match cost::check(request, &self.edge.limits.document) {
            Ok(checked) => self.schema.execute(checked.request).await,
            Err(refused) => refused.response(),
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let identity = session_data
            .as_ref()
            .and_then(|data| data.get(&std::any::TypeId::of::<Identity>()));
        let Some(identity) = identity.and_then(|i| i.downcast_ref::<Identity>()).cloned() else {
            return once(async_graphql::Response::from_errors(vec![
                async_graphql::ServerError::new("the connection is not authenticated", None),
            ]));
        };
        let credential = session_data
            .as_ref()
            .and_then(|data| data.get(&std::any::TypeId::of::<SocketCredential>()))
            .and_then(|c| c.downcast_ref::<SocketCredential>())
            .and_then(|c| c.0.clone());
        let rates = &self.edge.rates;
        // Back-end code with an API key is limited by its key, not its host's address.
        let address = if identity.api_key_id.is_some() {
            None
        } else {
            self.address
        };
        if let Err(limited) = rates
            .check_address(address)
            .and_then(|()| rates.check_credential(credential.as_ref()))
        {
            let message = format!("{}; retry in {} s", limited.message, limited.retry_seconds());
            return once(graphql::errors::refusal(TOO_MANY_REQUESTS, &message));
        }
        let Some(running) = self.start() else {
            return once(graphql::errors::refusal(
                TOO_MANY_REQUESTS,
                &format!(
                    "this connection already runs {} operations, the most it may (BCGRAPH_WS_MAX_OPERATIONS); \
                     complete one first",
                    self.edge.limits.sockets.operations_per_connection
                ),
            ));
        };
        // Too deep a document is refused by the check below before anything parses it.
        let shallow = cost::check_nesting(&request.query, cost::MAX_NESTING).is_ok();
        if shallow && request.query.contains("@live") {
            match crate::live::strip_live(&request.query) {
                Ok(Some(text)) => return self.live_query(text, request, identity, running),
                Ok(None) => {}
                Err(message) => {
                    return once(graphql::errors::refusal(
                        graphql::errors::INVALID_QUERY_INPUT,
                        &message,
                    ));
                }
            }
        }
        let limits = &self.edge.limits;
        let checked = match cost::check(request, &limits.document) {
            Ok(checked) => checked,
            Err(refused) => return once(refused.response()),
        };
        let context =
            RequestContext::new(&self.api, identity).with_limits(limits.records_per_request, &limits.input);
        if checked.is_subscription() {
            // Counted as it starts: its events may end in errors much later.
            self.metrics.graphql_operation(checked.operation, None);
            let events = execute::subscription(
                &self.schema,
                checked.request,
                context,
                session_data.unwrap_or_default(),
                limits.sockets.subscription_lifetime,
            );
            // The place is held until the subscription ends or is stopped.
            events
                .map(move |event| {
                    let _ = &running;
                    event
                })
                .boxed()
        } else {
            let (schema, metrics, held) = (self.schema.clone(), self.metrics.clone(), self.held.clone());
            let (timeout, fast) = (limits.execution_timeout, limits.fast_reads);
            let kind = checked.operation;
            let answer: BoxFuture<'static, async_graphql::Response> = async move {
                let _running = running;
                match graphql::fast::execute(&schema, checked.request, context, timeout, fast).await {
                    graphql::fast::Answer::Body(body) => {
                        metrics.graphql_operation(kind, None);
                        held.hold(body)
                    }
                    graphql::fast::Answer::Response(response) => {
                        metrics.graphql_operation(kind, crate::metrics::first_code(&response));
                        response
                    }
                }
            }
            .boxed();
            answer.into_stream().boxed()
        }
    }
}
