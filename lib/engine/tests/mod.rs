//! The engine, state by event, deterministic: no clock, no I/O.
use super::*;
use crate::config;
use crate::request::Status;
use crate::request::{ApiCall, Command};
use crate::state::SavedPhase;

pub(super) const BASE: &str = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 100ms\n";

pub(super) fn svc(extra: &str) -> String {
    format!("{BASE}\n[service web]\nactive_server = alpha\nstandby_server = beta\nstart = web.start\nstop = web.stop\nagent = web.agent\ncheck_interval = 1s\nstart_timeout = 10s\n{extra}")
}

pub(super) struct T {
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
        mut fails: impl FnMut(Step) -> bool,
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
pub(super) fn peer_beat(seq: u64, heard: u64) -> Input {
    beat_of_beta("lan", seq, (1, 0), heard)
}

/// A beat of beta (boot 3, no services) over `link` that hears us, running configuration
/// (generation, digest), and which of our boots it heard.
pub(super) fn beat_of_beta(link: &str, seq: u64, config: (u64, u32), heard: u64) -> Input {
    let payload = crate::frame::Message::Beat(crate::frame::Beat {
        sender: "beta".into(),
        generation: config.0,
        digest: config.1,
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
        link: link.into(),
        boot: 3,
        seq,
        payload,
    }
}

/// The body of the first reply among `acts`.
pub(super) fn reply_body(acts: &[Action]) -> String {
    acts.iter()
        .find_map(|a| match a {
            Action::Reply { reply, .. } => Some(reply.body.clone()),
            _ => None,
        })
        .expect("a reply")
}

pub(super) fn replies(acts: &[Action]) -> Vec<(String, Status, Millis)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Reply { to, reply, at } => Some((to.clone(), reply.status.clone(), *at)),
            _ => None,
        })
        .collect()
}

pub(super) fn ok(to: &str, at: Millis) -> (String, Status, Millis) {
    (to.into(), Status::Ok, at)
}

/// Brings web in at t=0 and starts it after the grace period.
pub(super) fn running(extra: &str) -> T {
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

mod admin;
mod agents;
mod alerts;
mod both_claim;
mod configuration;
mod disk_link;
mod disks;
mod left_running;
mod lifecycle;
mod metrics;
mod peer;
mod relays;
mod two_nodes;
