//! hamond's watch on hasvrd's loop. A process that lives but decides nothing (stopped,
//! blocked in a write, deadlocked) keeps its lifeline open and its link processes
//! repeating its last beat, so the peer would move nothing while it stands still, or take
//! over a volume it still has mounted once the links fall silent. hamond pings it through
//! the lifeline and replaces it when a ping goes unanswered: the new hasvrd adopts the
//! running services, as after a QUIT, and the peer moves nothing. A hasvrd that does not
//! even die of SIGKILL (stuck in the kernel on a dying disk) gets the node fenced when its
//! volume locks are at stake.
//!
//! Pure: times in, verdicts out; `monitor` carries them out.

use crate::clock::Millis;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Nothing,
    /// Send a ping.
    Ping,
    /// hasvrd answered nothing for this long: kill it (hamond then starts a new one).
    Kill(Millis),
    /// Killed that long ago and still not gone.
    Fence(Millis),
}

pub struct Watchdog {
    limit: Millis,
    period: Millis,
    next_ping: Millis,
    /// The oldest ping not answered yet.
    asked: Option<Millis>,
    killed: Option<Millis>,
    fence_told: bool,
}

impl Watchdog {
    /// A loop frozen at any moment is killed within `limit` of it: a ping every quarter of
    /// it, and the kill once one has waited the other three quarters.
    pub fn new(limit: Millis, now: Millis) -> Watchdog {
        Watchdog::with_period(limit, limit / 4, now)
    }

    /// As `new`, pinging every `period` (at most a quarter of the limit).
    pub fn with_period(limit: Millis, period: Millis, now: Millis) -> Watchdog {
        let period = period.min(limit / 4).max(50);
        Watchdog {
            limit,
            period,
            next_ping: now + period,
            asked: None,
            killed: None,
            fence_told: false,
        }
    }

    pub fn limit(&self) -> Millis {
        self.limit
    }

    /// The limits changed (a configuration reload): the next ping goes on the new period.
    pub fn set_limit(&mut self, limit: Millis, period: Millis, now: Millis) {
        if limit != self.limit || period != self.period {
            let (asked, killed) = (self.asked, self.killed);
            *self = Watchdog::with_period(limit, period, now);
            self.asked = asked;
            self.killed = killed;
        }
    }

    /// When the next verdict may be due.
    pub fn due(&self) -> Millis {
        match (self.killed, self.asked) {
            (Some(k), _) if !self.fence_told => k + self.limit,
            (Some(_), _) => Millis::MAX,
            (None, Some(a)) => (a + self.limit - self.period).min(self.next_ping),
            (None, None) => self.next_ping,
        }
    }

    /// The kill was ordered (the partner's end is ours, not its own).
    pub fn killed(&self) -> bool {
        self.killed.is_some()
    }

    /// How long the oldest unanswered ping has waited (0: none waits).
    pub fn unanswered_for(&self, now: Millis) -> Millis {
        self.asked.map_or(0, |a| now.saturating_sub(a))
    }

    /// hasvrd answered: its loop turns.
    pub fn answered(&mut self) {
        self.asked = None;
    }

    /// A new hasvrd runs (or none, while it is restarted): nothing is owed.
    pub fn new_partner(&mut self, now: Millis) {
        self.asked = None;
        self.killed = None;
        self.fence_told = false;
        self.next_ping = now + self.period;
    }

    pub fn turn(&mut self, now: Millis) -> Verdict {
        if let Some(k) = self.killed {
            if !self.fence_told && now >= k + self.limit {
                self.fence_told = true;
                return Verdict::Fence(now - k);
            }
            return Verdict::Nothing;
        }
        if let Some(a) = self.asked {
            if now >= a + self.limit - self.period {
                self.killed = Some(now);
                return Verdict::Kill(now - a);
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.period;
            self.asked.get_or_insert(now);
            return Verdict::Ping;
        }
        Verdict::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the watchdog from `from` to `to` in 10 ms turns; hasvrd answers every ping
    /// while `alive(t)`; returns the verdicts other than pings and nothing, with their time.
    fn drive(
        w: &mut Watchdog,
        from: Millis,
        to: Millis,
        alive: impl Fn(Millis) -> bool,
    ) -> Vec<(Millis, Verdict)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            match w.turn(t) {
                Verdict::Ping if alive(t) => w.answered(),
                Verdict::Ping | Verdict::Nothing => {}
                v => out.push((t, v)),
            }
            t += 10;
        }
        out
    }

    #[test]
    fn a_loop_that_answers_is_never_killed() {
        let mut w = Watchdog::new(5000, 0);
        assert_eq!(drive(&mut w, 0, 60_000, |_| true), vec![]);
    }

    #[test]
    fn a_frozen_loop_is_killed_within_the_limit_of_freezing_whenever_it_froze() {
        for frozen_at in [0, 10, 1240, 1250, 1260, 3333, 7777] {
            let mut w = Watchdog::new(5000, 0);
            let v = drive(&mut w, 0, 30_000, |t| t < frozen_at);
            let (t, verdict) = &v[0];
            assert!(matches!(verdict, Verdict::Kill(_)), "{v:?}");
            assert!(
                *t <= frozen_at + 5000 + 10,
                "frozen at {frozen_at}, killed at {t}"
            );
            assert!(
                *t >= frozen_at + 5000 - 1250 - 10,
                "frozen at {frozen_at}, killed at {t}"
            );
        }
    }

    #[test]
    fn one_that_will_not_die_is_fenced_once_then_a_new_partner_starts_afresh() {
        let mut w = Watchdog::new(2000, 0);
        let v = drive(&mut w, 0, 20_000, |t| t < 1000);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(matches!(v[0].1, Verdict::Kill(_)));
        assert_eq!(v[1].1, Verdict::Fence(2000));
        w.new_partner(20_000);
        assert_eq!(drive(&mut w, 20_000, 40_000, |_| true), vec![]);
    }

    #[test]
    fn nothing_is_due_before_due() {
        let mut w = Watchdog::new(900, 0);
        let mut t = 0;
        for _ in 0..50 {
            let due = w.due();
            for x in t..due.min(t + 3000) {
                assert_eq!(w.turn(x), Verdict::Nothing, "at {x}, due {due}");
            }
            if due == Millis::MAX {
                return;
            }
            t = due;
            // Never answered: pings, then the kill, then the fence, then nothing.
            assert_ne!(w.turn(t), Verdict::Nothing, "at {t}");
        }
        panic!("the fence never came");
    }
}
