//! `haadm why SERVICE` (DESIGN §13): what this node would do with a service if the peer died
//! now, and why, one reason a line; then the last move of the service on each node.
//!
//! The verdict is not a second copy of the rules: a copy of the engine is told that every
//! link (and, unless the nodes are already partitioned, the public network) has gone silent,
//! makes its own proposal and placement, and its answer is the verdict. The lines after it
//! are the facts that answer rests on.

use super::{Engine, PeerStatus, Phase};
use crate::clock::{human, Millis};
use crate::config;
use crate::config::Service;
impl Engine {
    /// The engine as it would be were the peer to fall silent now.
    fn with_peer_silent(&self) -> Engine {
        let mut e = self.clone();
        e.out.clear();
        // A partition is the present, not a hypothesis: every link is silent already, the
        // peer answers on the public network, and that is what holds this node back.
        if self.peer_status() != PeerStatus::Partitioned {
            for l in e.peer.links.values_mut() {
                l.last_rx = None;
            }
            e.peer.contact.grace_until = 0;
            e.peer.public.forget_heard();
        }
        e.propose_runners();
        e
    }

    pub(super) fn why(&self, name: &str) -> Result<String, String> {
        let Some(cfg) = self.config.service(name) else {
            return Err(format!("no service named '{name}'"));
        };
        let Some(s) = self.services.get(name) else {
            return Err(format!("no service named '{name}'"));
        };
        let peer = self.peer_name().to_string();
        let then = self.with_peer_silent();
        let runs_here = s.phase != Phase::Stopped;
        let mut t = String::new();
        match then.placement(name) {
            Some((true, _)) if runs_here => t.push_str("keep it: it runs here\n"),
            Some((true, why)) => {
                t.push_str(&format!("take over\nbecause: {why}\n"));
                t.push_str(&self.expected_wait(name, &peer));
            }
            Some((false, why)) => t.push_str(&format!("not: {why}\n")),
            None => t.push_str(&match then.peer_status() {
                PeerStatus::Partitioned => "not: peer answers on the public network\n".into(),
                PeerStatus::Frozen => format!(
                    "not: {peer} left its services running (QUIT); nothing moves until its SureHA is back\n"
                ),
                PeerStatus::Unknown => "not yet: this node is still starting\n".into(),
                other => format!("not now: the peer is {other:?} and the nodes do not agree yet\n"),
            }),
        }
        t.push_str(&self.why_facts(name, cfg, &peer));
        Ok(t)
    }

    /// How long clients would wait, from the detection time and the last start of the
    /// service (either node's `MOVE … in` line, its detection left out).
    fn expected_wait(&self, name: &str, peer: &str) -> String {
        let detect = self.peer.dead_after();
        let own = self.services.get(name).and_then(|s| s.last_move.clone());
        let starts = [
            (self.node.as_str(), own),
            (peer, self.knowing.peer_move(name).cloned()),
        ];
        let last_start = starts.iter().find_map(|(node, m)| {
            let m = m.as_deref()?;
            if !m.starts_with(&format!("{name} in ")) {
                return None;
            }
            let ms = |key: &str| -> Option<Millis> {
                let at = m.rfind(key)? + key.len();
                let word = m[at..].split([',', ';']).next()?;
                config::parse_duration(word.trim()).ok()
            };
            let took = ms("; total ")?.saturating_sub(ms("detection ").unwrap_or(0));
            Some((node.to_string(), took))
        });
        match last_start {
            Some((node, took)) => format!(
                "clients would wait about {}: {} of silence to notice, then the start ({} when it last started on {node})\n",
                human(detect + took),
                human(detect),
                human(took)
            ),
            None => format!(
                "clients would wait {} of silence to notice, then the start (no start timed yet)\n",
                human(detect)
            ),
        }
    }

    /// The facts behind the verdict, one a line.
    fn why_facts(&self, name: &str, cfg: &Service, peer: &str) -> String {
        let mut t = String::new();
        let mut line = |l: String| {
            t.push_str(&l);
            t.push('\n');
        };
        let status = self.peer_status();
        line(format!(
            "peer {peer}: {}",
            match status {
                PeerStatus::Up => "up",
                PeerStatus::Down => "down",
                PeerStatus::Unknown => "not heard yet (starting)",
                PeerStatus::Partitioned =>
                    "partitioned (silent on every link, answering on the public network)",
                PeerStatus::Frozen => "left with its services running",
            }
        ));
        for l in &self.config.links {
            let dead = human(l.dead_after());
            line(if self.peer.link_up(&l.name, self.now) {
                format!(
                    "link {} ({}): OK; silence for {dead} on every link means {peer} is gone",
                    l.name,
                    l.type_name()
                )
            } else {
                format!(
                    "link {} ({}): ERR, silent for over {dead}",
                    l.name,
                    l.type_name()
                )
            });
        }
        let dead = self.peer.dead_after();
        let public_now = self.peer.public.recent(self.now, dead);
        line(match (status, public_now) {
            (PeerStatus::Partitioned, _) => format!(
                "public network: {peer} answers there although every link is silent: a partition, so nothing moves; were {peer} to stop answering there too, this node would take over"
            ),
            (_, true) => format!(
                "public network: {peer} answers there now; a dead {peer} would not, so this check would not hold a takeover back"
            ),
            _ if self.public_addresses().is_empty() => format!(
                "public network: no address of {peer} known; silence on every link decides alone"
            ),
            (PeerStatus::Up, false) => format!(
                "public network: {peer} is asked there ({}) once every link is late, before the silence counts; a partition is told from a dead {peer} that way",
                self.public_addresses()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!("public network: no answer from {peer} there"),
        });
        if !cfg.volumes.is_empty() {
            let disks: Vec<&config::Link> = self
                .config
                .links
                .iter()
                .filter(|l| l.type_name() == "disk")
                .collect();
            line(if disks.is_empty() {
                "volumes: no disk link, so volume exclusivity rests on the network links".into()
            } else {
                format!(
                    "volumes: locked on disk link {}; this node mounts them only once {peer}'s lock has run out or was released ({} at most)",
                    disks[0].name,
                    human(self.lease_wait())
                )
            });
        }
        line(match &self.admin.state.lock {
            Some((by, since)) => format!(
                "lock: locked by {by} since {since}; a lock never holds back a takeover on failure"
            ),
            None => "lock: not locked".into(),
        });
        if !cfg.active_ip.is_empty() {
            let nics: Vec<String> = cfg
                .nics_on(&self.node)
                .iter()
                .map(|n| {
                    let ok = self.nics.iter().find(|x| &x.name == n).is_none_or(|x| x.ok);
                    format!("{n} {}", if ok { "OK" } else { "DOWN" })
                })
                .collect();
            line(format!("NICs here for its addresses: {}", nics.join(", ")));
        }
        let s = self.services.get(name);
        line(format!(
            "state here: {}{}{}",
            self.state_word(name),
            if s.is_some_and(|s| s.intent.protected) {
                ", protected"
            } else {
                ", out of protection"
            },
            match s.and_then(|s| s.last_failure.as_deref()) {
                Some(f) if s.is_some_and(|s| s.error) =>
                    format!("; in ERROR ({f}): not started here until brought in again"),
                _ => String::new(),
            }
        ));
        line(match self.ready_here(name) {
            Ok(()) => "ready here: yes".into(),
            Err(why) => format!("ready here: no, {why}"),
        });
        if let Some(n) = self.switchback_note(name) {
            line(n);
        }
        if let Some(m) = s.and_then(|s| s.last_move.as_ref()) {
            line(format!("last move here: {m}"));
        }
        if let Some(m) = self.knowing.peer_move(name) {
            line(format!("last move on {peer}: {m}"));
        }
        t
    }
}
