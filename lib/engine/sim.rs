//! Two engines on a simulated network with a virtual clock (test-only). Steps complete
//! after a configurable delay, agents report while their service is "healthy", frames are
//! delivered after a latency unless the network is cut. Deterministic: no clock, no threads.

use super::{Action, Engine, Input, Phase, Step};
use crate::clock::Millis;
use crate::config;
use crate::request::{parse_command, Reply};
use std::collections::BTreeMap;

pub const ALPHA: usize = 0;
pub const BETA: usize = 1;
pub const NAMES: [&str; 2] = ["alpha", "beta"];

/// What a node does besides its engine: running steps and agents.
#[derive(Default)]
struct Host {
    tasks: Vec<(Millis, u64, Result<(), String>)>,
    agents: BTreeMap<String, (u64, Millis)>,
    stopping: Vec<(Millis, String, u64)>,
    replies: Vec<(String, Reply)>,
    log: Vec<String>,
    steps: Vec<(String, Step)>,
    up: bool,
}

pub struct Sim {
    pub now: Millis,
    pub engines: Vec<Engine>,
    hosts: Vec<Host>,
    wire: Vec<(Millis, usize, String, u64, Vec<u8>)>,
    seq: [u64; 2],
    boot: [u64; 2],
    /// Links cut: frames are lost.
    pub cut: bool,
    pub latency: Millis,
    pub step_time: Millis,
    /// Services whose agent reports an error, per node.
    pub sick: Vec<(usize, String)>,
    pub text: String,
    pub trace: Vec<String>,
}

pub fn config_text(extra: &str) -> String {
    format!("[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 100ms\nmaxmiss = 3\n{extra}")
}

pub fn service(name: &str, extra: &str) -> String {
    format!("\n[service {name}]\nactive_server = alpha\nstandby_server = beta\nstart = s.start\nstop = s.stop\nagent = s.agent\ncheck_interval = 1s\nstart_timeout = 10s\n{extra}")
}

impl Sim {
    pub fn new(text: &str) -> Sim {
        let cfg = config::parse("sim", text).expect("valid configuration");
        let engines = NAMES
            .iter()
            .map(|n| Engine::new(n, cfg.clone(), text.to_string(), None, 0))
            .collect();
        let mut hosts: Vec<Host> = (0..2).map(|_| Host::default()).collect();
        for h in &mut hosts {
            h.up = true;
        }
        Sim {
            now: 0,
            engines,
            hosts,
            wire: Vec::new(),
            seq: [0; 2],
            boot: [1, 1],
            cut: false,
            latency: 1,
            step_time: 5,
            sick: Vec::new(),
            text: text.to_string(),
            trace: Vec::new(),
        }
    }

    fn feed(&mut self, n: usize, input: Input) {
        if !self.hosts[n].up {
            return;
        }
        let acts = self.engines[n].handle(self.now, input);
        for a in acts {
            self.act(n, a);
        }
    }

    fn act(&mut self, n: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Run {
                task,
                service,
                step,
                ..
            } => {
                self.hosts[n].steps.push((service.clone(), step));
                self.trace
                    .push(format!("{now} {} {service} {step:?}", NAMES[n]));
                self.hosts[n]
                    .tasks
                    .push((now + self.step_time, task, Ok(())));
            }
            Action::StartAgent { service, agent } => {
                self.hosts[n]
                    .steps
                    .push((service.clone(), Step::StartAgent));
                self.hosts[n].agents.insert(service.clone(), (agent, now));
                self.feed(
                    n,
                    Input::AgentSpawned {
                        service,
                        agent,
                        pid: 1000 + agent as u32,
                        token: 1,
                    },
                );
            }
            Action::StopAgent { service, agent } => {
                self.hosts[n].steps.push((service.clone(), Step::StopAgent));
                self.hosts[n].agents.remove(&service);
                self.hosts[n].stopping.push((now + 1, service, agent));
            }
            Action::Reply { to, reply, .. } => self.hosts[n].replies.push((to, reply)),
            Action::Log { text, .. } => {
                self.trace.push(format!("{now} {} log {text}", NAMES[n]));
                self.hosts[n].log.push(text);
            }
            Action::Send { payload, .. } => {
                self.seq[n] += 1;
                if !self.cut {
                    self.wire.push((
                        now + self.latency,
                        1 - n,
                        "lan".into(),
                        self.seq[n],
                        payload,
                    ));
                }
            }
            Action::WriteConfig { text, .. } => {
                self.text = text;
                self.feed(n, Input::ConfigWritten(Ok(())));
            }
            _ => {}
        }
    }

    /// Runs the world for `ms` milliseconds in 1 ms ticks.
    pub fn run(&mut self, ms: Millis) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 1;
            let now = self.now;
            let due: Vec<_> = self.wire.iter().filter(|w| w.0 <= now).cloned().collect();
            self.wire.retain(|w| w.0 > now);
            for (_, to, link, seq, payload) in due {
                let boot = self.boot[1 - to];
                self.feed(
                    to,
                    Input::Frame {
                        link,
                        boot,
                        seq,
                        payload,
                    },
                );
            }
            for n in 0..2 {
                let done: Vec<_> = self.hosts[n]
                    .tasks
                    .iter()
                    .filter(|t| t.0 <= now)
                    .cloned()
                    .collect();
                self.hosts[n].tasks.retain(|t| t.0 > now);
                for (_, task, result) in done {
                    self.feed(n, Input::TaskDone { task, result });
                }
                let exits: Vec<_> = self.hosts[n]
                    .stopping
                    .iter()
                    .filter(|t| t.0 <= now)
                    .cloned()
                    .collect();
                self.hosts[n].stopping.retain(|t| t.0 > now);
                for (_, service, agent) in exits {
                    self.feed(
                        n,
                        Input::AgentExited {
                            service,
                            agent,
                            how: "TERM".into(),
                        },
                    );
                }
                // Agents report every 500 ms.
                let agents: Vec<_> = self.hosts[n]
                    .agents
                    .iter()
                    .filter(|(_, (_, t))| (now - t).is_multiple_of(500))
                    .map(|(s, _)| s.clone())
                    .collect();
                for s in agents {
                    let call = if self.sick.contains(&(n, s.clone())) {
                        "apierr"
                    } else {
                        "apiok"
                    };
                    self.command(n, &format!("{call} {s}"), None);
                }
                self.feed(n, Input::Tick);
            }
            self.check();
        }
    }

    pub fn command(&mut self, n: usize, words: &str, reply: Option<&str>) {
        let w: Vec<String> = words.split(' ').map(str::to_string).collect();
        let cmd = parse_command(&w).expect("a valid command");
        self.feed(
            n,
            Input::Command {
                cmd,
                reply: reply.map(str::to_string),
            },
        );
    }

    /// The reply to `to` on node `n`, if it came.
    pub fn reply(&self, n: usize, to: &str) -> Option<Reply> {
        self.hosts[n]
            .replies
            .iter()
            .find(|(t, _)| t == to)
            .map(|(_, r)| r.clone())
    }

    pub fn word(&self, n: usize, svc: &str) -> &'static str {
        self.engines[n].state_word(svc)
    }

    pub fn running_on(&self, svc: &str) -> Vec<&'static str> {
        (0..2)
            .filter(|&n| self.hosts[n].up && self.engines[n].phase_of(svc) != Phase::Stopped)
            .map(|n| NAMES[n])
            .collect()
    }

    pub fn log(&self, n: usize) -> &[String] {
        &self.hosts[n].log
    }

    pub fn steps(&self, n: usize) -> &[(String, Step)] {
        &self.hosts[n].steps
    }

    /// Kills node `n` at once: its engine and everything it ran are gone.
    pub fn crash(&mut self, n: usize) {
        self.hosts[n] = Host::default();
        self.wire.retain(|w| w.1 != n);
    }

    /// Boots node `n` again with its saved state (after a reboot: nothing runs).
    pub fn boot(&mut self, n: usize) {
        let cfg = config::parse("sim", &self.text).expect("valid configuration");
        let saved = crate::state::parse(
            &crate::state::file_text("b", &self.engines[n].persisted().to_text()),
            "other-boot",
        )
        .ok();
        self.engines[n] = Engine::new(NAMES[n], cfg, self.text.clone(), saved, self.now);
        self.hosts[n] = Host {
            up: true,
            ..Host::default()
        };
        self.boot[n] += 1;
        self.seq[n] = 0;
    }

    /// Invariants after every tick.
    fn check(&self) {
        if self.cut {
            return;
        }
        for s in self.engines[0]
            .config()
            .services
            .iter()
            .map(|s| s.name.clone())
        {
            let on = self.running_on(&s);
            assert!(
                on.len() < 2,
                "t={}: service {s} runs on both nodes\n{}",
                self.now,
                self.trace.join("\n")
            );
        }
    }
}
