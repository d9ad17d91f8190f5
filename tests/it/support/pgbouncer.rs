//! PgBouncer in transaction pooling mode in front of the test database server, as an
//! operator runs it: a server connection is lent to a client for one transaction only.
//! Transaction pooling needs PgBouncer 1.21 or later, which keeps track of the
//! prepared statements of each client (`max_prepared_statements`); Debian 12's 1.18
//! does not (see docs/operations.md). `.ci/run` builds Debian's newer source package
//! when the machine's is older, and names it in `BCGRAPH_TEST_PGBOUNCER`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Server connections per database and user: far fewer than the clients' pools hold.
pub const SERVER_CONNECTIONS: usize = 12;

pub struct PgBouncer {
    child: tokio::process::Child,
    address: SocketAddr,
    dir: PathBuf,
}

/// The PgBouncer to run: `BCGRAPH_TEST_PGBOUNCER`, else `pgbouncer` on the `PATH` or in
/// `/usr/sbin`, if it is recent enough; or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("BCGRAPH_TEST_PGBOUNCER") {
        Some(path) => vec![path.into()],
        None => vec!["pgbouncer".into(), "/usr/sbin/pgbouncer".into()],
    };
    let mut why = Vec::new();
    for candidate in candidates {
        let version = match std::process::Command::new(&candidate).arg("--version").output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => {
                why.push(format!("{}: {e}", candidate.display()));
                continue;
            }
        };
        // "PgBouncer 1.24.1", first line.
        let number = version.split_whitespace().nth(1).unwrap_or("");
        let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (1, 21) {
            return Ok(candidate);
        }
        why.push(format!(
            "{} is PgBouncer {number}; transaction pooling needs 1.21 or later",
            candidate.display()
        ));
    }
    Err(why.join("; "))
}

impl PgBouncer {
    /// PgBouncer on a free port of `ip`, in front of the PostgreSQL server at `server`.
    pub async fn start(binary: &std::path::Path, ip: IpAddr, server: SocketAddr) -> PgBouncer {
        let port = std::net::TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("bcgraph-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // What an operator sets (docs/operations.md): transaction pooling, prepared
        // statements tracked per client, and sqlx's `extra_float_digits` accepted.
        let users = dir.join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        let config = format!(
            "[databases]\n\
             * = host={} port={}\n\
             [pgbouncer]\n\
             listen_addr = {ip}\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {}\n\
             admin_users = postgres\n\
             pool_mode = transaction\n\
             max_prepared_statements = 500\n\
             track_extra_parameters = extra_float_digits\n\
             default_pool_size = {SERVER_CONNECTIONS}\n\
             max_client_conn = 2000\n\
             server_login_retry = 1\n",
            server.ip(),
            server.port(),
            users.display()
        );
        let config_path = dir.join("pgbouncer.ini");
        std::fs::write(&config_path, config).unwrap();
        let mut command = tokio::process::Command::new(binary);
        // PgBouncer will not run as root; as root it is told which user to become.
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            for path in [&dir, &users, &config_path] {
                let mode = if path.is_dir() { 0o755 } else { 0o644 };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("pgbouncer.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("pgbouncer starts");
        let address = SocketAddr::from((ip, port));
        let start = Instant::now();
        while tokio::net::TcpStream::connect(address).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pgbouncer did not listen: {}",
                std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        PgBouncer { child, address, dir }
    }

    /// `url` (a database of the server behind it) with PgBouncer's host and port.
    pub fn url_for(&self, url: &str) -> String {
        super::url_at(url, self.address)
    }

    /// The result of an admin console command (`SHOW POOLS`, ...), as psql prints it
    /// unaligned: one line per row, fields split by `|`, a header first.
    pub fn admin(&self, command: &str) -> String {
        let out = std::process::Command::new("psql")
            .args([
                "-h",
                &self.address.ip().to_string(),
                "-p",
                &self.address.port().to_string(),
                "-U",
                "postgres",
                "-A",
                "-c",
                command,
                "pgbouncer",
            ])
            .output()
            .expect("psql runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What PgBouncer logged, for a failure's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
