//! Two engines on a simulated network with a virtual clock (test-only), in the manner of
//! FoundationDB's and TigerBeetle's simulators. Deterministic: a seed decides everything.
//!
//! The world: a private link and a public network, each direction of which can lose,
//! delay, duplicate, reorder or drop frames; steps (scripts, addresses, volumes) that take
//! time and sometimes fail; agents that report every 500 ms, or report errors when sick;
//! NICs that fail; nodes that crash and boot again with what their engine persisted; and an
//! administrator issuing commands at random times. Half the worlds also meet the faults
//! modelled later (`daemon`, `disks`): a hasvrd that freezes while its link processes repeat
//! its last beat (hamond replaces it, or fences for it), a QUIT and the adopting restart, a
//! service whose stop fails every time and whose volume stays busy (a fence), a volume
//! device whose reads fail or hang, and the configuration lock. Time jumps to the next thing
//! due.
//!
//! The invariants (`check`), after every step:
//! 1. a service never comes to run on both nodes while the private link works both ways
//!    (it may have started on both while they could not hear each other at all; then one
//!    must stop, and no third start may happen until it has);
//! 2. a node starts a service only when the other has it stopped, if they can hear each other;
//! 3. start steps run in the order volumes, addresses, script, agent; stop steps in reverse;
//! 4. after the faults end, every service in protection and able to run somewhere runs on
//!    exactly one node within `SETTLE` (detection 300 ms + boot grace + steps ≤ 1 s each);
//! 5. the services of a group never come to run on different nodes while the link works
//!    (as in 1, a split that arose while they could not hear each other may drain);
//! 6. state words are the eight of DESIGN §4 and agree with the phase; at rest the service
//!    runs on its primary when both nodes can run it; with switchback the primary changes
//!    only by an administrator's move;
//! 7. a volume is never mounted on both nodes, whatever is cut or frozen (`disks`);
//! 8. no pass leaves a wake-up asked for a time already past (the executor would spin);
//! 9. an agent that calls every 500 ms is never found silent (a hasvrd that froze and
//!    thawed must not blame its agents for its own stall);
//! 10. with a disk link (the tie-breaker), a service never comes to run on both nodes at all,
//!     whatever is cut: a node its peer hears by no path gives everything up first;
//! 11. a node that knows its peer left with QUIT (its services running on) starts one of them
//!     only if an administrator took it, or its group, over there;
//! 12. during a change of key (`haadm authkey rotate`), each node seals only with a key its
//!     peer takes (`keys`).

use super::{Engine, Input, NicState, Phase, Step};
use crate::clock::Millis;
use crate::config::{self, Config};
use crate::request::{ApiCall, Reply};
use std::collections::BTreeMap;

pub const ALPHA: usize = 0;
pub const BETA: usize = 1;
pub const NAMES: [&str; 2] = ["alpha", "beta"];
/// What a frozen hasvrd's pipes and FIFO hold at most, in inputs.
const BACKLOG: usize = 4096;

/// A small deterministic generator (xorshift64*).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability p (in thousandths).
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Sets `map[key]` without allocating a key that is already there; returns the old value.
fn set<V>(map: &mut BTreeMap<String, V>, key: &str, value: V) -> Option<V> {
    match map.get_mut(key) {
        Some(v) => Some(std::mem::replace(v, value)),
        None => map.insert(key.to_string(), value),
    }
}

/// What a node runs besides its engine.
#[derive(Default)]
struct Host {
    tasks: Vec<(Millis, u64, Result<(), String>)>,
    agents: BTreeMap<String, (u64, Millis)>,
    stopping: Vec<(Millis, String, u64)>,
    replies: Vec<(String, Reply)>,
    log: Vec<String>,
    /// Alerts told: `EVENT SERVICE: DESC`.
    alerts: Vec<String>,
    /// When it sent over the public network.
    public_sent: Vec<Millis>,
    steps: Vec<(String, Step)>,
    up: bool,
    /// hasvrd left with QUIT: the services it ran keep running, nobody watches them.
    quit: bool,
    /// hasvrd is frozen (since, until): what reaches it waits in `backlog`.
    hung: Option<(Millis, Millis)>,
    /// When its hasvrd last renewed the volume locks, and whether volumes may be mounted,
    /// as it last told hamond.
    renewed_told: Option<Millis>,
    holding_told: bool,
    backlog: Vec<Input>,
    /// What `etc/license` and `etc/lock` hold.
    admin_file: String,
}

/// One direction of a channel.
#[derive(Clone, Copy)]
pub struct Path {
    pub up: bool,
    pub loss: u64,
    pub dup: u64,
    pub delay_max: Millis,
}

impl Default for Path {
    fn default() -> Path {
        Path {
            up: true,
            loss: 0,
            dup: 0,
            delay_max: 1,
        }
    }
}

pub struct Sim {
    pub now: Millis,
    /// Each node's key files (`keys`), and how many keys were made.
    keys: [keys::KeyFilesOf; 2],
    keys_made: u64,
    pub engines: Vec<Engine>,
    hosts: Vec<Host>,
    /// Frames in flight: due time, receiver, link, sender's boot id and sequence (stamped
    /// when sent, as the executor seals them), payload.
    wire: Vec<(Millis, usize, String, u64, u64, Vec<u8>)>,
    seq: [u64; 2],
    /// When each engine last handled an input (a tick then is redundant: every input
    /// already runs the time-driven work).
    handled_at: [Millis; 2],
    /// Each engine's next wake-up, until it handles another input.
    wakeup: [Option<Option<Millis>>; 2],
    boot: [u64; 2],
    /// [private, public] × direction (0: alpha → beta, 1: beta → alpha).
    pub paths: [[Path; 2]; 2],
    /// Legacy switch for the hand-written tests: every private frame lost.
    pub cut: bool,
    pub latency: Millis,
    pub step_time: Millis,
    /// Randomised world (None for the hand-written tests).
    pub rng: Option<Rng>,
    /// Step failure chance, per mille.
    pub step_failures: u64,
    /// Services whose agent reports an error, per node.
    pub sick: Vec<(usize, String)>,
    /// Services that will not stop, per node (`set_stuck`).
    stuck: Vec<(usize, String)>,
    /// NICs that have failed, per node.
    pub nic_down: [bool; 2],
    /// The private link is a direct cable on its own NIC (priv0): a peer that loses power,
    /// or the cable pulled, takes its carrier.
    pub direct_cable: bool,
    pub cable_pulled: bool,
    pub text: String,
    pub trace: Vec<String>,
    /// Invariant bookkeeping.
    since_link_up: Option<Millis>,
    conflict: BTreeMap<String, bool>,
    phases: [BTreeMap<String, Phase>; 2],
    primaries: [BTreeMap<String, String>; 2],
    moved_by_admin: BTreeMap<String, bool>,
    /// Services an administrator took over on a node while its peer had left with QUIT
    /// (the service named and its group): only they may start there (invariant 11).
    released: std::collections::BTreeSet<(usize, String)>,
    /// Each node has seen its peer's QUIT (its peer status was Frozen) since it happened,
    /// with what it ran itself then (a copy both ran before is another invariant's affair).
    knew_quit: [Option<std::collections::BTreeSet<String>>; 2],
    last_kind: BTreeMap<(usize, String), (bool, i64)>,
    pub checks: u64,
    /// The shared disk, when the configuration has a disk link.
    pub disk: disks::DiskWorld,
    /// The private link's processes.
    relays: relay::Relays,
    /// Inputs produced while carrying out a pass's actions, handled after them.
    queued: std::collections::VecDeque<(usize, Input)>,
    feeding: bool,
    /// Each engine ran a pass since the state words were last checked.
    changed: [bool; 2],
    /// The world as the invariants last saw it: link both ways, stable, hosts up.
    checked_world: Option<(bool, bool, [bool; 2])>,
    /// `SIM_FRAMES` set: the trace shows every frame delivered.
    trace_frames: bool,
    /// `text` parsed, until it is written again: what a node boots with.
    config: Option<Config>,
}

pub fn config_text(extra: &str) -> String {
    format!("[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 100ms\nmaxmiss = 3\n{extra}")
}

pub fn service(name: &str, extra: &str) -> String {
    format!("\n[service {name}]\nactive_server = alpha\nstandby_server = beta\nstart = s.start\nstop = s.stop\nagent = s.agent\ncheck_interval = 1s\nstart_timeout = 10s\n{extra}")
}

fn nics(n: usize, ok: bool) -> Vec<NicState> {
    vec![NicState {
        name: "eth0".into(),
        ok,
        addrs: vec![std::net::Ipv4Addr::new(192, 0, 2, 1 + n as u8).into()],
    }]
}

impl Sim {
    pub fn new(text: &str) -> Sim {
        Sim::with_config(
            text,
            config::parse("sim", text).expect("valid configuration"),
        )
    }

    /// A world on `text`, already parsed into `cfg`.
    pub fn with_config(text: &str, cfg: Config) -> Sim {
        let engines: Vec<Engine> = NAMES
            .iter()
            .map(|n| Engine::new(n, cfg.clone(), text.to_string(), None, 0))
            .collect();
        let mut hosts: Vec<Host> = (0..2).map(|_| Host::default()).collect();
        for h in &mut hosts {
            h.up = true;
        }
        let mut engines = engines;
        for e in &mut engines {
            e.set_boot(1);
        }
        let mut s = Sim {
            now: 0,
            engines,
            hosts,
            wire: Vec::new(),
            seq: [0; 2],
            handled_at: [Millis::MAX; 2],
            wakeup: [None; 2],
            boot: [1, 1],
            paths: [[Path::default(); 2]; 2],
            cut: false,
            latency: 1,
            step_time: 5,
            rng: None,
            step_failures: 0,
            sick: Vec::new(),
            stuck: Vec::new(),
            nic_down: [false; 2],
            direct_cable: false,
            cable_pulled: false,
            text: text.to_string(),
            trace: Vec::new(),
            since_link_up: Some(0),
            conflict: BTreeMap::new(),
            phases: Default::default(),
            primaries: Default::default(),
            moved_by_admin: BTreeMap::new(),
            released: Default::default(),
            knew_quit: [None, None],
            keys: Default::default(),
            keys_made: 0,
            last_kind: BTreeMap::new(),
            checks: 0,
            disk: disks::DiskWorld::of(&cfg),
            relays: relay::Relays::default(),
            queued: std::collections::VecDeque::new(),
            feeding: false,
            changed: [true; 2],
            checked_world: None,
            trace_frames: std::env::var_os("SIM_FRAMES").is_some(),
            config: Some(cfg),
        };
        for n in 0..2 {
            s.feed(n, Input::Nics(nics(n, true)));
        }
        s
    }

    /// What node `n`'s executor reports of its NICs.
    pub(super) fn nic_report(&self, n: usize) -> Vec<NicState> {
        let mut report = nics(n, !self.nic_down[n]);
        if self.direct_cable {
            report.push(NicState {
                name: "priv0".into(),
                ok: !self.cable_pulled && self.hosts[1 - n].up,
                addrs: vec![std::net::Ipv4Addr::new(10, 0, 0, 1 + n as u8).into()],
            });
        }
        report
    }

    /// The direct cable's carrier changed for node `n` (when it is up to see it).
    fn carrier_changed(&mut self, n: usize) {
        if self.direct_cable && self.hosts[n].up {
            let report = self.nic_report(n);
            self.feed(n, Input::Nics(report));
        }
    }

    /// The private cable pulled out (both ways silent, both carriers gone) or put back.
    pub fn pull_cable(&mut self, pulled: bool) {
        self.cable_pulled = pulled;
        if pulled {
            // What was on the wire is lost with it.
            let cable: Vec<String> = self.engines[0]
                .config()
                .links
                .iter()
                .filter(|l| l.type_name() == "socket")
                .map(|l| l.name.clone())
                .collect();
            self.wire.retain(|w| !cable.contains(&w.2));
        }
        self.paths[0] = [Path {
            up: !pulled,
            ..Path::default()
        }; 2];
        self.trace.push(format!(
            "{} private cable {}",
            self.now,
            if pulled { "PULLED" } else { "back" }
        ));
        for n in 0..2 {
            self.carrier_changed(n);
        }
    }

    /// Hands an input to one engine now, as its executor would.
    pub fn input(&mut self, n: usize, input: Input) {
        self.feed(n, input);
    }

    /// Hands an input to engine `n`. An input that an action produces (a task done at
    /// once, an agent spawned, the configuration written) waits until every action of the
    /// pass that produced it has been carried out, as the executor queues it: handled
    /// within, it would let that pass's later actions (its beat) overtake the newer ones.
    fn feed(&mut self, n: usize, input: Input) {
        if self.feeding {
            self.queued.push_back((n, input));
            return;
        }
        self.feeding = true;
        self.feed_now(n, input);
        while let Some((m, next)) = self.queued.pop_front() {
            self.feed_now(m, next);
        }
        self.feeding = false;
    }

    fn feed_now(&mut self, n: usize, input: Input) {
        let h = &mut self.hosts[n];
        if !h.up || h.quit {
            return;
        }
        if h.hung.is_some() {
            // Pipes and the FIFO hold what comes until hasvrd reads again.
            if !matches!(input, Input::Tick) && h.backlog.len() < BACKLOG {
                h.backlog.push(input);
            }
            return;
        }
        self.handled_at[n] = self.now;
        // As the executor reads the heard page before each pass.
        if let Some(t) = self.relays.inbound[n].heard {
            self.engines[n].heard(relay::LAN, t);
        }
        self.note_admin_move(n, &input);
        let passes = self.engines[n].passes;
        let acts = self.engines[n].handle(self.now, input);
        if self.engines[n].passes != passes {
            // A wake-up asked for a time already past would spin the executor's loop.
            let (wakeup, overdue) = &self.engines[n].after_pass;
            self.wakeup[n] = Some(*wakeup);
            if !overdue.is_empty() {
                self.fail(format!(
                    "invariant 8: {} asks to be woken for {} at a time already past",
                    NAMES[n],
                    overdue.join(", ")
                ));
            }
            self.changed[n] = true;
        }
        let boot = self.boot[n];
        for a in acts {
            // A fence takes the node down at once: the rest of the pass never happens.
            if !self.hosts[n].up || self.boot[n] != boot {
                break;
            }
            self.act(n, a);
        }
    }

    fn send(&mut self, from: usize, channel: usize, payload: Vec<u8>) {
        self.seq[from] += crate::frame::SEQ_STRIDE;
        let seq = self.seq[from];
        if channel == 1 {
            self.relays.public[from] += 1;
        }
        self.send_seq(from, channel, seq, payload);
    }

    fn send_seq(&mut self, from: usize, channel: usize, seq: u64, payload: Vec<u8>) {
        let path = self.paths[channel][from];
        if self.trace_frames {
            self.trace.push(format!(
                "{} {} -> ch{channel} {}/{seq} len {} up {}",
                self.now,
                NAMES[from],
                self.boot[from],
                payload.len(),
                path.up && !(channel == 0 && self.cut)
            ));
        }
        if !path.up || (channel == 0 && self.cut) {
            return;
        }
        let link = if channel == 0 { "lan" } else { "public" };
        let copies = match &mut self.rng {
            Some(r) => {
                if r.chance(path.loss) {
                    0
                } else if r.chance(path.dup) {
                    2
                } else {
                    1
                }
            }
            None => 1,
        };
        for _ in 0..copies {
            let delay = match &mut self.rng {
                Some(r) => 1 + r.below(path.delay_max),
                None => self.latency,
            };
            self.wire.push((
                self.now + delay,
                1 - from,
                link.into(),
                self.boot[from],
                seq,
                payload.clone(),
            ));
        }
    }

    /// The next moment anything is due.
    fn next_due(&self) -> Millis {
        let mut t = Millis::MAX;
        for w in &self.wire {
            t = t.min(w.0);
        }
        for d in [self.disk_due(), self.thaw_at(), self.data_reports_at()]
            .into_iter()
            .flatten()
        {
            t = t.min(d);
        }
        if let Some(d) = self.relays_due() {
            t = t.min(d);
        }
        for (n, h) in self.hosts.iter().enumerate() {
            if !h.up {
                continue;
            }
            for x in &h.tasks {
                t = t.min(x.0);
            }
            for x in &h.stopping {
                t = t.min(x.0);
            }
            for (_, started) in h.agents.values() {
                t = t.min(started + ((self.now.saturating_sub(*started)) / 500 + 1) * 500);
            }
            if !self.daemon_running(n) {
                continue;
            }
            if let Some(w) = self.wakeup[n].unwrap_or_else(|| self.engines[n].next_wakeup()) {
                t = t.min(w);
            }
        }
        t.max(self.now + 1)
    }

    /// Runs the world for `ms` milliseconds of virtual time.
    // `n` indexes hosts, engines and names together, and `feed` needs `&mut self`.
    #[allow(clippy::needless_range_loop)]
    pub fn run(&mut self, ms: Millis) {
        let end = self.now + ms;
        while self.now < end {
            self.now = self.next_due().min(end);
            let now = self.now;
            let due: Vec<_> = self.wire.extract_if(.., |w| w.0 <= now).collect();
            for (_, to, link, boot, seq, payload) in due {
                let passed = if link == relay::LAN {
                    self.link_passes(to, boot, seq, payload)
                } else {
                    Some(payload)
                };
                let passes = passed.is_some();
                let payload = passed.unwrap_or_default();
                if self.trace_frames {
                    let what = match crate::frame::Message::decode(&payload) {
                        Ok(crate::frame::Message::Beat(b)) => format!(
                            "beat gen {} digest {:x} hears {}",
                            b.generation, b.digest, b.hears_you
                        ),
                        Ok(crate::frame::Message::Config { generation, .. }) => {
                            format!("config gen {generation}")
                        }
                        Ok(_) => "other".into(),
                        Err(_) => "bad".into(),
                    };
                    self.trace.push(format!(
                        "{now} {} <- {link} {boot}/{seq} {what}{}",
                        NAMES[to],
                        if passes { "" } else { " (dropped by link)" }
                    ));
                }
                if !passes {
                    continue;
                }
                self.feed(
                    to,
                    Input::Frame {
                        link,
                        boot,
                        seq,
                        payload,
                    },
                );
            }
            self.run_relays();
            self.thaw_due();
            self.data_reports_due();
            for n in 0..2 {
                let done: Vec<_> = self.hosts[n]
                    .tasks
                    .iter()
                    .filter(|t| t.0 <= now)
                    .cloned()
                    .collect();
                self.hosts[n].tasks.retain(|t| t.0 > now);
                for (_, task, result) in done {
                    if let Some(svc) = self.disk.umounts.remove(&(n, task)) {
                        self.disk_unmounted(n, &svc);
                    }
                    self.feed(n, Input::TaskDone { task, result });
                }
                let exits: Vec<_> = self.hosts[n]
                    .stopping
                    .iter()
                    .filter(|t| t.0 <= now)
                    .cloned()
                    .collect();
                self.hosts[n].stopping.retain(|t| t.0 > now);
                for (_, service, agent) in exits {
                    self.feed(
                        n,
                        Input::AgentExited {
                            service,
                            agent,
                            how: "TERM".into(),
                        },
                    );
                }
                let agents: Vec<_> = self.hosts[n]
                    .agents
                    .iter()
                    .filter(|(_, (_, t))| now > *t && (now - t).is_multiple_of(500))
                    .map(|(s, _)| s.clone())
                    .collect();
                for s in agents {
                    // The agents' own calls, from their process group (only apierr traced).
                    let sick = self.sick.contains(&(n, s.clone()));
                    if sick {
                        self.trace
                            .push(format!("{now} {} admin apierr {s}", NAMES[n]));
                    }
                    let caller = self.engines[n].agent_pid(&s);
                    let call = if sick { ApiCall::Err } else { ApiCall::Ok };
                    self.feed(
                        n,
                        Input::Command {
                            cmd: crate::request::Command::Api(call, s),
                            reply: None,
                            caller,
                        },
                    );
                }
                // Time passes for the engine as the executor lets it: a tick at the end of
                // each turn of its loop, when something is due or something was read.
                let wakeup = self.wakeup[n].unwrap_or_else(|| self.engines[n].next_wakeup());
                self.wakeup[n] = Some(wakeup);
                let due = wakeup.is_some_and(|w| w <= now) || self.handled_at[n] == now;
                if due && self.daemon_running(n) {
                    self.feed(n, Input::Tick);
                }
            }
            self.settle_mounts();
            self.check();
            self.check_disks();
        }
    }

    /// A takeover or failover the engine is about to take (not refused by the lock as it
    /// stands when read: a frozen hasvrd may read an unlock queued before it).
    fn note_admin_move(&mut self, n: usize, input: &Input) {
        use crate::request::{Command, Operation};
        let Input::Command {
            cmd: cmd @ Command::Operate(Operation::FailOver | Operation::TakeOver, name),
            ..
        } = input
        else {
            return;
        };
        if self.engines[n].admin.locked_against(cmd).is_none() {
            for g in self.engines[n].group_of(name).iter() {
                self.moved_by_admin.insert(g.clone(), true);
            }
        }
    }
}

mod act;
mod daemon;
mod disks;
mod invariants;
mod keys;
mod operator;
mod random;
mod relay;
pub use random::{random_run, CHAOS};

#[cfg(test)]
mod seeds;
