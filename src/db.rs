//! Connecting to SQLite or PostgreSQL, and migrating.

use sea_orm::{ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr};
use std::time::Duration;

/// How much of a SQLite file is read through a memory map.
const MMAP_BYTES: u64 = 1 << 30;

/// How long a statement waits for a connection (a free one of the pool, or a new one)
/// unless `BCGRAPH_DATABASE_TIMEOUT_SECONDS` says otherwise: for tests and benchmarks,
/// which connect without a configuration (the gateway always has one).
#[cfg(feature = "internals")]
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows a SQLite connection's thread may hand over before the statement's reader takes
/// them. sqlx's default of 50 made the thread stop and wait several times for a page of
/// 50 products with 10 variants each: `cargo bench --bench read_api` on SQLite went from
/// 1,391–1,471 to 1,642–1,814 list reads a second (API key) and from 791–1,042 to
/// 1,163–1,261 over the websocket, alternating runs of one session.
const SQLITE_ROW_BUFFER: usize = 1024;

/// How long SQLite waits for its writer's lock, and for a connection of the pool.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect to `url`, waiting at most [`DEFAULT_TIMEOUT`] for a connection.
#[cfg(feature = "internals")]
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, DEFAULT_TIMEOUT, None).await
}

/// Connections of the main pool unless `BCGRAPH_DATABASE_POOL_SIZE` says otherwise: as
/// many as keep two cores busy on PostgreSQL with room for slow statements; on SQLite,
/// readers beside its one writer.
const DEFAULT_POOL_SIZE_POSTGRES: u32 = 32;
const DEFAULT_POOL_SIZE_SQLITE: u32 = 8;

/// Connect to `url`; on PostgreSQL a statement that cannot get a connection within
/// `timeout` fails (see [`is_unavailable`]) instead of waiting for the server to come
/// back. SQLite is a local file that cannot go away: a wait for one of its connections
/// is a wait for its writer's lock, and lasts as long as its busy timeout, as a
/// statement waiting for the lock does. SQLite gets WAL, that busy timeout and foreign
/// keys, so that several tasks (and processes) can share one file.
/// `pool_size` bounds the pool's connections (`None`: the default for the database).
pub async fn connect_with(url: &str, timeout: Duration, pool_size: Option<u32>) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = options(url, if sqlite { SQLITE_BUSY_TIMEOUT } else { timeout });
    if sqlite {
        options.max_connections(pool_size.unwrap_or(DEFAULT_POOL_SIZE_SQLITE)).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
                // Reads map the file instead of copying each page through `read(2)`
                // into every connection's own small cache; the mapped pages are the
                // kernel's page cache, shared by the connections and not the process's
                // own memory.
                .pragma("mmap_size", MMAP_BYTES.to_string())
                .row_buffer_size(SQLITE_ROW_BUFFER)
        });
    } else {
        options.max_connections(pool_size.unwrap_or(DEFAULT_POOL_SIZE_POSTGRES));
    }
    let db = Database::connect(options).await?;
    if url.starts_with("sqlite:") {
        // Let SQLite gather the statistics its planner needs, as its documentation
        // advises for long-lived connections.
        db.execute_unprepared("PRAGMA optimize=0x10002").await?;
    }
    Ok(db)
}

/// A pool for writes that may be lost in a crash because they are redone after it: the
/// sync's, which continues from a checkpoint committed after its data, and the
/// background workers', whose job stays claimed (and runs again once its lease ends)
/// unless its outcome is committed after its writes. On
/// PostgreSQL its commits do not wait for the disk (`synchronous_commit = off`; commits
/// still reach the disk in order, so a checkpoint never outlives its data); SQLite
/// already commits that way (WAL with `synchronous = NORMAL`) and shares `db`.
///
/// The setting is a session's, asked for when connecting, which a pooler in transaction
/// mode cannot carry: PgBouncer refuses it. So the pool goes to `direct` (PostgreSQL
/// itself, `BCGRAPH_DATABASE_DIRECT_URL`) when there is one. Without one, that refusal
/// stops the start: it says `DATABASE_URL` is such a pooler, through which the live
/// queries' `LISTEN` (made next) would not only hear nothing but stay behind on a
/// server connection the pooler lends to every process, whose statements would then
/// fail on notifications meant for it (seen with PgBouncer 1.24: an `UNLISTEN` sent
/// after it reaches whichever server connection is lent then, not that one).
/// The pool keeps no idle connections for long: the sync is occasional.
pub async fn connect_relaxed(
    url: &str,
    direct: Option<&str>,
    db: &DatabaseConnection,
    timeout: Duration,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    if !url.starts_with("postgres") {
        return Ok(db.clone());
    }
    let mut options = options(direct.unwrap_or(url), timeout);
    options
        .max_connections(max_connections)
        .idle_timeout(Duration::from_secs(60))
        .map_sqlx_postgres_opts(|o| o.options([("synchronous_commit", "off")]));
    match Database::connect(options).await {
        Err(e) if direct.is_none() && e.to_string().contains("unsupported startup parameter") => Err(DbErr::Custom(
            format!(
                "DATABASE_URL refuses session settings, as a pooler in transaction mode such as PgBouncer does \
                 ({e}); set BCGRAPH_DATABASE_DIRECT_URL to PostgreSQL itself, for live queries' LISTEN and \
                 the sync"
            ),
        )),
        answer => answer,
    }
}

/// What every pool has: no statement logging, `timeout` to get a connection (a waiting
/// request fails then, rather than hanging on while the database is away), a ping only
/// for connections idle long enough to have been dropped, and on PostgreSQL no Nagle
/// and no TLS to this machine.
///
/// sqlx pings every connection it hands out by default: one more round trip per
/// statement, which was a quarter of a read's round trips (profiled with `perf` under
/// the peers kit's load). A connection that breaks while busy fails its statement and
/// leaves the pool.
fn options(url: &str, timeout: Duration) -> ConnectOptions {
    let mut options = ConnectOptions::new(local_without_tls(url));
    // SeaORM's "connect timeout" is sqlx's acquire timeout too, which bounds making a
    // new connection as well as waiting for a free one.
    options
        .sqlx_logging(false)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    if url.starts_with("postgres") {
        no_delay(&mut options, url);
    } else {
        sqlite_without_memory_statistics();
    }
    options
}

/// Turn off SQLite's count of the memory it holds, before SQLite starts.
///
/// SQLite keeps that count (for `sqlite3_memory_used()`, which bcgraph never asks) under
/// one process-wide mutex that every allocation of every connection takes. Each pooled
/// connection runs on a thread of its own, and a page of reads allocates for every value
/// it copies out, so the threads queued on that mutex: under `cargo bench --bench
/// read_api`, a quarter of the process's samples were threads sleeping on a futex or
/// waking one, with `sqlite3_value_dup` and SQLite's allocator at the top of the stacks.
///
/// The setting must come before anything opens a SQLite database in this process; after
/// that SQLite refuses it (`SQLITE_MISUSE`) and keeps counting, which is only slower.
fn sqlite_without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` must not run while another thread uses SQLite. bcgraph
        // opens its SQLite connections with these options or after them, once this call
        // has returned (`call_once` holds back other callers until it has). Code of an
        // app that opens SQLite itself at the same moment could overlap it; this option
        // only sets the flag that says whether later allocations are counted, so the
        // worst outcome is a miscount that nothing reads.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
        }
    });
}

/// Is `error` the database being away (unreachable, restarting, out of connections, or
/// SQLite's file locked past its busy timeout) rather than something about the
/// statement? Such a failure is worth retrying as it is: requests answer it as
/// `GGT_UNAVAILABLE` (HTTP 503), webhooks with a status BigCommerce retries.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    let sqlx = match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        Error::Database(e) => e.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs for a lost or refused connection (class 08), a server
/// shutting down or starting (57P01-57P03) and too many connections (53300); SQLite's
/// result codes, extended ones too, of a busy (5) or locked (6) database.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "5" | "261" | "517" | "773" | "6" | "262" | "518"
        )
}

/// A PostgreSQL URL to this machine (`localhost`, `127.0.0.1`, `::1`) that does not
/// choose an `sslmode` gets `sslmode=disable`. sqlx's default (`prefer`) encrypts
/// whenever the server offers TLS, as Debian's does, and on loopback that buys nothing
/// and cost a fifth of the read path's time in rustls. Any other host, and any URL
/// that says `sslmode`, is left as it is.
pub(crate) fn local_without_tls(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    let postgres = matches!(parsed.scheme(), "postgres" | "postgresql");
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let chosen = parsed.query_pairs().any(|(k, _)| k == "sslmode" || k == "ssl-mode");
    if !postgres || !local || chosen {
        return url.to_owned();
    }
    let mut parsed = parsed;
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.to_string()
}

/// How long a connection to the database may stay silent before the kernel probes it,
/// and how often it probes. A server that vanished without closing its sockets (a host
/// lost, a network cut) otherwise leaves idle connections in the pool that look alive
/// until a statement sent on one hangs until the kernel gives up on it, many minutes
/// later. With these, a dead connection is found within about two minutes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 6;

/// sqlx 0.9.0 leaves Nagle's algorithm on for its TCP sockets (sqlx issue 4335, fixed
/// upstream but not released): a statement of more than one segment then waits about
/// 40 ms for the server's delayed ACK, which made syncs into PostgreSQL over TCP three
/// times slower than over its Unix socket. Until a release turns it off, every new
/// connection of the pool turns it off on this process's sockets to the server's port.
fn no_delay(options: &mut ConnectOptions, url: &str) {
    let port = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432);
    options.map_sqlx_postgres_pool_opts(move |pool| {
        pool.after_connect(move |_, _| {
            Box::pin(async move {
                no_delay_to(port);
                Ok(())
            })
        })
    });
}

#[cfg(target_os = "linux")]
fn no_delay_to(port: u16) {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let is_socket =
            std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed for two socket calls. Should it close
        // (and its number be reused) meanwhile, they fail or set an option on another
        // socket, which is harmless.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_server = socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port);
        if to_server {
            let _ = socket.set_tcp_nodelay(true);
            // sqlx has no keepalive setting either (see KEEPALIVE_IDLE).
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(KEEPALIVE_IDLE)
                .with_interval(KEEPALIVE_INTERVAL)
                .with_retries(KEEPALIVE_PROBES);
            let _ = socket.set_tcp_keepalive(&keepalive);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn no_delay_to(_port: u16) {}

/// Apply every pending migration.
#[cfg(feature = "internals")]
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::local_without_tls;

    #[test]
    fn tls_is_left_out_only_on_loopback_and_only_when_not_chosen() {
        assert_eq!(
            local_without_tls("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
        );
        assert_eq!(
            local_without_tls("postgresql://u:p@localhost/db?application_name=x"),
            "postgresql://u:p@localhost/db?application_name=x&sslmode=disable"
        );
        assert_eq!(
            local_without_tls("postgres://[::1]:5433/db"),
            "postgres://[::1]:5433/db?sslmode=disable"
        );
        for kept in [
            "postgres://127.0.0.1/db?sslmode=require",
            "postgres://db.example.com/db",
            "postgres://10.0.0.5:6432/db",
            "sqlite://bcgraph.db?mode=rwc",
            "not a url",
        ] {
            assert_eq!(local_without_tls(kept), kept);
        }
    }
}
