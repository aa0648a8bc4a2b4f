//! Two engines on a simulated network with a virtual clock (test-only), in the manner of
//! FoundationDB's and TigerBeetle's simulators. Deterministic: a seed decides everything.
//!
//! The world: a private link and a public network, each direction of which can lose,
//! delay, duplicate, reorder or drop frames; steps (scripts, addresses, volumes) that take
//! time and sometimes fail; agents that report every 500 ms, or report errors when sick;
//! NICs that fail; nodes that crash and boot again with what their engine persisted; and an
//! administrator issuing commands at random times. Time jumps to the next thing due.
//!
//! The invariants (`check`), after every step:
//! 1. a service never comes to run on both nodes while the private link works both ways
//!    (it may have started on both while they could not hear each other at all; then one
//!    must stop, and no third start may happen until it has);
//! 2. a node starts a service only when the other has it stopped, if they can hear each other;
//! 3. start steps run in the order volumes, addresses, script, agent; stop steps in reverse;
//! 4. after the faults end, every service in protection and able to run somewhere runs on
//!    exactly one node within `SETTLE` (detection 300 ms + boot grace + steps ≤ 1 s each);
//! 5. the services of a group never run on different nodes while the link works;
//! 6. state words are the eight of DESIGN §4 and agree with the phase; at rest the service
//!    runs on its primary when both nodes can run it; with switchback the primary changes
//!    only by an administrator's move.

use super::{Action, Engine, Input, NicState, Phase, Step};
use crate::clock::Millis;
use crate::config;
use crate::request::{parse_command, ApiCall, Reply};
use std::collections::BTreeMap;

pub const ALPHA: usize = 0;
pub const BETA: usize = 1;
pub const NAMES: [&str; 2] = ["alpha", "beta"];

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
    steps: Vec<(String, Step)>,
    up: bool,
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
    /// NICs that have failed, per node.
    pub nic_down: [bool; 2],
    pub text: String,
    pub trace: Vec<String>,
    /// Invariant bookkeeping.
    since_link_up: Option<Millis>,
    conflict: BTreeMap<String, bool>,
    phases: [BTreeMap<String, Phase>; 2],
    primaries: [BTreeMap<String, String>; 2],
    moved_by_admin: BTreeMap<String, bool>,
    last_kind: BTreeMap<(usize, String), (bool, i64)>,
    pub checks: u64,
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
        addrs: vec![std::net::Ipv4Addr::new(192, 0, 2, 1 + n as u8)],
    }]
}

impl Sim {
    pub fn new(text: &str) -> Sim {
        let cfg = config::parse("sim", text).expect("valid configuration");
        let engines = NAMES
            .iter()
            .map(|n| Engine::new(n, cfg.clone(), text.to_string(), None, 0))
            .collect();
        let mut hosts: Vec<Host> = (0..2).map(|_| Host::default()).collect();
        for h in &mut hosts {
            h.up = true;
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
            nic_down: [false; 2],
            text: text.to_string(),
            trace: Vec::new(),
            since_link_up: Some(0),
            conflict: BTreeMap::new(),
            phases: Default::default(),
            primaries: Default::default(),
            moved_by_admin: BTreeMap::new(),
            last_kind: BTreeMap::new(),
            checks: 0,
        };
        for n in 0..2 {
            s.feed(n, Input::Nics(nics(n, true)));
        }
        s
    }

    fn feed(&mut self, n: usize, input: Input) {
        if !self.hosts[n].up {
            return;
        }
        self.handled_at[n] = self.now;
        self.wakeup[n] = None;
        let acts = self.engines[n].handle(self.now, input);
        for a in acts {
            self.act(n, a);
        }
    }

    fn send(&mut self, from: usize, channel: usize, payload: Vec<u8>) {
        self.seq[from] += 1;
        let seq = self.seq[from];
        let path = self.paths[channel][from];
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

    fn act(&mut self, n: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Run {
                task,
                service,
                step,
                ..
            } => {
                self.order_check(n, &service, step);
                self.hosts[n].steps.push((service.clone(), step));
                self.trace
                    .push(format!("{now} {} {service} {step:?}", NAMES[n]));
                let (time, result) = match &mut self.rng {
                    Some(r) => {
                        let t = if r.chance(100) {
                            200 + r.below(800)
                        } else {
                            1 + r.below(50)
                        };
                        let fail = r.chance(self.step_failures);
                        (
                            t,
                            if fail {
                                Err("exit status 1".to_string())
                            } else {
                                Ok(())
                            },
                        )
                    }
                    None => (self.step_time, Ok(())),
                };
                self.hosts[n].tasks.push((now + time, task, result));
            }
            Action::StartAgent { service, agent } => {
                self.order_check(n, &service, Step::StartAgent);
                self.hosts[n]
                    .steps
                    .push((service.clone(), Step::StartAgent));
                self.hosts[n].agents.insert(service.clone(), (agent, now));
                self.feed(
                    n,
                    Input::AgentSpawned {
                        service,
                        agent,
                        pid: 1000 + agent as u32,
                        token: 1,
                    },
                );
            }
            Action::StopAgent { service, agent } => {
                self.order_check(n, &service, Step::StopAgent);
                self.hosts[n].steps.push((service.clone(), Step::StopAgent));
                self.hosts[n].agents.remove(&service);
                self.hosts[n].stopping.push((now + 1, service, agent));
            }
            Action::Reply { to, reply, .. } => self.hosts[n].replies.push((to, reply)),
            Action::Log { text, .. } => {
                self.trace.push(format!("{now} {} log {text}", NAMES[n]));
                self.hosts[n].log.push(text);
            }
            // What the engine sends must fit a frame: the executor could not seal it.
            Action::Send { payload, .. } | Action::SendPublic { payload, .. }
                if payload.len() > crate::frame::MAX_PAYLOAD =>
            {
                self.fail(format!(
                    "a message of {} bytes does not fit a frame",
                    payload.len()
                ))
            }
            Action::Send { payload, .. } => self.send(n, 0, payload),
            Action::SendPublic { payload, .. } => self.send(n, 1, payload),
            Action::WriteConfig { text, .. } => {
                self.text = text;
                self.feed(n, Input::ConfigWritten(Ok(())));
            }
            Action::ReadConfig => {
                let text = self.text.clone();
                let r = config::parse("sim", &text)
                    .map(|c| (c, text))
                    .map_err(|d| d.to_string());
                self.feed(n, Input::Reload(r));
            }
            Action::Exit => {
                // `haadm stop`: the node's daemons are gone (the engine's saved state stays).
                self.trace.push(format!("{now} {} EXIT", NAMES[n]));
                self.hosts[n].up = false;
                self.wire.retain(|w| w.1 != n);
            }
            _ => {}
        }
    }

    /// The next moment anything is due.
    fn next_due(&self) -> Millis {
        let mut t = Millis::MAX;
        for w in &self.wire {
            t = t.min(w.0);
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
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
                .into_iter()
                .partition(|w| w.0 <= now);
            self.wire = later;
            for (_, to, link, boot, seq, payload) in due {
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
            for n in 0..2 {
                let done: Vec<_> = self.hosts[n]
                    .tasks
                    .iter()
                    .filter(|t| t.0 <= now)
                    .cloned()
                    .collect();
                self.hosts[n].tasks.retain(|t| t.0 > now);
                for (_, task, result) in done {
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
                // Time passes for the engine as the executor lets it: a tick when something
                // is due and nothing else was handled at this instant.
                let wakeup = self.wakeup[n].unwrap_or_else(|| self.engines[n].next_wakeup());
                self.wakeup[n] = Some(wakeup);
                let due = wakeup.is_some_and(|w| w <= now);
                if due && self.handled_at[n] != now {
                    self.feed(n, Input::Tick);
                }
            }
            self.check();
        }
    }

    pub fn command(&mut self, n: usize, words: &str, reply: Option<&str>) {
        let w: Vec<String> = words.split(' ').map(str::to_string).collect();
        let cmd = parse_command(&w).expect("a valid command");
        if words.contains("failover") || words.contains("takeover") {
            for g in self.engines[n]
                .group_of(w.last().map_or("", String::as_str))
                .iter()
            {
                self.moved_by_admin.insert(g.clone(), true);
            }
        }
        self.trace
            .push(format!("{} {} admin {words}", self.now, NAMES[n]));
        // The simulated agents call from their own process group, as real ones do.
        let caller = match &cmd {
            crate::request::Command::Api(_, svc) => self.engines[n].agent_pid(svc),
            _ => None,
        };
        self.feed(
            n,
            Input::Command {
                cmd,
                reply: reply.map(str::to_string),
                caller,
            },
        );
    }

    /// The reply to `to` on node `n`, if it came.
    pub fn reply(&self, n: usize, to: &str) -> Option<Reply> {
        self.hosts[n]
            .replies
            .iter()
            .find(|(t, _)| t == to)
            .map(|(_, r)| r.clone())
    }

    pub fn word(&self, n: usize, svc: &str) -> &'static str {
        self.engines[n].state_word(svc)
    }

    pub fn running_on(&self, svc: &str) -> Vec<&'static str> {
        (0..2)
            .filter(|&n| self.hosts[n].up && self.engines[n].phase_of(svc) != Phase::Stopped)
            .map(|n| NAMES[n])
            .collect()
    }

    pub fn log(&self, n: usize) -> &[String] {
        &self.hosts[n].log
    }

    pub fn steps(&self, n: usize) -> &[(String, Step)] {
        &self.hosts[n].steps
    }

    pub fn is_up(&self, n: usize) -> bool {
        self.hosts[n].up
    }

    /// Kills node `n` at once: its engine and everything it ran are gone.
    pub fn crash(&mut self, n: usize) {
        self.trace.push(format!("{} {} CRASH", self.now, NAMES[n]));
        self.hosts[n] = Host::default();
        self.wire.retain(|w| w.1 != n);
        self.last_kind.retain(|(m, _), _| *m != n);
    }

    /// Boots node `n` again with its saved state (after a reboot: nothing runs).
    pub fn boot(&mut self, n: usize) {
        self.trace.push(format!("{} {} BOOT", self.now, NAMES[n]));
        let cfg = config::parse("sim", &self.text).expect("valid configuration");
        let saved = crate::state::parse(
            &crate::state::file_text("b", &self.engines[n].persisted().to_text()),
            "other-boot",
        )
        .ok();
        self.engines[n] = Engine::new(NAMES[n], cfg, self.text.clone(), saved, self.now);
        self.wakeup[n] = None;
        self.hosts[n] = Host {
            up: true,
            ..Host::default()
        };
        self.boot[n] += 1;
        self.seq[n] = 0;
        let ok = !self.nic_down[n];
        self.feed(n, Input::Nics(nics(n, ok)));
    }

    pub fn set_nic(&mut self, n: usize, ok: bool) {
        self.nic_down[n] = !ok;
        self.trace.push(format!(
            "{} {} NIC {}",
            self.now,
            NAMES[n],
            if ok { "up" } else { "down" }
        ));
        self.feed(n, Input::Nics(nics(n, ok)));
    }

    /// The nodes are in contact: the private link delivers every frame both ways, and each
    /// engine sees the other up. (A lossy link may lose three beats in a row and look dead:
    /// that, like a cut, opens a window in which both may start a service.)
    fn link_both_ways(&self) -> bool {
        let reliable = |p: &Path| p.up && p.loss == 0;
        !self.cut
            && reliable(&self.paths[0][0])
            && reliable(&self.paths[0][1])
            && self.hosts[0].up
            && self.hosts[1].up
            && self
                .engines
                .iter()
                .all(|e| e.peer_status() == super::PeerStatus::Up)
    }

    fn fail(&self, what: String) -> ! {
        let tail: Vec<&String> = self
            .trace
            .iter()
            .rev()
            .filter(|l| !l.contains(" apiok "))
            .take(
                std::env::var("SIM_TRACE")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60),
            )
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().map(String::as_str).collect();
        let dumps: Vec<String> = self.engines.iter().flat_map(|e| e.dump()).collect();
        panic!(
            "t={}: {what}\n--- last events ---\n{}\n--- engines ---\n{}",
            self.now,
            tail.join("\n"),
            dumps.join("\n")
        );
    }

    /// Invariant 3, as each step begins: within one run of start steps (or of stop steps)
    /// the steps come in the canonical order.
    fn order_check(&mut self, n: usize, svc: &str, step: Step) {
        let (start, rank): (bool, i64) = match step {
            Step::Mount(i) => (true, i as i64),
            Step::AddIps => (true, 1000),
            Step::StartScript => (true, 1001),
            Step::StartAgent => (true, 1002),
            Step::StopAgent => (false, 0),
            Step::StopScript => (false, 1),
            Step::DelIps => (false, 2),
            Step::Umount(i) => (false, 1000 - i as i64),
        };
        let key = (n, svc.to_string());
        if let Some(&(was_start, was_rank)) = self.last_kind.get(&key) {
            if was_start == start && rank <= was_rank {
                self.fail(format!("invariant 3: {} ran {step:?} of service {svc} after a later step of the same plan", NAMES[n]));
            }
        }
        // A start script runs only with the service's addresses up.
        if step == Step::StartScript {
            let cfg = self.engines[n].config().service(svc).cloned();
            let plan_added = self.hosts[n]
                .steps
                .iter()
                .rev()
                .take_while(|(s, st)| {
                    s != svc
                        || !matches!(
                            st,
                            Step::StopAgent | Step::StopScript | Step::DelIps | Step::Umount(_)
                        )
                })
                .any(|(s, st)| s == svc && *st == Step::AddIps);
            if cfg.is_some_and(|c| !c.active_ip.is_empty()) && !plan_added {
                self.fail(format!(
                    "invariant 3: {} ran the start script of {svc} before adding its addresses",
                    NAMES[n]
                ));
            }
        }
        self.last_kind.insert(key, (start, rank));
    }

    /// Invariants 1, 2, 5 and 6, after every step.
    // `n` names a node: it indexes hosts, engines and names, and `1 - n` is its peer.
    #[allow(clippy::needless_range_loop)]
    fn check(&mut self) {
        self.checks += 1;
        let now = self.now;
        if self.link_both_ways() {
            self.since_link_up.get_or_insert(now);
        } else {
            self.since_link_up = None;
        }
        let stable = self
            .since_link_up
            .is_some_and(|t| now.saturating_sub(t) >= 300);
        // Checked at every step: no allocation for what did not change.
        let config = self.engines[0].shared_config();
        let both_ways = self.link_both_ways();
        for s in config.services.iter().map(|c| &c.name) {
            let s = s.as_str();
            let on = (0..2)
                .filter(|&n| self.hosts[n].up && self.engines[n].phase_of(s) != Phase::Stopped)
                .count();
            // Both may have started while deaf to each other; that conflict is allowed to
            // drain (one stops), never to arise while they hear each other.
            if !both_ways {
                set(&mut self.conflict, s, true);
            } else if on < 2 {
                set(&mut self.conflict, s, false);
            }
            let conflict = self.conflict.get(s).copied().unwrap_or(false);
            if on == 2 && !conflict {
                self.fail(format!(
                    "invariant 1: service {s} runs on both nodes while they hear each other"
                ));
            }
            for n in 0..2 {
                if !self.hosts[n].up {
                    self.phases[n].remove(s);
                    continue;
                }
                let p = self.engines[n].phase_of(s);
                let was = set(&mut self.phases[n], s, p);
                let other = 1 - n;
                if p == Phase::Starting
                    && was == Some(Phase::Stopped)
                    && stable
                    && self.hosts[other].up
                    && self.engines[other].phase_of(s) != Phase::Stopped
                    && !conflict
                {
                    self.fail(format!(
                        "invariant 2: {} starts {s} while {} has it {:?}",
                        NAMES[n],
                        NAMES[other],
                        self.engines[other].phase_of(s)
                    ));
                }
                if self.engines[n].config().service(s).is_none() {
                    // Not yet (or no longer) in this node's configuration: the sync is on its way.
                    continue;
                }
                let w = self.engines[n].state_word(s);
                let ok = match p {
                    Phase::Stopped => {
                        ["STANDBY", "OUTACT", "OUTSTB", "ERRORACT", "ERRORSTB"].contains(&w)
                    }
                    _ => ["ACTIVE", "ACTIVESTB", "ACTIVEACT"].contains(&w),
                };
                if !ok {
                    self.fail(format!(
                        "invariant 6: {} shows {w} for {s} in phase {p:?}",
                        NAMES[n]
                    ));
                }
            }
            // Switchback: the primary changes only by an administrator's move.
            let sb = config.service(s).is_some_and(|c| c.switchback);
            for n in 0..2 {
                if !self.hosts[n].up {
                    continue;
                }
                let prim = self.engines[n].primary_ref(s);
                let old = self.primaries[n].get(s);
                if old.is_some_and(|o| o == prim) {
                    continue;
                }
                if let Some(old) = old {
                    if sb && !self.moved_by_admin.get(s).copied().unwrap_or(false) {
                        self.fail(format!("invariant 6: with switchback, the primary of {s} changed from {old} to {prim} without an administrator's move"));
                    }
                }
                let prim = prim.to_string();
                self.primaries[n].insert(s.to_string(), prim);
            }
        }
        if stable {
            let groups: BTreeMap<String, Vec<String>> = self.engines[0]
                .config()
                .services
                .iter()
                .filter_map(|s| s.groupid.clone().map(|g| (g, s.name.clone())))
                .fold(BTreeMap::new(), |mut m, (g, n)| {
                    m.entry(g).or_default().push(n);
                    m
                });
            for (g, members) in groups {
                let mut nodes: Vec<&str> =
                    members.iter().flat_map(|m| self.running_on(m)).collect();
                nodes.sort();
                nodes.dedup();
                if nodes.len() > 1
                    && !members
                        .iter()
                        .any(|m| self.conflict.get(m).copied().unwrap_or(false))
                {
                    self.fail(format!("invariant 5: group {g} runs on both nodes"));
                }
            }
        }
    }

    /// Invariant 4 and the rest of 6, once the world has been quiet for `SETTLE`.
    pub fn check_at_rest(&self) {
        for c in &self.engines[0].config().services {
            let s = &c.name;
            let protected = (0..2)
                .filter(|&n| self.hosts[n].up)
                .any(|n| self.engines[n].protected(s));
            let able: Vec<usize> = (0..2)
                .filter(|&n| {
                    self.hosts[n].up
                        && !self.engines[n]
                            .group_of(s)
                            .iter()
                            .any(|g| self.engines[n].in_error(g))
                })
                .collect();
            let on = self.running_on(s);
            if protected && !able.is_empty() && on.len() != 1 {
                self.fail(format!("invariant 4: service {s} is in protection and can run on {:?}, but runs on {on:?} after the faults ended", able.iter().map(|&n| NAMES[n]).collect::<Vec<_>>()));
            }
            if !protected && !on.is_empty() {
                self.fail(format!(
                    "invariant 4: service {s} is out of protection but runs on {on:?}"
                ));
            }
            if able.len() == 2 && on.len() == 1 {
                let runner = on[0];
                let primary = self.engines[0].primary_of(s);
                if runner != primary {
                    self.fail(format!(
                        "invariant 6: at rest {s} runs on {runner}, not on its primary {primary}"
                    ));
                }
            }
        }
    }
}

/// How long the world needs, once quiet, to settle: a boot's grace (2 s), detection
/// (1.5 s), and a restart's and a move's steps (each at most 1 s here).
pub const SETTLE: Millis = 12_000;

/// One randomised run: faults and commands for `chaos` ms, then everything healed.
pub fn random_run(seed: u64, chaos: Millis) -> Sim {
    let mut r = Rng::new(seed);
    let mut text = String::new();
    let n_services = 1 + r.below(3);
    let group_switchback = r.chance(500);
    for i in 0..n_services {
        let mut extra = format!("restart_times = {}\n", r.below(3));
        let grouped = i > 0 && r.chance(400);
        if grouped {
            extra.push_str("groupid = g\n");
            if group_switchback {
                extra.push_str("switchback = yes\n");
            }
        } else if r.chance(500) {
            extra.push_str("switchback = yes\n");
        }
        if r.chance(400) {
            extra.push_str(&format!(
                "active_ip = 192.0.2.{}\nactive_nic = eth0\nstandby_nic = eth0\n",
                100 + i
            ));
        }
        if r.chance(300) {
            extra.push_str(&format!("volume = /dev/a{i} /dev/b{i} /srv/{i}\n"));
        }
        let s = service(&format!("s{i}"), &extra);
        text.push_str(&s.replace(
            "active_server = alpha\nstandby_server = beta",
            if !grouped && r.chance(300) {
                "active_server = beta\nstandby_server = alpha"
            } else {
                "active_server = alpha\nstandby_server = beta"
            },
        ));
    }
    // A group shares its servers and its switchback setting (as the configuration demands).
    // Heartbeats of 500 ms (down after 1.5 s): faults are timed against that window.
    let text = config_text(&text).replace("interval = 100ms", "interval = 500ms");
    let cfg = match config::parse("sim", &text) {
        Ok(_) => text,
        Err(_) => config_text(&service("s0", "")),
    };
    let mut s = Sim::new(&cfg);
    s.step_failures = r.below(40);
    s.trace
        .push(format!("seed {seed}: {}", cfg.replace('\n', " | ")));
    s.rng = Some(Rng::new(seed ^ 0xdead_beef));
    let names: Vec<String> = s.engines[0]
        .config()
        .services
        .iter()
        .map(|c| c.name.clone())
        .collect();
    s.run(600);
    for n in &names {
        s.command(ALPHA, &format!("service bringin {n}"), None);
    }
    let end = s.now + chaos;
    while s.now < end {
        let wait = 1 + r.below(2000);
        s.run(wait);
        match r.below(20) {
            0 | 1 => {
                let n = r.below(2) as usize;
                if s.is_up(n) && s.is_up(1 - n) {
                    s.crash(n);
                } else if !s.is_up(n) {
                    s.boot(n);
                }
            }
            2 | 3 => {
                let (ch, dir) = (r.below(2) as usize, r.below(2) as usize);
                s.paths[ch][dir].up = !s.paths[ch][dir].up;
                s.trace.push(format!(
                    "{} path {} {} {}",
                    s.now,
                    ["private", "public"][ch],
                    ["alpha->beta", "beta->alpha"][dir],
                    if s.paths[ch][dir].up { "up" } else { "CUT" }
                ));
            }
            4 => {
                for ch in 0..2 {
                    for dir in 0..2 {
                        s.paths[ch][dir] = Path {
                            up: s.paths[ch][dir].up,
                            loss: r.below(300),
                            dup: r.below(100),
                            delay_max: 1 + r.below(80),
                        };
                    }
                }
            }
            5 | 6 => {
                let (n, svc) = (
                    r.below(2) as usize,
                    names[r.below(names.len() as u64) as usize].clone(),
                );
                if let Some(i) = s.sick.iter().position(|x| *x == (n, svc.clone())) {
                    s.sick.remove(i);
                } else {
                    s.sick.push((n, svc));
                }
            }
            7 => {
                let n = r.below(2) as usize;
                let ok = s.nic_down[n];
                s.set_nic(n, ok);
            }
            8 => {
                // An agent dies on its own.
                let n = r.below(2) as usize;
                if let Some((svc, (agent, _))) = s.hosts[n]
                    .agents
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), *v))
                {
                    s.hosts[n].agents.remove(&svc);
                    s.trace
                        .push(format!("{} {} agent of {svc} dies", s.now, NAMES[n]));
                    s.feed(
                        n,
                        Input::AgentExited {
                            service: svc,
                            agent,
                            how: "killed by signal 9".into(),
                        },
                    );
                }
            }
            9 => {
                // Configuration: a service created or removed, or a reload.
                let n = r.below(2) as usize;
                let cmd = match r.below(3) {
                    0 => "service create extra active_server=beta standby_server=alpha start=a stop=b".to_string(),
                    1 => "service remove extra".to_string(),
                    _ => "reload".to_string(),
                };
                if s.is_up(n) {
                    s.command(n, &cmd, None);
                }
            }
            10 => {
                // SureHA stopped on a node (haadm stop), started again later by a boot.
                let n = r.below(2) as usize;
                if s.is_up(n) && s.is_up(1 - n) {
                    s.command(n, "stop", None);
                }
            }
            11 => {
                let n = r.below(2) as usize;
                let svc = &names[r.below(names.len() as u64) as usize];
                let call = ["apiopen", "apiclose"][r.below(2) as usize];
                if s.is_up(n) {
                    s.command(n, &format!("{call} {svc}"), None);
                }
                s.feed(
                    n,
                    Input::LinkStats {
                        link: "lan".into(),
                        line: "rx=1 crc=0".into(),
                    },
                );
            }
            _ => {
                let n = r.below(2) as usize;
                let svc = &names[r.below(names.len() as u64) as usize];
                let op =
                    ["bringin", "bringout", "failover", "takeover", "bringin"][r.below(5) as usize];
                if s.is_up(n) {
                    s.command(n, &format!("service {op} {svc}"), None);
                }
            }
        }
    }
    // The faults end: everything healed, nodes up, agents well, then the world settles.
    s.trace.push(format!("{} --- faults end ---", s.now));
    s.paths = [[Path::default(); 2]; 2];
    s.sick.clear();
    for n in 0..2 {
        if !s.is_up(n) {
            s.boot(n);
        }
        if s.nic_down[n] {
            s.set_nic(n, true);
        }
    }
    s.step_failures = 0;
    // A configuration conflict (both nodes changed it while one could not hear the other)
    // waits for the administrator by design: play that part as the log tells, by making
    // alpha's file beta's and reloading it there (the higher generation wins).
    s.run(3_000);
    if s.engines[0].digest != s.engines[1].digest
        && s.engines[0].generation == s.engines[1].generation
    {
        let text = s.engines[1].config_text.clone();
        s.trace.push(format!(
            "{} admin resolves a configuration conflict: alpha takes beta's file and reloads",
            s.now
        ));
        if let Ok(cfg) = config::parse("sim", &text) {
            s.text = text.clone();
            s.feed(ALPHA, Input::Reload(Ok((cfg, text))));
        }
    }
    s.run(SETTLE);
    s.check_at_rest();
    s
}

/// How long the faults last in a randomised run.
pub const CHAOS: Millis = 12_000;

#[cfg(test)]
mod seeds {
    use super::*;

    /// `SIM_SEED=N` replays one seed with its whole trace; `SIM_SEEDS=N` runs N seeds
    /// (default 10,000, what `make test` runs); `make sim SEEDS=N` runs more, optimised.
    #[test]
    #[ignore]
    fn how_often_the_administrator_is_needed() {
        let n = (1..=2000)
            .filter(|&seed| {
                random_run(seed, CHAOS)
                    .trace
                    .iter()
                    .any(|l| l.contains("admin resolves"))
            })
            .count();
        println!("{n} of 2000 seeds needed the administrator for a configuration conflict");
    }

    #[test]
    #[ignore]
    fn one_seed_cost() {
        let t = std::time::Instant::now();
        let s = random_run(3, CHAOS);
        println!(
            "checks {} trace {} in {:?}",
            s.checks,
            s.trace.len(),
            t.elapsed()
        );
    }

    /// Seeds that found bugs, kept so they stay fixed (and stay meaningful if the generator
    /// changes, their stories are in the comments).
    #[test]
    fn regression_seeds() {
        // 2: a lossy link (3 beats lost in a row) made a node take a service over while the
        //    other ran it; legitimate, and what the contact-based invariant now allows to drain.
        // 123: both NICs came back at once; each node judged the other's ability from a stale
        //    beat and both started the service (fixed: the runner is part of the agreed intent).
        // 356: a group whose members differed in switchback swapped roles for all of them
        //    (fixed: a group must agree on switchback, checked in the configuration).
        // 262118, 5435: frames still in flight when a node rebooted were stamped with its new
        //    boot id on arrival; with their old, high sequence numbers they made the peer
        //    drop the new instance's beats as duplicates, so it never saw the service free
        //    (fixed in the simulator: a frame carries the boot id it was sent with, as the
        //    executor seals it).
        // 818352: a node booted just as its peer, not yet hearing it, took the group over;
        //    on the peer's first (older) beat the booted node started it too, and the group
        //    ended split while that drained (fixed: a start needs two-way contact, the
        //    peer's beat must say it hears us).
        for seed in [2, 123, 356, 5435, 262118, 818352] {
            random_run(seed, CHAOS);
        }
    }

    #[test]
    fn random_schedules_keep_every_invariant() {
        if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
            let s = random_run(seed, CHAOS);
            println!("{}", s.trace.join("\n"));
            return;
        }
        // 10,000 in an optimised build (make test runs one); fewer in a debug build.
        let default = if cfg!(debug_assertions) { 300 } else { 10_000 };
        let count: u64 = std::env::var("SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        let first: u64 = std::env::var("SIM_FIRST")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let started = std::time::Instant::now();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        // A failing seed panics inside its thread: keep the default report for every other
        // thread, silence these (they are reported below, grouped).
        let previous = std::sync::Arc::new(std::panic::take_hook());
        let chained = std::sync::Arc::clone(&previous);
        std::panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("sim-seeds-"));
            if !ours {
                chained(info);
            }
        }));
        // Every thread takes every `threads`-th seed and goes on past failures.
        let results: Vec<(u64, Vec<(u64, String)>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    std::thread::Builder::new()
                        .name(format!("sim-seeds-{t}"))
                        .spawn_scoped(scope, move || {
                            let mut checks = 0;
                            let mut failed = Vec::new();
                            for seed in (first + t..first + count).step_by(threads as usize) {
                                match std::panic::catch_unwind(|| random_run(seed, CHAOS).checks) {
                                    Ok(c) => checks += c,
                                    Err(e) => failed.push((
                                        seed,
                                        e.downcast_ref::<String>().cloned().unwrap_or_default(),
                                    )),
                                }
                            }
                            (checks, failed)
                        })
                        .expect("a simulator thread starts")
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, vec![(0, "thread died".into())])))
                .collect()
        });
        let _ = std::panic::take_hook();
        if let Ok(previous) = std::sync::Arc::try_unwrap(previous) {
            std::panic::set_hook(previous);
        }
        let checks: u64 = results.iter().map(|r| r.0).sum();
        let mut failed: Vec<(u64, String)> = results.into_iter().flat_map(|r| r.1).collect();
        failed.sort();
        if !failed.is_empty() {
            // Grouped by invariant (the message's first words), with the first seed's report.
            let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for (seed, msg) in &failed {
                let what = msg.split(": ").nth(1).map_or_else(
                    || "panic".to_string(),
                    |w| w.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
                );
                groups.entry(what).or_default().push(*seed);
            }
            let mut report = format!("{} of {count} seeds failed:\n", failed.len());
            for (what, seeds) in &groups {
                let shown: Vec<String> = seeds.iter().take(20).map(u64::to_string).collect();
                let more = if seeds.len() > 20 { " …" } else { "" };
                report.push_str(&format!(
                    "  {what}: {} seed(s): {}{more}\n",
                    seeds.len(),
                    shown.join(" ")
                ));
            }
            let (seed, msg) = &failed[0];
            panic!("{report}first: seed {seed} (replay: SIM_SEED={seed} cargo test --lib random_schedules -- --nocapture)\n{msg}");
        }
        println!(
            "{count} seeds, {checks} checked steps, {:.1}s on {threads} threads",
            started.elapsed().as_secs_f64()
        );
    }
}
