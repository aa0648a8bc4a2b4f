//! Routine inputs, taken without a pass: an agent's OK, a lease renewal, a beat the peer has
//! already sent, a tick with nothing due. Each changes only a time that pushes a deadline
//! later, so a pass after it would decide what the last pass decided. A pass is what costs:
//! it looks at every service, builds the beat and compares what is saved, so with 256
//! services checked every second by their agents it would be most of hasvrd's work.
//!
//! The rule that keeps this safe: a routine input is taken this way only before `quiet_until`,
//! the earliest moment anything could be due as the last pass saw it (its wake-ups, and the
//! readiness look). Every other input runs a pass and sets it anew; `heard` clears it when
//! a dead link comes back, the one change that arrives outside an input.

use super::interface::{Input, ReplyTo};
use super::{Engine, Phase};
use crate::clock::Millis;
use crate::request::{ApiCall, Command};
/// The loop's pace, as the last pass left it.
#[derive(Clone, Debug)]
pub(super) struct Pace {
    /// Until then a routine input is taken without a pass.
    pub quiet_until: Millis,
    /// A pass other than a tick found an agent silent: the next tick judges it.
    pub silence_unjudged: bool,
    /// The wake-up the last pass asked for: an input much later shows hasvrd's loop stood
    /// still (`stalled`).
    pub expected_by: Millis,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            quiet_until: 0,
            silence_unjudged: false,
            expected_by: Millis::MAX,
        }
    }
}

impl Engine {
    /// Takes `input` without a pass if it is routine and nothing is due; false: it needs one.
    pub(super) fn routine(&mut self, input: &Input) -> bool {
        if self.now >= self.pace.quiet_until || self.pace.silence_unjudged {
            return false;
        }
        match input {
            Input::Tick => true,
            Input::Command {
                cmd: Command::Api(ApiCall::Ok, name),
                reply,
                caller,
            } => self.routine_ok(name, reply, *caller),
            Input::LeaseRenewed { link, took } => {
                // A lost lease coming back, or the renewal a QUIT waits for: a pass acts on it.
                if self.disks.lease_lost() || self.leaving.keeping_since().is_some() {
                    return false;
                }
                self.lease_renewed(link, *took);
                true
            }
            Input::Frame {
                link,
                boot,
                seq,
                payload,
            } => self.routine_frame(link, *boot, *seq, payload),
            Input::LinkStats { link, line } => self.peer.routine_counters(link, line),
            _ => false,
        }
    }

    /// The moment a routine input no longer goes without a pass, after a pass that left
    /// `next` as the next wake-up.
    pub(super) fn quiet_until_after(&self, next: Option<Millis>) -> Millis {
        let mut t = next.unwrap_or(Millis::MAX);
        if let Some(look) = self.knowing.next_look() {
            t = t.min(look);
        }
        t
    }

    /// An agent's OK while its service runs here, undisturbed, and it was not waited for.
    fn routine_ok(&mut self, name: &str, reply: &Option<ReplyTo>, caller: Option<u32>) -> bool {
        let Some(s) = self.services.get(name) else {
            return false;
        };
        let waited_for = s.clock.as_ref().is_some_and(|c| c.awaiting_ok());
        let steady = s.phase == Phase::Running && !s.busy() && !waited_for;
        let own = s
            .agent
            .as_ref()
            .is_some_and(|a| a.watched() && a.is(caller));
        if !(steady && own) {
            return false;
        }
        self.agent_ok(name, reply.clone());
        true
    }

    /// A beat on a private link that is up, the same as the peer's last one (a disk link
    /// passes up every frame; the others pass up only news), or a copy of a frame already
    /// taken on another link.
    fn routine_frame(&mut self, link: &str, boot: u64, seq: u64, payload: &[u8]) -> bool {
        // A beat that may end a stale view (the peer heard again after silence) is the
        // pass's to take: taken here, the view would stay stale and nothing would move.
        if payload.first() != Some(&crate::frame::BEAT_KIND)
            || !self.peer.link_up(link, self.now)
            || self.peer.contact.view_stale
        {
            return false;
        }
        let Some(p) = self.peer.view.as_mut() else {
            return false;
        };
        if boot != p.boot {
            return false;
        }
        if seq <= p.seq {
            // Already taken (the same frame on another link), or older than what was.
        } else if p.payload.as_slice() == payload {
            p.seq = seq;
        } else {
            return false;
        }
        if let Some(l) = self.peer.links.get_mut(link) {
            l.last_rx = Some(self.now);
        }
        true
    }
}
