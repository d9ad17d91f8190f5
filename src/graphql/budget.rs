//! The record budget of one request: how many records its resolvers may hand to the
//! executor.
//!
//! Depth and complexity limits count fields, not rows: a belongsTo → hasMany cycle
//! (`store { products(first: 250) { edges { node { store { products(first: 250) ...`)
//! multiplies by 250 at every turn while the document stays small, and async-graphql
//! builds the whole answer as a `Value` tree in memory before anything is sent. Every
//! resolver that hands out records takes them from this budget first; once it is spent,
//! resolvers hand out nothing more (empty pages, nulls: no error per field), and the
//! finished response is replaced by one error (see [`super::execute`]).
//!
//! Reads take their records *before* they wait for the database (a page its size, a
//! relationship one record) and give back what they did not find: sibling resolvers
//! run concurrently, and a resolver that waits on a batched load holds its state until
//! the batch returns, so a budget counted only afterwards would let every one of them
//! start first.

use super::errors::INVALID_QUERY_INPUT;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const DEFAULT_MAX_RECORDS: u64 = 50_000;

#[derive(Debug)]
pub struct RecordBudget {
    limit: u64,
    handed: AtomicU64,
    spent: AtomicBool,
}

impl RecordBudget {
    pub fn new(limit: u64) -> RecordBudget {
        RecordBudget {
            limit,
            handed: AtomicU64::new(0),
            spent: AtomicBool::new(false),
        }
    }

    /// Take `n` records. False, with nothing taken, when they would go past the limit:
    /// from then on the budget is spent and every later take fails too.
    pub fn take(&self, n: usize) -> bool {
        if self.spent.load(Ordering::Relaxed) {
            return false;
        }
        let n = n as u64;
        let taken = self
            .handed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |handed| {
                handed.checked_add(n).filter(|total| *total <= self.limit)
            });
        if taken.is_err() {
            self.spent.store(true, Ordering::Relaxed);
        }
        taken.is_ok()
    }

    /// Give back `n` records taken but not handed out (a reservation made before a
    /// read that found fewer). A spent budget stays spent.
    pub fn give_back(&self, n: usize) {
        let _ = self
            .handed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |handed| {
                Some(handed.saturating_sub(n as u64))
            });
    }

    /// Whether a take has failed: resolvers then skip their reads altogether.
    pub fn spent(&self) -> bool {
        self.spent.load(Ordering::Relaxed)
    }

    /// Records handed out so far.
    pub fn handed(&self) -> u64 {
        self.handed.load(Ordering::Relaxed)
    }

    /// The response that replaces a request's once its budget is spent.
    pub fn refusal(&self) -> async_graphql::Response {
        super::errors::refusal(
            INVALID_QUERY_INPUT,
            &format!(
                "the request reads more than {} records, the most one request may read \
                 (BCGRAPH_MAX_RECORDS_PER_REQUEST); it was stopped after {} records. Ask for \
                 smaller pages or fewer nested lists (any mutation in it did run)",
                self.limit,
                self.handed()
            ),
        )
    }
}
