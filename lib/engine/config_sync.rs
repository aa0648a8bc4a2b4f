//! Configuration sync with the peer: sending ours when the peer has an older one (whole, or in
//! pieces), and taking a newer one.

use super::*;
use crate::frame::Message;

/// The size of a configuration piece on a serial line.
pub const CONFIG_PIECE: usize = 256;

/// Pieces of a configuration too big for one frame, over a fast link.
pub const CONFIG_PIECE_FAST: usize = 32 * 1024;

impl Engine {
    /// What the peer lacks (our newer configuration, our newer administrative state) goes
    /// again, at the pace `config_differs` and `compare_admin` allow, for as long as the
    /// peer's last beat says it lacks it: its link passes up only beats that change, so a
    /// lost copy cannot wait for the next beat.
    pub(super) fn sync_with_peer(&mut self) {
        // Not while our own configuration is being written: it is in between.
        if self.peer_status() != PeerStatus::Up || self.pending_write.is_some() {
            return;
        }
        let Some(p) = self.peer.as_ref() else { return };
        let (generation, digest, count) = (p.generation, p.digest, p.beat.services.len());
        let admin = p.beat.admin.clone();
        if digest != self.digest {
            self.config_differs(generation, digest, count);
        }
        self.compare_admin(admin.0, &admin.1);
    }

    /// When `sync_with_peer` may send again, if the peer lacks something.
    pub(super) fn sync_wakeup(&self) -> Option<Millis> {
        if self.peer_status() != PeerStatus::Up {
            return None;
        }
        let p = self.peer.as_ref()?;
        let mut t: Option<Millis> = None;
        if p.digest != self.digest
            && self.ours_wins(p.generation, p.beat.services.len()) == Some(true)
        {
            let serial = self
                .best_link()
                .and_then(|l| self.links.get(&l).filter(|l| l.serial).map(|l| l.interval));
            t = Some(match serial {
                Some(i) => self.parts_sent_at.map_or(self.now + i, |s| s + i),
                None => self.config_sent_at.map_or(self.now + 1000, |s| s + 1000),
            });
        }
        if (p.beat.admin.0, p.beat.admin.1.as_str()) < self.admin.rank() {
            let a = self.admin_sent_at.map_or(self.now + 1000, |s| s + 1000);
            t = Some(t.map_or(a, |x| x.min(a)));
        }
        // Never a wake-up in the past: that would spin.
        t.map(|t| t.max(self.now + 1))
    }

    /// Which configuration wins when the nodes' differ: the higher generation. Changes a
    /// node makes alone, before its first link, do not count (it had nothing to be newer
    /// than), so two new servers that each made their side of the first link meet at the
    /// same generation; then the one that has services wins, and between two without, the
    /// node named first. Both with services, same generation: a conflict for the
    /// administrator (`None`), never merged.
    fn ours_wins(&self, generation: u64, peer_services: usize) -> Option<bool> {
        if generation != self.generation {
            return Some(generation < self.generation);
        }
        match (self.config.services.len(), peer_services) {
            (0, 0) => Some(self.node.as_str() < self.peer_name()),
            (_, 0) => Some(true),
            (0, _) => Some(false),
            _ => None,
        }
    }

    pub(super) fn config_differs(&mut self, generation: u64, digest: u32, peer_services: usize) {
        let wins = self.ours_wins(generation, peer_services);
        if wins == Some(true) {
            let Some(link) = self.best_link() else { return };
            if self.links.get(&link).is_some_and(|l| l.serial) {
                // A slow line: one piece an interval, round and round until the peer has it,
                // so beats never wait behind a whole configuration.
                let interval = self.links.get(&link).map_or(1000, |l| l.interval);
                if self.parts_sent_at.is_some_and(|t| self.now < t + interval) {
                    return;
                }
                self.parts_sent_at = Some(self.now);
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
        } else if wins.is_none() && self.conflict_logged != Some((generation, digest)) {
            self.conflict_logged = Some((generation, digest));
            self.log(Level::Error, format!("configuration conflict: this node and {} both have generation {generation} but different contents; services do not move until it is resolved: fix sureha.conf on one node and run 'haadm reload' there (the higher generation wins)", self.peer_name()));
        }
    }

    /// Sends pieces `which` of our configuration, cut in pieces of `size` bytes.
    pub(super) fn send_config_pieces(
        &mut self,
        link: &str,
        size: usize,
        which: std::ops::Range<usize>,
    ) {
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

    pub(super) fn on_config(&mut self, generation: u64, text: String) {
        if self.pending_write.is_some() {
            return;
        }
        let peer = self.peer_name().to_string();
        let theirs = crate::config::parse("sureha.conf", &text);
        let their_services = theirs.as_ref().map_or(0, |c| c.services.len());
        if self.ours_wins(generation, their_services) != Some(false) {
            return;
        }
        match theirs {
            Err(d) => self.log(Level::Error, format!("configuration generation {generation} from {peer} is invalid here, keeping ours: {}", d.to_string().replace('\n', "; "))),
            Ok(cfg) => match self.acceptable(&cfg) {
                Err(e) => self.log(Level::Error, format!("configuration generation {generation} from {peer} refused, keeping ours: {e}")),
                Ok(()) => {
                    // The peer has what we take: its last beat may predate it.
                    if let Some(p) = self.peer.as_mut() {
                        p.generation = generation;
                        p.digest = crate::frame::crc32(text.as_bytes());
                    }
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
}
