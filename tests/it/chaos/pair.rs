//! The pair under test (issue "Random faults on the real programs"): two nodes in their
//! namespaces with four heartbeat links — a socket link on the direct cable (priv0), a socket
//! link through a UDP relay the run controls (delay, duplication, reordering, cuts), an
//! RS-232 link (a pty pair and its relay) and the disk link — and four services:
//!
//! - `db`: PostgreSQL on the shared volume (type PGSQL, the shipped scripts), 192.0.2.100;
//! - `www`: lighttpd (type WWW) on 192.0.2.101 and 192.0.2.102, active on beta, switch-back;
//! - `u1`, `u2`: a USERDEF group (`groupid = g`), `restart_times = 1`, u1 on 192.0.2.103.
//!
//! Every fault of the network is a count, so faults that overlap compose: a link is cut while
//! any fault cuts it.

use crate::disk_rig::*;
use crate::harness::*;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const INTERVAL: &str = "200ms";
pub const DB_IP: &str = "192.0.2.100";
pub const WWW_IPS: [&str; 2] = ["192.0.2.101", "192.0.2.102"];
pub const U1_IP: &str = "192.0.2.103";
/// The web service's name: `www` and this run's process id, for the shipped WWW scripts keep
/// their runtime files under `/run/sureha-www/NODE/SERVICE.*`, and two runs on one machine
/// (a long one beside `make test`'s) must not share them.
pub fn www() -> String {
    format!("www{}", std::process::id())
}

pub fn services() -> [String; 4] {
    ["db".into(), www(), "u1".into(), "u2".into()]
}
const RELAY_PORT: u16 = 3010;
const DB_KEYS: &str = "type = PGSQL\npath = @MOUNT@/pgdata\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = 192.0.2.100\ncheck_interval = 1s\nstart_timeout = 20s\n";
const RELAY_IPS: [&str; 2] = ["198.51.100.11", "198.51.100.12"];

/// The USERDEF services' scripts: the service is a process `chaos-NAME.bin` (a `sleep`).
const U_START: &str = "#!/bin/sh\nP=$HAHOME/tmp/chaos-$1.pid\nif [ -f \"$P\" ] && kill -0 \"$(cat \"$P\")\" 2>/dev/null; then exit 0; fi\nsetsid \"$HAHOME/bin/chaos-$1.bin\" 86400 </dev/null >/dev/null 2>&1 &\necho $! > \"$P\"\nexit 0\n";
const U_STOP: &str = "#!/bin/sh\nP=$HAHOME/tmp/chaos-$1.pid\nif [ -f \"$P\" ]; then\n  pid=$(cat \"$P\")\n  kill \"$pid\" 2>/dev/null\n  i=0\n  while kill -0 \"$pid\" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n  kill -9 \"$pid\" 2>/dev/null\nfi\nrm -f \"$P\"\nexit 0\n";
const U_AGENT: &str = "#!/bin/sh\nSVC=$1\nINTERVAL=$2\nPATH=$HAHOME/bin:$PATH\nP=$HAHOME/tmp/chaos-$SVC.pid\nalive() { [ -f \"$P\" ] && kill -0 \"$(cat \"$P\")\" 2>/dev/null; }\nif [ \"$INTERVAL\" -eq 0 ]; then alive && exit 1; exit 0; fi\nAPIOPEN.x \"$SVC\" || exit 1\nwhile :; do\n  if alive; then APIOK.x \"$SVC\" || break; else APIERROR.x \"$SVC\" || break; fi\n  [ \"$INTERVAL\" -gt 1 ] && sleep $((INTERVAL - 1))\ndone\nAPICLOSE.x \"$SVC\"\nexit 0\n";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How the relayed socket link behaves now.
#[derive(Default, Clone)]
pub struct RelayMode {
    pub cut: u32,
    pub delay_ms: u64,
    pub dup_pct: u64,
    pub reorder_pct: u64,
}

/// A UDP relay between the nodes' ends of the `relay` link: in alpha's namespace it owns
/// beta's address on the link, in beta's alpha's, so each node talks to it believing it
/// talks to its peer.
pub struct UdpRelay {
    pub mode: Arc<Mutex<RelayMode>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn udp_in(ns: &str, addr: SocketAddr) -> UdpSocket {
    let path = PathBuf::from(format!("/run/netns/{ns}"));
    std::thread::spawn(move || {
        sureha::sys::enter_netns(&path).expect("enter a node's namespace");
        let s = UdpSocket::bind(addr).expect("bind the relay's socket");
        s.set_nonblocking(true).unwrap();
        s
    })
    .join()
    .unwrap()
}

impl UdpRelay {
    pub fn new(ns_a: &str, ns_b: &str) -> UdpRelay {
        for ns in [ns_a, ns_b] {
            for a in RELAY_IPS {
                assert!(ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{a}/32"),
                    "dev",
                    "lo"
                ]));
            }
        }
        let at =
            |i: usize| -> SocketAddr { format!("{}:{RELAY_PORT}", RELAY_IPS[i]).parse().unwrap() };
        // In alpha's namespace the relay is beta (ip2); in beta's, alpha (ip1).
        let socks = [udp_in(ns_a, at(1)), udp_in(ns_b, at(0))];
        let to = [at(0), at(1)];
        let mode = Arc::new(Mutex::new(RelayMode::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (mode.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(6 * 3600);
            // (when, out socket, data)
            let mut queue: Vec<(Instant, usize, Vec<u8>)> = Vec::new();
            let mut buf = [0u8; 65536];
            let mut n: u64 = 0;
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let mode = m.lock().unwrap().clone();
                for (from, sock) in socks.iter().enumerate() {
                    while let Ok((len, _)) = sock.recv_from(&mut buf) {
                        n = n
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        if mode.cut > 0 {
                            continue;
                        }
                        let r = n >> 33;
                        let mut when = Instant::now() + Duration::from_millis(mode.delay_ms);
                        if r % 100 < mode.reorder_pct {
                            when += Duration::from_millis(mode.delay_ms.max(50) * 2);
                        }
                        queue.push((when, 1 - from, buf[..len].to_vec()));
                        if (r / 100) % 100 < mode.dup_pct {
                            queue.push((
                                when + Duration::from_millis(5),
                                1 - from,
                                buf[..len].to_vec(),
                            ));
                        }
                    }
                }
                let now = Instant::now();
                queue.retain(|(when, out, data)| {
                    if *when <= now {
                        let _ = socks[*out].send_to(data, to[*out]);
                        false
                    } else {
                        true
                    }
                });
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        UdpRelay {
            mode,
            stop,
            handle: Some(handle),
        }
    }

    pub fn privnet(&self) -> String {
        format!("\n[privnet relay]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = {}\nip2 = {}\nport = {RELAY_PORT}\ninterval = {INTERVAL}\nmaxmiss = 3\n", RELAY_IPS[0], RELAY_IPS[1])
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The faults of the network in force, as counts.
#[derive(Default)]
pub struct NetFaults {
    pub priv_cut: u32,
    pub priv_loss: Vec<u64>,
    pub serial_cut: u32,
    pub public_apart: u32,
    pub cable_out: [u32; 2],
}

pub struct Pair {
    pub c: DiskCluster,
    pub serial: SerialLine,
    pub relay: UdpRelay,
    pub net: NetFaults,
    /// Whether each node is down (crashed, not yet revived).
    pub down: [bool; 2],
}

pub const NODES: [&str; 2] = ["alpha", "beta"];

impl Pair {
    pub fn new() -> Pair {
        // A long run's rows and WAL need room: 2 GiB, sparse.
        let c = DiskCluster::with_rig(DiskRig::sized(2048), INTERVAL, DB_KEYS);
        let serial = SerialLine::lasting(Duration::from_secs(6 * 3600));
        let relay = UdpRelay::new(&c.topo.ns("a"), &c.topo.ns("b"));
        let www_root = c.rig.fence.parent().unwrap().join("www");
        std::fs::create_dir_all(&www_root).unwrap();
        std::fs::write(www_root.join("index.html"), "chaos www\n").unwrap();
        let config = format!(
            "{}{}{}\n[service {}]\ntype = WWW\nactive_server = beta\nstandby_server = alpha\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {} {}\npath = {}\nha_port = 8080\ncheck_interval = 1s\nstart_timeout = 20s\nswitchback = yes\n\n[service u1]\nactive_server = alpha\nstandby_server = beta\ngroupid = g\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {U1_IP}\nstart = chaos-u.start\nstop = chaos-u.stop\nagent = chaos-u.agent\ncheck_interval = 1s\nstart_timeout = 10s\nrestart_times = 1\n\n[service u2]\nactive_server = alpha\nstandby_server = beta\ngroupid = g\nstart = chaos-u.start\nstop = chaos-u.stop\nagent = chaos-u.agent\ncheck_interval = 1s\nstart_timeout = 10s\nrestart_times = 1\n",
            c.rig.config(INTERVAL, DB_KEYS),
            serial.privnet("serial", INTERVAL),
            relay.privnet(),
            www(),
            WWW_IPS[0],
            WWW_IPS[1],
            www_root.display(),
        );
        for n in [&c.alpha, &c.beta] {
            n.write_config(&config);
            n.write_script("chaos-u.start", U_START);
            n.write_script("chaos-u.stop", U_STOP);
            n.write_script("chaos-u.agent", U_AGENT);
            for u in ["u1", "u2"] {
                std::os::unix::fs::symlink("/bin/sleep", n.path(&format!("bin/chaos-{u}.bin")))
                    .unwrap();
            }
            let check = n.haadm(&["check"]);
            assert_eq!(check.code, 0, "the chaos configuration: {check:?}");
        }
        crate::postgres::prepare_database(&c.rig, &crate::postgres::pg_bin());
        // The WAL kept small, checkpoints often: the volume holds the rows, not the log.
        c.rig.with_volume(|v| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(format!("{v}/pgdata/postgresql.conf"))
                .unwrap();
            writeln!(
                f,
                "max_wal_size = 96MB\nmin_wal_size = 32MB\ncheckpoint_timeout = 30s"
            )
            .unwrap();
        });
        Pair {
            c,
            serial,
            relay,
            net: NetFaults::default(),
            down: [false; 2],
        }
    }

    pub fn node(&self, n: usize) -> &Node {
        if n == 0 {
            &self.c.alpha
        } else {
            &self.c.beta
        }
    }

    pub fn ns(&self, n: usize) -> String {
        self.c.topo.ns(if n == 0 { "a" } else { "b" })
    }

    pub fn client_ns(&self) -> String {
        self.c.topo.ns("c")
    }

    /// Starts both nodes and brings every service in; returns once each runs.
    pub fn start(&self) {
        self.c.start_all();
        for s in services() {
            self.c.alpha.ok(&["service", "bringin", &s]);
        }
        let until = Instant::now() + Duration::from_secs(120);
        for (s, on) in [("db", 0), (www().as_str(), 1), ("u1", 0), ("u2", 0)] {
            self.node(on)
                .wait_for(&format!("{s} to run"), until - Instant::now(), || {
                    self.node(on).state(s) == "ACTIVE"
                });
        }
    }

    /// Re-applies the network's faults: nftables on the direct cable, the relays, the bridge.
    pub fn apply_net(&self) {
        let rule = if self.net.priv_cut > 0 {
            "iifname \"priv0\" drop".to_string()
        } else if let Some(p) = self.net.priv_loss.iter().max() {
            format!("iifname \"priv0\" numgen random mod 100 < {p} drop")
        } else {
            String::new()
        };
        let script = format!("table inet chaos\ndelete table inet chaos\ntable inet chaos {{\n  chain in {{\n    type filter hook input priority 0; policy accept;\n    {rule}\n  }}\n}}\n");
        for n in 0..2 {
            let mut child = Command::new("ip")
                .args(["netns", "exec", &self.ns(n), "nft", "-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nft (nftables) must be installed");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "nft: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.serial.cut(self.net.serial_cut > 0);
        self.c.topo.isolate_nodes(self.net.public_apart > 0);
        for (n, port) in ["pa", "pb"].iter().enumerate() {
            self.c.topo.set_cable(port, self.net.cable_out[n] == 0);
        }
    }

    /// A crash: every process of the node killed, its cables out, its mounts and addresses
    /// gone (the kernel of a crashed server holds nothing; here the one kernel would).
    pub fn crash(&mut self, n: usize) {
        self.c.crash_node(NODES[n]);
        ip(&["-n", &self.ns(n), "addr", "flush", "dev", "eth0"]);
        self.down[n] = true;
    }

    /// The crashed node's cables back in and SureHA started again.
    pub fn revive(&mut self, n: usize) {
        let ns = self.ns(n);
        let base = if n == 0 {
            "192.0.2.1/24"
        } else {
            "192.0.2.2/24"
        };
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "priv0", "up"]);
        ip(&["-n", &ns, "addr", "add", base, "dev", "eth0"]);
        self.down[n] = false;
        self.start_node(n);
    }

    /// hamond on a node (a few tries: a dying predecessor may still hold its lock).
    pub fn start_node(&self, n: usize) -> bool {
        for _ in 0..10 {
            if self.node(n).run("hamond", &[]).code == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        false
    }
}

/// Where a node's haadm runs: what a thread needs to call it (a `Node` owns its processes).
#[derive(Clone)]
pub struct Door {
    pub name: String,
    home: PathBuf,
    netns: Option<String>,
    mntns: Option<PathBuf>,
}

impl Door {
    pub fn of(node: &Node) -> Door {
        Door {
            name: node.name.clone(),
            home: node.home.clone(),
            netns: node.netns.clone(),
            mntns: node.mntns.clone(),
        }
    }

    /// `haadm ARGS`, killed after `secs` (a stopped daemon must not stall the run).
    pub fn haadm(&self, args: &[&str], secs: u32) -> Ran {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", &secs.to_string(), "nsenter"]);
        if let Some(ns) = &self.netns {
            c.arg(format!("--net=/run/netns/{ns}"));
        }
        if let Some(m) = &self.mntns {
            c.arg(format!("--mount={}", m.display()));
        }
        c.arg(self.home.join("bin/haadm"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HAHOME", &self.home)
            .env("HANODE", &self.name);
        c.output().map(Ran::from).unwrap_or(Ran {
            code: -1,
            stdout: String::new(),
            stderr: "cannot run haadm".into(),
        })
    }
}
