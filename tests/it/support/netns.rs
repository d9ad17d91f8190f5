//! Hosts of their own on this one machine: Linux network namespaces joined by a bridge,
//! each with its own address, made by `ip` (iproute2) and removed when dropped. A
//! process started in one sees only its own interfaces: it reaches the others, and this
//! process on the bridge's address, over the bridge, as separate hosts reach each other.
//!
//! Needs root (or CAP_NET_ADMIN) and `ip`. Names carry this process's id, so runs that
//! overlap do not meet; what an interrupted run left behind is removed by the next.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

/// Every name starts so; the process id follows.
const PREFIX: &str = "bcgso";

pub struct Network {
    pid: u32,
    hosts: usize,
    /// The third octet of this network's 10.213.x.0/24.
    subnet: u8,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn listed(args: &[&str]) -> Vec<String> {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The process id in a name this module made, if that process is gone.
fn abandoned(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse::<u32>()
        .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

impl Network {
    /// `hosts` namespaces on a new bridge, or why the machine does not allow it.
    pub fn create(hosts: usize) -> Result<Network, String> {
        assert!(hosts < 100);
        // Left behind by a run that was killed before it could clean up.
        for ns in listed(&["netns", "list"]).iter().filter(|n| abandoned(n)) {
            let _ = ip(&["netns", "del", ns]);
        }
        for bridge in listed(&["-br", "link", "show", "type", "bridge"])
            .iter()
            .filter(|n| abandoned(n))
        {
            let _ = ip(&["link", "del", bridge]);
        }
        let pid = std::process::id();
        let network = Network {
            pid,
            hosts,
            subnet: (pid % 250) as u8 + 1,
        };
        // On failure `network` is dropped, which removes what was made.
        network.build()?;
        Ok(network)
    }

    fn bridge(&self) -> String {
        format!("{PREFIX}{}br", self.pid)
    }

    /// The name of host `i`'s namespace.
    pub fn namespace(&self, i: usize) -> String {
        format!("{PREFIX}{}n{i}", self.pid)
    }

    fn build(&self) -> Result<(), String> {
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}/24", self.gateway()), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..self.hosts {
            let ns = self.namespace(i);
            let (outside, inside) = (
                format!("{PREFIX}{}v{i}", self.pid),
                format!("{PREFIX}{}p{i}", self.pid),
            );
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            ip(&["link", "set", &outside, "master", &bridge])?;
            ip(&["link", "set", &outside, "up"])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.host(i)),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
        }
        Ok(())
    }

    /// Remove what [`Network::build`] made, as far as it got.
    fn teardown(&self) {
        for i in 0..self.hosts {
            let _ = ip(&["netns", "del", &self.namespace(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }

    /// This process's address on the bridge: where the hosts reach what runs here.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 1)
    }

    /// Host `i`'s address.
    pub fn host(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 10 + i as u8)
    }

    /// `program` to be run inside host `i` (`ip netns exec` replaces itself with it, so
    /// the child's process id is the program's).
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.namespace(i)]).arg(program);
        command
    }

    /// A listener on a free port of host `i`, for a server of this process to play that
    /// host: a socket belongs to the namespace it was made in, so a thread of its own
    /// enters the namespace, binds, and ends.
    pub fn listen_in(&self, i: usize) -> std::io::Result<std::net::TcpListener> {
        let path = format!("/var/run/netns/{}", self.namespace(i));
        let address = SocketAddr::from((self.host(i), 0));
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(&path)?;
            // SAFETY: setns on a valid descriptor changes only this thread's namespace;
            // the thread ends right after binding.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::net::TcpListener::bind(address)
        })
        .join()
        .expect("the binding thread ends")
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}
