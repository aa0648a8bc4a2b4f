//! A node cut off from its peer and from the disk (sbd's rule): the peer hears it by no path,
//! so it gives up every service before the lease runs out, or fences itself; and the other
//! side of the same rule, a peer silent everywhere is taken over only a lease and a beat
//! after it went silent. The lease itself is `disks`.

use super::{Engine, PeerStatus, Phase};
use crate::clock::Millis;
use crate::disk::lease;

impl Engine {
    /// The peer does not hear this node on any path: it is silent everywhere, or says so.
    fn peer_deaf(&self) -> bool {
        match self.peer_status() {
            // Not heard since this hasvrd started, or gone with QUIT (a new one may start
            // any moment): nothing says it hears us.
            PeerStatus::Down | PeerStatus::Unknown | PeerStatus::Frozen => true,
            // Its beats (on a link, or on the public network) say whether it hears us.
            PeerStatus::Up | PeerStatus::Partitioned => {
                !self.peer.view.as_ref().is_some_and(|p| p.hears_me)
            }
        }
    }

    /// This node's peer hears it by no path, the disk included: it gives up every service
    /// (not only those with volumes) before the lease runs out, as sbd's nodes do, for the
    /// peer takes them over once it has.
    pub(super) fn isolated_unable(&self) -> Option<String> {
        if !self.disks.lease_lost() || self.lock_lease().is_none() || !self.peer_deaf() {
            return None;
        }
        let peer = self.peer_name();
        Some(format!(
            "{peer} hears this node by no path, the disk included (its beat is not reaching disk link {}): it gives up every service before {peer} may take them over",
            self.lock_link_name()
        ))
    }

    /// When the peer went silent on every path: the last frame on each link plus that
    /// link's silence limit, the latest of them (or of this engine's start).
    fn peer_silent_at(&self) -> Millis {
        let links = self
            .peer
            .links
            .values()
            .map(|l| l.last_rx.unwrap_or(self.disks.started()) + l.dead_after);
        let public = self
            .peer
            .public
            .last_rx()
            .map(|t| t + self.peer.dead_after());
        links.chain(public).fold(self.disks.started(), Millis::max)
    }

    /// With a disk link, a peer silent everywhere may be alive and cut off from everything,
    /// its services still running until it learns that it is (at most a beat after this
    /// node) and gives them up (within five sixths of the lease, or it fences itself). So
    /// they are taken over a lease and a beat after the peer went silent (and after this
    /// node is on the disk again, if it was not). When that is, while still ahead.
    pub(super) fn takeover_wait(&self) -> Option<Millis> {
        let (_, lease) = self.lock_lease()?;
        let beat = self
            .peer
            .links
            .values()
            .map(|l| l.interval)
            .max()
            .unwrap_or(0);
        // A silence on the disk counts only while this node could see the disk.
        let at = self.peer_silent_at().max(self.disks.on_disk_since()) + lease + beat;
        (self.now < at).then_some(at)
    }

    pub(super) fn isolation_deadline(&self) -> Option<Millis> {
        self.disks.isolation_deadline(self.lock_lease())
    }

    /// Called on every input: notes when this node was cut off, and fences it if it still
    /// runs a service when the peer may soon take it over.
    pub(super) fn check_isolation(&mut self) {
        let cut_off = self.isolated_unable().is_some();
        // The peer may have found this node silent before this node learnt that it is cut
        // off (its last word that it hears us can be old, or come from a predecessor
        // hasvrd), but not before its last beat on the disk fell a third of a lease silent,
        // nor before the peer last said it hears us.
        let (config, contact, now) = (&self.config, &self.peer.contact, self.now);
        self.disks.note_cut_off(cut_off, |renewed| {
            let heard = contact.heard_me_at.unwrap_or(0);
            lease::lock_link(config).map_or(now, |l| {
                now.min((renewed + lease::lease_of(l) / 3).max(heard))
            })
        });
        let Some(deadline) = self.isolation_deadline() else {
            return;
        };
        if self.now < deadline {
            return;
        }
        let running: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.phase != Phase::Stopped)
            .map(|(n, _)| n.clone())
            .collect();
        if !running.is_empty() {
            let reason = format!(
                "cut off from {} and the disk, {} could not be given up in time; the peer takes them over once the lease runs out",
                self.peer_name(),
                running.join(", ")
            );
            self.disks
                .fence(reason, &self.config.admin.fence, &mut self.out);
        }
    }
}
