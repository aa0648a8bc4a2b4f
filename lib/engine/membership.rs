//! What this node knows of its peer, and the rules that read it: each link's liveness, the
//! peer's last beat (its view of every service), how the contact stands (since when, what
//! the peer last said of itself and of us), the public network and the carriers. From these
//! alone follow the peer's status (up, down, partitioned, frozen, unknown), which link
//! carries control traffic, and when the next link deadline falls. Taking frames in, and
//! what they mean for the services, is `peer`.

use super::carrier::CarrierWatch;
use super::intent::Intent;
use super::link_view::LinkView;
use super::public::PublicNet;
use super::{PeerStatus, Phase};
use crate::clock::Millis;
use crate::frame::{self, Beat};
use std::collections::{BTreeMap, VecDeque};

/// The pseudo-link name of the public network.
pub const PUBLIC: &str = "public";

/// One service as the peer reports it.
#[derive(Clone, Debug)]
pub(super) struct PeerSvc {
    pub word: u8,
    pub phase: Phase,
    pub error: bool,
    pub unable: bool,
    /// The peer saw it running on both nodes (its both-claim alarm).
    pub both: bool,
    /// Its intent for the service.
    pub intent: Intent,
}

#[derive(Clone, Debug)]
pub(super) struct PeerView {
    pub boot: u64,
    pub seq: u64,
    pub generation: u64,
    pub digest: u32,
    /// By name; filled only while the peer's configuration digest equals ours.
    pub services: BTreeMap<String, PeerSvc>,
    pub nics: Vec<frame::NicRecord>,
    pub disks: Vec<(String, bool)>,
    /// The peer hears us (its last beat said so).
    pub hears_me: bool,
    /// Its last beat said it was stopping on purpose.
    pub leaving: bool,
    /// The beat itself: read again when our configuration changes (its service records
    /// mean something only under the same one), and what `sync_with_peer` goes by between
    /// beats.
    pub beat: Beat,
    /// Its beats come without `heard` (a release before it), and so must ours.
    pub short_beats: bool,
    /// The beat as it came: the same again is routine.
    pub payload: Vec<u8>,
}

/// How the contact with the peer stands, beside its view (`PeerView`): since when, and what
/// it last said of itself and of this node.
#[derive(Clone, Debug)]
pub(super) struct Contact {
    /// Until then (start-up) a silent peer is not yet counted down.
    pub grace_until: Millis,
    /// The peer came back (a frame after silence on every link) and its first frame was no
    /// beat: its view predates the silence until its next beat.
    pub view_stale: bool,
    /// When a beat of the peer was last taken in (over any path).
    pub beat_at: Option<Millis>,
    /// When a beat of the peer last said it hears this node: it heard us then, so it cannot
    /// have found us silent earlier.
    pub heard_me_at: Option<Millis>,
    /// The peer's status as the last pass saw it.
    pub was: PeerStatus,
    /// The peer's last beat said it leaves its services running (kept across restarts).
    pub kept: bool,
    /// The last frames acted on (boot, sequence): one arriving again on another link is not.
    pub recent_frames: VecDeque<(u64, u64)>,
}

impl Contact {
    pub(super) fn new(grace_until: Millis, kept: bool) -> Contact {
        Contact {
            grace_until,
            view_stale: false,
            beat_at: None,
            heard_me_at: None,
            was: PeerStatus::Unknown,
            kept,
            recent_frames: VecDeque::new(),
        }
    }
}

/// The peer as this node knows it.
#[derive(Clone, Debug)]
pub(super) struct Membership {
    pub links: BTreeMap<String, LinkView>,
    /// The peer's last beat, as read under our configuration.
    pub view: Option<PeerView>,
    pub contact: Contact,
    /// The public-network check: what it knows of the peer there, when it asks.
    pub public: PublicNet,
    pub carrier: CarrierWatch,
    /// This hasvrd's boot id, as its frames carry it (0: not told; then a beat's word that
    /// its sender hears us is taken as it is).
    pub boot: u64,
}

/// The `tag=` word of a link process's counters: frames whose tag did not check out.
fn tag_failures(line: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("tag="))
        .and_then(|v| v.parse::<u64>().ok())
}

impl Membership {
    pub(super) fn new(
        links: BTreeMap<String, LinkView>,
        contact: Contact,
        public: PublicNet,
    ) -> Membership {
        Membership {
            links,
            view: None,
            contact,
            public,
            carrier: CarrierWatch::default(),
            boot: 0,
        }
    }

    pub(super) fn link_up(&self, name: &str, now: Millis) -> bool {
        self.links.get(name).is_some_and(|l| l.alive(now))
    }

    /// How long every link must be silent before the peer counts as gone (the slowest link).
    pub(super) fn dead_after(&self) -> Millis {
        self.links.values().map(|l| l.dead_after).max().unwrap_or(0)
    }

    /// No private link has heard the peer for an interval and a half: time to ask over the
    /// public network, before any link's deadline.
    pub(super) fn late(&self, now: Millis) -> bool {
        self.links
            .values()
            .all(|l| l.late_said || !l.heard_within(now, l.late_after))
    }

    /// A link process said the peer is late on its link.
    pub(super) fn late_said(&mut self, link: &str) {
        if let Some(l) = self.links.get_mut(link) {
            l.late_said = true;
        }
    }

    pub(super) fn status(&self, now: Millis) -> PeerStatus {
        // Asked many times a step: the usual answer first, without lookups.
        if self.links.values().any(|l| l.alive(now)) {
            return PeerStatus::Up;
        }
        if self.contact.kept {
            return PeerStatus::Frozen;
        }
        if self.unreadable(now) {
            return PeerStatus::Unknown;
        }
        let dead = self.dead_after();
        let never_heard_privately = self.links.values().all(|l| l.last_rx.is_none());
        let public_recent = self.public.recent(now, dead);
        if public_recent && never_heard_privately && !self.public_settled(now) {
            // A starting peer's public beat outruns its link processes: wait for them.
            PeerStatus::Unknown
        } else if public_recent {
            PeerStatus::Partitioned
        } else if now < self.contact.grace_until && never_heard_privately {
            PeerStatus::Unknown
        } else {
            PeerStatus::Down
        }
    }

    /// Never read since this hasvrd started, yet something keeps sending frames on a link
    /// whose tag does not check out: a peer with another authkey (rotated while this node was
    /// down), alive. Nothing is taken over from it; only its silence would say it is down.
    /// (Only before a first good beat: frames forged by a stranger on a link must not hold
    /// back the take-over from a peer this node knew.)
    pub(super) fn unreadable(&self, now: Millis) -> bool {
        self.contact.beat_at.is_none()
            && self
                .links
                .values()
                .any(|l| l.unreadable_until().is_some_and(|t| now < t))
    }

    /// The public network has carried the peer's frames for longer than a private beat
    /// takes: silence on every private link then means a partition, not a peer starting.
    pub(super) fn public_settled(&self, now: Millis) -> bool {
        let beat = self.links.values().map(|l| l.interval).max().unwrap_or(0);
        self.public.settled(now, beat)
    }

    /// A frame now ends a silence: no link carried the peer, and no beat of it came over
    /// the public network either, for longer than the peer may be silent.
    pub(super) fn back(&self, now: Millis) -> bool {
        self.status(now) != PeerStatus::Up
            && self.contact.beat_at.is_none_or(|t| {
                now.saturating_sub(t) >= self.dead_after()
                    || self.carrier.verdict.is_some_and(|v| t <= v)
            })
    }

    /// The time of a link's last good frame, as its process keeps it. Says whether the next
    /// pass must run (the link was judged down, or the peer comes back after silence).
    pub(super) fn heard(&mut self, link: &str, at: Millis, now: Millis) -> bool {
        let Some((last, judged_up)) = self.links.get(link).map(|l| (l.last_rx, l.was_up)) else {
            return false;
        };
        if last.is_some_and(|t| t >= at) {
            return false;
        }
        // A link the last pass judged down that comes back changes what the next pass
        // decides. Not one it judged up: between two reads of a relaying link's page its
        // last time here ages past the silence limit while its process hears the peer (it
        // says when the peer is late), and a pass on every read would be an idle hasvrd's
        // main work with many services.
        let mut pass = !judged_up;
        if self.back(now) {
            // Heard again after silence: its last beat is old until the next one, which its
            // link process passes up whatever it says.
            self.contact.view_stale = true;
            pass = true;
        }
        if let Some(l) = self.links.get_mut(link) {
            l.last_rx = Some(at);
            l.late_said = false;
        }
        pass
    }

    /// A link process's counters that say nothing new of the peer's key (its count of
    /// frames whose tag fails did not grow): kept for status and metrics, without a pass.
    /// False when the count grew (or no such link): that is for `counters`.
    pub(super) fn routine_counters(&mut self, link: &str, line: &str) -> bool {
        let tags = tag_failures(line);
        let Some(l) = self.links.get_mut(link) else {
            return false;
        };
        if tags.is_some_and(|t| t > l.tag_failures) {
            return false;
        }
        // A restarted link process counts from zero again.
        if let Some(t) = tags {
            l.tag_failures = t;
        }
        l.stats = line.to_string();
        true
    }

    /// A link process's counters: a growing count of frames whose tag fails is the sign of
    /// a peer with another key. True when that count now makes a peer never read since this
    /// hasvrd started look alive (to be said once).
    pub(super) fn counters(&mut self, link: &str, line: String, now: Millis) -> bool {
        let tags = tag_failures(&line);
        let Some(l) = self.links.get_mut(link) else {
            return false;
        };
        l.stats = line;
        let Some(tags) = tags else { return false };
        let grew = tags > l.tag_failures;
        l.tag_failures = tags;
        if !grew {
            return false;
        }
        let was = self.unreadable(now);
        if let Some(l) = self.links.get_mut(link) {
            l.unreadable_at = Some(now);
        }
        !was && self.unreadable(now)
    }

    /// The peer's own view of a service from its last beat, whatever its status now (the
    /// both-claim alarm and a partition act on that evidence; `svc` is for decisions that
    /// need the peer up and in step).
    pub(super) fn reported(&self, name: &str) -> Option<&PeerSvc> {
        self.view.as_ref()?.services.get(name)
    }

    /// The peer's view of a service, while it is up and shares our configuration (`digest`).
    pub(super) fn svc(&self, name: &str, now: Millis, digest: u32) -> Option<&PeerSvc> {
        if !self.in_sync(now, digest) {
            return None;
        }
        self.view.as_ref()?.services.get(name)
    }

    /// Whether the peer is up, shares our configuration and reports everything.
    pub(super) fn in_sync(&self, now: Millis, digest: u32) -> bool {
        self.status(now) == PeerStatus::Up
            && !self.contact.view_stale
            && self.view.as_ref().is_some_and(|p| p.digest == digest)
    }

    /// The live link of highest priority, for control traffic (configuration).
    pub(super) fn best_link(&self, now: Millis) -> Option<String> {
        self.links
            .iter()
            .filter(|(_, l)| l.alive(now))
            .max_by_key(|(_, l)| l.priority)
            .map(|(n, _)| n.clone())
    }

    /// The nearest moment a link may die or a beat is due. A relaying link's deadline is
    /// watched only once its process said the peer is late (until then it is not near).
    pub(super) fn wakeup(&self, now: Millis) -> Option<Millis> {
        self.links
            .values()
            .flat_map(|l| {
                let beat = (!l.relays).then_some(l.next_beat);
                let deadline = l
                    .last_rx
                    .filter(|&t| !l.relays || l.late_said || now >= t + l.late_after)
                    .map(|t| t + l.dead_after);
                [beat, deadline]
            })
            .flatten()
            .chain(self.public.wakeups(self.dead_after()).into_iter().flatten())
            .filter(|&t| t > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::{Contact, Membership};
    use crate::clock::Millis;
    use crate::engine::link_view::LinkView;
    use crate::engine::public::PublicNet;
    use crate::engine::PeerStatus;
    use std::collections::BTreeMap;

    /// A link beating every `interval` ms, dead after three missed beats.
    fn link(interval: Millis, priority: u32, relays: bool) -> LinkView {
        LinkView {
            last_rx: None,
            next_beat: 0,
            interval,
            dead_after: 3 * interval,
            late_after: interval + interval / 2,
            relays,
            late_said: false,
            priority,
            stats: String::new(),
            was_up: false,
            serial: false,
            cut_at: None,
            tag_failures: 0,
            unreadable_at: None,
        }
    }

    /// Two links (lan: 1 s, priority 2; serial: 2 s, priority 1), a start-up grace of 10 s.
    fn pair() -> Membership {
        let links = BTreeMap::from([
            ("lan".to_string(), link(1000, 2, true)),
            ("serial".to_string(), link(2000, 1, true)),
        ]);
        Membership::new(
            links,
            Contact::new(10_000, false),
            PublicNet::new(Vec::new(), 0),
        )
    }

    #[test]
    fn a_silent_peer_is_unknown_during_the_grace_then_down_and_up_while_any_link_hears_it() {
        let mut m = pair();
        assert_eq!(
            m.dead_after(),
            6000,
            "the slowest link sets the silence limit"
        );
        assert_eq!(m.status(9_999), PeerStatus::Unknown);
        assert_eq!(m.status(10_000), PeerStatus::Down);
        m.links.get_mut("serial").unwrap().last_rx = Some(20_000);
        assert_eq!(m.status(25_999), PeerStatus::Up, "within serial's 6 s");
        assert_eq!(m.status(26_000), PeerStatus::Down);
        // Heard once privately: the grace no longer holds it unknown.
        let mut early = pair();
        early.links.get_mut("lan").unwrap().last_rx = Some(0);
        assert_eq!(early.status(5000), PeerStatus::Down);
    }

    #[test]
    fn a_peer_that_left_its_services_running_is_frozen_not_down() {
        let mut m = Membership::new(
            pair().links,
            Contact::new(0, true),
            PublicNet::new(Vec::new(), 0),
        );
        assert_eq!(m.status(50_000), PeerStatus::Frozen);
        m.links.get_mut("lan").unwrap().last_rx = Some(50_000);
        assert_eq!(m.status(50_000), PeerStatus::Up);
    }

    #[test]
    fn the_public_network_alone_makes_a_partition_once_it_has_carried_the_peer_a_while() {
        let mut m = pair();
        m.links.get_mut("lan").unwrap().last_rx = Some(0);
        m.public.heard(20_000, m.dead_after());
        // Settled after the longest private interval and a second more.
        assert!(!m.public_settled(22_999));
        assert!(m.public_settled(23_000));
        assert_eq!(
            m.status(21_000),
            PeerStatus::Partitioned,
            "heard privately before"
        );
        m.public.heard(25_000, m.dead_after());
        assert_eq!(
            m.status(31_000),
            PeerStatus::Down,
            "6 s after its last public frame"
        );
        // Never heard privately: a starting peer's public beat outruns its links.
        let mut starting = pair();
        starting.public.heard(20_000, starting.dead_after());
        assert_eq!(starting.status(20_000), PeerStatus::Unknown);
        starting.public.heard(23_000, starting.dead_after());
        assert_eq!(starting.status(23_000), PeerStatus::Partitioned);
    }

    #[test]
    fn a_frame_after_silence_asks_for_a_pass_and_marks_the_view_stale_but_a_repeat_does_not() {
        let mut m = pair();
        assert!(m.heard("lan", 1000, 1000), "judged down before: a pass");
        assert!(
            m.contact.view_stale,
            "back after silence: its last beat is old"
        );
        assert!(
            !m.heard("lan", 1000, 1500),
            "the same time again is nothing"
        );
        assert!(!m.heard("lan", 900, 1500), "nor an older one");
        assert!(!m.heard("nosuch", 2000, 2000));
        m.contact.view_stale = false;
        m.contact.beat_at = Some(1000);
        m.links.get_mut("lan").unwrap().was_up = true;
        assert!(!m.heard("lan", 1900, 2000), "up and heard: no pass");
        assert!(!m.contact.view_stale);
        assert_eq!(m.links["lan"].last_rx, Some(1900));
    }

    #[test]
    fn a_growing_count_of_failed_tags_is_no_routine_and_says_once_that_the_peer_is_unreadable() {
        let mut m = pair();
        assert!(m.routine_counters("lan", "rx=5 tag=0"));
        assert!(
            !m.routine_counters("lan", "rx=6 tag=2"),
            "grew: a full pass"
        );
        assert_eq!(m.links["lan"].stats, "rx=5 tag=0");
        assert!(m.counters("lan", "rx=6 tag=2".to_string(), 1000));
        assert!(m.unreadable(1000));
        assert_eq!(m.status(4000), PeerStatus::Unknown, "alive but unreadable");
        assert_eq!(
            m.status(15_000),
            PeerStatus::Down,
            "a second past its silence limit"
        );
        assert!(
            !m.counters("lan", "rx=7 tag=3".to_string(), 2000),
            "said once"
        );
        // A restarted link process counts from zero: routine, and the count follows it.
        assert!(m.routine_counters("lan", "rx=0 tag=0"));
        assert_eq!(m.links["lan"].tag_failures, 0);
        // After a good beat, failed tags no longer hold the peer alive.
        m.contact.beat_at = Some(2500);
        assert!(!m.unreadable(3000));
        assert!(!m.routine_counters("nosuch", "tag=0"));
    }

    #[test]
    fn control_traffic_takes_the_live_link_of_highest_priority() {
        let mut m = pair();
        assert_eq!(m.best_link(0), None);
        m.links.get_mut("serial").unwrap().last_rx = Some(0);
        assert_eq!(m.best_link(100).as_deref(), Some("serial"));
        m.links.get_mut("lan").unwrap().last_rx = Some(0);
        assert_eq!(m.best_link(100).as_deref(), Some("lan"));
        assert_eq!(
            m.best_link(3000).as_deref(),
            Some("serial"),
            "lan died at 3 s"
        );
        assert!(m.link_up("serial", 3000) && !m.link_up("lan", 3000));
    }

    #[test]
    fn a_relaying_links_deadline_is_watched_only_once_the_peer_is_late_on_it() {
        let mut m = pair();
        m.links.get_mut("lan").unwrap().last_rx = Some(10_000);
        m.links.get_mut("serial").unwrap().last_rx = Some(10_000);
        assert_eq!(
            m.wakeup(10_100),
            None,
            "both relay and the peer is not late"
        );
        assert_eq!(
            m.wakeup(11_500),
            Some(13_000),
            "lan late at 1.5 s: its deadline"
        );
        assert!(!m.late(11_500), "serial still hears it");
        assert!(m.late(13_000));
        // A disk link gets every beat from the engine: its next beat is a wake-up.
        m.links.get_mut("serial").unwrap().relays = false;
        m.links.get_mut("serial").unwrap().next_beat = 10_400;
        assert_eq!(m.wakeup(10_100), Some(10_400));
    }

    #[test]
    fn a_link_whose_process_said_late_is_watched_even_before_this_engines_own_reckoning_says_so() {
        let mut m = pair();
        m.links.get_mut("serial").unwrap().relays = false;
        m.links.get_mut("serial").unwrap().next_beat = 0;
        m.links.get_mut("serial").unwrap().last_rx = None;
        // After a stall this engine counts lan's last frame later than its process does.
        m.links.get_mut("lan").unwrap().last_rx = Some(10_000);
        assert_eq!(
            m.wakeup(10_100),
            None,
            "not late by this engine's reckoning"
        );
        assert!(!m.late(10_100));
        m.late_said("lan");
        assert_eq!(m.wakeup(10_100), Some(13_000), "its deadline is watched");
        assert!(m.late(10_100));
        // A newer frame ends it; the same time again does not.
        assert!(!m.heard("lan", 10_000, 10_200));
        assert!(m.links["lan"].late_said);
        m.heard("lan", 10_300, 10_300);
        assert!(!m.links["lan"].late_said);
        assert_eq!(m.wakeup(10_400), None);
        m.late_said("nosuch");
    }
}
