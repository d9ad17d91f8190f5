//! The read side: filters, sorts, keyset pages and batched relationship loads,
//! built from the model registry as SQL for SQLite or PostgreSQL. It knows no GraphQL.

pub mod bounds;
pub mod search_statistics;
pub mod filter;
mod reader;
pub mod sql;
mod tenant;
pub mod value;

pub use filter::Cond;
pub use reader::{
    Columns, DEFAULT_PAGE_SIZE, Joined, JoinedRecords, Page, PageArgs, Reader, SortKey, find_joined_in, find_many_in,
    parse_sort,
};
pub use tenant::Tenant;
pub use value::{Record, Value};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Bad input from the caller: a malformed cursor, a page too large, a bad value.
    #[error("{0}")]
    InvalidInput(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}
