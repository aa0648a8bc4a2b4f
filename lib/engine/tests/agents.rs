//! One engine and its agents: the API calls, their pace, a second caller, silence, an exit.

use super::*;

#[test]
fn apiok_is_paced_to_one_reply_per_check_interval() {
    let mut t = running("");
    let mut ats = Vec::new();
    for i in 0..4 {
        let acts = t.cmd(2000 + i, "apiok web", Some("a"));
        ats.extend(replies(&acts).into_iter().map(|r| r.2));
    }
    assert_eq!(ats, vec![2000, 3000, 4000, 5000]);
}

#[test]
fn a_second_caller_is_logged_once_a_minute_and_counted_in_the_status() {
    let mut t = running("");
    let intrude = |t: &mut T, at: Millis| {
        let acts = t.at(
            at,
            Input::Command {
                cmd: Command::Api(ApiCall::Ok, "web".into()),
                reply: None,
                caller: Some(4242),
            },
        );
        acts.iter().any(|a| matches!(a, Action::Log { level: Level::Warning, text } if text.contains("apiok from process group 4242 ignored")))
    };
    let mut warned = Vec::new();
    for i in 0..62 {
        let at = 1500 + i * 1000;
        t.cmd(at, "apiok web", None);
        if i == 0 || i == 59 || i == 60 {
            warned.push(intrude(&mut t, at + 100));
        }
    }
    // At 1.6 s, then 59 s later (within the minute), then 60 s later.
    assert_eq!(warned, vec![true, false, true]);
    assert_eq!(t.state(), "ACTIVEACT", "the agent kept it well meanwhile");
    let acts = t.cmd(63_001, "status", Some("s2"));
    let body = reply_body(&acts);
    assert!(body.contains("REQUESTS dropped=0 refused=3\n"), "{body}");
    // A caller the kernel did not name is an unknown process.
    let acts = t.at(
        63_002,
        Input::Command {
            cmd: Command::Api(ApiCall::Ok, "web".into()),
            reply: Some("u".into()),
            caller: None,
        },
    );
    assert!(
        replies(&acts)
            .iter()
            .any(|r| matches!(&r.1, Status::Err(m) if m.contains("from an unknown process"))),
        "{acts:?}"
    );
}

#[test]
fn a_second_caller_is_told_plainly_and_takes_nothing_from_the_agent() {
    let mut t = running("");
    let intruder = |t: &mut T, at: Millis, call: ApiCall| {
        replies(&t.at(
            at,
            Input::Command {
                cmd: Command::Api(call, "web".into()),
                reply: Some("x".into()),
                caller: Some(4242),
            },
        ))
    };
    t.cmd(2000, "apiok web", Some("a"));
    // An extra APIOK.x in a loop: refused at once, never paced, never delaying the agent.
    for i in 0..10 {
        let r = intruder(&mut t, 2001 + i, ApiCall::Ok);
        assert!(
            matches!(&r[0].1, Status::Err(m) if m.contains("only the service's agent")),
            "{r:?}"
        );
        assert_eq!(r[0].2, 2001 + i, "answered at once");
    }
    let r = replies(&t.cmd(2500, "apiok web", Some("a")));
    assert_eq!(r, vec![ok("a", 3000)], "the agent keeps its own pace");
    // An intruder's apierr restarts nothing.
    intruder(&mut t, 2600, ApiCall::Err);
    assert_eq!(t.state(), "ACTIVEACT");
    assert!(!t
        .at(2700, Input::Tick)
        .iter()
        .any(|a| matches!(a, Action::StopAgent { .. })));
    // Nor do its calls keep a silent agent alive: 3 intervals after the agent's last call,
    // the service fails whatever the intruder says.
    for at in [3000, 4000, 5000] {
        intruder(&mut t, at, ApiCall::Ok);
    }
    let acts = t.at(5501, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
}

#[test]
fn every_start_and_stop_is_timed_by_phase_in_one_move_line() {
    let mut t = running("");
    // The start is complete once the agent first reports.
    assert!(!t.e.status_text().contains("MOVE"));
    let acts = t.cmd(1500, "apiok web", None);
    let logged: Vec<String> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Log { text, .. } if text.starts_with("MOVE") => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1, "{acts:?}");
    let line = &logged[0];
    assert!(
        line.starts_with("MOVE web in (protected, and the peer is down)"),
        "{line}"
    );
    for phase in ["start script", "agent started", "first agent OK", "total"] {
        assert!(line.contains(phase), "{line}");
    }
    assert!(t.e.status_text().contains(&format!("{}\n", line)));
    // A stop: out, from the decision to its last step.
    let acts = t.cmd(2000, "service bringout web", Some("o"));
    let (_, all) = t.run_plan(2000, acts);
    assert!(
        all.iter().any(|a| matches!(a, Action::Log { text, .. }
        if text.starts_with("MOVE web out (brought out of protection): agent stopped")
            && text.contains("stop script"))),
        "{all:?}"
    );
}

#[test]
fn api_calls_for_unknown_or_stopped_services() {
    let mut t = T::new(&svc(""));
    let r = replies(&t.cmd(0, "apiok nope", Some("a")));
    assert!(matches!(&r[0].1, Status::Err(m) if m.contains("no service named 'nope'")));
    let r = replies(&t.cmd(0, "apiok web", Some("a")));
    assert_eq!(
        r[0].1,
        Status::Stop,
        "an agent of a service that is out is not wanted"
    );
}

#[test]
fn apierr_restarts_then_gives_up_into_error() {
    let mut t = running("restart_times = 1\n");
    let acts = t.cmd(2000, "apierr web", Some("e"));
    assert_eq!(replies(&acts), vec![ok("e", 2000)]);
    let (steps, _) = t.run_plan(2000, acts);
    assert_eq!(
        steps,
        vec![
            Step::StopAgent,
            Step::StopScript,
            Step::StartScript,
            Step::StartAgent
        ]
    );
    assert_eq!(t.state(), "ACTIVEACT");
    let acts = t.cmd(3000, "apierr web", None);
    let (steps, _) = t.run_plan(3000, acts);
    assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
    assert_eq!(t.state(), "ERRORACT");
    // Not started again until brought in anew.
    let acts = t.at(60_000, Input::Tick);
    assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
    let acts = t.cmd(61_000, "service bringin web", Some("b"));
    let (steps, all) = t.run_plan(61_000, acts);
    assert_eq!(steps, vec![Step::StartScript, Step::StartAgent]);
    assert_eq!(replies(&all), vec![ok("b", 61_000)]);
}

#[test]
fn failures_outside_the_start_timeout_window_are_forgotten() {
    let mut t = running("restart_times = 1\n");
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    let acts = t.cmd(
        2000 + 11_000,
        "apok web".replace("apok", "apiok").as_str(),
        None,
    );
    t.run_plan(13_000, acts);
    let acts = t.cmd(13_500, "apierr web", None);
    let (steps, _) = t.run_plan(13_500, acts);
    assert_eq!(
        steps,
        vec![
            Step::StopAgent,
            Step::StopScript,
            Step::StartScript,
            Step::StartAgent
        ],
        "a restart again, 11.5 s > start_timeout later"
    );
}

#[test]
fn a_silent_agent_is_a_failure_after_three_intervals() {
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    let acts = t.at(4400, Input::Tick);
    assert!(acts.is_empty() || !acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    assert!(t.e.next_wakeup().is_some_and(|w| w <= 1500 + 3000 + 1));
    let acts = t.at(4501, Input::Tick);
    let (steps, all) = t.run_plan(4501, acts);
    assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
    assert!(all
        .iter()
        .any(|a| matches!(a, Action::Log { text, .. } if text.contains("agent silent for 3.0s"))));
    assert_eq!(t.state(), "ERRORACT");
}

#[test]
fn silence_is_judged_only_after_what_was_ready_has_been_read() {
    // hasvrd stood still past the agent's deadline (less than a stall); the FIFO holds the
    // agent's OKs behind another input, which must not find the agent silent.
    let mut t = running("");
    let before = t.state();
    t.cmd(1500, "apiok web", None);
    let acts = t.at(4700, Input::RequestsDropped(0));
    assert!(!acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    assert_eq!(
        t.e.next_wakeup(),
        Some(4701),
        "the tick judges it, or a millisecond later"
    );
    t.cmd(4700, "apiok web", None);
    let acts = t.at(4700, Input::Tick);
    assert!(!acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    assert_eq!(t.state(), before);
    // Without the OKs, the tick of the same turn judges it.
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    t.at(4700, Input::RequestsDropped(0));
    let acts = t.at(4700, Input::Tick);
    let (steps, _) = t.run_plan(4700, acts);
    assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
}

#[test]
fn a_stall_of_hasvrd_itself_is_not_the_agents_silence_but_their_silence_after_it_is() {
    let stood_still = |acts: &[Action]| {
        acts.iter().find_map(|a| match a {
            Action::Log { text, .. } if text.contains("stood still for") => Some(text.clone()),
            _ => None,
        })
    };
    let mut t = running("");
    t.cmd(2000, "apiok web", None);
    t.at(2000, Input::RequestsDropped(0));
    let woke_by = t.e.next_wakeup().unwrap();
    assert_eq!(woke_by, 2000 + 3001, "the agent's deadline");
    // The agent's next OK, taken without a pass; then hasvrd stands still 5 s past the
    // wake-up it asked for. The agent's silence moves on by as much (a live agent's OKs wait
    // unread in the FIFO meanwhile; a paused machine paused the agent too).
    t.cmd(4000, "apiok web", None);
    let now = woke_by + 5000;
    let said = stood_still(&t.at(now, Input::RequestsDropped(0)));
    assert!(
        said.as_ref()
            .is_some_and(|s| s.contains("stood still for 5s ")),
        "{said:?}"
    );
    let acts = t.at(now, Input::Tick);
    assert!(!acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    // Silent from then on: a failure 3 intervals after its last OK, moved on by the stall.
    let deadline = 4000 + 5000 + 3001;
    let acts = t.at(deadline - 1, Input::Tick);
    assert!(!acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    let acts = t.at(deadline, Input::Tick);
    let (steps, _) = t.run_plan(deadline, acts);
    assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
    // An agent that has not reported yet: its start moves on by the stall too, so it is
    // judged as an on-time loop would have judged it at its deadline.
    let mut t = running("");
    t.at(1500, Input::RequestsDropped(0));
    let woke_by = t.e.next_wakeup().unwrap();
    assert_eq!(woke_by, 1000 + 3001, "the agent's deadline from its start");
    let now = woke_by + 5000;
    assert!(stood_still(&t.at(now, Input::RequestsDropped(0))).is_some());
    let acts = t.at(now, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::Log { text, .. } if text.contains("agent has not reported within 3.0s of its start"))), "{acts:?}");
    // A second past the wake-up is a late loop, not yet a stall; a millisecond more is one.
    for (late, stall) in [(1000, false), (1001, true)] {
        let mut t = running("");
        t.cmd(2000, "apiok web", None);
        t.at(2000, Input::RequestsDropped(0));
        let woke_by = t.e.next_wakeup().unwrap();
        let said = stood_still(&t.at(woke_by + late, Input::RequestsDropped(0)));
        assert_eq!(said.is_some(), stall, "{late} ms late: {said:?}");
    }
}

#[test]
fn an_agent_that_exits_is_a_failure_unless_it_closed_first() {
    let mut t = running("");
    let acts = t.at(
        1500,
        Input::AgentExited {
            service: "web".into(),
            agent: 1,
            how: "exit status 1".into(),
        },
    );
    t.run_plan(1500, acts);
    assert_eq!(t.state(), "ERRORACT");

    let mut t = running("");
    t.cmd(1500, "apiclose web", Some("c"));
    let acts = t.at(
        1600,
        Input::AgentExited {
            service: "web".into(),
            agent: 1,
            how: "exit status 0".into(),
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
    assert_eq!(t.state(), "ACTIVEACT");
    // A stale agent's exit changes nothing.
    let acts = t.at(
        1700,
        Input::AgentExited {
            service: "web".into(),
            agent: 99,
            how: "x".into(),
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
}

#[test]
fn a_stall_of_hasvrd_moves_the_peers_silence_on_by_as_much() {
    let mut t = T::new(&svc(""));
    t.at(700, peer_beat(1, 0));
    t.at(750, peer_beat(2, 0));
    assert_eq!(t.e.peer_status(), PeerStatus::Up);
    let woke_by = t.e.next_wakeup().unwrap();
    assert_eq!(
        woke_by, 800,
        "the start-up grace: a link process says when the peer is late"
    );
    // hasvrd stands still 5 s past it: the peer's beats wait unread meanwhile.
    let now = woke_by + 5000;
    t.at(now, Input::RequestsDropped(0));
    t.at(now, Input::Tick);
    assert_eq!(
        t.e.peer_status(),
        PeerStatus::Up,
        "not down for our own stall"
    );
    // Silent after it too: down a silence limit after its last beat, moved on by the stall.
    t.at(now + 1000, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Down);
}
