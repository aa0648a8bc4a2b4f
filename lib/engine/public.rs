//! The public-network check: when every private link is silent, the peer is asked over the
//! services' network, where its answer tells a partition from a dead peer. This concern
//! owns what it knows (the peer's addresses there, when it was last heard and asked) and
//! decides when a beat goes there; the engine passes in the time, the links' timing and the
//! peer's state, and sends what this returns.

use crate::clock::Millis;
use std::net::IpAddr;

#[derive(Clone, Debug)]
pub(super) struct PublicNet {
    /// The peer's last frame there.
    rx: Option<Millis>,
    /// Since when it has carried the peer's frames without a gap.
    since: Option<Millis>,
    /// The peer's addresses: IPv4 ones from its beats (kept across restarts), IPv6 ones from
    /// its report.
    known: Vec<IpAddr>,
    known6: Vec<IpAddr>,
    /// When the next beat goes there while the peer is late (`MAX`: none due).
    next_beat: Millis,
    /// When this node last sent there.
    sent: Option<Millis>,
    /// A beat of the peer came there and waits for an answer.
    answer: bool,
    /// A question goes there with the next beat (`carrier`).
    ask: bool,
}

/// What the engine knows when its beat may go over the public network.
pub(super) struct BeatNow {
    pub now: Millis,
    /// The shortest interval of the private links.
    pub interval: Millis,
    /// No private link has heard the peer for an interval and a half.
    pub late: bool,
    /// The peer counts as up (only late): ask quickly.
    pub peer_up: bool,
    /// The beat says something new.
    pub changed: bool,
}

/// Within this of our last beat there, the peer has a fresh one from us: an answer to its
/// question is not sent again (two answers must not answer each other). While the peer is
/// only late, beats go there this often, four an interval, so an answer is in before the
/// deadline even if one is lost.
pub(super) fn quick(interval: Millis) -> Millis {
    (interval / 4).max(10)
}

impl PublicNet {
    pub(super) fn new(saved: Vec<IpAddr>, now: Millis) -> PublicNet {
        PublicNet {
            rx: None,
            since: None,
            known: saved,
            known6: Vec::new(),
            next_beat: now,
            sent: None,
            answer: false,
            ask: false,
        }
    }

    /// Where to ask the peer: its IPv4 addresses, then its IPv6 ones.
    pub(super) fn addresses(&self) -> Vec<IpAddr> {
        let mut all = self.known.clone();
        for a in &self.known6 {
            if !all.contains(a) {
                all.push(*a);
            }
        }
        all
    }

    /// The peer's addresses from its beat (none given: keep what is known).
    pub(super) fn learned(&mut self, addrs: Vec<IpAddr>) {
        if !addrs.is_empty() {
            self.known = addrs;
        }
    }

    /// The peer's IPv6 addresses from its report.
    pub(super) fn learned6(&mut self, addrs: Vec<IpAddr>) {
        self.known6 = addrs;
    }

    /// A frame of the peer came over the public network; `dead` is the peer's silence limit.
    pub(super) fn heard(&mut self, now: Millis, dead: Millis) {
        if self.rx.is_none_or(|t| now.saturating_sub(t) >= dead) {
            self.since = Some(now);
        }
        self.rx = Some(now);
        self.answer = true;
    }

    /// The peer was heard there within `dead`.
    pub(super) fn recent(&self, now: Millis, dead: Millis) -> bool {
        self.rx.is_some_and(|t| now.saturating_sub(t) < dead)
    }

    /// The last frame heard there.
    pub(super) fn last_rx(&self) -> Option<Millis> {
        self.rx
    }

    /// It has carried the peer's frames for longer than a private beat takes (`beat`):
    /// silence on every private link then means a partition, not a peer starting.
    pub(super) fn settled(&self, now: Millis, beat: Millis) -> bool {
        self.since
            .is_some_and(|t| now.saturating_sub(t) >= beat + 1000)
    }

    /// Ask the peer with the next beat (its cable's carrier went).
    pub(super) fn ask(&mut self) {
        self.ask = true;
    }

    /// Whether the beat goes there now, and to where: an answer to the peer's beat (at once,
    /// or not at all), or a question while the peer is late (at once on turning late or on
    /// news, then every `quick` while it counts as up, every interval once it does not).
    pub(super) fn beat_due(&mut self, b: &BeatNow) -> Option<Vec<IpAddr>> {
        let to = self.addresses();
        if to.is_empty() {
            self.answer = false;
            return None;
        }
        let quick = quick(b.interval);
        let since_sent = self.sent.map_or(Millis::MAX, |t| b.now.saturating_sub(t));
        let answer = std::mem::take(&mut self.answer) && since_sent >= quick;
        if !b.late {
            self.next_beat = Millis::MAX;
        }
        // Turning late finds next_beat at MAX: ask at once.
        let asking = std::mem::take(&mut self.ask)
            || b.late && (b.changed || self.next_beat <= b.now || self.next_beat == Millis::MAX);
        if !(answer || asking) {
            return None;
        }
        self.sent = Some(b.now);
        let cadence = if b.peer_up { quick } else { b.interval };
        self.next_beat = if b.late { b.now + cadence } else { Millis::MAX };
        Some(to)
    }

    /// When something here is due: the peer's silence there counts from its last frame
    /// (`dead` later), and the next question.
    pub(super) fn wakeups(&self, dead: Millis) -> [Option<Millis>; 2] {
        [
            self.rx.map(|t| t + dead),
            (self.next_beat != Millis::MAX).then_some(self.next_beat),
        ]
    }

    /// hasvrd stood still for `gap`: the peer's frames there are counted from after it.
    pub(super) fn stalled(&mut self, gap: Millis) {
        self.rx = self.rx.map(|t| t + gap);
    }

    /// As if the peer had never been heard there (`why`'s thought experiment).
    pub(super) fn forget_heard(&mut self) {
        self.rx = None;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(now: Millis, late: bool, peer_up: bool) -> BeatNow {
        BeatNow {
            now,
            interval: 100,
            late,
            peer_up,
            changed: false,
        }
    }

    #[test]
    fn nothing_goes_without_an_address_or_a_reason() {
        let mut p = PublicNet::new(Vec::new(), 0);
        p.heard(0, 300);
        assert_eq!(p.beat_due(&at(10, true, true)), None, "no address known");
        let mut p = PublicNet::new(vec!["192.0.2.2".parse().unwrap()], 0);
        assert_eq!(
            p.beat_due(&at(10, false, true)),
            None,
            "not late, nothing to answer"
        );
    }

    #[test]
    fn a_late_peer_is_asked_at_once_then_every_quarter_interval_and_once_an_interval_when_down() {
        let mut p = PublicNet::new(vec!["192.0.2.2".parse().unwrap()], 0);
        assert!(
            p.beat_due(&at(150, true, true)).is_some(),
            "turning late: at once"
        );
        assert!(p.beat_due(&at(160, true, true)).is_none());
        assert!(
            p.beat_due(&at(175, true, true)).is_some(),
            "a quarter interval on"
        );
        assert!(p.beat_due(&at(200, true, false)).is_some());
        assert!(
            p.beat_due(&at(250, true, false)).is_none(),
            "down: once an interval"
        );
        assert!(p.beat_due(&at(300, true, false)).is_some());
        assert_eq!(p.wakeups(300)[1], Some(400));
        assert!(
            p.beat_due(&at(310, false, true)).is_none(),
            "heard again: no more"
        );
        assert_eq!(p.wakeups(300)[1], None);
    }

    #[test]
    fn an_answer_goes_at_once_unless_a_beat_went_there_within_a_quarter_interval() {
        let mut p = PublicNet::new(vec!["192.0.2.2".parse().unwrap()], 0);
        p.heard(1000, 300);
        assert!(p.beat_due(&at(1000, false, true)).is_some(), "answered");
        p.heard(1010, 300);
        assert!(
            p.beat_due(&at(1010, false, true)).is_none(),
            "sent 10 ms ago: the peer has it"
        );
        p.heard(1030, 300);
        assert!(p.beat_due(&at(1030, false, true)).is_some());
    }

    #[test]
    fn settled_and_recent_count_from_the_first_frame_after_a_gap() {
        let mut p = PublicNet::new(Vec::new(), 0);
        p.heard(1000, 300);
        p.heard(1200, 300);
        assert!(!p.settled(2099, 100) && p.settled(2100, 100));
        assert!(p.recent(1499, 300) && !p.recent(1500, 300));
        p.heard(1600, 300);
        assert!(!p.settled(2200, 100), "a gap of 400 ms starts it again");
        p.stalled(50);
        assert_eq!(p.last_rx(), Some(1650));
        // The peer's silence there is due a silence limit after its last frame.
        assert_eq!(p.wakeups(300)[0], Some(1950));
        // `why` imagines the peer silent everywhere.
        p.forget_heard();
        assert!(!p.recent(1700, 300) && !p.settled(5000, 100));
        assert_eq!(p.wakeups(300)[0], None);
    }

    #[test]
    fn ipv6_addresses_from_the_report_follow_the_ipv4_ones_from_the_beats() {
        let mut p = PublicNet::new(vec!["192.0.2.2".parse().unwrap()], 0);
        p.learned6(vec!["2001:db8::2".parse().unwrap()]);
        p.learned(Vec::new());
        let want: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
        assert_eq!(p.addresses(), want);
    }
}
