//! The engine: every decision SureHA makes, as a pure state machine. Inputs (time, commands,
//! agent calls, task results) go in; actions (run a step, start or stop an agent, reply, log,
//! persist, write the configuration, exit) come out. No I/O, no clock, no randomness: the
//! caller passes the time in, which is what lets the engine run under simulation.
//!
//! Per service, the engine keeps the cluster-wide intent (`protected`, `primary`: the node
//! that is the active server now) and this node's part (`phase`, `error`, the agent). A
//! service starts through a plan — volumes, addresses, start script, agent — and stops
//! through the reverse plan, one step at a time; results come back as `TaskDone`.
//!
//! | phase × input | what happens |
//! | --- | --- |
//! | Stopped, placement says here | start plan |
//! | Running, placement says elsewhere (bring-out, shutdown, move) | stop plan |
//! | Running, agent `apierr` / silent 3 × check_interval / exits | failure: restart (stop plan, start plan) while `restart_times` allow within `start_timeout`, else stop plan then ERROR |
//! | Starting, a step fails | failure, as above |
//! | Stopping, a step fails | WARNING, the plan goes on (a volume that will not unmount leaves ERROR) |
//!
//! Each question has its module: `lifecycle` (should it run here, failures), `agent` (its API's
//! rules), `plan` (a start or stop step by step, what each result means), `agreement` (groups,
//! who runs what), `intent` (a service's intent and its epochs), `membership` (what this node
//! knows of its peer: links, last beat, contact; its status), `peer` (frames and beats coming
//! in), `beats` (going out), `nics`, `commands` (the API, admin commands and who waits for
//! which reply), `leaving` (stop or QUIT), `config_edit` and `config_sync`, `status`, `persist`
//! (what survives a restart), `isolation` (cut off from the peer and the disk), `disks` (lease,
//! data paths, fence), `switchback` (when a service may go back), `readiness` (could each node
//! run it; drift), `why` (the verdict on a copy of the engine), `both_claim` (the alarm).
//! `handle` below is the dispatcher: one input, then the same pass over every service.

use crate::clock::Millis;
use crate::config::{AlertEvent, Config};
use crate::log::Level;
use crate::request::Reply;
use crate::state::Persisted;
use admin_state::Hosts;
use agent::Agent;
use intent::Intent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// This node, its peer and the time (`interface::Here`), borrowed from the engine field by
/// field, so a concern of the engine can be changed beside them.
macro_rules! here {
    ($e:expr) => {
        $crate::engine::interface::Here {
            node: &$e.node,
            peer: $e.config.peer_of(&$e.node).unwrap_or("peer"),
            now: $e.now,
        }
    };
}

/// A pass this long after the wake-up it was due at means the loop stood still.
const STALL_AFTER: Millis = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Stopped,
    Starting,
    Running,
    Stopping,
}

#[derive(Clone, Debug)]
struct Svc {
    /// Cluster-wide intent, agreed with the peer: the highest epoch wins.
    intent: Intent,
    /// This node's part.
    phase: Phase,
    error: bool,
    error_was_active: bool,
    last_failure: Option<String>,
    failures: Vec<Millis>,
    agent: Option<Agent>,
    /// The start or stop under way here, step by step.
    plan: plan::Plan,
    /// The NIC holding its addresses here.
    vip_nic: Option<String>,
    /// The start or stop under way, timed by phase; the last one done, as its MOVE line.
    clock: Option<timing::MoveClock>,
    last_move: Option<String>,
    /// The same, for metrics; and how many starts and stops here ended (`[stops, starts]`).
    last_timed: Option<timing::Timed>,
    moves_done: [u64; 2],
    /// A volume would not unmount: it may still be mounted here.
    volumes_stuck: bool,
}

impl Svc {
    fn busy(&self) -> bool {
        self.plan.busy()
    }
}

/// What this node knows of its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// Still in the start-up grace period.
    Unknown,
    Up,
    Down,
    /// Every private link is silent but the peer answers on the public network.
    Partitioned,
    /// Silent, but its last beat said it left its services running (QUIT): nothing moves.
    Frozen,
}

/// The state of one of this node's NICs, as the executor reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicState {
    pub name: String,
    pub ok: bool,
    pub addrs: Vec<std::net::IpAddr>,
}

#[derive(Clone)]
pub struct Engine {
    node: String,
    /// Shared, so a decision can hold a service's settings while it changes the engine.
    config: Arc<Config>,
    /// The services and their groups, from the configuration.
    layout: Arc<agreement::Layout>,
    config_text: String,
    /// crc32 of the configuration text: peers compare services by index only when equal.
    digest: u32,
    /// Grows with every configuration change; the higher one wins between the nodes.
    generation: u64,
    services: BTreeMap<String, Svc>,
    now: Millis,
    /// The tasks under way and whose they are; the next ids.
    tasks: plan::Tasks,
    waiters: waiters::Waiters,
    /// Configuration changes: the one being written, the reloads and edits waiting.
    edits: config_edit::Edits,
    /// Asked to leave (stopping the services or not), keeping them since when, gone.
    leaving: leaving::Leaving,
    /// A change of the authkey under way, and the word to send again (when, step, data).
    key_change: keys::KeyChange,
    /// What was last handed out to be saved; compared as data, formatted only on change.
    last_persisted: Option<Persisted>,
    /// The peer: links, its last beat, the contact, the public network, the carriers.
    peer: membership::Membership,
    /// Services the administrator took over while the peer had left its services running:
    /// they alone start here until the peer is back.
    released: BTreeSet<String>,
    /// This node's NICs named in the configuration (empty until the executor reports).
    nics: Vec<NicState>,
    /// Request lines dropped by the executor, and agent calls refused from other processes.
    refused: Refused,
    last_beat: Vec<u8>,
    /// The pace of our configuration going to the peer.
    sending: config_sync::Sending,
    /// The peer's configuration coming in pieces.
    parts_in: pieces::Pieces,
    disks: disks::Disks,
    /// The lock and the licenses, as both nodes keep them, and the watch on the licenses.
    admin: admin_state::Admin,
    /// Calm switch-back: health of returning primaries, switch-backs in the last hour.
    calm: switchback::Calm,
    /// Readiness and drift: this node's files and devices, the peer's report.
    knowing: readiness::Knowing,
    /// The both-claim alarm's episodes.
    both: both_claim::BothClaims,
    /// The loop's pace: when routine inputs need no pass, when the next one was due.
    pace: routine::Pace,
    /// Full passes so far, and what the last one left due (the simulator's view).
    #[cfg(test)]
    pub(crate) passes: u64,
    #[cfg(test)]
    pub(crate) after_pass: (Option<Millis>, Vec<&'static str>),
    out: Vec<Action>,
}

/// What the engine was asked and would not take, counted for status and metrics.
#[derive(Clone, Copy, Debug, Default)]
struct Refused {
    /// Request lines the executor dropped (too many waiting, too long).
    requests_dropped: u64,
    /// Agent calls from processes that are not the service's agent.
    api_refused: u64,
}

/// How long the peer may stay silent at start-up before it counts as down.
fn grace_of(config: &Config) -> Millis {
    config
        .links
        .iter()
        .map(|l| l.dead_after())
        .max()
        .unwrap_or(0)
        + 500
}

impl Engine {
    /// A new engine at time `now`, with what a previous hasvrd persisted (if anything).
    pub fn new(
        node: &str,
        config: Config,
        text: String,
        saved: Option<Persisted>,
        now: Millis,
    ) -> Engine {
        let links = link_view::link_views(&config, now);
        let grace_until = now + grace_of(&config);
        let mut e = Engine {
            node: node.to_string(),
            digest: crate::frame::crc32(text.as_bytes()),
            generation: saved.as_ref().map_or(1, |s| s.generation.max(1)),
            layout: Arc::new(agreement::Layout::of(&config)),
            config: Arc::new(config),
            config_text: text,
            services: BTreeMap::new(),
            now,
            tasks: plan::Tasks::default(),
            waiters: waiters::Waiters::default(),
            edits: config_edit::Edits::default(),
            leaving: leaving::Leaving::default(),
            key_change: keys::KeyChange::default(),
            last_persisted: None,
            peer: membership::Membership::new(
                links,
                membership::Contact::new(grace_until, saved.as_ref().is_some_and(|s| s.peer_kept)),
                public::PublicNet::new(
                    saved
                        .as_ref()
                        .map_or_else(Vec::new, |s| s.peer_public.clone()),
                    now,
                ),
            ),
            refused: Refused::default(),
            released: BTreeSet::new(),
            nics: Vec::new(),
            last_beat: Vec::new(),
            sending: config_sync::Sending::default(),
            parts_in: pieces::Pieces::default(),
            disks: disks::Disks::new(now),
            admin: admin_state::Admin::default(),
            calm: switchback::Calm::default(),
            knowing: readiness::Knowing::default(),
            both: both_claim::BothClaims::default(),
            pace: routine::Pace::default(),
            #[cfg(test)]
            passes: 0,
            #[cfg(test)]
            after_pass: (None, Vec::new()),
            out: Vec::new(),
        };
        let names: Vec<String> = e.config.services.iter().map(|s| s.name.clone()).collect();
        for name in names {
            let svc = e.fresh_svc(&name);
            e.services.insert(name, svc);
        }
        if let Some(saved) = saved {
            e.adopt(saved);
        }
        for w in e.config.warnings() {
            e.log(Level::Warning, w.message);
        }
        e
    }

    fn fresh_svc(&self, name: &str) -> Svc {
        let primary = self
            .config
            .service(name)
            .map_or_else(String::new, |s| s.active_server.clone());
        Svc {
            intent: Intent::of(&primary),
            phase: Phase::Stopped,
            error: false,
            error_was_active: false,
            last_failure: None,
            failures: Vec::new(),
            agent: None,
            plan: plan::Plan::default(),
            vip_nic: None,
            clock: None,
            last_move: None,
            last_timed: None,
            moves_done: [0, 0],
            volumes_stuck: false,
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn has_exited(&self) -> bool {
        self.leaving.exited
    }

    /// The configuration, shared (a caller may hold it while the engine changes).
    pub fn shared_config(&self) -> Arc<Config> {
        Arc::clone(&self.config)
    }

    /// The node that is the service's active server now ("" for an unknown service).
    pub fn primary_ref(&self, name: &str) -> &str {
        self.services
            .get(name)
            .map_or("", |s| s.intent.primary.as_str())
    }

    /// The node that is the service's active server now.
    pub fn primary_of(&self, name: &str) -> String {
        self.services
            .get(name)
            .map_or_else(String::new, |s| s.intent.primary.clone())
    }

    /// Whether the service is in protection, as this node knows.
    pub fn protected(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| s.intent.protected)
    }

    /// The pid of the service's agent here, once it runs.
    pub fn agent_pid(&self, name: &str) -> Option<u32> {
        self.services.get(name)?.agent.as_ref()?.pid
    }

    /// Whether the service is in ERROR on this node.
    pub fn in_error(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| s.error)
    }

    /// This node's phase of a service (Stopped for an unknown one).
    pub fn phase_of(&self, name: &str) -> Phase {
        self.services.get(name).map_or(Phase::Stopped, |s| s.phase)
    }

    /// Leaving with QUIT: services keep running for the next hasvrd to adopt.
    pub fn leaves_resources_untouched(&self) -> bool {
        self.leaving.quitting()
    }

    /// Feeds one input at time `now`; returns the actions to execute, in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Action> {
        if now > self.pace.expected_by.saturating_add(STALL_AFTER) {
            self.stalled(now - self.pace.expected_by);
        }
        self.now = now.max(self.now);
        if self.leaving.exited {
            return Vec::new();
        }
        if self.routine(&input) {
            return std::mem::take(&mut self.out);
        }
        let ticked = matches!(input, Input::Tick);
        match input {
            Input::Tick => {}
            Input::Late { link } => self.peer.late_said(&link),
            Input::Command { cmd, reply, caller } => self.command(cmd, reply, caller),
            Input::TaskDone { task, result } => self.task_done(task, result),
            Input::AgentSpawned {
                service,
                agent,
                pid,
                token,
            } => {
                let mut started = false;
                if let Some(s) = self.services.get_mut(&service) {
                    if let Some(a) = s.agent.as_mut().filter(|a| a.id == agent) {
                        a.pid = Some(pid);
                        a.token = token;
                        started = s.plan.agent_started();
                    }
                }
                if started {
                    self.clock_step(&service, Step::StartAgent);
                    self.advance(&service);
                }
            }
            Input::AgentExited {
                service,
                agent,
                how,
            } => self.agent_exited(&service, agent, how),
            Input::Frame {
                link,
                boot,
                seq,
                payload,
            } => self.on_frame(&link, boot, seq, &payload),
            Input::Nics(nics) => {
                self.knowing.dirty = true;
                self.nics_changed(nics);
                self.carrier_changed();
            }
            Input::RequestsDropped(n) => self.refused.requests_dropped = n,
            Input::LinkStats { link, line } => self.link_stats(&link, line),
            Input::KeyFiles { step, result } => {
                self.key_change.files_done(&here!(self), step, result, &mut self.out)
            }
            Input::KeysOnDisk { main, next, prev } => {
                self.key_change.on_disk(self.now, main, next, prev, &mut self.out)
            }
            Input::LeaseRenewed { link, took } => self.lease_renewed(&link, took),
            Input::AdminLoaded(text) => match admin_state::AdminState::decode(&text) {
                Some(s) => self.admin.loaded(s, &Hosts::of(&self.config, &self.node), &mut self.out),
                None => self.log(
                    Level::Warning,
                    "etc/license or etc/lock does not parse; starting without a lock or licenses (haadm license to store them again)".into(),
                ),
            },
            Input::Today(d) => {
                let hosts = Hosts::of(&self.config, &self.node);
                self.admin.today_is(d, &hosts, &mut self.out)
            }
            Input::Readiness(facts) => self.knowing.facts_arrived(facts),
            Input::DataPaths(paths) => {
                self.knowing.dirty = true;
                self.paths_changed(paths)
            }
            Input::ConfigWritten(r) => self.config_written(r),
            Input::Reload(r) => self.reload(r),
            Input::Shutdown { touch_resources } => self.shutdown(touch_resources, None),
        }
        self.check_agents(ticked);
        self.key_change.check(&here!(self), &mut self.out);
        self.check_lease();
        self.check_isolation();
        self.check_carrier();
        self.retry_edits();
        self.track_switchbacks();
        // Told before what it makes happen: the peer down before the take-over.
        self.note_transitions();
        self.propose_runners();
        let layout = Arc::clone(&self.layout);
        for n in &layout.names {
            self.reconcile(n);
        }
        self.settle_waiters();
        self.note_readiness();
        self.sync_with_peer();
        self.end_both_claims();
        self.begin_keeping();
        self.send_beats();
        self.maybe_exit();
        #[cfg(not(test))]
        let next = self.next_wakeup();
        #[cfg(test)]
        let next = {
            self.passes += 1;
            self.after_pass = self.wakeup_and_overdue();
            self.after_pass.0
        };
        self.pace.quiet_until = self.quiet_until_after(next);
        self.pace.expected_by = next.unwrap_or(Millis::MAX);
        let mut out = std::mem::take(&mut self.out);
        // Write-ahead: the state is on disk before anything of this step is done or seen,
        // so a hasvrd killed at any point is succeeded by one that knows what runs.
        if let Some(p) = self.persist_if_changed() {
            out.insert(0, p);
        }
        out
    }

    /// The nearest time something is due (agent silence, end of grace, beats, link deaths,
    /// waiters' deadlines), always later than now: what was due by now was done by the pass
    /// that just ran, and a time in the past would only wake the loop again at once.
    pub fn next_wakeup(&self) -> Option<Millis> {
        let mut t: Option<Millis> = None;
        let now = self.now;
        self.wakeups(|_, x| {
            if x > now {
                t = Some(t.map_or(x, |y: Millis| y.min(x)));
            }
        });
        t
    }

    /// `next_wakeup`, and the wake-ups that asked for a time not later than now after a pass
    /// (the simulator looks for them: each is a loop that would spin, were it not filtered).
    #[cfg(test)]
    pub(crate) fn wakeup_and_overdue(&self) -> (Option<Millis>, Vec<&'static str>) {
        let (mut t, mut overdue) = (None, Vec::new());
        let now = self.now;
        self.wakeups(|what, x| {
            if x > now {
                t = Some(t.map_or(x, |y: Millis| y.min(x)));
            } else {
                overdue.push(what);
            }
        });
        (t, overdue)
    }

    /// Every time something is due, with what it is.
    fn wakeups(&self, mut at: impl FnMut(&'static str, Millis)) {
        if let Some(l) = self.peer.wakeup(self.now) {
            at("links", l);
        }
        if self.now < self.peer.contact.grace_until {
            at("grace", self.peer.contact.grace_until);
        }
        for (name, s) in &self.services {
            if let (Some(a), Some(cfg)) = (&s.agent, self.config.service(name)) {
                if a.watched() {
                    let mut due = a.silence_due(cfg.check_interval);
                    if self.pace.silence_unjudged {
                        // The tick at the end of this turn of the loop judges it; should
                        // none come, a millisecond later.
                        due = due.max(self.now + 1);
                    }
                    at("agent silence", due);
                }
            }
        }
        for deadline in self.waiters.deadlines() {
            at("waiter", deadline);
        }
        if let Some(l) = self.lease_wakeup() {
            at("lease", l);
        }
        if let Some(k) = self.key_change.wakeup() {
            at("authkey: a word again", k);
        }
        if let Some(t) = self.carrier_wakeup() {
            at("carrier: the public network's answer", t);
        }
        // A peer unreadable (another authkey) counts as down once its frames stop.
        for l in self.peer.links.values() {
            if let Some(t) = l.unreadable_until().filter(|&t| t > self.now) {
                at("unreadable frames stop counting", t);
            }
        }
        if matches!(self.peer_status(), PeerStatus::Down | PeerStatus::Frozen) {
            if let Some(t) = self.takeover_wait() {
                at("takeover after the lease", t);
            }
        }
        if let Some(t) = self.isolation_deadline().filter(|&t| t > self.now) {
            at("cut off: services given up", t);
        }
        if let Some(l) = self.switchback_wakeup() {
            at("switch-back", l);
        }
        if let Some(l) = self.sync_wakeup() {
            at("sync", l);
        }
        if let Some(until) = self.edits.queue_deadline() {
            at("edit queue", until);
        }
    }

    fn log(&mut self, level: Level, text: String) {
        interface::log(&mut self.out, level, text);
    }

    /// Logs an event an alert program may be told of; the log line is its description.
    fn log_alert(&mut self, level: Level, event: AlertEvent, service: &str, text: String) {
        if self.config.wants_alert(event) {
            self.out.push(Action::Alert {
                event,
                service: service.to_string(),
                text: text.clone(),
            });
        }
        self.log(level, text);
    }

    fn reply(&mut self, to: Option<ReplyTo>, reply: Reply) {
        if let Some(to) = to {
            let at = self.now;
            self.out.push(Action::Reply { to, reply, at });
        }
    }

    fn peer_name(&self) -> &str {
        self.config.peer_of(&self.node).unwrap_or("peer")
    }

    /// The state word of DESIGN §4 for this node.
    pub fn state_word(&self, name: &str) -> &'static str {
        let Some(s) = self.services.get(name) else {
            return "UNKNOWN";
        };
        let act = s.intent.primary == self.node;
        if s.phase != Phase::Stopped {
            let peer_can_take_over = self.group_of(name).iter().all(|g| {
                self.peer_svc(g)
                    .is_some_and(|p| !p.error && !p.unable && p.intent.protected)
            });
            if !peer_can_take_over {
                "ACTIVEACT"
            } else if act {
                "ACTIVE"
            } else {
                "ACTIVESTB"
            }
        } else if s.error {
            if s.error_was_active {
                "ERRORACT"
            } else {
                "ERRORSTB"
            }
        } else if !s.intent.protected {
            if act {
                "OUTACT"
            } else {
                "OUTSTB"
            }
        } else {
            "STANDBY"
        }
    }
}

pub mod admin_state;
mod agent;
mod agreement;
mod beats;
mod both_claim;
mod carrier;
mod commands;
mod config_edit;
mod config_sync;
mod disks;
mod intent;
mod interface;
mod isolation;
pub mod keys;
mod leaving;
mod lifecycle;
mod link_view;
mod membership;
mod metrics;
mod nics;
mod peer;
mod persist;
mod pieces;
mod plan;
mod public;
pub mod readiness;
mod routine;
mod status;
mod switchback;
mod timing;
mod waiters;
mod why;

pub use disks::{fence_word, DataPath};
pub use interface::{
    newest_beats_only, Action, AgentId, DeviceFact, FileFact, Input, KeyFiles, LocalFacts, ReplyTo,
    Step, TaskId,
};
pub use plan::{start_plan, stop_plan};

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;
