//! What administrators and agents ask: the agent API, commands and operations, who waits for which
//! reply, and leaving.

use super::config_edit::Edit;
use super::interface::{Action, ReplyTo};
use super::waiters::{Local, Remote, Seen, WaitFor, Waiter};
use super::{Engine, PeerStatus, Phase};
use crate::clock::human;
use crate::config;
use crate::log::Level;
use crate::request::{ApiCall, Command, Operation, Reply};
impl Engine {
    pub(super) fn api(
        &mut self,
        call: ApiCall,
        name: &str,
        reply: Option<ReplyTo>,
        caller: Option<u32>,
    ) {
        let now = self.now;
        if self.config.service(name).is_none() {
            self.reply(reply, Reply::err(format!("no service named '{name}'")));
            return;
        }
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let live = s.phase == Phase::Running && !s.busy();
        let Some(a) = s.agent.as_mut().filter(|a| live && !a.stopping) else {
            // Not running here, or being stopped: the agent is not wanted.
            self.reply(reply, Reply::stop());
            return;
        };
        // Only the agent hasvrd started (its process group) reports for the service: a
        // second caller must neither take the agent's paced replies nor vouch for its health.
        if !a.is(caller) {
            self.refused.api_refused += 1;
            let agent = a
                .pid
                .map_or_else(|| "not started yet".to_string(), |p| format!("pid {p}"));
            let from = caller.filter(|&c| c != 0).map_or_else(
                || "an unknown process".to_string(),
                |c| format!("process group {c}"),
            );
            let log_now = a.refused(now);
            let text = format!("service {name}: {} from {from} ignored: only the service's agent ({agent}) reports its health; use APICMD.x for commands", call.word());
            if log_now {
                self.log(Level::Warning, text.clone());
            }
            self.reply(reply, Reply::err(text));
            return;
        }
        match call {
            ApiCall::Open => {
                a.closed = false;
                a.last_ok = Some(now);
                self.reply(reply, Reply::ok(""));
            }
            ApiCall::Ok => {
                a.closed = false;
                self.agent_ok(name, reply);
                self.clock_agent_ok(name);
            }
            ApiCall::Close => {
                a.closed = true;
                self.log(
                    Level::Info,
                    format!("service {name}: agent called apiclose; monitoring stops"),
                );
                self.reply(reply, Reply::ok(""));
            }
            ApiCall::Err => {
                self.reply(reply, Reply::ok(""));
                self.failure(name, "agent reported an error (apierr)".into());
            }
        }
    }

    /// The service's own agent says it is well: the silence clock starts again, and the
    /// reply is paced (an agent calling in a tight loop is answered once a check_interval).
    pub(super) fn agent_ok(&mut self, name: &str, reply: Option<ReplyTo>) {
        let now = self.now;
        let interval = self.config.service(name).map_or(1000, |c| c.check_interval);
        let Some(a) = self.services.get_mut(name).and_then(|s| s.agent.as_mut()) else {
            return;
        };
        let at = a.ok(now, interval);
        if let Some(to) = reply {
            self.out.push(Action::Reply {
                to,
                reply: Reply::ok(""),
                at,
            });
        }
    }

    pub(super) fn command(&mut self, cmd: Command, reply: Option<ReplyTo>, caller: Option<u32>) {
        if self.leaving.asked()
            && cmd.changes_anything()
            && !matches!(cmd, Command::Api(..) | Command::Stop)
        {
            self.reply(reply, Reply::err("SureHA is stopping on this node"));
            return;
        }
        if let Some(why) = self.admin.locked_against(&cmd) {
            self.reply(reply, Reply::err(why));
            return;
        }
        match cmd {
            Command::Api(call, name) => self.api(call, &name, reply, caller),
            c @ (Command::Lock(..) | Command::Unlock(_) | Command::License(_)) => {
                self.admin_command(c, reply)
            }
            Command::AuthkeyRotate => self.rotate_key(reply),
            Command::Status => {
                let text = self.status_text();
                self.reply(reply, Reply::ok(text));
            }
            Command::Metrics => {
                let mut m = crate::metrics::Metrics::default();
                self.metrics(&mut m);
                self.reply(reply, Reply::ok(m.text()));
            }
            Command::Network => {
                let text = self.nic_lines(true);
                self.reply(reply, Reply::ok(text));
            }
            Command::ServiceState(name) => match self.services.contains_key(&name) {
                true => {
                    let w = self.state_word(&name);
                    self.reply(reply, Reply::ok(format!("{w}\n")));
                }
                false => self.reply(reply, Reply::err(format!("no service named '{name}'"))),
            },
            Command::Why(name) => {
                let r = match self.why(&name) {
                    Ok(text) => Reply::ok(text),
                    Err(e) => Reply::err(e),
                };
                self.reply(reply, r);
            }
            Command::ServiceReview(name) => match self.config.service(&name) {
                Some(s) => {
                    let mut text = format!("[service {name}]\n");
                    for (k, v) in &s.keys {
                        text.push_str(&format!("{k} = {v}\n"));
                    }
                    text.push_str(&format!("# state here: {}\n", self.state_word(&name)));
                    // Readiness and drift, as comments: the text stays a valid section.
                    for line in self.readiness_lines(Some(&name)).lines() {
                        text.push_str(&format!("# {line}\n"));
                    }
                    self.reply(reply, Reply::ok(text));
                }
                None => self.reply(reply, Reply::err(format!("no service named '{name}'"))),
            },
            Command::PrivnetReview(name) => match self.config.link(&name) {
                Some(l) => {
                    let mut text = format!("[privnet {name}]\n");
                    text.push_str(&format!("type = {}\npriority = {}\ninterval = {}\nmaxmiss = {}\nhost1 = {}\nhost2 = {}\n", l.type_name(), l.priority, human(l.interval), l.maxmiss, l.host1, l.host2));
                    match &l.kind {
                        config::LinkKind::Socket { ip1, ip2, port } => {
                            text.push_str(&format!("ip1 = {ip1}\nip2 = {ip2}\nport = {port}\n"))
                        }
                        config::LinkKind::Rs232 {
                            device1,
                            device2,
                            baudrate,
                        } => text.push_str(&format!(
                            "device1 = {device1}\ndevice2 = {device2}\nbaudrate = {baudrate}\n"
                        )),
                        config::LinkKind::Disk { device1, device2 } => {
                            text.push_str(&format!("device1 = {device1}\ndevice2 = {device2}\n"))
                        }
                    }
                    self.reply(reply, Reply::ok(text));
                }
                None => self.reply(reply, Reply::err(format!("no privnet named '{name}'"))),
            },
            Command::PrivnetState(name) => match self.config.link(&name) {
                Some(_) => {
                    let w = self.link_word(&name);
                    self.reply(reply, Reply::ok(format!("{w}\n")));
                }
                None => self.reply(reply, Reply::err(format!("no privnet named '{name}'"))),
            },
            Command::ServiceCreate(name, kvs) => {
                self.edit_config(reply, Edit::Create("service", name, kvs))
            }
            Command::PrivnetCreate(ty, name, mut kvs) => {
                kvs.retain(|(k, _)| k != "type");
                kvs.insert(0, ("type".into(), ty));
                self.edit_config(reply, Edit::Create("privnet", name, kvs))
            }
            Command::ServiceRemove(name) => self.edit_config(reply, Edit::Remove("service", name)),
            Command::PrivnetRemove(name) => self.edit_config(reply, Edit::Remove("privnet", name)),
            Command::Operate(op, name) => self.operate(op, &name, reply),
            Command::Stop => self.shutdown(true, reply),
            Command::Reload => {
                if let Some(r) = reply {
                    self.edits.reloads.push(r);
                }
                self.out.push(Action::ReadConfig);
            }
            Command::Dump => {
                for line in self.dump() {
                    self.log(Level::Info, line);
                }
                let text = self.dump().join("\n");
                self.reply(reply, Reply::ok(text));
            }
        }
    }

    pub(super) fn operate(&mut self, op: Operation, name: &str, reply: Option<ReplyTo>) {
        if !self.services.contains_key(name) {
            self.reply(reply, Reply::err(format!("no service named '{name}'")));
            return;
        }
        let peer = self.peer_name().to_string();
        let me = self.node.clone();
        let group = self.group_of(name);
        let with = if group.len() > 1 {
            format!(" (with its group: {})", group.join(" "))
        } else {
            String::new()
        };
        let running_here = self
            .services
            .get(name)
            .is_some_and(|s| s.phase != Phase::Stopped);
        let running_there = self
            .peer_svc(name)
            .is_some_and(|p| p.phase != Phase::Stopped);
        let error_here = group
            .iter()
            .any(|g| self.services.get(g).is_some_and(|s| s.error));
        let error_there = group
            .iter()
            .any(|g| self.peer_svc(g).is_some_and(|p| p.error));
        let protected = self.services.get(name).is_some_and(|s| s.intent.protected);
        let refuse = |e: &mut Engine, why: String| {
            e.reply(
                reply.clone(),
                Reply::err(format!("cannot {} service {name}: {why}", op.word())),
            )
        };
        match op {
            Operation::BringIn => {
                if protected && !error_here && !error_there && (running_here || running_there) {
                    let r = Reply::ok(format!(
                        "service {name} is already in protection and runs on {}\n",
                        if running_here { &me } else { &peer }
                    ));
                    self.reply(reply, r);
                    return;
                }
                self.bump(&group, |s| {
                    s.intent.protected = true;
                    s.intent.resets = s.intent.resets.wrapping_add(1);
                });
                for g in group.iter() {
                    if let Some(s) = self.services.get_mut(g) {
                        s.error = false;
                        s.failures.clear();
                        s.last_failure = None;
                    }
                }
                self.log(
                    Level::Info,
                    format!("service {name}: brought into protection by the administrator{with}"),
                );
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningSomewhere,
                    format!("service {name} brought in\n"),
                );
            }
            Operation::BringOut => {
                self.bump(&group, |s| s.intent.protected = false);
                for g in group.iter() {
                    if let Some(s) = self.services.get_mut(g) {
                        s.error = false;
                    }
                }
                self.log(
                    Level::Info,
                    format!("service {name}: brought out of protection by the administrator{with}"),
                );
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::StoppedEverywhere,
                    format!("service {name} brought out\n"),
                );
            }
            // The peer left its services running (QUIT): the administrator says this one
            // (and its group) is stopped there, or the node is gone. Only it starts here:
            // the peer's other services still run there, unwatched but running.
            Operation::TakeOver if self.peer_status() == PeerStatus::Frozen => {
                self.bump(&group, |s| {
                    s.intent.primary = me.clone();
                    s.intent.runner = me.clone();
                });
                self.released.extend(group.iter().cloned());
                self.log(Level::Warning, format!("service {name}: take-over at the administrator's request while {peer} had left its services running: it{with} starts here; {peer}'s other services stay where they run until its SureHA is back"));
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningHere,
                    format!("service {name} taken over\n"),
                );
            }
            Operation::FailOver | Operation::TakeOver if self.peer_status() != PeerStatus::Up => {
                refuse(self, format!("peer {peer} is not reachable"));
            }
            Operation::FailOver | Operation::TakeOver if !self.peer_in_sync() => {
                refuse(
                    self,
                    format!(
                        "the configuration differs from {peer}'s; wait for it to be synchronised"
                    ),
                );
            }
            Operation::FailOver if !running_here => {
                refuse(
                    self,
                    format!(
                        "it does not run here ({}); fail it over on the node that runs it",
                        self.state_word(name)
                    ),
                );
            }
            Operation::FailOver if error_there => refuse(
                self,
                format!("it is in ERROR on {peer}; bring it in again first"),
            ),
            Operation::FailOver => {
                self.bump(&group, |s| {
                    s.intent.primary = peer.clone();
                    s.intent.runner = peer.clone();
                });
                self.log(Level::Info, format!("service {name}: failing over to {peer} at the administrator's request{with}"));
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningOnPeer,
                    format!("service {name} now runs on {peer}\n"),
                );
            }
            Operation::TakeOver if !protected => {
                refuse(self, "it is out of protection; bring it in first".into())
            }
            Operation::TakeOver if error_here => {
                refuse(self, "it is in ERROR here; bring it in again first".into())
            }
            Operation::TakeOver if running_here => {
                self.reply(
                    reply,
                    Reply::ok(format!("service {name} already runs here\n")),
                );
            }
            Operation::TakeOver => {
                self.bump(&group, |s| {
                    s.intent.primary = me.clone();
                    s.intent.runner = me.clone();
                });
                self.log(Level::Info, format!("service {name}: taking it over from {peer} at the administrator's request{with}"));
                self.wait(
                    reply,
                    Some(name),
                    WaitFor::RunningHere,
                    format!("service {name} now runs here\n"),
                );
            }
        }
    }

    pub(super) fn wait(
        &mut self,
        reply: Option<ReplyTo>,
        service: Option<&str>,
        until: WaitFor,
        done_text: String,
    ) {
        let Some(to) = reply else { return };
        let limit = config::waiting_limit(service.and_then(|n| self.config.service(n)));
        self.waiters.add(Waiter {
            service: service.map(str::to_string),
            to,
            until,
            done_text,
            deadline: self.now + limit,
        });
    }

    pub(super) fn settle_waiters(&mut self) {
        // Out while the services are looked at: the look borrows the whole engine.
        let mut waiters = std::mem::take(&mut self.waiters);
        let peer = self.peer_name();
        let seen = |name: &str| Seen {
            here: self.services.get(name).map(|s| Local {
                phase: s.phase,
                busy: s.busy(),
                error: s.error,
                protected: s.intent.protected,
                last_failure: s.last_failure.as_deref(),
            }),
            peer: self.peer_svc(name).map(|p| Remote {
                phase: p.phase,
                error: p.error,
            }),
            peer_status: self.peer_status(),
            word: self.state_word(name),
        };
        let done = waiters.settle(self.now, peer, seen);
        self.waiters = waiters;
        for (to, r) in done {
            self.reply(Some(to), r);
        }
    }

    pub(super) fn shutdown(&mut self, touch: bool, reply: Option<ReplyTo>) {
        if !self.leaving.asked() && touch {
            // An orderly stop is a planned move: the peer takes every service over as soon
            // as it is stopped here, instead of noticing our silence much later.
            self.hand_over_all();
        }
        if self.leaving.ask(touch) {
            let what = if touch {
                "stopping the services running here, then leaving"
            } else {
                "leaving without touching services (they keep running and are adopted at the next start)"
            };
            self.log(Level::Info, format!("SureHA stops on this node: {what}"));
        }
        self.wait(
            reply,
            None,
            WaitFor::Exit,
            "SureHA stopped on this node\n".into(),
        );
    }

    /// Leaving with QUIT, the services as they are: not in the middle of a step, whose
    /// process (a mount, a script) would go on after hasvrd and race the next one's clean-up
    /// of it. Only from then on do the beats say the services stay: a node that crashed or
    /// fenced itself meanwhile must not leave its peer waiting for it. (Before the beats of
    /// the pass are built, so the word goes out with it.)
    pub(super) fn begin_keeping(&mut self) {
        if self.leaving.quitting() {
            let busy = self.services.values().any(|s| s.busy());
            self.leaving.keep_from(self.now, busy);
        }
    }

    pub(super) fn maybe_exit(&mut self) {
        if !self.leaving.asked() {
            return;
        }
        let all_stopped = !self
            .services
            .values()
            .any(|s| s.phase != Phase::Stopped || s.busy());
        // Asks the disk only while the services stay (QUIT); it may refuse the QUIT.
        let recorded = self.keeping_recorded();
        if !self.leaving.may_exit(all_stopped, recorded) {
            return;
        }
        for (to, r) in self.waiters.exiting() {
            self.reply(Some(to), r);
        }
        self.out.push(Action::Exit);
        self.leaving.exited = true;
    }
}
