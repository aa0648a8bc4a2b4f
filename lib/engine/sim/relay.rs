//! The private link's processes as the simulator plays them (`link::relay`): the sender's
//! process repeats the standing beat every interval with sequences between hasvrd's, under
//! a newer sequence once hasvrd sent another frame and gave the beat again, short but for
//! those that go whole (`frame::repeat_goes_whole`); the receiver's process drops replays,
//! takes a short repeat for the whole beat it names if that came (else only as heard),
//! passes up only beats that differ from the last passed up (or come after a silence) and
//! other messages, keeps the time of the last good frame
//! (given to the engine before each input, as the executor reads the heard page), and rings
//! once when the peer is late.

use super::{daemon, Sim, NAMES};
use crate::clock::Millis;
use crate::engine::Input;
use crate::frame::SEQ_STRIDE;

pub(super) const LAN: &str = "lan";

#[derive(Clone)]
struct Standing {
    seq: u64,
    payload: Vec<u8>,
    repeats: u64,
    next: Millis,
    /// When hasvrd last gave it: repeats stop `STANDING_LIFE` later.
    given: Millis,
    /// The peer's link process asked for it whole.
    wanted: bool,
}

impl Standing {
    fn due(&self) -> Option<Millis> {
        let alive = self.next.saturating_sub(self.given) <= daemon::STANDING_LIFE;
        (alive && self.repeats + 1 < SEQ_STRIDE).then_some(self.next)
    }
}

#[derive(Default, Clone)]
pub(super) struct Inbound {
    last_good: Millis,
    late_told: bool,
    passed: Option<(u64, Vec<u8>)>,
    /// The last whole beat that came: (boot, sequence, payload).
    whole: Option<(u64, u64, Vec<u8>)>,
    beat_owed: bool,
    guard: Option<(u64, u64)>,
    pub heard: Option<Millis>,
}

#[derive(Default)]
pub struct Relays {
    standing: [Option<Standing>; 2],
    pub(super) inbound: [Inbound; 2],
    /// Frames each node's link process put on the wire, and passed up to its engine.
    pub sent: [u64; 2],
    pub passed: [u64; 2],
    /// Frames each node sent over the public network.
    pub public: [u64; 2],
}

impl Sim {
    /// Frames put on the private link by node `n`'s link process, and passed up to its
    /// engine by its link process.
    pub fn link_frames(&self, n: usize) -> (u64, u64) {
        (self.relays.sent[n], self.relays.passed[n])
    }

    /// Frames node `n` sent over the public network.
    pub fn public_frames(&self, n: usize) -> u64 {
        self.relays.public[n]
    }

    fn lan(&self, n: usize) -> (Millis, Millis) {
        let i = self.engines[n]
            .config()
            .links
            .iter()
            .find(|l| l.name == LAN)
            .map_or(100, |l| l.interval);
        (i, i + i / 2)
    }

    /// hasvrd gives its new beat to the link process: sent now, repeated from now on.
    pub(super) fn give_beat(&mut self, n: usize, payload: Vec<u8>) {
        self.seq[n] += SEQ_STRIDE;
        let seq = self.seq[n];
        let (interval, _) = self.lan(n);
        self.relays.standing[n] = Some(Standing {
            seq,
            payload: payload.clone(),
            repeats: 0,
            next: self.now + interval,
            given: self.now,
            wanted: false,
        });
        self.relays.sent[n] += 1;
        self.send_seq(n, 0, seq, payload);
    }

    /// A one-off frame through the link: the standing beat is given again right after it,
    /// which re-arms its repeats under a newer sequence (nothing goes at once).
    pub(super) fn after_other_frame(&mut self, n: usize) {
        self.seq[n] += SEQ_STRIDE;
        let seq = self.seq[n];
        let now = self.now;
        if let Some(s) = self.relays.standing[n].as_mut() {
            s.seq = seq;
            s.repeats = 0;
            s.given = now;
        }
    }

    /// The link processes of a node that stopped or crashed are gone.
    pub(super) fn relays_gone(&mut self, n: usize) {
        self.relays.standing[n] = None;
        self.relays.inbound[n] = Inbound {
            last_good: self.now,
            ..Inbound::default()
        };
    }

    pub(super) fn relays_due(&self) -> Option<Millis> {
        let mut t: Option<Millis> = None;
        for n in 0..2 {
            if !self.hosts[n].up {
                continue;
            }
            let mut at = |x: Millis| t = Some(t.map_or(x, |y| y.min(x)));
            if let Some(next) = self.relays.standing[n].as_ref().and_then(Standing::due) {
                at(next);
            }
            let i = &self.relays.inbound[n];
            if !i.late_told {
                at(i.last_good + self.lan(n).1);
            }
        }
        t
    }

    /// Repeats and late rings due now.
    // `n` indexes hosts, relays, engines and names together, and `feed` needs `&mut self`.
    #[allow(clippy::needless_range_loop)]
    pub(super) fn run_relays(&mut self) {
        let now = self.now;
        for n in 0..2 {
            if !self.hosts[n].up {
                continue;
            }
            let (interval, late_after) = self.lan(n);
            let running = self.daemon_running(n);
            if let Some(s) = self.relays.standing[n].as_mut() {
                // A live hasvrd gives its beat again now and then (on a wake it has anyway).
                if running && now >= s.given + daemon::STANDING_REFRESH {
                    s.given = now;
                }
            }
            let repeat = match &mut self.relays.standing[n] {
                Some(s) if s.due().is_some_and(|t| t <= now) => {
                    let whole = std::mem::take(&mut s.wanted);
                    let payload = if whole || crate::frame::repeat_goes_whole(s.repeats) {
                        s.payload.clone()
                    } else {
                        crate::frame::short_repeat(s.seq)
                    };
                    s.repeats += 1;
                    s.next = now + interval;
                    Some((s.seq + s.repeats, payload))
                }
                _ => None,
            };
            if let Some((seq, payload)) = repeat {
                self.relays.sent[n] += 1;
                self.send_seq(n, 0, seq, payload);
            }
            let i = &mut self.relays.inbound[n];
            if !i.late_told && i.last_good + late_after <= now {
                i.late_told = true;
                self.trace.push(format!("{now} {} link late", NAMES[n]));
                self.feed(n, Input::Late { link: LAN.into() });
            }
        }
    }

    /// Node `n`'s link process asks the peer's for the whole beat of gift `gift`, under the
    /// next sequence of its own standing beat (if it has one).
    fn want_whole(&mut self, n: usize, gift: u64) {
        let Some(s) = self.relays.standing[n].as_mut() else {
            return;
        };
        s.repeats += 1;
        let seq = s.seq + s.repeats;
        self.relays.sent[n] += 1;
        self.send_seq(n, 0, seq, crate::frame::want_whole(gift));
    }

    /// A frame reaches node `to`'s link process: what goes up to the engine, if anything (a
    /// short repeat as the whole beat it names).
    pub(super) fn link_passes(
        &mut self,
        to: usize,
        boot: u64,
        seq: u64,
        payload: Vec<u8>,
    ) -> Option<Vec<u8>> {
        let now = self.now;
        let (_, late_after) = self.lan(to);
        let i = &mut self.relays.inbound[to];
        if i.guard.is_some_and(|g| (boot, seq) <= g) {
            return None;
        }
        i.guard = Some((boot, seq));
        let after_silence = i.late_told || now.saturating_sub(i.last_good) >= late_after;
        i.last_good = now;
        i.late_told = false;
        i.heard = Some(now);
        i.beat_owed |= after_silence;
        let payload = match payload.first() {
            Some(&crate::frame::BEAT_KIND) => {
                match &mut i.whole {
                    Some((b, s, p)) if *b == boot && *p == payload => *s = seq,
                    _ => i.whole = Some((boot, seq, payload.clone())),
                }
                payload
            }
            Some(&crate::frame::WANT_KIND) => {
                if let Some(s) = self.relays.standing[to].as_mut() {
                    s.wanted = true;
                    s.next = s.next.min(now);
                }
                return None;
            }
            Some(&crate::frame::REPEAT_KIND) => {
                let gift = crate::frame::repeated_gift(&payload)?;
                let named = i
                    .whole
                    .as_ref()
                    .filter(|(b, s, _)| *b == boot && (gift..gift + SEQ_STRIDE).contains(s));
                let Some((_, _, p)) = named else {
                    self.want_whole(to, gift);
                    return None;
                };
                // The common case, without a copy: the beat already passed up.
                if !i.beat_owed && i.passed.as_ref().is_some_and(|(b, q)| *b == boot && q == p) {
                    return None;
                }
                p.clone()
            }
            _ => {
                self.relays.passed[to] += 1;
                return Some(payload);
            }
        };
        if !i.beat_owed
            && i.passed
                .as_ref()
                .is_some_and(|(b, p)| *b == boot && *p == payload)
        {
            return None;
        }
        i.passed = Some((boot, payload.clone()));
        i.beat_owed = false;
        self.relays.passed[to] += 1;
        Some(payload)
    }
}
