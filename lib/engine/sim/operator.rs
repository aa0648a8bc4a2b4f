//! The administrator's side of the simulated world: commands and their replies, what the
//! nodes show (state words, logs, alerts, steps), and the hands-on faults (a crash, a boot,
//! a NIC).

use super::{Host, Sim, NAMES};
use crate::clock::Millis;
use crate::engine::{Input, Phase, Step};
use crate::request::{parse_command, Reply};
impl Sim {
    pub fn command(&mut self, n: usize, words: &str, reply: Option<&str>) {
        let w: Vec<String> = words.split(' ').map(str::to_string).collect();
        let cmd = parse_command(&w).expect("a valid command");
        self.trace
            .push(format!("{} {} admin {words}", self.now, NAMES[n]));
        if let crate::request::Command::Operate(crate::request::Operation::TakeOver, svc) = &cmd {
            // Taking over what a peer left running with QUIT is the administrator's word
            // that it stopped there (the log asks them to make sure). One who looks finds
            // it adopted by a hasvrd started again meanwhile, unheard from here, and stops.
            let kept = self.engines[n].peer_status() == crate::engine::PeerStatus::Frozen;
            let other = 1 - n;
            if kept
                && self.hosts[other].up
                && !self.hosts[other].quit
                && self.engines[other].phase_of(svc) != Phase::Stopped
            {
                self.trace.push(format!(
                    "{} {} admin sees {svc} running on {} again: no takeover",
                    self.now, NAMES[n], NAMES[other]
                ));
                return;
            }
            if self.quit_left(1 - n) {
                let config = self.engines[n].shared_config();
                let group = config.service(svc).and_then(|c| c.groupid.clone());
                for c in &config.services {
                    if c.name == *svc || (group.is_some() && c.groupid == group) {
                        self.released.insert((n, c.name.clone()));
                    }
                }
            }
        }
        // The simulated agents call from their own process group, as real ones do.
        let caller = match &cmd {
            crate::request::Command::Api(_, svc) => self.engines[n].agent_pid(svc),
            _ => None,
        };
        self.feed(
            n,
            Input::Command {
                cmd,
                reply: reply.map(str::to_string),
                caller,
            },
        );
    }

    /// The reply to `to` on node `n`, if it came.
    pub fn reply(&self, n: usize, to: &str) -> Option<Reply> {
        self.hosts[n]
            .replies
            .iter()
            .find(|(t, _)| t == to)
            .map(|(_, r)| r.clone())
    }

    pub fn word(&self, n: usize, svc: &str) -> &'static str {
        self.engines[n].state_word(svc)
    }

    pub fn running_on(&self, svc: &str) -> Vec<&'static str> {
        (0..2)
            .filter(|&n| self.hosts[n].up && self.engines[n].phase_of(svc) != Phase::Stopped)
            .map(|n| NAMES[n])
            .collect()
    }

    pub fn log(&self, n: usize) -> &[String] {
        &self.hosts[n].log
    }

    pub fn alerts(&self, n: usize) -> &[String] {
        &self.hosts[n].alerts
    }

    /// When node `n` sent over the public network.
    pub fn public_sent(&self, n: usize) -> &[Millis] {
        &self.hosts[n].public_sent
    }

    pub fn steps(&self, n: usize) -> &[(String, Step)] {
        &self.hosts[n].steps
    }

    pub fn is_up(&self, n: usize) -> bool {
        self.hosts[n].up
    }

    /// Kills node `n` at once: its engine and everything it ran are gone.
    pub fn crash(&mut self, n: usize) {
        self.trace.push(format!("{} {} CRASH", self.now, NAMES[n]));
        let admin = std::mem::take(&mut self.hosts[n].admin_file);
        self.hosts[n] = Host {
            admin_file: admin,
            ..Host::default()
        };
        self.wire.retain(|w| w.1 != n);
        self.last_kind.retain(|(m, _), _| *m != n);
        self.disk_crash(n);
        self.relays_gone(n);
        self.carrier_changed(1 - n);
    }

    /// Boots node `n` again with its saved state (after a reboot: nothing runs).
    pub fn boot(&mut self, n: usize) {
        self.trace.push(format!("{} {} BOOT", self.now, NAMES[n]));
        self.released.retain(|(m, _)| *m == n);
        self.knew_quit = [None, None];
        let saved = crate::state::parse(
            &crate::state::file_text("b", &self.engines[n].persisted().to_text()),
            "other-boot",
        )
        .ok();
        self.start_engine(n, saved);
        let admin = std::mem::take(&mut self.hosts[n].admin_file);
        self.hosts[n] = Host {
            up: true,
            admin_file: admin,
            ..Host::default()
        };
        self.boot[n] += 1;
        self.engines[n].set_boot(self.boot[n]);
        self.seq[n] = 0;
        self.relays_gone(n);
        self.daemon_starts(n);
        self.carrier_changed(1 - n);
    }

    pub fn set_nic(&mut self, n: usize, ok: bool) {
        self.nic_down[n] = !ok;
        self.trace.push(format!(
            "{} {} NIC {}",
            self.now,
            NAMES[n],
            if ok { "up" } else { "down" }
        ));
        let report = self.nic_report(n);
        self.feed(n, Input::Nics(report));
    }
}
