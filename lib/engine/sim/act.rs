//! What the simulated hosts do with each action of an engine: run a step (and say when it
//! ends, as its program would), send a frame over the paths, write files, fence, exit.

use super::{Sim, NAMES};
use crate::config;
use crate::engine::{Action, Input, Step};
impl Sim {
    pub(super) fn act(&mut self, n: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Run {
                task,
                service,
                step,
                ..
            } => {
                self.order_check(n, &service, step);
                self.hosts[n].steps.push((service.clone(), step));
                self.trace
                    .push(format!("{now} {} {service} {step:?}", NAMES[n]));
                let (time, result) = match &mut self.rng {
                    Some(r) => {
                        let t = if r.chance(100) {
                            200 + r.below(800)
                        } else {
                            1 + r.below(50)
                        };
                        let fail = r.chance(self.step_failures);
                        (
                            t,
                            if fail {
                                Err("exit status 1".to_string())
                            } else {
                                Ok(())
                            },
                        )
                    }
                    None => (self.step_time, Ok(())),
                };
                let result = self.step_fault(n, &service, step).map_or(result, Err);
                if !self.disk_step(n, task, &service, step, now + time, &result) {
                    self.hosts[n].tasks.push((now + time, task, result));
                }
            }
            Action::StartAgent { service, agent } => {
                self.order_check(n, &service, Step::StartAgent);
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
                self.order_check(n, &service, Step::StopAgent);
                self.hosts[n].steps.push((service.clone(), Step::StopAgent));
                self.hosts[n].agents.remove(&service);
                self.hosts[n].stopping.push((now + 1, service, agent));
            }
            Action::WatchAgent { service, agent, .. } => {
                // Adopted: the agent that ran before this hasvrd goes on calling.
                if let Some(a) = self.hosts[n].agents.get_mut(&service) {
                    a.0 = agent;
                }
            }
            Action::WriteAdmin(text) => self.hosts[n].admin_file = text,
            Action::Reply { to, reply, .. } => self.hosts[n].replies.push((to, reply)),
            Action::Log { text, .. } => {
                self.trace.push(format!("{now} {} log {text}", NAMES[n]));
                self.silence_check(n, &text);
                self.hosts[n].log.push(text);
            }
            // What the engine sends must fit a frame: the executor could not seal it.
            Action::Send { payload, .. }
            | Action::SendPublic { payload, .. }
            | Action::Beat { payload }
                if payload.len() > crate::frame::MAX_PAYLOAD =>
            {
                self.fail(format!(
                    "a message of {} bytes does not fit a frame",
                    payload.len()
                ))
            }
            Action::Send { link, payload } => {
                let disk = self.disk.link.as_ref().map(|d| d.0.clone());
                let to_disk = disk
                    .as_deref()
                    .is_some_and(|d| link.as_deref().is_none_or(|l| l == d));
                if link.is_none() || link != disk {
                    self.send(n, 0, payload.clone());
                    self.after_other_frame(n);
                }
                if to_disk {
                    self.disk_send(n, payload);
                }
            }
            Action::Fence { reason } => {
                // The fence program of the tests: the node goes down at once.
                self.trace
                    .push(format!("{now} {} FENCE {reason}", NAMES[n]));
                self.crash(n);
            }
            Action::SendPublic { payload, .. } => {
                self.hosts[n].public_sent.push(self.now);
                self.send(n, 1, payload)
            }
            Action::Beat { payload } => {
                if self.disk.link.is_some() {
                    self.disk_send(n, payload.clone());
                }
                self.give_beat(n, payload);
            }
            Action::WriteConfig { text, .. } => {
                self.text = text;
                self.config = None;
                self.feed(n, Input::ConfigWritten(Ok(())));
            }
            Action::ReadConfig => {
                let text = self.text.clone();
                let r = config::parse("sim", &text)
                    .map(|c| (c, text))
                    .map_err(|d| d.to_string());
                self.feed(n, Input::Reload(r));
            }
            Action::Key(files) => self.key_files(n, files),
            Action::Exit => self.daemon_exits(n),
            Action::Alert {
                event,
                service,
                text,
            } => self.hosts[n]
                .alerts
                .push(format!("{} {service}: {text}", event.word())),
            _ => {}
        }
    }
}
