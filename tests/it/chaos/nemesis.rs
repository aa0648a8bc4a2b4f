//! The nemesis: faults drawn from the seed, each with its start and end recorded. A round
//! draws one to three faults whose times overlap; every fault's end undoes it (a stopped
//! process continued, a crashed node revived, a cut link joined, a brought-out service
//! brought in again).

use super::history::{History, Rng};
use super::pair::{services, Door, Pair, NODES};
use crate::harness::Node;
use serde_json::json;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    Kill,
    Stop,
    Crash,
    LinkCut,
    LinkLoss,
    LinkDelay,
    PublicCut,
    NicDown,
    Partition,
    DataPath,
    DiskFreeze,
    Admin,
    Config,
    Quit,
}

pub const KINDS: [Kind; 14] = [
    Kind::Kill,
    Kind::Stop,
    Kind::Crash,
    Kind::LinkCut,
    Kind::LinkLoss,
    Kind::LinkDelay,
    Kind::PublicCut,
    Kind::NicDown,
    Kind::Partition,
    Kind::DataPath,
    Kind::DiskFreeze,
    Kind::Admin,
    Kind::Config,
    Kind::Quit,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Stop => "stop",
            Kind::Crash => "crash",
            Kind::LinkCut => "link-cut",
            Kind::LinkLoss => "link-loss",
            Kind::LinkDelay => "link-delay",
            Kind::PublicCut => "public-cut",
            Kind::NicDown => "nic-down",
            Kind::Partition => "partition",
            Kind::DataPath => "data-path",
            Kind::DiskFreeze => "disk-freeze",
            Kind::Admin => "admin",
            Kind::Config => "config",
            Kind::Quit => "quit",
        }
    }

    /// Whether it acts on one node's whole SureHA (two of these on one node do not overlap).
    fn whole_node(self) -> bool {
        matches!(self, Kind::Crash | Kind::Quit)
    }
}

/// A drawn fault: what, where, when in its round, for how long.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kind: Kind,
    pub node: usize,
    /// Kind-specific: the process role, the link, the command.
    pub what: String,
    pub offset: Duration,
    pub length: Duration,
    /// A number for the fault's own use (loss percent, delay ms, ...).
    pub n: u64,
}

/// What ending a fault must undo.
pub enum Undo {
    Nothing,
    Cont(u32),
    Revive(usize),
    Restart(usize),
    Net(Plan),
    DataKilled,
    DataStopped,
    LeaseStopped,
    Unlock(usize),
    BringIn(String),
}

pub struct Active {
    pub plan: Plan,
    pub target: String,
    pub undo: Undo,
    pub started: f64,
}

const ROLES: [&str; 7] = [
    "hamond",
    "hasvrd",
    "hahb-sock",
    "hahb-serial",
    "hahb-disk",
    "havip",
    "agent",
];

/// The node's SureHA processes with their role.
pub fn roles(node: &Node) -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    for pid in node.processes() {
        let cmd = Node::cmdline(pid);
        let first = cmd.split(' ').next().unwrap_or("");
        let base = first.rsplit('/').next().unwrap_or("");
        if let Some(r) = ROLES.iter().find(|r| **r == base) {
            out.push((*r, pid));
        } else if cmd.contains("/ha_ag_") || cmd.contains("/chaos-u.agent") {
            out.push(("agent", pid));
        }
    }
    out
}

fn secs(rng: &mut Rng, lo_ms: u64, hi_ms: u64) -> Duration {
    Duration::from_millis(rng.range(lo_ms, hi_ms))
}

/// Draws a round of `count` faults (each kind of `kinds`), their starts within a few
/// seconds of each other.
pub fn draw_round(rng: &mut Rng, count: usize, kinds: &[Kind]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::new();
    let mut tries = 0;
    while plans.len() < count && tries < 100 {
        tries += 1;
        let kind = *rng.pick(kinds);
        let node = rng.range(0, 1) as usize;
        // One whole-node fault per node, one fault per shared device, at a time.
        let clash = plans.iter().any(|p| {
            (kind.whole_node() && p.kind.whole_node() && p.node == node)
                || (kind == p.kind && matches!(kind, Kind::DataPath | Kind::DiskFreeze))
        });
        if clash {
            continue;
        }
        let offset = if plans.is_empty() {
            Duration::ZERO
        } else {
            secs(rng, 0, 4000)
        };
        let (what, length, n) = match kind {
            Kind::Kill => (rng.pick(&ROLES).to_string(), Duration::ZERO, 0),
            Kind::Stop => {
                let l = if rng.chance(10) {
                    secs(rng, 8000, 40000)
                } else {
                    secs(rng, 100, 8000)
                };
                (rng.pick(&ROLES).to_string(), l, 0)
            }
            Kind::Crash => (String::new(), secs(rng, 2000, 8000), 0),
            Kind::LinkCut => (
                rng.pick(&["priv", "relay", "serial", "all"]).to_string(),
                secs(rng, 1000, 12000),
                0,
            ),
            Kind::LinkLoss => ("priv".into(), secs(rng, 1000, 12000), rng.range(20, 80)),
            Kind::LinkDelay => (
                rng.pick(&["relay", "serial"]).to_string(),
                secs(rng, 1000, 12000),
                rng.range(20, 400),
            ),
            Kind::PublicCut | Kind::Partition => (String::new(), secs(rng, 1000, 12000), 0),
            Kind::NicDown => ("eth0".into(), secs(rng, 1000, 12000), 0),
            Kind::DataPath => (
                rng.pick(&["fail", "hang"]).to_string(),
                secs(rng, 2000, 12000),
                0,
            ),
            Kind::DiskFreeze => ("lease".into(), secs(rng, 1000, 12000), 0),
            Kind::Admin => {
                let cmd = *rng.pick(&["takeover", "failover", "bringout", "lock"]);
                let svc = rng.pick(&services()).clone();
                (format!("{cmd} {svc}"), secs(rng, 1000, 8000), 0)
            }
            Kind::Config => (
                rng.pick(&["create", "remove", "reload"]).to_string(),
                Duration::ZERO,
                0,
            ),
            Kind::Quit => (String::new(), secs(rng, 1000, 6000), 0),
        };
        plans.push(Plan {
            kind,
            node,
            what,
            offset,
            length,
            n,
        });
    }
    plans
}

/// An administrator's command, racing the faults: run in a thread, its result recorded.
fn admin_async(pair: &Pair, n: usize, args: Vec<String>, history: &History) {
    let door = Door::of(pair.node(n));
    let h = history.clone();
    std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = door.haadm(&a, 60);
        h.record(
            "admin",
            json!({"node": door.name, "command": args.join(" "), "exit": r.code, "stderr": r.stderr.trim()}),
        );
    });
}

pub struct Nemesis {
    pub rng: Rng,
    pub history: History,
    tmp_made: u32,
}

impl Nemesis {
    pub fn new(seed: u64, history: History) -> Nemesis {
        Nemesis {
            rng: Rng::new(seed),
            history,
            tmp_made: 0,
        }
    }

    pub fn start(&mut self, pair: &mut Pair, plan: Plan) -> Active {
        let n = plan.node;
        let node = NODES[n];
        let (target, undo) = match plan.kind {
            Kind::Kill | Kind::Stop => {
                let procs = roles(pair.node(n));
                let pick = procs
                    .iter()
                    .find(|(r, _)| *r == plan.what)
                    .or_else(|| procs.iter().find(|(r, _)| *r == "hasvrd"))
                    .copied();
                match pick {
                    None => (format!("{node}: no SureHA process"), Undo::Nothing),
                    Some((role, pid)) => {
                        let sig = if plan.kind == Kind::Kill {
                            libc::SIGKILL
                        } else {
                            libc::SIGSTOP
                        };
                        let _ = sureha::sys::kill(pid, sig);
                        let undo = if plan.kind == Kind::Stop {
                            Undo::Cont(pid)
                        } else {
                            Undo::Nothing
                        };
                        (format!("{node} {role} {pid}"), undo)
                    }
                }
            }
            Kind::Crash => {
                if pair.down[n] {
                    (format!("{node} (already down)"), Undo::Nothing)
                } else {
                    if n == 0 {
                        // A crashed server's I/O does not hang on: the stopped paths resume.
                        pair.c.rig.data_fuse.resume();
                        pair.c.rig.lease_fuse.resume();
                    }
                    pair.crash(n);
                    (node.to_string(), Undo::Revive(n))
                }
            }
            Kind::Quit => match pair.node(n).pid("hamond") {
                Some(pid) if !pair.down[n] => {
                    let _ = sureha::sys::kill(pid, libc::SIGQUIT);
                    (format!("{node} hamond {pid}"), Undo::Restart(n))
                }
                _ => (format!("{node} (not running)"), Undo::Nothing),
            },
            Kind::LinkCut
            | Kind::LinkLoss
            | Kind::LinkDelay
            | Kind::PublicCut
            | Kind::NicDown
            | Kind::Partition => {
                self.net(pair, &plan, true);
                let t = match plan.kind {
                    Kind::NicDown => format!("{node} eth0"),
                    Kind::LinkLoss => format!("priv {}%", plan.n),
                    Kind::LinkDelay if plan.what == "serial" => {
                        format!("serial {} ms", plan.n)
                    }
                    Kind::LinkDelay => format!(
                        "relay {} ms, {}% duplicated, {}% reordered",
                        plan.n,
                        plan.n % 30,
                        (plan.n / 7) % 30
                    ),
                    _ => plan.what.clone(),
                };
                (t, Undo::Net(plan.clone()))
            }
            Kind::DataPath => {
                if plan.what == "fail" {
                    pair.c.rig.data_fuse.kill();
                    ("alpha data path fails".into(), Undo::DataKilled)
                } else {
                    pair.c.rig.data_fuse.stop();
                    ("alpha data path hangs".into(), Undo::DataStopped)
                }
            }
            Kind::DiskFreeze => {
                pair.c.rig.lease_fuse.stop();
                ("alpha lease device".into(), Undo::LeaseStopped)
            }
            Kind::Admin => {
                let mut words = plan.what.split(' ');
                let cmd = words.next().unwrap_or("");
                let svc = words.next().unwrap_or("db").to_string();
                match cmd {
                    "lock" => {
                        admin_async(pair, n, vec!["lock".into()], &self.history);
                        (format!("{node} lock"), Undo::Unlock(n))
                    }
                    "bringout" => {
                        admin_async(
                            pair,
                            n,
                            vec!["service".into(), "bringout".into(), svc.clone()],
                            &self.history,
                        );
                        (format!("{node} bringout {svc}"), Undo::BringIn(svc))
                    }
                    _ => {
                        admin_async(
                            pair,
                            n,
                            vec!["service".into(), cmd.into(), svc.clone()],
                            &self.history,
                        );
                        (format!("{node} {cmd} {svc}"), Undo::Nothing)
                    }
                }
            }
            Kind::Config => {
                let args: Vec<String> = match plan.what.as_str() {
                    "create" => {
                        self.tmp_made += 1;
                        let name = format!("tmp{}", self.tmp_made);
                        vec![
                            "service".into(),
                            "create".into(),
                            name,
                            "active_server=alpha".into(),
                            "standby_server=beta".into(),
                            "start=svc.start".into(),
                            "stop=svc.stop".into(),
                        ]
                    }
                    "remove" if self.tmp_made > 0 => vec![
                        "service".into(),
                        "remove".into(),
                        format!("tmp{}", self.tmp_made),
                    ],
                    _ => vec!["reload".into()],
                };
                let t = format!("{node} {}", args.join(" "));
                admin_async(pair, n, args, &self.history);
                (t, Undo::Nothing)
            }
        };
        let started = self.history.t();
        self.history.record(
            "fault-start",
            json!({"kind": plan.kind.name(), "target": target, "length": plan.length.as_secs_f64()}),
        );
        Active {
            plan,
            target,
            undo,
            started,
        }
    }

    fn net(&self, pair: &mut Pair, plan: &Plan, on: bool) {
        let d: i64 = if on { 1 } else { -1 };
        let bump = |x: &mut u32| *x = (*x as i64 + d).max(0) as u32;
        match plan.kind {
            Kind::LinkCut => {
                let all = plan.what == "all";
                if all || plan.what == "priv" {
                    bump(&mut pair.net.priv_cut);
                }
                if all || plan.what == "serial" {
                    bump(&mut pair.net.serial_cut);
                }
                if all || plan.what == "relay" {
                    let mut m = pair.relay.mode.lock().unwrap();
                    m.cut = (m.cut as i64 + d).max(0) as u32;
                }
            }
            Kind::Partition => {
                bump(&mut pair.net.priv_cut);
                bump(&mut pair.net.serial_cut);
                bump(&mut pair.net.public_apart);
                let mut m = pair.relay.mode.lock().unwrap();
                m.cut = (m.cut as i64 + d).max(0) as u32;
            }
            Kind::LinkLoss => {
                if on {
                    pair.net.priv_loss.push(plan.n);
                } else if let Some(i) = pair.net.priv_loss.iter().position(|&p| p == plan.n) {
                    pair.net.priv_loss.remove(i);
                }
            }
            Kind::LinkDelay if plan.what == "serial" => {
                pair.serial.delay(if on { plan.n as u32 } else { 0 });
            }
            Kind::LinkDelay => {
                let mut m = pair.relay.mode.lock().unwrap();
                if on {
                    m.delay_ms = plan.n;
                    m.dup_pct = plan.n % 30;
                    m.reorder_pct = (plan.n / 7) % 30;
                } else {
                    m.delay_ms = 0;
                    m.dup_pct = 0;
                    m.reorder_pct = 0;
                }
            }
            Kind::PublicCut => bump(&mut pair.net.public_apart),
            Kind::NicDown => bump(&mut pair.net.cable_out[plan.node]),
            _ => {}
        }
        pair.apply_net();
    }

    pub fn end(&mut self, pair: &mut Pair, a: Active) {
        match a.undo {
            Undo::Nothing => {}
            Undo::Cont(pid) => {
                let _ = sureha::sys::kill(pid, libc::SIGCONT);
            }
            Undo::Revive(n) => pair.revive(n),
            Undo::Restart(n) => {
                if !pair.down[n] {
                    // QUIT: both daemons leave; wait (bounded) for them to be gone.
                    let node = pair.node(n);
                    for _ in 0..100 {
                        if node.pid("hasvrd").is_none_or(|p| !alive(p))
                            && node.pid("hamond").is_none_or(|p| !alive(p))
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    pair.start_node(n);
                }
            }
            Undo::Net(ref plan) => self.net(pair, plan, false),
            Undo::DataKilled => pair.c.rig.repair_data_a(),
            Undo::DataStopped => pair.c.rig.data_fuse.resume(),
            Undo::LeaseStopped => pair.c.rig.lease_fuse.resume(),
            Undo::Unlock(n) => admin_async(pair, n, vec!["unlock".into()], &self.history),
            Undo::BringIn(ref svc) => {
                let n = a.plan.node;
                admin_async(
                    pair,
                    n,
                    vec!["service".into(), "bringin".into(), svc.clone()],
                    &self.history,
                );
            }
        }
        self.history.record(
            "fault-end",
            json!({"kind": a.plan.kind.name(), "target": a.target}),
        );
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
    })
}
