//! Frames and beats of the other node coming in, and what they change: the engine's view of
//! the peer (`membership`, which also says from it alone whether the peer is up, down or
//! partitioned), its intents (`agreement`), transitions told in the log. The beats this
//! node sends are `beats`; the both-claim alarm's part of a beat is `both_claim`.
//!
//! A link is up while frames arrive on it (silent for `interval × maxmiss`: down); the peer
//! is up while any link is. Every beat carries the sender's whole view, so a lost one loses
//! nothing. A beat is handed to the links when it changes: a socket or serial link process
//! repeats it every interval, passes up only the peer's beats that differ, keeps the time of
//! the last good frame where the executor reads it (`heard`), and says when the peer is
//! late (`link::relay`); only then does this engine watch that link's deadline. A disk link
//! gets a beat every interval from here: its writes renew the volume locks. The public
//! network carries beats only while the peer is late on every private link (or gone), and
//! each beat from the peer there is answered: that is when a partition must be told from
//! a dead peer. What the beats mean for each service's intent is `agreement`;
//! configuration sync is `config_sync`; NICs are `nics`.
use super::admin_state::Hosts;
use super::intent::Intent;
use super::membership::{PeerSvc, PeerView, PUBLIC};
use super::{Engine, PeerStatus, Phase};
use crate::clock::{human, Millis};
use crate::config::AlertEvent;
use crate::frame::{self, Beat, Message};
use crate::log::Level;
use std::collections::BTreeMap;

fn phase_of(c: u8) -> Phase {
    match c {
        1 => Phase::Starting,
        2 => Phase::Running,
        3 => Phase::Stopping,
        _ => Phase::Stopped,
    }
}

impl Engine {
    /// This hasvrd's boot id (the executor's, as its frames carry it).
    pub fn set_boot(&mut self, boot: u64) {
        self.peer.boot = boot;
    }

    /// The time of a link's last good frame, as its process keeps it (the executor reads it
    /// before each pass: a repeated beat is not passed up, but it is heard).
    pub fn heard(&mut self, link: &str, at: Millis) {
        if self.peer.heard(link, at, self.now) {
            self.pace.quiet_until = 0;
        }
    }

    pub(super) fn link_word(&self, name: &str) -> &'static str {
        if self.peer.link_up(name, self.now) {
            "OK"
        } else {
            "ERR"
        }
    }

    pub fn peer_status(&self) -> PeerStatus {
        self.peer.status(self.now)
    }

    /// A link process's counters: a growing count of frames whose tag fails is the sign of
    /// a peer with another key.
    pub(super) fn link_stats(&mut self, link: &str, line: String) {
        if self.peer.counters(link, line, self.now) {
            let peer = self.peer_name();
            self.log(Level::Error, format!(
                "link {link}: frames arrive whose tag does not check out, and none from {peer} has since this node started: {peer}'s authkey differs (rotated while this node was down?); nothing is taken over from it while they come. Copy etc/authkey from {peer} and run haadm authkey install FILE here"
            ));
        }
    }

    /// Where to ask the peer over the public network: its IPv4 addresses (from its beats) and
    /// its IPv6 ones (from its report).
    pub(super) fn public_addresses(&self) -> Vec<std::net::IpAddr> {
        self.peer.public.addresses()
    }

    /// This node's IPv6 addresses on the services' NICs, floating ones excepted, for the
    /// report: `PUBLIC6 NIC ADDR...` (a release without IPv6 skips the lines).
    pub(super) fn public6_lines(&self) -> String {
        // Every pass sends the report if it changed: an IPv4-only node looks no further.
        if !self
            .nics
            .iter()
            .any(|n| n.addrs.iter().any(|a| a.is_ipv6()))
        {
            return String::new();
        }
        let mine = self.config.nics_of(&self.node);
        let mut t = String::new();
        for n in self.nics.iter().filter(|n| mine.contains(&n.name)) {
            let v6: Vec<String> = n
                .addrs
                .iter()
                .filter(|a| {
                    a.is_ipv6() && !self.config.services.iter().any(|s| s.active_ip.contains(a))
                })
                .take(16)
                .map(|a| a.to_string())
                .collect();
            if !v6.is_empty() {
                t.push_str(&format!("PUBLIC6 {} {}\n", n.name, v6.join(" ")));
            }
        }
        t
    }

    /// The peer's view of a service, while it is up and shares our configuration.
    pub(super) fn peer_svc(&self, name: &str) -> Option<&PeerSvc> {
        self.peer.svc(name, self.now, self.digest)
    }

    /// Whether the peer shares our configuration and reports everything.
    pub(super) fn peer_in_sync(&self) -> bool {
        self.peer.in_sync(self.now, self.digest)
    }

    fn node_of(&self, index: u8) -> String {
        match self.config.nodes() {
            Some((a, b)) => if index == 1 { b } else { a }.to_string(),
            None => String::new(),
        }
    }

    pub(super) fn on_frame(&mut self, link: &str, boot: u64, seq: u64, payload: &[u8]) {
        let now = self.now;
        // Back after silence, or restarted: what we last knew of it is old until its next
        // beat (which clears this).
        if (link != PUBLIC && self.peer.back(now))
            || self.peer.view.as_ref().is_some_and(|p| boot > p.boot)
        {
            self.peer.contact.view_stale = true;
        }
        match self.peer.links.get_mut(link) {
            Some(l) => {
                l.last_rx = Some(now);
                l.late_said = false;
            }
            None if link == PUBLIC => {
                let dead = self.peer.dead_after();
                self.peer.public.heard(now, dead);
            }
            None => return,
        }
        // The same frame arrives on every link: act on it once. A beat older than the last
        // one acted on is stale; other messages may overtake beats (a beat also goes over
        // the public network, straight to hasvrd), so they are only checked for repeats.
        let beat = payload.first() == Some(&1);
        if beat
            && self
                .peer
                .view
                .as_ref()
                .is_some_and(|p| (boot, seq) <= (p.boot, p.seq))
        {
            // The same beat (or a repeat of what it says) came another way first: what we
            // hold is current.
            if self
                .peer
                .view
                .as_ref()
                .is_some_and(|p| p.boot == boot && p.payload == payload)
            {
                self.peer.contact.view_stale = false;
            }
            return;
        }
        if self.peer.contact.recent_frames.contains(&(boot, seq)) {
            return;
        }
        if self.peer.contact.recent_frames.len() >= 16 {
            self.peer.contact.recent_frames.pop_front();
        }
        self.peer.contact.recent_frames.push_back((boot, seq));
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
        let peer = self.peer_name().to_string();
        let sender = match &msg {
            Message::Beat(b) => &b.sender,
            Message::Config { sender, .. }
            | Message::ConfigPart { sender, .. }
            | Message::Admin { sender, .. }
            | Message::Report { sender, .. }
            | Message::Key { sender, .. } => sender,
        };
        if *sender != peer {
            self.log(
                Level::Warning,
                format!("link {link}: a frame from '{sender}', but the peer is '{peer}'; ignored"),
            );
            return;
        }
        match msg {
            Message::Beat(b) => self.on_beat(link, boot, seq, b, payload.to_vec()),
            Message::Config {
                generation, text, ..
            } => {
                self.on_config(generation, text);
            }
            Message::ConfigPart {
                generation,
                index,
                count,
                data,
                ..
            } => {
                let whole =
                    self.parts_in
                        .piece(generation, index, count, data, crate::config::MAX_FILE);
                if let Some(bytes) = whole {
                    match String::from_utf8(bytes) {
                        Ok(text) => self.on_config(generation, text),
                        Err(_) => self.log(Level::Warning, format!("configuration generation {generation} from {peer}: the pieces do not make text; ignored")),
                    }
                }
            }
            Message::Admin { text, .. } => {
                let hosts = Hosts::of(&self.config, &self.node);
                self.admin.peer_sent(&text, &hosts, &mut self.out)
            }
            Message::Report { text, .. } => self.report_from_peer(&text),
            Message::Key { step, data, .. } => {
                self.key_change
                    .peer_sent(&here!(self), step, data, &mut self.out)
            }
        }
    }

    fn on_beat(&mut self, link: &str, boot: u64, seq: u64, b: Beat, payload: Vec<u8>) {
        self.peer.contact.view_stale = false;
        self.peer.contact.beat_at = Some(self.now);
        self.compare_admin(b.admin.0, &b.admin.1);
        self.peer.contact.kept = b.keeping;
        if !b.keeping {
            self.released.clear();
        }
        let restarted = self.peer.view.as_ref().is_some_and(|p| p.boot != boot);
        if restarted {
            self.log(
                Level::Info,
                format!("peer {}: its hasvrd restarted (link {link})", b.sender),
            );
        }
        let services = self.peer_services(&b);
        // The public network is what the services' NICs are on (a beat lists every NIC).
        let public_nics = self.config.nics_of(&b.sender);
        let addrs: Vec<std::net::IpAddr> = b
            .nics
            .iter()
            .filter(|n| public_nics.contains(&n.name))
            .flat_map(|n| n.addrs.iter().map(|&a| std::net::IpAddr::V4(a)))
            .collect();
        self.peer.public.learned(addrs);
        let (generation, digest, count) = (b.generation, b.digest, b.services.len());
        // A beat sent before this hasvrd started (delayed on a link, or left in a buffer)
        // says nothing of contact with it. A release before `heard` does not say whom it
        // hears: its word is taken as it is, as that release took it.
        let short_beats = frame::beat_lacks_heard(&b, &payload);
        let hears_me =
            b.hears_you && (self.peer.boot == 0 || short_beats || b.heard == self.peer.boot);
        // A restarted hasvrd of the peer has just begun to listen: it cannot have found
        // this node silent before now, whatever its first beat says.
        if hears_me || restarted {
            self.peer.contact.heard_me_at = Some(self.now);
        }
        self.peer.view = Some(PeerView {
            boot,
            seq,
            generation,
            digest,
            services,
            nics: b.nics.clone(),
            disks: b.disks.clone(),
            hears_me,
            leaving: b.leaving,
            short_beats,
            beat: b,
            payload,
        });
        if digest == self.digest {
            self.sending.agreed();
            self.merge_intents();
            self.check_both_claim(link, boot, seq);
        } else {
            self.config_differs(generation, digest, count);
        }
    }

    /// Our configuration changed: the peer's last beat is read again under it (the peer's
    /// link passes up no copy of a beat that did not change). What the peer lacks goes to it
    /// from `sync_with_peer`, once our new configuration is in place.
    pub(super) fn reread_peer_beat(&mut self) {
        let Some(p) = self.peer.view.as_ref() else {
            return;
        };
        let services = self.peer_services(&p.beat);
        let same = p.beat.digest == self.digest;
        if let Some(p) = self.peer.view.as_mut() {
            p.services = services;
        }
        if same {
            self.merge_intents();
        }
    }

    /// The services of a peer's beat, by name: only under the same configuration (their
    /// indexes point into it).
    fn peer_services(&self, b: &Beat) -> BTreeMap<String, PeerSvc> {
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
                        error: r.error,
                        unable: r.unable,
                        both: r.both,
                        intent: Intent {
                            protected: r.protected,
                            primary: self.node_of(r.primary),
                            runner: if r.runner == 2 {
                                String::new()
                            } else {
                                self.node_of(r.runner)
                            },
                            epoch: r.epoch,
                            resets: r.resets,
                        },
                    },
                );
            }
        }
        services
    }

    /// Logs links and the peer going up or down.
    pub(super) fn note_transitions(&mut self) {
        let at = self.now;
        // Down with frames still within the silence limit: cut by the carrier's verdict.
        let changed: Vec<(String, bool, Millis, bool)> = self
            .peer
            .links
            .iter_mut()
            .filter_map(|(n, l)| {
                let up = l.alive(at);
                (up != l.was_up).then(|| {
                    l.was_up = up;
                    let cut = !up
                        && l.last_rx
                            .is_some_and(|t| at.saturating_sub(t) < l.dead_after);
                    (n.clone(), up, l.dead_after, cut)
                })
            })
            .collect();
        let mut carrier_verdict = false;
        for (n, up, dead, cut) in changed {
            if up {
                self.log(
                    Level::Info,
                    format!("link {n}: OK, frames from the peer arrive"),
                );
            } else if cut {
                carrier_verdict = true;
                self.log(
                    Level::Warning,
                    format!("link {n}: ERR, counted as silent: the peer was judged down by a carrier lost"),
                );
            } else {
                self.log(
                    Level::Warning,
                    format!("link {n}: ERR, no frame from the peer for {}", human(dead)),
                );
            }
        }
        let mut now = self.peer_status();
        if now == PeerStatus::Partitioned && !self.peer.public_settled(self.now) {
            // A peer coming back is heard on the public network a moment before its links:
            // no partition to report unless it lasts (nothing moves meanwhile either way).
            now = self.peer.contact.was;
        }
        if now != self.peer.contact.was {
            self.knowing.dirty = true;
            let peer = self.peer_name().to_string();
            let (level, event, text) = match now {
                PeerStatus::Up => (Level::Info, AlertEvent::NodeUp, format!("peer {peer} is up")),
                PeerStatus::Down
                    if self.peer.contact.was == PeerStatus::Up
                        && self.peer.view.as_ref().is_some_and(|p| p.leaving) =>
                {
                    (Level::Info, AlertEvent::NodeDown, format!("peer {peer} left: SureHA was stopped there on purpose; this node runs the protected services it can"))
                }
                PeerStatus::Down if self.peer.contact.was == PeerStatus::Up && carrier_verdict => (Level::Error, AlertEvent::NodeDown, format!("peer {peer} is down: its cable's carrier went and it does not answer on the public network; this node takes over the protected services it can run")),
                PeerStatus::Down if self.peer.contact.was == PeerStatus::Up => (Level::Error, AlertEvent::NodeDown, format!("peer {peer} is down: every link is silent; this node takes over the protected services it can run")),
                PeerStatus::Down => (Level::Warning, AlertEvent::NodeDown, format!("peer {peer} not heard since this hasvrd started; taking it as down")),
                PeerStatus::Partitioned => (Level::Error, AlertEvent::Partition, format!("private network down: no private link carries frames, but {peer} answers on the public network; the cluster is partitioned and nothing moves until a private link is back")),
                PeerStatus::Frozen => (Level::Warning, AlertEvent::NodeDown, format!("peer {peer} left with its services running (QUIT, for an upgrade): nothing moves until its SureHA is back; to move them anyway, make sure they stopped there, then haadm service takeover NAME here")),
                PeerStatus::Unknown => (Level::Info, AlertEvent::NodeUp, String::new()),
            };
            if !text.is_empty() {
                self.log_alert(level, event, "", text);
            }
            self.peer.contact.was = now;
        }
        self.note_disk_only();
    }
}
