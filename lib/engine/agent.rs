//! A service's agent as this node knows it: which process it is, when it last said the
//! service is well, and the rules of its API: only the agent hasvrd started reports health,
//! its OKs are answered once a check interval, and three intervals of silence are a failure.
//! What a failure leads to is `lifecycle`; the API's door is `commands`.

use super::interface::AgentId;
use crate::clock::{human, Millis};

/// A process that is not the agent had its call refused: logged once a minute at most.
const INTRUDER_LOG_EVERY: Millis = 60_000;

#[derive(Clone, Debug)]
pub(super) struct Agent {
    pub id: AgentId,
    /// Its process group, once the executor reports it.
    pub pid: Option<u32>,
    pub token: u64,
    pub started: Millis,
    pub last_ok: Option<Millis>,
    /// When its next OK may be answered.
    next_reply: Millis,
    /// It called apiclose: the service is no longer monitored.
    pub closed: bool,
    /// Being stopped: its calls are answered with STOP, its exit is expected.
    pub stopping: bool,
    /// When a process other than the agent last had its API call refused.
    intruder_logged: Option<Millis>,
}

impl Agent {
    /// An agent being started now; its pid comes later.
    pub(super) fn starting(id: AgentId, now: Millis) -> Agent {
        Agent {
            id,
            pid: None,
            token: 0,
            started: now,
            last_ok: None,
            next_reply: now,
            closed: false,
            stopping: false,
            intruder_logged: None,
        }
    }

    /// An agent a previous hasvrd started, still running: watched from now.
    pub(super) fn adopted(id: AgentId, pid: u32, token: u64, now: Millis) -> Agent {
        Agent {
            pid: Some(pid),
            token,
            ..Agent::starting(id, now)
        }
    }

    /// The caller (a process group) is this agent.
    pub(super) fn is(&self, caller: Option<u32>) -> bool {
        self.pid.is_some() && self.pid == caller
    }

    /// Its silence is watched: it did not close the API and is not being stopped.
    pub(super) fn watched(&self) -> bool {
        !self.closed && !self.stopping
    }

    /// Another process's call was refused now: whether to log it (once a minute at most).
    pub(super) fn refused(&mut self, now: Millis) -> bool {
        let log_now = self
            .intruder_logged
            .is_none_or(|t| now >= t + INTRUDER_LOG_EVERY);
        if log_now {
            self.intruder_logged = Some(now);
        }
        log_now
    }

    /// It says the service is well: the silence counts from now. Returns when to answer: an
    /// agent calling in a tight loop is answered once a `check_interval`.
    pub(super) fn ok(&mut self, now: Millis, check_interval: Millis) -> Millis {
        self.last_ok = Some(now);
        let at = self.next_reply.max(now);
        self.next_reply = at + check_interval;
        at
    }

    /// When its silence becomes a failure (three check intervals after its last OK, or after
    /// its start if none came).
    pub(super) fn silence_due(&self, check_interval: Millis) -> Millis {
        self.last_ok.unwrap_or(self.started) + 3 * check_interval + 1
    }

    /// Silent for more than three check intervals at `now`: what to call the failure.
    pub(super) fn silence(&self, now: Millis, check_interval: Millis) -> Option<String> {
        let since = self.last_ok.unwrap_or(self.started);
        if now.saturating_sub(since) <= 3 * check_interval {
            return None;
        }
        Some(match self.last_ok {
            Some(_) => format!(
                "agent silent for {} (3 × check_interval {})",
                human(now - since),
                human(check_interval)
            ),
            None => format!(
                "agent has not reported within {} of its start (3 × check_interval)",
                human(now - since)
            ),
        })
    }

    /// hasvrd stood still for `gap`: its silence counts from after it.
    pub(super) fn stalled(&mut self, gap: Millis) {
        self.started += gap;
        self.last_ok = self.last_ok.map(|t| t + gap);
    }
}

#[cfg(test)]
mod tests {
    use super::Agent;

    #[test]
    fn only_the_process_hasvrd_started_is_the_agent() {
        let mut a = Agent::starting(1, 0);
        assert!(!a.is(None), "no pid yet: nobody is");
        assert!(!a.is(Some(42)));
        a.pid = Some(42);
        assert!(a.is(Some(42)) && !a.is(Some(43)) && !a.is(None));
        let b = Agent::adopted(2, 7, 99, 1000);
        assert!(b.is(Some(7)) && b.token == 99 && b.started == 1000 && b.watched());
    }

    #[test]
    fn a_refused_caller_is_logged_once_a_minute() {
        let mut a = Agent::starting(1, 0);
        assert!(a.refused(1000));
        assert!(!a.refused(60_999));
        assert!(a.refused(61_000));
    }

    #[test]
    fn oks_in_a_tight_loop_are_answered_once_a_check_interval() {
        let mut a = Agent::starting(1, 0);
        assert_eq!(a.ok(100, 1000), 100);
        assert_eq!(a.ok(150, 1000), 1100, "the next answer waits");
        assert_eq!(a.ok(200, 1000), 2100);
        assert_eq!(a.last_ok, Some(200), "each OK still counts at once");
        assert_eq!(a.ok(5000, 1000), 5000, "after a pause: at once");
    }

    #[test]
    fn three_check_intervals_of_silence_are_a_failure() {
        let mut a = Agent::starting(1, 1000);
        assert_eq!(a.silence_due(1000), 4001);
        assert_eq!(a.silence(4000, 1000), None);
        let never = a.silence(4001, 1000).unwrap();
        assert!(
            never.contains("has not reported within 3.0s of its start"),
            "{never}"
        );
        a.ok(2000, 1000);
        assert_eq!(a.silence(5000, 1000), None);
        assert!(a
            .silence(5001, 1000)
            .unwrap()
            .starts_with("agent silent for"));
        a.stalled(10_000);
        assert_eq!(
            a.silence_due(1000),
            15_001,
            "silence counts from after a stall"
        );
        assert_eq!(a.started, 11_000);
        a.closed = true;
        assert!(!a.watched());
    }
}
