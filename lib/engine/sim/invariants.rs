//! The invariants, checked after every step of the world (see the module doc).

use super::{set, Path, Sim, NAMES};
use crate::engine::{Phase, Step};
use std::collections::BTreeMap;
impl Sim {
    /// The nodes are in contact: the private link delivers every frame both ways, and each
    /// engine sees the other up (a frozen hasvrd's view is the one it froze with: its peer
    /// must not start what it runs while its link processes still vouch for it). (A lossy link may lose three beats in a row and look dead:
    /// that, like a cut, opens a window in which both may start a service.)
    pub(super) fn link_both_ways(&self) -> bool {
        let reliable = |p: &Path| p.up && p.loss == 0;
        !self.cut
            && reliable(&self.paths[0][0])
            && reliable(&self.paths[0][1])
            && (0..2).all(|n| self.hosts[n].up && !self.hosts[n].quit)
            && self
                .engines
                .iter()
                .all(|e| e.peer_status() == crate::engine::PeerStatus::Up)
    }

    pub(super) fn fail(&self, what: String) -> ! {
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
    pub(super) fn order_check(&mut self, n: usize, svc: &str, step: Step) {
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
            // A failed stop script is tried once more, right away.
            let retry = step == Step::StopScript && was_rank == rank && !was_start;
            if was_start == start && rank <= was_rank && !retry {
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
    pub(super) fn check(&mut self) {
        self.checks += 1;
        self.key_check();
        let now = self.now;
        let both_ways = self.link_both_ways();
        if both_ways {
            self.since_link_up.get_or_insert(now);
        } else {
            self.since_link_up = None;
        }
        let stable = self
            .since_link_up
            .is_some_and(|t| now.saturating_sub(t) >= 300);
        // What the invariants below read changes only in a pass, or with the world around
        // the engines: a step with neither has nothing new to check.
        let world = (both_ways, stable, [self.hosts[0].up, self.hosts[1].up]);
        if self.changed == [false; 2] && self.checked_world == Some(world) {
            return;
        }
        self.checked_world = Some(world);
        let config = self.engines[0].shared_config();
        for s in config.services.iter().map(|c| &c.name) {
            let s = s.as_str();
            let phase = [0, 1].map(|n| {
                if self.hosts[n].up {
                    self.engines[n].phase_of(s)
                } else {
                    Phase::Stopped
                }
            });
            let on = phase.iter().filter(|&&p| p != Phase::Stopped).count();
            // Both may have started while deaf to each other; that conflict is allowed to
            // drain (one stops), never to arise while they hear each other. With a disk
            // link there is a tie-breaker: it may never arise at all (invariant 10).
            if !both_ways && self.disk.link.is_none() {
                set(&mut self.conflict, s, true);
            } else if on < 2 {
                set(&mut self.conflict, s, false);
            }
            let conflict = self.conflict.get(s).copied().unwrap_or(false);
            if on == 2 && !conflict {
                self.fail(if both_ways {
                    format!("invariant 1: service {s} runs on both nodes while they hear each other")
                } else {
                    format!("invariant 10: service {s} runs on both nodes although a disk link breaks the tie")
                });
            }
            // Invariant 11: a node that knows its peer left with QUIT, its services running
            // on, starts one of them only if an administrator took it (or its group) over.
            // (A node that never heard the QUIT, booting later without a disk link, cannot
            // tell it from a crash.)
            for n in 0..2 {
                if self.quit_left(1 - n)
                    && self.hosts[n].up
                    && self.knew_quit[n].is_none()
                    && self.engines[n].peer_status() == crate::engine::PeerStatus::Frozen
                {
                    let ran = config
                        .services
                        .iter()
                        .filter(|c| self.engines[n].phase_of(&c.name) != Phase::Stopped)
                        .map(|c| c.name.clone())
                        .collect();
                    self.knew_quit[n] = Some(ran);
                }
                if self.quit_left(1 - n)
                    && self.hosts[n].up
                    && self.knew_quit[n]
                        .as_ref()
                        .is_some_and(|ran| !ran.contains(s))
                    && phase[1 - n] != Phase::Stopped
                    && phase[n] == Phase::Starting
                    && !self.released.contains(&(n, s.to_string()))
                {
                    self.fail(format!(
                        "invariant 11: service {s} starts on {} while {} left it running (QUIT), and nobody took it over",
                        NAMES[n],
                        NAMES[1 - n]
                    ));
                }
            }
            for n in 0..2 {
                if !self.hosts[n].up {
                    self.phases[n].remove(s);
                    continue;
                }
                let p = phase[n];
                let was = set(&mut self.phases[n], s, p);
                let other = 1 - n;
                if p == Phase::Starting
                    && was == Some(Phase::Stopped)
                    && stable
                    && phase[other] != Phase::Stopped
                    && !conflict
                {
                    self.fail(format!(
                        "invariant 2: {} starts {s} while {} has it {:?}",
                        NAMES[n], NAMES[other], phase[other]
                    ));
                }
                // A state word changes only in a pass.
                if !self.changed[n] || self.engines[n].config().service(s).is_none() {
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
        self.changed = [false; 2];
        if config.services.iter().any(|c| c.groupid.is_some()) {
            let groups: BTreeMap<String, Vec<String>> = config
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
                // As for one service: a group that came to run on both nodes while they were
                // deaf to each other (one member here, another there) may drain, a member
                // finishing the step it is in; it must never come to while they hear each
                // other.
                let key = format!("group {g}");
                if !both_ways {
                    set(&mut self.conflict, &key, true);
                } else if nodes.len() <= 1 {
                    set(&mut self.conflict, &key, false);
                }
                let drained = !self.conflict.get(&key).copied().unwrap_or(false)
                    && !members
                        .iter()
                        .any(|m| self.conflict.get(m).copied().unwrap_or(false));
                if stable && nodes.len() > 1 && drained {
                    self.fail(format!("invariant 5: group {g} runs on both nodes"));
                }
            }
        }
    }

    /// Invariant 9: an agent that calls every 500 ms is never found silent (hasvrd's own
    /// stall, a freeze it woke from, is no agent's silence).
    pub(super) fn silence_check(&self, n: usize, log: &str) {
        if !log.contains(": agent silent for") && !log.contains(": agent has not reported") {
            return;
        }
        let svc = log
            .strip_prefix("service ")
            .and_then(|l| l.split(':').next())
            .unwrap_or("");
        if self.hosts[n].agents.contains_key(svc) {
            self.fail(format!(
                "invariant 9: {} found the agent of {svc} silent, but it called every 500 ms",
                NAMES[n]
            ));
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
