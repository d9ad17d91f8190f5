//! Connecting to SQLite or PostgreSQL, and migrating.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// Connect to `url`. SQLite gets WAL, a busy timeout and foreign keys, so that
/// several tasks (and processes) can share one file.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    } else {
        options.max_connections(32);
    }
    let db = Database::connect(options).await?;
    if url.starts_with("sqlite:") {
        // Let SQLite gather the statistics its planner needs, as its documentation
        // advises for long-lived connections.
        db.execute_unprepared("PRAGMA optimize=0x10002").await?;
    }
    Ok(db)
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
