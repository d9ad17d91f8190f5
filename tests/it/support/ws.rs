//! A graphql-transport-ws client for tests: connect with an `auth` payload as the
//! client's `connection_init` sends it, then read JSON messages with a deadline.

use super::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection to `/api/graphql/batch` and its `connection_ack`.
pub async fn connect(app: &TestApp, auth: Value) -> (Socket, Value) {
    connect_to(&app.url, auth).await
}

/// [`connect`] to the gateway at `base` (`http://host:port`).
pub async fn connect_to(base: &str, auth: Value) -> (Socket, Value) {
    let url = base.replace("http://", "ws://") + "/api/graphql/batch";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    let init = json!({"type": "connection_init", "payload": {"auth": auth}});
    ws.send(Message::text(init.to_string())).await.unwrap();
    let ack = next_json(&mut ws, Duration::from_secs(15)).await.expect("an ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    (ws, ack)
}

/// The next text message as JSON, or `None` if none comes within `wait`.
pub async fn next_json(ws: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, ws.next())
            .await
            .ok()?
            .expect("open")
            .expect("readable");
        if let Message::Text(text) = message {
            return Some(serde_json::from_str(&text).unwrap());
        }
    }
}

/// Start operation `id`.
pub async fn subscribe(ws: &mut Socket, id: &str, query: &str, variables: Value) {
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// Stop operation `id`.
pub async fn complete(ws: &mut Socket, id: &str) {
    let message = json!({"id": id, "type": "complete"});
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The names of the products in an answer to `{ bigcommerce { products { edges { node
/// { name } } } } }` (a `next` message).
pub fn product_names(message: &Value) -> Vec<String> {
    message["payload"]["data"]["bigcommerce"]["products"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a product list: {message}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap_or("").to_owned())
        .collect()
}
