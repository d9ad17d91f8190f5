//! bcgraph: a self-hosted backend for BigCommerce apps. It keeps a copy of each
//! merchant's store data and serves it through a GraphQL API generated from SeaORM
//! entities, wire-compatible with Gadget's JavaScript clients.
//!
//! An app is an [`App`]: bcgraph's built-in `bigcommerce` models, webhooks and sync, plus
//! the app's own models, fields, global actions, hooks, webhook triggers, schedules,
//! grants and routes, run with bcgraph's command line. Its code runs with a [`Context`]
//! and reads and writes through [`Api`], so store tenancy and grants apply to it as to
//! every request.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     bcgraph::App::new().run()
//! }
//! ```
//!
//! The [`App`] module docs have a whole app; `examples/guide` has Gadget's guide
//! "Working with BigCommerce data" example by example.
#![warn(missing_docs)]

// bcgraph's own modules. An app uses what the crate root exports; the modules are
// public only with the `internals` feature, which bcgraph's own integration tests,
// benchmarks and fuzz targets turn on (they are separate crates, so `pub(crate)` cannot
// reach them). An app built without it, like `examples/guide`, cannot name them.
macro_rules! internal_modules {
    ($($name:ident),*) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}
internal_modules!(
    action,
    auth,
    bigcommerce,
    callbacks,
    client_package,
    config,
    db,
    graphql,
    live,
    metrics,
    model,
    query,
    queue,
    retention,
    server
);
mod app;
mod cli;
mod logging;
mod telemetry;

pub use action::{
    ActionError, Api, BigCommerceConnection, Caller, Change, Context, CurrentStore, Done, ErrorCode,
    FieldError, GlobalAction, ModelApi, ModelHook, Param, ParamType, Trigger, Upserted, Verb,
};
pub use app::{App, AppError, Gateway};
pub use config::Config;
/// bcgraph's own SeaORM entities: an app's entity refers to them in its relations
/// (`belongs_to = "bcgraph::entity::bigcommerce::store::Entity"`).
pub use entity;
/// bcgraph's migrations, for an app whose own migrations refer to them.
pub use migration;
pub use model::{Declaration, ExtraField, names};
pub use query::{Record, Tenant};
pub use server::{AppState, RequestApi};

/// BigCommerce's REST API: the paced, retrying client an action gets from
/// [`Context::bigcommerce`].
pub mod client {
    pub use crate::bigcommerce::{
        ApiVersion, BigCommerce, ClientOptions, Error, ListBuilder, Paging, ParamValue, Params,
        RequestBuilder, StoreClient, Versioned,
    };
}

/// Background actions: what an action enqueues with [`Api::enqueue`] and
/// [`Api::enqueue_all`], and how.
pub mod background {
    pub use crate::queue::{
        BackgroundAction, Job, Options, Priority, QueueError, QueueOption, Retries, State,
    };
}

/// The roles grants are given to ([`App::grant`]).
pub mod roles {
    /// Everything, in every store: the CLI's API keys by default.
    pub const ADMIN: &str = crate::auth::ROLE_ADMIN;
    /// A merchant's staff user in the app (a session of a store, or a key bound to one).
    pub const APP: &str = crate::auth::ROLE_APP;
    /// A caller without a credential.
    pub const ANONYMOUS: &str = crate::auth::ROLE_ANONYMOUS;
}

/// The README's Rust examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
