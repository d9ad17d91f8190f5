//! The gateway's own tables. They are not part of the generated API.

pub mod api_key;
pub mod session;
pub mod setting;
