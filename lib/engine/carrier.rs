//! A dead peer seen at once. A socket link on a direct cable loses its carrier when the peer
//! loses power: if the peer then does not answer on the public network within
//! `CARRIER_WAIT`, it is down now, not `interval × maxmiss` later, and its socket and serial
//! links count as silent until a frame arrives on them again. A cable pulled while the peer
//! answers on the public network is a link failure and moves nothing. A disk link is never
//! judged this way: with one, the tie-breaker's wait stands.
use super::Engine;
use crate::clock::Millis;
use crate::config::LinkKind;
use crate::log::Level;

/// How long the peer has to answer over the public network once a link's carrier is gone
/// (a round trip there takes well under a millisecond; a busy peer gets some slack).
pub(super) const CARRIER_WAIT: Millis = 50;

#[derive(Clone, Debug, Default)]
pub(super) struct CarrierWatch {
    /// Socket links whose NIC here has no carrier.
    down: Vec<String>,
    /// When a carrier was lost while the peer was up: the public network was asked then.
    asked_at: Option<Millis>,
    /// When the peer was last judged down this way.
    pub verdict: Option<Millis>,
}

impl Engine {
    /// The socket links whose local address sits on a NIC that reports no carrier.
    fn links_without_carrier(&self) -> Vec<String> {
        self.config
            .links
            .iter()
            .filter_map(|l| {
                let LinkKind::Socket { ip1, ip2, .. } = l.kind else {
                    return None;
                };
                let local = if l.host1 == self.node { ip1 } else { ip2 };
                self.nics
                    .iter()
                    .any(|n| !n.ok && n.addrs.contains(&local))
                    .then(|| l.name.clone())
            })
            .collect()
    }

    /// After a NIC report: a link that just lost its carrier while the peer was up sends a
    /// question over the public network at once.
    pub(super) fn carrier_changed(&mut self) {
        let down = self.links_without_carrier();
        let lost: Vec<String> = down
            .iter()
            .filter(|l| !self.peer.carrier.down.contains(l))
            .cloned()
            .collect();
        let back: Vec<String> = self
            .peer
            .carrier
            .down
            .iter()
            .filter(|l| !down.contains(l))
            .cloned()
            .collect();
        self.peer.carrier.down = down;
        if !back.is_empty() {
            self.log(
                Level::Info,
                format!("link {}: carrier back", back.join(", ")),
            );
        }
        if !lost.is_empty() && self.peer_status() != super::PeerStatus::Up {
            self.log(Level::Info, format!("link {}: no carrier", lost.join(", ")));
        }
        if lost.is_empty()
            || self.peer.carrier.asked_at.is_some()
            || self.peer_status() != super::PeerStatus::Up
        {
            return;
        }
        let peer = self.peer_name().to_string();
        if self.public_addresses().is_empty() {
            self.log(
                Level::Info,
                format!(
                    "link {}: no carrier; {peer}'s public address is not known yet, so its silence will be awaited",
                    lost.join(", ")
                ),
            );
            return;
        }
        self.log(
            Level::Info,
            format!(
                "link {}: no carrier; asking {peer} over the public network",
                lost.join(", ")
            ),
        );
        self.peer.carrier.asked_at = Some(self.now);
        self.peer.public.ask();
    }

    /// Judges a question asked: answered (or the carrier back, or a frame on some link
    /// since): a link failure; otherwise the peer is down now.
    pub(super) fn check_carrier(&mut self) {
        let Some(asked) = self.peer.carrier.asked_at else {
            return;
        };
        if self.now < asked + CARRIER_WAIT {
            return;
        }
        if self.now >= asked + 2 * CARRIER_WAIT && !self.peer.carrier.down.is_empty() {
            // Judged this late, hasvrd itself stood still (stopped, starved): an answer may be
            // waiting unread behind this very pass. Ask again and give it the time anew.
            self.peer.carrier.asked_at = Some(self.now);
            self.peer.public.ask();
            return;
        }
        self.peer.carrier.asked_at = None;
        let peer = self.peer_name().to_string();
        // A frame on a link without carrier was on its way before the carrier went.
        let down = &self.peer.carrier.down;
        // Its public beat just before we asked counts: both ends lost the carrier at once and
        // asked each other, and it does not answer a question it had just asked itself (an
        // answer within `public_quick` is not sent).
        let quick = self.public_quick();
        let heard_since = self
            .peer
            .public
            .last_rx()
            .is_some_and(|t| t + quick >= asked)
            || self
                .peer
                .links
                .iter()
                .any(|(n, l)| !down.contains(n) && l.last_rx.is_some_and(|t| t > asked));
        if heard_since {
            self.log(
                Level::Warning,
                format!(
                    "link {}: no carrier, but {peer} is heard: a cable or port failed; nothing moves",
                    self.peer.carrier.down.join(", ")
                ),
            );
            return;
        }
        if self.peer.carrier.down.is_empty() {
            return;
        }
        let now = self.now;
        self.peer.carrier.verdict = Some(now);
        for l in self.peer.links.values_mut().filter(|l| l.relays) {
            l.cut_at = Some(now);
        }
        self.log(
            Level::Error,
            format!(
                "link {}: no carrier and no answer from {peer} on the public network within {CARRIER_WAIT} ms: {peer} lost power or crashed (not waiting for the links' silence)",
                self.peer.carrier.down.join(", ")
            ),
        );
    }

    /// When a question asked is judged.
    pub(super) fn carrier_wakeup(&self) -> Option<Millis> {
        self.peer.carrier.asked_at.map(|t| t + CARRIER_WAIT)
    }
}
