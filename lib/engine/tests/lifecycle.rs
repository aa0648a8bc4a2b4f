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

/// The steps of the `Run` actions among `acts`.
fn run_steps(acts: &[Action]) -> Vec<Step> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Run { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

#[test]
fn a_late_report_of_an_earlier_agent_is_not_taken_for_the_current_one() {
    let mut t = running("restart_times = 2\n");
    let first = t.e.services["web"].agent.as_ref().unwrap().id;
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    assert_eq!(t.state(), "ACTIVEACT", "restarted");
    let second = t.e.services["web"].agent.as_ref().unwrap().id;
    assert_ne!(first, second, "each agent its own id");
    // The first agent's exit, reported late, is not the new one's.
    let acts = t.at(
        2100,
        Input::AgentExited {
            service: "web".into(),
            agent: first,
            how: "TERM".into(),
        },
    );
    assert!(run_steps(&acts).is_empty(), "{acts:?}");
    assert_eq!(t.state(), "ACTIVEACT");
}

#[test]
fn a_failed_start_undoes_only_what_it_brought_up() {
    let ip = "active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\nrestart_times = 0\n";
    // The start script fails: the addresses it had brought up come off again.
    let mut t = T::new(&svc(ip));
    t.cmd(0, "service bringin web", None);
    let acts = t.at(1000, Input::Tick);
    let all = t.run_failing(1000, acts, |s| s == Step::StartScript);
    assert_eq!(
        run_steps(&all),
        [
            Step::AddIps,
            Step::StartScript,
            Step::StopScript,
            Step::DelIps
        ]
    );
    assert_eq!(t.state(), "ERRORACT");
    // The addresses fail to come up: nothing to take off, the stop script runs alone.
    let mut t = T::new(&svc(ip));
    t.cmd(0, "service bringin web", None);
    let acts = t.at(1000, Input::Tick);
    let all = t.run_failing(1000, acts, |s| s == Step::AddIps);
    assert_eq!(run_steps(&all), [Step::AddIps, Step::StopScript]);
}

#[test]
fn a_running_service_that_fails_comes_down_whole_addresses_included() {
    let mut t = running(
        "active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\nrestart_times = 0\n",
    );
    let acts = t.cmd(2000, "apierr web", None);
    let (steps, _) = t.run_plan(2000, acts);
    assert_eq!(steps, [Step::StopAgent, Step::StopScript, Step::DelIps]);
    assert_eq!(t.state(), "ERRORACT");
}

#[test]
fn a_failed_stop_script_is_tried_once_more_and_no_more() {
    let mut t = running("");
    let acts = t.cmd(2000, "service bringout web", None);
    let mut once = true;
    let all = t.run_failing(2000, acts, |s| {
        s == Step::StopScript && std::mem::replace(&mut once, false)
    });
    assert_eq!(run_steps(&all), [Step::StopScript, Step::StopScript]);
    assert_eq!(t.state(), "OUTACT");
    let mut t = running("");
    let acts = t.cmd(2000, "service bringout web", None);
    let all = t.run_failing(2000, acts, |s| s == Step::StopScript);
    assert_eq!(
        run_steps(&all),
        [Step::StopScript, Step::StopScript],
        "twice, then the stop goes on"
    );
    assert_eq!(t.state(), "OUTACT");
}

#[test]
fn a_failure_exactly_one_start_timeout_after_the_last_is_a_first_again() {
    // restart_times 1, start_timeout 10 s: failures 10 s apart each get their restart.
    let mut t = running("restart_times = 1\n");
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    assert_eq!(t.state(), "ACTIVEACT");
    let acts = t.cmd(12_000, "apierr web", None);
    let (steps, _) = t.run_plan(12_000, acts);
    assert_eq!(
        steps,
        [
            Step::StopAgent,
            Step::StopScript,
            Step::StartScript,
            Step::StartAgent
        ]
    );
    assert_eq!(t.state(), "ACTIVEACT");
}

#[test]
fn a_mount_waits_for_the_lease_and_only_addresses_name_a_nic() {
    let disk = "\n[privnet d]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/sdx\ndevice2 = /dev/sdy\ninterval = 100ms\nmaxmiss = 3\n";
    let text = svc("active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\nvolume = /dev/a /dev/b /m1\n")
        .replacen("\n[service web]", &format!("{disk}\n[service web]"), 1);
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", None);
    let mut runs = Vec::new();
    for ms in (0..=3000).step_by(100) {
        let acts = t.at(
            ms,
            Input::LeaseRenewed {
                link: "d".into(),
                took: 0,
            },
        );
        let (_, all) = t.run_plan(ms, acts);
        runs.extend(all.into_iter().filter_map(|a| match a {
            Action::Run {
                step, timeout, nic, ..
            } => Some((step, timeout, nic)),
            _ => None,
        }));
    }
    // The lease of the disk link: 3 × 300 ms.
    assert_eq!(
        runs[..3],
        [
            (Step::Mount(0), 30_000 + 900, None),
            (Step::AddIps, 30_000, Some("eth0".to_string())),
            (Step::StartScript, 10_000, None),
        ]
    );
}

#[test]
fn an_agent_that_dies_before_it_is_seen_running_is_a_failure() {
    let mut t = T::new(&svc("restart_times = 0\n"));
    t.cmd(0, "service bringin web", None);
    let mut acts = t.at(1000, Input::Tick);
    let mut agent = None;
    for _ in 0..5 {
        let mut next = Vec::new();
        for a in &acts {
            match a {
                Action::Run { task, .. } => next.push(Input::TaskDone {
                    task: *task,
                    result: Ok(()),
                }),
                Action::StartAgent { agent: id, .. } => agent = Some(*id),
                _ => {}
            }
        }
        acts = next.into_iter().flat_map(|i| t.at(1000, i)).collect();
    }
    let id = agent.expect("the agent was started");
    let acts = t.at(
        1010,
        Input::AgentExited {
            service: "web".into(),
            agent: id,
            how: "exit status 127".into(),
        },
    );
    t.run_plan(1010, acts);
    assert_eq!(t.state(), "ERRORACT");
}

#[test]
fn a_closed_agent_is_not_called_silent() {
    let mut t = running("");
    t.cmd(1500, "apiclose web", Some("c"));
    // A pass (a command is no routine input), then the tick that judges silence.
    let mut acts = t.cmd(60_000, "status", Some("s"));
    acts.extend(t.at(60_000, Input::Tick));
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::StopAgent { .. } | Action::Run { .. })),
        "{acts:?}"
    );
    assert_eq!(t.state(), "ACTIVEACT");
}

#[test]
fn an_agent_is_silent_only_past_three_intervals_not_at_them() {
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    // A pass at that very moment (a command), then the tick that judges silence.
    let mut acts = t.cmd(4500, "status", Some("s"));
    acts.extend(t.at(4500, Input::Tick));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::StopAgent { .. })),
        "exactly three intervals: {acts:?}"
    );
    assert_eq!(t.state(), "ACTIVEACT");
    let acts = t.at(4501, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
}

#[test]
fn a_failed_nic_moves_the_addresses_to_the_next_one_of_the_list() {
    let nics = |eth0: bool| {
        Input::Nics(
            ["eth0", "eth1"]
                .iter()
                .map(|n| NicState {
                    name: n.to_string(),
                    ok: *n != "eth0" || eth0,
                    addrs: vec![],
                })
                .collect(),
        )
    };
    let mut t = T::new(&svc(
        "active_ip = 192.0.2.100\nactive_nic = eth0 eth1\nstandby_nic = eth0\n",
    ));
    t.at(0, nics(true));
    t.cmd(0, "service bringin web", None);
    let acts = t.at(1000, Input::Tick);
    t.run_plan(1000, acts);
    assert_eq!(t.state(), "ACTIVEACT");
    let acts = t.at(2000, nics(false));
    let moved: Vec<(Step, Option<String>)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Run { step, nic, .. } => Some((*step, nic.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(moved, [(Step::DelIps, None)], "{acts:?}");
    let (_, all) = t.run_plan(2000, acts);
    assert!(all.iter().any(|a| matches!(a,
        Action::Run { step: Step::AddIps, nic: Some(n), .. } if n == "eth1")));
}

#[test]
fn a_local_restart_starts_again_when_its_stop_ends_unless_brought_out_or_stopping_meanwhile() {
    let logs = |acts: &[Action]| -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Log { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    // Left alone: started again as its stop ends, and said so.
    let mut t = running("restart_times = 1\n");
    let acts = t.cmd(2000, "apierr web", None);
    let (steps, all) = t.run_plan(2000, acts);
    assert_eq!(
        steps,
        [
            Step::StopAgent,
            Step::StopScript,
            Step::StartScript,
            Step::StartAgent
        ]
    );
    assert!(
        logs(&all).contains(&"service web: stopped; starting it again".to_string()),
        "{:?}",
        logs(&all)
    );
    // Brought out during the stop: it stays stopped.
    let mut t = running("restart_times = 1\n");
    let mut acts = t.cmd(2000, "apierr web", None);
    acts.extend(t.cmd(2000, "service bringout web", None));
    let (steps, all) = t.run_plan(2000, acts);
    assert_eq!(
        steps,
        [Step::StopAgent, Step::StopScript],
        "{:?}",
        logs(&all)
    );
    assert!(!t.e.services["web"].intent.protected);
    // The node stopping (haadm stop) during it: it stays stopped, and hasvrd leaves.
    let mut t = running("restart_times = 1\n");
    let mut acts = t.cmd(2000, "apierr web", None);
    acts.extend(t.cmd(2000, "stop", None));
    let (steps, all) = t.run_plan(2000, acts);
    assert_eq!(
        steps,
        [Step::StopAgent, Step::StopScript],
        "{:?}",
        logs(&all)
    );
    assert!(t.e.has_exited());
}

#[test]
fn a_failure_past_its_restarts_says_why_and_what_comes_next() {
    let error_line = |acts: &[Action]| -> String {
        acts.iter()
            .find_map(|a| match a {
                Action::Log {
                    level: Level::Error,
                    text,
                } if text.starts_with("service web: ") => Some(text.clone()),
                _ => None,
            })
            .expect("an ERROR line")
    };
    let mut t = running("");
    let acts = t.cmd(2000, "apierr web", None);
    assert_eq!(
        error_line(&acts),
        "service web: agent reported an error (apierr); no local restarts configured: stopping it here and leaving it in ERROR; beta is down, so it stays stopped"
    );
    let mut t = running("restart_times = 1\n");
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    // beta up now.
    for (i, at) in [2100, 2200].into_iter().enumerate() {
        t.at(at, peer_beat(i as u64 + 1, 0));
    }
    let acts = t.cmd(2300, "apierr web", None);
    assert!(
        error_line(&acts).ends_with(
            "1 restarts within 10s used up: stopping it here and leaving it in ERROR; handing it to beta"
        ),
        "{}",
        error_line(&acts)
    );
}

#[test]
fn a_saved_state_naming_a_node_the_configuration_no_longer_has_keeps_the_configured_one() {
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    let text = svc("");
    let cfg = config::parse("t", &text).unwrap();
    let restart = |primary: &str, runner: &str| {
        let mut saved = t.e.persisted();
        saved.services[0].primary = primary.into();
        saved.services[0].runner = runner.into();
        let e = Engine::new("alpha", cfg.clone(), text.clone(), Some(saved), 0);
        let s = &e.services["web"];
        (s.intent.primary.clone(), s.intent.runner.clone())
    };
    assert_eq!(restart("beta", "beta"), ("beta".into(), "beta".into()));
    assert_eq!(restart("beta", ""), ("beta".into(), String::new()));
    assert_eq!(restart("gamma", "gamma"), ("alpha".into(), "alpha".into()));
    assert_eq!(restart("alpha", "gamma"), ("alpha".into(), "alpha".into()));
}

#[test]
fn the_state_is_saved_when_it_changes_and_only_then() {
    let persists = |acts: &[Action]| -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Persist(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    t.at(1600, Input::Tick);
    // A pass that changes nothing saved (a status request) writes nothing.
    let passes = t.e.passes;
    let acts = t.cmd(1700, "status", Some("s"));
    assert_eq!(t.e.passes, passes + 1);
    assert!(
        persists(&acts).is_empty(),
        "at rest, nothing is written: {acts:?}"
    );
    let acts = t.cmd(1800, "service bringout web", None);
    let (_, all) = t.run_plan(1800, acts);
    let saved = persists(&all);
    assert!(
        saved.last().is_some_and(|s| s.contains("protected=0")),
        "{saved:?}"
    );
    assert!(persists(&t.cmd(1900, "status", Some("s"))).is_empty());
    // A reload that changes nothing of the services but the generation is saved too.
    let text = svc("# another comment\n");
    let acts = t.at(
        2000,
        Input::Reload(Ok((config::parse("t", &text).unwrap(), text))),
    );
    let saved = persists(&acts);
    assert!(
        saved.last().is_some_and(|s| s.contains("generation=2")),
        "{saved:?}"
    );
}

#[test]
fn an_adopted_agent_keeps_its_own_id_and_a_service_without_one_is_adopted_too() {
    let mut t = running("restart_times = 1\n");
    t.cmd(1500, "apiok web", None);
    let text = svc("restart_times = 1\n");
    let cfg = config::parse("t", &text).unwrap();
    let mut e = Engine::new("alpha", cfg, text, Some(t.e.persisted()), 0);
    let adopted = e.services["web"].agent.as_ref().unwrap().id;
    let acts = e.handle(50, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::Log { text, .. } if text == "service web: adopted, running since before this hasvrd started (agent pid 101)")), "{acts:?}");
    // The adopted agent dies: its successor has another id, so a late word of the first
    // is not taken for the second.
    let acts = e.handle(
        100,
        Input::AgentExited {
            service: "web".into(),
            agent: adopted,
            how: "KILL".into(),
        },
    );
    let mut t2 = T { e, now: 100 };
    let (_, all) = t2.run_plan(100, acts);
    let started = all.iter().find_map(|a| match a {
        Action::StartAgent { agent, .. } => Some(*agent),
        _ => None,
    });
    assert!(
        started.is_some_and(|id| id != adopted),
        "{started:?} after {adopted}"
    );
    // A service without an agent is adopted running, and said so.
    let text = svc("").replace("agent = web.agent\n", "");
    let cfg = config::parse("t", &text).unwrap();
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", None);
    let acts = t.at(1000, Input::Tick);
    t.run_plan(1000, acts);
    let mut e = Engine::new("alpha", cfg, text, Some(t.e.persisted()), 0);
    let acts = e.handle(0, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::Log { text, .. } if text == "service web: adopted, running since before this hasvrd started")), "{acts:?}");
}

#[test]
fn any_field_of_the_saved_state_that_differs_is_noticed() {
    let mut t = running("");
    t.cmd(1500, "apiok web", None);
    let now = t.e.persisted();
    assert!(t.e.still_persisted(&now));
    assert_eq!(now.services[0].phase, SavedPhase::Running);
    type Change = fn(&mut crate::state::Persisted);
    let changes: [(&str, Change); 15] = [
        ("generation", |p| p.generation += 1),
        ("peer_public", |p| {
            p.peer_public.push("192.0.2.7".parse().unwrap())
        }),
        ("peer_kept", |p| p.peer_kept = !p.peer_kept),
        ("services", |p| p.services.clear()),
        ("name", |p| p.services[0].name.push('x')),
        ("protected", |p| {
            p.services[0].protected = !p.services[0].protected
        }),
        ("primary", |p| p.services[0].primary = "beta".into()),
        ("runner", |p| p.services[0].runner = "beta".into()),
        ("epoch", |p| p.services[0].epoch += 1),
        ("resets", |p| p.services[0].resets += 1),
        ("error", |p| p.services[0].error = !p.services[0].error),
        ("error_was_active", |p| {
            p.services[0].error_was_active = !p.services[0].error_was_active
        }),
        ("phase", |p| p.services[0].phase = SavedPhase::Stopped),
        ("agent_pid", |p| p.services[0].agent_pid = Some(4242)),
        ("agent_token", |p| p.services[0].agent_token += 1),
    ];
    for (what, change) in changes {
        let mut last = now.clone();
        change(&mut last);
        assert!(!t.e.still_persisted(&last), "{what}");
    }
}

#[test]
fn a_running_service_moving_its_addresses_to_another_nic_is_saved_as_in_transition() {
    let mut t = running("active_ip = 192.0.2.10\nactive_nic = eth0 eth1\nstandby_nic = eth0\n");
    t.cmd(1500, "apiok web", None);
    let nic = |name: &str, ok: bool| NicState {
        name: name.into(),
        ok,
        addrs: vec![],
    };
    t.at(
        1600,
        Input::Nics(vec![nic("eth0", true), nic("eth1", true)]),
    );
    assert_eq!(t.e.persisted().services[0].phase, SavedPhase::Running);
    let acts = t.at(
        1700,
        Input::Nics(vec![nic("eth0", false), nic("eth1", true)]),
    );
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Action::Run {
                step: Step::DelIps,
                ..
            }
        )),
        "{acts:?}"
    );
    assert_eq!(t.e.services["web"].phase, Phase::Running);
    assert_eq!(t.e.persisted().services[0].phase, SavedPhase::Transition);
    // The old addresses off, the new going on: a report then that the new NIC failed too
    // waits for the move to end (it is judged afresh then).
    let task = acts
        .iter()
        .find_map(|a| match a {
            Action::Run {
                task,
                step: Step::DelIps,
                ..
            } => Some(*task),
            _ => None,
        })
        .unwrap();
    let acts = t.at(
        1720,
        Input::TaskDone {
            task,
            result: Ok(()),
        },
    );
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Run {
            step: Step::AddIps,
            ..
        }
    )));
    let acts = t.at(
        1750,
        Input::Nics(vec![nic("eth0", false), nic("eth1", false)]),
    );
    let about_web = |a: &Action| match a {
        Action::Run { .. } => true,
        Action::Log { text, .. } => text.starts_with("service web"),
        _ => false,
    };
    assert!(!acts.iter().any(about_web), "{acts:?}");
}

#[test]
fn only_a_takeover_counts_the_peers_silence_as_detection() {
    let move_line = |acts: &[Action]| -> Option<String> {
        acts.iter().find_map(|a| match a {
            Action::Log { text, .. } if text.starts_with("MOVE ") => Some(text.clone()),
            _ => None,
        })
    };
    // web's primary is beta: alpha takes it over once beta falls silent.
    let text = svc("").replace(
        "active_server = alpha\nstandby_server = beta",
        "active_server = beta\nstandby_server = alpha",
    );
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", None);
    t.at(100, peer_beat(1, 0));
    let acts = t.at(1000, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Down);
    let (_, all) = t.run_plan(1000, acts);
    let mut all = all;
    all.extend(t.cmd(1000, "apiok web", None));
    let line = move_line(&all).expect("a MOVE line");
    assert!(line.contains("detection 900ms"), "{line}");
    // Its stop is no takeover: no detection, though the peer is still down.
    let acts = t.cmd(2000, "service bringout web", None);
    let (_, all) = t.run_plan(2000, acts);
    let line = move_line(&all).expect("a MOVE line");
    assert!(
        line.starts_with("MOVE web out") && !line.contains("detection"),
        "{line}"
    );
}
