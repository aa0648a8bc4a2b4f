//! hasvrd itself as the simulator plays it, apart from its host: an orderly stop (TERM: the
//! services stop here and go to the peer), a QUIT (it leaves, the services keep running
//! unwatched, and a new hasvrd adopts them), a hasvrd that freezes (SIGSTOP, a blocked
//! write) while its link processes go on repeating its last beat, and the faults of the
//! programs it runs: a stop that fails every time, a volume that will not come off.

use super::{Sim, NAMES};
use crate::clock::Millis;
use crate::config;
use crate::engine::{Engine, Input, Step};
/// How long a link process repeats a standing beat hasvrd has not given again
/// (`link::relay::STANDING_LIFE`), and how often a live hasvrd gives it again
/// (`executor::STANDING_REFRESH`).
pub(super) const STANDING_LIFE: Millis = 30_000;
pub(super) const STANDING_REFRESH: Millis = 10_000;

impl Sim {
    /// hasvrd reads and decides: neither gone nor frozen.
    pub fn daemon_running(&self, n: usize) -> bool {
        let h = &self.hosts[n];
        h.up && !h.quit && h.hung.is_none()
    }

    /// hasvrd left with QUIT and the node's services run unwatched.
    pub fn quit_left(&self, n: usize) -> bool {
        self.hosts[n].up && self.hosts[n].quit
    }

    /// `kill -QUIT` of hamond: hasvrd leaves without touching the services.
    pub fn quit(&mut self, n: usize) {
        self.trace.push(format!("{} {} QUIT", self.now, NAMES[n]));
        self.feed(
            n,
            Input::Shutdown {
                touch_resources: false,
            },
        );
    }

    /// hasvrd exits: after an orderly stop nothing runs here any more (the host is as good
    /// as down for the cluster); after QUIT the services run on, and so do their agents.
    pub(super) fn daemon_exits(&mut self, n: usize) {
        self.trace.push(format!("{} {} EXIT", self.now, NAMES[n]));
        if self.engines[n].leaves_resources_untouched() {
            self.hosts[n].quit = true;
            self.hosts[n].tasks.clear();
            self.hosts[n].stopping.clear();
        } else {
            self.hosts[n].up = false;
        }
        self.wire.retain(|w| w.1 != n);
        self.relays_gone(n);
    }

    /// hamond starts hasvrd again on a live host: it adopts what runs (no reboot).
    pub fn restart(&mut self, n: usize) {
        self.restart_after(n, None);
    }

    /// As `restart`, the previous hasvrd having last renewed the volume locks at `renewed`,
    /// as it told hamond (`hasvrd --renewed-at`).
    fn restart_after(&mut self, n: usize, renewed: Option<Millis>) {
        // Its SureHA is back: the peer's takeovers during its absence are history.
        self.released.retain(|(m, _)| *m == n);
        self.knew_quit[1 - n] = None;
        self.trace
            .push(format!("{} {} RESTART", self.now, NAMES[n]));
        let saved = crate::state::parse(
            &crate::state::file_text("b", &self.engines[n].persisted().to_text()),
            "b",
        )
        .ok();
        self.start_engine(n, saved);
        let h = &mut self.hosts[n];
        h.quit = false;
        h.hung = None;
        h.backlog.clear();
        h.tasks.clear();
        h.stopping.clear();
        self.boot[n] += 1;
        self.engines[n].set_boot(self.boot[n]);
        self.seq[n] = 0;
        self.last_kind.retain(|(m, _), _| *m != n);
        self.relays_gone(n);
        // As `Hasvrd::predecessor_renewed_at`.
        let lock = crate::disk::lease::lock_link(self.engines[n].config()).map(|l| l.name.clone());
        if let (Some(at), Some(link)) = (renewed, lock) {
            let took = self.now.saturating_sub(at);
            self.feed(n, Input::LeaseRenewed { link, took });
        }
        self.daemon_starts(n);
    }

    /// A new engine on node `n`, on the configuration file as it is now.
    pub(super) fn start_engine(&mut self, n: usize, saved: Option<crate::state::Persisted>) {
        let cfg = match &self.config {
            Some(c) => c.clone(),
            None => config::parse("sim", &self.text).expect("valid configuration"),
        };
        self.config = Some(cfg.clone());
        self.engines[n] = Engine::new(NAMES[n], cfg, self.text.clone(), saved, self.now);
        self.wakeup[n] = None;
    }

    /// What a starting hasvrd reads before its first decision: the lock and license files,
    /// its NICs, its devices' data paths.
    pub(super) fn daemon_starts(&mut self, n: usize) {
        let keys = self.keys_on_disk(n);
        self.feed(n, keys);
        let admin = self.hosts[n].admin_file.clone();
        if !admin.is_empty() {
            self.feed(n, Input::AdminLoaded(admin));
        }
        let report = self.nic_report(n);
        self.feed(n, Input::Nics(report));
        if let Some(report) = self.data_report(n) {
            self.feed(n, report);
        }
        self.disk.looked[n] = false;
        self.disk_read_slot(n);
    }

    /// hasvrd freezes until `until`; its link processes go on as they do. hamond kills and
    /// replaces it once it has stood still for `disk::lease::freeze_limit`.
    pub fn hang(&mut self, n: usize, until: Millis) {
        self.trace.push(format!(
            "{} {} HASVRD FROZEN until {until}",
            self.now, NAMES[n]
        ));
        self.hosts[n].hung = Some((self.now, until));
        // Its last answer to hamond's pings said when it last renewed the volume locks.
        self.hosts[n].renewed_told = self.engines[n].lease_renewed_at();
        self.hosts[n].holding_told = self.engines[n].lease_at_stake();
    }

    /// When a frozen hasvrd thaws, or hamond replaces it, or fences the node for it.
    fn thaw_time(&self, n: usize) -> Option<Millis> {
        let (since, until) = self.hosts[n].hung?;
        let config = self.engines[n].config();
        let limit = crate::disk::lease::freeze_limit(config);
        Some(until.min(since + limit).min(self.hamond_fence_time(n)?))
    }

    /// When hamond fences for a frozen hasvrd with the lease at stake (`Hamond::watch`): once the
    /// locks it last said renewed are where it would have fenced, and a ping has gone
    /// unanswered (pings every `ping_period`, 50 ms to call one unanswered).
    fn hamond_fence_time(&self, n: usize) -> Option<Millis> {
        let h = &self.hosts[n];
        let (since, _) = h.hung?;
        let config = self.engines[n].config();
        let Some(link) = crate::disk::lease::lock_link(config).filter(|_| h.holding_told) else {
            return Some(Millis::MAX);
        };
        let found = since + crate::disk::lease::ping_period(config) + 50;
        let due = h.renewed_told.unwrap_or(since) + crate::disk::lease::fence_after(link);
        Some(due.max(found))
    }

    /// A frozen hasvrd thaws and reads what waited at once, in its loop's order; or hamond, its pings
    /// unanswered for the limit, kills it and starts a new one, which adopts what runs.
    // `n` indexes hosts, engines and names together, and `feed` needs `&mut self`.
    #[allow(clippy::needless_range_loop)]
    pub(super) fn thaw_due(&mut self) {
        for n in 0..2 {
            let Some(t) = self.thaw_time(n).filter(|&t| t <= self.now) else {
                continue;
            };
            let until = self.hosts[n].hung.map_or(t, |h| h.1);
            if t < until && Some(t) == self.hamond_fence_time(n) {
                self.trace.push(format!(
                    "{} {} FENCE by hamond: the frozen hasvrd holds what the peer takes once the lease runs out",
                    self.now, NAMES[n]
                ));
                self.crash(n);
                continue;
            }
            if t < until {
                self.trace.push(format!(
                    "{} {} hamond kills the frozen hasvrd",
                    self.now, NAMES[n]
                ));
                let renewed = self.hosts[n].renewed_told;
                self.restart_after(n, renewed);
                continue;
            }
            self.trace
                .push(format!("{} {} HASVRD THAWS", self.now, NAMES[n]));
            self.hosts[n].hung = None;
            // As hasvrd's loop reads what is ready: the FIFO first (the agents' calls), then
            // the links, then its children's ends.
            let mut backlog = std::mem::take(&mut self.hosts[n].backlog);
            backlog.sort_by_key(|i| match i {
                Input::Command { .. } => 0,
                Input::Frame { .. }
                | Input::Late { .. }
                | Input::LinkStats { .. }
                | Input::LeaseRenewed { .. } => 1,
                _ => 2,
            });
            // As hasvrd's read of the links (`executor::links`).
            crate::engine::newest_beats_only(&mut backlog);
            for input in backlog {
                self.feed(n, input);
            }
        }
    }

    pub(super) fn thaw_at(&self) -> Option<Millis> {
        (0..2)
            .filter(|&n| self.hosts[n].up)
            .filter_map(|n| self.thaw_time(n))
            .min()
    }

    /// A service whose stop script fails every time and whose volumes stay busy on node
    /// `n` (its processes will not die), or no longer.
    pub fn set_stuck(&mut self, n: usize, svc: &str, stuck: bool) {
        self.trace.push(format!(
            "{} {} {svc} {}",
            self.now,
            NAMES[n],
            if stuck { "STUCK" } else { "unstuck" }
        ));
        self.stuck.retain(|x| x != &(n, svc.to_string()));
        if stuck {
            self.stuck.push((n, svc.to_string()));
        }
    }

    pub fn is_stuck(&self, n: usize, svc: &str) -> bool {
        self.stuck.iter().any(|(m, s)| *m == n && s == svc)
    }

    /// The failure a step of `svc` meets on node `n` because of a fault of the world.
    pub(super) fn step_fault(&self, n: usize, svc: &str, step: Step) -> Option<String> {
        let stuck = self.is_stuck(n, svc);
        match step {
            Step::StopScript if stuck => Some("exit status 1".into()),
            Step::Umount(_) if stuck => Some("target is busy".into()),
            Step::Mount(i) => self.data_fault(n, svc, i),
            _ => None,
        }
    }
}
