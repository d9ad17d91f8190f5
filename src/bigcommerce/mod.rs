//! Everything that talks to BigCommerce.

pub mod client;
pub mod error;
pub mod listing;
pub mod options;
pub mod pacing;
pub mod params;

pub use client::{Api, ApiVersion, BigCommerce, RequestBuilder, StoreClient};
pub use error::Error;
pub use listing::{ListBuilder, Paging};
pub use options::ClientOptions;
pub use params::{ParamValue, Params};
