//! One engine's start and stop plans: failed and stuck steps, shutdown and QUIT, adopting what a previous hasvrd left.

use super::*;

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
