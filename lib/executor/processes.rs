//! Children and their steps: scripts, havol runs, agents (ours and adopted ones), and
//! reaping them.

use super::*;

impl Hasvrd {
    pub(super) fn reap(&mut self) {
        for ended in self.children.reap() {
            match ended.tag {
                Tag::Task(task, service, step) => {
                    let name = match step {
                        Step::StartScript => Some("start"),
                        Step::StopScript => Some("stop"),
                        _ => None,
                    };
                    let out = self.home.output(&service, name.unwrap_or("step"));
                    for line in child::read_output(&out, 16 * 1024)
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                    {
                        self.log.info(&format!(
                            "service {service}: {} says: {line}",
                            name.unwrap_or("step")
                        ));
                    }
                    let result = match (ended.timed_out, ended.status) {
                        (true, _) => {
                            Err("did not finish in time; its process group was killed".to_string())
                        }
                        (false, sys::ExitStatus::Code(0)) => Ok(()),
                        (false, st) => Err(st.to_string()),
                    };
                    self.feed(Input::TaskDone { task, result });
                }
                Tag::Agent(service, agent) => {
                    self.feed(Input::AgentExited {
                        service,
                        agent,
                        how: ended.status.to_string(),
                    });
                }
                Tag::Partner => {
                    self.partner.reaped(ended.pid, ended.status);
                }
                Tag::Link(name) => self.link_died(&name, ended.pid, ended.status.to_string()),
                Tag::Alert(run, out) => self.alert_ended(run, out, ended.status, ended.timed_out),
            }
        }
    }

    /// Children that do not die even when killed (stuck on a hung device) are reported as
    /// failed, so the engine can go on (and fence, if a volume is what hangs).
    pub(super) fn abandon_unkillable(&mut self, now: Millis) {
        for (pid, tag) in self.children.abandon_unkillable(now) {
            let how = format!(
                "pid {pid} was killed but does not die: it is stuck in the kernel (a hung device?)"
            );
            self.log.error(&how);
            match tag {
                Tag::Task(task, _, _) => self.feed(Input::TaskDone {
                    task,
                    result: Err(how),
                }),
                Tag::Agent(service, agent) => self.feed(Input::AgentExited {
                    service,
                    agent,
                    how,
                }),
                Tag::Partner => {}
                Tag::Link(name) => self.link_died(&name, pid, how),
                Tag::Alert(run, out) => {
                    self.alert_ended(run, out, sys::ExitStatus::Signal(9), true)
                }
            }
        }
    }

    pub(super) fn watch_adopted(&mut self, now: Millis) {
        let mut gone = Vec::new();
        self.watched.retain_mut(|w| {
            if !files::process_alive(w.pid, w.token) {
                gone.push((w.service.clone(), w.agent));
                return false;
            }
            if let Some(sent) = w.term_sent {
                if now >= sent + child::KILL_GRACE {
                    let _ = sys::kill_group(w.pid, sys::SIGKILL);
                    let _ = sys::kill(w.pid, sys::SIGKILL);
                }
            }
            true
        });
        for (service, agent) in gone {
            self.feed(Input::AgentExited {
                service,
                agent,
                how: "process gone".into(),
            });
        }
    }

    pub(super) fn service_env(&self, service: &str) -> Vec<(String, String)> {
        let mut env = child::base_env(&self.home);
        if let Some(s) = self.engine.config().service(service) {
            env.extend(s.environment());
        }
        env
    }

    pub(super) fn run_step(
        &mut self,
        now: Millis,
        task: TaskId,
        service: String,
        step: Step,
        timeout: Millis,
        nic: Option<String>,
    ) {
        let Some(cfg) = self.engine.config().service(&service).cloned() else {
            return;
        };
        let node = self.home.node.clone();
        let mut spec = match step {
            Step::StartScript => {
                let mut s = Spec::new(self.home.program(&cfg.start));
                s.output = Some(self.home.output(&service, "start"));
                s
            }
            Step::StopScript => {
                let mut s = Spec::new(self.home.program(&cfg.stop));
                s.output = Some(self.home.output(&service, "stop"));
                s
            }
            Step::AddIps | Step::DelIps => {
                return self.change_addresses(now, task, service, step == Step::AddIps, nic);
            }
            Step::Mount(i) | Step::Umount(i) => {
                let v = &cfg.volumes[i.min(cfg.volumes.len().saturating_sub(1))];
                let dev = cfg.device_on(v, &node);
                let mut s = Spec::new(self.home.bin().join("havol"));
                s.args = vec![
                    if matches!(step, Step::Mount(_)) {
                        "mount"
                    } else {
                        "umount"
                    }
                    .into(),
                    dev.to_string(),
                    v.mount_point.clone(),
                ];
                s.output = Some(self.home.output(&service, "step"));
                s
            }
            Step::StartAgent | Step::StopAgent => return,
        };
        if matches!(step, Step::StartScript | Step::StopScript) {
            spec.args = vec![service.clone()];
        }
        spec.env = self.service_env(&service);
        self.log
            .info(&format!("service {service}: running {}", spec.describe()));
        match child::spawn(&spec) {
            Ok(pid) => self
                .children
                .add(pid, Tag::Task(task, service, step), Some(now + timeout)),
            Err(e) => self.inputs.push_back(Input::TaskDone {
                task,
                result: Err(format!("cannot run {}: {e}", spec.program.display())),
            }),
        }
    }

    pub(super) fn start_agent(&mut self, service: String, agent: AgentId) {
        let Some(cfg) = self.engine.config().service(&service).cloned() else {
            return;
        };
        let Some(program) = &cfg.agent else { return };
        let mut spec = Spec::new(self.home.program(program));
        spec.args = vec![service.clone(), cfg.agent_interval_secs().to_string()];
        // The service's keys too (HA_*): the OCF and LSB adapters find their agent there.
        spec.env = self.service_env(&service);
        spec.output = Some(self.home.output(&service, "agent"));
        match child::spawn(&spec) {
            Ok(pid) => {
                self.log.info(&format!(
                    "service {service}: agent {} started (pid {pid})",
                    spec.describe()
                ));
                self.children
                    .add(pid, Tag::Agent(service.clone(), agent), None);
                let token = files::process_token(pid);
                self.inputs.push_back(Input::AgentSpawned {
                    service,
                    agent,
                    pid,
                    token,
                });
            }
            Err(e) => self.inputs.push_back(Input::AgentExited {
                service,
                agent,
                how: format!("could not start {}: {e}", spec.program.display()),
            }),
        }
    }

    pub(super) fn stop_agent(&mut self, now: Millis, service: String, agent: AgentId) {
        if let Some(pid) = self.children.pid_of(&Tag::Agent(service.clone(), agent)) {
            self.children.stop(pid, now);
        } else if let Some(w) = self
            .watched
            .iter_mut()
            .find(|w| w.service == service && w.agent == agent)
        {
            let _ = sys::kill_group(w.pid, sys::SIGTERM);
            let _ = sys::kill(w.pid, sys::SIGTERM);
            w.term_sent = Some(now);
        } else {
            self.inputs.push_back(Input::AgentExited {
                service,
                agent,
                how: "not running".into(),
            });
        }
    }
}
