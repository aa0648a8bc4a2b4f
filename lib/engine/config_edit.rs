//! Configuration changes: create and remove (which need the peer), writing the file, reloads.

use super::agreement::Layout;
use super::interface::{Action, ReplyTo};
use super::{link_view, Engine, PeerStatus, Phase};
use crate::clock::Millis;
use crate::config;
use crate::config::Config;
use crate::log::Level;
use crate::request::Reply;
use std::collections::VecDeque;
use std::sync::Arc;
/// How long a change waits for the one before it to reach the peer.
const EDIT_WAIT: Millis = 10_000;

fn why_busy() -> String {
    "another configuration change is still reaching the peer; try again".into()
}

#[derive(Clone)]
pub(super) enum Edit {
    Create(&'static str, String, Vec<(String, String)>),
    Remove(&'static str, String),
}

/// A configuration change on its way to the disk.
#[derive(Clone)]
pub(super) struct PendingWrite {
    pub config: Config,
    pub text: String,
    pub reply: Option<ReplyTo>,
    pub what: String,
    pub generation: u64,
}

/// An edit waiting its turn: who asked, the edit, until when it may wait, and why it waits.
type Queued = (Option<ReplyTo>, Edit, Millis, String);

/// The configuration changes of this node: one written at a time, the rest waiting.
#[derive(Clone, Default)]
pub(super) struct Edits {
    /// The change being written (ours, or the peer's newer configuration taken).
    pub write: Option<PendingWrite>,
    /// Reloads that answer once the write is done.
    pub reloads: Vec<ReplyTo>,
    queue: VecDeque<Queued>,
    /// An edit taken from the queue is being tried (it may not queue again behind others).
    retrying: bool,
}

/// What becomes of an edit that was asked for (`Edits::admit`).
pub(super) enum Admit {
    /// Written now.
    Write(Option<ReplyTo>),
    /// Refused at once: waiting would not help.
    Refuse(Option<ReplyTo>, String),
    /// It waits its turn.
    Queued,
}

/// The first waiting edit's turn (`Edits::turn`).
pub(super) enum Turn {
    /// It can go now.
    Go(Option<ReplyTo>, Edit),
    /// Its wait is over, or waiting would not help: refused.
    GiveUp(Option<ReplyTo>, String),
    /// Not yet.
    Wait,
}

impl Edits {
    /// When the first waiting edit gives up.
    pub(super) fn queue_deadline(&self) -> Option<Millis> {
        self.queue.front().map(|q| q.2)
    }

    pub(super) fn waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    /// An edit that checked out, and why it cannot be written now if it cannot (`blocked`:
    /// the reason and whether it is worth waiting for). One that finds others waiting joins
    /// the end of the queue, unless it is the queue's own being retried.
    pub(super) fn admit(
        &mut self,
        reply: Option<ReplyTo>,
        edit: Edit,
        blocked: Option<(String, bool)>,
        now: Millis,
    ) -> Admit {
        match blocked {
            Some((why, false)) => Admit::Refuse(reply, why),
            None if self.queue.is_empty() || self.retrying => Admit::Write(reply),
            blocked => {
                let why = blocked.map_or_else(why_busy, |b| b.0);
                self.queue.push_back((reply, edit, now + EDIT_WAIT, why));
                Admit::Queued
            }
        }
    }

    /// The first waiting edit, given why edits cannot be written now (if they cannot).
    pub(super) fn turn(&mut self, blocked: Option<(String, bool)>, now: Millis) -> Turn {
        let Some(&(_, _, until, _)) = self.queue.front() else {
            return Turn::Wait;
        };
        match blocked {
            None => match self.queue.pop_front() {
                Some((reply, edit, _, _)) => Turn::Go(reply, edit),
                None => Turn::Wait,
            },
            Some((why, wait)) if !wait || now >= until => match self.queue.pop_front() {
                Some((reply, _, _, _)) => Turn::GiveUp(reply, why),
                None => Turn::Wait,
            },
            Some(_) => Turn::Wait,
        }
    }

    /// The queue's own edit is being tried: it does not queue again behind others.
    pub(super) fn set_retrying(&mut self, on: bool) {
        self.retrying = on;
    }
}

impl Engine {
    /// A create or remove: checked at once (a bad key or value is said even with the peer
    /// down), then written when the peer can follow; while it only needs a moment (the last
    /// change still syncing), the change waits its turn instead of being refused.
    pub(super) fn edit_config(&mut self, reply: Option<ReplyTo>, edit: Edit) {
        let (text, what, cfg) = match self.prepare_edit(&edit) {
            Ok(x) => x,
            Err(e) => return self.reply(reply, Reply::err(e)),
        };
        let blocked = self.edit_blocked();
        match self.edits.admit(reply, edit, blocked, self.now) {
            Admit::Refuse(reply, why) => self.reply(reply, Reply::err(why)),
            Admit::Write(reply) => self.start_write(reply, text, what, cfg),
            Admit::Queued => {}
        }
    }

    /// Why an edit cannot be written now: (reason, worth waiting for).
    fn edit_blocked(&self) -> Option<(String, bool)> {
        // A node alone, before its first link, has nothing to keep in step with.
        if self.config.links.is_empty() && self.edits.write.is_none() {
            return None;
        }
        let peer = self.peer_name().to_string();
        if self.peer_status() != PeerStatus::Up {
            return Some((format!("peer {peer} is not reachable: creating or removing a service or link needs both nodes, so that they keep one configuration"), false));
        }
        if self.edits.write.is_some() {
            return Some((why_busy(), true));
        }
        if !self.peer_in_sync() {
            return Some((format!("the configuration differs from {peer}'s (see haadm status); wait for it to be synchronised"), true));
        }
        if !self.peer.view.as_ref().is_some_and(|p| p.hears_me) {
            return Some((format!("{peer} does not hear this node (a one-way link?): configuration changes need both nodes to hear each other"), true));
        }
        None
    }

    /// Queued changes, in order, as soon as they can go (or refused when waiting is over).
    pub(super) fn retry_edits(&mut self) {
        while self.edits.waiting() {
            let blocked = self.edit_blocked();
            match self.edits.turn(blocked, self.now) {
                Turn::Go(reply, edit) => {
                    self.edits.set_retrying(true);
                    self.edit_config(reply, edit);
                    self.edits.set_retrying(false);
                    // One write at a time: the next waits for this one to be synced.
                    if self.edits.write.is_some() {
                        return;
                    }
                }
                Turn::GiveUp(reply, why) => self.reply(reply, Reply::err(why)),
                Turn::Wait => return,
            }
        }
    }

    /// The new text, what it does, and the parsed result, or why it is refused.
    fn prepare_edit(&self, edit: &Edit) -> Result<(String, String, Config), String> {
        let (text, what) = match edit {
            Edit::Create(kind, name, kvs) => {
                let exists = if *kind == "service" {
                    self.config.service(name).is_some()
                } else {
                    self.config.link(name).is_some()
                };
                if exists {
                    return Err(format!("{kind} '{name}' already exists"));
                }
                (
                    config::add_section(&self.config_text, kind, name, kvs),
                    format!("{kind} {name} created"),
                )
            }
            Edit::Remove(kind, name) => {
                if *kind == "service" {
                    match self.services.get(name) {
                        None => return Err(format!("no service named '{name}'")),
                        Some(s) if s.intent.protected || s.phase != Phase::Stopped => {
                            return Err(format!(
                                "service {name} is in protection ({}); bring it out first",
                                self.state_word(name)
                            ))
                        }
                        _ => {}
                    }
                }
                match config::remove_section(&self.config_text, kind, name) {
                    Some(t) => (t, format!("{kind} {name} removed")),
                    None => return Err(format!("no {kind} named '{name}'")),
                }
            }
        };
        let cfg = config::parse("sureha.conf", &text).map_err(|d| {
            format!(
                "refused, the result would be invalid: {}",
                d.to_string().replace('\n', "; ")
            )
        })?;
        self.acceptable(&cfg).map_err(|e| format!("refused: {e}"))?;
        if let Edit::Create("service", name, _) = edit {
            self.nics_exist(&cfg, name)?;
        }
        Ok((text, what, cfg))
    }

    /// The NICs a new service names exist on their servers (as far as this node knows them).
    fn nics_exist(&self, cfg: &Config, name: &str) -> Result<(), String> {
        let Some(s) = cfg.service(name) else {
            return Ok(());
        };
        for node in [&s.active_server, &s.standby_server] {
            let known: Vec<&str> = if *node == self.node {
                self.nics.iter().map(|n| n.name.as_str()).collect()
            } else {
                self.peer
                    .view
                    .as_ref()
                    .map(|p| p.nics.iter().map(|n| n.name.as_str()).collect())
                    .unwrap_or_default()
            };
            if known.is_empty() {
                continue;
            }
            if let Some(missing) = s
                .nics_on(node)
                .iter()
                .find(|n| !known.contains(&n.as_str()))
            {
                return Err(format!(
                    "refused: NIC {missing} does not exist on {node} (its NICs: {})",
                    known.join(" ")
                ));
            }
        }
        Ok(())
    }

    fn start_write(&mut self, reply: Option<ReplyTo>, text: String, what: String, cfg: Config) {
        self.out.push(Action::WriteConfig {
            expected: self.config_text.clone(),
            text: text.clone(),
        });
        // A node alone (no link yet) has nothing to be newer than: see `config_sync`.
        let generation = if self.config.links.is_empty() {
            self.generation
        } else {
            self.generation + 1
        };
        self.edits.write = Some(PendingWrite {
            config: cfg,
            text,
            reply,
            what,
            generation,
        });
    }

    pub(super) fn config_written(&mut self, r: Result<(), String>) {
        let Some(w) = self.edits.write.take() else {
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
            if cfg.service(name).is_none() && (s.intent.protected || s.phase != Phase::Stopped) {
                return Err(format!(
                    "service {name} is in protection ({}); bring it out before removing it",
                    self.state_word(name)
                ));
            }
        }
        Ok(())
    }

    pub(super) fn reload(&mut self, r: Result<(Config, String), String>) {
        let waiters = std::mem::take(&mut self.edits.reloads);
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
        self.layout = Arc::new(Layout::of(&cfg));
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
        let fresh = link_view::link_views(&self.config, self.now);
        let old = std::mem::take(&mut self.peer.links);
        self.peer.links = fresh
            .into_iter()
            .map(|(n, v)| {
                let kept = old.get(&n).map(|o| link_view::LinkView {
                    interval: v.interval,
                    dead_after: v.dead_after,
                    late_after: v.late_after,
                    relays: v.relays,
                    priority: v.priority,
                    ..o.clone()
                });
                (n, kept.unwrap_or(v))
            })
            .collect();
        self.reread_peer_beat();
    }
}

#[cfg(test)]
mod tests {
    use super::{Admit, Edit, Edits, Turn, EDIT_WAIT};
    use crate::engine::interface::ReplyTo;

    fn asked(n: u32) -> (Option<ReplyTo>, Edit) {
        (
            Some(format!("r{n}")),
            Edit::Remove("service", format!("s{n}")),
        )
    }

    fn busy() -> Option<(String, bool)> {
        Some(("the last change is syncing".into(), true))
    }

    #[test]
    fn an_edit_is_written_at_once_refused_at_once_or_queued_behind_the_others() {
        let mut e = Edits::default();
        let (r, x) = asked(1);
        assert!(matches!(e.admit(r, x, None, 0), Admit::Write(Some(_))));
        let (r, x) = asked(2);
        let down = Some(("peer is down".to_string(), false));
        assert!(matches!(e.admit(r, x, down, 0), Admit::Refuse(_, why) if why == "peer is down"));
        assert!(!e.waiting());
        let (r, x) = asked(3);
        assert!(matches!(e.admit(r, x, busy(), 100), Admit::Queued));
        assert_eq!(e.queue_deadline(), Some(100 + EDIT_WAIT));
        // Free now, but one waits: the newcomer goes behind it.
        let (r, x) = asked(4);
        assert!(matches!(e.admit(r, x, None, 200), Admit::Queued));
        assert_eq!(
            e.queue_deadline(),
            Some(100 + EDIT_WAIT),
            "the first one's deadline"
        );
        // The queue's own edit, retried, is written.
        e.set_retrying(true);
        let (r, x) = asked(3);
        assert!(matches!(e.admit(r, x, None, 300), Admit::Write(_)));
    }

    #[test]
    fn waiting_edits_go_in_order_and_give_up_when_their_wait_is_over_or_pointless() {
        let mut e = Edits::default();
        assert!(matches!(e.turn(None, 0), Turn::Wait), "nothing waits");
        for n in 1..=3 {
            let (r, x) = asked(n);
            e.admit(r, x, busy(), 0);
        }
        assert!(matches!(e.turn(busy(), EDIT_WAIT - 1), Turn::Wait));
        assert!(
            matches!(e.turn(None, 10), Turn::Go(Some(r), Edit::Remove(_, n)) if r == "r1" && n == "s1")
        );
        assert!(matches!(e.turn(busy(), EDIT_WAIT), Turn::GiveUp(Some(r), _) if r == "r2"));
        let down = Some(("peer is down".to_string(), false));
        assert!(
            matches!(e.turn(down, 0), Turn::GiveUp(Some(r), why) if r == "r3" && why == "peer is down")
        );
        assert!(!e.waiting());
    }
}
