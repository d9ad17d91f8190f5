//! The fast path's answers over the websocket, sent as the bytes it wrote.
//!
//! async-graphql's websocket protocol takes each answer as a `Response` and serialises
//! it into the `next` message itself. The fast path has already written its answer as
//! JSON; turning that back into a `Response` meant parsing it into a value tree only to
//! serialise it again, which cost a list page over the websocket about a third of its
//! throughput against the same page over HTTP.
//!
//! So a connection holds each fast answer here under a number, and hands the protocol a
//! stand-in `Response` whose `data` is that number as a string. When the protocol's
//! message for it reaches the connection's sink, [`Held::splice`] puts the held bytes in
//! the stand-in's place. A real answer's `data` is an object or null, never a string, so
//! no other message can be taken for a stand-in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One connection's fast answers on their way to its sink.
#[derive(Default)]
pub struct Held {
    next: AtomicU64,
    bodies: Mutex<HashMap<u64, Vec<u8>>>,
}

/// How a stand-in's message ends: `…"payload":{"data":"<number>"}}`.
const PAYLOAD: &str = "\"payload\":{\"data\":\"";
const END: &str = "\"}}";

impl Held {
    /// Hold `body` (a `{"data": …}` object) and return its stand-in.
    pub fn hold(&self, body: Vec<u8>) -> async_graphql::Response {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(number, body);
        async_graphql::Response::new(async_graphql::Value::String(number.to_string()))
    }

    /// `text` with a stand-in's payload replaced by the answer held for it; `None` when
    /// `text` is not a stand-in's message (every other message goes out as it is).
    pub fn splice(&self, text: &str) -> Option<String> {
        let rest = text.strip_suffix(END)?;
        let at = rest.rfind(PAYLOAD)?;
        let number: u64 = rest[at + PAYLOAD.len()..].parse().ok()?;
        let body = self.lock().remove(&number)?;
        let body = std::str::from_utf8(&body).ok()?;
        let mut message = String::with_capacity(at + 10 + body.len() + 1);
        message.push_str(&text[..at]);
        message.push_str("\"payload\":");
        message.push_str(body);
        message.push('}');
        Some(message)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<u8>>> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol's `next` message, as async-graphql writes it (the payload last).
    fn next_message(id: &str, response: &async_graphql::Response) -> String {
        let payload = serde_json::to_string(response).unwrap();
        format!(r#"{{"type":"next","id":"{id}","payload":{payload}}}"#)
    }

    #[test]
    fn a_stand_in_becomes_the_held_answer() {
        let held = Held::default();
        let body = br#"{"data":{"products":{"edges":[]}}}"#.to_vec();
        let stand_in = held.hold(body);
        let text = next_message("7", &stand_in);
        let sent = held.splice(&text).expect("a stand-in");
        let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"type": "next", "id": "7", "payload": {"data": {"products": {"edges": []}}}})
        );
        // Sent once: the same text again is not a stand-in any more.
        assert_eq!(held.splice(&text), None);
    }

    #[test]
    fn other_messages_go_out_as_they_are() {
        let held = Held::default();
        let _ = held.hold(b"{\"data\":{}}".to_vec());
        let answer = async_graphql::Response::new(async_graphql::Value::from_json(
            serde_json::json!({"a": "0"}),
        ).unwrap());
        for text in [
            next_message("1", &answer),
            // A string that looks like a number, but not as the whole `data`.
            r#"{"type":"next","id":"1","payload":{"data":{"x":"0"}}}"#.to_owned(),
            r#"{"type":"complete","id":"0"}"#.to_owned(),
            r#"{"type":"next","id":"1","payload":{"data":"99"}}"#.to_owned(),
        ] {
            assert_eq!(held.splice(&text), None, "{text}");
        }
    }
}
