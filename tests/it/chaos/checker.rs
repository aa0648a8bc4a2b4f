//! The checker: trusts nothing SureHA says. Every 20 ms, from outside both nodes, it asks the
//! kernel which node holds each floating address (SIOCGIFCONF on a socket in each node's
//! namespace), where the shared volume is mounted (each node's mountinfo), and which node
//! runs a postmaster, a web server or a USERDEF service's process (/proc). Two nodes holding
//! one thing at once is a violation. A move is not two holders: a thing counts as on both
//! only when one node held it before and after the other was seen holding it.

use super::history::History;
use crate::harness::pace;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the checker needs to know of a node.
pub struct NodeView {
    pub netns: String,
    /// A file whose content is the node's mount table.
    pub mountinfo: PathBuf,
}

/// A service as the checker sees it: what must be together on one node when it runs.
#[derive(Clone)]
pub struct Watched {
    pub name: String,
    pub addrs: Vec<Ipv4Addr>,
    /// The volume's mount point, if it has one.
    pub mount: Option<String>,
    /// The process that is the service: by `comm`, or `comm` and a word of its command line.
    pub comm: String,
    pub arg: Option<String>,
    /// A process whose parent has the same comm is a worker, not the service.
    pub top_only: bool,
}

/// One sample: for each node (0 alpha, 1 beta), what it holds.
#[derive(Clone, Default, PartialEq, Debug)]
pub struct Held {
    pub addrs: [BTreeSet<Ipv4Addr>; 2],
    pub mounts: [BTreeSet<String>; 2],
    /// Per service: how many of its processes run on each node.
    pub procs: BTreeMap<String, [usize; 2]>,
}

#[derive(Clone, Debug)]
pub struct Violation {
    pub t: f64,
    pub what: String,
}

#[derive(Default)]
pub struct Shared {
    pub last: Held,
    pub violations: Vec<Violation>,
    /// Per service: (samples in which it ran on exactly one node, samples).
    pub availability: BTreeMap<String, (u64, u64)>,
    pub samples: u64,
    /// The run proper has begun: availability counts, and a double holding is a violation
    /// (before, during the checker's self-test, it is the planted bug).
    pub counting: bool,
}

pub struct Checker {
    stop: Arc<AtomicBool>,
    pub shared: Arc<Mutex<Shared>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// A UDP socket in a network namespace (it stays there: a socket keeps its namespace).
fn socket_in(ns: &str) -> OwnedFd {
    let path = PathBuf::from(format!("/run/netns/{ns}"));
    std::thread::spawn(move || {
        sureha::sys::enter_netns(&path).expect("enter a node's namespace");
        // SAFETY: socket(2) returns a new descriptor we own, or -1.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a fresh descriptor nobody else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
    .join()
    .unwrap()
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

#[repr(C)]
struct IfConf {
    len: libc::c_int,
    buf: *mut IfReq,
}

/// Every IPv4 address of every interface of the socket's namespace, up or not.
fn addresses(sock: &OwnedFd) -> BTreeSet<Ipv4Addr> {
    let mut reqs: Vec<IfReq> = (0..128)
        .map(|_| IfReq {
            name: [0; 16],
            // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
            addr: unsafe { std::mem::zeroed() },
            _pad: [0; 8],
        })
        .collect();
    let mut conf = IfConf {
        len: (reqs.len() * std::mem::size_of::<IfReq>()) as libc::c_int,
        buf: reqs.as_mut_ptr(),
    };
    // SAFETY: conf points at a buffer of conf.len bytes that outlives the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFCONF, &mut conf) };
    if r < 0 {
        return BTreeSet::new();
    }
    let n = conf.len as usize / std::mem::size_of::<IfReq>();
    reqs[..n]
        .iter()
        .map(|q| Ipv4Addr::from(u32::from_be(q.addr.sin_addr.s_addr)))
        .collect()
}

fn mounts(file: &PathBuf, wanted: &[String]) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| wanted.iter().any(|w| w == p))
        .map(str::to_string)
        .collect()
}

fn netns_inode(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{ns}"))
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// A process that will never run again: SIGKILL pending (stuck in I/O, dying) or a zombie.
fn dying(pid: &str) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    s.lines().any(|l| {
        (l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            && u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("0"), 16)
                .is_ok_and(|m| m & (1 << 8) != 0)
    }) || s
        .lines()
        .any(|l| l.starts_with("State:") && (l.contains("zombie") || l.contains("dead")))
}

/// How many processes of each watched service run on each node.
fn processes(watched: &[Watched], inodes: [u64; 2]) -> BTreeMap<String, [usize; 2]> {
    let mut out: BTreeMap<String, [usize; 2]> =
        watched.iter().map(|w| (w.name.clone(), [0, 0])).collect();
    let mut comm_of: BTreeMap<u32, (String, u32)> = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Ok(pid) = name.to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        comm_of.insert(pid, (comm, ppid));
    }
    for (&pid, (comm, ppid)) in &comm_of {
        for w in watched.iter().filter(|w| &w.comm == comm) {
            if w.top_only && comm_of.get(ppid).is_some_and(|(c, _)| c == comm) {
                continue;
            }
            if let Some(arg) = &w.arg {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if !String::from_utf8_lossy(&cmd).split('\0').any(|a| a == arg) {
                    continue;
                }
            }
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let Some(node) = inodes.iter().position(|i| ns == format!("net:[{i}]")) else {
                continue;
            };
            if dying(&pid.to_string()) {
                continue;
            }
            if let Some(c) = out.get_mut(&w.name) {
                c[node] += 1;
            }
        }
    }
    out
}

/// Things held by both nodes across three consecutive looks: one node's look before and
/// after the other's.
fn on_both<T: Ord + Clone>(
    before: &BTreeSet<T>,
    other: &BTreeSet<T>,
    after: &BTreeSet<T>,
) -> Vec<T> {
    before
        .iter()
        .filter(|x| other.contains(x) && after.contains(x))
        .cloned()
        .collect()
}

impl Checker {
    pub fn start(nodes: [NodeView; 2], watched: Vec<Watched>, history: History) -> Checker {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let socks = [socket_in(&nodes[0].netns), socket_in(&nodes[1].netns)];
        let inodes = [netns_inode(&nodes[0].netns), netns_inode(&nodes[1].netns)];
        let points: Vec<String> = watched.iter().filter_map(|w| w.mount.clone()).collect();
        let (s, sh) = (stop.clone(), shared.clone());
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(6 * 3600);
            // Looks alternate: alpha, beta, alpha, ...; `prev` are the last two.
            let mut looks: Vec<(usize, BTreeSet<Ipv4Addr>, BTreeSet<String>)> = Vec::new();
            let mut open: BTreeMap<String, f64> = BTreeMap::new();
            let mut last_recorded = Held::default();
            let mut turn = 0usize;
            let mut next = Instant::now();
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let mut held = sh.lock().unwrap().last.clone();
                for _ in 0..2 {
                    let n = turn % 2;
                    turn += 1;
                    let a = addresses(&socks[n]);
                    let m = mounts(&nodes[n].mountinfo, &points);
                    held.addrs[n] = a.clone();
                    held.mounts[n] = m.clone();
                    looks.push((n, a, m));
                    if looks.len() > 3 {
                        looks.remove(0);
                    }
                }
                held.procs = processes(&watched, inodes);
                let t = history.t();
                let mut now_bad: Vec<String> = Vec::new();
                if looks.len() == 3 {
                    let (x, y, z) = (&looks[0], &looks[1], &looks[2]);
                    for a in on_both(&x.1, &y.1, &z.1) {
                        if watched.iter().any(|w| w.addrs.contains(&a)) {
                            now_bad.push(format!("address {a} on both nodes"));
                        }
                    }
                    for m in on_both(&x.2, &y.2, &z.2) {
                        now_bad.push(format!("volume {m} mounted on both nodes"));
                    }
                }
                for (svc, c) in &held.procs {
                    if c[0] > 0 && c[1] > 0 {
                        now_bad.push(format!("service {svc}'s process runs on both nodes"));
                    }
                }
                let mut g = sh.lock().unwrap();
                for what in &now_bad {
                    if !open.contains_key(what) {
                        open.insert(what.clone(), t);
                        g.violations.push(Violation {
                            t,
                            what: what.clone(),
                        });
                        // Before the run proper, what the checker reports is the planted
                        // bug it must catch, not a violation.
                        let event = if g.counting {
                            "violation"
                        } else {
                            "planted-caught"
                        };
                        history.record(event, json!({ "what": what }));
                    }
                }
                open.retain(|w, _| now_bad.contains(w));
                g.samples += 1;
                if g.counting {
                    for w in &watched {
                        let once = runs_on(&held, w).is_some();
                        let e = g.availability.entry(w.name.clone()).or_default();
                        e.1 += 1;
                        if once {
                            e.0 += 1;
                        }
                    }
                }
                g.last = held.clone();
                drop(g);
                if held != last_recorded {
                    history.record(
                        "sample",
                        json!({
                            "alpha": {"addrs": held.addrs[0], "mounts": held.mounts[0]},
                            "beta": {"addrs": held.addrs[1], "mounts": held.mounts[1]},
                            "procs": held.procs,
                        }),
                    );
                    last_recorded = held;
                }
                // Every 20 ms from the last due time, not 20 ms after a slow look.
                pace(&mut next, Duration::from_millis(20));
            }
        });
        Checker {
            stop,
            shared,
            handle: Some(handle),
        }
    }

    pub fn held(&self) -> Held {
        self.shared.lock().unwrap().last.clone()
    }

    pub fn counting(&self, on: bool) {
        self.shared.lock().unwrap().counting = on;
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.shared.lock().unwrap().violations.clone()
    }

    pub fn add_violation(&self, history: &History, what: String) {
        history.record("violation", json!({ "what": what }));
        self.shared.lock().unwrap().violations.push(Violation {
            t: history.t(),
            what,
        });
    }

    pub fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The node (0 alpha, 1 beta) on which the service runs whole and only there: its process,
/// its addresses and its volume on that node, none of them on the other.
pub fn runs_on(held: &Held, w: &Watched) -> Option<usize> {
    let procs = held.procs.get(&w.name).copied().unwrap_or([0, 0]);
    (0..2).find(|&n| {
        let o = 1 - n;
        procs[n] > 0
            && procs[o] == 0
            && w.addrs
                .iter()
                .all(|a| held.addrs[n].contains(a) && !held.addrs[o].contains(a))
            && w.mount
                .as_ref()
                .is_none_or(|m| held.mounts[n].contains(m) && !held.mounts[o].contains(m))
    })
}
