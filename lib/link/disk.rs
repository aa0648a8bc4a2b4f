//! hahb-disk: the heartbeat link over a shared disk. Every frame hasvrd gives it goes into a
//! frame entry of this node's slot, then the beat block (counter one higher) says so; the
//! other node's beat block is read every half interval, and frames it has not passed up yet
//! are read, checked like any frame, and passed up. Each beat block written is also the
//! renewal of this node's volume locks: hasvrd is told (`RENEWED`) so it can stop services
//! before a lease it cannot renew runs out.
//!
//! Writes follow hasvrd's frames only: a node whose hasvrd hangs stops renewing its locks.

use super::orphan::Orphan;
use super::transport::{self, Transport, Turn};
use super::{Given, RENEWED};
use crate::authkey::load_keys;
use crate::config::{Link, LinkKind};
use crate::disk::device::Device;
use crate::disk::layout::{self, Beat, Entry, BLOCK};
use crate::disk::{lease, slot};
use crate::error::{Error, Result};
use crate::frame::{Bad, Opened, ReplayGuard, Wire};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys::{self, PollSet};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The device and slots of a disk link as this node sees them.
pub fn ends(link: &Link, node: &str) -> Result<(String, usize, String)> {
    let LinkKind::Disk { device1, device2 } = &link.kind else {
        return Err(Error::config(format!(
            "link {}: not a disk link",
            link.name
        )));
    };
    if node == link.host1 {
        Ok((device1.clone(), 0, link.host2.clone()))
    } else if node == link.host2 {
        Ok((device2.clone(), 1, link.host1.clone()))
    } else {
        Err(Error::config(format!(
            "link {}: node {node} is neither host1 nor host2",
            link.name
        )))
    }
}

/// What we remember of the other node's slot.
#[derive(Default)]
struct PeerSlot {
    /// (writer, counter) of the last beat block read.
    seen: Option<(u64, u64)>,
    /// The highest frame number of that writer already handled.
    delivered: u64,
    /// When that beat was first read (`sys::boottime_millis`), and whether havol has been
    /// told it stands still.
    first_seen: u64,
    told_still: bool,
    /// The last read found the same beat as the one before.
    unchanged: bool,
}

pub fn run_disk(home: &Home, link: &Link) -> Result<()> {
    let (path, my_slot, peer) = ends(link, &home.node)?;
    let log = Logger::new(home.log(), &home.node, "hahb-disk");
    let (key, also) = load_keys(home)?;
    let wire = Wire::with_keys(Some(&key), &also);
    let disk = Disk {
        home,
        name: link.name.clone(),
        interval: link.interval,
        path,
        my_slot,
        peer,
        key,
        beat: Beat {
            node: home.node.clone(),
            writer: sys::random_u64(),
            counter: 0,
            entries: Default::default(),
        },
        number: 0,
        last_beat: None,
        write_error: None,
        read_error: None,
        open_failed: false,
        slot: PeerSlot::default(),
        read_every: Duration::from_millis((link.interval / 2).clamp(20, 1000)),
        next_read: Instant::now(),
    };
    // No relay: a disk link writes what hasvrd gives it, the standing beat once like any
    // frame. Its writes renew the volume locks, so they follow hasvrd's own beats.
    transport::run(home, &link.name, disk, wire, None, log)
}

/// This node's slot and the peer's on a shared disk, and what was written and read.
struct Disk<'a> {
    home: &'a Home,
    name: String,
    interval: u64,
    path: String,
    my_slot: usize,
    peer: String,
    key: Vec<u8>,
    beat: Beat,
    number: u64,
    /// The last beat hasvrd gave (it says whether hasvrd leaves on purpose).
    last_beat: Option<Vec<u8>>,
    write_error: Option<String>,
    read_error: Option<String>,
    /// An open failed since the device was last open (its return is then said).
    open_failed: bool,
    slot: PeerSlot,
    read_every: Duration,
    next_read: Instant,
}

impl Transport for Disk<'_> {
    type Medium = Device;

    fn open(&mut self) -> std::result::Result<Device, String> {
        let opened = open_checked(&self.path);
        self.open_failed |= opened.is_err();
        opened
    }

    fn opened(&mut self, _: &Device) -> Option<String> {
        // Opened again after an I/O error, with no failed open between: that was said
        // already (and is again with the next write or read).
        let failed = std::mem::take(&mut self.open_failed);
        if !failed && (self.write_error.is_some() || self.read_error.is_some()) {
            return None;
        }
        Some(format!(
            "{} open, slot {}; the peer {} writes slot {}",
            self.path,
            self.my_slot,
            self.peer,
            1 - self.my_slot
        ))
    }

    fn fd(_: &Device) -> Option<RawFd> {
        None
    }

    fn wake(&self, dev: Option<&Device>) -> Option<Instant> {
        dev.map(|_| self.next_read)
    }

    fn given(&mut self, frames: &[Given]) {
        if let Some((_, f)) = frames.iter().rev().find(|(standing, _)| *standing) {
            self.last_beat = Some(f.clone());
        }
    }

    fn send(&mut self, dev: &mut Device, frames: &[Vec<u8>], turn: &mut Turn) -> Result<bool> {
        let (name, path) = (&self.name, &self.path);
        let started = Instant::now();
        match slot::write_frames(dev, self.my_slot, &mut self.beat, &mut self.number, frames) {
            Ok(()) => {
                let took = started.elapsed().as_millis();
                turn.up.write(RENEWED, took.to_string().as_bytes())?;
                if self.write_error.take().is_some() {
                    turn.log.info(&format!(
                        "link {name}: writing {path} again; volume locks renewed"
                    ));
                }
                Ok(true)
            }
            Err(e) => {
                turn.counters.txerr += 1;
                let msg = e.to_string();
                if self.write_error.as_deref() != Some(msg.as_str()) {
                    turn.log.error(&format!(
                        "link {name}: cannot write {path}: {msg}; this node's volume locks are not renewed"
                    ));
                    self.write_error = Some(msg);
                }
                // Opened afresh: the device may have been replaced.
                Ok(false)
            }
        }
    }

    fn receive(
        &mut self,
        dev: &mut Device,
        _: &PollSet,
        turn: &mut Turn,
    ) -> Result<(Vec<Opened>, bool)> {
        let mut opened = Vec::new();
        if Instant::now() < self.next_read {
            return Ok((opened, true));
        }
        self.next_read = Instant::now() + self.read_every;
        let (name, path) = (&self.name, &self.path);
        let peer_slot = 1 - self.my_slot;
        match read_peer(
            dev,
            peer_slot,
            &self.peer,
            &mut self.slot,
            turn.wire,
            turn.guard,
        ) {
            Ok(got) => {
                // Told once, when the beat has missed two intervals: a live peer's beat
                // moves every interval, so this costs nothing at rest.
                let slot = &mut self.slot;
                let still = sys::boottime_millis().saturating_sub(slot.first_seen);
                if let (true, false, Some((w, c)), true) = (
                    slot.unchanged,
                    slot.told_still,
                    slot.seen,
                    still >= 2 * self.interval,
                ) {
                    slot.told_still = true;
                    lease::write_still_hint(self.home, name, w, c, slot.first_seen);
                }
                if self.read_error.take().is_some() {
                    turn.log.info(&format!("link {name}: reading {path} again"));
                }
                for f in got {
                    match f {
                        Ok(frame) => opened.push(frame),
                        Err(Some(bad)) => turn.counters.count(bad),
                        Err(None) => turn.counters.foreign += 1,
                    }
                }
                Ok((opened, true))
            }
            Err(e) => {
                turn.counters.count(Bad::Malformed);
                let msg = e.to_string();
                if self.read_error.as_deref() != Some(msg.as_str()) {
                    turn.log
                        .warning(&format!("link {name}: cannot read {path}: {msg}"));
                    self.read_error = Some(msg);
                }
                Ok((opened, false))
            }
        }
    }

    fn hasvrd_gone(&mut self, dev: Option<&mut Device>, turn: &mut Turn) {
        // Left on purpose (stopped, or QUIT), its last beat (written already) says so; died,
        // this node is guarded until hamond's next hasvrd takes the slot (`orphan`).
        if let (Some(d), Some(last)) = (dev, self.last_beat.take()) {
            let mut orphan = Orphan {
                home: self.home,
                link: &self.name,
                dev: d,
                slot: self.my_slot,
                beat: &mut self.beat,
                number: &mut self.number,
                wire: turn.wire,
                key: &self.key,
            };
            orphan.guard(&last, turn.log, &self.name);
        }
    }
}

fn open_checked(path: &str) -> std::result::Result<Device, String> {
    let d = Device::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let h = d
        .read(0, BLOCK)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    layout::decode_header(&h)
        .map_err(|e| format!("{path} is not a SureHA disk ({e}); run: havol init {path}"))?;
    Ok(d)
}

/// The peer's new frames: `Err(Some(bad))` a frame that failed its checks, `Err(None)` a
/// slot written by another node than the peer.
type Got = std::result::Result<crate::frame::Opened, Option<Bad>>;

fn read_peer(
    d: &Device,
    slot: usize,
    peer: &str,
    seen: &mut PeerSlot,
    wire: &mut Wire,
    guard: &mut ReplayGuard,
) -> std::io::Result<Vec<Got>> {
    let b = d.read(layout::beat_offset(slot), BLOCK)?;
    let beat = match Beat::decode(&b) {
        Ok(beat) => beat,
        Err(layout::BadBlock::Empty) => return Ok(vec![]),
        Err(_) => return Ok(vec![Err(Some(Bad::Malformed))]),
    };
    let id = (beat.writer, beat.counter);
    seen.unchanged = seen.seen == Some(id);
    if seen.unchanged {
        return Ok(vec![]);
    }
    seen.first_seen = sys::boottime_millis();
    seen.told_still = false;
    if beat.node != peer {
        seen.seen = Some(id);
        return Ok(vec![Err(None)]);
    }
    let first_look = seen.seen.is_none();
    if seen.seen.map(|s| s.0) != Some(beat.writer) {
        seen.delivered = 0;
    }
    seen.seen = Some(id);
    let mut entries: Vec<(usize, Entry)> = beat
        .entries
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, e)| e.number > seen.delivered)
        .collect();
    entries.sort_by_key(|(_, e)| e.number);
    if first_look {
        // Frames written before we looked may be a dead peer's last words: only what it
        // writes from now on counts. Except a last beat that says it left with QUIT, its
        // services (and their volumes) still on: that stands until it writes again, or a
        // node starting meanwhile would take its volumes once the locks ran out.
        // Its last beat, not its last frame: a report or a key step may follow the QUIT beat.
        seen.delivered = entries.last().map_or(0, |(_, e)| e.number);
        for (i, e) in entries.iter().rev() {
            let data = d.read(layout::entry_offset(slot, *i), e.len as usize)?;
            if crate::frame::crc32(&data) != e.crc {
                continue;
            }
            let Ok(f) = wire.check(&data) else { continue };
            if f.payload.first() != Some(&crate::frame::BEAT_KIND) {
                continue;
            }
            if !crate::frame::says_keeping(&f.payload) {
                break;
            }
            return Ok(wire.accept(&data, guard).ok().map(Ok).into_iter().collect());
        }
        return Ok(vec![]);
    }
    let mut got = Vec::new();
    for (i, e) in entries {
        seen.delivered = e.number;
        let data = d.read(layout::entry_offset(slot, i), e.len as usize)?;
        // Overwritten since the beat block was read: this one is lost, the next beat follows.
        if crate::frame::crc32(&data) != e.crc {
            continue;
        }
        got.push(wire.accept(&data, guard).map_err(Some));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{self, Message};

    fn beat(keeping: bool) -> Vec<u8> {
        Message::Beat(frame::Beat {
            sender: "beta".into(),
            generation: 1,
            digest: 7,
            hears_you: false,
            leaving: false,
            keeping,
            services: vec![],
            nics: vec![],
            disks: vec![],
            admin: (0, String::new()),
            heard: 0,
        })
        .encode()
    }

    fn report() -> Vec<u8> {
        Message::Report {
            sender: "beta".into(),
            text: "READY s0 yes".into(),
        }
        .encode()
    }

    /// What a starting hahb-disk passes up from the peer's slot holding `payloads`.
    fn first_look(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let path = std::env::temp_dir().join(format!(
            "sureha-first-look-{}-{}",
            std::process::id(),
            sys::random_u64()
        ));
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(layout::entry_offset(2, 0)).unwrap();
        let d = Device::open(path.to_str().unwrap()).unwrap();
        let frames: Vec<Vec<u8>> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| frame::seal(None, 9, (i as u64 + 1) << 20, p).unwrap())
            .collect();
        let mut block = Beat {
            node: "beta".into(),
            writer: 1,
            counter: 0,
            entries: Default::default(),
        };
        crate::disk::slot::write_frames(&d, 1, &mut block, &mut 0, &frames).unwrap();
        let got = read_peer(
            &d,
            1,
            "beta",
            &mut PeerSlot::default(),
            &mut Wire::new(None),
            &mut ReplayGuard::default(),
        )
        .unwrap();
        let _ = std::fs::remove_file(&path);
        got.into_iter().map(|g| g.unwrap().payload).collect()
    }

    #[test]
    fn a_starting_reader_takes_the_peers_quit_beat_even_with_frames_after_it() {
        // Nothing but a QUIT beat stands: an ordinary last beat is a dead peer's word.
        assert!(first_look(&[beat(false)]).is_empty());
        assert_eq!(first_look(&[beat(true)]), vec![beat(true)]);
        // A report (or a key step) written after the QUIT beat does not hide it.
        assert_eq!(
            first_look(&[beat(false), beat(true), report(), report()]),
            vec![beat(true)]
        );
        // A newer ordinary beat does: the peer wrote again after its QUIT.
        assert!(first_look(&[beat(true), beat(false), report()]).is_empty());
    }
}
