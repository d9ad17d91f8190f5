//! `webhook`: a BigCommerce webhook delivery through the checks that
//! `POST /webhooks/bigcommerce` runs before it reads the database
//! ([`bcgraph::bigcommerce::webhooks::check`]): size, JSON, scope, producer and hash, the
//! store's secret header, the Standard Webhooks signature and timestamp, and the job the
//! scope runs.
//!
//! Input: one flag byte, then header lines (`name: value`) up to an empty line, then the
//! body. Flag bit 0 adds the right secret header for the body's producer, bit 1 a right
//! signature over the body: no fuzzer guesses an HMAC, and without them every input would
//! stop at the first check.

#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bcgraph::auth::Secrets;
use bcgraph::bigcommerce::webhooks::{self, SECRET_HEADER, Triggers};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const CLIENT_SECRET: &str = "the fuzz target's client secret";
/// The clock of every run (2026-01-01), so that a crash replays.
const NOW: i64 = 1_767_225_600;

static SECRETS: LazyLock<Secrets> =
    LazyLock::new(|| Secrets::new(b"the fuzz target's gateway secret, 32+ bytes", &[] as &[&[u8]]));
static TRIGGERS: LazyLock<Triggers> =
    LazyLock::new(|| Triggers::default().on("store/cart/*", "fuzz/cartChanged"));

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    if flags & 1 != 0 {
        let producer = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|d| d.get("producer")?.as_str().map(str::to_owned));
        if let Some(hash) = producer.as_deref().and_then(|p| p.strip_prefix("stores/"))
            && let Ok(value) = HeaderValue::from_str(&webhooks::store_secret(&SECRETS, hash))
        {
            headers.insert(SECRET_HEADER, value);
        }
    }
    if flags & 2 != 0 {
        let id = text(&headers, "webhook-id").unwrap_or_else(|| "msg_fuzz".to_owned());
        let timestamp = text(&headers, "webhook-timestamp").unwrap_or_else(|| NOW.to_string());
        let signature = webhooks::signature(CLIENT_SECRET, &id, &timestamp, body);
        for (name, value) in [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", format!("v1,{signature}")),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    let _ = webhooks::check(&headers, body, &SECRETS, Some(CLIENT_SECRET), &TRIGGERS, NOW);
});
