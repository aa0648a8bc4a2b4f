//! Each link as the engine sees it: when the peer was last heard on it, its timing, and its
//! link process's counters. A link is up while frames arrive (silent for `interval ×
//! maxmiss`: down); a relaying one is watched only once its process says the peer is late.

use crate::clock::Millis;
use crate::config::Config;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub(super) struct LinkView {
    pub last_rx: Option<Millis>,
    pub next_beat: Millis,
    pub interval: Millis,
    pub dead_after: Millis,
    /// No frame for this long: the peer is late on this link (its process says so).
    pub late_after: Millis,
    /// Its process repeats the standing beat and says when the peer is late (socket and
    /// serial links); a disk link gets every beat from the engine.
    pub relays: bool,
    /// Its process said the peer is late, and no newer frame came since. The process says
    /// it once; after a stall of hasvrd this engine's own reckoning of the link's last frame
    /// is later than the process's (`Engine::stalled`), so it is the word that counts.
    pub late_said: bool,
    pub priority: u32,
    pub stats: String,
    pub was_up: bool,
    /// An RS-232 line: bulky messages go in pieces.
    pub serial: bool,
    /// The peer was judged down at this time (`carrier`): frames up to then do not count.
    pub cut_at: Option<Millis>,
    /// Frames whose tag did not check out, as its process counts them, and when the count
    /// last grew: a peer whose authkey differs is alive but unreadable.
    pub tag_failures: u64,
    pub unreadable_at: Option<Millis>,
}

impl LinkView {
    /// Until when frames that failed their tag say the peer is alive: the link's silence
    /// limit after the count last grew, and a second more (a link process reports its
    /// counters at most twice a second).
    pub fn unreadable_until(&self) -> Option<Millis> {
        self.unreadable_at.map(|t| t + self.dead_after + 1000)
    }

    /// A frame came within the silence limit (and after the peer was judged down, if it was).
    pub fn alive(&self, now: Millis) -> bool {
        self.heard_within(now, self.dead_after)
    }

    pub fn heard_within(&self, now: Millis, limit: Millis) -> bool {
        self.last_rx
            .is_some_and(|t| now.saturating_sub(t) < limit && self.cut_at.is_none_or(|c| t > c))
    }
}

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
                    late_after: l.interval + l.interval / 2,
                    relays: l.type_name() != "disk",
                    late_said: false,
                    priority: l.priority,
                    stats: String::new(),
                    was_up: false,
                    serial: l.type_name() == "rs232",
                    cut_at: None,
                    tag_failures: 0,
                    unreadable_at: None,
                },
            )
        })
        .collect()
}
