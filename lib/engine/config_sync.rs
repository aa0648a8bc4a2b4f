//! Configuration sync with the peer: sending ours when the peer has an older one (whole, or in
//! pieces), and taking a newer one.

use super::{Engine, PeerStatus};
use crate::clock::Millis;
use crate::frame::Message;
use crate::log::Level;

/// The size of a configuration piece on a serial line.
pub const CONFIG_PIECE: usize = 256;

/// Pieces of a configuration too big for one frame, over a fast link.
pub const CONFIG_PIECE_FAST: usize = 32 * 1024;

/// The pace of what this node sends the peer of its configuration and of its
/// administrative state, and the conflict it last told.
#[derive(Clone, Debug, Default)]
pub(super) struct Sending {
    /// When the administrative state (lock, licenses) last went (at most once a second).
    admin_at: Option<Millis>,
    /// When the whole configuration last went (at most once a second).
    whole_at: Option<Millis>,
    /// How many pieces went over a serial line, round and round, and when the last did.
    pieces_out: usize,
    pieces_at: Option<Millis>,
    /// The peer's (generation, digest) last told as a conflict: told once each.
    conflict_told: Option<(u64, u32)>,
}

impl Sending {
    /// The piece of `count` to send over a serial line of beats every `interval`, or
    /// `None` when the last one went less than an interval ago.
    fn next_piece(&mut self, now: Millis, interval: Millis, count: usize) -> Option<usize> {
        if self.pieces_at.is_some_and(|t| now < t + interval) {
            return None;
        }
        self.pieces_at = Some(now);
        let index = self.pieces_out % count;
        self.pieces_out += 1;
        Some(index)
    }

    /// Whether the whole configuration may go now (and it is noted as gone).
    fn whole_due(&mut self, now: Millis) -> bool {
        if self.whole_at.is_some_and(|t| now.saturating_sub(t) < 1000) {
            return false;
        }
        self.whole_at = Some(now);
        true
    }

    /// When the next piece (over a serial line of beats every `serial`) or the whole may go.
    fn due_at(&self, now: Millis, serial: Option<Millis>) -> Millis {
        match serial {
            Some(i) => self.pieces_at.map_or(now + i, |s| s + i),
            None => self.whole_at.map_or(now + 1000, |s| s + 1000),
        }
    }

    /// Whether the administrative state may go now (and it is noted as gone).
    pub(super) fn admin_due(&mut self, now: Millis) -> bool {
        if self.admin_at.is_some_and(|t| now < t + 1000) {
            return false;
        }
        self.admin_at = Some(now);
        true
    }

    fn admin_due_at(&self, now: Millis) -> Millis {
        self.admin_at.map_or(now + 1000, |s| s + 1000)
    }

    /// Whether a conflict with the peer's (generation, digest) is new, to be told.
    fn conflict_is_new(&mut self, generation: u64, digest: u32) -> bool {
        let new = self.conflict_told != Some((generation, digest));
        self.conflict_told = Some((generation, digest));
        new
    }

    /// The nodes agree: a later conflict, even on the same pair, is told again.
    pub(super) fn agreed(&mut self) {
        self.conflict_told = None;
    }
}

/// A node's configuration as the choice between two sees it.
struct Side<'a> {
    node: &'a str,
    generation: u64,
    services: usize,
}

/// Whether our configuration wins over theirs (`Engine::ours_wins`); `None`: a conflict.
fn ours_wins(ours: &Side, theirs: &Side) -> Option<bool> {
    if theirs.generation != ours.generation {
        return Some(theirs.generation < ours.generation);
    }
    match (ours.services, theirs.services) {
        (0, 0) => Some(ours.node < theirs.node),
        (_, 0) => Some(true),
        (0, _) => Some(false),
        _ => None,
    }
}

impl Engine {
    /// What the peer lacks (our newer configuration, our newer administrative state) goes
    /// again, at the pace `config_differs` and `compare_admin` allow, for as long as the
    /// peer's last beat says it lacks it: its link passes up only beats that change, so a
    /// lost copy cannot wait for the next beat.
    pub(super) fn sync_with_peer(&mut self) {
        if self.peer_status() != PeerStatus::Up {
            return;
        }
        let Some(p) = self.peer.view.as_ref() else {
            return;
        };
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
        let p = self.peer.view.as_ref()?;
        let mut t: Option<Millis> = None;
        if p.digest != self.digest
            && self.ours_wins(p.generation, p.beat.services.len()) == Some(true)
        {
            let serial = self.peer.best_link(self.now).and_then(|l| {
                self.peer
                    .links
                    .get(&l)
                    .filter(|l| l.serial)
                    .map(|l| l.interval)
            });
            t = Some(self.sending.due_at(self.now, serial));
        }
        if self.admin.ahead_of(p.beat.admin.0, &p.beat.admin.1) {
            let a = self.sending.admin_due_at(self.now);
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
        let ours = Side {
            node: &self.node,
            generation: self.generation,
            services: self.config.services.len(),
        };
        let theirs = Side {
            node: self.peer_name(),
            generation,
            services: peer_services,
        };
        ours_wins(&ours, &theirs)
    }

    pub(super) fn config_differs(&mut self, generation: u64, digest: u32, peer_services: usize) {
        let wins = self.ours_wins(generation, peer_services);
        // Not while our own configuration is being written: it is in between.
        if wins == Some(true) && self.edits.write.is_none() {
            let Some(link) = self.peer.best_link(self.now) else {
                return;
            };
            if self.peer.links.get(&link).is_some_and(|l| l.serial) {
                // A slow line: one piece an interval, round and round until the peer has it,
                // so beats never wait behind a whole configuration.
                let interval = self.peer.links.get(&link).map_or(1000, |l| l.interval);
                let count = self.config_text.len().div_ceil(CONFIG_PIECE).max(1);
                let Some(index) = self.sending.next_piece(self.now, interval, count) else {
                    return;
                };
                if index == 0 {
                    self.log(Level::Info, format!("configuration: peer {} has generation {generation}, we have {}; sending ours in {count} pieces over link {link}", self.peer_name(), self.generation));
                }
                self.send_config_pieces(&link, CONFIG_PIECE, index..index + 1);
                return;
            }
            // Ours is newer: send it, at most once a second; whole when it fits one frame.
            if !self.sending.whole_due(self.now) {
                return;
            }
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
        } else if wins.is_none() && self.sending.conflict_is_new(generation, digest) {
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
        if self.edits.write.is_some() {
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
                    if let Some(p) = self.peer.view.as_mut() {
                        p.generation = generation;
                        p.digest = crate::frame::crc32(text.as_bytes());
                    }
                    self.out.push(super::Action::WriteConfig { expected: self.config_text.clone(), text: text.clone() });
                    self.edits.write = Some(super::config_edit::PendingWrite {
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

#[cfg(test)]
mod tests {
    use super::{ours_wins, Sending, Side};

    #[test]
    fn pieces_go_round_one_an_interval_and_the_whole_once_a_second() {
        let mut s = Sending::default();
        assert_eq!(s.next_piece(0, 100, 3), Some(0));
        assert_eq!(s.next_piece(99, 100, 3), None, "within the interval");
        assert_eq!(s.due_at(99, Some(100)), 100);
        assert_eq!(s.next_piece(100, 100, 3), Some(1));
        assert_eq!(s.next_piece(200, 100, 3), Some(2));
        assert_eq!(s.next_piece(300, 100, 3), Some(0), "round again");
        assert_eq!(s.due_at(5, None), 1005, "nothing whole sent yet");
        assert!(s.whole_due(5000));
        assert!(!s.whole_due(5999));
        assert_eq!(s.due_at(5999, None), 6000);
        assert!(s.whole_due(6000));
        assert!(s.admin_due(6000), "the administrative state is paced apart");
        assert!(!s.admin_due(6999));
        assert_eq!(s.admin_due_at(6999), 7000);
        assert!(s.admin_due(7000), "a second later to the millisecond");
        // Nothing sent yet: a piece may go an interval from now, the state a second.
        let fresh = Sending::default();
        assert_eq!(fresh.due_at(7, Some(100)), 107);
        assert_eq!(fresh.admin_due_at(7), 1007);
    }

    #[test]
    fn the_higher_generation_wins_then_services_then_the_node_named_first() {
        let side = |node, generation, services| Side {
            node,
            generation,
            services,
        };
        let wins = |a: &Side, b: &Side| (ours_wins(a, b), ours_wins(b, a));
        assert_eq!(
            wins(&side("beta", 5, 0), &side("alpha", 4, 3)),
            (Some(true), Some(false))
        );
        assert_eq!(
            wins(&side("alpha", 2, 0), &side("beta", 2, 0)),
            (Some(true), Some(false)),
            "neither has services: the node named first"
        );
        assert_eq!(
            wins(&side("beta", 2, 1), &side("alpha", 2, 0)),
            (Some(true), Some(false)),
            "the one with services"
        );
        assert_eq!(
            wins(&side("alpha", 2, 1), &side("beta", 2, 2)),
            (None, None),
            "both with services: a conflict"
        );
    }

    #[test]
    fn a_conflict_is_told_once_until_the_nodes_agree() {
        let mut s = Sending::default();
        assert!(s.conflict_is_new(4, 7));
        assert!(!s.conflict_is_new(4, 7));
        assert!(s.conflict_is_new(4, 8), "another content");
        s.agreed();
        assert!(s.conflict_is_new(4, 8));
    }
}
