//! The both-claim alarm (DESIGN §13): a frame from the peer says it runs a service this node
//! runs too. Whatever let it happen (a cut of every link and the public network, a node
//! frozen and thawed), both nodes say so at once, with the evidence, and with what the engine
//! does about it: the agreed intent names one runner, and the other node stops its copy.
//!
//! `BothClaims` owns the episodes (which services both nodes were seen to run, and which the
//! peer has not yet shown it was told of) and decides when one begins and ends, from each
//! service's `Claim`; the engine supplies the claims, and logs and alerts.

use super::{Engine, Phase};
use crate::config::AlertEvent;
use crate::log::Level;
use std::collections::BTreeSet;

/// One service as the alarm sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Claim {
    /// This node starts or runs it.
    pub here: bool,
    /// The peer's last report says it starts or runs it.
    pub there: bool,
    /// The peer's last report raises the alarm for it (it may have stopped its copy before
    /// this node heard it run).
    pub there_says_both: bool,
}

impl Claim {
    fn both(self) -> bool {
        self.here && (self.there || self.there_says_both)
    }

    /// The peer runs it and has not said "both" itself.
    fn peer_untold(self) -> bool {
        self.there && !self.there_says_both
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct BothClaims {
    /// Services both nodes were seen to run (the alarm is raised once an episode).
    claimed: BTreeSet<String>,
    /// Episodes ended here that the peer has not shown it saw: the beat still says "both"
    /// for them, or a peer whose copy is the one kept would never hear of it.
    untold: BTreeSet<String>,
}

impl BothClaims {
    /// What this node's beat says of the service (its `both` flag).
    pub(super) fn flag(&self, name: &str) -> bool {
        self.claimed.contains(name) || self.untold.contains(name)
    }

    /// After a beat from the peer: each service's claim (`names` in order). Returns the
    /// episodes that begin (to raise the alarm for) and those that end.
    pub(super) fn after_beat(
        &mut self,
        names: &[String],
        claim: impl Fn(&str) -> Claim,
    ) -> (Vec<String>, Vec<String>) {
        let mut now_claimed = BTreeSet::new();
        let mut begun = Vec::new();
        for name in names {
            if !claim(name).both() {
                continue;
            }
            now_claimed.insert(name.clone());
            if !self.claimed.contains(name) {
                begun.push(name.clone());
            }
        }
        let ended: Vec<String> = self.claimed.difference(&now_claimed).cloned().collect();
        for name in &ended {
            self.keep_telling(name, claim(name));
        }
        self.claimed = now_claimed;
        (begun, ended)
    }

    /// Every pass: the peer's last beat shows what it was told, and a copy that stopped here
    /// ends an episode too (the peer's beats, which say nothing new, are not passed up to
    /// show it). Returns the episodes that end.
    pub(super) fn each_pass(&mut self, claim: impl Fn(&str) -> Claim) -> Vec<String> {
        if !self.untold.is_empty() {
            self.untold.retain(|name| claim(name).peer_untold());
        }
        let ended: Vec<String> = self
            .claimed
            .iter()
            .filter(|name| !claim(name).both())
            .cloned()
            .collect();
        for name in &ended {
            self.claimed.remove(name);
            self.keep_telling(name, claim(name));
        }
        ended
    }

    /// An episode ended here: if the peer still runs the service and has not said "both"
    /// itself, this node may have stopped its copy before the peer saw it run; the beat goes
    /// on saying "both" until the peer shows it heard (its own alarm), or stops claiming.
    fn keep_telling(&mut self, name: &str, claim: Claim) {
        if claim.peer_untold() {
            self.untold.insert(name.to_string());
        }
    }
}

impl Engine {
    /// A service as the both-claim alarm sees it.
    fn claim_of(&self, name: &str) -> super::both_claim::Claim {
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        let peer = self.peer.reported(name);
        super::both_claim::Claim {
            here: self.services.get(name).is_some_and(|s| claims(s.phase)),
            there: peer.is_some_and(|p| claims(p.phase)),
            there_says_both: peer.is_some_and(|p| p.both),
        }
    }

    /// After a beat from the peer (its view merged): the services both nodes claim. The
    /// frame is the evidence, whichever way it came (over the public network while the
    /// links are still down, too).
    pub(super) fn check_both_claim(&mut self, link: &str, boot: u64, seq: u64) {
        let layout = std::sync::Arc::clone(&self.layout);
        let mut both = std::mem::take(&mut self.both);
        let (begun, ended) = both.after_beat(&layout.names, |n| self.claim_of(n));
        self.both = both;
        let claims = |p: Phase| matches!(p, Phase::Starting | Phase::Running);
        let peer = self.peer_name().to_string();
        for name in begun {
            let (Some(s), Some(p)) = (self.services.get(&name), self.peer.reported(&name)) else {
                continue;
            };
            let resolution = if s.intent.runner == self.node {
                format!(
                    "the agreed intent (epoch {}) keeps it here; {peer} stops its copy",
                    s.intent.epoch
                )
            } else if s.intent.runner == peer {
                format!(
                    "the agreed intent (epoch {}) puts it on {peer}; this node stops its copy",
                    s.intent.epoch
                )
            } else {
                format!(
                    "neither node is to run it (epoch {}); both stop it",
                    s.intent.epoch
                )
            };
            let text = format!(
                "service {name}: BOTH NODES RUN IT: here it is {:?} ({}), and {peer}'s beat (link {link}, boot {boot}, sequence {seq}) says {:?} ({}, epoch {}){}; {resolution}",
                s.phase,
                self.state_word(&name),
                p.phase,
                crate::frame::word_of(p.word),
                p.intent.epoch,
                if claims(p.phase) {
                    ""
                } else {
                    ", having seen it run on both nodes"
                },
            );
            self.log_alert(Level::Error, AlertEvent::BothClaim, &name, text);
        }
        for name in ended {
            self.log(
                Level::Info,
                format!("service {name}: runs on one node again"),
            );
        }
    }

    /// Every pass: episodes a copy stopped here ends too.
    pub(super) fn end_both_claims(&mut self) {
        let mut both = std::mem::take(&mut self.both);
        let ended = both.each_pass(|n| self.claim_of(n));
        self.both = both;
        for name in ended {
            self.log(
                Level::Info,
                format!("service {name}: runs on one node again"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["db".into(), "web".into()]
    }

    const BOTH: Claim = Claim {
        here: true,
        there: true,
        there_says_both: false,
    };
    const HERE: Claim = Claim {
        here: true,
        there: false,
        there_says_both: false,
    };
    const THERE: Claim = Claim {
        here: false,
        there: true,
        there_says_both: false,
    };

    #[test]
    fn an_episode_is_raised_once_and_ends_when_either_copy_stops() {
        let mut b = BothClaims::default();
        let (begun, ended) = b.after_beat(&names(), |n| if n == "web" { BOTH } else { HERE });
        assert_eq!((begun, ended), (vec!["web".to_string()], vec![]));
        assert!(b.flag("web") && !b.flag("db"));
        let (begun, _) = b.after_beat(&names(), |n| if n == "web" { BOTH } else { HERE });
        assert!(begun.is_empty(), "raised once an episode");
        // This node's copy stopped, the peer's runs and has not said "both": the beat goes
        // on saying it until the peer shows it heard.
        assert_eq!(b.each_pass(|_| THERE), vec!["web".to_string()]);
        assert!(b.flag("web"));
        b.each_pass(|_| Claim {
            there_says_both: true,
            ..THERE
        });
        assert!(!b.flag("web"), "the peer raised its own alarm");
    }

    #[test]
    fn the_peers_alarm_is_evidence_and_a_stopped_peer_copy_needs_no_telling() {
        let mut b = BothClaims::default();
        let said = Claim {
            here: true,
            there: false,
            there_says_both: true,
        };
        let (begun, _) = b.after_beat(&names(), |_| said);
        assert_eq!(begun.len(), 2);
        let (_, ended) = b.after_beat(&names(), |_| HERE);
        assert_eq!(ended.len(), 2);
        assert!(
            !b.flag("web") && !b.flag("db"),
            "the peer runs nothing: nothing to tell"
        );
    }
}
