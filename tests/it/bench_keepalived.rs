//! SureHA and keepalived side by side (issue "Lighter and quicker than keepalived"), on the
//! same namespace topology: two nodes, a client probing the floating address every 1 ms,
//! the same web server on both nodes all along (answering its node's name: keepalived
//! moves only the address, so SureHA's service here is the address with instant no-op
//! scripts and no agent), 100 ms heartbeats (VRRPv3 `advert_int 0.1`) for the moves and 1 s
//! (`advert_int 1`) at rest. Medians of `RUNS` runs. Needs root and keepalived
//! (`apt-get install keepalived`); run by `make bench`.

use crate::bench::{median, ms, runs};
use crate::harness::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// The web server of a node, as both products get it: answering its node's name on 8080,
/// from a thread of this process inside the node's namespace (no fork per connection, so a
/// fine probe measures the network, not the server). Stops on drop; bounded to ten minutes.
struct Responder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    fn start(ns: &str, name: &str) -> Responder {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (st, ns, name) = (stop.clone(), ns.to_string(), name.to_string());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            sureha::sys::enter_netns(std::path::Path::new(&format!("/run/netns/{ns}"))).unwrap();
            let l = std::net::TcpListener::bind("0.0.0.0:8080").expect("port 8080");
            l.set_nonblocking(true).unwrap();
            let _ = ready_tx.send(());
            let began = Instant::now();
            while !st.load(Ordering::SeqCst) && began.elapsed() < Duration::from_secs(600) {
                let mut fds = [sureha::sys::PollFd {
                    fd: l.as_raw_fd(),
                    events: sureha::sys::POLLIN,
                    revents: 0,
                }];
                let _ = sureha::sys::poll(&mut fds, 100);
                while let Ok((mut c, _)) = l.accept() {
                    let _ = c.write_all(format!("{name}\n").as_bytes());
                }
            }
        });
        let _ = ready.recv_timeout(Duration::from_secs(5));
        Responder {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The client: every millisecond, 5 ms to connect and 5 ms to read, so a connection caught
/// by the move costs 10 ms at most and the gap is the move's own.
/// A probe every millisecond by five clients of 5 ms patience each (`Probe::start_fine`):
/// one request lost in the move does not hide the next four, so the same instrument sees
/// either product's gap to within a millisecond.
fn fine_probe(ns: &str) -> Probe {
    Probe::start_fine(ns, Duration::from_millis(1), 5, Duration::from_millis(5))
}

/// SureHA's service for the comparison: the floating address, instant scripts, no agent.
pub(crate) fn address_only() -> String {
    format!("\n[service web]\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\nstart = svc.start\nstop = svc.stop\nswitchback = yes\n")
}

/// keepalived on one node of the topology, with the web service beside it.
pub(crate) struct Keepalived {
    dir: std::path::PathBuf,
    ns: String,
    name: &'static str,
    _web: Responder,
    daemon: Option<Child>,
    advert: &'static str,
    priority: u32,
    /// A vrrp_script run every second, if any (`bench_checked`).
    check: Option<String>,
}

impl Keepalived {
    fn new(topo: &Topology, name: &'static str, advert: &'static str) -> Keepalived {
        Keepalived::checked(topo, name, advert, None)
    }

    /// With `check`, a script keepalived runs every second (vrrp_script) and tracks.
    pub(crate) fn checked(
        topo: &Topology,
        name: &'static str,
        advert: &'static str,
        check: Option<String>,
    ) -> Keepalived {
        let ns = topo.node_ns(name);
        let dir = std::env::temp_dir().join(format!("ka-{}-{}-{name}", std::process::id(), ns));
        std::fs::create_dir_all(&dir).unwrap();
        let web = Responder::start(&ns, name);
        let mut k = Keepalived {
            dir,
            ns,
            name,
            _web: web,
            daemon: None,
            advert,
            priority: if name == "alpha" { 150 } else { 100 },
            check,
        };
        k.start();
        k
    }

    fn start(&mut self) {
        let conf = self.dir.join("keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  router_id {n}\n  vrrp_garp_master_delay 0\n{sec}}}\n{script}vrrp_instance web {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  version 3\n  priority {p}\n  advert_int {a}\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n{track}}}\n",
                n = self.name,
                sec = if self.check.is_some() { "  enable_script_security\n  script_user root\n" } else { "" },
                script = self.check.as_ref().map_or(String::new(), |c| format!("vrrp_script chk {{\n  script \"{c}\"\n  interval 1\n}}\n")),
                track = if self.check.is_some() { "  track_script {\n    chk\n  }\n" } else { "" },
                state = if self.priority > 100 { "MASTER" } else { "BACKUP" },
                p = self.priority,
                a = self.advert,
            ),
        )
        .unwrap();
        let d = self.dir.display().to_string();
        self.daemon = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.ns, "keepalived", "-n", "-P", "-f"])
                .arg(&conf)
                .args(["-p", &format!("{d}/k.pid"), "-r", &format!("{d}/v.pid")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("keepalived must be installed (apt-get install keepalived)"),
        );
    }

    /// Every keepalived process of this node (the parent and its VRRP child).
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for f in ["k.pid", "v.pid"] {
            if let Some(p) = std::fs::read_to_string(self.dir.join(f))
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                v.push(p);
            }
        }
        v
    }

    /// SIGTERM: keepalived leaves on purpose and says so (priority 0).
    fn stop(&mut self) {
        for p in self.pids() {
            let _ = sureha::sys::kill(p, libc::SIGTERM);
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.wait();
        }
    }

    fn crash(&mut self) {
        for p in self.pids() {
            let _ = sureha::sys::kill(p, libc::SIGKILL);
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// CPU time (user + system, seconds) of its processes so far.
    fn cpu(&self) -> f64 {
        self.pids().iter().map(|p| cpu_of(*p)).sum()
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU time of a process so far, in seconds: the sum over its threads of
/// /proc/PID/task/TID/schedstat (nanoseconds; ticks are far too coarse for an idle daemon).
pub(crate) fn cpu_of(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

pub(crate) fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Figures {
    crash: Vec<Duration>,
    planned: Vec<Duration>,
    back: Vec<Duration>,
}

fn keepalived_runs() -> Figures {
    let mut f = Figures {
        crash: vec![],
        planned: vec![],
        back: vec![],
    };
    for _ in 0..runs() {
        let topo = Topology::new();
        let mut a = Keepalived::new(&topo, "alpha", "0.1");
        let _b = Keepalived::new(&topo, "beta", "0.1");
        let probe = fine_probe(&topo.ns("c"));
        probe.wait_for("alpha", T);
        std::thread::sleep(Duration::from_millis(1500));
        // Planned: alpha's keepalived stopped (it hands over with priority 0).
        let t0 = Instant::now();
        a.stop();
        probe.wait_for("beta", T);
        std::thread::sleep(Duration::from_millis(200));
        f.planned.push(probe.outage_since(t0));
        // Switch-back: alpha returns with the higher priority and takes the address back.
        std::thread::sleep(Duration::from_millis(1500));
        let t1 = Instant::now();
        a.start();
        probe.wait_since("alpha", t1, T);
        std::thread::sleep(Duration::from_millis(200));
        f.back.push(probe.outage_since(t1));
        // Power lost on alpha: its cables go dark, its processes are gone.
        std::thread::sleep(Duration::from_millis(1500));
        let t2 = Instant::now();
        topo.set_link("alpha", "priv0", false);
        topo.set_link("alpha", "eth0", false);
        a.crash();
        probe.wait_for("beta", T);
        f.crash.push(probe.outage_since(t2));
    }
    f
}

fn sureha_runs() -> Figures {
    let mut f = Figures {
        crash: vec![],
        planned: vec![],
        back: vec![],
    };
    for _ in 0..runs() {
        let c = NsCluster::new(&ns_config("100ms", &address_only()));
        c.start();
        let _webs: Vec<Responder> = ["alpha", "beta"]
            .iter()
            .map(|n| Responder::start(&c.topo.node_ns(n), n))
            .collect();
        let probe = fine_probe(&c.topo.ns("c"));
        c.alpha.ok(&["service", "bringin", "web"]);
        probe.wait_for("alpha", T);
        std::thread::sleep(Duration::from_millis(1500));
        // Planned: alpha's SureHA stopped (it hands its services over).
        let t0 = Instant::now();
        c.alpha.ok(&["stop"]);
        probe.wait_for("beta", T);
        std::thread::sleep(Duration::from_millis(200));
        f.planned.push(probe.outage_since(t0));
        // The move's phases, as each node logged them (DESIGN §13).
        for n in [&c.alpha, &c.beta] {
            if let Some(m) = n.log().lines().rev().find(|l| l.contains(" MOVE ")) {
                println!(
                    "planned move, {}: {}",
                    n.name,
                    &m[m.find("MOVE").unwrap_or(0)..]
                );
            }
        }
        // Switch-back: alpha returns, and the service with it.
        std::thread::sleep(Duration::from_millis(1500));
        let t1 = Instant::now();
        c.alpha.start();
        probe.wait_since("alpha", t1, T);
        std::thread::sleep(Duration::from_millis(200));
        f.back.push(probe.outage_since(t1));
        for n in [&c.beta, &c.alpha] {
            if let Some(m) = n.log().lines().rev().find(|l| l.contains(" MOVE ")) {
                println!(
                    "switch-back, {}: {}",
                    n.name,
                    &m[m.find("MOVE").unwrap_or(0)..]
                );
            }
        }
        std::thread::sleep(Duration::from_millis(1500));
        let t2 = c.power_off("alpha");
        probe.wait_for("beta", T);
        f.crash.push(probe.outage_since(t2));
    }
    f
}

/// Idle CPU (s per 60 s) and PSS (kB) per node with 1 s beats, nothing happening.
fn idle_keepalived(secs: u64) -> [(f64, u64); 2] {
    let topo = Topology::new();
    let a = Keepalived::new(&topo, "alpha", "1");
    let b = Keepalived::new(&topo, "beta", "1");
    std::thread::sleep(Duration::from_secs(5));
    let before = [a.cpu(), b.cpu()];
    std::thread::sleep(Duration::from_secs(secs));
    let after = [a.cpu(), b.cpu()];
    let pss = |k: &Keepalived| k.pids().iter().map(|p| pss_kb(*p)).sum();
    [
        ((after[0] - before[0]) * 60.0 / secs as f64, pss(&a)),
        ((after[1] - before[1]) * 60.0 / secs as f64, pss(&b)),
    ]
}

fn idle_sureha(secs: u64) -> [(f64, u64); 2] {
    let c = NsCluster::new(&ns_config("1s", &address_only()));
    c.start();
    let _webs: Vec<Responder> = ["alpha", "beta"]
        .iter()
        .map(|n| Responder::start(&c.topo.node_ns(n), n))
        .collect();
    c.alpha.ok(&["service", "bringin", "web"]);
    std::thread::sleep(Duration::from_secs(5));
    // The web server is a thread of this test, counted on neither side.
    let own = |n: &Node| -> Vec<u32> { n.processes() };
    let before_each: std::collections::BTreeMap<u32, f64> = [&c.alpha, &c.beta]
        .iter()
        .flat_map(|n| own(n))
        .map(|p| (p, cpu_of(p)))
        .collect();
    let before: Vec<f64> = [&c.alpha, &c.beta]
        .iter()
        .map(|n| own(n).iter().map(|p| cpu_of(*p)).sum())
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    let mut out = [(0.0, 0u64); 2];
    for (i, n) in [&c.alpha, &c.beta].iter().enumerate() {
        let pids = own(n);
        // Where it goes: each program's share, in ms per 60 s.
        let per: Vec<String> = pids
            .iter()
            .map(|p| {
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                let then = before_each.get(p).copied().unwrap_or(0.0);
                format!(
                    "{} {:.2}",
                    comm.trim(),
                    (cpu_of(*p) - then) * 60_000.0 / secs as f64
                )
            })
            .collect();
        println!(
            "idle, {}: ms per 60 s by program: {}",
            n.name,
            per.join(", ")
        );
        let now: f64 = pids.iter().map(|p| cpu_of(*p)).sum();
        out[i] = (
            (now - before[i]) * 60.0 / secs as f64,
            pids.iter().map(|p| pss_kb(*p)).sum(),
        );
    }
    out
}

pub(crate) fn idle_secs() -> u64 {
    std::env::var("IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Medians over `runs()` idle runs of each: CPU (s per 60 s) and PSS per node.
fn idle_medians(f: fn(u64) -> [(f64, u64); 2]) -> ([f64; 2], [u64; 2], Vec<[f64; 2]>) {
    let all: Vec<[(f64, u64); 2]> = (0..runs()).map(|_| f(idle_secs())).collect();
    let med = |i: usize| {
        let mut c: Vec<f64> = all.iter().map(|r| r[i].0).collect();
        c.sort_by(f64::total_cmp);
        let mut p: Vec<u64> = all.iter().map(|r| r[i].1).collect();
        p.sort();
        (c[c.len() / 2], p[p.len() / 2])
    };
    let (a, b) = (med(0), med(1));
    (
        [a.0, b.0],
        [a.1, b.1],
        all.iter().map(|r| [r[0].0, r[1].0]).collect(),
    )
}

/// Idle cost alone, side by side (`RUNS` runs of `IDLE_SECS` each, alternating).
#[test]
#[ignore]
fn bench_idle_side_by_side() {
    let (kc, kp, kr) = idle_medians(idle_keepalived);
    let (sc, sp, sr) = idle_medians(idle_sureha);
    print_idle(kc, kp, sc, sp);
    println!("idle runs (s per 60 s, alpha / beta): SureHA {sr:.4?}; keepalived {kr:.4?}");
}

fn print_idle(kc: [f64; 2], kp: [u64; 2], sc: [f64; 2], sp: [u64; 2]) {
    println!(
        "| idle CPU per node, 1 s beats, s per 60 s (medians of {}) | {:.4} / {:.4} | {:.4} / {:.4} | {:.2} / {:.2} |",
        runs(),
        sc[0],
        sc[1],
        kc[0],
        kc[1],
        sc[0] / kc[0].max(1e-9),
        sc[1] / kc[1].max(1e-9)
    );
    println!(
        "| idle CPU of the pair, s per 60 s | {:.4} | {:.4} | {:.2} |",
        sc[0] + sc[1],
        kc[0] + kc[1],
        (sc[0] + sc[1]) / (kc[0] + kc[1]).max(1e-9)
    );
    println!(
        "| idle PSS per node | {} / {} kB | {} / {} kB | |",
        sp[0], sp[1], kp[0], kp[1]
    );
}

#[test]
#[ignore]
fn bench_keepalived_side_by_side() {
    let k = keepalived_runs();
    let s = sureha_runs();
    let (kc, kp, _) = idle_medians(idle_keepalived);
    let (sc, sp, _) = idle_medians(idle_sureha);
    let row = |what: &str, s: &[Duration], k: &[Duration]| {
        let (ms_s, ms_k) = (median(s.to_vec()), median(k.to_vec()));
        println!(
            "| {what} | {} | {} | {:.2} |",
            ms(ms_s),
            ms(ms_k),
            ms_s.as_secs_f64() / ms_k.as_secs_f64().max(0.001)
        );
    };
    println!("| figure (medians of {} runs, client probing every 1 ms) | SureHA | keepalived 2.2.7 | ratio |", runs());
    println!("| --- | --- | --- | --- |");
    row("crash outage, 100 ms × 3", &s.crash, &k.crash);
    row(
        "planned move (daemon stopped), client gap",
        &s.planned,
        &k.planned,
    );
    row("switch-back (failback) gap", &s.back, &k.back);
    print_idle(kc, kp, sc, sp);
    println!(
        "runs: SureHA crash {:?} planned {:?} back {:?}; keepalived crash {:?} planned {:?} back {:?}",
        s.crash.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        s.planned.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        s.back.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        k.crash.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        k.planned.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        k.back.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
    );
}
