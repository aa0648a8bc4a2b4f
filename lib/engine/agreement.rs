//! Have both nodes agreed, and who should run what: service groups, the intent and its epochs,
//! merging the peer's, proposing runners, and handing everything over on an orderly stop.
//!
//! The intent of a service (protected, primary, runner, epoch, resets) is changed by one node
//! at a time with a higher epoch; the higher epoch wins, and on a tie the intent of the node
//! whose name sorts first. A node starts a service only when both agree on the intent, the
//! peer hears it, and the peer reports it stopped (or the peer is down), which is what keeps a
//! service from running twice.

use super::intent::Intent;
use super::{Engine, PeerStatus, Svc};
use crate::config::{AlertEvent, Config};
use crate::log::Level;
use std::collections::BTreeMap;
use std::sync::Arc;
/// Why the agreed runner of a service moved, for telling it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    /// Back to its primary, which can run it again.
    Switchback,
    /// The peer moved it between two nodes that could both run it.
    PeerAsked,
    /// The node it leaves cannot run it, or is down.
    Needed,
}

/// The services and their groups, computed once a configuration: every step walks them.
pub(super) struct Layout {
    /// Every service, in name order (the order of `Engine::services`).
    pub names: Vec<String>,
    /// Each service's group (itself alone when it has no `groupid`).
    pub groups: BTreeMap<String, Arc<[String]>>,
    /// Every group once, by its first member in name order.
    pub group_list: Vec<(String, Arc<[String]>)>,
}

impl Layout {
    pub fn of(config: &Config) -> Layout {
        let mut by_id: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for s in &config.services {
            if let Some(g) = &s.groupid {
                by_id.entry(g).or_default().push(s.name.clone());
            }
        }
        let shared: BTreeMap<&str, Arc<[String]>> =
            by_id.into_iter().map(|(g, v)| (g, Arc::from(v))).collect();
        let groups: BTreeMap<String, Arc<[String]>> = config
            .services
            .iter()
            .map(|s| {
                let group = match s.groupid.as_deref().and_then(|g| shared.get(g)) {
                    Some(g) => g.clone(),
                    None => Arc::from(vec![s.name.clone()]),
                };
                (s.name.clone(), group)
            })
            .collect();
        let names: Vec<String> = groups.keys().cloned().collect();
        let mut done: Vec<&str> = Vec::new();
        let mut group_list = Vec::new();
        for (name, group) in &groups {
            if done.contains(&name.as_str()) {
                continue;
            }
            done.extend(group.iter().map(String::as_str));
            group_list.push((name.clone(), group.clone()));
        }
        Layout {
            names,
            groups,
            group_list,
        }
    }
}

impl Engine {
    /// On an orderly stop: hands every service this node would run to the peer, as a
    /// FailOver does (the roles swap for good without switchback), when the peer can take it.
    pub(super) fn hand_over_all(&mut self) {
        if self.peer_status() != PeerStatus::Up || !self.peer_in_sync() {
            return;
        }
        let me = self.node.clone();
        let peer = self.peer_name().to_string();
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let mine = group.iter().any(|g| {
                self.services
                    .get(g)
                    .is_some_and(|s| s.intent.protected && s.intent.runner == me)
            });
            if !mine || !self.peer_able(group) {
                continue;
            }
            let switchback = self.config.service(name).is_some_and(|c| c.switchback);
            self.bump(group, |x| {
                x.intent.runner = peer.clone();
                if !switchback {
                    x.intent.primary = peer.clone();
                }
            });
            self.log(
                Level::Info,
                format!(
                    "service {name}: handed over to {peer}, as SureHA stops on this node{}",
                    if switchback {
                        " (it returns here with switchback)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }

    /// The services that move with this one (its `groupid`), itself included.
    pub(super) fn group_of(&self, name: &str) -> Arc<[String]> {
        self.layout
            .groups
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::from(vec![name.to_string()]))
    }

    /// Changes the intent of a group and gives it an epoch above any either node has seen.
    pub(super) fn bump(&mut self, names: &[String], change: impl Fn(&mut Svc)) {
        let mut top = 0;
        for n in names {
            top = top.max(self.services.get(n).map_or(0, |s| s.intent.epoch));
            top = top.max(
                self.peer
                    .view
                    .as_ref()
                    .and_then(|p| p.services.get(n))
                    .map_or(0, |p| p.intent.epoch),
            );
        }
        for n in names {
            if let Some(s) = self.services.get_mut(n) {
                change(s);
                s.intent.epoch = top + 1;
            }
        }
    }

    /// Adopts the peer's intent where it is newer (or equal and the peer's name sorts first).
    pub(super) fn merge_intents(&mut self) {
        let peer_first = self.peer_name() < self.node.as_str();
        let Some(view) = self.peer.view.as_ref() else {
            return;
        };
        let mut moved: Vec<(String, String, String)> = Vec::new();
        for (name, p) in &view.services {
            let Some(s) = self.services.get_mut(name) else {
                continue;
            };
            let adopted = s.intent.adopt(&p.intent, peer_first);
            if adopted.reset && s.error {
                s.error = false;
                s.failures.clear();
                s.last_failure = None;
            }
            if let Some(was) = adopted.moved_from {
                moved.push((name.clone(), was, p.intent.runner.clone()));
            }
        }
        // What changed while the nodes were apart (this one booting, the peer away) is
        // history, not a move seen here.
        if self.peer.contact.was != PeerStatus::Up {
            return;
        }
        for (name, from, to) in moved {
            // The peer proposed it: a move to the primary is a switch-back when the node it
            // leaves could still run it.
            let primary_back = self
                .services
                .get(&name)
                .is_some_and(|s| s.intent.primary == to)
                && self.config.service(&name).is_some_and(|c| c.switchback);
            let group = self.group_of(&name);
            let from_able = if from == self.node {
                self.group_able_here(&group)
            } else {
                self.peer_able(&group)
            };
            // Between two nodes that could both run it, and not back to its primary: the
            // peer moved it on its own (its administrator, or it is stopping).
            let to_able = if to == self.node {
                self.group_able_here(&group)
            } else {
                self.peer_able(&group)
            };
            let how = if primary_back && from_able {
                Move::Switchback
            } else if from_able && to_able {
                Move::PeerAsked
            } else {
                Move::Needed
            };
            self.tell_move(&name, &from, &to, how);
        }
    }

    /// Whether the peer, as its beats say, could run the whole group: no ERROR there, and
    /// not unable (a healthy NIC for each).
    pub(super) fn peer_able(&self, group: &[String]) -> bool {
        group
            .iter()
            .all(|g| self.peer_svc(g).is_some_and(|p| !p.error && !p.unable))
    }

    /// Whether this node can run the whole group: no ERROR here, a healthy NIC for each.
    pub(super) fn group_able_here(&self, group: &[String]) -> bool {
        group
            .iter()
            .all(|g| self.services.get(g).is_some_and(|s| !s.error) && self.able_here(g))
    }

    /// Whether both nodes hold the same intent for the whole group.
    pub(super) fn agreed(&self, group: &[String]) -> bool {
        group
            .iter()
            .all(|g| match (self.services.get(g), self.peer_svc(g)) {
                (Some(x), Some(p)) => x.intent.same_placement(&p.intent),
                _ => false,
            })
    }

    /// Proposes who should run each protected group now, from what this node knows of both
    /// nodes' ability: the primary when it can, else the other. A proposal is a new epoch of
    /// the intent; two proposals at once converge by the tie-break of `merge_intents`, and no
    /// node starts before both agree, so a stale view of the peer can cost a move, never a
    /// double start. With the peer down this node takes over alone.
    pub(super) fn propose_runners(&mut self) {
        if self.leaving.asked() {
            return;
        }
        let status = self.peer_status();
        if !matches!(status, PeerStatus::Down | PeerStatus::Up) {
            return;
        }
        let in_sync = status == PeerStatus::Up && self.peer_in_sync();
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let Some(s) = self.services.get(name) else {
                continue;
            };
            if !s.intent.protected {
                continue;
            }
            let (desired, switching_back) =
                match self.desired_runner(status, in_sync, name, group, s) {
                    Some((d, back)) if d != s.intent.runner => (d.to_string(), back),
                    _ => continue,
                };
            if switching_back {
                let runner = s.intent.runner.clone();
                if !self.calm_switchback(name, &runner, &desired) {
                    continue;
                }
            }
            let Some(s) = self.services.get(name) else {
                continue;
            };
            let was = s.intent.runner.clone();
            // Without switchback a takeover swaps the roles for good.
            let switchback = self.config.service(name).is_some_and(|c| c.switchback);
            let swap = !switchback && !desired.is_empty() && desired != s.intent.primary;
            self.bump(group, |x| {
                x.intent.runner.clone_from(&desired);
                if swap {
                    x.intent.primary.clone_from(&desired);
                }
            });
            for g in group.iter() {
                let how = if switching_back {
                    Move::Switchback
                } else {
                    Move::Needed
                };
                self.tell_move(g, &was, &desired, how);
            }
        }
    }

    /// Logs a change of the agreed runner that moves a service to or from this node, as the
    /// alert event it is here. Each node tells its own side: the node a service leaves says
    /// `failover`, the one it comes to `takeover`, and both say `switchback`.
    fn tell_move(&mut self, name: &str, from: &str, to: &str, how: Move) {
        let me = self.node.as_str();
        if from == to || from.is_empty() || to.is_empty() || (from != me && to != me) {
            return;
        }
        let peer = self.peer_name().to_string();
        let (level, event, text) = if how == Move::Switchback {
            (
                Level::Info,
                AlertEvent::Switchback,
                format!("service {name}: switching back from {from} to {to}, its primary"),
            )
        } else if to == me {
            let leaving = self.peer.view.as_ref().is_some_and(|p| p.leaving);
            let why = if self.peer_status() == PeerStatus::Down {
                "is down"
            } else if leaving {
                "is stopping"
            } else if how == Move::PeerAsked {
                "hands it over"
            } else {
                "cannot run it"
            };
            (
                Level::Warning,
                AlertEvent::Takeover,
                format!("service {name}: taking it over: {peer} {why}"),
            )
        } else {
            let why = if how == Move::PeerAsked {
                format!("{peer} asks for it")
            } else {
                "this node cannot run it".to_string()
            };
            (
                Level::Warning,
                AlertEvent::Failover,
                format!("service {name}: failing over to {peer}: {why}"),
            )
        };
        self.log_alert(level, event, name, text);
    }

    /// Who should run the group led by `name` now (`""`: nobody can), and whether that is
    /// a switch-back (it waits to be calm), or `None` to leave it as it is.
    fn desired_runner<'a>(
        &'a self,
        status: PeerStatus,
        in_sync: bool,
        name: &str,
        group: &[String],
        s: &'a Svc,
    ) -> Option<(&'a str, bool)> {
        let me_able = self.group_able_here(group);
        let peer = match status {
            PeerStatus::Down => PeerSide::Down,
            PeerStatus::Up if in_sync && self.agreed(group) => {
                // A peer on its way out (haadm stop) handed its services over: with
                // switchback they must not be proposed back to it as it leaves.
                let leaving = self.peer.view.as_ref().is_some_and(|p| p.leaving);
                PeerSide::Agreed {
                    name: self.peer_name(),
                    able: !leaving && self.peer_able(group),
                }
            }
            _ => return None,
        };
        let switchback = self.config.service(name).is_some_and(|c| c.switchback);
        runner_wanted(&self.node, me_able, peer, &s.intent, switchback)
    }
}

/// The peer as `runner_wanted` needs it.
#[derive(Clone, Copy, Debug)]
enum PeerSide<'a> {
    Down,
    /// Up, in step, and agreeing on the group's intent; `able`: it could run the group.
    Agreed {
        name: &'a str,
        able: bool,
    },
}

/// Who should run a group now (`""`: nobody can), and whether that is a switch-back, or
/// `None` to leave it as it is. With the peer down: this node, if it can. With the peer
/// agreeing: the primary when it can, else the other node; and with `switchback`, back to
/// the primary from a runner that could keep it.
fn runner_wanted<'a>(
    me: &'a str,
    me_able: bool,
    peer: PeerSide<'a>,
    intent: &'a Intent,
    switchback: bool,
) -> Option<(&'a str, bool)> {
    let (peer, peer_able) = match peer {
        PeerSide::Down => return me_able.then_some((me, false)),
        PeerSide::Agreed { name, able } => (name, able),
    };
    let (primary, runner) = (intent.primary.as_str(), intent.runner.as_str());
    let able = |n: &str| if n == me { me_able } else { peer_able };
    let other = if primary == me { peer } else { me };
    let switching_back =
        switchback && able(primary) && !runner.is_empty() && runner != primary && able(runner);
    if switching_back {
        return Some((primary, true));
    }
    Some((
        if able(primary) {
            primary
        } else if able(other) {
            other
        } else {
            ""
        },
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::{runner_wanted, PeerSide};
    use crate::engine::intent::Intent;

    fn on(primary: &str, runner: &str) -> Intent {
        Intent {
            protected: true,
            primary: primary.into(),
            runner: runner.into(),
            epoch: 1,
            resets: 0,
        }
    }

    fn beta(able: bool) -> PeerSide<'static> {
        PeerSide::Agreed { name: "beta", able }
    }

    /// (this node, able here, the peer's side, primary, runner, switchback) → the wish.
    type Case = (
        &'static str,
        bool,
        PeerSide<'static>,
        &'static str,
        &'static str,
        bool,
    );

    /// A case, the wish it must give, and what it shows.
    type Row = (Case, Option<(&'static str, bool)>, &'static str);

    fn check(cases: &[Row]) {
        for &((me, me_able, peer, primary, runner, switchback), want, why) in cases {
            let i = on(primary, runner);
            assert_eq!(
                runner_wanted(me, me_able, peer, &i, switchback),
                want,
                "{why}"
            );
        }
    }

    #[test]
    fn with_the_peer_down_this_node_takes_what_it_can_run() {
        use PeerSide::Down;
        check(&[
            (
                ("alpha", true, Down, "beta", "beta", false),
                Some(("alpha", false)),
                "able: takes it",
            ),
            (
                ("alpha", false, Down, "beta", "beta", true),
                None,
                "unable: leaves it",
            ),
        ]);
    }

    #[test]
    fn with_the_peer_agreeing_the_primary_runs_it_when_it_can_else_the_other_else_nobody() {
        let alpha = |able| PeerSide::Agreed {
            name: "alpha",
            able,
        };
        check(&[
            (
                ("alpha", true, beta(true), "alpha", "alpha", false),
                Some(("alpha", false)),
                "the primary",
            ),
            (
                ("alpha", false, beta(true), "alpha", "alpha", false),
                Some(("beta", false)),
                "the other",
            ),
            (
                ("alpha", false, beta(false), "alpha", "alpha", false),
                Some(("", false)),
                "nobody",
            ),
            // Seen from the standby: the same answers.
            (
                ("beta", true, alpha(true), "alpha", "alpha", false),
                Some(("alpha", false)),
                "standby: the primary",
            ),
            (
                ("beta", true, alpha(false), "alpha", "alpha", false),
                Some(("beta", false)),
                "standby: itself",
            ),
        ]);
    }

    #[test]
    fn switchback_goes_back_to_the_primary_only_from_a_runner_that_could_keep_it() {
        check(&[
            (
                ("alpha", true, beta(true), "alpha", "beta", true),
                Some(("alpha", true)),
                "a switch-back",
            ),
            // Without switchback (a takeover there makes the runner the primary, so this
            // intent is rare) the able primary is still wanted, but with no calm wait.
            (
                ("alpha", true, beta(true), "alpha", "beta", false),
                Some(("alpha", false)),
                "no switchback",
            ),
            (
                ("alpha", true, beta(false), "alpha", "beta", true),
                Some(("alpha", false)),
                "the runner cannot keep it: a move",
            ),
            (
                ("alpha", false, beta(true), "alpha", "beta", true),
                Some(("beta", false)),
                "the primary cannot take it: it stays",
            ),
            (
                ("alpha", true, beta(true), "alpha", "", true),
                Some(("alpha", false)),
                "nobody runs it: a start",
            ),
            (
                ("alpha", true, beta(true), "alpha", "alpha", true),
                Some(("alpha", false)),
                "already home",
            ),
        ]);
    }
}
