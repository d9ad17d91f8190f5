//! Bounds on the caller's read input, checked on the parsed condition before any SQL
//! is written: list lengths (each value is a bound parameter, and SQLite refuses a
//! statement with more than 32,766, PostgreSQL with more than 65,535, which used to end
//! as a logged internal error), and search and prefix lengths (`LIKE '%…%'` runs per row).

use super::QueryError;
use super::filter::Cond;

/// Bounds on filters and search terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLimits {
    /// `BCGRAPH_MAX_FILTER_LIST_LENGTH`: values in one `in` / `notIn` list.
    pub list_length: usize,
    /// `BCGRAPH_MAX_FILTER_VALUES`: values in one filter, all lists and operators together.
    pub values: usize,
    /// `BCGRAPH_MAX_SEARCH_LENGTH`: characters of a `search` or `startsWith` term.
    pub term_length: usize,
}

pub const DEFAULT_MAX_LIST_LENGTH: usize = 1_000;
pub const DEFAULT_MAX_VALUES: usize = 10_000;
pub const DEFAULT_MAX_TERM_LENGTH: usize = 256;
/// The most values a filter may bind on any backend, leaving room for the statement's
/// own parameters (tenant, cursor, parent ids) under SQLite's 32,766.
pub const MAX_VALUES_CEILING: usize = 30_000;

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            list_length: DEFAULT_MAX_LIST_LENGTH,
            values: DEFAULT_MAX_VALUES,
            term_length: DEFAULT_MAX_TERM_LENGTH,
        }
    }
}

impl InputLimits {
    /// Refuse a condition whose lists, values or terms are over the bounds.
    pub fn check(&self, cond: &Cond) -> Result<(), QueryError> {
        let mut values = 0usize;
        self.walk(cond, &mut values)?;
        if values > self.values {
            return Err(QueryError::InvalidInput(format!(
                "the filter has {values} values; at most {} are allowed in one filter (BCGRAPH_MAX_FILTER_VALUES)",
                self.values
            )));
        }
        Ok(())
    }

    /// A `search` term.
    pub fn check_search(&self, term: &str) -> Result<(), QueryError> {
        self.term("search", term)
    }

    fn term(&self, what: &str, term: &str) -> Result<(), QueryError> {
        let length = term.chars().count();
        if length > self.term_length {
            return Err(QueryError::InvalidInput(format!(
                "the {what} term has {length} characters; at most {} are allowed (BCGRAPH_MAX_SEARCH_LENGTH)",
                self.term_length
            )));
        }
        Ok(())
    }

    fn walk(&self, cond: &Cond, values: &mut usize) -> Result<(), QueryError> {
        match cond {
            Cond::Const(_) | Cond::IsSet { .. } => {}
            Cond::All(conds) | Cond::Any(conds) => {
                for c in conds {
                    self.walk(c, values)?;
                }
            }
            Cond::Not(inner) | Cond::BelongsTo { inner, .. } | Cond::HasMany { inner, .. } => {
                self.walk(inner, values)?;
            }
            Cond::In { values: list, .. } => {
                if list.len() > self.list_length {
                    return Err(QueryError::InvalidInput(format!(
                        "an `in` / `notIn` list has {} values; at most {} are allowed (BCGRAPH_MAX_FILTER_LIST_LENGTH)",
                        list.len(),
                        self.list_length
                    )));
                }
                *values += list.len();
            }
            Cond::StartsWith { prefix, .. } => {
                self.term("startsWith", prefix)?;
                *values += 1;
            }
            Cond::Search(term, _) => {
                self.term("search", term)?;
                *values += 1;
            }
            Cond::Compare { .. } | Cond::Distinct { .. } => *values += 1,
            // SQLite compares each leaf (and each key) as its own parameter.
            Cond::JsonMatches { value, .. } => *values += json_size(value),
        }
        Ok(())
    }
}

/// Values and keys in a JSON value.
fn json_size(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => map.values().map(|v| 1 + json_size(v)).sum(),
        _ => 1,
    }
}
