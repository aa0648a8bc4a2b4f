//! Calm switch-back (DESIGN §13): a service with `switchback = yes` returns to its
//! `active_server` only once that node has been able to run it for `switchback_delay`, and no
//! more than `switchback_max` times an hour; past that it stays where it runs, with a WARNING,
//! until an administrator moves it.
//!
//! The node running the service decides when to give it back: it is the one that stayed up
//! and so keeps the count, while the returning node may have just rebooted and knows nothing.

use super::interface::{log, Action, Here};
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

impl Calm {
    /// Once a pass, for a group with switch-back: whether its primary is able now, and the
    /// intent (primary, runner). A move this node did not propose starts the count again.
    fn track(&mut self, name: &str, able: bool, primary: &str, runner: &str, now: Millis) {
        // Asked every pass: nothing is allocated unless something changed.
        let changed = !self
            .seen
            .get(name)
            .is_some_and(|(p, r)| p == primary && r == runner);
        if able && !self.healthy_since.contains_key(name) {
            self.healthy_since.insert(name.to_string(), now);
        } else if !able && self.healthy_since.remove(name).is_some() {
            self.announced.remove(name);
        }
        if !changed {
            return;
        }
        let before = self
            .seen
            .insert(name.to_string(), (primary.to_string(), runner.to_string()));
        let Some((p0, r0)) = before else { return };
        let ours = r0 != runner && self.proposed.remove(name);
        if !ours && (p0 != primary || (r0 != runner && runner == primary)) {
            // Moved by an administrator (or by a node that had to): the count starts again.
            self.moves.remove(name);
            self.gave_up.remove(name);
        }
    }

    /// A switch-back of the group led by `name` from this node, where it runs, to
    /// `primary`: may it go now? It waits for `delay` of health and stops after `max` an
    /// hour (0: no limit).
    fn may_go(
        &mut self,
        here: &Here,
        name: &str,
        primary: &str,
        (delay, max): (Millis, u32),
        out: &mut Vec<Action>,
    ) -> bool {
        let (now, runner) = (here.now, here.node);
        let since = self.healthy_since.get(name).copied().unwrap_or(now);
        if now < since + delay {
            if self.announced.insert(name.to_string()) {
                log(
                    out,
                    Level::Info,
                    format!(
                        "service {name}: {primary} is back; it switches back once {primary} has been able to run it for {} (switchback_delay)",
                        human(delay)
                    ),
                );
            }
            return false;
        }
        let recent = self.moves.get(name).map_or(0, |m| {
            m.iter().filter(|t| now.saturating_sub(**t) < HOUR).count()
        });
        if max > 0 && recent >= max as usize {
            if self.gave_up.insert(name.to_string()) {
                log(
                    out,
                    Level::Warning,
                    format!(
                        "service {name}: stays on {runner}: {recent} switch-back{} to {primary} in the last hour reached switchback_max = {max}; move it by hand when {primary} is sound (haadm service takeover {name} on {primary})",
                        if recent == 1 { "" } else { "s" }
                    ),
                );
            }
            return false;
        }
        if self.gave_up.contains(name) {
            return false;
        }
        let m = self.moves.entry(name.to_string()).or_default();
        m.retain(|t| now.saturating_sub(*t) < HOUR);
        m.push(now);
        self.proposed.insert(name.to_string());
        true
    }

    /// A switch-back of the group led by `leader` held back, and why, at `now`; `intent`
    /// is its (primary, runner, switchback_delay), if the configuration still has it.
    fn note(
        &self,
        leader: &str,
        intent: Option<(&str, &str, Millis)>,
        now: Millis,
    ) -> Option<String> {
        if self.gave_up.contains(leader) {
            return Some(
                "switch-back given up: switchback_max reached within the hour; it stays until moved by hand"
                    .into(),
            );
        }
        let (primary, runner, delay) = intent?;
        let since = self.healthy_since.get(leader)?;
        (runner != primary && now < since + delay).then(|| {
            format!(
                "switch-back to {primary} in {} (switchback_delay {})",
                human(since + delay - now),
                human(delay)
            )
        })
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
            && !self.peer.view.as_ref().is_some_and(|p| p.leaving)
            && self.peer_able(group)
    }

    /// Once a pass, before proposals: the primaries' health and the switch-backs made.
    pub(super) fn track_switchbacks(&mut self) {
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let (Some(cfg), Some(s)) = (self.config.service(name), self.services.get(name)) else {
                continue;
            };
            if !cfg.switchback {
                continue;
            }
            let able = self.primary_able(group, &s.intent.primary);
            self.calm
                .track(name, able, &s.intent.primary, &s.intent.runner, self.now);
        }
    }

    /// A switch-back of the group led by `name` from this node, where it runs: may it go
    /// now?
    pub(super) fn calm_switchback(&mut self, name: &str, runner: &str, primary: &str) -> bool {
        if runner != self.node {
            return false;
        }
        let Some(cfg) = self.config.service(name) else {
            return false;
        };
        let limits = (cfg.switchback_delay, cfg.switchback_max);
        self.calm
            .may_go(&here!(self), name, primary, limits, &mut self.out)
    }

    /// When a switch-back waiting for its delay may go.
    pub(super) fn switchback_wakeup(&self) -> Option<Millis> {
        self.calm
            .healthy_since
            .iter()
            .filter_map(|(name, since)| {
                let cfg = self.config.service(name)?;
                let s = self.services.get(name)?;
                (s.intent.runner == self.node && s.intent.primary != self.node)
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
        let intent = match (self.config.service(leader), self.services.get(leader)) {
            (Some(c), Some(s)) => Some((
                s.intent.primary.as_str(),
                s.intent.runner.as_str(),
                c.switchback_delay,
            )),
            _ => None,
        };
        self.calm.note(leader, intent, self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::{Calm, HOUR};
    use crate::engine::interface::{Action, Here};

    fn here(now: u64) -> Here<'static> {
        Here {
            node: "beta",
            peer: "alpha",
            now,
        }
    }

    fn logs(out: &[Action]) -> Vec<String> {
        out.iter()
            .filter_map(|a| match a {
                Action::Log { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_switch_back_waits_for_the_delay_of_health_and_stops_at_the_hourly_limit() {
        let mut c = Calm::default();
        let mut out = Vec::new();
        // web runs on beta; its primary alpha is able from t=1000.
        c.track("web", true, "alpha", "beta", 1000);
        assert!(!c.may_go(&here(5000), "web", "alpha", (10_000, 2), &mut out));
        assert!(!c.may_go(&here(6000), "web", "alpha", (10_000, 2), &mut out));
        assert_eq!(logs(&out).len(), 1, "the wait is announced once: {out:?}");
        assert_eq!(
            c.note("web", Some(("alpha", "beta", 10_000)), 6000)
                .as_deref(),
            Some("switch-back to alpha in 5s (switchback_delay 10s)")
        );
        assert!(c.may_go(&here(11_000), "web", "alpha", (10_000, 2), &mut out));
        // The switch-back agreed is ours: the count stays.
        c.track("web", true, "alpha", "alpha", 11_100);
        c.track("web", true, "alpha", "beta", 12_000);
        assert!(c.may_go(&here(12_000), "web", "alpha", (10_000, 2), &mut out));
        c.track("web", true, "alpha", "alpha", 12_100);
        c.track("web", true, "alpha", "beta", 13_000);
        let mut out = Vec::new();
        assert!(!c.may_go(&here(13_000), "web", "alpha", (10_000, 2), &mut out));
        assert!(logs(&out)[0]
            .contains("2 switch-backs to alpha in the last hour reached switchback_max = 2"));
        assert!(c.note("web", None, 13_000).unwrap().contains("given up"));
        // An hour after the first, one is allowed again; but the give-up holds until a move by hand.
        assert!(!c.may_go(&here(11_000 + HOUR), "web", "alpha", (10_000, 2), &mut out));
        // An administrator moves it to alpha: the count starts again.
        c.track("web", true, "alpha", "alpha", 14_000);
        c.track("web", true, "alpha", "beta", 15_000);
        assert!(c.may_go(&here(15_000), "web", "alpha", (10_000, 2), &mut out));
    }

    #[test]
    fn a_switch_back_counts_against_the_limit_for_exactly_an_hour_and_the_note_ends_with_the_delay()
    {
        let mut c = Calm::default();
        let mut out = Vec::new();
        c.track("web", true, "alpha", "beta", 0);
        assert!(c.may_go(&here(10_000), "web", "alpha", (10_000, 1), &mut out));
        c.track("web", true, "alpha", "alpha", 10_100);
        c.track("web", true, "alpha", "beta", 20_000);
        // An hour after the first it no longer counts: the second may go.
        assert!(c.may_go(&here(10_000 + HOUR), "web", "alpha", (10_000, 1), &mut out));
        assert!(c.note("web", None, 10_000 + HOUR).is_none());
        // The note: only while it runs away from its primary, and only until the delay ends.
        let mut c = Calm::default();
        c.track("web", true, "alpha", "beta", 0);
        let intent = |runner| Some(("alpha", runner, 10_000));
        assert!(c.note("web", intent("beta"), 9_999).is_some());
        assert_eq!(c.note("web", intent("beta"), 10_000), None);
        assert_eq!(c.note("web", intent("alpha"), 5_000), None);
    }

    #[test]
    fn a_primary_that_stops_being_able_waits_the_whole_delay_again() {
        let mut c = Calm::default();
        let mut out = Vec::new();
        c.track("web", true, "alpha", "beta", 0);
        c.track("web", false, "alpha", "beta", 8000);
        c.track("web", true, "alpha", "beta", 9000);
        assert!(!c.may_go(&here(12_000), "web", "alpha", (10_000, 0), &mut out));
        assert!(c.may_go(&here(19_000), "web", "alpha", (10_000, 0), &mut out));
        assert_eq!(logs(&out).len(), 1);
    }
}
