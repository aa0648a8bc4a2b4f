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

use crate::clock::{human, Millis};
use crate::config::{self, Config, Service};
use crate::log::Level;
use crate::request::{ApiCall, Command, Operation, Reply};
use crate::state::{Persisted, PersistedService, SavedPhase};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub type TaskId = u64;
pub type AgentId = u64;

/// A client's reply FIFO name.
pub type ReplyTo = String;

/// One step of a start or stop plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Mount(usize),
    AddIps,
    StartScript,
    StartAgent,
    StopAgent,
    StopScript,
    DelIps,
    Umount(usize),
}

impl Step {
    fn describe(self, s: &Service) -> String {
        match self {
            Step::Mount(i) => format!("mount {}", s.volumes.get(i).map_or("?", |v| &v.mount_point)),
            Step::Umount(i) => format!(
                "unmount {}",
                s.volumes.get(i).map_or("?", |v| &v.mount_point)
            ),
            Step::AddIps => "add floating addresses".into(),
            Step::DelIps => "remove floating addresses".into(),
            Step::StartScript => format!("start script {}", s.start),
            Step::StopScript => format!("stop script {}", s.stop),
            Step::StartAgent => "start agent".into(),
            Step::StopAgent => "stop agent".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Time passed.
    Tick,
    /// A request from haadm, an agent, or the remote door.
    Command {
        cmd: Command,
        reply: Option<ReplyTo>,
        /// The process group of the local process that asked (0: it could not be told):
        /// an agent's calls count only from the agent's own group.
        caller: Option<u32>,
    },
    /// A step's program ended.
    TaskDone {
        task: TaskId,
        result: Result<(), String>,
    },
    /// An agent process runs; `token` tells it from a later process with the same pid.
    AgentSpawned {
        service: String,
        agent: AgentId,
        pid: u32,
        token: u64,
    },
    /// An agent process ended (or could not start).
    AgentExited {
        service: String,
        agent: AgentId,
        how: String,
    },
    /// A checked frame from the peer arrived on a link (the same frame may come on several).
    Frame {
        link: String,
        boot: u64,
        seq: u64,
        payload: Vec<u8>,
    },
    /// A link process's counters of dropped frames.
    LinkStats { link: String, line: String },
    /// How many request lines the executor has dropped so far (stray bytes, overlong or
    /// unreadable lines), for status.
    RequestsDropped(u64),
    /// This node's NICs named in the configuration, when any changed.
    Nics(Vec<NicState>),
    /// The configuration file was written (or not) after `WriteConfig`.
    ConfigWritten(Result<(), String>),
    /// A new configuration was read and parsed (after `haadm reload` or SIGHUP).
    Reload(Result<(Config, String), String>),
    /// Leave: stop every service here first (TERM), or leave everything as it is (QUIT).
    Shutdown { touch_resources: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run {
        task: TaskId,
        service: String,
        step: Step,
        timeout: Millis,
        /// For AddIps: the NIC chosen for the addresses.
        nic: Option<String>,
    },
    /// Send a message to the peer over the public network, to these addresses.
    SendPublic {
        to: Vec<std::net::Ipv4Addr>,
        payload: Vec<u8>,
    },
    StartAgent {
        service: String,
        agent: AgentId,
    },
    StopAgent {
        service: String,
        agent: AgentId,
    },
    /// An agent from before a restart of hasvrd: watch that it lives.
    WatchAgent {
        service: String,
        agent: AgentId,
        pid: u32,
        token: u64,
    },
    Reply {
        to: ReplyTo,
        reply: Reply,
        /// Not before this time (agents' `apiok` is paced).
        at: Millis,
    },
    Log {
        level: Level,
        text: String,
    },
    Persist(String),
    /// Send a message to the peer: on one link, or on every link (`None`).
    Send {
        link: Option<String>,
        payload: Vec<u8>,
    },
    /// Replace the configuration file, if it still holds `expected`.
    WriteConfig {
        expected: String,
        text: String,
    },
    /// Read the configuration file again and feed `Reload`.
    ReadConfig,
    /// Everything is done: leave.
    Exit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Stopped,
    Starting,
    Running,
    Stopping,
}

/// Where a stop plan leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterStop {
    /// Left as it is: out, standby or shut down, as the intent says.
    Rest,
    /// A local restart: start again.
    Restart,
    /// Failed for good here.
    Error,
}

#[derive(Clone, Debug)]
struct Agent {
    id: AgentId,
    pid: Option<u32>,
    token: u64,
    started: Millis,
    last_ok: Option<Millis>,
    next_reply: Millis,
    closed: bool,
    stopping: bool,
    /// When a process other than the agent last had its API call refused (logged once a
    /// minute at most).
    intruder_logged: Option<Millis>,
}

#[derive(Clone, Debug)]
struct Svc {
    /// Cluster-wide intent, agreed with the peer: the highest epoch wins.
    protected: bool,
    primary: String,
    /// Who should run it now (empty: neither can); agreed like the rest of the intent.
    runner: String,
    epoch: u32,
    /// Bumped by every BringIn: a node that sees a higher count clears its ERROR.
    resets: u16,
    /// This node's part.
    phase: Phase,
    error: bool,
    error_was_active: bool,
    last_failure: Option<String>,
    failures: Vec<Millis>,
    agent: Option<Agent>,
    plan: VecDeque<Step>,
    inflight: Option<(Step, TaskId)>,
    after_stop: AfterStop,
    /// A start plan brings up what is listed here, so a failed start stops only that.
    started_steps: Vec<Step>,
    /// The NIC holding its addresses here.
    vip_nic: Option<String>,
}

impl Svc {
    fn busy(&self) -> bool {
        self.inflight.is_some() || !self.plan.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum WaitFor {
    RunningHere,
    RunningSomewhere,
    RunningOnPeer,
    StoppedEverywhere,
    Exit,
}

#[derive(Clone, Debug)]
struct Waiter {
    service: Option<String>,
    to: ReplyTo,
    until: WaitFor,
    done_text: String,
    deadline: Millis,
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
}

/// The state of one of this node's NICs, as the executor reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicState {
    pub name: String,
    pub ok: bool,
    pub addrs: Vec<std::net::Ipv4Addr>,
}

pub struct Engine {
    node: String,
    /// Shared, so a decision can hold a service's settings while it changes the engine.
    config: Arc<Config>,
    /// The services and their groups, from the configuration.
    layout: Arc<peer::Layout>,
    config_text: String,
    /// crc32 of the configuration text: peers compare services by index only when equal.
    digest: u32,
    /// Grows with every configuration change; the higher one wins between the nodes.
    generation: u64,
    services: BTreeMap<String, Svc>,
    now: Millis,
    grace_until: Millis,
    next_task: TaskId,
    next_agent: AgentId,
    tasks: BTreeMap<TaskId, String>,
    waiters: Vec<Waiter>,
    pending_write: Option<PendingWrite>,
    pending_reload: Vec<ReplyTo>,
    shutting_down: Option<bool>,
    exited: bool,
    /// What was last handed out to be saved; compared as data, formatted only on change.
    last_persisted: Option<Persisted>,
    links: BTreeMap<String, peer::LinkView>,
    peer: Option<peer::PeerView>,
    peer_was: PeerStatus,
    /// This node's NICs named in the configuration (empty until the executor reports).
    nics: Vec<NicState>,
    /// The last frame from the peer over the public network.
    public_rx: Option<Millis>,
    /// Since when the public network has carried the peer's frames without a gap.
    public_since: Option<Millis>,
    /// Request lines dropped by the executor, and agent calls refused from other processes.
    requests_dropped: u64,
    api_refused: u64,
    /// The peer's own addresses, from its beats (kept across restarts).
    known_public: Vec<std::net::Ipv4Addr>,
    next_public_beat: Millis,
    last_beat: Vec<u8>,
    config_sent_at: Option<Millis>,
    conflict_logged: Option<(u64, u32)>,
    /// Configuration pieces being received (generation, count, pieces) and the next to send.
    parts_in: (u64, u16, BTreeMap<u16, Vec<u8>>),
    parts_out: usize,
    out: Vec<Action>,
}

/// A configuration change on its way to the disk.
struct PendingWrite {
    config: Config,
    text: String,
    reply: Option<ReplyTo>,
    what: String,
    generation: u64,
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
        let links = peer::link_views(&config, now);
        let mut e = Engine {
            node: node.to_string(),
            grace_until: now + grace_of(&config),
            digest: crate::frame::crc32(text.as_bytes()),
            generation: saved.as_ref().map_or(1, |s| s.generation.max(1)),
            layout: Arc::new(peer::Layout::of(&config)),
            config: Arc::new(config),
            config_text: text,
            services: BTreeMap::new(),
            now,
            next_task: 1,
            next_agent: 1,
            tasks: BTreeMap::new(),
            waiters: Vec::new(),
            pending_write: None,
            pending_reload: Vec::new(),
            shutting_down: None,
            exited: false,
            last_persisted: None,
            links,
            peer: None,
            peer_was: PeerStatus::Unknown,
            nics: Vec::new(),
            public_rx: None,
            public_since: None,
            requests_dropped: 0,
            api_refused: 0,
            known_public: saved
                .as_ref()
                .map_or_else(Vec::new, |s| s.peer_public.clone()),
            next_public_beat: now,
            last_beat: Vec::new(),
            config_sent_at: None,
            conflict_logged: None,
            parts_in: (0, 0, BTreeMap::new()),
            parts_out: 0,
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
        e
    }

    fn fresh_svc(&self, name: &str) -> Svc {
        let primary = self
            .config
            .service(name)
            .map_or_else(String::new, |s| s.active_server.clone());
        Svc {
            protected: false,
            runner: primary.clone(),
            primary,
            epoch: 0,
            resets: 0,
            phase: Phase::Stopped,
            error: false,
            error_was_active: false,
            last_failure: None,
            failures: Vec::new(),
            agent: None,
            plan: VecDeque::new(),
            inflight: None,
            after_stop: AfterStop::Rest,
            started_steps: Vec::new(),
            vip_nic: None,
        }
    }

    /// Takes over what a previous hasvrd ran: running services stay running, untouched.
    fn adopt(&mut self, saved: Persisted) {
        for p in saved.services {
            let now = self.now;
            let config = Arc::clone(&self.config);
            let Some(cfg) = config.service(&p.name) else {
                self.log(
                    Level::Warning,
                    format!(
                        "service {}: in the saved state but no longer configured; ignored",
                        p.name
                    ),
                );
                continue;
            };
            let next_agent = &mut self.next_agent;
            let Some(s) = self.services.get_mut(&p.name) else {
                continue;
            };
            s.protected = p.protected;
            if p.primary == cfg.active_server || p.primary == cfg.standby_server {
                s.primary = p.primary.clone();
            }
            if p.runner.is_empty()
                || p.runner == cfg.active_server
                || p.runner == cfg.standby_server
            {
                s.runner = p.runner.clone();
            }
            s.error = p.error;
            s.error_was_active = p.error_was_active;
            s.epoch = p.epoch;
            s.resets = p.resets;
            let mut watch = None;
            if p.phase != SavedPhase::Stopped && !saved.rebooted {
                if let (Some(pid), Some(_)) = (p.agent_pid, &cfg.agent) {
                    let id = *next_agent;
                    *next_agent += 1;
                    s.agent = Some(Agent {
                        id,
                        pid: Some(pid),
                        token: p.agent_token,
                        started: now,
                        last_ok: None,
                        next_reply: now,
                        closed: false,
                        stopping: false,
                        intruder_logged: None,
                    });
                    watch = Some((id, pid, p.agent_token));
                }
                // Killed between spawning the agent and saving its pid: no evidence that it
                // still runs, so it is handled like a half-finished plan.
                let unproven = cfg.agent.is_some() && s.agent.is_none();
                if p.phase == SavedPhase::Running && !unproven {
                    s.phase = Phase::Running;
                    s.started_steps = start_plan(cfg);
                } else {
                    // We do not know how far it got: stop everything, then decide afresh.
                    s.phase = Phase::Stopping;
                    s.plan = stop_plan(cfg, s.agent.is_some()).into();
                }
            }
            if let Some((agent, pid, token)) = watch {
                self.out.push(Action::WatchAgent {
                    service: p.name.clone(),
                    agent,
                    pid,
                    token,
                });
            }
            let phase = s.phase;
            match (phase, watch) {
                (Phase::Running, Some((_, pid, _))) => {
                    self.log(Level::Info, format!("service {}: adopted, running since before this hasvrd started (agent pid {pid})", p.name));
                }
                (Phase::Running, None) => {
                    self.log(
                        Level::Info,
                        format!(
                            "service {}: adopted, running since before this hasvrd started",
                            p.name
                        ),
                    );
                }
                (Phase::Stopping, _) => {
                    self.log(Level::Warning, format!("service {}: the previous hasvrd died in the middle of starting or stopping it, or its agent is gone (it died with the previous hasvrd, or was never recorded); stopping what may be left of it before deciding again", p.name));
                }
                _ => {}
            }
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// The configuration, shared (a caller may hold it while the engine changes).
    pub fn shared_config(&self) -> Arc<Config> {
        Arc::clone(&self.config)
    }

    /// The node that is the service's active server now ("" for an unknown service).
    pub fn primary_ref(&self, name: &str) -> &str {
        self.services.get(name).map_or("", |s| s.primary.as_str())
    }

    /// The node that is the service's active server now.
    pub fn primary_of(&self, name: &str) -> String {
        self.services
            .get(name)
            .map_or_else(String::new, |s| s.primary.clone())
    }

    /// Whether the service is in protection, as this node knows.
    pub fn protected(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| s.protected)
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
        self.shutting_down == Some(false)
    }

    /// Feeds one input at time `now`; returns the actions to execute, in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Action> {
        self.now = now.max(self.now);
        if self.exited {
            return Vec::new();
        }
        match input {
            Input::Tick => {}
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
                        if matches!(s.inflight, Some((Step::StartAgent, _))) {
                            s.inflight = None;
                            s.started_steps.push(Step::StartAgent);
                            started = true;
                        }
                    }
                }
                if started {
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
            Input::Nics(nics) => self.nics_changed(nics),
            Input::RequestsDropped(n) => self.requests_dropped = n,
            Input::LinkStats { link, line } => {
                if let Some(l) = self.links.get_mut(&link) {
                    l.stats = line;
                }
            }
            Input::ConfigWritten(r) => self.config_written(r),
            Input::Reload(r) => self.reload(r),
            Input::Shutdown { touch_resources } => self.shutdown(touch_resources, None),
        }
        self.check_agents();
        self.propose_runners();
        let layout = Arc::clone(&self.layout);
        for n in &layout.names {
            self.reconcile(n);
        }
        self.settle_waiters();
        self.note_transitions();
        self.send_beats();
        self.maybe_exit();
        let mut out = std::mem::take(&mut self.out);
        // Write-ahead: the state is on disk before anything of this step is done or seen,
        // so a hasvrd killed at any point is succeeded by one that knows what runs.
        if let Some(p) = self.persist_if_changed() {
            out.insert(0, p);
        }
        out
    }

    /// The nearest time something is due (agent silence, end of grace, beats, link deaths,
    /// waiters' deadlines).
    pub fn next_wakeup(&self) -> Option<Millis> {
        let mut t: Option<Millis> = self.link_wakeup();
        let mut at = |x: Millis| t = Some(t.map_or(x, |y| y.min(x)));
        if self.now < self.grace_until {
            at(self.grace_until);
        }
        for (name, s) in &self.services {
            if let (Some(a), Some(cfg)) = (&s.agent, self.config.service(name)) {
                if !a.closed && !a.stopping {
                    at(a.last_ok.unwrap_or(a.started) + 3 * cfg.check_interval + 1);
                }
            }
        }
        for w in &self.waiters {
            at(w.deadline);
        }
        t
    }

    fn log(&mut self, level: Level, text: String) {
        self.out.push(Action::Log { level, text });
    }

    fn reply(&mut self, to: Option<ReplyTo>, reply: Reply) {
        if let Some(to) = to {
            let at = self.now;
            self.out.push(Action::Reply { to, reply, at });
        }
    }

    fn peer_name(&self) -> String {
        self.config
            .peer_of(&self.node)
            .unwrap_or("peer")
            .to_string()
    }

    /// The state word of DESIGN §4 for this node.
    pub fn state_word(&self, name: &str) -> &'static str {
        let Some(s) = self.services.get(name) else {
            return "UNKNOWN";
        };
        let act = s.primary == self.node;
        if s.phase != Phase::Stopped {
            let peer_can_take_over = self.group_of(name).iter().all(|g| {
                self.peer_svc(g)
                    .is_some_and(|p| !p.error && !p.unable && p.protected)
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
        } else if !s.protected {
            if act {
                "OUTACT"
            } else {
                "OUTSTB"
            }
        } else {
            "STANDBY"
        }
    }

    /// Should this service run here (true) or not (false), and why; `None`: leave it as it
    /// is for now (too early to know, or the nodes do not agree yet).
    fn placement(&self, name: &str) -> Option<(bool, Cow<'static, str>)> {
        let s = self.services.get(name)?;
        match self.shutting_down {
            Some(true) => return Some((false, "SureHA is stopping on this node".into())),
            // Leaving without touching resources: whatever runs keeps running.
            Some(false) => return None,
            None => {}
        }
        if !s.protected {
            return Some((false, "brought out of protection".into()));
        }
        let group = self.group_of(name);
        if group
            .iter()
            .any(|g| self.services.get(g).is_none_or(|x| x.error))
        {
            return Some((false, "it, or a service of its group, failed here".into()));
        }
        if !group.iter().all(|g| self.able_here(g)) {
            return Some((false, "no healthy NIC here for its addresses".into()));
        }
        // Asked for every service at every step: reasons are static unless they name the peer.
        let peer = || self.peer_name();
        match self.peer_status() {
            PeerStatus::Unknown | PeerStatus::Partitioned => None,
            PeerStatus::Down if s.primary == self.node => {
                Some((true, "protected, and the peer is down".into()))
            }
            PeerStatus::Down => Some((true, format!("{} is down: taking it over", peer()).into())),
            PeerStatus::Up => {
                if s.runner != self.node {
                    // Stopping is always safe; starting waits for agreement.
                    return if s.phase == Phase::Stopped {
                        None
                    } else {
                        Some((false, format!("it belongs on {}", peer()).into()))
                    };
                }
                if !self.peer_in_sync() || !self.agreed(&group) {
                    return None;
                }
                if s.phase != Phase::Stopped {
                    return Some((true, "".into()));
                }
                // Start only in two-way contact: a peer that does not hear us yet (we just
                // booted, or a link is one-way) may be taking the service over this moment.
                if !self.peer.as_ref().is_some_and(|p| p.hears_me) {
                    return None;
                }
                // Start only once the peer has the whole group stopped.
                if group
                    .iter()
                    .all(|g| self.peer_svc(g).is_some_and(|p| p.phase == Phase::Stopped))
                {
                    let why: Cow<'static, str> = if s.primary == self.node {
                        "protected; the peer stands by".into()
                    } else {
                        format!("{} cannot run it: taking it over", peer()).into()
                    };
                    Some((true, why))
                } else {
                    None
                }
            }
        }
    }

    fn reconcile(&mut self, name: &str) {
        let Some(s) = self.services.get(name) else {
            return;
        };
        if s.inflight.is_some() {
            return;
        }
        if !s.plan.is_empty() {
            // A plan adopted from a previous hasvrd has not begun yet.
            self.advance(name);
            return;
        }
        let phase = s.phase;
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(name) else {
            return;
        };
        match (phase, self.placement(name)) {
            (Phase::Stopped, Some((true, why))) => {
                self.log(
                    Level::Info,
                    format!("service {name}: starting here ({why})"),
                );
                self.begin(
                    name,
                    Phase::Starting,
                    start_plan(cfg).into(),
                    AfterStop::Rest,
                );
            }
            (Phase::Running, Some((false, why))) => {
                self.log(
                    Level::Info,
                    format!("service {name}: stopping here ({why})"),
                );
                self.begin(
                    name,
                    Phase::Stopping,
                    stop_plan(cfg, self.has_agent(name)).into(),
                    AfterStop::Rest,
                );
            }
            (Phase::Stopping, _) => {
                // An adopted half-finished plan that ran out: it is stopped now.
                self.finish_stop(name);
            }
            _ => {}
        }
    }

    fn has_agent(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| s.agent.is_some())
    }

    fn begin(&mut self, name: &str, phase: Phase, plan: VecDeque<Step>, after: AfterStop) {
        if let Some(s) = self.services.get_mut(name) {
            s.phase = phase;
            s.plan = plan;
            s.after_stop = after;
            if phase == Phase::Starting {
                s.started_steps.clear();
            }
        }
        self.advance(name);
    }

    /// Runs the next step of the service's plan, or finishes the plan.
    fn advance(&mut self, name: &str) {
        loop {
            let config = Arc::clone(&self.config);
            let Some(cfg) = config.service(name) else {
                return;
            };
            let Some(s) = self.services.get_mut(name) else {
                return;
            };
            if s.inflight.is_some() {
                return;
            }
            let Some(step) = s.plan.pop_front() else {
                match s.phase {
                    Phase::Starting => {
                        s.phase = Phase::Running;
                        self.log(
                            Level::Info,
                            format!("service {name}: running here ({})", self.state_word(name)),
                        );
                    }
                    Phase::Stopping => self.finish_stop(name),
                    _ => {}
                }
                return;
            };
            match step {
                Step::StartAgent => {
                    let id = self.next_agent;
                    self.next_agent += 1;
                    s.agent = Some(Agent {
                        id,
                        pid: None,
                        token: 0,
                        started: self.now,
                        last_ok: None,
                        next_reply: self.now,
                        closed: false,
                        stopping: false,
                        intruder_logged: None,
                    });
                    // Done when the executor reports its pid: the state says "running" only
                    // once the agent that proves it is on disk too.
                    s.inflight = Some((step, 0));
                    self.out.push(Action::StartAgent {
                        service: name.to_string(),
                        agent: id,
                    });
                    return;
                }
                Step::StopAgent => {
                    // Wait for its exit: the executor reports one even for an agent it lost.
                    let Some(a) = s.agent.as_mut() else { continue };
                    a.stopping = true;
                    let id = a.id;
                    s.inflight = Some((step, 0));
                    self.out.push(Action::StopAgent {
                        service: name.to_string(),
                        agent: id,
                    });
                    return;
                }
                Step::AddIps | Step::DelIps if cfg.active_ip.is_empty() => continue,
                _ => {
                    let task = self.next_task;
                    self.next_task += 1;
                    s.inflight = Some((step, task));
                    self.tasks.insert(task, name.to_string());
                    let timeout = match step {
                        Step::StartScript | Step::StopScript => cfg.start_timeout,
                        _ => cfg.start_timeout.max(30_000),
                    };
                    let nic = if step == Step::AddIps {
                        self.pick_nic(name)
                    } else {
                        None
                    };
                    if let Some(s) = self.services.get_mut(name) {
                        match step {
                            Step::AddIps => s.vip_nic = nic.clone(),
                            Step::DelIps => s.vip_nic = None,
                            _ => {}
                        }
                    }
                    self.out.push(Action::Run {
                        task,
                        service: name.to_string(),
                        step,
                        timeout,
                        nic,
                    });
                    return;
                }
            }
        }
    }

    fn task_done(&mut self, task: TaskId, result: Result<(), String>) {
        let Some(name) = self.tasks.remove(&task) else {
            return;
        };
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(&name) else {
            return;
        };
        let Some(s) = self.services.get_mut(&name) else {
            return;
        };
        let Some((step, _)) = s.inflight.take() else {
            return;
        };
        match (s.phase, result) {
            (Phase::Starting, Ok(())) => {
                s.started_steps.push(step);
                self.advance(&name);
            }
            (Phase::Starting | Phase::Running, Err(why)) => {
                let what = format!("{} failed: {why}", step.describe(cfg));
                self.failure(&name, what);
            }
            (_, Ok(())) => self.advance(&name),
            (_, Err(why)) => {
                if matches!(step, Step::Umount(_)) {
                    s.after_stop = AfterStop::Error;
                    s.last_failure = Some(format!("{} failed: {why}", step.describe(cfg)));
                    self.log(Level::Error, format!("service {name}: {} failed: {why}; the volume stays here, so the service is left in ERROR and will not move", step.describe(cfg)));
                } else {
                    self.log(
                        Level::Warning,
                        format!(
                            "service {name}: {} failed: {why}; going on with the stop",
                            step.describe(cfg)
                        ),
                    );
                }
                self.advance(&name);
            }
        }
    }

    /// A failure of a running or starting service: restart locally while allowed, else give up here.
    fn failure(&mut self, name: &str, what: String) {
        let now = self.now;
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(name) else {
            return;
        };
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if matches!(s.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        s.failures
            .retain(|&t| now.saturating_sub(t) < cfg.start_timeout);
        s.failures.push(now);
        s.last_failure = Some(what.clone());
        let n = s.failures.len() as u32;
        let started: Vec<Step> = std::mem::take(&mut s.started_steps);
        let plan: VecDeque<Step> = if s.phase == Phase::Starting {
            // Undo only what this start brought up, plus the stop script, in reverse.
            stop_plan(cfg, s.agent.is_some())
                .into_iter()
                .filter(|st| match st {
                    Step::StopScript | Step::StopAgent => true,
                    Step::DelIps => started.contains(&Step::AddIps),
                    Step::Umount(i) => started.contains(&Step::Mount(*i)),
                    _ => false,
                })
                .collect()
        } else {
            stop_plan(cfg, s.agent.is_some()).into()
        };
        if n <= cfg.restart_times {
            self.log(
                Level::Warning,
                format!(
                    "service {name}: {what}; restarting it here (restart {n} of {} within {})",
                    cfg.restart_times,
                    human(cfg.start_timeout)
                ),
            );
            self.begin(name, Phase::Stopping, plan, AfterStop::Restart);
        } else {
            let why = if cfg.restart_times == 0 {
                "no local restarts configured".to_string()
            } else {
                format!(
                    "{} restarts within {} used up",
                    cfg.restart_times,
                    human(cfg.start_timeout)
                )
            };
            let peer = self.peer_name();
            let next = if self.peer_status() == PeerStatus::Up {
                format!("handing it to {peer}")
            } else {
                format!("{peer} is down, so it stays stopped")
            };
            self.log(Level::Error, format!("service {name}: {what}; {why}: stopping it here and leaving it in ERROR; {next}"));
            self.begin(name, Phase::Stopping, plan, AfterStop::Error);
        }
    }

    fn finish_stop(&mut self, name: &str) {
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(name) else {
            return;
        };
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        s.phase = Phase::Stopped;
        s.agent = None;
        s.started_steps.clear();
        match s.after_stop {
            AfterStop::Restart if s.protected && !s.error && self.shutting_down.is_none() => {
                s.after_stop = AfterStop::Rest;
                self.log(
                    Level::Info,
                    format!("service {name}: stopped; starting it again"),
                );
                self.begin(
                    name,
                    Phase::Starting,
                    start_plan(cfg).into(),
                    AfterStop::Rest,
                );
            }
            AfterStop::Error => {
                s.error = true;
                s.error_was_active = s.primary == self.node;
                s.after_stop = AfterStop::Rest;
                let word = self.state_word(name);
                self.log(Level::Error, format!("service {name}: stopped here, state {word}; bring it in again once the cause is fixed"));
            }
            _ => {
                s.after_stop = AfterStop::Rest;
                let word = self.state_word(name);
                self.log(
                    Level::Info,
                    format!("service {name}: stopped here ({word})"),
                );
            }
        }
    }

    fn check_agents(&mut self) {
        let now = self.now;
        let mut silent = Vec::new();
        for (name, s) in &self.services {
            if s.phase != Phase::Running || s.busy() {
                continue;
            }
            let (Some(a), Some(cfg)) = (&s.agent, self.config.service(name)) else {
                continue;
            };
            if a.closed || a.stopping {
                continue;
            }
            let since = a.last_ok.unwrap_or(a.started);
            if now.saturating_sub(since) > 3 * cfg.check_interval {
                let what = match a.last_ok {
                    Some(_) => format!(
                        "agent silent for {} (3 × check_interval {})",
                        human(now - since),
                        human(cfg.check_interval)
                    ),
                    None => format!(
                        "agent has not reported within {} of its start (3 × check_interval)",
                        human(now - since)
                    ),
                };
                silent.push((name.clone(), what));
            }
        }
        for (name, what) in silent {
            self.failure(&name, what);
        }
    }

    fn agent_exited(&mut self, name: &str, agent: AgentId, how: String) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let Some(a) = s.agent.as_ref() else { return };
        if a.id != agent {
            return;
        }
        if a.stopping {
            s.agent = None;
            if matches!(s.inflight, Some((Step::StopAgent, _))) {
                s.inflight = None;
                self.advance(name);
            }
            return;
        }
        let closed = a.closed;
        s.agent = None;
        if matches!(s.inflight, Some((Step::StartAgent, _))) {
            // It could not start at all.
            s.inflight = None;
        }
        if closed {
            self.log(Level::Info, format!("service {name}: agent ended ({how}) after apiclose; the service is no longer monitored"));
            return;
        }
        if s.phase == Phase::Running || s.phase == Phase::Starting {
            self.failure(name, format!("agent ended ({how})"));
        }
    }

    fn api(&mut self, call: ApiCall, name: &str, reply: Option<ReplyTo>, caller: Option<u32>) {
        let now = self.now;
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(name) else {
            self.reply(reply, Reply::err(format!("no service named '{name}'")));
            return;
        };
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let live = s.phase == Phase::Running && !s.busy();
        let Some(a) = s.agent.as_mut().filter(|a| live && !a.stopping) else {
            // Not running here, or being stopped: the agent is not wanted.
            self.reply(reply, Reply::stop());
            return;
        };
        // Only the agent hasvrd started (its process group) reports for the service: a
        // second caller must neither take the agent's paced replies nor vouch for its health.
        if a.pid.is_none() || caller != a.pid {
            self.api_refused += 1;
            let agent = a
                .pid
                .map_or_else(|| "not started yet".to_string(), |p| format!("pid {p}"));
            let from = caller.filter(|&c| c != 0).map_or_else(
                || "an unknown process".to_string(),
                |c| format!("process group {c}"),
            );
            let log_now = a.intruder_logged.is_none_or(|t| now >= t + 60_000);
            if log_now {
                a.intruder_logged = Some(now);
            }
            let text = format!("service {name}: {} from {from} ignored: only the service's agent ({agent}) reports its health; use APICMD.x for commands", call.word());
            if log_now {
                self.log(Level::Warning, text.clone());
            }
            self.reply(reply, Reply::err(text));
            return;
        }
        match call {
            ApiCall::Open => {
                a.closed = false;
                a.last_ok = Some(now);
                self.reply(reply, Reply::ok(""));
            }
            ApiCall::Ok => {
                a.last_ok = Some(now);
                a.closed = false;
                // Pacing: an agent calling in a tight loop is answered once a check_interval.
                let at = a.next_reply.max(now);
                a.next_reply = at + cfg.check_interval;
                if let Some(to) = reply {
                    self.out.push(Action::Reply {
                        to,
                        reply: Reply::ok(""),
                        at,
                    });
                }
            }
            ApiCall::Close => {
                a.closed = true;
                self.log(
                    Level::Info,
                    format!("service {name}: agent called apiclose; monitoring stops"),
                );
                self.reply(reply, Reply::ok(""));
            }
            ApiCall::Err => {
                self.reply(reply, Reply::ok(""));
                self.failure(name, "agent reported an error (apierr)".into());
            }
        }
    }

    fn command(&mut self, cmd: Command, reply: Option<ReplyTo>, caller: Option<u32>) {
        if self.shutting_down.is_some()
            && cmd.changes_anything()
            && !matches!(cmd, Command::Api(..) | Command::Stop)
        {
            self.reply(reply, Reply::err("SureHA is stopping on this node"));
            return;
        }
        match cmd {
            Command::Api(call, name) => self.api(call, &name, reply, caller),
            Command::Status => {
                let text = self.status_text();
                self.reply(reply, Reply::ok(text));
            }
            Command::Network => {
                let text = self.nic_lines(true);
                self.reply(reply, Reply::ok(text));
            }
            Command::ServiceState(name) => match self.services.contains_key(&name) {
                true => {
                    let w = self.state_word(&name);
                    self.reply(reply, Reply::ok(format!("{w}\n")));
                }
                false => self.reply(reply, Reply::err(format!("no service named '{name}'"))),
            },
            Command::ServiceReview(name) => match self.config.service(&name) {
                Some(s) => {
                    let mut text = format!("[service {name}]\n");
                    for (k, v) in &s.keys {
                        text.push_str(&format!("{k} = {v}\n"));
                    }
                    text.push_str(&format!("# state here: {}\n", self.state_word(&name)));
                    self.reply(reply, Reply::ok(text));
                }
                None => self.reply(reply, Reply::err(format!("no service named '{name}'"))),
            },
            Command::PrivnetReview(name) => match self.config.link(&name) {
                Some(l) => {
                    let mut text = format!("[privnet {name}]\n");
                    text.push_str(&format!("type = {}\npriority = {}\ninterval = {}\nmaxmiss = {}\nhost1 = {}\nhost2 = {}\n", l.type_name(), l.priority, human(l.interval), l.maxmiss, l.host1, l.host2));
                    match &l.kind {
                        config::LinkKind::Socket { ip1, ip2, port } => {
                            text.push_str(&format!("ip1 = {ip1}\nip2 = {ip2}\nport = {port}\n"))
                        }
                        config::LinkKind::Rs232 {
                            device1,
                            device2,
                            baudrate,
                        } => text.push_str(&format!(
                            "device1 = {device1}\ndevice2 = {device2}\nbaudrate = {baudrate}\n"
                        )),
                    }
                    self.reply(reply, Reply::ok(text));
                }
                None => self.reply(reply, Reply::err(format!("no privnet named '{name}'"))),
            },
            Command::PrivnetState(name) => match self.config.link(&name) {
                Some(_) => {
                    let w = self.link_word(&name);
                    self.reply(reply, Reply::ok(format!("{w}\n")));
                }
                None => self.reply(reply, Reply::err(format!("no privnet named '{name}'"))),
            },
            Command::ServiceCreate(name, kvs) => {
                self.edit_config(reply, Edit::Create("service", name, kvs))
            }
            Command::PrivnetCreate(ty, name, mut kvs) => {
                kvs.retain(|(k, _)| k != "type");
                kvs.insert(0, ("type".into(), ty));
                self.edit_config(reply, Edit::Create("privnet", name, kvs))
            }
            Command::ServiceRemove(name) => self.edit_config(reply, Edit::Remove("service", name)),
            Command::PrivnetRemove(name) => self.edit_config(reply, Edit::Remove("privnet", name)),
            Command::Operate(op, name) => self.operate(op, &name, reply),
            Command::Stop => self.shutdown(true, reply),
            Command::Reload => {
                if let Some(r) = reply {
                    self.pending_reload.push(r);
                }
                self.out.push(Action::ReadConfig);
            }
            Command::Dump => {
                for line in self.dump() {
                    self.log(Level::Info, line);
                }
                let text = self.dump().join("\n");
                self.reply(reply, Reply::ok(text));
            }
        }
    }

    fn operate(&mut self, op: Operation, name: &str, reply: Option<ReplyTo>) {
        if !self.services.contains_key(name) {
            self.reply(reply, Reply::err(format!("no service named '{name}'")));
            return;
        }
        let peer = self.peer_name();
        let me = self.node.clone();
        let group = self.group_of(name);
        let with = if group.len() > 1 {
            format!(" (with its group: {})", group.join(" "))
        } else {
            String::new()
        };
        let running_here = self
            .services
            .get(name)
            .is_some_and(|s| s.phase != Phase::Stopped);
        let running_there = self
            .peer_svc(name)
            .is_some_and(|p| p.phase != Phase::Stopped);
        let error_here = group
            .iter()
            .any(|g| self.services.get(g).is_some_and(|s| s.error));
        let error_there = group
            .iter()
            .any(|g| self.peer_svc(g).is_some_and(|p| p.error));
        let protected = self.services.get(name).is_some_and(|s| s.protected);
        let refuse = |e: &mut Engine, why: String| {
            e.reply(
                reply.clone(),
                Reply::err(format!("cannot {} service {name}: {why}", op.word())),
            )
        };
        match op {
            Operation::BringIn => {
                if protected && !error_here && !error_there && (running_here || running_there) {
                    let r = Reply::ok(format!(
                        "service {name} is already in protection and runs on {}\n",
                        if running_here { &me } else { &peer }
                    ));
                    self.reply(reply, r);
                    return;
                }
                self.bump(&group, |s| {
                    s.protected = true;
                    s.resets = s.resets.wrapping_add(1);
                });
                for g in group.iter() {
                    if let Some(s) = self.services.get_mut(g) {
                        s.error = false;
                        s.failures.clear();
                        s.last_failure = None;
                    }
                }
                self.log(
                    Level::Info,
                    format!("service {name}: brought into protection by the administrator{with}"),
                );
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningSomewhere,
                    format!("service {name} brought in\n"),
                );
            }
            Operation::BringOut => {
                self.bump(&group, |s| s.protected = false);
                for g in group.iter() {
                    if let Some(s) = self.services.get_mut(g) {
                        s.error = false;
                    }
                }
                self.log(
                    Level::Info,
                    format!("service {name}: brought out of protection by the administrator{with}"),
                );
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::StoppedEverywhere,
                    format!("service {name} brought out\n"),
                );
            }
            Operation::FailOver | Operation::TakeOver if self.peer_status() != PeerStatus::Up => {
                refuse(self, format!("peer {peer} is not reachable"));
            }
            Operation::FailOver | Operation::TakeOver if !self.peer_in_sync() => {
                refuse(
                    self,
                    format!(
                        "the configuration differs from {peer}'s; wait for it to be synchronised"
                    ),
                );
            }
            Operation::FailOver if !running_here => {
                refuse(
                    self,
                    format!(
                        "it does not run here ({}); fail it over on the node that runs it",
                        self.state_word(name)
                    ),
                );
            }
            Operation::FailOver if error_there => refuse(
                self,
                format!("it is in ERROR on {peer}; bring it in again first"),
            ),
            Operation::FailOver => {
                self.bump(&group, |s| {
                    s.primary = peer.clone();
                    s.runner = peer.clone();
                });
                self.log(Level::Info, format!("service {name}: failing over to {peer} at the administrator's request{with}"));
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningOnPeer,
                    format!("service {name} now runs on {peer}\n"),
                );
            }
            Operation::TakeOver if !protected => {
                refuse(self, "it is out of protection; bring it in first".into())
            }
            Operation::TakeOver if error_here => {
                refuse(self, "it is in ERROR here; bring it in again first".into())
            }
            Operation::TakeOver if running_here => {
                self.reply(
                    reply,
                    Reply::ok(format!("service {name} already runs here\n")),
                );
            }
            Operation::TakeOver => {
                self.bump(&group, |s| {
                    s.primary = me.clone();
                    s.runner = me.clone();
                });
                self.log(Level::Info, format!("service {name}: taking it over from {peer} at the administrator's request{with}"));
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningHere,
                    format!("service {name} now runs here\n"),
                );
            }
        }
    }

    fn wait(
        &mut self,
        reply: Option<ReplyTo>,
        service: Option<&str>,
        until: WaitFor,
        done_text: String,
    ) {
        let Some(to) = reply else { return };
        let limit = service
            .and_then(|n| self.config.service(n))
            .map_or(60_000, |c| {
                2 * c.start_timeout * (c.restart_times as Millis + 2) + 30_000
            });
        self.waiters.push(Waiter {
            service: service.map(str::to_string),
            to,
            until,
            done_text,
            deadline: self.now + limit,
        });
    }

    fn settle_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        let peer = self.peer_name();
        for w in waiters {
            let name = w.service.clone().unwrap_or_default();
            let s = self.services.get(&name);
            let p = self.peer_svc(&name);
            let peer_down = self.peer_status() == PeerStatus::Down;
            let failed_here = || {
                format!(
                    "service {name} failed here ({}): {}",
                    self.state_word(&name),
                    s.and_then(|s| s.last_failure.as_deref())
                        .unwrap_or("see the log")
                )
            };
            let outcome: Option<Reply> = match (&w.until, s) {
                (WaitFor::Exit, _) => None,
                (_, None) => Some(Reply::err("the service was removed meanwhile")),
                (_, Some(_)) if self.now >= w.deadline => Some(Reply::err(format!(
                    "service {name}: not done in the time allowed; it is {} here; see the log",
                    self.state_word(&name)
                ))),
                (WaitFor::RunningHere, Some(s)) if s.phase == Phase::Running && !s.busy() => {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::RunningHere, Some(s)) if s.error => Some(Reply::err(failed_here())),
                (WaitFor::RunningSomewhere, Some(s)) if s.phase == Phase::Running && !s.busy() => {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::RunningSomewhere, Some(_))
                    if p.is_some_and(|p| p.phase == Phase::Running) =>
                {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::RunningSomewhere, Some(s))
                    if s.error && (peer_down || p.is_some_and(|p| p.error)) =>
                {
                    Some(Reply::err(failed_here()))
                }
                (WaitFor::RunningSomewhere | WaitFor::RunningHere, Some(s)) if !s.protected => {
                    Some(Reply::err("brought out again before it started"))
                }
                (WaitFor::RunningOnPeer, Some(_))
                    if p.is_some_and(|p| p.phase == Phase::Running) =>
                {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::RunningOnPeer, Some(_)) if p.is_some_and(|p| p.error) => {
                    Some(Reply::err(format!(
                        "service {name} failed to start on {peer}; see the log there"
                    )))
                }
                (WaitFor::RunningOnPeer, Some(_)) if peer_down => Some(Reply::err(format!(
                    "{peer} went down during the move; the service stays here"
                ))),
                (WaitFor::StoppedEverywhere, Some(s))
                    if s.phase == Phase::Stopped
                        && (peer_down
                            || self.peer_status() == PeerStatus::Unknown
                            || p.is_none_or(|p| p.phase == Phase::Stopped)) =>
                {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::StoppedEverywhere, Some(s)) if s.protected => {
                    Some(Reply::err("brought in again before it stopped"))
                }
                _ => None,
            };
            match outcome {
                Some(r) => self.reply(Some(w.to), r),
                None => self.waiters.push(w),
            }
        }
    }

    fn shutdown(&mut self, touch: bool, reply: Option<ReplyTo>) {
        if self.shutting_down.is_none() && touch {
            // An orderly stop is a planned move: the peer takes every service over as soon
            // as it is stopped here, instead of noticing our silence much later.
            self.hand_over_all();
        }
        if self.shutting_down.is_none() {
            self.shutting_down = Some(touch);
            let what = if touch {
                "stopping the services running here, then leaving"
            } else {
                "leaving without touching services (they keep running and are adopted at the next start)"
            };
            self.log(Level::Info, format!("SureHA stops on this node: {what}"));
        }
        self.wait(
            reply,
            None,
            WaitFor::Exit,
            "SureHA stopped on this node\n".into(),
        );
    }

    fn maybe_exit(&mut self) {
        let Some(touch) = self.shutting_down else {
            return;
        };
        if touch
            && self
                .services
                .values()
                .any(|s| s.phase != Phase::Stopped || s.busy())
        {
            return;
        }
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            let r = if w.until == WaitFor::Exit {
                Reply::ok(w.done_text)
            } else {
                Reply::err("SureHA stopped on this node before this finished")
            };
            self.reply(Some(w.to), r);
        }
        self.out.push(Action::Exit);
        self.exited = true;
    }

    pub fn status_text(&self) -> String {
        let mut t = String::new();
        let peer = self.peer_name();
        t.push_str(&format!("NODE {} UP local\n", self.node));
        let ps = match self.peer_status() {
            PeerStatus::Up => "UP",
            PeerStatus::Down => "DOWN",
            PeerStatus::Unknown => "UNKNOWN",
            PeerStatus::Partitioned => "PARTITIONED",
        };
        t.push_str(&format!("NODE {peer} {ps}\n"));
        if self.peer_status() == PeerStatus::Partitioned {
            t.push_str(
                "CLUSTER PARTITIONED private links down, the peer answers on the public network\n",
            );
        }
        for l in &self.config.links {
            let stats = self.links.get(&l.name).map_or("", |v| v.stats.as_str());
            let stats = if stats.is_empty() {
                String::new()
            } else {
                format!(" {stats}")
            };
            t.push_str(&format!(
                "LINK {} {} {}{stats}\n",
                l.name,
                l.type_name(),
                self.link_word(&l.name)
            ));
        }
        let sync = match &self.peer {
            _ if self.peer_status() != PeerStatus::Up => "UNKNOWN",
            Some(p) if p.digest == self.digest => "SAME",
            Some(p) if p.generation > self.generation => "PEER-NEWER",
            Some(p) if p.generation < self.generation => "PEER-OLDER",
            _ => "CONFLICT",
        };
        t.push_str(&self.nic_lines(false));
        t.push_str(&format!("CONFIG generation={} {sync}\n", self.generation));
        if self.requests_dropped + self.api_refused > 0 {
            // What reached the FIFO and was not acted on (details in the log).
            t.push_str(&format!(
                "REQUESTS dropped={} refused={}\n",
                self.requests_dropped, self.api_refused
            ));
        }
        for s in &self.config.services {
            let peer_word = self
                .peer_svc(&s.name)
                .map_or("UNKNOWN", |p| crate::frame::word_of(p.word));
            t.push_str(&format!(
                "SERVICE {} {} {}={} {peer}={peer_word}\n",
                s.name,
                s.stype,
                self.node,
                self.state_word(&s.name)
            ));
        }
        t
    }

    /// A readable picture of the engine's state (SIGUSR1).
    pub fn dump(&self) -> Vec<String> {
        let mut v = vec![format!(
            "dump: node {} peer {:?} shutting_down {:?} tasks in flight {} waiters {}",
            self.node,
            self.peer_status(),
            self.shutting_down,
            self.tasks.len(),
            self.waiters.len()
        )];
        for (n, s) in &self.services {
            v.push(format!(
                "dump: service {n} state {} phase {:?} protected {} primary {} runner {:?} epoch {} resets {} peer {:?} error {} failures {} plan {:?} inflight {:?} agent {}",
                self.state_word(n),
                s.phase,
                s.protected,
                s.primary,
                s.runner,
                s.epoch,
                s.resets,
                self.peer_svc(n).map(|p| (p.phase, p.protected, p.error, p.unable, p.primary.clone(), p.runner.clone(), p.epoch, p.resets)),
                s.error,
                s.failures.len(),
                s.plan,
                s.inflight.map(|(st, _)| st),
                s.agent.as_ref().map_or("none".to_string(), |a| format!("id {} pid {:?} last_ok {:?} closed {}", a.id, a.pid, a.last_ok.map(|t| self.now.saturating_sub(t)), a.closed)),
            ));
        }
        v
    }

    fn edit_config(&mut self, reply: Option<ReplyTo>, edit: Edit) {
        if self.pending_write.is_some() {
            self.reply(
                reply,
                Reply::err("another configuration change is in progress; try again"),
            );
            return;
        }
        let peer = self.peer_name();
        if self.peer_status() != PeerStatus::Up {
            self.reply(reply, Reply::err(format!("peer {peer} is not reachable: creating or removing a service or link needs both nodes, so that they keep one configuration")));
            return;
        }
        if !self.peer_in_sync() {
            self.reply(reply, Reply::err(format!("the configuration differs from {peer}'s (see haadm status); wait for it to be synchronised")));
            return;
        }
        if !self.peer.as_ref().is_some_and(|p| p.hears_me) {
            self.reply(reply, Reply::err(format!("{peer} does not hear this node (a one-way link?): configuration changes need both nodes to hear each other")));
            return;
        }
        let (text, what) = match &edit {
            Edit::Create(kind, name, kvs) => {
                let exists = if *kind == "service" {
                    self.config.service(name).is_some()
                } else {
                    self.config.link(name).is_some()
                };
                if exists {
                    self.reply(reply, Reply::err(format!("{kind} '{name}' already exists")));
                    return;
                }
                (
                    config::add_section(&self.config_text, kind, name, kvs),
                    format!("{kind} {name} created"),
                )
            }
            Edit::Remove(kind, name) => {
                if *kind == "service" {
                    match self.services.get(name) {
                        None => {
                            self.reply(reply, Reply::err(format!("no service named '{name}'")));
                            return;
                        }
                        Some(s) if s.protected || s.phase != Phase::Stopped => {
                            self.reply(
                                reply,
                                Reply::err(format!(
                                    "service {name} is in protection ({}); bring it out first",
                                    self.state_word(name)
                                )),
                            );
                            return;
                        }
                        _ => {}
                    }
                }
                match config::remove_section(&self.config_text, kind, name) {
                    Some(t) => (t, format!("{kind} {name} removed")),
                    None => {
                        self.reply(reply, Reply::err(format!("no {kind} named '{name}'")));
                        return;
                    }
                }
            }
        };
        match config::parse("sureha.conf", &text) {
            Err(d) => self.reply(
                reply,
                Reply::err(format!(
                    "refused, the result would be invalid: {}",
                    d.to_string().replace('\n', "; ")
                )),
            ),
            Ok(cfg) => {
                if let Err(e) = self.acceptable(&cfg) {
                    self.reply(reply, Reply::err(format!("refused: {e}")));
                    return;
                }
                self.out.push(Action::WriteConfig {
                    expected: self.config_text.clone(),
                    text: text.clone(),
                });
                let generation = self.generation + 1;
                self.pending_write = Some(PendingWrite {
                    config: cfg,
                    text,
                    reply,
                    what,
                    generation,
                });
            }
        }
    }

    fn config_written(&mut self, r: Result<(), String>) {
        let Some(w) = self.pending_write.take() else {
            return;
        };
        match r {
            Ok(()) => {
                self.apply_config(w.config, w.text);
                self.generation = w.generation;
                self.log(
                    Level::Info,
                    format!("configuration: {} (generation {})", w.what, w.generation),
                );
                self.reply(w.reply, Reply::ok(format!("{}\n", w.what)));
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    format!("configuration: {} not written: {e}", w.what),
                );
                self.reply(
                    w.reply,
                    Reply::err(format!("configuration not changed: {e}")),
                );
            }
        }
    }

    /// Whether a new configuration can replace the running one.
    fn acceptable(&self, cfg: &Config) -> Result<(), String> {
        cfg.check_node(&self.node)?;
        for (name, s) in &self.services {
            if cfg.service(name).is_none() && (s.protected || s.phase != Phase::Stopped) {
                return Err(format!(
                    "service {name} is in protection ({}); bring it out before removing it",
                    self.state_word(name)
                ));
            }
        }
        Ok(())
    }

    fn reload(&mut self, r: Result<(Config, String), String>) {
        let waiters = std::mem::take(&mut self.pending_reload);
        let outcome = r.and_then(|(cfg, text)| {
            self.acceptable(&cfg)?;
            Ok((cfg, text))
        });
        match outcome {
            Ok((cfg, text)) => {
                let changed = text != self.config_text;
                self.apply_config(cfg, text);
                let msg = if changed {
                    // A change by hand wins over the peer's copy, which follows.
                    self.generation += 1;
                    format!("configuration reloaded (generation {})", self.generation)
                } else {
                    "configuration reloaded (unchanged)".to_string()
                };
                self.log(Level::Info, msg.clone());
                for w in waiters {
                    self.reply(Some(w), Reply::ok(format!("{msg}\n")));
                }
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    format!("configuration not reloaded, keeping the running one: {e}"),
                );
                for w in waiters {
                    self.reply(
                        Some(w),
                        Reply::err(format!(
                            "configuration not reloaded, keeping the running one: {e}"
                        )),
                    );
                }
            }
        }
    }

    fn apply_config(&mut self, cfg: Config, text: String) {
        self.digest = crate::frame::crc32(text.as_bytes());
        self.layout = Arc::new(peer::Layout::of(&cfg));
        self.config = Arc::new(cfg);
        self.config_text = text;
        let names: Vec<String> = self
            .config
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        self.services.retain(|n, _| names.contains(n));
        for n in names {
            if !self.services.contains_key(&n) {
                let svc = self.fresh_svc(&n);
                self.services.insert(n, svc);
            }
        }
        let fresh = peer::link_views(&self.config, self.now);
        let old = std::mem::take(&mut self.links);
        self.links = fresh
            .into_iter()
            .map(|(n, v)| {
                let kept = old.get(&n).map(|o| peer::LinkView {
                    interval: v.interval,
                    dead_after: v.dead_after,
                    priority: v.priority,
                    ..o.clone()
                });
                (n, kept.unwrap_or(v))
            })
            .collect();
    }

    fn persisted(&self) -> Persisted {
        Persisted {
            rebooted: false,
            generation: self.generation,
            peer_public: self.known_public.clone(),
            services: self
                .services
                .iter()
                .map(|(n, s)| PersistedService {
                    name: n.clone(),
                    protected: s.protected,
                    primary: s.primary.clone(),
                    runner: s.runner.clone(),
                    epoch: s.epoch,
                    resets: s.resets,
                    error: s.error,
                    error_was_active: s.error_was_active,
                    phase: match s.phase {
                        Phase::Stopped => SavedPhase::Stopped,
                        Phase::Running if !s.busy() => SavedPhase::Running,
                        _ => SavedPhase::Transition,
                    },
                    agent_pid: s.agent.as_ref().and_then(|a| a.pid),
                    agent_token: s.agent.as_ref().map_or(0, |a| a.token),
                })
                .collect(),
        }
    }

    fn persist_if_changed(&mut self) -> Option<Action> {
        let now = self.persisted();
        if self.last_persisted.as_ref() == Some(&now) {
            return None;
        }
        let text = now.to_text();
        self.last_persisted = Some(now);
        Some(Action::Persist(text))
    }
}

enum Edit {
    Create(&'static str, String, Vec<(String, String)>),
    Remove(&'static str, String),
}

/// Volumes, addresses, start script, agent.
pub fn start_plan(cfg: &Service) -> Vec<Step> {
    let mut p: Vec<Step> = (0..cfg.volumes.len()).map(Step::Mount).collect();
    p.push(Step::AddIps);
    p.push(Step::StartScript);
    if cfg.agent.is_some() {
        p.push(Step::StartAgent);
    }
    p
}

/// The reverse: agent, stop script, addresses, volumes.
pub fn stop_plan(cfg: &Service, agent: bool) -> Vec<Step> {
    let mut p = Vec::new();
    if agent {
        p.push(Step::StopAgent);
    }
    p.push(Step::StopScript);
    p.push(Step::DelIps);
    p.extend((0..cfg.volumes.len()).rev().map(Step::Umount));
    p
}

mod peer;

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;
