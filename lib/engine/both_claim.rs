//! The both-claim alarm (DESIGN §13): a frame from the peer says it runs a service this node
//! runs too. Whatever let it happen (a cut of every link and the public network, a node
//! frozen and thawed), both nodes say so at once, with the evidence, and with what the engine
//! does about it: the agreed intent names one runner, and the other node stops its copy.

use super::*;

impl Engine {
    /// After a beat from the peer (its view merged): the services both nodes claim.
    pub(super) fn check_both_claim(&mut self, link: &str, boot: u64, seq: u64) {
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        let peer = self.peer_name().to_string();
        let mut now_claimed = BTreeSet::new();
        let layout = Arc::clone(&self.layout);
        for name in layout.names.iter() {
            // The frame is the evidence, whichever way it came (over the public network
            // while the links are still down, too).
            let (Some(s), Some(p)) = (self.services.get(name), self.peer_reported(name)) else {
                continue;
            };
            // The peer's own alarm counts as evidence too: it may have stopped its copy
            // before this node heard it running.
            if !(claims(s.phase) && (claims(p.phase) || p.both)) {
                continue;
            }
            now_claimed.insert(name.clone());
            if self.both_claimed.contains(name) {
                continue;
            }
            let resolution = if s.runner == self.node {
                format!(
                    "the agreed intent (epoch {}) keeps it here; {peer} stops its copy",
                    s.epoch
                )
            } else if s.runner == peer {
                format!(
                    "the agreed intent (epoch {}) puts it on {peer}; this node stops its copy",
                    s.epoch
                )
            } else {
                format!(
                    "neither node is to run it (epoch {}); both stop it",
                    s.epoch
                )
            };
            let text = format!(
                "service {name}: BOTH NODES RUN IT: here it is {:?} ({}), and {peer}'s beat (link {link}, boot {boot}, sequence {seq}) says {:?} ({}, epoch {}){}; {resolution}",
                s.phase,
                self.state_word(name),
                p.phase,
                crate::frame::word_of(p.word),
                p.epoch,
                if claims(p.phase) {
                    ""
                } else {
                    ", having seen it run on both nodes"
                },
            );
            self.log_alert(Level::Error, AlertEvent::BothClaim, name, text);
        }
        let gone: Vec<String> = self
            .both_claimed
            .difference(&now_claimed)
            .cloned()
            .collect();
        for name in gone {
            self.out.push(Action::Log {
                level: Level::Info,
                text: format!("service {name}: runs on one node again"),
            });
            self.keep_telling(name);
        }
        self.both_claimed = now_claimed;
    }

    /// An episode ended here: if the peer still runs the service and has not said "both"
    /// itself, this node may have stopped its copy before the peer saw it run; the beat goes
    /// on saying "both" until the peer shows it heard (its own alarm), or stops claiming.
    fn keep_telling(&mut self, name: String) {
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        if self
            .peer_reported(&name)
            .is_some_and(|p| claims(p.phase) && !p.both)
        {
            self.both_untold.insert(name);
        }
    }

    /// Every pass: what the peer's last beat shows it was told.
    fn settle_untold(&mut self) {
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        let untold = std::mem::take(&mut self.both_untold);
        self.both_untold = untold
            .into_iter()
            .filter(|name| {
                self.peer_reported(name)
                    .is_some_and(|p| claims(p.phase) && !p.both)
            })
            .collect();
    }

    /// Every pass: a copy that stopped here ends the episode too (the peer's beats, which
    /// say nothing new, are not passed up to show it).
    pub(super) fn end_both_claims(&mut self) {
        if !self.both_untold.is_empty() {
            self.settle_untold();
        }
        if self.both_claimed.is_empty() {
            return;
        }
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        let ended: Vec<String> = self
            .both_claimed
            .iter()
            .filter(|name| {
                let here = self.services.get(*name).is_some_and(|s| claims(s.phase));
                let there = self
                    .peer_reported(name)
                    .is_some_and(|p| claims(p.phase) || p.both);
                !(here && there)
            })
            .cloned()
            .collect();
        for name in ended {
            self.both_claimed.remove(&name);
            self.log(
                Level::Info,
                format!("service {name}: runs on one node again"),
            );
            self.keep_telling(name);
        }
    }
}
