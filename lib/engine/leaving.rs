//! SureHA leaving this node: an orderly stop (the services stop and go to the peer) or QUIT
//! (they keep running for the next hasvrd to adopt), and when hasvrd may go. With QUIT the
//! beats say the services stay only from the moment no step is under way; a disk link must
//! then carry that word before hasvrd goes (`Engine::keeping_recorded`).

use crate::clock::Millis;

#[derive(Clone, Debug, Default)]
pub(super) struct Leaving {
    /// Asked to leave: `Some(true)` stopping the services, `Some(false)` leaving them.
    asked: Option<bool>,
    /// Leaving with QUIT since then: the beats say the services stay.
    keeping_since: Option<Millis>,
    /// Gone: no input is taken any more.
    pub exited: bool,
}

impl Leaving {
    /// Asked to leave (`touch`: stop the services first). True the first time: a second
    /// ask changes nothing, whatever it says.
    pub(super) fn ask(&mut self, touch: bool) -> bool {
        if self.asked.is_some() {
            return false;
        }
        self.asked = Some(touch);
        true
    }

    /// Asked to leave, either way.
    pub(super) fn asked(&self) -> bool {
        self.asked.is_some()
    }

    /// Stopping the services on the way out.
    pub(super) fn stopping_services(&self) -> bool {
        self.asked == Some(true)
    }

    /// Leaving with QUIT: whatever runs keeps running.
    pub(super) fn quitting(&self) -> bool {
        self.asked == Some(false)
    }

    /// Since when the beats say the services stay (QUIT, no step under way).
    pub(super) fn keeping_since(&self) -> Option<Millis> {
        self.keeping_since
    }

    /// QUIT and no step of any service under way (`busy`): from now on the services stay.
    pub(super) fn keep_from(&mut self, now: Millis, busy: bool) {
        if self.quitting() && self.keeping_since.is_none() && !busy {
            self.keeping_since = Some(now);
        }
    }

    /// The QUIT could not be told to the peer: hasvrd stays, as if never asked.
    pub(super) fn refuse_quit(&mut self) {
        self.asked = None;
        self.keeping_since = None;
    }

    /// Whether hasvrd may go now: after a stop, once every service is stopped and idle
    /// (`all_stopped`); after QUIT, once the services stay and the word is where the peer
    /// will read it (`recorded`).
    pub(super) fn may_exit(&self, all_stopped: bool, recorded: bool) -> bool {
        match self.asked {
            None => false,
            Some(true) => all_stopped,
            Some(false) => self.keeping_since.is_some() && recorded,
        }
    }

    /// For the status dump: `Some(true)` stopping, `Some(false)` QUIT, `None`.
    pub(super) fn word(&self) -> Option<bool> {
        self.asked
    }
}

#[cfg(test)]
mod tests {
    use super::Leaving;

    #[test]
    fn the_first_ask_decides_how_it_leaves() {
        let mut l = Leaving::default();
        assert!(!l.asked() && !l.may_exit(true, true));
        assert!(l.ask(false));
        assert!(!l.ask(true), "a stop after QUIT changes nothing");
        assert!(l.quitting() && !l.stopping_services() && l.asked());
        let mut s = Leaving::default();
        assert!(s.ask(true) && !s.ask(false));
        assert!(s.stopping_services() && !s.quitting());
        assert_eq!(s.word(), Some(true));
    }

    #[test]
    fn a_stop_leaves_once_every_service_is_stopped() {
        let mut l = Leaving::default();
        l.ask(true);
        assert!(!l.may_exit(false, true));
        assert!(l.may_exit(true, false), "a stop asks no disk");
        l.keep_from(5, false);
        assert_eq!(l.keeping_since(), None, "only QUIT keeps the services");
    }

    #[test]
    fn quit_keeps_the_services_from_the_first_idle_moment_and_leaves_once_that_is_recorded() {
        let mut l = Leaving::default();
        l.ask(false);
        l.keep_from(10, true);
        assert_eq!(l.keeping_since(), None, "a step under way: not yet");
        assert!(!l.may_exit(true, true));
        l.keep_from(20, false);
        l.keep_from(30, false);
        assert_eq!(l.keeping_since(), Some(20), "from the first idle moment");
        assert!(!l.may_exit(false, false), "not recorded yet");
        assert!(l.may_exit(false, true));
        l.refuse_quit();
        assert!(!l.asked() && l.keeping_since().is_none());
        assert!(l.ask(true), "asked afresh after a refused QUIT");
    }
}
