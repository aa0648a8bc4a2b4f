//! A service's cluster-wide intent and the rule that settles it between the two nodes. One
//! node at a time changes an intent and gives it a higher epoch; the higher epoch wins, and
//! on a tie the intent of the node whose name sorts first. Who proposes what is `agreement`.

/// Protected or not, the primary, who should run it now: agreed with the peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Intent {
    pub protected: bool,
    pub primary: String,
    /// Who should run it now (empty: neither can).
    pub runner: String,
    pub epoch: u32,
    /// Bumped by every BringIn: a node that sees a higher count clears its ERROR.
    pub resets: u16,
}

/// What taking the peer's intent changed here (`Intent::adopt`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Adopted {
    /// The peer's intent won and replaced ours.
    pub taken: bool,
    /// It brings a BringIn newer than any seen here: clear this node's ERROR.
    pub reset: bool,
    /// The runner it had here before, when the peer's names another.
    pub moved_from: Option<String>,
}

impl Intent {
    /// An unprotected service on its configured primary, epoch 0.
    pub(super) fn of(primary: &str) -> Intent {
        Intent {
            primary: primary.to_string(),
            runner: primary.to_string(),
            ..Intent::default()
        }
    }

    /// Whether both nodes place it alike: protected, primary, runner and epoch.
    pub(super) fn same_placement(&self, other: &Intent) -> bool {
        (self.protected, &self.primary, &self.runner, self.epoch)
            == (other.protected, &other.primary, &other.runner, other.epoch)
    }

    /// The peer's intent wins: a higher epoch, or the same epoch saying something else when
    /// the peer's name sorts first.
    pub(super) fn yields_to(&self, theirs: &Intent, peer_first: bool) -> bool {
        let differs = (self.protected, &self.primary, &self.runner, self.resets)
            != (
                theirs.protected,
                &theirs.primary,
                &theirs.runner,
                theirs.resets,
            );
        theirs.epoch > self.epoch || (theirs.epoch == self.epoch && differs && peer_first)
    }

    /// Takes the peer's intent where it wins. The count of BringIns never goes back.
    pub(super) fn adopt(&mut self, theirs: &Intent, peer_first: bool) -> Adopted {
        if !self.yields_to(theirs, peer_first) {
            return Adopted::default();
        }
        let adopted = Adopted {
            taken: true,
            reset: theirs.resets > self.resets,
            moved_from: (self.runner != theirs.runner).then(|| self.runner.clone()),
        };
        self.protected = theirs.protected;
        self.primary.clone_from(&theirs.primary);
        self.runner.clone_from(&theirs.runner);
        self.epoch = theirs.epoch;
        self.resets = self.resets.max(theirs.resets);
        adopted
    }
}

#[cfg(test)]
mod tests {
    use super::{Adopted, Intent};

    fn intent(protected: bool, primary: &str, runner: &str, epoch: u32, resets: u16) -> Intent {
        Intent {
            protected,
            primary: primary.into(),
            runner: runner.into(),
            epoch,
            resets,
        }
    }

    #[test]
    fn the_higher_epoch_wins_whoever_sorts_first() {
        let mut ours = intent(true, "alpha", "alpha", 3, 0);
        let theirs = intent(true, "alpha", "beta", 4, 0);
        assert_eq!(
            ours.adopt(&theirs, false),
            Adopted {
                taken: true,
                reset: false,
                moved_from: Some("alpha".into())
            }
        );
        assert_eq!(ours, theirs);
        let older = intent(false, "beta", "beta", 2, 0);
        assert_eq!(ours.adopt(&older, true), Adopted::default());
        assert_eq!(
            ours, theirs,
            "an older epoch changes nothing, even from the first name"
        );
    }

    #[test]
    fn on_a_tie_the_intent_of_the_node_that_sorts_first_wins_and_only_if_it_differs() {
        let ours = intent(true, "alpha", "alpha", 5, 1);
        let theirs = intent(true, "alpha", "beta", 5, 1);
        assert!(
            !ours.yields_to(&theirs, false),
            "we sort first: ours stands"
        );
        assert!(ours.yields_to(&theirs, true));
        assert!(
            !ours.yields_to(&ours.clone(), true),
            "the same intent is no change"
        );
        let more_resets = intent(true, "alpha", "alpha", 5, 2);
        assert!(
            ours.yields_to(&more_resets, true),
            "resets count as a difference"
        );
        let unprotected = intent(false, "alpha", "alpha", 5, 1);
        assert!(ours.yields_to(&unprotected, true));
        let other_primary = intent(true, "beta", "alpha", 5, 1);
        assert!(ours.yields_to(&other_primary, true));
    }

    #[test]
    fn a_newer_bring_in_resets_the_error_and_the_count_never_goes_back() {
        let mut ours = intent(true, "alpha", "alpha", 1, 4);
        let reset = ours.adopt(&intent(true, "alpha", "alpha", 2, 5), false);
        assert!(reset.taken && reset.reset && reset.moved_from.is_none());
        assert_eq!(ours.resets, 5);
        let kept = ours.adopt(&intent(false, "alpha", "alpha", 3, 1), false);
        assert!(kept.taken && !kept.reset);
        assert_eq!(ours.resets, 5, "a lower count is not taken");
        assert!(!ours.protected);
    }

    #[test]
    fn same_placement_ignores_the_count_of_bring_ins() {
        let a = intent(true, "alpha", "beta", 7, 1);
        assert!(a.same_placement(&intent(true, "alpha", "beta", 7, 9)));
        assert!(!a.same_placement(&intent(true, "alpha", "beta", 8, 1)));
        assert!(!a.same_placement(&intent(true, "alpha", "alpha", 7, 1)));
        assert!(!a.same_placement(&intent(true, "beta", "beta", 7, 1)));
        assert!(!a.same_placement(&intent(false, "alpha", "beta", 7, 1)));
        assert_eq!(Intent::of("alpha"), intent(false, "alpha", "alpha", 0, 0));
    }
}
