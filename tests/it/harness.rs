//! The test harness: a `Node` is one SureHA installation in a unique temporary directory,
//! with the programs of this build, the agent templates (the C one compiled with exactly the
//! documented command), and helpers to run haadm and wait for states with deadlines. On
//! drop it kills, by pid, every process whose environment names its `HAHOME`, and on a
//! failing test it prints the log and the state files first.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const PROGRAMS: [(&str, &str); 12] = [
    ("NewPass", env!("CARGO_BIN_EXE_newpass")),
    ("SetPass", env!("CARGO_BIN_EXE_setpass")),
    ("hostid", env!("CARGO_BIN_EXE_hostid")),
    ("hahb-serial", env!("CARGO_BIN_EXE_hahb-serial")),
    ("hahb-disk", env!("CARGO_BIN_EXE_hahb-disk")),
    ("havol", env!("CARGO_BIN_EXE_havol")),
    ("hamond", env!("CARGO_BIN_EXE_hamond")),
    ("hasvrd", env!("CARGO_BIN_EXE_hasvrd")),
    ("haadm", env!("CARGO_BIN_EXE_haadm")),
    ("haapi", env!("CARGO_BIN_EXE_haapi")),
    ("havip", env!("CARGO_BIN_EXE_havip")),
    ("hahb-sock", env!("CARGO_BIN_EXE_hahb-sock")),
];
/// The agents and scripts SureHA ships for service types (DESIGN §12), as `make install`
/// puts them in `$HAHOME/bin`.
pub const TYPE_SCRIPTS: [&str; 37] = [
    "shipped_lib.sh",
    "ocf_common.sh",
    "ocf_start.sh",
    "ocf_stop.sh",
    "ha_ag_ocf.sh",
    "lsb_common.sh",
    "lsb_start.sh",
    "lsb_stop.sh",
    "ha_ag_lsb.sh",
    "pgsql_common.sh",
    "pgsql_start.sh",
    "pgsql_stop.sh",
    "ha_ag_pgsql.sh",
    "mysql_common.sh",
    "mysql_start.sh",
    "mysql_stop.sh",
    "ha_ag_mysql.sh",
    "www_common.sh",
    "www_start.sh",
    "www_stop.sh",
    "ha_ag_www.sh",
    "nfs_common.sh",
    "nfs_start.sh",
    "nfs_stop.sh",
    "ha_ag_nfs.sh",
    "oracle_common.sh",
    "oracle_start.sh",
    "oracle_stop.sh",
    "ha_ag_oracle.sh",
    "sybase_common.sh",
    "sybase_start.sh",
    "sybase_stop.sh",
    "ha_ag_sybase.sh",
    "informix_common.sh",
    "informix_start.sh",
    "informix_stop.sh",
    "ha_ag_informix.sh",
];
pub const API_TOOLS: [&str; 5] = [
    "APIOPEN.x",
    "APIOK.x",
    "APIERROR.x",
    "APICLOSE.x",
    "APICMD.x",
];

/// Runs a command with `input` on its standard input.
pub fn with_stdin(mut c: Command, input: &str) -> Ran {
    use std::io::Write;
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

/// A UDP port of this test run's own, so tests in parallel never hear each other.
pub fn unique_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Two apart: a link's port plus one is the public-network check's.
    20_000
        + (std::process::id() % 400) as u16 * 100
        + (NEXT.fetch_add(1, Ordering::SeqCst) as u16 * 2) % 100
}

/// A two-node cluster's configuration with one socket link on loopback
/// (alpha 127.0.0.1, beta 127.0.0.2), 100 ms heartbeats.
pub fn base_config() -> String {
    format!(
        "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 127.0.0.1\nip2 = 127.0.0.2\nport = {}\ninterval = 100ms\nmaxmiss = 3\n",
        unique_port()
    )
}

/// The key both nodes of a test share.
pub const AUTHKEY: &str = "0123456789abcdef0123456789abcdef\n";

/// A service section with the test scripts.
pub fn service(name: &str, agent: Option<&str>, extra: &str) -> String {
    let mut s = format!(
        "\n[service {name}]\nactive_server = alpha\nstandby_server = beta\nstart = svc.start\nstop = svc.stop\ncheck_interval = 1s\n"
    );
    if !extra.contains("start_timeout") {
        s.push_str("start_timeout = 10s\n");
    }
    if let Some(a) = agent {
        s.push_str(&format!("agent = {a}\n"));
    }
    s.push_str(extra);
    s
}

/// What `haadm` (or any program) did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub struct Node {
    pub name: String,
    pub home: PathBuf,
    /// The network namespace its programs run in, if any.
    pub netns: Option<String>,
    /// A mount namespace of its own (shared-disk tests): the file that holds it.
    pub mntns: Option<PathBuf>,
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_haadm"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The C agents' libhaapi (agents/libhaapi.c), compiled once per test run as the Makefile
/// does, so `cargo test` alone needs nothing built beforehand.
fn libhaapi() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let dir = target_dir().join(format!("haapi-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let obj = dir.join("libhaapi.o");
        let agents = repo().join("agents");
        let out = Command::new("cc")
            .args([
                "-Os",
                "-std=c99",
                "-D_POSIX_C_SOURCE=200809L",
                "-Wall",
                "-Werror",
                "-c",
            ])
            .arg(agents.join("libhaapi.c"))
            .arg("-I")
            .arg(&agents)
            .arg("-o")
            .arg(&obj)
            .output()
            .expect("cc must be installed");
        assert!(
            out.status.success(),
            "compiling agents/libhaapi.c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = dir.join("libhaapi.a");
        let out = Command::new("ar")
            .arg("rcs")
            .arg(&lib)
            .arg(&obj)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ar: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lib
    })
    .clone()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The start and stop scripts of the tests: they record what ran in `tmp/events`.
const START: &str = "#!/bin/sh\necho \"start $1 on $HANODE\"\necho \"start $1\" >> \"$HAHOME/tmp/events\"\n[ -x \"$HAHOME/bin/$1.start-hook\" ] && exec \"$HAHOME/bin/$1.start-hook\" \"$1\"\nexit 0\n";
const STOP: &str = "#!/bin/sh\necho \"stop $1\"\necho \"stop $1\" >> \"$HAHOME/tmp/events\"\n[ -x \"$HAHOME/bin/$1.stop-hook\" ] && exec \"$HAHOME/bin/$1.stop-hook\" \"$1\"\nexit 0\n";

impl Node {
    /// A fresh installation for node `name` with this configuration.
    pub fn new(name: &str, config: &str) -> Node {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let home =
            std::env::temp_dir().join(format!("sureha-it-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&home);
        for d in ["bin", "etc", "tmp", "include", "lib"] {
            fs::create_dir_all(home.join(d)).unwrap();
        }
        fs::set_permissions(home.join("tmp"), fs::Permissions::from_mode(0o700)).unwrap();
        for (prog, path) in PROGRAMS {
            symlink(path, home.join("bin").join(prog)).unwrap();
        }
        for t in API_TOOLS {
            symlink(env!("CARGO_BIN_EXE_haapi"), home.join("bin").join(t)).unwrap();
        }
        for h in ["clusterapi.h", "hafile.h"] {
            fs::copy(repo().join("agents").join(h), home.join("include").join(h)).unwrap();
        }
        let lib = libhaapi();
        symlink(lib, home.join("lib/libhaapi.a")).unwrap();
        fs::copy(
            repo().join("agents/ha_ag_tmp.sh"),
            home.join("bin/ha_ag_tmp.sh"),
        )
        .unwrap();
        fs::copy(
            repo().join("agents/ha_ag_tmp.c"),
            home.join("bin/ha_ag_tmp.c"),
        )
        .unwrap();
        for f in ["demo-web.start", "demo-web.stop", "demo-web.agent"]
            .iter()
            .chain(TYPE_SCRIPTS.iter())
        {
            fs::copy(repo().join("agents").join(f), home.join("bin").join(f)).unwrap();
        }
        let node = Node {
            name: name.to_string(),
            home,
            netns: None,
            mntns: None,
        };
        node.write_script("svc.start", START);
        node.write_script("svc.stop", STOP);
        node.write_config(config);
        let key = node.path("etc/authkey");
        fs::write(&key, AUTHKEY).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        node
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    pub fn write_config(&self, text: &str) {
        fs::write(self.path("etc/sureha.conf"), text).unwrap();
    }

    pub fn write_script(&self, name: &str, text: &str) {
        let p = self.path("bin").join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Compiles the C template agent with exactly the command the manual gives.
    pub fn build_c_agent(&self) {
        let home = self.home.display().to_string();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cc ha_ag_tmp.c -o ha_ag_tmp.x -I{home}/include -L{home}/lib -lhaapi"
            ))
            .current_dir(self.path("bin"))
            .output()
            .expect("cc must be installed");
        assert!(
            out.status.success(),
            "building the C template failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = if self.netns.is_some() || self.mntns.is_some() {
            // nsenter, not `ip netns exec`: only the namespaces named here change (a node
            // keeps the test's mount table unless it has one of its own).
            let mut c = Command::new("nsenter");
            if let Some(ns) = &self.netns {
                c.arg(format!("--net=/run/netns/{ns}"));
            }
            if let Some(m) = &self.mntns {
                c.arg(format!("--mount={}", m.display()));
            }
            c.arg(self.path("bin").join(program));
            c
        } else {
            Command::new(self.path("bin").join(program))
        };
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HAHOME", &self.home)
            .env("HANODE", &self.name);
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Ran {
        // A script written a moment ago may be held open for writing by a child another
        // test thread is forking (until that child execs): ETXTBSY, briefly. Bounded.
        for _ in 0..50 {
            match self.cmd(program).args(args).output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => return r.unwrap().into(),
            }
        }
        self.cmd(program).args(args).output().unwrap().into()
    }

    pub fn haadm(&self, args: &[&str]) -> Ran {
        self.run("haadm", args)
    }

    /// haadm that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.haadm(args);
        assert_eq!(r.code, 0, "haadm {args:?} failed: {r:?}");
        r.stdout
    }

    pub fn start(&self) {
        // A predecessor just killed may hold its instance lock a moment longer on a loaded
        // machine (kill_all waits for it, bounded): a few tries, bounded too.
        let mut r = self.run("hamond", &[]);
        let until = Instant::now() + Duration::from_secs(10);
        while r.code != 0 && r.stderr.contains("already running") && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
            r = self.run("hamond", &[]);
        }
        assert_eq!(r.code, 0, "hamond failed to start: {r:?}");
    }

    pub fn state(&self, svc: &str) -> String {
        self.haadm(&["service", "state", svc])
            .stdout
            .trim()
            .to_string()
    }

    /// Waits (bounded) until `check` holds; panics with `what` otherwise.
    pub fn wait_for(&self, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out after {limit:?} waiting for {what}");
    }

    pub fn wait_state(&self, svc: &str, want: &str, limit: Duration) {
        let mut last = String::new();
        let start = Instant::now();
        while start.elapsed() < limit {
            last = self.state(svc);
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "service {svc} on {}: wanted {want}, still {last} after {limit:?}",
            self.name
        );
    }

    pub fn pid(&self, daemon: &str) -> Option<u32> {
        fs::read_to_string(self.path(&format!("tmp/{daemon}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("etc/sureha.log")).unwrap_or_default()
    }

    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(self.path("tmp/events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every live process whose environment names this HAHOME.
    pub fn processes(&self) -> Vec<u32> {
        let needle = format!("HAHOME={}\0", self.home.display());
        let mut pids = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit_once(')')
                        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            if !zombie && env.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }

    /// The command line of a process.
    pub fn cmdline(pid: u32) -> String {
        fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    }

    pub fn ppid(pid: u32) -> u32 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn kill9(pid: u32) {
        let _ = sureha::sys::kill(pid, sureha::sys::SIGKILL);
    }

    /// Kills every process of this node: all frozen first (SIGSTOP), then killed, so that
    /// hamond and hasvrd cannot restart each other in between. Bounded rounds. Returns once
    /// each killed process has finished dying: a dying process drops its memory (its
    /// environment can no longer be read, so `processes` no longer lists it) before it
    /// closes its files, and until then it still holds its instance lock.
    pub fn kill_all(&self) {
        let mut killed = Vec::new();
        for _ in 0..20 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for &p in &pids {
                let _ = sureha::sys::kill(p, libc::SIGSTOP);
            }
            for &p in &pids {
                Node::kill9(p);
            }
            killed.extend(pids);
            std::thread::sleep(Duration::from_millis(20));
        }
        let end = Instant::now() + Duration::from_secs(5);
        while killed.iter().any(|&p| !Node::dead(p)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Gone, or a zombie (it has closed its files).
    fn dead(pid: u32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
        })
    }

    fn dump(&self) {
        eprintln!("===== node {} ({}) =====", self.name, self.home.display());
        eprintln!("--- sureha.log ---\n{}", self.log());
        for f in ["tmp/hasvrd.state", "tmp/events"] {
            eprintln!(
                "--- {f} ---\n{}",
                fs::read_to_string(self.path(f)).unwrap_or_default()
            );
        }
        for p in self.processes() {
            eprintln!("process {p}: {}", Node::cmdline(p));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        }
        self.kill_all();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.home);
        }
    }
}

/// Two nodes on loopback, alpha and beta, with one configuration.
pub struct Cluster {
    pub alpha: Node,
    pub beta: Node,
    /// The first link of the configuration: up on both nodes means they see each other.
    link: String,
}

impl Cluster {
    pub fn new(config: &str) -> Cluster {
        let link = config
            .lines()
            .find_map(|l| {
                l.strip_prefix("[privnet ")
                    .and_then(|r| r.strip_suffix(']'))
            })
            .unwrap_or("lan")
            .to_string();
        Cluster {
            alpha: Node::new("alpha", config),
            beta: Node::new("beta", config),
            link,
        }
    }

    pub fn node(&self, name: &str) -> &Node {
        if name == "alpha" {
            &self.alpha
        } else {
            &self.beta
        }
    }

    pub fn start(&self) {
        self.alpha.start();
        self.beta.start();
        // The peer's NODE line says UP, and the first link is OK (of either type).
        let up = format!("UP\nLINK {} ", self.link);
        for n in [&self.alpha, &self.beta] {
            n.wait_for("the peer to be up", Duration::from_secs(10), || {
                let s = n.haadm(&["status"]).stdout;
                ["socket OK", "rs232 OK"]
                    .iter()
                    .any(|t| s.contains(&format!("{up}{t}")))
            });
        }
    }

    pub fn words(&self, svc: &str) -> (String, String) {
        (self.alpha.state(svc), self.beta.state(svc))
    }

    pub fn wait_words(&self, svc: &str, a: &str, b: &str, limit: Duration) {
        wait_words(svc, a, b, limit, || self.words(svc));
    }

    /// Kills every process of a node at once, as a crash would.
    pub fn crash(node: &Node) {
        node.kill_all();
    }
}

/// The namespace topology of DESIGN §8: nodes alpha and beta and a client, on a public
/// bridge (192.0.2.0/24) in a namespace of its own, and one direct private link
/// (198.51.100.0/24) between the nodes. Nothing routes out. Removed on drop.
pub struct Topology {
    prefix: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 (ip) must be installed");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub const VIP: &str = "192.0.2.100";

impl Topology {
    pub fn new() -> Topology {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        assert!(
            root,
            "this cluster test needs root (network namespaces); CI runs as root"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let t = Topology {
            prefix: format!("sh{}x{n}", std::process::id() % 100_000),
        };
        for ns in ["a", "b", "c", "r"] {
            ip(&["netns", "add", &t.ns(ns)]);
            ip(&["-n", &t.ns(ns), "link", "set", "lo", "up"]);
        }
        let r = t.ns("r");
        ip(&["-n", &r, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &r, "link", "set", "br0", "up"]);
        for (ns, port, addr) in [
            ("a", "pa", "192.0.2.1/24"),
            ("b", "pb", "192.0.2.2/24"),
            ("c", "pc", "192.0.2.10/24"),
        ] {
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &t.ns(ns),
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                &r,
            ]);
            ip(&["-n", &r, "link", "set", port, "master", "br0", "up"]);
            ip(&["-n", &t.ns(ns), "link", "set", "eth0", "up"]);
            ip(&["-n", &t.ns(ns), "addr", "add", addr, "dev", "eth0"]);
        }
        // Each end its own interface index: an end whose index equals its peer's is taken
        // by the kernel for a device that is its own link, and its carrier news waits behind
        // the (one, shared) link watch's once-a-second pace, as alpha's own link going down
        // makes it run. Two real servers are two kernels.
        ip(&[
            "link",
            "add",
            "priv0",
            "netns",
            &t.ns("a"),
            "index",
            "20",
            "type",
            "veth",
            "peer",
            "name",
            "priv0",
            "netns",
            &t.ns("b"),
            "index",
            "21",
        ]);
        for (ns, addr) in [("a", "198.51.100.1/24"), ("b", "198.51.100.2/24")] {
            ip(&["-n", &t.ns(ns), "link", "set", "priv0", "up"]);
            ip(&["-n", &t.ns(ns), "addr", "add", addr, "dev", "priv0"]);
        }
        t
    }

    /// IPv6 beside IPv4: 2001:db8::1, ::2 and ::10 on the public bridge, fd00:51::1 and ::2
    /// on the private link (no duplicate address detection), kept while a NIC is down.
    pub fn add_ipv6(&self) {
        for ns in ["a", "b", "c"] {
            for sysctl in [
                "net.ipv6.conf.all.keep_addr_on_down=1",
                "net.ipv6.conf.default.keep_addr_on_down=1",
                "net.ipv6.conf.eth0.keep_addr_on_down=1",
            ] {
                let _ = Command::new("ip")
                    .args(["netns", "exec", &self.ns(ns), "sysctl", "-q", "-w", sysctl])
                    .output();
            }
        }
        for (ns, dev, addr) in [
            ("a", "eth0", "2001:db8::1/64"),
            ("b", "eth0", "2001:db8::2/64"),
            ("c", "eth0", "2001:db8::10/64"),
            ("a", "priv0", "fd00:51::1/64"),
            ("b", "priv0", "fd00:51::2/64"),
        ] {
            ip(&["-n", &self.ns(ns), "addr", "add", addr, "dev", dev, "nodad"]);
        }
        for ns in ["a", "b"] {
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns(ns),
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv6.conf.priv0.keep_addr_on_down=1",
                ])
                .output();
        }
    }

    /// The namespace of "a" (alpha), "b" (beta), "c" (client) or "r" (the bridge).
    pub fn ns(&self, which: &str) -> String {
        format!("{}{which}", self.prefix)
    }

    pub fn node_ns(&self, node: &str) -> String {
        self.ns(if node == "alpha" { "a" } else { "b" })
    }

    pub fn set_link(&self, node: &str, dev: &str, up: bool) {
        ip(&[
            "-n",
            &self.node_ns(node),
            "link",
            "set",
            dev,
            if up { "up" } else { "down" },
        ]);
    }

    /// Keeps alpha and beta apart on the public bridge (isolated ports reach only the
    /// client's), their NICs up: with the private link down, neither hears the other at all.
    pub fn isolate_nodes(&self, apart: bool) {
        for port in ["pa", "pb"] {
            let on = if apart { "on" } else { "off" };
            self.set_port(port, &["type", "bridge_slave", "isolated", on]);
        }
    }

    /// `ip link set PORT ...` on a port of the public bridge.
    fn set_port(&self, port: &str, what: &[&str]) {
        let r = self.ns("r");
        let mut args = vec!["-n", r.as_str(), "link", "set", port];
        args.extend_from_slice(what);
        ip(&args);
    }

    /// A second public NIC for alpha, eth1 (192.0.2.3), on the same bridge (port pa2).
    pub fn add_second_nic(&self) {
        let r = self.ns("r");
        ip(&[
            "link",
            "add",
            "eth1",
            "netns",
            &self.ns("a"),
            "type",
            "veth",
            "peer",
            "name",
            "pa2",
            "netns",
            &r,
        ]);
        ip(&["-n", &r, "link", "set", "pa2", "master", "br0", "up"]);
        ip(&["-n", &self.ns("a"), "link", "set", "eth1", "up"]);
        ip(&[
            "-n",
            &self.ns("a"),
            "addr",
            "add",
            "192.0.2.3/24",
            "dev",
            "eth1",
        ]);
        // Two NICs in one subnet: replies must not keep leaving by the one without carrier.
        ip(&[
            "netns",
            "exec",
            &self.ns("a"),
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.conf.all.ignore_routes_with_linkdown=1",
        ]);
    }

    /// Pulls (or plugs back) a node's public cable at the switch: its NIC loses carrier.
    pub fn set_cable(&self, port: &str, up: bool) {
        self.set_port(port, &[if up { "up" } else { "down" }]);
    }

    /// Whether the floating address is on a node's NIC.
    pub fn has_vip_on(&self, node: &str, dev: &str) -> bool {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.node_ns(node),
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                dev,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {VIP}/"))
    }

    /// Whether the floating address is on the node's eth0.
    pub fn has_vip(&self, node: &str) -> bool {
        self.has_vip_on(node, "eth0")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in ["a", "b", "c", "r"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(ns)])
                .output();
        }
    }
}

/// The service of the cluster tests: demo-web on the floating address 192.0.2.100.
pub fn web_service(extra: &str) -> String {
    format!("\n[service web]\ntype = WWW\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\nstart = demo-web.start\nstop = demo-web.stop\nagent = demo-web.agent\ncheck_interval = 1s\nstart_timeout = 10s\npath = /var/www\n{extra}")
}

/// The cluster configuration over the private link, with `interval` heartbeats.
pub fn ns_config(interval: &str, services: &str) -> String {
    format!("[privnet priv]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 198.51.100.1\nip2 = 198.51.100.2\nport = 3000\ninterval = {interval}\nmaxmiss = 3\n{services}")
}

/// Two nodes in their namespaces. Fields drop in order: nodes (processes) before the
/// topology (namespaces).
pub struct NsCluster {
    pub nodes: Cluster,
    pub topo: Topology,
}

impl std::ops::Deref for NsCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.nodes
    }
}

impl NsCluster {
    pub fn new(config: &str) -> NsCluster {
        let topo = Topology::new();
        let mut nodes = Cluster::new(config);
        nodes.alpha.netns = Some(topo.ns("a"));
        nodes.beta.netns = Some(topo.ns("b"));
        NsCluster { nodes, topo }
    }

    /// A crash: every process of the node killed at once, its interfaces down.
    pub fn crash(&self, name: &str) {
        Cluster::crash(self.node(name));
        self.topo.set_link(name, "eth0", false);
        self.topo.set_link(name, "priv0", false);
    }

    /// Power lost: every process stops at once and the cables go dark (the peer sees the
    /// carrier go), then the processes are gone. Returns the moment the power went (its
    /// processes were looked up before). (`crash` kills first: the kernel still resets the
    /// node's connections, as after a kernel panic with the NICs up.)
    pub fn power_off(&self, name: &str) -> Instant {
        let node = self.node(name);
        let pids = node.processes();
        let at = Instant::now();
        for &p in &pids {
            let _ = sureha::sys::kill(p, libc::SIGSTOP);
        }
        // Straight from a thread in its namespace: spawning ip(8) takes tens of ms, and the
        // peer's carrier must go when the power does.
        links_down(&self.topo.node_ns(name), &["priv0", "eth0"]);
        Cluster::crash(node);
        at
    }

    /// The crashed node's cables back in and SureHA started again.
    pub fn revive(&self, name: &str) {
        self.topo.set_link(name, "eth0", true);
        self.topo.set_link(name, "priv0", true);
        self.node(name).start();
    }
}

/// Sleeps until `next + every` and makes that the next due time: a fixed rate, not `every`
/// after a slow turn; a turn that overran starts the count again from now.
pub fn pace(next: &mut Instant, every: Duration) {
    *next += every;
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    } else {
        *next = now;
    }
}

/// One answer (or none) of the client's probe.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    pub who: Option<String>,
    /// What happened: "ok", "connect: ...", "read: ...".
    pub how: String,
}

/// A client in its namespace connecting to the floating address every `every`, recording
/// which node answered. Bounded: it stops on drop or after ten minutes.
pub struct Probe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    samples: std::sync::Arc<std::sync::Mutex<Vec<Sample>>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Probe {
    pub fn start(client_ns: &str, every: Duration) -> Probe {
        Probe::start_with(
            client_ns,
            every,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
    }

    /// A probe of another floating address (an IPv6 one) on the demo service's port.
    pub fn start_at(client_ns: &str, at: std::net::IpAddr, every: Duration) -> Probe {
        Probe::start_to(
            client_ns,
            std::net::SocketAddr::new(at, 8080),
            every,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
    }

    /// A probe with its own patience: a connection that straddles an address move costs
    /// at most `connect + read`, so fine probes see the real window, not their timeouts.
    pub fn start_with(
        client_ns: &str,
        every: Duration,
        connect: Duration,
        read: Duration,
    ) -> Probe {
        let addr: std::net::SocketAddr = format!("{VIP}:8080").parse().unwrap();
        Probe::start_to(client_ns, addr, every, connect, read)
    }

    fn start_to(
        client_ns: &str,
        addr: std::net::SocketAddr,
        every: Duration,
        connect: Duration,
        read: Duration,
    ) -> Probe {
        Probe::start_staggered(client_ns, addr, every, 1, connect, read)
    }

    /// A probe of the demo service on the floating address by `workers` clients, each every
    /// `every × workers`, staggered by `every`: one waiting out its timeout on a connection
    /// lost in a move does not blind the others, so gaps are seen to within `every`.
    pub fn start_fine(client_ns: &str, every: Duration, workers: u32, timeout: Duration) -> Probe {
        let addr: std::net::SocketAddr = format!("{VIP}:8080").parse().unwrap();
        Probe::start_staggered(client_ns, addr, every, workers, timeout, timeout)
    }

    fn start_staggered(
        client_ns: &str,
        addr: std::net::SocketAddr,
        every: Duration,
        workers: u32,
        connect: Duration,
        read: Duration,
    ) -> Probe {
        use std::sync::{atomic::AtomicBool, Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let path = PathBuf::from(format!("/run/netns/{client_ns}"));
        let began = Instant::now();
        let handles = (0..workers.max(1))
            .map(|w| {
                let (s2, st2, path) = (samples.clone(), stop.clone(), path.clone());
                std::thread::spawn(move || {
                    sureha::sys::enter_netns(&path).expect("cannot enter the client namespace");
                    let mut next = began + every * w;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    while !st2.load(Ordering::SeqCst) && began.elapsed() < Duration::from_secs(600)
                    {
                        let at = Instant::now();
                        let (who, how) = match std::net::TcpStream::connect_timeout(&addr, connect)
                        {
                            Err(e) => (None, format!("connect: {e}")),
                            Ok(mut c) => {
                                use std::io::Read;
                                let _ = c.set_read_timeout(Some(read));
                                let mut s = String::new();
                                match c.read_to_string(&mut s) {
                                    Ok(_) if !s.trim().is_empty() => {
                                        (Some(s.trim().to_string()), "ok".to_string())
                                    }
                                    Ok(_) => (None, "read: empty".to_string()),
                                    Err(e) => (None, format!("read: {e}")),
                                }
                            }
                        };
                        s2.lock().unwrap().push(Sample { at, who, how });
                        pace(&mut next, every * workers.max(1));
                    }
                })
            })
            .collect();
        Probe {
            stop,
            samples,
            handles,
        }
    }

    /// In the order they were sent (several workers finish out of order).
    pub fn samples(&self) -> Vec<Sample> {
        let mut v = self.samples.lock().unwrap().clone();
        v.sort_by_key(|x| x.at);
        v
    }

    /// The last node that answered.
    pub fn last(&self) -> Option<String> {
        self.samples().iter().rev().find_map(|s| s.who.clone())
    }

    pub fn wait_for(&self, who: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.samples().last().and_then(|s| s.who.clone()).as_deref() == Some(who) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the client was not served by {who} within {limit:?} (last answer: {:?})",
            self.last()
        );
    }

    /// Waits for an answer from `who` to a connection made after `since`.
    pub fn wait_since(&self, who: &str, since: Instant, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .samples()
                .iter()
                .any(|s| s.at > since && s.who.as_deref() == Some(who))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the client got no answer from {who} within {limit:?} after the event (last answer: {:?})", self.last());
    }

    /// The longest time without an answer between two answers after `since` (the
    /// client-observed outage), counted from the last answer before `since`.
    pub fn outage_since(&self, since: Instant) -> Duration {
        let answered: Vec<Instant> = self
            .samples()
            .iter()
            .filter(|x| x.who.is_some())
            .map(|x| x.at)
            .collect();
        let mut prev = answered
            .iter()
            .rev()
            .find(|&&t| t <= since)
            .copied()
            .unwrap_or(since);
        let mut worst = Duration::ZERO;
        for &t in answered.iter().filter(|&&t| t > since) {
            worst = worst.max(t - prev);
            prev = t;
        }
        worst
    }

    /// Which nodes answered after `since`, each change once.
    pub fn answered_by(&self, since: Instant) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in self.samples().into_iter().filter(|s| s.at >= since) {
            if let Some(w) = s.who {
                if v.last() != Some(&w) {
                    v.push(w);
                }
            }
        }
        v
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// A shared disk for the cluster tests: a loop device with an ext4 file system, and its
/// mount point. Detached and removed on drop.
pub struct SharedDisk {
    pub device: String,
    pub mount_point: String,
    image: PathBuf,
}

impl SharedDisk {
    pub fn new() -> SharedDisk {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let image =
            std::env::temp_dir().join(format!("sureha-disk-{}-{n}.img", std::process::id()));
        let f = fs::File::create(&image).unwrap();
        f.set_len(16 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&image)
            .output()
            .expect("losetup must be installed");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mk = Command::new("mkfs.ext4")
            .args(["-q", "-F", &device])
            .output()
            .expect("mkfs.ext4 (e2fsprogs) must be installed");
        assert!(
            mk.status.success(),
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&mk.stderr)
        );
        let mount_point = std::env::temp_dir()
            .join(format!("sureha-mnt-{}-{n}", std::process::id()))
            .display()
            .to_string();
        SharedDisk {
            device,
            mount_point,
            image,
        }
    }

    /// How many times the mount point is mounted now.
    pub fn mounts(&self) -> usize {
        fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(self.mount_point.as_str()))
            .count()
    }
}

impl Drop for SharedDisk {
    fn drop(&mut self) {
        for _ in 0..5 {
            if self.mounts() == 0 {
                break;
            }
            let _ = Command::new("umount").arg(&self.mount_point).output();
        }
        let _ = Command::new("losetup").args(["-d", &self.device]).output();
        let _ = fs::remove_file(&self.image);
        let _ = fs::remove_dir(&self.mount_point);
    }
}

/// An RS-232 line between the nodes for tests: two pseudo-terminals whose masters this
/// harness joins with a relay thread, so a test can cut the line, inject noise, or flip
/// bits. The nodes use `device_a` and `device_b`. The relay stops on drop (bounded anyway).
pub struct SerialLine {
    pub device_a: String,
    pub device_b: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    flip_every: std::sync::Arc<std::sync::atomic::AtomicU32>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU32>,
    inject: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// Every byte the line carried (both ways) while recording.
    recording: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl SerialLine {
    pub fn new() -> SerialLine {
        SerialLine::lasting(Duration::from_secs(600))
    }

    /// A line whose relay runs at most `limit` (a chaos run lasts hours).
    pub fn lasting(limit: Duration) -> SerialLine {
        use std::sync::atomic::{AtomicBool, AtomicU32};
        use std::sync::{Arc, Mutex};
        let (ma, pa) = sureha::sys::open_pty().expect("a pseudo-terminal");
        let (mb, pb) = sureha::sys::open_pty().expect("a pseudo-terminal");
        let cut = Arc::new(AtomicBool::new(false));
        let flip_every = Arc::new(AtomicU32::new(0));
        let delay_ms = Arc::new(AtomicU32::new(0));
        let inject: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let recording: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let (c, f, d, i, s, rec) = (
            cut.clone(),
            flip_every.clone(),
            delay_ms.clone(),
            inject.clone(),
            stop.clone(),
            recording.clone(),
        );
        let handle = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let _ = sureha::sys::set_nonblock(&ma, true);
            let _ = sureha::sys::set_nonblock(&mb, true);
            let mut buf = [0u8; 4096];
            let mut count: u64 = 0;
            // Bytes held back by a delay: when each chunk is due, towards b (true) or a.
            let mut held: std::collections::VecDeque<(Instant, bool, Vec<u8>)> =
                std::collections::VecDeque::new();
            let began = Instant::now();
            while !s.load(Ordering::SeqCst) && began.elapsed() < limit {
                let mut fds = [
                    sureha::sys::PollFd {
                        fd: ma.as_raw_fd(),
                        events: sureha::sys::POLLIN,
                        revents: 0,
                    },
                    sureha::sys::PollFd {
                        fd: mb.as_raw_fd(),
                        events: sureha::sys::POLLIN,
                        revents: 0,
                    },
                ];
                let _ = sureha::sys::poll(&mut fds, 20);
                let junk: Vec<u8> = std::mem::take(&mut *i.lock().unwrap());
                if !junk.is_empty() {
                    let _ = sureha::sys::write_some(&mb, &junk);
                }
                let delay = Duration::from_millis(d.load(Ordering::SeqCst) as u64);
                for (from, to, to_b) in [(&ma, &mb, true), (&mb, &ma, false)] {
                    while let Ok(n) = sureha::sys::read_some(from, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        if c.load(Ordering::SeqCst) {
                            continue;
                        }
                        if let Some(r) = rec.lock().unwrap().as_mut() {
                            r.extend_from_slice(&buf[..n]);
                        }
                        let every = f.load(Ordering::SeqCst) as u64;
                        for b in &mut buf[..n] {
                            count += 1;
                            if every > 0 && count.is_multiple_of(every) {
                                *b ^= 0x08;
                            }
                        }
                        if delay.is_zero() && held.is_empty() {
                            let _ = sureha::sys::write_some(to, &buf[..n]);
                        } else {
                            held.push_back((Instant::now() + delay, to_b, buf[..n].to_vec()));
                        }
                    }
                }
                while held.front().is_some_and(|h| h.0 <= Instant::now()) {
                    let (_, to_b, bytes) = held.pop_front().unwrap();
                    let _ = sureha::sys::write_some(if to_b { &mb } else { &ma }, &bytes);
                }
            }
        });
        SerialLine {
            device_a: pa.display().to_string(),
            device_b: pb.display().to_string(),
            cut,
            flip_every,
            delay_ms,
            inject,
            recording,
            stop,
            handle: Some(handle),
        }
    }

    /// Starts keeping every byte the line carries, as a tap on the wire would.
    pub fn record(&self) {
        *self.recording.lock().unwrap() = Some(Vec::new());
    }

    /// What the line carried since `record`.
    pub fn recorded(&self) -> Vec<u8> {
        self.recording.lock().unwrap().clone().unwrap_or_default()
    }

    pub fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    /// Holds every byte back `ms` milliseconds, in order (0: none).
    pub fn delay(&self, ms: u32) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Flips one bit in every `n` bytes (0: none).
    pub fn flip_every(&self, n: u32) {
        self.flip_every.store(n, Ordering::SeqCst);
    }

    /// Writes noise into the line towards node b.
    pub fn inject(&self, bytes: &[u8]) {
        self.inject.lock().unwrap().extend_from_slice(bytes);
    }

    /// The configuration section of this line.
    pub fn privnet(&self, name: &str, interval: &str) -> String {
        format!("\n[privnet {name}]\ntype = rs232\nhost1 = alpha\nhost2 = beta\ndevice1 = {}\ndevice2 = {}\nbaudrate = 115200\ninterval = {interval}\nmaxmiss = 3\n", self.device_a, self.device_b)
    }
}

impl Drop for SerialLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Waits (bounded) until a service shows `a` on alpha and `b` on beta.
fn wait_words(svc: &str, a: &str, b: &str, limit: Duration, words: impl Fn() -> (String, String)) {
    let start = Instant::now();
    let mut last = (String::new(), String::new());
    while start.elapsed() < limit {
        last = words();
        if last.0 == a && last.1 == b {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "service {svc}: wanted alpha={a} beta={b}, still alpha={} beta={} after {limit:?}",
        last.0, last.1
    );
}

/// Sets NICs of namespace `ns` down with SIOCSIFFLAGS, from a thread that entered it.
pub fn links_down(ns: &str, devs: &[&str]) {
    let path = PathBuf::from(format!("/run/netns/{ns}"));
    let devs: Vec<String> = devs.iter().map(|d| d.to_string()).collect();
    std::thread::spawn(move || {
        sureha::sys::enter_netns(&path).expect("enter the namespace");
        // SAFETY: a plain socket for the ioctls below; closed at the end.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        for dev in &devs {
            // SAFETY: ifreq is plain data; the name is copied in NUL-terminated.
            let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
            for (d, b) in req.ifr_name.iter_mut().zip(dev.bytes().take(15)) {
                *d = b as libc::c_char;
            }
            // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS on our socket with a valid ifreq.
            unsafe {
                assert!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) >= 0, "{dev}");
                req.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
                assert!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) >= 0, "{dev}");
            }
        }
        // SAFETY: closing the socket opened above.
        unsafe { libc::close(fd) };
    })
    .join()
    .expect("links down");
}
