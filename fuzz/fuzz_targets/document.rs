//! `document`: a GraphQL request through the gateway's document-to-plan path
//! ([`bcgraph::graphql::check::Checker`]): the body reader, the nesting guard, the
//! document limits, async-graphql's parse and validation against the real schema, and the
//! gateway's own parsing of filters, sorts, cursors, record inputs and background options.
//!
//! Input: the document, then (after the first NUL byte, if any) the variables as JSON
//! text. The POST body is made from them as the client makes it, so both reach the
//! checker the way the HTTP handler reads them. The raw bytes are also read as a body.

#![no_main]

use bcgraph::graphql::check::{Checker, read_request};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CHECKER: LazyLock<Checker> = LazyLock::new(Checker::new);

fuzz_target!(|data: &[u8]| {
    let _ = read_request(data);
    let (document, variables) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    // A JSON body holds text only.
    let document = String::from_utf8_lossy(document);
    let variables = String::from_utf8_lossy(variables);
    let query = serde_json::to_string(&document).expect("a string encodes");
    let body = format!("{{\"query\":{query},\"variables\":{variables}}}");
    let _ = CHECKER.check_body(body.as_bytes());
});
