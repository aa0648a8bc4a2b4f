//! Configuration changes: create and remove (which need the peer), writing the file, reloads.

use super::*;

pub(super) enum Edit {
    Create(&'static str, String, Vec<(String, String)>),
    Remove(&'static str, String),
}

impl Engine {
    pub(super) fn edit_config(&mut self, reply: Option<ReplyTo>, edit: Edit) {
        if self.pending_write.is_some() {
            self.reply(
                reply,
                Reply::err("another configuration change is in progress; try again"),
            );
            return;
        }
        let peer = self.peer_name();
        if self.peer_status() != PeerStatus::Up {
            self.reply(reply, Reply::err(format!("peer {peer} is not reachable: creating or removing a service or link needs both nodes, so that they keep one configuration")));
            return;
        }
        if !self.peer_in_sync() {
            self.reply(reply, Reply::err(format!("the configuration differs from {peer}'s (see haadm status); wait for it to be synchronised")));
            return;
        }
        if !self.peer.as_ref().is_some_and(|p| p.hears_me) {
            self.reply(reply, Reply::err(format!("{peer} does not hear this node (a one-way link?): configuration changes need both nodes to hear each other")));
            return;
        }
        let (text, what) = match &edit {
            Edit::Create(kind, name, kvs) => {
                let exists = if *kind == "service" {
                    self.config.service(name).is_some()
                } else {
                    self.config.link(name).is_some()
                };
                if exists {
                    self.reply(reply, Reply::err(format!("{kind} '{name}' already exists")));
                    return;
                }
                (
                    config::add_section(&self.config_text, kind, name, kvs),
                    format!("{kind} {name} created"),
                )
            }
            Edit::Remove(kind, name) => {
                if *kind == "service" {
                    match self.services.get(name) {
                        None => {
                            self.reply(reply, Reply::err(format!("no service named '{name}'")));
                            return;
                        }
                        Some(s) if s.protected || s.phase != Phase::Stopped => {
                            self.reply(
                                reply,
                                Reply::err(format!(
                                    "service {name} is in protection ({}); bring it out first",
                                    self.state_word(name)
                                )),
                            );
                            return;
                        }
                        _ => {}
                    }
                }
                match config::remove_section(&self.config_text, kind, name) {
                    Some(t) => (t, format!("{kind} {name} removed")),
                    None => {
                        self.reply(reply, Reply::err(format!("no {kind} named '{name}'")));
                        return;
                    }
                }
            }
        };
        match config::parse("sureha.conf", &text) {
            Err(d) => self.reply(
                reply,
                Reply::err(format!(
                    "refused, the result would be invalid: {}",
                    d.to_string().replace('\n', "; ")
                )),
            ),
            Ok(cfg) => {
                if let Err(e) = self.acceptable(&cfg) {
                    self.reply(reply, Reply::err(format!("refused: {e}")));
                    return;
                }
                self.out.push(Action::WriteConfig {
                    expected: self.config_text.clone(),
                    text: text.clone(),
                });
                let generation = self.generation + 1;
                self.pending_write = Some(PendingWrite {
                    config: cfg,
                    text,
                    reply,
                    what,
                    generation,
                });
            }
        }
    }

    pub(super) fn config_written(&mut self, r: Result<(), String>) {
        let Some(w) = self.pending_write.take() else {
            return;
        };
        match r {
            Ok(()) => {
                self.apply_config(w.config, w.text);
                self.generation = w.generation;
                self.log(
                    Level::Info,
                    format!("configuration: {} (generation {})", w.what, w.generation),
                );
                self.reply(w.reply, Reply::ok(format!("{}\n", w.what)));
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    format!("configuration: {} not written: {e}", w.what),
                );
                self.reply(
                    w.reply,
                    Reply::err(format!("configuration not changed: {e}")),
                );
            }
        }
    }

    /// Whether a new configuration can replace the running one.
    pub(super) fn acceptable(&self, cfg: &Config) -> Result<(), String> {
        cfg.check_node(&self.node)?;
        for (name, s) in &self.services {
            if cfg.service(name).is_none() && (s.protected || s.phase != Phase::Stopped) {
                return Err(format!(
                    "service {name} is in protection ({}); bring it out before removing it",
                    self.state_word(name)
                ));
            }
        }
        Ok(())
    }

    pub(super) fn reload(&mut self, r: Result<(Config, String), String>) {
        let waiters = std::mem::take(&mut self.pending_reload);
        let outcome = r.and_then(|(cfg, text)| {
            self.acceptable(&cfg)?;
            Ok((cfg, text))
        });
        match outcome {
            Ok((cfg, text)) => {
                let changed = text != self.config_text;
                self.apply_config(cfg, text);
                let msg = if changed {
                    // A change by hand wins over the peer's copy, which follows.
                    self.generation += 1;
                    format!("configuration reloaded (generation {})", self.generation)
                } else {
                    "configuration reloaded (unchanged)".to_string()
                };
                self.log(Level::Info, msg.clone());
                for w in waiters {
                    self.reply(Some(w), Reply::ok(format!("{msg}\n")));
                }
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    format!("configuration not reloaded, keeping the running one: {e}"),
                );
                for w in waiters {
                    self.reply(
                        Some(w),
                        Reply::err(format!(
                            "configuration not reloaded, keeping the running one: {e}"
                        )),
                    );
                }
            }
        }
    }

    pub(super) fn apply_config(&mut self, cfg: Config, text: String) {
        self.digest = crate::frame::crc32(text.as_bytes());
        self.layout = Arc::new(agreement::Layout::of(&cfg));
        self.config = Arc::new(cfg);
        self.config_text = text;
        let names: Vec<String> = self
            .config
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        self.services.retain(|n, _| names.contains(n));
        for n in names {
            if !self.services.contains_key(&n) {
                let svc = self.fresh_svc(&n);
                self.services.insert(n, svc);
            }
        }
        let fresh = peer::link_views(&self.config, self.now);
        let old = std::mem::take(&mut self.links);
        self.links = fresh
            .into_iter()
            .map(|(n, v)| {
                let kept = old.get(&n).map(|o| peer::LinkView {
                    interval: v.interval,
                    dead_after: v.dead_after,
                    priority: v.priority,
                    ..o.clone()
                });
                (n, kept.unwrap_or(v))
            })
            .collect();
    }
}
