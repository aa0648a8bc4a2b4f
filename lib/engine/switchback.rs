//! Calm switch-back (DESIGN §13): a service with `switchback = yes` returns to its
//! `active_server` only once that node has been able to run it for `switchback_delay`, and no
//! more than `switchback_max` times an hour; past that it stays where it runs, with a WARNING,
//! until an administrator moves it.
//!
//! The node running the service decides when to give it back: it is the one that stayed up
//! and so keeps the count, while the returning node may have just rebooted and knows nothing.

use super::{Engine, PeerStatus};
use crate::clock::{human, Millis};
use crate::log::Level;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
/// Per group (by its first member).
#[derive(Clone, Debug, Default)]
pub(super) struct Calm {
    /// Since when the group's primary has been able to run it, without a break.
    healthy_since: BTreeMap<String, Millis>,
    /// When the group switched back, within the last hour.
    moves: BTreeMap<String, Vec<Millis>>,
    /// The intent seen last pass (primary, runner), to tell this node's switch-backs from
    /// an administrator's moves, which start the count again.
    seen: BTreeMap<String, (String, String)>,
    /// Switch-backs this node proposed and has not yet seen agreed.
    proposed: BTreeSet<String>,
    /// The waits already announced, and the groups given up on (a WARNING said once).
    announced: BTreeSet<String>,
    gave_up: BTreeSet<String>,
}

const HOUR: Millis = 3_600_000;

impl Calm {
    /// For the dump: since when each group's primary has been able to run it.
    pub(super) fn healthy_since_view(&self) -> &BTreeMap<String, Millis> {
        &self.healthy_since
    }
    pub(super) fn gave_up_view(&self) -> &BTreeSet<String> {
        &self.gave_up
    }
    pub(super) fn proposed_view(&self) -> &BTreeSet<String> {
        &self.proposed
    }
}

impl Engine {
    /// Whether the primary of a group could run it now, as this node sees it.
    fn primary_able(&self, group: &[String], primary: &str) -> bool {
        if primary == self.node {
            return self.group_able_here(group);
        }
        self.peer_status() == PeerStatus::Up
            && self.peer_in_sync()
            && !self.peer.as_ref().is_some_and(|p| p.leaving)
            && self.peer_able(group)
    }

    /// Once a pass, before proposals: the primaries' health and the switch-backs made.
    pub(super) fn track_switchbacks(&mut self) {
        let now = self.now;
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let Some(cfg) = self.config.service(name) else {
                continue;
            };
            let Some(s) = self.services.get(name) else {
                continue;
            };
            if !cfg.switchback {
                continue;
            }
            // Asked every pass: nothing is allocated unless something changed.
            let able = self.primary_able(group, &s.primary);
            let changed = (!self
                .calm
                .seen
                .get(name)
                .is_some_and(|(p, r)| *p == s.primary && *r == s.runner))
            .then(|| (s.primary.clone(), s.runner.clone()));
            if able && !self.calm.healthy_since.contains_key(name) {
                self.calm.healthy_since.insert(name.clone(), now);
            } else if !able && self.calm.healthy_since.remove(name).is_some() {
                self.calm.announced.remove(name);
            }
            let Some((primary, runner)) = changed else {
                continue;
            };
            let before = self
                .calm
                .seen
                .insert(name.clone(), (primary.clone(), runner.clone()));
            let Some((p0, r0)) = before else { continue };
            let ours = r0 != runner && self.calm.proposed.remove(name);
            if !ours && (p0 != primary || (r0 != runner && runner == primary)) {
                // Moved by an administrator (or by a node that had to): the count starts again.
                self.calm.moves.remove(name);
                self.calm.gave_up.remove(name);
            }
        }
    }

    /// A switch-back of the group led by `name` from this node, where it runs: may it go
    /// now? It waits for `switchback_delay` of health and stops after `switchback_max`.
    pub(super) fn calm_switchback(&mut self, name: &str, runner: &str, primary: &str) -> bool {
        if runner != self.node {
            return false;
        }
        let Some(cfg) = self.config.service(name) else {
            return false;
        };
        let (delay, max) = (cfg.switchback_delay, cfg.switchback_max);
        let now = self.now;
        let since = self.calm.healthy_since.get(name).copied().unwrap_or(now);
        if now < since + delay {
            if self.calm.announced.insert(name.to_string()) {
                self.log(
                    Level::Info,
                    format!(
                        "service {name}: {primary} is back; it switches back once {primary} has been able to run it for {} (switchback_delay)",
                        human(delay)
                    ),
                );
            }
            return false;
        }
        let recent = self.calm.moves.get(name).map_or(0, |m| {
            m.iter().filter(|t| now.saturating_sub(**t) < HOUR).count()
        });
        if max > 0 && recent >= max as usize {
            if self.calm.gave_up.insert(name.to_string()) {
                self.log(
                    Level::Warning,
                    format!(
                        "service {name}: stays on {runner}: {recent} switch-back{} to {primary} in the last hour reached switchback_max = {max}; move it by hand when {primary} is sound (haadm service takeover {name} on {primary})",
                        if recent == 1 { "" } else { "s" }
                    ),
                );
            }
            return false;
        }
        if self.calm.gave_up.contains(name) {
            return false;
        }
        let m = self.calm.moves.entry(name.to_string()).or_default();
        m.retain(|t| now.saturating_sub(*t) < HOUR);
        m.push(now);
        self.calm.proposed.insert(name.to_string());
        true
    }

    /// When a switch-back waiting for its delay may go.
    pub(super) fn switchback_wakeup(&self) -> Option<Millis> {
        self.calm
            .healthy_since
            .iter()
            .filter_map(|(name, since)| {
                let cfg = self.config.service(name)?;
                let s = self.services.get(name)?;
                (s.runner == self.node && s.primary != self.node)
                    .then_some(since + cfg.switchback_delay)
            })
            .filter(|t| *t > self.now)
            .min()
    }

    /// For `why` and status: a switch-back held back, and why.
    pub(super) fn switchback_note(&self, name: &str) -> Option<String> {
        let leader = self
            .layout
            .group_list
            .iter()
            .find_map(|(l, g)| g.iter().any(|x| x == name).then_some(l.as_str()))?;
        if self.calm.gave_up.contains(leader) {
            return Some(
                "switch-back given up: switchback_max reached within the hour; it stays until moved by hand"
                    .into(),
            );
        }
        let cfg = self.config.service(leader)?;
        let since = self.calm.healthy_since.get(leader)?;
        let s = self.services.get(leader)?;
        (s.runner != s.primary && self.now < since + cfg.switchback_delay).then(|| {
            format!(
                "switch-back to {} in {} (switchback_delay {})",
                s.primary,
                human(since + cfg.switchback_delay - self.now),
                human(cfg.switchback_delay)
            )
        })
    }
}
