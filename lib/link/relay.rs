//! What a socket or serial link process does by itself between hasvrd's messages, so that
//! hasvrd sleeps while nothing changes (an idle pair costs what its beats cost, not an
//! engine pass per beat):
//!
//! - `Standing`: it repeats this node's standing beat every interval, sealed afresh each
//!   time with the sequence hasvrd gave it plus the repeat count (hasvrd's sequences go in
//!   steps of `frame::SEQ_STRIDE`, so a repeat never reaches hasvrd's next frame). It stops
//!   repeating `STANDING_LIFE` after hasvrd last gave it the beat: hasvrd gives it again every
//!   few seconds, so a hung hasvrd falls silent and its peer takes over, as it would without
//!   repeats. Where the peer's link process speaks protocol version 3, a repeat goes short
//!   (`frame::REPEAT_KIND`: "the beat of sequence G again", a few bytes in place of every
//!   service's record), except those that go whole (`frame::repeat_goes_whole`).
//! - `Inbound`: it passes up only frames that say something: a beat unlike the last one
//!   passed up, any other message, the first frame and the first beat after a silence (hasvrd
//!   holds what the peer said before it as old until a beat comes). A short repeat stands for
//!   the whole beat it names, if that beat came; if it did not, it only counts as heard, and
//!   the link process asks the peer's for the whole beat (`frame::WANT_KIND`), whose next
//!   repeat then goes whole at once: a partition that heals, or a beat lost on one way only,
//!   costs a round trip, not ten intervals. Every good frame's time goes into the heard page
//!   (a memory file hasvrd gave it), which hasvrd reads whenever it decides. When no good
//!   frame came for `late_after` (one and a half intervals) it tells hasvrd once (`LATE`):
//!   hasvrd then asks over the public network and watches the deadline.

use crate::frame;
use std::time::{Duration, Instant};

/// How long a link repeats a standing beat that hasvrd has not given again.
pub const STANDING_LIFE: Duration = Duration::from_secs(30);

/// This node's beat, repeated every interval.
pub struct Standing {
    interval: Duration,
    beat: Option<Beat>,
}

struct Beat {
    boot: u64,
    seq: u64,
    payload: Vec<u8>,
    repeats: u64,
    next: Instant,
    given: Instant,
    /// The peer's link process asked for it whole: the next repeat goes whole, at once.
    wanted: bool,
}

impl Standing {
    pub fn new(interval: Duration) -> Standing {
        Standing {
            interval,
            beat: None,
        }
    }

    /// hasvrd gave a beat: repeat it from now on. Whether to send it at once: yes when it
    /// is new; no when hasvrd only gave the same beat again (its periodic refresh, or after
    /// another frame), which only re-arms the repeats under a newer sequence. A frame that
    /// does not open is not repeated. (Not checked against the key: it comes from hasvrd over
    /// a pipe, and during a change of key the two may hold different keys for a moment.)
    pub fn set(&mut self, sealed: &[u8], now: Instant) -> bool {
        let Ok(f) = frame::open(None, sealed) else {
            self.beat = None;
            return true;
        };
        let next = match &self.beat {
            Some(b) if b.boot == f.boot && b.payload == f.payload => Some(b.next),
            _ => None,
        };
        self.beat = Some(Beat {
            boot: f.boot,
            seq: f.seq,
            payload: f.payload,
            repeats: 0,
            next: next.unwrap_or(now + self.interval),
            given: now,
            wanted: false,
        });
        next.is_none()
    }

    /// hasvrd sent another frame through this link: repeats of the beat go on under sequences
    /// above it (below, the peer would drop them as replays), the first ones whole so that
    /// the peer's link process knows what later short ones stand for. hasvrd gives the beat
    /// again right after such a frame, but a hasvrd frozen in between must not silence the
    /// link: the peer would take over services that still run here.
    pub fn sent_other(&mut self, sealed: &[u8]) {
        let Ok(f) = frame::open(None, sealed) else {
            return;
        };
        if let Some(b) = self
            .beat
            .as_mut()
            .filter(|b| f.boot == b.boot && f.seq > b.seq)
        {
            b.seq = f.seq;
            b.repeats = 0;
        }
    }

    /// Half an interval: how early a repeat may go with a wake that happens anyway.
    pub fn half_interval(&self) -> Duration {
        self.interval / 2
    }

    /// The peer's link process asked for the whole beat: the next repeat goes whole, now.
    pub fn wanted(&mut self, now: Instant) {
        if let Some(b) = self.beat.as_mut() {
            b.wanted = true;
            b.next = b.next.min(now);
        }
    }

    /// Asks the peer's link process for the whole beat of gift `gift`, under the next
    /// sequence of ours (`None`: no beat of ours to take one from, or none left).
    pub fn want(&mut self, key: Option<&[u8]>, gift: u64) -> Option<Vec<u8>> {
        let b = self
            .beat
            .as_mut()
            .filter(|b| b.repeats + 1 < frame::SEQ_STRIDE)?;
        b.repeats += 1;
        frame::seal(key, b.boot, b.seq + b.repeats, &frame::want_whole(gift)).ok()
    }

    /// When the next repeat is due (`None`: nothing to repeat).
    pub fn due(&self) -> Option<Instant> {
        let b = self.beat.as_ref()?;
        let alive = b.next.saturating_duration_since(b.given) <= STANDING_LIFE;
        let room = b.repeats + 1 < frame::SEQ_STRIDE;
        (alive && room).then_some(b.next)
    }

    /// The repeat due by `now + early`, sealed afresh; short if `short` allows (the peer's
    /// link process takes them) and it is not one of those that go whole. A link that wakes
    /// for the peer's beat sends its own if it is due within half an interval: the two nodes'
    /// beats then fall into step and each link wakes about once an interval, not twice.
    pub fn repeat(
        &mut self,
        key: Option<&[u8]>,
        now: Instant,
        early: Duration,
        short: bool,
    ) -> Option<Vec<u8>> {
        let due = self.due()?;
        if due > now + early {
            return None;
        }
        let b = self.beat.as_mut()?;
        let whole = !short || std::mem::take(&mut b.wanted) || frame::repeat_goes_whole(b.repeats);
        b.repeats += 1;
        // A late turn does not make a burst: the next repeat is an interval from now.
        b.next = now + self.interval;
        let seq = b.seq + b.repeats;
        if whole {
            frame::seal(key, b.boot, seq, &b.payload).ok()
        } else {
            frame::seal(key, b.boot, seq, &frame::short_repeat(b.seq)).ok()
        }
    }
}

/// Frames from the peer: which go up, and when the peer is late.
pub struct Inbound {
    late_after: Duration,
    last_good: Instant,
    late_told: bool,
    /// The boot id and payload of the last beat passed up.
    passed: Option<(u64, Vec<u8>)>,
    /// The boot id, sequence and payload of the last whole beat that came (short repeats
    /// name it).
    whole: Option<(u64, u64, Vec<u8>)>,
    /// A short repeat named a beat that never came: ask for it (its gift sequence).
    lacking: Option<u64>,
    /// The peer's link process asked for our whole beat.
    asked: bool,
    /// A silence ended and no beat has gone up since: the next one goes up.
    beat_owed: bool,
    heard: Option<crate::sys::SharedU64>,
}

impl Inbound {
    /// `started`: the process start (a link that never hears the peer is late from then).
    pub fn new(
        interval: Duration,
        heard: Option<crate::sys::SharedU64>,
        started: Instant,
    ) -> Inbound {
        Inbound {
            late_after: interval + interval / 2,
            last_good: started,
            late_told: false,
            passed: None,
            whole: None,
            lacking: None,
            asked: false,
            beat_owed: false,
            heard,
        }
    }

    /// The page hasvrd named in `HA_HEARD_FD`, if it did.
    pub fn heard_page_from_env() -> Option<crate::sys::SharedU64> {
        let fd: i32 = std::env::var("HA_HEARD_FD").ok()?.trim().parse().ok()?;
        crate::sys::SharedU64::map(crate::sys::inherited_file(fd)?).ok()
    }

    /// A good frame (checked) came at `now`: what to pass up, if anything (a short repeat
    /// passes up as the whole beat it stands for). Without a heard page every frame goes up:
    /// hasvrd would otherwise take a quiet peer for a silent one.
    pub fn arrived(&mut self, f: frame::Opened, now: Instant) -> Option<frame::Opened> {
        let after_silence =
            self.late_told || now.saturating_duration_since(self.last_good) >= self.late_after;
        self.last_good = now;
        self.late_told = false;
        self.beat_owed |= after_silence;
        if let Some(h) = &self.heard {
            h.store(crate::sys::boottime_millis());
        }
        let short = match f.payload.first() {
            Some(&frame::BEAT_KIND) => {
                self.note_whole(f.boot, f.seq, &f.payload);
                false
            }
            Some(&frame::REPEAT_KIND) => true,
            Some(&frame::WANT_KIND) => {
                self.asked = true;
                return None;
            }
            _ => return Some(f),
        };
        let payload = if short {
            // Heard, and nothing more, unless the beat it names came: then it is asked for.
            let gift = frame::repeated_gift(&f.payload)?;
            let named = self.whole.as_ref().filter(|(boot, seq, _)| {
                *boot == f.boot && (gift..gift.saturating_add(frame::SEQ_STRIDE)).contains(seq)
            });
            let Some((_, _, p)) = named else {
                self.lacking = Some(gift);
                return None;
            };
            p
        } else {
            &f.payload
        };
        let same = self
            .passed
            .as_ref()
            .is_some_and(|(boot, p)| *boot == f.boot && p == payload);
        if same && !self.beat_owed && self.heard.is_some() {
            return None;
        }
        self.beat_owed = false;
        if !same {
            self.passed = Some((f.boot, payload.clone()));
        }
        if short {
            let payload = payload.clone();
            Some(frame::Opened { payload, ..f })
        } else {
            Some(f)
        }
    }

    /// A whole beat came: short repeats that name it stand for it.
    fn note_whole(&mut self, boot: u64, seq: u64, payload: &[u8]) {
        match &mut self.whole {
            Some((b, s, p)) if *b == boot && p == payload => *s = seq,
            _ => self.whole = Some((boot, seq, payload.to_vec())),
        }
    }

    /// When the peer turns late, if it has not been told yet.
    pub fn late_due(&self) -> Option<Instant> {
        (!self.late_told).then(|| self.last_good + self.late_after)
    }

    /// Whether to tell hasvrd now that the peer is late (once a silence).
    pub fn late(&mut self, now: Instant) -> bool {
        if self.late_due().is_some_and(|t| t <= now) {
            self.late_told = true;
            return true;
        }
        false
    }
}

/// A link process's own work, for any transport: the standing beat going out, the peer's
/// frames coming in. The transport's loop asks it what to send and what to pass up.
pub struct Relay {
    key: Option<Vec<u8>>,
    standing: Standing,
    inbound: Inbound,
    /// A good frame came this turn: our beat may go with the wake.
    heard: bool,
}

impl Relay {
    /// The heard page comes from `HA_HEARD_FD`.
    pub fn new(key: Option<Vec<u8>>, interval: Duration) -> Relay {
        Relay {
            key,
            standing: Standing::new(interval),
            inbound: Inbound::new(interval, Inbound::heard_page_from_env(), Instant::now()),
            heard: false,
        }
    }

    /// The key the repeats are sealed with (the authkey changed).
    pub fn set_key(&mut self, key: Option<Vec<u8>>) {
        self.key = key;
    }

    /// When the loop must wake by itself: a repeat due, or the peer turning late.
    pub fn wake(&self) -> Option<Instant> {
        sooner(self.standing.due(), self.inbound.late_due())
    }

    /// A frame hasvrd gave (`standing`: its beat): whether to send it now.
    pub fn given(&mut self, standing: bool, frame: &[u8]) -> bool {
        if standing {
            self.standing.set(frame, Instant::now())
        } else {
            self.standing.sent_other(frame);
            true
        }
    }

    /// A checked frame from the peer: what to pass up, if anything.
    pub fn arrived(&mut self, frame: frame::Opened) -> Option<frame::Opened> {
        self.heard = true;
        let now = Instant::now();
        let up = self.inbound.arrived(frame, now);
        if std::mem::take(&mut self.inbound.asked) {
            self.standing.wanted(now);
        }
        up
    }

    /// The end of a turn: the frames to send now (a request for the peer's whole beat, the
    /// repeat due; short ones only if `short`: the peer's link process takes them), and
    /// whether to tell hasvrd the peer is late.
    pub fn end_turn(&mut self, short: bool) -> (Vec<Vec<u8>>, bool) {
        let now = Instant::now();
        let early = if std::mem::take(&mut self.heard) {
            self.standing.half_interval()
        } else {
            Duration::ZERO
        };
        let mut out = Vec::new();
        if let Some(gift) = self.inbound.lacking.take().filter(|_| short) {
            out.extend(self.standing.want(self.key.as_deref(), gift));
        }
        out.extend(self.standing.repeat(self.key.as_deref(), now, early, short));
        (out, self.inbound.late(now))
    }
}

/// The sooner of two optional moments.
pub fn sooner(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A poll timeout in milliseconds until `at` (-1: none), rounded up so a wake is never early.
pub fn timeout_until(at: Option<Instant>, now: Instant) -> i32 {
    match at {
        None => -1,
        Some(t) => {
            let left = t.saturating_duration_since(now);
            (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Inbound {
        fn arrived_is(&mut self, f: &[u8], now: Instant) -> bool {
            self.arrived(opened(f), now).is_some()
        }
    }

    /// A frame as the wire gives it, opened.
    fn opened(f: &[u8]) -> frame::Opened {
        frame::open(None, f).unwrap()
    }

    fn beat(boot: u64, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut p = vec![frame::BEAT_KIND];
        p.extend_from_slice(body);
        frame::seal(Some(b"k"), boot, seq, &p).unwrap()
    }

    #[test]
    fn a_standing_beat_repeats_every_interval_with_growing_sequences_until_it_expires() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let mut s = Standing::new(i);
        assert!(s.due().is_none());
        assert!(s.set(&beat(7, 3 * frame::SEQ_STRIDE, b"x"), t0));
        assert!(
            s.repeat(Some(b"k"), t0 + i / 4, Duration::ZERO, false)
                .is_none(),
            "not yet due"
        );
        let mut last = 3 * frame::SEQ_STRIDE;
        let mut at = t0 + i;
        let mut count = 0;
        while let Some(f) = s.repeat(Some(b"k"), at, Duration::ZERO, false) {
            let o = frame::open(Some(b"k"), &f).unwrap();
            assert_eq!(o.boot, 7);
            assert!(o.seq > last && o.seq < 4 * frame::SEQ_STRIDE);
            assert_eq!(o.payload, [frame::BEAT_KIND, b'x']);
            last = o.seq;
            at += i;
            count += 1;
            assert!(count < 1000);
        }
        // Repeats stop once hasvrd has not given it again for STANDING_LIFE.
        assert_eq!(count as u128, STANDING_LIFE.as_millis() / 100);
        // Given again: it repeats again, without going at once (nothing new).
        assert!(!s.set(&beat(7, 4 * frame::SEQ_STRIDE, b"x"), at));
        assert!(s.repeat(Some(b"k"), at, Duration::ZERO, false).is_some());
        at += i;
        assert!(s.set(&beat(7, 5 * frame::SEQ_STRIDE, b"y"), at), "new");
        assert!(
            s.repeat(Some(b"k"), at + i / 2, i / 2, false).is_some(),
            "early, with a wake"
        );
        assert!(
            s.repeat(Some(b"k"), at + i, Duration::ZERO, false)
                .is_none(),
            "the next an interval after that one"
        );
        // Another frame sent after it: the repeats go on above its sequence, whole first
        // (a hasvrd frozen before giving the beat again must not silence the link).
        s.set(&beat(7, 6 * frame::SEQ_STRIDE, b"y"), at);
        let mut cfg = vec![2u8];
        cfg.extend_from_slice(b"config");
        s.sent_other(&frame::seal(Some(b"k"), 7, 7 * frame::SEQ_STRIDE, &cfg).unwrap());
        let due = s.due().expect("still repeated");
        let f = s.repeat(Some(b"k"), due, Duration::ZERO, true).unwrap();
        let f = frame::open(Some(b"k"), &f).unwrap();
        assert!(f.seq > 7 * frame::SEQ_STRIDE);
        assert_eq!(
            f.payload.first(),
            Some(&frame::BEAT_KIND),
            "whole after the other frame"
        );
        assert!(!s.set(&beat(7, 8 * frame::SEQ_STRIDE, b"y"), at));
        let due = s.due().unwrap();
        let f = s.repeat(Some(b"k"), due, Duration::ZERO, false).unwrap();
        assert!(frame::open(Some(b"k"), &f).unwrap().seq > 8 * frame::SEQ_STRIDE);
        // A frame that does not open is not repeated.
        s.set(b"SH\x01junk", at);
        assert!(s.due().is_none());
    }

    #[test]
    fn only_new_beats_other_messages_and_frames_after_a_silence_go_up() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let ms = Duration::from_millis;
        let page = || crate::sys::SharedU64::map(crate::sys::shared_page("t").unwrap()).ok();
        let mut inb = Inbound::new(i, page(), t0);
        assert!(inb.arrived_is(&beat(1, 10, b"a"), t0 + ms(10)), "the first");
        assert!(
            !inb.arrived_is(&beat(1, 11, b"a"), t0 + ms(110)),
            "a repeat"
        );
        assert!(inb.arrived_is(&beat(1, 12, b"b"), t0 + ms(210)), "a change");
        assert!(
            inb.arrived_is(&beat(2, 1, b"b"), t0 + ms(310)),
            "a new boot"
        );
        let mut other = vec![2u8];
        other.extend_from_slice(b"config");
        let cfg = frame::seal(Some(b"k"), 2, 2, &other).unwrap();
        assert!(inb.arrived_is(&cfg, t0 + ms(320)), "not a beat");
        assert!(!inb.arrived_is(&beat(2, 3, b"b"), t0 + ms(410)));
        // Late once, 150 ms after the last good frame, and not again.
        assert_eq!(inb.late_due(), Some(t0 + ms(560)));
        assert!(!inb.late(t0 + ms(559)));
        assert!(inb.late(t0 + ms(560)));
        assert!(!inb.late(t0 + ms(900)));
        assert_eq!(inb.late_due(), None);
        // The same beat after the silence goes up: hasvrd must hear the link is back.
        assert!(inb.arrived_is(&beat(2, 9, b"b"), t0 + ms(950)));
        assert!(!inb.arrived_is(&beat(2, 10, b"b"), t0 + ms(1050)));
        // After a silence ended by another message, the first beat still goes up, even
        // unchanged: hasvrd holds its view of the peer as old until a beat comes.
        let other = frame::seal(Some(b"k"), 2, 20, &[2u8, b'x']).unwrap();
        assert!(inb.arrived_is(&other, t0 + ms(1500)), "after a silence");
        assert!(
            inb.arrived_is(&beat(2, 21, b"b"), t0 + ms(1510)),
            "the owed beat"
        );
        assert!(
            !inb.arrived_is(&beat(2, 22, b"b"), t0 + ms(1610)),
            "then repeats again"
        );
        // A link that never hears the peer is late from its start.
        let mut quiet = Inbound::new(i, page(), t0);
        assert!(quiet.late(t0 + ms(150)));
        // Without a heard page, every frame goes up (hasvrd knows no other way it was heard).
        let mut blind = Inbound::new(i, None, t0);
        assert!(blind.arrived_is(&beat(1, 10, b"a"), t0 + ms(10)));
        assert!(blind.arrived_is(&beat(1, 11, b"a"), t0 + ms(110)));
    }

    #[test]
    fn repeats_go_short_where_the_peer_takes_them_but_whole_after_each_gift_and_now_and_then() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let body = vec![b'x'; 3000];
        let gift = 3 * frame::SEQ_STRIDE;
        let mut s = Standing::new(i);
        s.set(&beat(7, gift, &body), t0);
        let mut whole = Vec::new();
        for r in 1..=25u64 {
            let f = s
                .repeat(Some(b"k"), t0 + i * r as u32, Duration::ZERO, true)
                .unwrap();
            let o = frame::open(Some(b"k"), &f).unwrap();
            assert_eq!(o.seq, gift + r);
            if o.payload.first() == Some(&frame::BEAT_KIND) {
                assert_eq!(o.payload[1..], body[..]);
                whole.push(r);
            } else {
                assert_eq!(frame::repeated_gift(&o.payload), Some(gift), "repeat {r}");
                assert!(f.len() < 60, "{} bytes", f.len());
            }
        }
        assert_eq!(whole, [1, 2, 3, 11, 21]);
        // The peer's link process of the release before: every repeat whole.
        let t1 = t0 + i * 30;
        s.set(&beat(7, gift + frame::SEQ_STRIDE, &body), t1);
        for r in 1..=12u64 {
            let f = s
                .repeat(Some(b"k"), t1 + i * r as u32, Duration::ZERO, false)
                .unwrap();
            assert_eq!(frame::open(None, &f).unwrap().payload[0], frame::BEAT_KIND);
        }
    }

    #[test]
    fn a_short_repeat_stands_for_the_beat_it_names_and_only_counts_as_heard_without_it() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let ms = Duration::from_millis;
        let page = crate::sys::shared_page("short").unwrap();
        let theirs = crate::sys::SharedU64::map(page.try_clone().unwrap()).unwrap();
        let mut inb = Inbound::new(i, crate::sys::SharedU64::map(page).ok(), t0);
        let g1 = 5 * frame::SEQ_STRIDE;
        let short =
            |gift: u64, seq: u64| frame::seal(None, 2, seq, &frame::short_repeat(gift)).unwrap();
        assert!(inb.arrived_is(&beat(2, g1, b"a"), t0 + ms(10)));
        assert!(
            !inb.arrived_is(&short(g1, g1 + 4), t0 + ms(110)),
            "the same beat"
        );
        // After a silence the beat it names goes up, rebuilt whole, under its sequence.
        assert!(inb.late(t0 + ms(400)));
        let o = inb
            .arrived(opened(&short(g1, g1 + 5)), t0 + ms(500))
            .unwrap();
        assert_eq!((o.boot, o.seq), (2, g1 + 5));
        assert_eq!(o.payload, [frame::BEAT_KIND, b'a']);
        assert!(!inb.arrived_is(&short(g1, g1 + 6), t0 + ms(600)));
        // A new beat lost on the way: its short repeats are heard, and pass nothing up
        // until one of its whole repeats comes.
        let g2 = 6 * frame::SEQ_STRIDE;
        let before = theirs.load();
        std::thread::sleep(ms(2));
        assert!(!inb.arrived_is(&short(g2, g2 + 4), t0 + ms(700)));
        assert!(theirs.load() > before, "heard");
        assert_eq!(inb.late_due(), Some(t0 + ms(850)));
        assert!(
            inb.arrived_is(&beat(2, g2 + 11, b"b"), t0 + ms(800)),
            "whole again"
        );
        assert!(!inb.arrived_is(&short(g2, g2 + 12), t0 + ms(900)));
        // A short repeat of another boot, or one that names no beat, stands for nothing.
        assert!(!inb.arrived_is(
            &frame::seal(None, 3, 1, &frame::short_repeat(g2)).unwrap(),
            t0 + ms(910)
        ));
        assert!(!inb.arrived_is(
            &frame::seal(None, 3, 2, &[frame::REPEAT_KIND, 1]).unwrap(),
            t0 + ms(920)
        ));
    }

    #[test]
    fn a_link_that_lacks_the_beat_a_short_repeat_names_asks_for_it_and_gets_it_whole_at_once() {
        // Two link processes' relays, back to back; alpha's new beat is lost on the way.
        let i = Duration::from_millis(100);
        let (mut alpha, mut beta) = (
            Relay::new(Some(b"k".to_vec()), i),
            Relay::new(Some(b"k".to_vec()), i),
        );
        let g = frame::SEQ_STRIDE;
        alpha.given(true, &beat(1, g, b"old"));
        beta.given(true, &beat(2, g, b"beta"));
        assert!(beta.arrived(opened(&beat(1, g, b"old"))).is_some());
        alpha.given(true, &beat(1, 2 * g, b"new"));
        // beta hears short repeats of a beat it never got: it asks, once a repeat.
        let short = frame::seal(None, 1, 2 * g + 7, &frame::short_repeat(2 * g)).unwrap();
        assert_eq!(beta.arrived(opened(&short)), None);
        let (out, _) = beta.end_turn(true);
        let ask = out
            .iter()
            .map(|f| frame::open(Some(b"k"), f).unwrap())
            .find(|o| o.payload.first() == Some(&frame::WANT_KIND))
            .expect("asks for the whole beat");
        assert_eq!((ask.boot, ask.payload), (2, frame::want_whole(2 * g)));
        assert!(ask.seq > g && ask.seq < 2 * g, "under beta's own sequences");
        // alpha's next turn sends it whole, without waiting for the interval.
        assert_eq!(
            alpha.arrived(opened(
                &frame::seal(None, 2, ask.seq, &frame::want_whole(2 * g)).unwrap()
            )),
            None
        );
        let (out, _) = alpha.end_turn(true);
        let whole = frame::open(Some(b"k"), &out[0]).unwrap();
        assert_eq!(whole.payload, [&[frame::BEAT_KIND][..], b"new"].concat());
        let up = beta
            .arrived(frame::open(Some(b"k"), &out[0]).unwrap())
            .expect("the new beat goes up");
        assert_eq!(up.payload, whole.payload);
        // Toward a link process of the release before, nothing is asked.
        let short = frame::seal(None, 1, 3 * g + 7, &frame::short_repeat(3 * g)).unwrap();
        beta.arrived(opened(&short));
        let (out, _) = beta.end_turn(false);
        assert!(out
            .iter()
            .all(|f| frame::open(None, f).unwrap().payload[0] == frame::BEAT_KIND));
    }

    #[test]
    fn the_heard_page_holds_the_time_of_the_last_good_frame() {
        let page = crate::sys::shared_page("test").unwrap();
        let theirs = crate::sys::SharedU64::map(page.try_clone().unwrap()).unwrap();
        let mine = crate::sys::SharedU64::map(page).unwrap();
        let mut inb = Inbound::new(Duration::from_millis(100), Some(mine), Instant::now());
        assert_eq!(theirs.load(), 0);
        let before = crate::sys::boottime_millis();
        inb.arrived_is(&beat(1, 1, b"a"), Instant::now());
        let at = theirs.load();
        assert!(at >= before && at <= crate::sys::boottime_millis());
    }
}
