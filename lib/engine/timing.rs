//! How long each start and stop here took, phase by phase (DESIGN §13): one `MOVE` line in the
//! log when it ends, and the last one per service in `haadm status`.
//!
//! `MOVE web in (alpha is down: taking it over): detection 300ms, volumes on 41ms, addresses
//! on 3ms, start script 12ms, agent started 1ms, first agent OK 2ms; total 359ms`. A stop is
//! `MOVE web out (...)`, from the decision to the last volume unmounted. Detection is the
//! peer's silence before a takeover; a planned move's other half is on the peer.

use super::interface::Step;
use super::{Engine, PeerStatus};
use crate::clock::{human, Millis};
use crate::log::Level;
/// A start or stop done here: its phases and total, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Timed {
    pub(super) starting: bool,
    pub(super) phases: Vec<(&'static str, Millis)>,
    pub(super) total: Millis,
}

/// One start or stop under way here.
#[derive(Clone, Debug)]
pub(super) struct MoveClock {
    starting: bool,
    why: String,
    began: Millis,
    /// When the step now running began.
    step_at: Millis,
    phases: Vec<(&'static str, Millis)>,
    /// A started service waits for its agent's first report.
    awaiting_ok: bool,
}

fn phase_name(step: Step) -> &'static str {
    match step {
        Step::Mount(_) => "volumes on",
        Step::Umount(_) => "volumes off",
        Step::AddIps => "addresses on",
        Step::DelIps => "addresses off",
        Step::StartScript => "start script",
        Step::StopScript => "stop script",
        Step::StartAgent => "agent started",
        Step::StopAgent => "agent stopped",
    }
}

impl MoveClock {
    /// The start is done but for the agent's first OK.
    pub(super) fn awaiting_ok(&self) -> bool {
        self.awaiting_ok
    }

    fn add(&mut self, phase: &'static str, took: Millis) {
        match self.phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += took,
            None => self.phases.push((phase, took)),
        }
    }

    fn line(&self, name: &str, now: Millis) -> String {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(p, t)| format!("{p} {}", human(*t)))
            .collect();
        format!(
            "{name} {} ({}): {}; total {}",
            if self.starting { "in" } else { "out" },
            self.why,
            phases.join(", "),
            human(now.saturating_sub(self.began))
        )
    }
}

impl Engine {
    /// A start or stop plan begins, for `why`.
    pub(super) fn clock_begins(&mut self, name: &str, starting: bool, why: &str) {
        let now = self.now;
        // Before a takeover, how long the peer had been silent.
        let detection = (self.peer_status() == PeerStatus::Down && starting)
            .then(|| self.peer.links.values().filter_map(|l| l.last_rx).max())
            .flatten()
            .map(|t| now.saturating_sub(t));
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let mut clock = MoveClock {
            starting,
            why: why.to_string(),
            began: now,
            step_at: now,
            phases: Vec::new(),
            awaiting_ok: false,
        };
        if let Some(d) = detection {
            clock.began = now.saturating_sub(d);
            clock.add("detection", d);
        }
        s.clock = Some(clock);
    }

    /// A step of the plan ended (successfully or not).
    pub(super) fn clock_step(&mut self, name: &str, step: Step) {
        let now = self.now;
        if let Some(c) = self.services.get_mut(name).and_then(|s| s.clock.as_mut()) {
            let took = now.saturating_sub(c.step_at);
            c.add(phase_name(step), took);
            c.step_at = now;
        }
    }

    /// The plan is done: a stop logs its line now, a start once the agent first reports.
    pub(super) fn clock_plan_done(&mut self, name: &str) {
        let has_agent = self.config.service(name).is_some_and(|c| c.agent.is_some());
        let Some(c) = self.services.get_mut(name).and_then(|s| s.clock.as_mut()) else {
            return;
        };
        if c.starting && has_agent {
            c.awaiting_ok = true;
            return;
        }
        self.clock_ends(name);
    }

    /// The agent reported: a start that waited for it is complete.
    pub(super) fn clock_agent_ok(&mut self, name: &str) {
        let now = self.now;
        let Some(c) = self
            .services
            .get_mut(name)
            .and_then(|s| s.clock.as_mut())
            .filter(|c| c.awaiting_ok)
        else {
            return;
        };
        let took = now.saturating_sub(c.step_at);
        c.add("first agent OK", took);
        self.clock_ends(name);
    }

    fn clock_ends(&mut self, name: &str) {
        let now = self.now;
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let Some(c) = s.clock.take() else { return };
        let line = c.line(name, now);
        s.last_move = Some(line.clone());
        s.moves_done[usize::from(c.starting)] += 1;
        s.last_timed = Some(Timed {
            starting: c.starting,
            total: now.saturating_sub(c.began),
            phases: c.phases,
        });
        // The peer hears of it in the next report (a drill waits for both halves).
        self.knowing.dirty = true;
        self.log(Level::Info, format!("MOVE {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::MoveClock;

    #[test]
    fn a_phase_met_twice_adds_up_and_the_line_says_each_phase_and_the_total() {
        let mut c = MoveClock {
            starting: true,
            why: "alpha is down: taking it over".into(),
            began: 1000,
            step_at: 1000,
            phases: Vec::new(),
            awaiting_ok: false,
        };
        c.add("detection", 300);
        c.add("volumes on", 40);
        c.add("volumes on", 2);
        c.add("start script", 12);
        assert_eq!(
            c.line("web", 1400),
            "web in (alpha is down: taking it over): detection 300ms, volumes on 42ms, start script 12ms; total 400ms"
        );
    }
}
