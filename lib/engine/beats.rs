//! The beats this node sends: what one says (every service's intent and phase here, the
//! NICs, the disks, the administrative stamp, whom it hears), when it goes to the links
//! (when it changes; a disk link every interval, its writes renewing the volume locks), and
//! over the public network while the peer is late on every private link. Reading the
//! peer's beats is `peer`.

use super::{Engine, PeerStatus, Phase};
use crate::clock::Millis;
use crate::frame::{self, Beat, Message, ServiceRecord};

fn phase_code(p: Phase) -> u8 {
    match p {
        Phase::Stopped => 0,
        Phase::Starting => 1,
        Phase::Running => 2,
        Phase::Stopping => 3,
    }
}

impl Engine {
    fn node_index(&self, node: &str) -> u8 {
        match self.config.nodes() {
            Some((_, b)) if b == node => 1,
            _ => 0,
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
                    protected: s.intent.protected,
                    error: s.error,
                    error_was_active: s.error_was_active,
                    unable: self.unable_here(&c.name).is_some(),
                    both: self.both.flag(&c.name),
                    primary: self.node_index(&s.intent.primary),
                    runner: if s.intent.runner.is_empty() {
                        2
                    } else {
                        self.node_index(&s.intent.runner)
                    },
                    epoch: s.intent.epoch,
                    resets: s.intent.resets,
                })
            })
            .collect();
        // Our own addresses, floating ones excepted: where the peer may ask us.
        let floating: Vec<std::net::IpAddr> = self
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
                    .filter(|a| !floating.contains(a))
                    .filter_map(|a| match a {
                        std::net::IpAddr::V4(a) => Some(*a),
                        // In the report (`public6_lines`).
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect(),
            })
            .collect();
        let mut payload = Message::Beat(Beat {
            sender: self.node.clone(),
            generation: self.generation,
            digest: self.digest,
            hears_you: self.peer_status() == PeerStatus::Up,
            leaving: self.leaving.stopping_services(),
            keeping: self.leaving.keeping_since().is_some(),
            services,
            nics,
            disks: self
                .disks
                .paths
                .iter()
                .map(|p| (p.device.clone(), p.ok))
                .collect(),
            admin: (self.admin.state.stamp, self.admin.state.by_node.clone()),
            heard: match (&self.peer.view, self.peer_status()) {
                (Some(p), PeerStatus::Up) => p.boot,
                _ => 0,
            },
        })
        .encode();
        // A peer of the release before `heard` refuses a beat that has it.
        if self.peer.view.as_ref().is_some_and(|p| p.short_beats) {
            frame::beat_without_heard(&mut payload);
        }
        payload
    }

    /// Beats: to every link on each change (socket and serial links repeat it), to a disk
    /// link also at each of its intervals; over the public network while the peer is late
    /// on every private link, and in answer to the peer's beats there.
    pub(super) fn send_beats(&mut self) {
        if self.leaving.asked() && self.leaving.exited {
            return;
        }
        let payload = self.beat_payload();
        let now = self.now;
        self.send_public_beat(&payload);
        if payload != self.last_beat {
            self.last_beat = payload.clone();
            for l in self.peer.links.values_mut() {
                l.next_beat = now + l.interval;
            }
            self.out.push(super::Action::Beat { payload });
            return;
        }
        let due: Vec<String> = self
            .peer
            .links
            .iter()
            .filter(|(_, l)| !l.relays && l.next_beat <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            if let Some(l) = self.peer.links.get_mut(&name) {
                l.next_beat = now + l.interval;
            }
            self.out.push(super::Action::Send {
                link: Some(name),
                payload: payload.clone(),
            });
        }
    }

    /// The shortest interval of the private links.
    fn shortest_interval(&self) -> Millis {
        self.peer
            .links
            .values()
            .map(|l| l.interval)
            .min()
            .unwrap_or(1000)
    }

    /// Within this of our last public beat the peer has a fresh one (`public::quick`).
    pub(super) fn public_quick(&self) -> Millis {
        super::public::quick(self.shortest_interval())
    }

    /// The public network carries the same beats when it matters (`public`).
    fn send_public_beat(&mut self, payload: &[u8]) {
        let now = super::public::BeatNow {
            now: self.now,
            interval: self.shortest_interval(),
            late: self.peer.late(self.now),
            peer_up: self.peer_status() == PeerStatus::Up,
            changed: payload != self.last_beat.as_slice(),
        };
        if let Some(to) = self.peer.public.beat_due(&now) {
            self.out.push(super::Action::SendPublic {
                to,
                payload: payload.to_vec(),
            });
        }
    }
}
