//! What survives a restart: adopting what a previous hasvrd ran, and the state to save.

use super::interface::Action;

use super::{Agent, Engine, Phase, Svc};
use crate::log::Level;
use crate::state::{Persisted, PersistedService, SavedPhase};
use std::sync::Arc;
impl Engine {
    /// Takes over what a previous hasvrd ran: running services stay running, untouched.
    pub(super) fn adopt(&mut self, saved: Persisted) {
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
            let tasks = &mut self.tasks;
            let Some(s) = self.services.get_mut(&p.name) else {
                continue;
            };
            s.intent.protected = p.protected;
            if p.primary == cfg.active_server || p.primary == cfg.standby_server {
                s.intent.primary = p.primary.clone();
            }
            if p.runner.is_empty()
                || p.runner == cfg.active_server
                || p.runner == cfg.standby_server
            {
                s.intent.runner = p.runner.clone();
            }
            s.error = p.error;
            s.error_was_active = p.error_was_active;
            s.intent.epoch = p.epoch;
            s.intent.resets = p.resets;
            let mut watch = None;
            if p.phase != SavedPhase::Stopped && !saved.rebooted {
                if let (Some(pid), Some(_)) = (p.agent_pid, &cfg.agent) {
                    let id = tasks.new_agent();
                    s.agent = Some(Agent::adopted(id, pid, p.agent_token, now));
                    watch = Some((id, pid, p.agent_token));
                }
                // Killed between spawning the agent and saving its pid: no evidence that it
                // still runs, so it is handled like a half-finished plan.
                let unproven = cfg.agent.is_some() && s.agent.is_none();
                if p.phase == SavedPhase::Running && !unproven {
                    s.phase = Phase::Running;
                    s.plan.adopt_running(cfg);
                } else {
                    // We do not know how far it got: stop everything, then decide afresh.
                    s.phase = Phase::Stopping;
                    s.plan.adopt_stopping(cfg, s.agent.is_some());
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

    pub(super) fn persisted(&self) -> Persisted {
        Persisted {
            rebooted: false,
            generation: self.generation,
            peer_public: self.public_addresses(),
            peer_kept: self.peer.contact.kept,
            services: self
                .services
                .iter()
                .map(|(n, s)| PersistedService {
                    name: n.clone(),
                    protected: s.intent.protected,
                    primary: s.intent.primary.clone(),
                    runner: s.intent.runner.clone(),
                    epoch: s.intent.epoch,
                    resets: s.intent.resets,
                    error: s.error,
                    error_was_active: s.error_was_active,
                    phase: saved_phase(s),
                    agent_pid: s.agent.as_ref().and_then(|a| a.pid),
                    agent_token: s.agent.as_ref().map_or(0, |a| a.token),
                })
                .collect(),
        }
    }

    /// Whether `last` still says what `persisted()` would (checked at every step, so without
    /// building anything).
    pub(super) fn still_persisted(&self, last: &Persisted) -> bool {
        last.generation == self.generation
            && last.peer_public == self.public_addresses()
            && last.peer_kept == self.peer.contact.kept
            && last.services.len() == self.services.len()
            && last.services.iter().zip(&self.services).all(|(p, (n, s))| {
                p.name == *n
                    && p.protected == s.intent.protected
                    && p.primary == s.intent.primary
                    && p.runner == s.intent.runner
                    && p.epoch == s.intent.epoch
                    && p.resets == s.intent.resets
                    && p.error == s.error
                    && p.error_was_active == s.error_was_active
                    && p.phase == saved_phase(s)
                    && p.agent_pid == s.agent.as_ref().and_then(|a| a.pid)
                    && p.agent_token == s.agent.as_ref().map_or(0, |a| a.token)
            })
    }

    pub(super) fn persist_if_changed(&mut self) -> Option<Action> {
        if self
            .last_persisted
            .as_ref()
            .is_some_and(|last| self.still_persisted(last))
        {
            return None;
        }
        let now = self.persisted();
        let text = now.to_text();
        self.last_persisted = Some(now);
        Some(Action::Persist(text))
    }
}

fn saved_phase(s: &Svc) -> SavedPhase {
    match s.phase {
        Phase::Stopped => SavedPhase::Stopped,
        Phase::Running if !s.busy() => SavedPhase::Running,
        _ => SavedPhase::Transition,
    }
}
