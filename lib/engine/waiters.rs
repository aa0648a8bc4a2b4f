//! Replies that wait for an outcome: a move done here, somewhere or on the peer, a service
//! stopped everywhere, hasvrd's exit. Once a pass each waiter is settled from what this
//! node sees of its service (`Seen`), or keeps waiting until its deadline.

use super::interface::ReplyTo;
use super::{PeerStatus, Phase};
use crate::clock::Millis;
use crate::request::Reply;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum WaitFor {
    RunningHere,
    RunningSomewhere,
    RunningOnPeer,
    StoppedEverywhere,
    Exit,
}

#[derive(Clone, Debug)]
pub(super) struct Waiter {
    pub service: Option<String>,
    pub to: ReplyTo,
    pub until: WaitFor,
    pub done_text: String,
    pub deadline: Millis,
}

/// A service as a waiter sees it: this node's part (`None`: the service is gone), the
/// peer's (`None`: not known), the peer's state and the service's state word here.
pub(super) struct Seen<'a> {
    pub here: Option<Local<'a>>,
    pub peer: Option<Remote>,
    pub peer_status: PeerStatus,
    pub word: &'static str,
}

/// This node's part of a service.
pub(super) struct Local<'a> {
    pub phase: Phase,
    pub busy: bool,
    pub error: bool,
    pub protected: bool,
    pub last_failure: Option<&'a str>,
}

/// The peer's part of a service, as its beat said.
#[derive(Clone, Copy)]
pub(super) struct Remote {
    pub phase: Phase,
    pub error: bool,
}

/// The replies waiting.
#[derive(Clone, Debug, Default)]
pub(super) struct Waiters(Vec<Waiter>);

impl Waiters {
    pub(super) fn add(&mut self, w: Waiter) {
        self.0.push(w);
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The deadlines, for the next wake-up.
    pub(super) fn deadlines(&self) -> impl Iterator<Item = Millis> + '_ {
        self.0.iter().map(|w| w.deadline)
    }

    /// The replies whose outcome is known at `now`; the others keep waiting.
    pub(super) fn settle<'a>(
        &mut self,
        now: Millis,
        peer: &str,
        seen: impl Fn(&str) -> Seen<'a>,
    ) -> Vec<(ReplyTo, Reply)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let mut done = Vec::new();
        for w in std::mem::take(&mut self.0) {
            let name = w.service.as_deref().unwrap_or_default();
            match outcome(&w, name, &seen(name), now, peer) {
                Some(r) => done.push((w.to, r)),
                None => self.0.push(w),
            }
        }
        done
    }

    /// hasvrd leaves: its exit's waiters hear it is done, every other that it will not be.
    pub(super) fn exiting(&mut self) -> Vec<(ReplyTo, Reply)> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|w| {
                let r = if w.until == WaitFor::Exit {
                    Reply::ok(w.done_text)
                } else {
                    Reply::err("SureHA stopped on this node before this finished")
                };
                (w.to, r)
            })
            .collect()
    }
}

/// A waiter's reply, if its outcome is known.
fn outcome(w: &Waiter, name: &str, seen: &Seen, now: Millis, peer: &str) -> Option<Reply> {
    let p = seen.peer;
    let peer_down = seen.peer_status == PeerStatus::Down;
    let failed_here = |s: &Local| {
        format!(
            "service {name} failed here ({}): {}",
            seen.word,
            s.last_failure.unwrap_or("see the log")
        )
    };
    let done = || Some(Reply::ok(w.done_text.clone()));
    match (&w.until, &seen.here) {
        (WaitFor::Exit, _) => None,
        (_, None) => Some(Reply::err("the service was removed meanwhile")),
        (_, Some(_)) if now >= w.deadline => Some(Reply::err(format!(
            "service {name}: not done in the time allowed; it is {} here; see the log",
            seen.word
        ))),
        (WaitFor::RunningHere, Some(s)) if s.phase == Phase::Running && !s.busy => done(),
        (WaitFor::RunningHere, Some(s)) if s.error => Some(Reply::err(failed_here(s))),
        (WaitFor::RunningSomewhere, Some(s)) if s.phase == Phase::Running && !s.busy => done(),
        (WaitFor::RunningSomewhere, Some(_)) if p.is_some_and(|p| p.phase == Phase::Running) => {
            done()
        }
        (WaitFor::RunningSomewhere, Some(s))
            if s.error && (peer_down || p.is_some_and(|p| p.error)) =>
        {
            Some(Reply::err(failed_here(s)))
        }
        (WaitFor::RunningSomewhere | WaitFor::RunningHere, Some(s)) if !s.protected => {
            Some(Reply::err("brought out again before it started"))
        }
        (WaitFor::RunningOnPeer, Some(_)) if p.is_some_and(|p| p.phase == Phase::Running) => done(),
        (WaitFor::RunningOnPeer, Some(_)) if p.is_some_and(|p| p.error) => Some(Reply::err(
            format!("service {name} failed to start on {peer}; see the log there"),
        )),
        (WaitFor::RunningOnPeer, Some(_)) if peer_down => Some(Reply::err(format!(
            "{peer} went down during the move; the service stays here"
        ))),
        (WaitFor::StoppedEverywhere, Some(s))
            if s.phase == Phase::Stopped
                && (peer_down
                    || seen.peer_status == PeerStatus::Unknown
                    || p.is_none_or(|p| p.phase == Phase::Stopped)) =>
        {
            done()
        }
        (WaitFor::StoppedEverywhere, Some(s)) if s.protected => {
            Some(Reply::err("brought in again before it stopped"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(until: WaitFor) -> Waiter {
        Waiter {
            service: Some("web".into()),
            to: "r".into(),
            until,
            done_text: "done\n".into(),
            deadline: 10_000,
        }
    }

    fn local(phase: Phase) -> Local<'static> {
        Local {
            phase,
            busy: false,
            error: false,
            protected: true,
            last_failure: None,
        }
    }

    fn brought_out(phase: Phase) -> Local<'static> {
        Local {
            protected: false,
            ..local(phase)
        }
    }

    fn seen(
        here: Option<Local<'static>>,
        peer: Option<(Phase, bool)>,
        status: PeerStatus,
    ) -> Seen<'static> {
        Seen {
            here,
            peer: peer.map(|(phase, error)| Remote { phase, error }),
            peer_status: status,
            word: "ACTIVE",
        }
    }

    fn said(until: WaitFor, s: Seen, now: Millis) -> Option<String> {
        outcome(&waiter(until), "web", &s, now, "beta").map(|r| match r.status {
            crate::request::Status::Ok => format!("ok {}", r.body),
            crate::request::Status::Err(m) => m,
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn each_wait_ends_with_its_success_its_failure_or_its_deadline() {
        use PeerStatus::{Down, Unknown, Up};
        use Phase::{Running, Starting, Stopped};
        let up = Up;
        // Running here, not while a step is under way.
        assert_eq!(
            said(
                WaitFor::RunningHere,
                seen(Some(local(Running)), None, up),
                0
            )
            .as_deref(),
            Some("ok done\n")
        );
        let busy = Local {
            busy: true,
            ..local(Running)
        };
        assert_eq!(
            said(WaitFor::RunningHere, seen(Some(busy), None, up), 0),
            None
        );
        let failed = Local {
            error: true,
            last_failure: Some("start script failed"),
            ..local(Stopped)
        };
        assert_eq!(
            said(WaitFor::RunningHere, seen(Some(failed), None, up), 0).as_deref(),
            Some("service web failed here (ACTIVE): start script failed")
        );
        let failed = Local {
            error: true,
            ..local(Stopped)
        };
        assert_eq!(
            said(WaitFor::RunningHere, seen(Some(failed), None, up), 0).as_deref(),
            Some("service web failed here (ACTIVE): see the log")
        );
        // Somewhere: here or on the peer; failed here counts once the peer cannot either.
        assert_eq!(
            said(
                WaitFor::RunningSomewhere,
                seen(Some(local(Stopped)), Some((Running, false)), up),
                0
            )
            .as_deref(),
            Some("ok done\n")
        );
        let failed = || Local {
            error: true,
            ..local(Stopped)
        };
        assert_eq!(
            said(
                WaitFor::RunningSomewhere,
                seen(Some(failed()), Some((Stopped, false)), up),
                0
            ),
            None,
            "the peer may still start it"
        );
        assert!(said(
            WaitFor::RunningSomewhere,
            seen(Some(failed()), Some((Stopped, true)), up),
            0
        )
        .unwrap()
        .starts_with("service web failed here"));
        assert!(said(
            WaitFor::RunningSomewhere,
            seen(Some(failed()), None, Down),
            0
        )
        .unwrap()
        .starts_with("service web failed here"));
        let out = Local {
            protected: false,
            ..local(Stopped)
        };
        assert_eq!(
            said(WaitFor::RunningSomewhere, seen(Some(out), None, up), 0).as_deref(),
            Some("brought out again before it started")
        );
        let out = Local {
            protected: false,
            ..local(Starting)
        };
        assert_eq!(
            said(WaitFor::RunningHere, seen(Some(out), None, up), 0).as_deref(),
            Some("brought out again before it started")
        );
        // On the peer.
        assert_eq!(
            said(
                WaitFor::RunningOnPeer,
                seen(Some(local(Stopped)), Some((Running, false)), up),
                0
            )
            .as_deref(),
            Some("ok done\n")
        );
        assert_eq!(
            said(
                WaitFor::RunningOnPeer,
                seen(Some(local(Stopped)), Some((Stopped, true)), up),
                0
            )
            .as_deref(),
            Some("service web failed to start on beta; see the log there")
        );
        assert_eq!(
            said(
                WaitFor::RunningOnPeer,
                seen(Some(local(Running)), None, Down),
                0
            )
            .as_deref(),
            Some("beta went down during the move; the service stays here")
        );
        assert_eq!(
            said(
                WaitFor::RunningOnPeer,
                seen(Some(local(Stopped)), Some((Starting, false)), up),
                0
            ),
            None
        );
        // Stopped everywhere: the peer's part counts while it is known.
        assert_eq!(
            said(
                WaitFor::StoppedEverywhere,
                seen(Some(brought_out(Stopped)), Some((Running, false)), up),
                0
            ),
            None
        );
        for status in [Down, Unknown] {
            assert_eq!(
                said(
                    WaitFor::StoppedEverywhere,
                    seen(Some(brought_out(Stopped)), Some((Running, false)), status),
                    0
                )
                .as_deref(),
                Some("ok done\n")
            );
        }
        assert_eq!(
            said(
                WaitFor::StoppedEverywhere,
                seen(Some(brought_out(Stopped)), None, up),
                0
            )
            .as_deref(),
            Some("ok done\n")
        );
        assert_eq!(
            said(
                WaitFor::StoppedEverywhere,
                seen(Some(local(Running)), None, up),
                0
            )
            .as_deref(),
            Some("brought in again before it stopped")
        );
        let out = Local {
            protected: false,
            ..local(Running)
        };
        assert_eq!(
            said(WaitFor::StoppedEverywhere, seen(Some(out), None, up), 0),
            None
        );
        // Gone, or out of time; the exit waits for the exit alone.
        assert_eq!(
            said(WaitFor::RunningHere, seen(None, None, up), 0).as_deref(),
            Some("the service was removed meanwhile")
        );
        assert_eq!(
            said(
                WaitFor::RunningHere,
                seen(Some(local(Starting)), None, up),
                9_999
            ),
            None
        );
        assert_eq!(
            said(
                WaitFor::RunningHere,
                seen(Some(local(Starting)), None, up),
                10_000
            )
            .as_deref(),
            Some("service web: not done in the time allowed; it is ACTIVE here; see the log")
        );
        assert_eq!(said(WaitFor::Exit, seen(None, None, up), 20_000), None);
    }

    #[test]
    fn waiters_settle_in_order_and_an_exit_answers_every_one() {
        let mut w = Waiters::default();
        for (to, until) in [
            ("a", WaitFor::RunningHere),
            ("b", WaitFor::Exit),
            ("c", WaitFor::RunningHere),
        ] {
            w.add(Waiter {
                to: to.into(),
                ..waiter(until)
            });
        }
        assert_eq!(w.deadlines().collect::<Vec<_>>(), [10_000; 3]);
        let done = w.settle(0, "beta", |_| {
            seen(Some(local(Phase::Running)), None, PeerStatus::Up)
        });
        let to: Vec<&str> = done.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(to, ["a", "c"]);
        assert_eq!(w.len(), 1);
        w.add(waiter(WaitFor::RunningOnPeer));
        let done = w.exiting();
        assert_eq!(done[0].1.status, crate::request::Status::Ok);
        assert!(
            matches!(&done[1].1.status, crate::request::Status::Err(m) if m.contains("stopped on this node"))
        );
        assert_eq!(w.len(), 0);
    }
}
