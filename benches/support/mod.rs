//! What several benchmarks share. Each benchmark is its own binary and uses part of it.
#![allow(dead_code)]

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// A number from the environment (`BENCH_SECONDS=20`), or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An empty, migrated database named `name`: on the PostgreSQL server of
/// `BCGRAPH_BENCH_DATABASE_URL` when it is set (dropped and created again), else a
/// SQLite file in the temporary directory. Returns the connection and its URL.
pub async fn fresh_database(name: &str) -> anyhow::Result<(DatabaseConnection, String)> {
    let url = match std::env::var("BCGRAPH_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let admin = sea_orm::Database::connect(&admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let (base, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
            format!("{base}/{name}")
        }
        None => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let db = bcgraph::db::connect(&url).await?;
    bcgraph::db::migrate(&db).await?;
    Ok((db, url))
}
