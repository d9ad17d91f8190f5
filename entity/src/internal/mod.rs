//! The gateway's own tables. They are not part of the generated API.

pub mod api_key;
pub mod removed_user;
pub mod session;
pub mod setting;
pub mod used_payload;
