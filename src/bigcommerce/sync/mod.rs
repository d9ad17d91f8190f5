//! The sync: copies a store's existing BigCommerce data into the database, whole
//! (`force`, or the first time) or since a time, and survives crashes and rate limits.
//!
//! A sync is a `bigcommerce/sync` row. Running it walks each resource's listing in id
//! order through the store's paced client, one page ahead of the writes, and writes each
//! page with bulk upserts. After every page it saves a checkpoint (where each listing
//! continues) and the progress counters in the row, so a sync whose process died
//! continues from there. A full sync also deletes the rows in each page's id range that
//! BigCommerce no longer lists; an incremental one lists what changed, then sweeps the
//! ids for deletions.
//!
//! One process at a time runs a sync: it holds a lease on the row and renews it; another
//! process may take over once the lease has run out.

//!
//! The parts: [`request`] (what a new sync is asked to do), [`row`] (the row, its
//! lease and its end), [`progress`] (counters and the checkpoint's state machine) and
//! [`run`] (the run loop and the page fetcher).

pub mod actions;
mod progress;
mod request;
mod resource;
mod row;
mod run;

pub use progress::Counters;
pub use request::Request;
pub use resource::Resource;
pub(crate) use resource::{FetchedPage, write as write_page};
pub use row::{Outcome, abort, abort_store, create, create_in, progress_of, unfinished};
pub use run::{Observer, Syncer};

use row::SyncState;

use std::time::Duration;

/// The states a sync row may be in (the model's `state` enumeration).
pub const STATES: &[&str] = &[
    SyncState::Created.as_str(),
    SyncState::Running.as_str(),
    SyncState::Completed.as_str(),
    SyncState::Errored.as_str(),
    SyncState::Aborted.as_str(),
];
pub const MODEL: &str = "bigcommerce/sync";
/// An incremental sync starts this long before the last completed one started: clocks
/// differ and BigCommerce's times have whole seconds.
pub const OVERLAP: Duration = Duration::from_secs(5 * 60);
