//! The engine's view of the other node: link liveness, the peer's state from its beats, the
//! cluster-wide intent both nodes agree on, and configuration sync.
//!
//! A link is up while frames arrive on it (silent for `interval × maxmiss`: down); the peer
//! is up while any link is. Every beat carries the sender's whole view, so a lost one loses
//! nothing; a beat goes out at every `interval` of each link and at once on any change.
//!
//! The intent of a service (protected, primary, epoch, resets) is changed by one node at a
//! time with a higher epoch; the higher epoch wins, and on a tie the intent of the node whose
//! name sorts first. A node starts a service only when both agree on the intent and the peer
//! reports it stopped (or the peer is down), which is what keeps a service from running twice.

use super::{Engine, PeerStatus, Phase, Svc};
use crate::clock::{human, Millis};
use crate::config::Config;
use crate::frame::{self, Beat, Message, ServiceRecord};
use crate::log::Level;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The services and their groups, computed once a configuration: every step walks them.
pub(super) struct Layout {
    /// Every service, in name order (the order of `Engine::services`).
    pub names: Vec<String>,
    /// Each service's group (itself alone when it has no `groupid`).
    pub groups: BTreeMap<String, Arc<[String]>>,
    /// Every group once, by its first member in name order.
    pub group_list: Vec<(String, Arc<[String]>)>,
}

impl Layout {
    pub fn of(config: &Config) -> Layout {
        let mut by_id: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for s in &config.services {
            if let Some(g) = &s.groupid {
                by_id.entry(g).or_default().push(s.name.clone());
            }
        }
        let shared: BTreeMap<&str, Arc<[String]>> =
            by_id.into_iter().map(|(g, v)| (g, Arc::from(v))).collect();
        let groups: BTreeMap<String, Arc<[String]>> = config
            .services
            .iter()
            .map(|s| {
                let group = match s.groupid.as_deref().and_then(|g| shared.get(g)) {
                    Some(g) => g.clone(),
                    None => Arc::from(vec![s.name.clone()]),
                };
                (s.name.clone(), group)
            })
            .collect();
        let names: Vec<String> = groups.keys().cloned().collect();
        let mut done: Vec<&str> = Vec::new();
        let mut group_list = Vec::new();
        for (name, group) in &groups {
            if done.contains(&name.as_str()) {
                continue;
            }
            done.extend(group.iter().map(String::as_str));
            group_list.push((name.clone(), group.clone()));
        }
        Layout {
            names,
            groups,
            group_list,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct LinkView {
    pub last_rx: Option<Millis>,
    pub next_beat: Millis,
    pub interval: Millis,
    pub dead_after: Millis,
    pub priority: u32,
    pub stats: String,
    pub was_up: bool,
    /// An RS-232 line: bulky messages go in pieces.
    pub serial: bool,
}

/// The size of a configuration piece on a serial line.
pub const CONFIG_PIECE: usize = 256;
/// Pieces of a configuration too big for one frame, over a fast link.
pub const CONFIG_PIECE_FAST: usize = 32 * 1024;

pub(super) fn link_views(config: &Config, now: Millis) -> BTreeMap<String, LinkView> {
    config
        .links
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                LinkView {
                    last_rx: None,
                    next_beat: now,
                    interval: l.interval,
                    dead_after: l.dead_after(),
                    priority: l.priority,
                    stats: String::new(),
                    was_up: false,
                    serial: l.type_name() == "rs232",
                },
            )
        })
        .collect()
}

/// One service as the peer reports it.
#[derive(Clone, Debug)]
pub(super) struct PeerSvc {
    pub word: u8,
    pub phase: Phase,
    pub protected: bool,
    pub error: bool,
    pub unable: bool,
    pub primary: String,
    pub runner: String,
    pub epoch: u32,
    pub resets: u16,
}

#[derive(Clone, Debug)]
pub(super) struct PeerView {
    pub boot: u64,
    pub seq: u64,
    pub generation: u64,
    pub digest: u32,
    /// By name; filled only while the peer's configuration digest equals ours.
    pub services: BTreeMap<String, PeerSvc>,
    pub nics: Vec<frame::NicRecord>,
    /// The peer hears us (its last beat said so).
    pub hears_me: bool,
    /// Its last beat said it was stopping on purpose.
    pub leaving: bool,
}

/// The pseudo-link name of the public network.
pub const PUBLIC: &str = "public";

fn phase_code(p: Phase) -> u8 {
    match p {
        Phase::Stopped => 0,
        Phase::Starting => 1,
        Phase::Running => 2,
        Phase::Stopping => 3,
    }
}

fn phase_of(c: u8) -> Phase {
    match c {
        1 => Phase::Starting,
        2 => Phase::Running,
        3 => Phase::Stopping,
        _ => Phase::Stopped,
    }
}

impl Engine {
    pub(super) fn link_up(&self, name: &str) -> bool {
        self.links.get(name).is_some_and(|l| {
            l.last_rx
                .is_some_and(|t| self.now.saturating_sub(t) < l.dead_after)
        })
    }

    pub(super) fn link_word(&self, name: &str) -> &'static str {
        if self.link_up(name) {
            "OK"
        } else {
            "ERR"
        }
    }

    pub fn peer_status(&self) -> PeerStatus {
        // Asked many times a step: the usual answer first, without lookups.
        let now = self.now;
        if self.links.values().any(|l| {
            l.last_rx
                .is_some_and(|t| now.saturating_sub(t) < l.dead_after)
        }) {
            return PeerStatus::Up;
        }
        let dead = self.links.values().map(|l| l.dead_after).max().unwrap_or(0);
        let never_heard_privately = self.links.values().all(|l| l.last_rx.is_none());
        let public_recent = self
            .public_rx
            .is_some_and(|t| self.now.saturating_sub(t) < dead);
        if public_recent && never_heard_privately && !self.public_settled() {
            // A starting peer's public beat outruns its link processes: wait for them.
            PeerStatus::Unknown
        } else if public_recent {
            PeerStatus::Partitioned
        } else if self.now < self.grace_until && never_heard_privately {
            PeerStatus::Unknown
        } else {
            PeerStatus::Down
        }
    }

    /// The public network has carried the peer's frames for longer than a private beat
    /// takes: silence on every private link then means a partition, not a peer starting.
    fn public_settled(&self) -> bool {
        let beat = self.links.values().map(|l| l.interval).max().unwrap_or(0);
        self.public_since
            .is_some_and(|t| self.now.saturating_sub(t) >= beat + 1000)
    }

    /// On an orderly stop: hands every service this node would run to the peer, as a
    /// FailOver does (the roles swap for good without switchback), when the peer can take it.
    pub(super) fn hand_over_all(&mut self) {
        if self.peer_status() != PeerStatus::Up || !self.peer_in_sync() {
            return;
        }
        let me = self.node.clone();
        let peer = self.peer_name();
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let mine = group.iter().any(|g| {
                self.services
                    .get(g)
                    .is_some_and(|s| s.protected && s.runner == me)
            });
            let peer_able = group
                .iter()
                .all(|g| self.peer_svc(g).is_some_and(|p| !p.error && !p.unable));
            if !mine || !peer_able {
                continue;
            }
            let switchback = self.config.service(name).is_some_and(|c| c.switchback);
            self.bump(group, |x| {
                x.runner = peer.clone();
                if !switchback {
                    x.primary = peer.clone();
                }
            });
            self.log(
                Level::Info,
                format!(
                    "service {name}: handed over to {peer}, as SureHA stops on this node{}",
                    if switchback {
                        " (it returns here with switchback)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }

    /// The first healthy NIC of the service's list on this node (unknown NICs count as
    /// healthy until the first report).
    pub(super) fn pick_nic(&self, name: &str) -> Option<String> {
        let cfg = self.config.service(name)?;
        cfg.nics_on(&self.node)
            .iter()
            .find(|n| {
                self.nics
                    .iter()
                    .find(|x| &x.name == *n)
                    .is_none_or(|x| x.ok)
            })
            .cloned()
    }

    /// Whether this node can hold the service's addresses (and so run it).
    pub(super) fn able_here(&self, name: &str) -> bool {
        self.config
            .service(name)
            .is_none_or(|c| c.active_ip.is_empty() || self.pick_nic(name).is_some())
    }

    pub(super) fn nics_changed(&mut self, nics: Vec<super::NicState>) {
        for n in &nics {
            let before = self.nics.iter().find(|x| x.name == n.name).map(|x| x.ok);
            match (before, n.ok) {
                (Some(true), false) | (None, false) => self.log(
                    Level::Error,
                    format!("NIC {}: ERR (no link or no carrier)", n.name),
                ),
                (Some(false), true) => self.log(Level::Info, format!("NIC {}: OK again", n.name)),
                _ => {}
            }
        }
        self.nics = nics;
        // A running service whose NIC failed moves its addresses to the next healthy one.
        let layout = Arc::clone(&self.layout);
        for name in &layout.names {
            let Some(s) = self.services.get(name) else {
                continue;
            };
            if s.phase != Phase::Running || s.busy() {
                continue;
            }
            let Some(held) = s.vip_nic.clone() else {
                continue;
            };
            if self.nics.iter().any(|x| x.name == held && !x.ok) {
                if let Some(next) = self.pick_nic(name) {
                    self.log(Level::Warning, format!("service {name}: NIC {held} failed; moving its addresses to {next} (local NIC failover)"));
                    self.begin(
                        name,
                        Phase::Running,
                        vec![super::Step::DelIps, super::Step::AddIps].into(),
                        super::AfterStop::Rest,
                    );
                } else {
                    self.log(Level::Error, format!("service {name}: NIC {held} failed and no other NIC of its list is healthy; handing it to {}", self.peer_name()));
                }
            }
        }
    }

    fn public_addresses(&self) -> Vec<std::net::Ipv4Addr> {
        self.known_public.clone()
    }

    /// The peer's view of a service, while it is up and shares our configuration.
    pub(super) fn peer_svc(&self, name: &str) -> Option<&PeerSvc> {
        if self.peer_status() != PeerStatus::Up {
            return None;
        }
        let p = self.peer.as_ref()?;
        (p.digest == self.digest).then(|| p.services.get(name))?
    }

    /// Whether the peer shares our configuration and reports everything.
    pub(super) fn peer_in_sync(&self) -> bool {
        self.peer_status() == PeerStatus::Up
            && self.peer.as_ref().is_some_and(|p| p.digest == self.digest)
    }

    /// The services that move with this one (its `groupid`), itself included.
    pub(super) fn group_of(&self, name: &str) -> Arc<[String]> {
        self.layout
            .groups
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::from(vec![name.to_string()]))
    }

    /// Changes the intent of a group and gives it an epoch above any either node has seen.
    pub(super) fn bump(&mut self, names: &[String], change: impl Fn(&mut Svc)) {
        let mut top = 0;
        for n in names {
            top = top.max(self.services.get(n).map_or(0, |s| s.epoch));
            top = top.max(
                self.peer
                    .as_ref()
                    .and_then(|p| p.services.get(n))
                    .map_or(0, |p| p.epoch),
            );
        }
        for n in names {
            if let Some(s) = self.services.get_mut(n) {
                change(s);
                s.epoch = top + 1;
            }
        }
    }

    fn node_index(&self, node: &str) -> u8 {
        match self.config.nodes() {
            Some((_, b)) if b == node => 1,
            _ => 0,
        }
    }

    fn node_of(&self, index: u8) -> String {
        match self.config.nodes() {
            Some((a, b)) => if index == 1 { b } else { a }.to_string(),
            None => String::new(),
        }
    }

    pub(super) fn beat_payload(&self) -> Vec<u8> {
        let services = self
            .config
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let s = self.services.get(&c.name)?;
                Some(ServiceRecord {
                    index: i as u16,
                    word: frame::word_code(self.state_word(&c.name)),
                    phase: phase_code(s.phase),
                    protected: s.protected,
                    error: s.error,
                    error_was_active: s.error_was_active,
                    unable: !self.able_here(&c.name),
                    primary: self.node_index(&s.primary),
                    runner: if s.runner.is_empty() {
                        2
                    } else {
                        self.node_index(&s.runner)
                    },
                    epoch: s.epoch,
                    resets: s.resets,
                })
            })
            .collect();
        // Our own addresses, floating ones excepted: where the peer may ask us.
        let floating: Vec<std::net::Ipv4Addr> = self
            .config
            .services
            .iter()
            .flat_map(|s| s.active_ip.iter().copied())
            .collect();
        let nics = self
            .nics
            .iter()
            .map(|n| frame::NicRecord {
                name: n.name.clone(),
                ok: n.ok,
                addrs: n
                    .addrs
                    .iter()
                    .copied()
                    .filter(|a| !floating.contains(a))
                    .collect(),
            })
            .collect();
        Message::Beat(Beat {
            sender: self.node.clone(),
            generation: self.generation,
            digest: self.digest,
            hears_you: self.peer_status() == PeerStatus::Up,
            leaving: self.shutting_down == Some(true),
            services,
            nics,
        })
        .encode()
    }

    /// Beats: at once on every change, else at each link's interval.
    pub(super) fn send_beats(&mut self) {
        if self.shutting_down.is_some() && self.exited {
            return;
        }
        let payload = self.beat_payload();
        let now = self.now;
        // The public network carries the same beats, so that when every private link is
        // silent the peer's answer there tells a partition from a dead peer.
        let to = self.public_addresses();
        let interval = self
            .links
            .values()
            .map(|l| l.interval)
            .min()
            .unwrap_or(1000);
        if !to.is_empty() && (payload != self.last_beat || self.next_public_beat <= now) {
            self.next_public_beat = now + interval;
            self.out.push(super::Action::SendPublic {
                to,
                payload: payload.clone(),
            });
        }
        if payload != self.last_beat {
            self.last_beat = payload.clone();
            for l in self.links.values_mut() {
                l.next_beat = now + l.interval;
            }
            self.out.push(super::Action::Send {
                link: None,
                payload,
            });
            return;
        }
        let due: Vec<String> = self
            .links
            .iter()
            .filter(|(_, l)| l.next_beat <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            if let Some(l) = self.links.get_mut(&name) {
                l.next_beat = now + l.interval;
            }
            self.out.push(super::Action::Send {
                link: Some(name),
                payload: payload.clone(),
            });
        }
    }

    /// The live link of highest priority, for control traffic (configuration).
    pub(super) fn best_link(&self) -> Option<String> {
        self.links
            .iter()
            .filter(|(n, _)| self.link_up(n))
            .max_by_key(|(_, l)| l.priority)
            .map(|(n, _)| n.clone())
    }

    pub(super) fn on_frame(&mut self, link: &str, boot: u64, seq: u64, payload: &[u8]) {
        let now = self.now;
        match self.links.get_mut(link) {
            Some(l) => l.last_rx = Some(now),
            None if link == PUBLIC => {
                let dead = self.links.values().map(|l| l.dead_after).max().unwrap_or(0);
                if self.public_rx.is_none_or(|t| now.saturating_sub(t) >= dead) {
                    self.public_since = Some(now);
                }
                self.public_rx = Some(now);
            }
            None => return,
        }
        // The same frame arrives on every link: act on it once.
        if self
            .peer
            .as_ref()
            .is_some_and(|p| (boot, seq) <= (p.boot, p.seq))
        {
            return;
        }
        let msg = match Message::decode(payload) {
            Ok(m) => m,
            Err(_) => {
                self.log(
                    Level::Warning,
                    format!(
                        "link {link}: a frame with a valid tag but an unreadable payload; ignored"
                    ),
                );
                return;
            }
        };
        let peer = self.peer_name();
        let sender = match &msg {
            Message::Beat(b) => &b.sender,
            Message::Config { sender, .. } | Message::ConfigPart { sender, .. } => sender,
        };
        if *sender != peer {
            self.log(
                Level::Warning,
                format!("link {link}: a frame from '{sender}', but the peer is '{peer}'; ignored"),
            );
            return;
        }
        match msg {
            Message::Beat(b) => self.on_beat(link, boot, seq, b),
            Message::Config {
                generation, text, ..
            } => {
                if let Some(p) = self.peer.as_mut() {
                    p.boot = boot;
                    p.seq = seq;
                }
                self.on_config(generation, text);
            }
            Message::ConfigPart {
                generation,
                index,
                count,
                data,
                ..
            } => {
                if let Some(p) = self.peer.as_mut() {
                    p.boot = boot;
                    p.seq = seq;
                }
                if self.parts_in.0 != generation || self.parts_in.1 != count {
                    self.parts_in = (generation, count, BTreeMap::new());
                }
                // No more than a configuration may hold, whatever the pieces claim.
                let held: usize = self.parts_in.2.values().map(Vec::len).sum();
                if index >= count || held + data.len() > crate::config::MAX_FILE {
                    self.parts_in = (0, 0, BTreeMap::new());
                    return;
                }
                self.parts_in.2.insert(index, data);
                if self.parts_in.2.len() == count as usize {
                    let bytes: Vec<u8> = std::mem::take(&mut self.parts_in.2)
                        .into_values()
                        .flatten()
                        .collect();
                    match String::from_utf8(bytes) {
                        Ok(text) => self.on_config(generation, text),
                        Err(_) => self.log(Level::Warning, format!("configuration generation {generation} from {peer}: the pieces do not make text; ignored")),
                    }
                }
            }
        }
    }

    fn on_beat(&mut self, link: &str, boot: u64, seq: u64, b: Beat) {
        let restarted = self.peer.as_ref().is_some_and(|p| p.boot != boot);
        if restarted {
            self.log(
                Level::Info,
                format!("peer {}: its hasvrd restarted (link {link})", b.sender),
            );
        }
        let mut services = BTreeMap::new();
        if b.digest == self.digest {
            for r in &b.services {
                let Some(c) = self.config.services.get(r.index as usize) else {
                    continue;
                };
                services.insert(
                    c.name.clone(),
                    PeerSvc {
                        word: r.word,
                        phase: phase_of(r.phase),
                        protected: r.protected,
                        error: r.error,
                        unable: r.unable,
                        primary: self.node_of(r.primary),
                        runner: if r.runner == 2 {
                            String::new()
                        } else {
                            self.node_of(r.runner)
                        },
                        epoch: r.epoch,
                        resets: r.resets,
                    },
                );
            }
        }
        let addrs: Vec<std::net::Ipv4Addr> = b
            .nics
            .iter()
            .flat_map(|n| n.addrs.iter().copied())
            .collect();
        if !addrs.is_empty() {
            self.known_public = addrs;
        }
        self.peer = Some(PeerView {
            boot,
            seq,
            generation: b.generation,
            digest: b.digest,
            services,
            nics: b.nics.clone(),
            hears_me: b.hears_you,
            leaving: b.leaving,
        });
        if b.digest == self.digest {
            self.conflict_logged = None;
            self.merge_intents();
        } else {
            self.config_differs(b.generation, b.digest);
        }
    }

    /// Adopts the peer's intent where it is newer (or equal and the peer's name sorts first).
    fn merge_intents(&mut self) {
        let peer = self.peer_name();
        let peer_first = peer < self.node;
        let Some(view) = self.peer.clone() else {
            return;
        };
        for (name, p) in &view.services {
            let Some(s) = self.services.get_mut(name) else {
                continue;
            };
            let differs = (s.protected, &s.primary, &s.runner, s.resets)
                != (p.protected, &p.primary, &p.runner, p.resets);
            if p.epoch > s.epoch || (p.epoch == s.epoch && differs && peer_first) {
                if p.resets > s.resets && s.error {
                    s.error = false;
                    s.failures.clear();
                    s.last_failure = None;
                }
                s.protected = p.protected;
                s.primary = p.primary.clone();
                s.runner = p.runner.clone();
                s.epoch = p.epoch;
                s.resets = s.resets.max(p.resets);
            }
        }
    }

    fn config_differs(&mut self, generation: u64, digest: u32) {
        if generation < self.generation {
            let Some(link) = self.best_link() else { return };
            if self.links.get(&link).is_some_and(|l| l.serial) {
                // A slow line: one piece with each beat, round and round until the peer has it,
                // so beats never wait behind a whole configuration.
                let count = self.config_text.len().div_ceil(CONFIG_PIECE).max(1);
                let index = self.parts_out % count;
                self.parts_out += 1;
                if index == 0 {
                    self.log(Level::Info, format!("configuration: peer {} has generation {generation}, we have {}; sending ours in {count} pieces over link {link}", self.peer_name(), self.generation));
                }
                self.send_config_pieces(&link, CONFIG_PIECE, index..index + 1);
                return;
            }
            // Ours is newer: send it, at most once a second; whole when it fits one frame.
            if self
                .config_sent_at
                .is_some_and(|t| self.now.saturating_sub(t) < 1000)
            {
                return;
            }
            self.config_sent_at = Some(self.now);
            self.log(Level::Info, format!("configuration: peer {} has generation {generation}, we have {}; sending ours over link {link}", self.peer_name(), self.generation));
            if self.config_text.len() + 300 > crate::frame::MAX_PAYLOAD {
                let count = self.config_text.len().div_ceil(CONFIG_PIECE_FAST);
                self.send_config_pieces(&link, CONFIG_PIECE_FAST, 0..count);
                return;
            }
            let payload = Message::Config {
                sender: self.node.clone(),
                generation: self.generation,
                text: self.config_text.clone(),
            }
            .encode();
            self.out.push(super::Action::Send {
                link: Some(link),
                payload,
            });
        } else if generation == self.generation
            && self.conflict_logged != Some((generation, digest))
        {
            self.conflict_logged = Some((generation, digest));
            self.log(Level::Error, format!("configuration conflict: this node and {} both have generation {generation} but different contents; services do not move until it is resolved: fix sureha.conf on one node and run 'haadm reload' there (the higher generation wins)", self.peer_name()));
        }
    }

    /// Sends pieces `which` of our configuration, cut in pieces of `size` bytes.
    fn send_config_pieces(&mut self, link: &str, size: usize, which: std::ops::Range<usize>) {
        let bytes = self.config_text.as_bytes();
        let count = bytes.len().div_ceil(size).max(1) as u16;
        for index in which {
            let data = bytes
                .get(index * size..((index + 1) * size).min(bytes.len()))
                .unwrap_or_default()
                .to_vec();
            let payload = Message::ConfigPart {
                sender: self.node.clone(),
                generation: self.generation,
                index: index as u16,
                count,
                data,
            }
            .encode();
            self.out.push(super::Action::Send {
                link: Some(link.to_string()),
                payload,
            });
        }
    }

    fn on_config(&mut self, generation: u64, text: String) {
        if generation <= self.generation || self.pending_write.is_some() {
            return;
        }
        let peer = self.peer_name();
        match crate::config::parse("sureha.conf", &text) {
            Err(d) => self.log(Level::Error, format!("configuration generation {generation} from {peer} is invalid here, keeping ours: {}", d.to_string().replace('\n', "; "))),
            Ok(cfg) => match self.acceptable(&cfg) {
                Err(e) => self.log(Level::Error, format!("configuration generation {generation} from {peer} refused, keeping ours: {e}")),
                Ok(()) => {
                    self.out.push(super::Action::WriteConfig { expected: self.config_text.clone(), text: text.clone() });
                    self.pending_write = Some(super::PendingWrite {
                        config: cfg,
                        text,
                        reply: None,
                        what: format!("generation {generation} received from {peer}"),
                        generation,
                    });
                }
            },
        }
    }

    /// Logs links and the peer going up or down.
    pub(super) fn note_transitions(&mut self) {
        let at = self.now;
        let changed: Vec<(String, bool, Millis)> = self
            .links
            .iter_mut()
            .filter_map(|(n, l)| {
                let up = l
                    .last_rx
                    .is_some_and(|t| at.saturating_sub(t) < l.dead_after);
                (up != l.was_up).then(|| {
                    l.was_up = up;
                    (n.clone(), up, l.dead_after)
                })
            })
            .collect();
        for (n, up, dead) in changed {
            if up {
                self.log(
                    Level::Info,
                    format!("link {n}: OK, frames from the peer arrive"),
                );
            } else {
                self.log(
                    Level::Warning,
                    format!("link {n}: ERR, no frame from the peer for {}", human(dead)),
                );
            }
        }
        let mut now = self.peer_status();
        if now == PeerStatus::Partitioned && !self.public_settled() {
            // A peer coming back is heard on the public network a moment before its links:
            // no partition to report unless it lasts (nothing moves meanwhile either way).
            now = self.peer_was;
        }
        if now != self.peer_was {
            let peer = self.peer_name();
            match now {
                PeerStatus::Up => self.log(Level::Info, format!("peer {peer} is up")),
                PeerStatus::Down
                    if self.peer_was == PeerStatus::Up
                        && self.peer.as_ref().is_some_and(|p| p.leaving) =>
                {
                    self.log(Level::Info, format!("peer {peer} left: SureHA was stopped there on purpose; this node runs the protected services it can"))
                }
                PeerStatus::Down if self.peer_was == PeerStatus::Up => self.log(Level::Error, format!("peer {peer} is down: every link is silent; this node takes over the protected services it can run")),
                PeerStatus::Down => self.log(Level::Warning, format!("peer {peer} not heard since this hasvrd started; taking it as down")),
                                PeerStatus::Partitioned => self.log(Level::Error, format!("private network down: no private link carries frames, but {peer} answers on the public network; the cluster is partitioned and nothing moves until a private link is back")),
                PeerStatus::Unknown => {}
            }
            self.peer_was = now;
        }
    }

    /// The nearest moment a link may die or a beat is due.
    pub(super) fn link_wakeup(&self) -> Option<Millis> {
        self.links
            .values()
            .flat_map(|l| [Some(l.next_beat), l.last_rx.map(|t| t + l.dead_after)])
            .flatten()
            .chain(
                self.public_rx
                    .map(|t| t + self.links.values().map(|l| l.dead_after).max().unwrap_or(0)),
            )
            .chain(Some(self.next_public_beat))
            .filter(|&t| t > self.now)
            .min()
    }
}

impl Engine {
    /// `NIC NODE NAME OK|ERR [addresses]` for both nodes (the peer's as it last reported).
    pub(super) fn nic_lines(&self, with_addresses: bool) -> String {
        let mut t = String::new();
        let fmt = |node: &str, name: &str, word: &str, addrs: Vec<String>| {
            let a = if with_addresses && !addrs.is_empty() {
                format!(" {}", addrs.join(" "))
            } else {
                String::new()
            };
            format!("NIC {node} {name} {word}{a}\n")
        };
        let word = |ok: bool| if ok { "OK" } else { "ERR" };
        for n in &self.nics {
            t.push_str(&fmt(
                &self.node,
                &n.name,
                word(n.ok),
                n.addrs.iter().map(|a| a.to_string()).collect(),
            ));
        }
        // A peer that is down reports nothing: its NICs' state is unknown, not what it last said.
        let peer_heard = matches!(self.peer_status(), PeerStatus::Up | PeerStatus::Partitioned);
        if let Some(p) = &self.peer {
            let peer = self.peer_name();
            for n in &p.nics {
                t.push_str(&fmt(
                    &peer,
                    &n.name,
                    if peer_heard { word(n.ok) } else { "UNKNOWN" },
                    n.addrs.iter().map(|a| a.to_string()).collect(),
                ));
            }
        }
        t
    }
}

impl Engine {
    /// Whether this node can run the whole group: no ERROR here, a healthy NIC for each.
    pub(super) fn group_able_here(&self, group: &[String]) -> bool {
        group
            .iter()
            .all(|g| self.services.get(g).is_some_and(|s| !s.error) && self.able_here(g))
    }

    /// Whether both nodes hold the same intent for the whole group.
    pub(super) fn agreed(&self, group: &[String]) -> bool {
        group
            .iter()
            .all(|g| match (self.services.get(g), self.peer_svc(g)) {
                (Some(x), Some(p)) => {
                    (x.protected, &x.primary, &x.runner, x.epoch)
                        == (p.protected, &p.primary, &p.runner, p.epoch)
                }
                _ => false,
            })
    }

    /// Proposes who should run each protected group now, from what this node knows of both
    /// nodes' ability: the primary when it can, else the other. A proposal is a new epoch of
    /// the intent; two proposals at once converge by the tie-break of `merge_intents`, and no
    /// node starts before both agree, so a stale view of the peer can cost a move, never a
    /// double start. With the peer down this node takes over alone.
    pub(super) fn propose_runners(&mut self) {
        if self.shutting_down.is_some() {
            return;
        }
        let me = self.node.clone();
        let peer = self.peer_name();
        let layout = Arc::clone(&self.layout);
        for (name, group) in &layout.group_list {
            let Some(s) = self.services.get(name) else {
                continue;
            };
            if !s.protected {
                continue;
            }
            let (primary, runner) = (s.primary.clone(), s.runner.clone());
            let switchback = self.config.service(name).is_some_and(|c| c.switchback);
            let me_able = self.group_able_here(group);
            let desired = match self.peer_status() {
                PeerStatus::Down if me_able => me.clone(),
                PeerStatus::Up if self.peer_in_sync() && self.agreed(group) => {
                    let peer_able = group
                        .iter()
                        .all(|g| self.peer_svc(g).is_some_and(|p| !p.error && !p.unable));
                    let able = |n: &str| if n == me { me_able } else { peer_able };
                    let other = if primary == me {
                        peer.clone()
                    } else {
                        me.clone()
                    };
                    if able(&primary) {
                        primary.clone()
                    } else if able(&other) {
                        other
                    } else {
                        String::new()
                    }
                }
                _ => continue,
            };
            if desired == runner {
                continue;
            }
            // Without switchback a takeover swaps the roles for good.
            let swap = !switchback && !desired.is_empty() && desired != primary;
            self.bump(group, |x| {
                x.runner = desired.clone();
                if swap {
                    x.primary = desired.clone();
                }
            });
        }
    }
}
