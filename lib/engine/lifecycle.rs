//! A service on this node: where it should run (placement), carrying out its start and stop
//! plans (`plan` keeps them and judges each step's result), failures and local restarts, and
//! its agent.

use super::interface::{Action, AgentId, Step, TaskId};
use super::plan::{start_plan, stop_plan, AfterStop, Outcome};
use super::{Agent, Engine, PeerStatus, Phase};
use crate::clock::{human, Millis};
use crate::config::AlertEvent;
use crate::log::Level;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
impl Engine {
    /// Should this service run here (true) or not (false), and why; `None`: leave it as it
    /// is for now (too early to know, or the nodes do not agree yet).
    pub(super) fn placement(&self, name: &str) -> Option<(bool, Cow<'static, str>)> {
        let s = self.services.get(name)?;
        if self.leaving.stopping_services() {
            return Some((false, "SureHA is stopping on this node".into()));
        }
        if self.leaving.quitting() {
            // Leaving without touching resources: whatever runs keeps running.
            return None;
        }
        if !s.intent.protected {
            return Some((false, "brought out of protection".into()));
        }
        let group = self.group_of(name);
        if group
            .iter()
            .any(|g| self.services.get(g).is_none_or(|x| x.error))
        {
            return Some((false, "it, or a service of its group, failed here".into()));
        }
        if let Some(why) = group.iter().find_map(|g| self.unable_here(g)) {
            return Some((false, why.into()));
        }
        // Asked for every service at every step: reasons are static unless they name the peer.
        let peer = || self.peer_name();
        match self.peer_status() {
            // Both ran it while deaf to each other, and now hear each other only over the
            // public network: the agreed intent names the peer, which says it runs it, so
            // this copy stops (stopping is always safe; nothing starts in a partition).
            PeerStatus::Partitioned
                if s.phase == Phase::Running
                    && s.intent.runner == peer()
                    && self
                        .peer
                        .reported(name)
                        .is_some_and(|p| p.phase == Phase::Running) =>
            {
                Some((
                    false,
                    format!("both nodes ran it; it belongs on {}, which runs it", peer()).into(),
                ))
            }
            // Taken over by hand while the peer left its services running (QUIT), once this
            // node has seen the disk long enough to hear the peer had it come back meanwhile
            // (cut off from it, this node could not know).
            PeerStatus::Frozen
                if s.phase == Phase::Stopped
                    && self.released.contains(name)
                    && self.takeover_wait().is_some() =>
            {
                None
            }
            PeerStatus::Frozen if s.intent.runner == self.node && self.released.contains(name) => {
                Some((
                    true,
                    format!(
                        "taken over at the administrator's request; {} left it running",
                        peer()
                    )
                    .into(),
                ))
            }
            PeerStatus::Unknown | PeerStatus::Partitioned | PeerStatus::Frozen => None,
            // Not before the silent peer, if alive, has given up what it ran (the lease).
            PeerStatus::Down if s.phase == Phase::Stopped && self.takeover_wait().is_some() => None,
            PeerStatus::Down if s.intent.primary == self.node => {
                Some((true, "protected, and the peer is down".into()))
            }
            PeerStatus::Down => Some((true, format!("{} is down: taking it over", peer()).into())),
            PeerStatus::Up => {
                if s.intent.runner != self.node {
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
                if !self.peer.view.as_ref().is_some_and(|p| p.hears_me) {
                    return None;
                }
                // Nor on an old word of the peer: late (its beats lost, or this hasvrd stood
                // still with them waiting unread behind this input), it may have taken the
                // service over meanwhile. Its next beat, or its silence, decides.
                if self.peer.late(self.now) {
                    return None;
                }
                // Start only once the peer has the whole group stopped.
                if group
                    .iter()
                    .all(|g| self.peer_svc(g).is_some_and(|p| p.phase == Phase::Stopped))
                {
                    let leaving = self.peer.view.as_ref().is_some_and(|p| p.leaving);
                    let why: Cow<'static, str> = if s.intent.primary == self.node {
                        "protected; the peer stands by".into()
                    } else if leaving {
                        format!("{} is stopping: taking it over", peer()).into()
                    } else if self.peer_able(&group) {
                        format!("{} hands it over", peer()).into()
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

    pub(super) fn reconcile(&mut self, name: &str) {
        let Some(s) = self.services.get(name) else {
            return;
        };
        if s.plan.in_flight().is_some() {
            return;
        }
        if s.plan.waiting() {
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
                self.clock_begins(name, true, &why);
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
                self.clock_begins(name, false, &why);
                self.begin(
                    name,
                    Phase::Stopping,
                    stop_plan(cfg, self.has_agent(name)).into(),
                    AfterStop::Rest,
                );
            }
            // A volume that would not come off, and the node is being fenced: it stays as it
            // is (holding the volume) for the moments it has left.
            (Phase::Stopping, _) if self.fencing_for(name) => {}
            (Phase::Stopping, _) => {
                // An adopted half-finished plan that ran out: it is stopped now.
                self.finish_stop(name);
            }
            _ => {}
        }
    }

    pub(super) fn has_agent(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| s.agent.is_some())
    }

    pub(super) fn begin(
        &mut self,
        name: &str,
        phase: Phase,
        plan: VecDeque<Step>,
        after: AfterStop,
    ) {
        if let Some(s) = self.services.get_mut(name) {
            s.phase = phase;
            s.plan.begin(plan, after, phase == Phase::Starting);
        }
        self.advance(name);
    }

    /// Runs the next step of the service's plan, or finishes the plan.
    pub(super) fn advance(&mut self, name: &str) {
        loop {
            let config = Arc::clone(&self.config);
            let Some(cfg) = config.service(name) else {
                return;
            };
            let Some(s) = self.services.get_mut(name) else {
                return;
            };
            if s.plan.in_flight().is_some() {
                return;
            }
            let Some(step) = s.plan.next() else {
                match s.phase {
                    Phase::Starting => {
                        s.phase = Phase::Running;
                        self.log(
                            Level::Info,
                            format!("service {name}: running here ({})", self.state_word(name)),
                        );
                        self.clock_plan_done(name);
                    }
                    Phase::Stopping => self.finish_stop(name),
                    _ => {}
                }
                return;
            };
            match step {
                Step::StartAgent => {
                    let id = self.tasks.new_agent();
                    s.agent = Some(Agent::starting(id, self.now));
                    // Done when the executor reports its pid: the state says "running" only
                    // once the agent that proves it is on disk too.
                    s.plan.under_way(step, 0);
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
                    s.plan.under_way(step, 0);
                    self.out.push(Action::StopAgent {
                        service: name.to_string(),
                        agent: id,
                    });
                    return;
                }
                Step::AddIps | Step::DelIps if cfg.active_ip.is_empty() => continue,
                _ => {
                    let task = self.tasks.task_for(name);
                    s.plan.under_way(step, task);
                    let timeout = match step {
                        Step::StartScript | Step::StopScript => cfg.start_timeout,
                        // havol may wait for the other node's lease to run out.
                        Step::Mount(_) => cfg.start_timeout.max(30_000) + self.lease_wait(),
                        _ => cfg.start_timeout.max(30_000),
                    };
                    let nic = if step == Step::AddIps {
                        self.pick_nic(name).map(str::to_string)
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

    pub(super) fn task_done(&mut self, task: TaskId, result: Result<(), String>) {
        let Some(name) = self.tasks.done(task) else {
            return;
        };
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(&name) else {
            return;
        };
        let Some(s) = self.services.get_mut(&name) else {
            return;
        };
        let Some(step) = s.plan.finished() else {
            return;
        };
        self.clock_step(&name, step);
        let Some(s) = self.services.get_mut(&name) else {
            return;
        };
        let (starting, running) = (s.phase == Phase::Starting, s.phase == Phase::Running);
        match s.plan.step_done(step, result, starting, running) {
            Outcome::Next => self.advance(&name),
            Outcome::Unmounted => {
                s.volumes_stuck = false;
                self.advance(&name);
            }
            Outcome::Failed(why) => {
                let what = format!("{} failed: {why}", step.describe(cfg));
                self.failure(&name, what);
            }
            Outcome::StopRetried(why) => {
                self.log(
                    Level::Warning,
                    format!(
                        "service {name}: {} failed: {why}; trying it once more",
                        step.describe(cfg)
                    ),
                );
                self.advance(&name);
            }
            Outcome::VolumeStuck(why) => {
                let what = format!("{} failed: {why}", step.describe(cfg));
                s.last_failure = Some(what.clone());
                if self.volume_stuck(&name, &what) {
                    // Being fenced: the volume is still mounted, so the service must not
                    // look stopped to the peer in the moments this node has left.
                    if let Some(s) = self.services.get_mut(&name) {
                        s.plan.drop_steps();
                    }
                    return;
                }
                self.advance(&name);
            }
            Outcome::StopGoesOn(why) => {
                self.log(
                    Level::Warning,
                    format!(
                        "service {name}: {} failed: {why}; going on with the stop",
                        step.describe(cfg)
                    ),
                );
                self.advance(&name);
            }
        }
    }

    /// A failure of a running or starting service: restart locally while allowed, else give up here.
    pub(super) fn failure(&mut self, name: &str, what: String) {
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
        let starting = s.phase == Phase::Starting;
        let plan = s.plan.undo(cfg, s.agent.is_some(), starting);
        if n <= cfg.restart_times {
            self.log(
                Level::Warning,
                format!(
                    "service {name}: {what}; restarting it here (restart {n} of {} within {})",
                    cfg.restart_times,
                    human(cfg.start_timeout)
                ),
            );
            self.clock_begins(name, false, &format!("failed: {what}; restarting here"));
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
            let peer = self.peer_name().to_string();
            let next = if self.peer_status() == PeerStatus::Up {
                format!("handing it to {peer}")
            } else {
                format!("{peer} is down, so it stays stopped")
            };
            self.log(Level::Error, format!("service {name}: {what}; {why}: stopping it here and leaving it in ERROR; {next}"));
            self.clock_begins(name, false, &format!("failed: {what}"));
            self.begin(name, Phase::Stopping, plan, AfterStop::Error);
        }
    }

    pub(super) fn finish_stop(&mut self, name: &str) {
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.service(name) else {
            return;
        };
        self.clock_plan_done(name);
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        s.phase = Phase::Stopped;
        s.agent = None;
        s.plan.stopped();
        match s.plan.after {
            AfterStop::Restart if s.intent.protected && !s.error && !self.leaving.asked() => {
                s.plan.after = AfterStop::Rest;
                self.log(
                    Level::Info,
                    format!("service {name}: stopped; starting it again"),
                );
                self.clock_begins(name, true, "local restart");
                self.begin(
                    name,
                    Phase::Starting,
                    start_plan(cfg).into(),
                    AfterStop::Rest,
                );
            }
            AfterStop::Error => {
                s.error = true;
                s.error_was_active = s.intent.primary == self.node;
                s.plan.after = AfterStop::Rest;
                let word = self.state_word(name);
                self.log_alert(Level::Error, AlertEvent::Error, name, format!("service {name}: stopped here, state {word}; bring it in again once the cause is fixed"));
            }
            _ => {
                s.plan.after = AfterStop::Rest;
                let word = self.state_word(name);
                self.log(
                    Level::Info,
                    format!("service {name}: stopped here ({word})"),
                );
            }
        }
    }

    /// hasvrd's loop stood still for `gap` past the wake-up it asked for (stopped, blocked,
    /// starved): what the agents and the peer said meanwhile waits unread (the FIFO, the
    /// links' pipes, the public socket), so their silence counts from now, not from before
    /// the stall: this pass must not take the peer for dead before reading what it sent.
    pub(super) fn stalled(&mut self, gap: Millis) {
        self.pace.expected_by = Millis::MAX;
        for s in self.services.values_mut() {
            if let Some(a) = s.agent.as_mut() {
                a.stalled(gap);
            }
        }
        for l in self.peer.links.values_mut() {
            l.last_rx = l.last_rx.map(|t| t + gap);
        }
        self.peer.public.stalled(gap);
        self.log(
            Level::Warning,
            format!(
                "hasvrd's loop stood still for {} past its wake-up (stopped, blocked or starved); the agents' and the peer's silence counts from now",
                human(gap)
            ),
        );
    }

    /// Judges the agents' silence, on a tick only: the executor ticks after reading all that
    /// was ready, so the OKs waiting in the FIFO behind the input of another pass (after a
    /// stall, the FIFO holds seconds of them) are counted before anyone is called silent.
    /// Another pass only notes that a judgment is due, for the tick that follows it.
    pub(super) fn check_agents(&mut self, ticked: bool) {
        let now = self.now;
        let mut silent = Vec::new();
        for (name, s) in &self.services {
            if s.phase != Phase::Running || s.busy() {
                continue;
            }
            let (Some(a), Some(cfg)) = (&s.agent, self.config.service(name)) else {
                continue;
            };
            if !a.watched() {
                continue;
            }
            if let Some(what) = a.silence(now, cfg.check_interval) {
                silent.push((name.clone(), what));
            }
        }
        self.pace.silence_unjudged = !ticked && !silent.is_empty();
        if !ticked {
            return;
        }
        for (name, what) in silent {
            self.failure(&name, what);
        }
    }

    pub(super) fn agent_exited(&mut self, name: &str, agent: AgentId, how: String) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let Some(a) = s.agent.as_ref() else { return };
        if a.id != agent {
            return;
        }
        if a.stopping {
            s.agent = None;
            if s.plan.finished_if(Step::StopAgent) {
                self.clock_step(name, Step::StopAgent);
                self.advance(name);
            }
            return;
        }
        let closed = a.closed;
        s.agent = None;
        // It could not start at all.
        s.plan.finished_if(Step::StartAgent);
        if closed {
            self.log(Level::Info, format!("service {name}: agent ended ({how}) after apiclose; the service is no longer monitored"));
            return;
        }
        if s.phase == Phase::Running || s.phase == Phase::Starting {
            self.failure(name, format!("agent ended ({how})"));
        }
    }
}
