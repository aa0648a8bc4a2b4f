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
use std::collections::{BTreeMap, VecDeque};

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
}

#[derive(Clone, Debug)]
struct Svc {
    protected: bool,
    primary: String,
    phase: Phase,
    error: bool,
    last_failure: Option<String>,
    failures: Vec<Millis>,
    agent: Option<Agent>,
    plan: VecDeque<Step>,
    inflight: Option<(Step, TaskId)>,
    after_stop: AfterStop,
    phase_since: Millis,
    /// A start plan brings up what is listed here, so a failed start stops only that.
    started_steps: Vec<Step>,
}

impl Svc {
    fn busy(&self) -> bool {
        self.inflight.is_some() || !self.plan.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum WaitFor {
    Running,
    Stopped,
    Exit,
}

#[derive(Clone, Debug)]
struct Waiter {
    service: Option<String>,
    to: ReplyTo,
    until: WaitFor,
    done_text: String,
}

/// What this node knows of its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// Still in the start-up grace period.
    Unknown,
    Up,
    Down,
}

pub struct Engine {
    node: String,
    config: Config,
    config_text: String,
    services: BTreeMap<String, Svc>,
    now: Millis,
    grace_until: Millis,
    next_task: TaskId,
    next_agent: AgentId,
    tasks: BTreeMap<TaskId, String>,
    waiters: Vec<Waiter>,
    pending_write: Option<(Config, String, Option<ReplyTo>, String)>,
    pending_reload: Vec<ReplyTo>,
    shutting_down: Option<bool>,
    exited: bool,
    last_persisted: String,
    out: Vec<Action>,
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
        let mut e = Engine {
            node: node.to_string(),
            grace_until: now + grace_of(&config),
            config,
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
            last_persisted: String::new(),
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
            primary,
            phase: Phase::Stopped,
            error: false,
            last_failure: None,
            failures: Vec::new(),
            agent: None,
            plan: VecDeque::new(),
            inflight: None,
            after_stop: AfterStop::Rest,
            phase_since: self.now,
            started_steps: Vec::new(),
        }
    }

    /// Takes over what a previous hasvrd ran: running services stay running, untouched.
    fn adopt(&mut self, saved: Persisted) {
        for p in saved.services {
            let now = self.now;
            let Some(cfg) = self.config.service(&p.name).cloned() else {
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
            s.error = p.error;
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
                    });
                    watch = Some((id, pid, p.agent_token));
                }
                if p.phase == SavedPhase::Running {
                    s.phase = Phase::Running;
                    s.started_steps = start_plan(&cfg);
                    if cfg.agent.is_some() && s.agent.is_none() {
                        // Killed between spawning the agent and saving its pid: a new one.
                        s.plan.push_back(Step::StartAgent);
                    }
                } else {
                    // We do not know how far it got: stop everything, then decide afresh.
                    s.phase = Phase::Stopping;
                    s.plan = stop_plan(&cfg, s.agent.is_some()).into();
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
                    self.log(Level::Warning, format!("service {}: the previous hasvrd died in the middle of starting or stopping it; stopping it cleanly before deciding again", p.name));
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
            Input::Command { cmd, reply } => self.command(cmd, reply),
            Input::TaskDone { task, result } => self.task_done(task, result),
            Input::AgentSpawned {
                service,
                agent,
                pid,
                token,
            } => {
                if let Some(a) = self
                    .services
                    .get_mut(&service)
                    .and_then(|s| s.agent.as_mut())
                {
                    if a.id == agent {
                        a.pid = Some(pid);
                        a.token = token;
                    }
                }
            }
            Input::AgentExited {
                service,
                agent,
                how,
            } => self.agent_exited(&service, agent, how),
            Input::ConfigWritten(r) => self.config_written(r),
            Input::Reload(r) => self.reload(r),
            Input::Shutdown { touch_resources } => self.shutdown(touch_resources, None),
        }
        self.check_agents();
        let names: Vec<String> = self.services.keys().cloned().collect();
        for n in &names {
            self.reconcile(n);
        }
        self.settle_waiters();
        self.maybe_exit();
        let mut out = std::mem::take(&mut self.out);
        // Write-ahead: the state is on disk before anything of this step is done or seen,
        // so a hasvrd killed at any point is succeeded by one that knows what runs.
        if let Some(p) = self.persist_if_changed() {
            out.insert(0, p);
        }
        out
    }

    /// The nearest time something is due (agent silence, end of grace).
    pub fn next_wakeup(&self) -> Option<Millis> {
        let mut t: Option<Millis> = None;
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

    pub fn peer_status(&self) -> PeerStatus {
        if self.now < self.grace_until {
            PeerStatus::Unknown
        } else {
            // Heartbeats arrive with the next issue; until then the peer is never heard.
            PeerStatus::Down
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
            if self.peer_status() != PeerStatus::Up {
                "ACTIVEACT"
            } else if act {
                "ACTIVE"
            } else {
                "ACTIVESTB"
            }
        } else if s.error {
            if act {
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

    /// Should this service run here, elsewhere, or is it too early to say?
    fn placement(&self, s: &Svc) -> Option<bool> {
        match self.shutting_down {
            Some(true) => return Some(false),
            // Leaving without touching resources: whatever runs keeps running.
            Some(false) => return None,
            None => {}
        }
        if !s.protected || s.error {
            return Some(false);
        }
        match self.peer_status() {
            PeerStatus::Unknown => None,
            PeerStatus::Down => Some(true),
            PeerStatus::Up => None,
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
        let Some(cfg) = self.config.service(name).cloned() else {
            return;
        };
        match (s.phase, self.placement(s)) {
            (Phase::Stopped, Some(true)) => {
                let why = if s.primary == self.node {
                    "protected, and the peer is down"
                } else {
                    "protected, and the peer is down: taking it over"
                };
                self.log(
                    Level::Info,
                    format!("service {name}: starting here ({why})"),
                );
                self.begin(
                    name,
                    Phase::Starting,
                    start_plan(&cfg).into(),
                    AfterStop::Rest,
                );
            }
            (Phase::Running, Some(false)) => {
                let why = if self.shutting_down.is_some() {
                    "SureHA is stopping on this node"
                } else {
                    "brought out of protection"
                };
                self.log(
                    Level::Info,
                    format!("service {name}: stopping here ({why})"),
                );
                self.begin(
                    name,
                    Phase::Stopping,
                    stop_plan(&cfg, self.has_agent(name)).into(),
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
        let now = self.now;
        if let Some(s) = self.services.get_mut(name) {
            s.phase = phase;
            s.phase_since = now;
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
            let Some(cfg) = self.config.service(name).cloned() else {
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
                        s.phase_since = self.now;
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
                    });
                    s.started_steps.push(step);
                    self.out.push(Action::StartAgent {
                        service: name.to_string(),
                        agent: id,
                    });
                    continue;
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
                    self.out.push(Action::Run {
                        task,
                        service: name.to_string(),
                        step,
                        timeout,
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
        let Some(cfg) = self.config.service(&name).cloned() else {
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
            (Phase::Starting, Err(why)) => {
                let what = format!("{} failed: {why}", step.describe(&cfg));
                self.failure(&name, what);
            }
            (_, Ok(())) => self.advance(&name),
            (_, Err(why)) => {
                if matches!(step, Step::Umount(_)) {
                    s.after_stop = AfterStop::Error;
                    s.last_failure = Some(format!("{} failed: {why}", step.describe(&cfg)));
                    self.log(Level::Error, format!("service {name}: {} failed: {why}; the volume stays here, so the service is left in ERROR and will not move", step.describe(&cfg)));
                } else {
                    self.log(
                        Level::Warning,
                        format!(
                            "service {name}: {} failed: {why}; going on with the stop",
                            step.describe(&cfg)
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
        let Some(cfg) = self.config.service(name).cloned() else {
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
            stop_plan(&cfg, s.agent.is_some())
                .into_iter()
                .filter(|st| match st {
                    Step::StopScript | Step::StopAgent => true,
                    Step::DelIps => started.contains(&Step::AddIps),
                    Step::Umount(i) => started.contains(&Step::Mount(*i)),
                    _ => false,
                })
                .collect()
        } else {
            stop_plan(&cfg, s.agent.is_some()).into()
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
        let now = self.now;
        let Some(cfg) = self.config.service(name).cloned() else {
            return;
        };
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        s.phase = Phase::Stopped;
        s.phase_since = now;
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
                    start_plan(&cfg).into(),
                    AfterStop::Rest,
                );
            }
            AfterStop::Error => {
                s.error = true;
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
        if closed {
            self.log(Level::Info, format!("service {name}: agent ended ({how}) after apiclose; the service is no longer monitored"));
            return;
        }
        if s.phase == Phase::Running || s.phase == Phase::Starting {
            self.failure(name, format!("agent ended ({how})"));
        }
    }

    fn api(&mut self, call: ApiCall, name: &str, reply: Option<ReplyTo>) {
        let now = self.now;
        let Some(cfg) = self.config.service(name).cloned() else {
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

    fn command(&mut self, cmd: Command, reply: Option<ReplyTo>) {
        if self.shutting_down.is_some()
            && cmd.changes_anything()
            && !matches!(cmd, Command::Api(..) | Command::Stop)
        {
            self.reply(reply, Reply::err("SureHA is stopping on this node"));
            return;
        }
        match cmd {
            Command::Api(call, name) => self.api(call, &name, reply),
            Command::Status => {
                let text = self.status_text();
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
        let peer_up = self.peer_status() == PeerStatus::Up;
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        match op {
            Operation::BringIn => {
                if s.protected && !s.error && s.phase == Phase::Running {
                    self.reply(
                        reply,
                        Reply::ok(format!(
                            "service {name} is already in protection and runs here\n"
                        )),
                    );
                    return;
                }
                s.protected = true;
                s.error = false;
                s.failures.clear();
                s.last_failure = None;
                self.log(
                    Level::Info,
                    format!("service {name}: brought into protection by the administrator"),
                );
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::Running,
                    format!("service {name} brought in\n"),
                );
            }
            Operation::BringOut => {
                let was_running = s.phase != Phase::Stopped;
                s.protected = false;
                s.error = false;
                self.log(
                    Level::Info,
                    format!("service {name}: brought out of protection by the administrator"),
                );
                if was_running {
                    self.wait(
                        reply,
                        Some(name),
                        WaitFor::Stopped,
                        format!("service {name} brought out\n"),
                    );
                } else {
                    self.reply(reply, Reply::ok(format!("service {name} brought out\n")));
                }
            }
            Operation::FailOver | Operation::TakeOver if !peer_up => {
                self.reply(
                    reply,
                    Reply::err(format!(
                        "cannot {} service {name}: peer {peer} is not reachable",
                        op.word()
                    )),
                );
            }
            Operation::FailOver | Operation::TakeOver => {
                self.reply(reply, Reply::err(format!("cannot {} service {name}: moving services between nodes is not available yet", op.word())));
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
        if let Some(to) = reply {
            self.waiters.push(Waiter {
                service: service.map(str::to_string),
                to,
                until,
                done_text,
            });
        }
    }

    fn settle_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            let s = w.service.as_ref().and_then(|n| self.services.get(n));
            let outcome: Option<Reply> = match (&w.until, s) {
                (WaitFor::Exit, _) => None,
                (_, None) => Some(Reply::err("the service was removed meanwhile")),
                (WaitFor::Running, Some(s)) if s.error => Some(Reply::err(format!(
                    "service {} failed here ({}): {}",
                    w.service.as_deref().unwrap_or(""),
                    self.state_word(w.service.as_deref().unwrap_or("")),
                    s.last_failure.as_deref().unwrap_or("see the log")
                ))),
                (WaitFor::Running, Some(s)) if !s.protected => {
                    Some(Reply::err("brought out again before it started"))
                }
                (WaitFor::Running, Some(s)) if s.phase == Phase::Running && !s.busy() => {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::Stopped, Some(s)) if s.phase == Phase::Stopped => {
                    Some(Reply::ok(w.done_text.clone()))
                }
                (WaitFor::Stopped, Some(s)) if s.protected => {
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

    fn link_word(&self, _name: &str) -> &'static str {
        // Heartbeat processes come with the next issue; no link carries frames yet.
        "ERR"
    }

    pub fn status_text(&self) -> String {
        let mut t = String::new();
        let peer = self.peer_name();
        t.push_str(&format!("NODE {} UP local\n", self.node));
        let ps = match self.peer_status() {
            PeerStatus::Up => "UP",
            PeerStatus::Down => "DOWN",
            PeerStatus::Unknown => "UNKNOWN",
        };
        t.push_str(&format!("NODE {peer} {ps}\n"));
        for l in &self.config.links {
            t.push_str(&format!(
                "LINK {} {} {}\n",
                l.name,
                l.type_name(),
                self.link_word(&l.name)
            ));
        }
        for s in &self.config.services {
            let peer_word = "UNKNOWN";
            let (a, b) = (self.node.clone(), peer.clone());
            t.push_str(&format!(
                "SERVICE {} {} {a}={} {b}={peer_word}\n",
                s.name,
                s.stype,
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
                "dump: service {n} state {} phase {:?} protected {} primary {} error {} failures {} plan {:?} inflight {:?} agent {}",
                self.state_word(n),
                s.phase,
                s.protected,
                s.primary,
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
                self.pending_write = Some((cfg, text, reply, what));
            }
        }
    }

    fn config_written(&mut self, r: Result<(), String>) {
        let Some((cfg, text, reply, what)) = self.pending_write.take() else {
            return;
        };
        match r {
            Ok(()) => {
                self.apply_config(cfg, text);
                self.log(
                    Level::Info,
                    format!("configuration: {what} by the administrator"),
                );
                self.reply(reply, Reply::ok(format!("{what}\n")));
            }
            Err(e) => self.reply(reply, Reply::err(format!("configuration not changed: {e}"))),
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
                    "configuration reloaded"
                } else {
                    "configuration reloaded (unchanged)"
                };
                self.log(Level::Info, msg.to_string());
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
        self.config = cfg;
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
    }

    fn persisted(&self) -> Persisted {
        Persisted {
            rebooted: false,
            services: self
                .services
                .iter()
                .map(|(n, s)| PersistedService {
                    name: n.clone(),
                    protected: s.protected,
                    primary: s.primary.clone(),
                    error: s.error,
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
        let text = self.persisted().to_text();
        if text == self.last_persisted {
            return None;
        }
        self.last_persisted = text.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Status;

    const BASE: &str = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 100ms\n";

    fn svc(extra: &str) -> String {
        format!("{BASE}\n[service web]\nactive_server = alpha\nstandby_server = beta\nstart = web.start\nstop = web.stop\nagent = web.agent\ncheck_interval = 1s\nstart_timeout = 10s\n{extra}")
    }

    struct T {
        e: Engine,
        now: Millis,
    }

    impl T {
        fn new(text: &str) -> T {
            let cfg = config::parse("t", text).unwrap();
            T {
                e: Engine::new("alpha", cfg, text.to_string(), None, 0),
                now: 0,
            }
        }
        fn at(&mut self, t: Millis, i: Input) -> Vec<Action> {
            self.now = t;
            self.e.handle(t, i)
        }
        fn cmd(&mut self, t: Millis, words: &str, reply: Option<&str>) -> Vec<Action> {
            let w: Vec<String> = words.split(' ').map(str::to_string).collect();
            let cmd = crate::request::parse_command(&w).unwrap();
            self.at(
                t,
                Input::Command {
                    cmd,
                    reply: reply.map(str::to_string),
                },
            )
        }
        fn state(&self) -> &'static str {
            self.e.state_word("web")
        }
        /// Completes every step the engine asks for (agents spawn as pid 100+id).
        fn run_plan(&mut self, t: Millis, mut acts: Vec<Action>) -> (Vec<Step>, Vec<Action>) {
            let mut steps = Vec::new();
            let mut all = Vec::new();
            for _ in 0..50 {
                let mut next = Vec::new();
                for a in &acts {
                    match a {
                        Action::Run { task, step, .. } => {
                            steps.push(*step);
                            next.push(Input::TaskDone {
                                task: *task,
                                result: Ok(()),
                            });
                        }
                        Action::StartAgent { service, agent } => {
                            steps.push(Step::StartAgent);
                            next.push(Input::AgentSpawned {
                                service: service.clone(),
                                agent: *agent,
                                pid: 100 + *agent as u32,
                                token: 1,
                            });
                        }
                        Action::StopAgent { service, agent } => {
                            steps.push(Step::StopAgent);
                            next.push(Input::AgentExited {
                                service: service.clone(),
                                agent: *agent,
                                how: "TERM".into(),
                            });
                        }
                        _ => {}
                    }
                }
                all.extend(acts);
                if next.is_empty() {
                    break;
                }
                acts = next.into_iter().flat_map(|i| self.at(t, i)).collect();
            }
            (steps, all)
        }
    }

    fn replies(acts: &[Action]) -> Vec<(String, Status, Millis)> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Reply { to, reply, at } => Some((to.clone(), reply.status.clone(), *at)),
                _ => None,
            })
            .collect()
    }

    fn ok(to: &str, at: Millis) -> (String, Status, Millis) {
        (to.into(), Status::Ok, at)
    }

    /// Brings web in at t=0 and starts it after the grace period.
    fn running(extra: &str) -> T {
        let mut t = T::new(&svc(extra));
        t.cmd(0, "service bringin web", Some("r"));
        let acts = t.at(1000, Input::Tick);
        t.run_plan(1000, acts);
        assert_eq!(t.state(), "ACTIVEACT");
        t
    }

    #[test]
    fn bring_in_waits_for_the_grace_period_then_starts_in_order_and_replies() {
        let text = svc("active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\nvolume = /dev/a /dev/b /m1\nvolume = /dev/c /dev/d /m2\n");
        let mut t = T::new(&text);
        assert_eq!(t.state(), "OUTACT");
        let acts = t.cmd(0, "service bringin web", Some("r"));
        assert!(replies(&acts).is_empty(), "replies only once it runs");
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Run { .. })),
            "nothing starts while the peer may be alive"
        );
        assert_eq!(t.state(), "STANDBY");
        let acts = t.at(1000, Input::Tick);
        let (steps, all) = t.run_plan(1000, acts);
        assert_eq!(
            steps,
            vec![
                Step::Mount(0),
                Step::Mount(1),
                Step::AddIps,
                Step::StartScript,
                Step::StartAgent
            ]
        );
        assert_eq!(replies(&all), vec![ok("r", 1000)]);
        assert_eq!(t.state(), "ACTIVEACT");
        let acts = t.cmd(2000, "service bringout web", Some("o"));
        let (steps, all) = t.run_plan(2000, acts);
        assert_eq!(
            steps,
            vec![
                Step::StopAgent,
                Step::StopScript,
                Step::DelIps,
                Step::Umount(1),
                Step::Umount(0)
            ]
        );
        assert_eq!(replies(&all), vec![ok("o", 2000)]);
        assert_eq!(t.state(), "OUTACT");
    }

    #[test]
    fn apiok_is_paced_to_one_reply_per_check_interval() {
        let mut t = running("");
        let mut ats = Vec::new();
        for i in 0..4 {
            let acts = t.cmd(2000 + i, "apiok web", Some("a"));
            ats.extend(replies(&acts).into_iter().map(|r| r.2));
        }
        assert_eq!(ats, vec![2000, 3000, 4000, 5000]);
    }

    #[test]
    fn api_calls_for_unknown_or_stopped_services() {
        let mut t = T::new(&svc(""));
        let r = replies(&t.cmd(0, "apiok nope", Some("a")));
        assert!(matches!(&r[0].1, Status::Err(m) if m.contains("no service named 'nope'")));
        let r = replies(&t.cmd(0, "apiok web", Some("a")));
        assert_eq!(
            r[0].1,
            Status::Stop,
            "an agent of a service that is out is not wanted"
        );
    }

    #[test]
    fn apierr_restarts_then_gives_up_into_error() {
        let mut t = running("restart_times = 1\n");
        let acts = t.cmd(2000, "apierr web", Some("e"));
        assert_eq!(replies(&acts), vec![ok("e", 2000)]);
        let (steps, _) = t.run_plan(2000, acts);
        assert_eq!(
            steps,
            vec![
                Step::StopAgent,
                Step::StopScript,
                Step::StartScript,
                Step::StartAgent
            ]
        );
        assert_eq!(t.state(), "ACTIVEACT");
        let acts = t.cmd(3000, "apierr web", None);
        let (steps, _) = t.run_plan(3000, acts);
        assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
        assert_eq!(t.state(), "ERRORACT");
        // Not started again until brought in anew.
        let acts = t.at(60_000, Input::Tick);
        assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
        let acts = t.cmd(61_000, "service bringin web", Some("b"));
        let (steps, all) = t.run_plan(61_000, acts);
        assert_eq!(steps, vec![Step::StartScript, Step::StartAgent]);
        assert_eq!(replies(&all), vec![ok("b", 61_000)]);
    }

    #[test]
    fn failures_outside_the_start_timeout_window_are_forgotten() {
        let mut t = running("restart_times = 1\n");
        let acts = t.cmd(2000, "apierr web", None);
        t.run_plan(2000, acts);
        let acts = t.cmd(
            2000 + 11_000,
            "apok web".replace("apok", "apiok").as_str(),
            None,
        );
        t.run_plan(13_000, acts);
        let acts = t.cmd(13_500, "apierr web", None);
        let (steps, _) = t.run_plan(13_500, acts);
        assert_eq!(
            steps,
            vec![
                Step::StopAgent,
                Step::StopScript,
                Step::StartScript,
                Step::StartAgent
            ],
            "a restart again, 11.5 s > start_timeout later"
        );
    }

    #[test]
    fn a_silent_agent_is_a_failure_after_three_intervals() {
        let mut t = running("");
        t.cmd(1500, "apiok web", None);
        let acts = t.at(4400, Input::Tick);
        assert!(acts.is_empty() || !acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
        assert_eq!(t.e.next_wakeup(), Some(1500 + 3000 + 1));
        let acts = t.at(4501, Input::Tick);
        let (steps, all) = t.run_plan(4501, acts);
        assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
        assert!(all.iter().any(
            |a| matches!(a, Action::Log { text, .. } if text.contains("agent silent for 3.0s"))
        ));
        assert_eq!(t.state(), "ERRORACT");
    }

    #[test]
    fn an_agent_that_exits_is_a_failure_unless_it_closed_first() {
        let mut t = running("");
        let acts = t.at(
            1500,
            Input::AgentExited {
                service: "web".into(),
                agent: 1,
                how: "exit status 1".into(),
            },
        );
        t.run_plan(1500, acts);
        assert_eq!(t.state(), "ERRORACT");

        let mut t = running("");
        t.cmd(1500, "apiclose web", Some("c"));
        let acts = t.at(
            1600,
            Input::AgentExited {
                service: "web".into(),
                agent: 1,
                how: "exit status 0".into(),
            },
        );
        assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
        assert_eq!(t.state(), "ACTIVEACT");
        // A stale agent's exit changes nothing.
        let acts = t.at(
            1700,
            Input::AgentExited {
                service: "web".into(),
                agent: 99,
                how: "x".into(),
            },
        );
        assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
    }

    #[test]
    fn a_start_script_that_fails_or_times_out_leads_to_error_and_a_failed_reply() {
        let mut t = T::new(&svc(""));
        t.cmd(0, "service bringin web", Some("r"));
        let acts = t.at(1000, Input::Tick);
        let task = acts
            .iter()
            .find_map(|a| match a {
                Action::Run {
                    task,
                    step: Step::StartScript,
                    timeout,
                    ..
                } => {
                    assert_eq!(*timeout, 10_000);
                    Some(*task)
                }
                _ => None,
            })
            .unwrap();
        let acts = t.at(
            11_000,
            Input::TaskDone {
                task,
                result: Err("did not finish in time".into()),
            },
        );
        let (steps, all) = t.run_plan(11_000, acts);
        assert_eq!(
            steps,
            vec![Step::StopScript],
            "no agent ran, no address was added"
        );
        let r = replies(&all);
        assert!(
            matches!(&r[0].1, Status::Err(m) if m.contains("ERRORACT") && m.contains("did not finish in time")),
            "{r:?}"
        );
    }

    #[test]
    fn a_failed_stop_step_is_a_warning_but_a_stuck_volume_is_an_error() {
        let mut t = running("volume = /dev/a /dev/b /m1\n");
        let mut acts = t.cmd(2000, "service bringout web", Some("o"));
        let mut all = Vec::new();
        for _ in 0..10 {
            let mut next = Vec::new();
            for a in &acts {
                match a {
                    Action::Run { task, step, .. } => next.push(Input::TaskDone {
                        task: *task,
                        result: if *step == Step::StopScript || matches!(step, Step::Umount(_)) {
                            Err("exit status 1".into())
                        } else {
                            Ok(())
                        },
                    }),
                    Action::StopAgent { service, agent } => next.push(Input::AgentExited {
                        service: service.clone(),
                        agent: *agent,
                        how: "TERM".into(),
                    }),
                    _ => {}
                }
            }
            all.extend(acts);
            acts = next.into_iter().flat_map(|i| t.at(2000, i)).collect();
        }
        assert!(all.iter().any(|a| matches!(a, Action::Log { level: Level::Warning, text } if text.contains("stop script web.stop failed"))));
        assert!(all.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("unmount /m1 failed"))));
        assert_eq!(t.state(), "ERRORACT");
    }

    #[test]
    fn shutdown_stops_everything_then_exits_and_quit_touches_nothing() {
        let mut t = running("");
        let acts = t.cmd(2000, "stop", Some("s"));
        let (steps, all) = t.run_plan(2000, acts);
        assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
        assert!(all.contains(&Action::Exit));
        assert!(replies(&all).contains(&ok("s", 2000)));
        assert!(t.e.has_exited());

        let mut t = running("");
        let acts = t.at(
            2000,
            Input::Shutdown {
                touch_resources: false,
            },
        );
        assert!(acts.contains(&Action::Exit));
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::Run { .. } | Action::StopAgent { .. })));
    }

    #[test]
    fn a_restarted_engine_adopts_what_runs_and_cleans_up_what_was_half_done() {
        let t = running("");
        let saved = t.e.persisted();
        assert_eq!(saved.services[0].agent_pid, Some(101));
        let text = svc("");
        let cfg = config::parse("t", &text).unwrap();
        let mut e = Engine::new("alpha", cfg.clone(), text.clone(), Some(saved.clone()), 0);
        let acts = e.handle(0, Input::Tick);
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::WatchAgent {
                pid: 101,
                token: 1,
                ..
            }
        )));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Run { .. })),
            "nothing restarted"
        );
        assert_eq!(e.state_word("web"), "ACTIVEACT");
        let acts = e.handle(2000, Input::Tick);
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Action::Run { .. } | Action::StopAgent { .. })),
            "the end of the grace period does not stop an adopted service"
        );

        let mut half = saved.clone();
        half.services[0].phase = SavedPhase::Transition;
        let mut e = Engine::new("alpha", cfg.clone(), text.clone(), Some(half), 0);
        let acts = e.handle(0, Input::Tick);
        let agent = acts
            .iter()
            .find_map(|a| match a {
                Action::StopAgent { agent, .. } => Some(*agent),
                _ => None,
            })
            .expect("its agent is stopped first");
        let acts = e.handle(
            10,
            Input::AgentExited {
                service: "web".into(),
                agent,
                how: "TERM".into(),
            },
        );
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Run {
                step: Step::StopScript,
                ..
            }
        )));

        let mut rebooted = saved;
        rebooted.rebooted = true;
        let mut e = Engine::new("alpha", cfg, text, Some(rebooted), 0);
        assert_eq!(
            e.state_word("web"),
            "STANDBY",
            "after a reboot nothing runs, but it stays protected"
        );
        let acts = e.handle(1000, Input::Tick);
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Run {
                step: Step::StartScript,
                ..
            }
        )));
    }

    #[test]
    fn configuration_edits_are_validated_and_refused_while_in_protection() {
        let mut t = running("");
        let r = replies(&t.cmd(2000, "service remove web", Some("x")));
        assert!(matches!(&r[0].1, Status::Err(m) if m.contains("bring it out first")));
        let r = replies(&t.cmd(2000, "service create db active_server=alpha", Some("x")));
        assert!(
            matches!(&r[0].1, Status::Err(m) if m.contains("'standby_server' is required")),
            "{r:?}"
        );
        let acts = t.cmd(
            2000,
            "service create db active_server=beta standby_server=alpha start=a stop=b",
            Some("c"),
        );
        let text = acts
            .iter()
            .find_map(|a| match a {
                Action::WriteConfig { text, .. } => Some(text.clone()),
                _ => None,
            })
            .unwrap();
        assert!(text.ends_with(
            "[service db]\nactive_server = beta\nstandby_server = alpha\nstart = a\nstop = b\n"
        ));
        let acts = t.at(2000, Input::ConfigWritten(Ok(())));
        assert_eq!(replies(&acts), vec![ok("c", 2000)]);
        assert_eq!(t.e.state_word("db"), "OUTSTB");
        let r = replies(&t.cmd(
            2000,
            "service create db active_server=beta standby_server=alpha start=a stop=b",
            Some("x"),
        ));
        assert!(matches!(&r[0].1, Status::Err(m) if m.contains("already exists")));
        // A reload that drops a protected service is refused whole.
        let r = t.at(
            2000,
            Input::Reload(Ok((config::parse("t", BASE).unwrap(), BASE.into()))),
        );
        assert!(r.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("keeping the running one"))));
        assert_eq!(t.state(), "ACTIVEACT");
    }

    #[test]
    fn status_lists_nodes_links_and_services() {
        let t = running("");
        assert_eq!(t.e.status_text(), "NODE alpha UP local\nNODE beta DOWN\nLINK lan socket ERR\nSERVICE web USERDEF alpha=ACTIVEACT beta=UNKNOWN\n");
    }
}
