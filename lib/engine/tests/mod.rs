//! The engine, state by event, deterministic: no clock, no I/O.
use super::*;
use crate::request::Status;

const BASE: &str = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 100ms\n";

fn svc(extra: &str) -> String {
    format!("{BASE}\n[service web]\nactive_server = alpha\nstandby_server = beta\nstart = web.start\nstop = web.stop\nagent = web.agent\ncheck_interval = 1s\nstart_timeout = 10s\n{extra}")
}

struct T {
    e: Engine,
    now: Millis,
}

impl T {
    fn new(text: &str) -> T {
        let cfg = config::parse("t", text).unwrap();
        T {
            e: Engine::new("alpha", cfg, text.to_string(), None, 0),
            now: 0,
        }
    }
    fn at(&mut self, t: Millis, i: Input) -> Vec<Action> {
        self.now = t;
        self.e.handle(t, i)
    }
    fn cmd(&mut self, t: Millis, words: &str, reply: Option<&str>) -> Vec<Action> {
        let w: Vec<String> = words.split(' ').map(str::to_string).collect();
        let cmd = crate::request::parse_command(&w).unwrap();
        self.at(
            t,
            Input::Command {
                cmd,
                reply: reply.map(str::to_string),
                // Agent calls come from the agent (the tests' agents run as pid 100 + id).
                caller: self.e.agent_pid("web"),
            },
        )
    }
    fn state(&self) -> &'static str {
        self.e.state_word("web")
    }
    /// Completes every step the engine asks for (agents spawn as pid 100+id).
    fn run_plan(&mut self, t: Millis, mut acts: Vec<Action>) -> (Vec<Step>, Vec<Action>) {
        let mut steps = Vec::new();
        let mut all = Vec::new();
        for _ in 0..50 {
            let mut next = Vec::new();
            for a in &acts {
                match a {
                    Action::Run { task, step, .. } => {
                        steps.push(*step);
                        next.push(Input::TaskDone {
                            task: *task,
                            result: Ok(()),
                        });
                    }
                    Action::StartAgent { service, agent } => {
                        steps.push(Step::StartAgent);
                        next.push(Input::AgentSpawned {
                            service: service.clone(),
                            agent: *agent,
                            pid: 100 + *agent as u32,
                            token: 1,
                        });
                    }
                    Action::StopAgent { service, agent } => {
                        steps.push(Step::StopAgent);
                        next.push(Input::AgentExited {
                            service: service.clone(),
                            agent: *agent,
                            how: "TERM".into(),
                        });
                    }
                    _ => {}
                }
            }
            all.extend(acts);
            if next.is_empty() {
                break;
            }
            acts = next.into_iter().flat_map(|i| self.at(t, i)).collect();
        }
        (steps, all)
    }
}

impl T {
    /// Like `run_plan`, but the steps `fails` picks fail; returns every action seen.
    fn run_failing(
        &mut self,
        t: Millis,
        mut acts: Vec<Action>,
        fails: impl Fn(Step) -> bool,
    ) -> Vec<Action> {
        let mut all = Vec::new();
        for _ in 0..10 {
            let mut next = Vec::new();
            for a in &acts {
                match a {
                    Action::Run { task, step, .. } => next.push(Input::TaskDone {
                        task: *task,
                        result: if fails(*step) {
                            Err("exit status 1".into())
                        } else {
                            Ok(())
                        },
                    }),
                    Action::StopAgent { service, agent } => next.push(Input::AgentExited {
                        service: service.clone(),
                        agent: *agent,
                        how: "TERM".into(),
                    }),
                    _ => {}
                }
            }
            all.extend(acts);
            acts = next.into_iter().flat_map(|i| self.at(t, i)).collect();
        }
        all
    }
}

/// A beat of beta (boot 3) over link lan, at `seq`: it hears us, and which of our boots
/// it heard (0: it does not say).
fn peer_beat(seq: u64, heard: u64) -> Input {
    let payload = crate::frame::Message::Beat(crate::frame::Beat {
        sender: "beta".into(),
        generation: 1,
        digest: 0,
        hears_you: true,
        leaving: false,
        keeping: false,
        services: vec![],
        nics: vec![],
        disks: vec![],
        admin: (0, String::new()),
        heard,
    })
    .encode();
    Input::Frame {
        link: "lan".into(),
        boot: 3,
        seq,
        payload,
    }
}

fn replies(acts: &[Action]) -> Vec<(String, Status, Millis)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Reply { to, reply, at } => Some((to.clone(), reply.status.clone(), *at)),
            _ => None,
        })
        .collect()
}

fn ok(to: &str, at: Millis) -> (String, Status, Millis) {
    (to.into(), Status::Ok, at)
}

/// Brings web in at t=0 and starts it after the grace period.
fn running(extra: &str) -> T {
    let mut t = T::new(&svc(extra));
    t.cmd(0, "service bringin web", Some("r"));
    let acts = t.at(1000, Input::Tick);
    t.run_plan(1000, acts);
    assert_eq!(t.state(), "ACTIVEACT");
    t
}

#[test]
fn bring_in_waits_for_the_grace_period_then_starts_in_order_and_replies() {
    let text = svc("active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\nvolume = /dev/a /dev/b /m1\nvolume = /dev/c /dev/d /m2\n");
    let mut t = T::new(&text);
    assert_eq!(t.state(), "OUTACT");
    let acts = t.cmd(0, "service bringin web", Some("r"));
    assert!(replies(&acts).is_empty(), "replies only once it runs");
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Run { .. })),
        "nothing starts while the peer may be alive"
    );
    assert_eq!(t.state(), "STANDBY");
    let acts = t.at(1000, Input::Tick);
    let (steps, all) = t.run_plan(1000, acts);
    assert_eq!(
        steps,
        vec![
            Step::Mount(0),
            Step::Mount(1),
            Step::AddIps,
            Step::StartScript,
            Step::StartAgent
        ]
    );
    assert_eq!(replies(&all), vec![ok("r", 1000)]);
    assert_eq!(t.state(), "ACTIVEACT");
    let acts = t.cmd(2000, "service bringout web", Some("o"));
    let (steps, all) = t.run_plan(2000, acts);
    assert_eq!(
        steps,
        vec![
            Step::StopAgent,
            Step::StopScript,
            Step::DelIps,
            Step::Umount(1),
            Step::Umount(0)
        ]
    );
    assert_eq!(replies(&all), vec![ok("o", 2000)]);
    assert_eq!(t.state(), "OUTACT");
}

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
    let body = acts
        .iter()
        .find_map(|a| match a {
            Action::Reply { reply, .. } => Some(reply.body.clone()),
            _ => None,
        })
        .unwrap();
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
fn a_start_script_that_fails_or_times_out_leads_to_error_and_a_failed_reply() {
    let mut t = T::new(&svc(""));
    t.cmd(0, "service bringin web", Some("r"));
    let acts = t.at(1000, Input::Tick);
    let task = acts
        .iter()
        .find_map(|a| match a {
            Action::Run {
                task,
                step: Step::StartScript,
                timeout,
                ..
            } => {
                assert_eq!(*timeout, 10_000);
                Some(*task)
            }
            _ => None,
        })
        .unwrap();
    let acts = t.at(
        11_000,
        Input::TaskDone {
            task,
            result: Err("did not finish in time".into()),
        },
    );
    let (steps, all) = t.run_plan(11_000, acts);
    assert_eq!(
        steps,
        vec![Step::StopScript],
        "no agent ran, no address was added"
    );
    let r = replies(&all);
    assert!(
        matches!(&r[0].1, Status::Err(m) if m.contains("ERRORACT") && m.contains("did not finish in time")),
        "{r:?}"
    );
}

#[test]
fn a_failed_stop_step_is_a_warning_but_a_stuck_volume_is_an_error() {
    let mut t = running("volume = /dev/a /dev/b /m1\n");
    let acts = t.cmd(2000, "service bringout web", Some("o"));
    let all = t.run_failing(2000, acts, |step| {
        step == Step::StopScript || matches!(step, Step::Umount(_))
    });
    assert!(all.iter().any(|a| matches!(a, Action::Log { level: Level::Warning, text } if text.contains("stop script web.stop failed"))));
    assert!(all.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("unmount /m1 failed"))));
    // The node fences itself (the default); until it is gone the service does not look
    // stopped, for the volume is still mounted here.
    assert!(all.iter().any(|a| matches!(a, Action::Fence { .. })));
    t.at(3000, Input::Tick);
    assert_eq!(t.e.phase_of("web"), Phase::Stopping);
}

#[test]
fn what_the_engine_tells_its_executor_is_what_it_holds() {
    let mut t = running("");
    assert_eq!(t.e.node(), "alpha");
    assert_eq!(t.e.primary_ref("web"), "alpha");
    assert_eq!(t.e.primary_ref("nothing"), "");
    assert_eq!(t.e.shared_config().services.len(), 1);
    assert!(!t.e.has_exited() && !t.e.in_error("web") && !t.e.leaves_resources_untouched());
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    assert!(t.e.in_error("web") && !t.e.in_error("nothing"));
    t.at(
        3000,
        Input::Shutdown {
            touch_resources: false,
        },
    );
    assert!(t.e.leaves_resources_untouched());
}

#[test]
fn shutdown_stops_everything_then_exits_and_quit_touches_nothing() {
    let mut t = running("");
    let acts = t.cmd(2000, "stop", Some("s"));
    let (steps, all) = t.run_plan(2000, acts);
    assert_eq!(steps, vec![Step::StopAgent, Step::StopScript]);
    assert!(all.contains(&Action::Exit));
    assert!(replies(&all).contains(&ok("s", 2000)));
    assert!(t.e.has_exited());

    let mut t = running("");
    let acts = t.at(
        2000,
        Input::Shutdown {
            touch_resources: false,
        },
    );
    assert!(acts.contains(&Action::Exit));
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::Run { .. } | Action::StopAgent { .. })));
}

/// Found by the simulator (seed 20554879): a QUIT that left in the middle of a start had
/// its mount go on after hasvrd, racing the next hasvrd's clean-up of that start.
#[test]
fn a_quit_in_the_middle_of_a_step_leaves_once_the_step_is_done() {
    let mut t = running("");
    let acts = t.cmd(2000, "service bringout web", None);
    assert!(
        acts.iter().any(|a| matches!(a, Action::StopAgent { .. })),
        "{acts:?}"
    );
    let quit = t.at(
        2100,
        Input::Shutdown {
            touch_resources: false,
        },
    );
    assert!(!quit.contains(&Action::Exit), "left with a step in flight");
    let (_, all) = t.run_plan(2200, acts);
    assert!(all.contains(&Action::Exit), "{all:?}");
    assert!(t.e.leaves_resources_untouched());
}

#[test]
fn a_restarted_engine_adopts_what_runs_and_cleans_up_what_was_half_done() {
    let t = running("");
    let saved = t.e.persisted();
    assert_eq!(saved.services[0].agent_pid, Some(101));
    let text = svc("");
    let cfg = config::parse("t", &text).unwrap();
    let mut e = Engine::new("alpha", cfg.clone(), text.clone(), Some(saved.clone()), 0);
    let acts = e.handle(0, Input::Tick);
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::WatchAgent {
            pid: 101,
            token: 1,
            ..
        }
    )));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Run { .. })),
        "nothing restarted"
    );
    assert_eq!(e.state_word("web"), "ACTIVEACT");
    let acts = e.handle(2000, Input::Tick);
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Run { .. } | Action::StopAgent { .. })),
        "the end of the grace period does not stop an adopted service"
    );

    let mut half = saved.clone();
    half.services[0].phase = SavedPhase::Transition;
    let mut e = Engine::new("alpha", cfg.clone(), text.clone(), Some(half), 0);
    let acts = e.handle(0, Input::Tick);
    let agent = acts
        .iter()
        .find_map(|a| match a {
            Action::StopAgent { agent, .. } => Some(*agent),
            _ => None,
        })
        .expect("its agent is stopped first");
    let acts = e.handle(
        10,
        Input::AgentExited {
            service: "web".into(),
            agent,
            how: "TERM".into(),
        },
    );
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Run {
            step: Step::StopScript,
            ..
        }
    )));

    let mut rebooted = saved;
    rebooted.rebooted = true;
    let mut e = Engine::new("alpha", cfg, text, Some(rebooted), 0);
    assert_eq!(
        e.state_word("web"),
        "STANDBY",
        "after a reboot nothing runs, but it stays protected"
    );
    let acts = e.handle(1000, Input::Tick);
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Run {
            step: Step::StartScript,
            ..
        }
    )));
}

#[test]
fn configuration_edits_need_the_peer() {
    let mut t = running("");
    let r = replies(&t.cmd(
        2000,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("x"),
    ));
    assert!(
        matches!(&r[0].1, Status::Err(m) if m.contains("peer beta is not reachable")),
        "{r:?}"
    );
    // A reload that drops a protected service is refused whole.
    let r = t.at(
        2000,
        Input::Reload(Ok((config::parse("t", BASE).unwrap(), BASE.into()))),
    );
    assert!(r.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("keeping the running one"))));
    assert_eq!(t.state(), "ACTIVEACT");
}

#[test]
fn status_lists_nodes_links_and_services() {
    let t = running("");
    assert_eq!(t.e.status_text(), "NODE alpha UP local\nNODE beta DOWN\nLINK lan socket ERR\nLICENSE alpha - - MISSING\nLICENSE beta - - MISSING\nCONFIG generation=1 UNKNOWN\nSERVICE web USERDEF alpha=ACTIVEACT beta=UNKNOWN\n");
}

mod admin;
mod alerts;
mod both_claim;
mod disk_link;
mod disks;
mod left_running;
mod peer;
mod relays;
mod two_nodes;

#[test]
fn a_configuration_conflict_is_reported_not_merged() {
    use super::sim::*;
    let text = config_text(&service("web", ""));
    let mut s = Sim::new(&text);
    s.run(100);
    // Each node changes its own file by hand and reloads: both reach generation 2.
    for (n, extra) in [(ALPHA, "# alpha's edit\n"), (BETA, "# beta's edit\n")] {
        let t = format!("{text}{extra}");
        let cfg = crate::config::parse("t", &t).unwrap();
        // Through the simulated executor: the new beat must reach the link.
        s.input(n, Input::Reload(Ok((cfg, t))));
        assert!(s.log(n).iter().any(|l| l.contains("generation 2")));
    }
    s.run(300);
    assert!(
        s.engines[ALPHA]
            .status_text()
            .contains("CONFIG generation=2 CONFLICT"),
        "{}",
        s.engines[ALPHA].status_text()
    );
    assert!(s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("configuration conflict: this node and beta both have generation 2")));
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(300);
    assert!(
        s.running_on("web").is_empty(),
        "nothing moves while the nodes disagree"
    );
}

#[test]
fn configuration_changes_need_two_way_contact() {
    use super::sim::*;
    let mut s = Sim::new(&config_text(""));
    s.run(200);
    // alpha's frames no longer reach beta; alpha still hears beta.
    s.paths[0][ALPHA].up = false;
    s.paths[1][ALPHA].up = false;
    s.run(600);
    s.command(
        ALPHA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c"),
    );
    // It waits a while for contact (the last change may still be syncing), then says why.
    s.run(5_000);
    assert!(s.reply(ALPHA, "c").is_none());
    s.run(5_500);
    match s.reply(ALPHA, "c").map(|r| r.status) {
        Some(Status::Err(m)) => assert!(m.contains("beta does not hear this node"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    s.paths[0][ALPHA].up = true;
    s.paths[1][ALPHA].up = true;
    s.run(600);
    s.command(
        ALPHA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c2"),
    );
    assert!(matches!(
        s.reply(ALPHA, "c2").map(|r| r.status),
        Some(Status::Ok)
    ));
}

#[test]
fn a_restarted_engine_still_knows_where_to_ask_the_peer_over_the_public_network() {
    use super::sim::*;
    let text = config_text(&service(
        "web",
        "active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\n",
    ));
    let mut s = Sim::new(&text);
    s.run(300);
    let saved = s.engines[ALPHA].persisted();
    assert_eq!(
        saved.peer_public,
        vec![std::net::Ipv4Addr::new(192, 0, 2, 2)]
    );
    let parsed = crate::state::parse(&crate::state::file_text("b", &saved.to_text()), "b").unwrap();
    let mut e = Engine::new(
        "alpha",
        config::parse("t", &text).unwrap(),
        text,
        Some(parsed),
        0,
    );
    let acts = e.handle(0, Input::Tick);
    assert!(
        acts.iter().any(|a| matches!(a, Action::SendPublic { to, .. } if to == &vec![std::net::Ipv4Addr::new(192, 0, 2, 2)])),
        "{acts:?}"
    );
}

#[test]
fn a_running_service_without_a_saved_agent_pid_is_cleaned_up_not_adopted() {
    let t = running("");
    let mut saved = t.e.persisted();
    saved.services[0].agent_pid = None;
    let text = svc("");
    let mut e = Engine::new(
        "alpha",
        config::parse("t", &text).unwrap(),
        text,
        Some(saved),
        0,
    );
    let acts = e.handle(0, Input::Tick);
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Action::Run {
                step: Step::StopScript,
                ..
            }
        )),
        "{acts:?}"
    );
    assert!(acts.iter().any(|a| matches!(a, Action::Log { text, .. } if text.contains("in the middle of starting or stopping"))));
}

#[test]
fn a_stopping_node_refuses_changes_and_a_move_that_never_ends_is_given_up_in_time() {
    let mut t = running("");
    t.cmd(2000, "stop", Some("s"));
    let r = replies(&t.cmd(2001, "service bringout web", Some("b")));
    assert_eq!(
        r[0].1,
        Status::Err("SureHA is stopping on this node".into())
    );
    // A bring-in whose start never finishes: its caller hears within the waiting limit.
    let mut t = T::new(&svc("restart_times = 1\n"));
    t.cmd(0, "service bringin web", Some("in"));
    t.at(1000, Input::Tick);
    // Two start timeouts (10 s) for each of its tries and the stop between, and 30 s more.
    let limit = 2 * 10_000 * (1 + 2) + 30_000;
    assert_eq!(
        crate::config::waiting_limit(t.e.config().service("web")),
        limit
    );
    assert_eq!(crate::config::waiting_limit(None), 60_000);
    assert!(replies(&t.at(limit - 1, Input::Tick)).is_empty());
    let r = replies(&t.at(limit, Input::Tick));
    assert!(
        matches!(&r[..], [x] if matches!(&x.1, Status::Err(m) if m.contains("not done in the time allowed"))),
        "{r:?}"
    );
}
