//! What a new sync is asked to do, read from the API's input (`models`, `syncSince`,
//! `force`) or the command line's.

use super::Resource;
use crate::action::ActionError;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

/// What a new sync is asked to do.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Every resource when empty.
    pub models: Vec<Resource>,
    pub since: Option<DateTime<Utc>>,
    pub force: bool,
}

impl Request {
    /// From the API's input: `models` (names), `syncSince`, `force`.
    pub fn from_json(input: &Json) -> Result<Request, ActionError> {
        let invalid = |m: String| ActionError::InvalidInput(m);
        let models = match input.get("models") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .and_then(Resource::parse)
                        .ok_or_else(|| invalid(format!("models: `{n}` is not a resource the sync copies")))
                })
                .collect::<Result<_, _>>()?,
            Some(Json::String(list)) => list
                .split(',')
                .map(|n| {
                    Resource::parse(n).ok_or_else(|| invalid(format!("models: `{n}` is not a resource")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(invalid(format!("models must be a list of names, not {other}"))),
        };
        let since = match input.get("syncSince") {
            None | Some(Json::Null) => None,
            Some(Json::String(text)) => {
                Some(parse_time(text).ok_or_else(|| {
                    invalid(format!("syncSince: `{text}` is not a date and time (RFC 3339)"))
                })?)
            }
            Some(other) => return Err(invalid(format!("syncSince must be a date and time, not {other}"))),
        };
        let force = match input.get("force") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(other) => return Err(invalid(format!("force must be true or false, not {other}"))),
        };
        Ok(Request { models, since, force })
    }
}

/// RFC 3339, or a date alone (its midnight, UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}
