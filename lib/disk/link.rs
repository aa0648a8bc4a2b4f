//! hahb-disk: the heartbeat link over a shared disk. Every frame hasvrd gives it goes into a
//! frame entry of this node's slot, then the beat block (counter one higher) says so; the
//! other node's beat block is read every half interval, and frames it has not passed up yet
//! are read, checked like any frame, and passed up. Each beat block written is also the
//! renewal of this node's volume locks: hasvrd is told (`RENEWED`) so it can stop services
//! before a lease it cannot renew runs out.
//!
//! Writes follow hasvrd's frames only: a node whose hasvrd hangs stops renewing its locks.

use super::device::Device;
use super::layout::{self, Beat, Entry, BLOCK};
use crate::config::{Link, LinkKind};
use crate::error::{Error, Result};
use crate::frame::{Bad, ReplayGuard, Wire};
use crate::link::{load_keys, tell_version, Counters, Upstream, RENEWED};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys;
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

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok()
    {
        return u64::from_be_bytes(b);
    }
    crate::clock::unix_millis() ^ (u64::from(sys::getpid()) << 40)
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
    let peer_slot = 1 - my_slot;
    let name = &link.name;
    let mut log = Logger::new(home.log(), &home.node, "hahb-disk");
    let (key, also) = load_keys(home)?;
    let mut wire = Wire::with_keys(Some(&key), &also);
    let mut up = Upstream::new(name)?;
    let mut dev: Option<Device> = None;
    let mut open_error: Option<String> = None;
    let mut next_open = Instant::now();
    let mut beat = Beat {
        node: home.node.clone(),
        writer: random_u64(),
        counter: 0,
        entries: Default::default(),
    };
    let mut number = 0u64;
    // The last beat hasvrd gave (it says whether hasvrd leaves on purpose).
    let mut last_beat: Option<Vec<u8>> = None;
    let mut write_error: Option<String> = None;
    let mut read_error: Option<String> = None;
    let mut slot = PeerSlot::default();
    let mut guard = ReplayGuard::default();
    let mut counters = Counters::default();
    let read_every = Duration::from_millis((link.interval / 2).clamp(20, 1000));
    let mut next_read = Instant::now();
    let mut buf = vec![0u8; 70_000];
    loop {
        if dev.is_none() && Instant::now() >= next_open {
            match open_checked(&path) {
                Ok(d) => {
                    if open_error.is_none() && (write_error.is_some() || read_error.is_some()) {
                        // Reopened after an I/O error: said once already.
                    } else {
                        log.info(&format!(
                        "link {name}: {path} open, slot {my_slot}; the peer {peer} writes slot {peer_slot}"
                    ));
                    }
                    open_error = None;
                    dev = Some(d);
                }
                Err(msg) => {
                    if open_error.as_deref() != Some(msg.as_str()) {
                        log.warning(&format!("link {name}: {msg}; retrying every second"));
                        open_error = Some(msg);
                    }
                    next_open = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        let mut set = sys::PollSet::default();
        set.read(up.fd());
        let wait = if dev.is_some() {
            next_read.saturating_duration_since(Instant::now())
        } else {
            Duration::from_secs(1)
        };
        let _ = set.wait(wait.as_millis().min(1000) as i32);
        // A disk link writes what hasvrd gives it, the standing beat once like any frame: its
        // writes renew the volume locks, so they follow hasvrd's own beats.
        let (frames, closed) = up.frames(&mut log, &mut buf)?;
        crate::link::reload_keys(&mut up, home, &mut wire, None, &mut log, name);
        if let Some((_, f)) = frames.iter().rev().find(|(standing, _)| *standing) {
            last_beat = Some(f.clone());
        }
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .filter_map(|(_, f)| wire.outgoing(&f))
            .collect();
        let mut reopen = false;
        if !frames.is_empty() {
            match &dev {
                Some(d) => {
                    let started = Instant::now();
                    match super::slot::write_frames(d, my_slot, &mut beat, &mut number, &frames) {
                        Ok(()) => {
                            let took = started.elapsed().as_millis();
                            up.write(RENEWED, took.to_string().as_bytes())?;
                            if write_error.take().is_some() {
                                log.info(&format!(
                                    "link {name}: writing {path} again; volume locks renewed"
                                ));
                            }
                        }
                        Err(e) => {
                            counters.txerr += 1;
                            let msg = e.to_string();
                            if write_error.as_deref() != Some(msg.as_str()) {
                                log.error(&format!("link {name}: cannot write {path}: {msg}; this node's volume locks are not renewed"));
                                write_error = Some(msg);
                            }
                            // Opened afresh in a second: the device may have been replaced.
                            reopen = true;
                        }
                    }
                }
                None => counters.txerr += frames.len() as u64,
            }
        }
        if closed {
            // hasvrd is gone. Left on purpose (stopped, or QUIT), its last beat (written
            // above) says so; died, this node is guarded until hamond's next hasvrd takes
            // the slot (`orphan`).
            if let (Some(d), Some(last)) = (&dev, last_beat) {
                let mut orphan = super::orphan::Orphan {
                    home,
                    link: name,
                    dev: d,
                    slot: my_slot,
                    beat: &mut beat,
                    number: &mut number,
                    wire: &wire,
                    key: &key,
                };
                orphan.guard(&last, &mut log, name);
            }
            return Ok(());
        }
        if let Some(d) = &dev {
            if Instant::now() >= next_read {
                next_read = Instant::now() + read_every;
                match read_peer(d, peer_slot, &peer, &mut slot, &mut wire, &mut guard) {
                    Ok(got) => {
                        // Told once, when the beat has missed two intervals: a live peer's
                        // beat moves every interval, so this costs nothing at rest.
                        let still = sys::boottime_millis().saturating_sub(slot.first_seen);
                        if let (true, false, Some((w, c)), true) = (
                            slot.unchanged,
                            slot.told_still,
                            slot.seen,
                            still >= 2 * link.interval,
                        ) {
                            slot.told_still = true;
                            crate::disk::lease::write_still_hint(home, name, w, c, slot.first_seen);
                        }
                        if read_error.take().is_some() {
                            log.info(&format!("link {name}: reading {path} again"));
                        }
                        for f in got {
                            match f {
                                Ok(frame) => {
                                    counters.rx += 1;
                                    up.deliver(&frame)?;
                                }
                                Err(Some(bad)) => counters.count(bad),
                                Err(None) => counters.foreign += 1,
                            }
                        }
                    }
                    Err(e) => {
                        counters.count(Bad::Malformed);
                        let msg = e.to_string();
                        if read_error.as_deref() != Some(msg.as_str()) {
                            log.warning(&format!("link {name}: cannot read {path}: {msg}"));
                            read_error = Some(msg);
                        }
                        reopen = true;
                    }
                }
            }
        }
        tell_version(&mut wire, &mut counters, &mut log, name);
        if reopen {
            dev = None;
            next_open = Instant::now() + Duration::from_secs(1);
        }
        up.report(&counters, &mut log)?;
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
            random_u64()
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
