//! The volume lock: a node's claim on a service's volumes, in its own lock block of the disk
//! link's device, alive while that node's beat counter keeps moving.
//!
//! - **Taking** (`havol mount`): read the other node's claim. Released, absent, or older than
//!   ours: free. Held: watch the other node's beat counter; if it moves, the lock is taken
//!   ("locked by"); if it stands still for the lease time, the lock ran out. Then write our
//!   claim with a higher epoch and read the other's claim again: if it claimed meanwhile, both
//!   withdraw (the two writes and reads are ordered on one device, so at least one of the
//!   two sees the other).
//! - **Renewing** is the beat: hahb-disk writes this node's beat block every interval while
//!   hasvrd lives. hasvrd stops a service with volumes once it has gone half a lease without
//!   a renewal, and fences the node if the volumes are not off before the lease runs out.
//! - **Releasing** (`havol umount`): our claim marked released.
//!
//! The lease is three times the disk link's `interval × maxmiss`: a node stops its services
//! after one of them without a renewal, fences itself at five sixths, and the other node
//! mounts after all three.

use super::device::Device;
use super::layout::{self, Beat, Claim, Locks, BLOCK};
use crate::config::{Config, Link, LinkKind};
use crate::error::{Error, Result};
use crate::paths::Home;
use std::time::{Duration, Instant};

/// The lease of a disk link, in milliseconds.
pub fn lease_of(link: &Link) -> u64 {
    3 * link.dead_after()
}

/// How long hasvrd's loop may stand still (frozen, blocked, deadlocked) before hamond
/// replaces it: 5 s, and less than half a volume lease where there is one, so that the new
/// hasvrd renews a frozen one's locks before the peer could take them.
pub fn freeze_limit(config: &Config) -> u64 {
    lock_link(config).map_or(5000, |l| (lease_of(l) / 2).clamp(400, 5000))
}

/// How often hamond pings hasvrd: four times within the freeze limit, and where volume
/// locks are at stake often enough that a frozen holder is found well within the sixth of
/// the lease that separates its fence from the peer's mount.
pub fn ping_period(config: &Config) -> u64 {
    let limit = freeze_limit(config) / 4;
    lock_link(config)
        .map_or(limit, |l| limit.min(lease_of(l) / 12))
        .max(50)
}

/// A frozen hasvrd holding volumes is fenced by hamond once its locks were last renewed
/// this long ago (when hasvrd itself would have fenced).
pub fn fence_after(link: &Link) -> u64 {
    lease_of(link) * 5 / 6
}

/// What hahb-disk saw of the other node's beat, for havol: "BOOT WRITER COUNTER SINCE", the
/// beat (writer, counter) unchanged on the disk since SINCE (`sys::boottime_millis`) of
/// machine boot BOOT. Written when the beat first stands still, so a takeover does not wait
/// the whole lease again after the links already waited part of it.
pub fn still_hint_path(home: &Home, link: &str) -> std::path::PathBuf {
    home.tmp().join(format!("disk-{link}.still"))
}

/// When an orphaned hahb-disk (`orphan`) last wrote this node's beat, renewing the locks:
/// "BOOT AT", AT a `sys::boottime_millis` of machine boot BOOT. hamond, had it stood still
/// meanwhile, would tell the next hasvrd an older renewal, and it would fence for nothing.
fn orphan_renewal_path(home: &Home, link: &str) -> std::path::PathBuf {
    home.tmp().join(format!("disk-{link}.renewed"))
}

/// Not synced: the orphan repeats the beat every 200 ms, and a local disk slow to sync must
/// not hold up the beat that keeps the peer from taking over (a torn or lost hint only costs
/// the next hasvrd the older renewal hamond heard).
pub fn write_orphan_renewal(home: &Home, link: &str, at: u64) {
    let text = format!("{} {at}\n", boot_id());
    let _ =
        crate::files::replace_unsynced(&orphan_renewal_path(home, link), text.as_bytes(), 0o600);
}

/// The orphan's last renewal, if one was written since this machine booted.
pub fn orphan_renewed_at(home: &Home, link: &str) -> Option<u64> {
    let text = crate::files::read_regular_text(&orphan_renewal_path(home, link), 256).ok()?;
    let (boot, at) = text.trim().split_once(' ')?;
    (boot == boot_id() && !boot.is_empty())
        .then(|| at.parse().ok())
        .flatten()
}

pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn write_still_hint(home: &Home, link: &str, writer: u64, counter: u64, since: u64) {
    let text = format!("{} {writer} {counter} {since}\n", boot_id());
    let _ = crate::files::write_atomic(&still_hint_path(home, link), text.as_bytes(), 0o600);
}

/// How long the other node's beat (writer, counter) has already stood still, per the hint.
fn already_still(home: &Home, link: &str, beat: Option<(u64, u64)>) -> Duration {
    let Some((writer, counter)) = beat else {
        return Duration::ZERO;
    };
    let Ok(text) = crate::files::read_regular_text(&still_hint_path(home, link), 256) else {
        return Duration::ZERO;
    };
    let w: Vec<&str> = text.split_whitespace().collect();
    match w.as_slice() {
        [boot, wr, co, since]
            if *boot == boot_id() && wr.parse() == Ok(writer) && co.parse() == Ok(counter) =>
        {
            let since: u64 = since.parse().unwrap_or(u64::MAX);
            Duration::from_millis(crate::sys::boottime_millis().saturating_sub(since))
        }
        _ => Duration::ZERO,
    }
}

/// The first disk link of a configuration: the one that holds the volume locks.
pub fn lock_link(config: &Config) -> Option<&Link> {
    config
        .links
        .iter()
        .find(|l| matches!(l.kind, LinkKind::Disk { .. }))
}

/// This node's view of a disk link: its device, and which slot is whose.
pub struct LeaseDisk {
    pub dev: Device,
    pub me: String,
    pub peer: String,
    my_slot: usize,
    peer_slot: usize,
    pub lease: Duration,
    home: Home,
    link: String,
}

/// What the other node says about a service's lock.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    Free,
    /// Held by the other node, whose beat was seen moving (or not watched yet).
    Peer {
        epoch: u32,
    },
    /// Held by this node.
    Me {
        epoch: u32,
    },
}

impl LeaseDisk {
    pub fn open(home: &Home, link: &Link) -> Result<LeaseDisk> {
        let LinkKind::Disk { device1, device2 } = &link.kind else {
            return Err(Error::config(format!(
                "link {}: not a disk link",
                link.name
            )));
        };
        let (dev, my_slot, peer) = if home.node == link.host1 {
            (device1, 0, &link.host2)
        } else if home.node == link.host2 {
            (device2, 1, &link.host1)
        } else {
            return Err(Error::config(format!(
                "link {}: node {} is neither host1 nor host2",
                link.name, home.node
            )));
        };
        let dev = Device::open(dev).map_err(|e| {
            Error::failed(format!("disk link {}: cannot open {dev}: {e}", link.name))
        })?;
        let d = LeaseDisk {
            dev,
            me: home.node.clone(),
            peer: peer.clone(),
            my_slot,
            peer_slot: 1 - my_slot,
            lease: Duration::from_millis(lease_of(link)),
            home: home.clone(),
            link: link.name.clone(),
        };
        d.check_header(&link.name)?;
        Ok(d)
    }

    fn check_header(&self, link: &str) -> Result<()> {
        let b = self.dev.read(0, BLOCK).map_err(|e| {
            Error::failed(format!("disk link {link}: reading {}: {e}", self.dev.path))
        })?;
        layout::decode_header(&b).map(|_| ()).map_err(|e| {
            Error::failed(format!(
                "disk link {link}: {} is not a SureHA disk ({e}); run: havol init {}",
                self.dev.path, self.dev.path
            ))
        })
    }

    fn read_locks(&self, slot: usize) -> Result<Locks> {
        let b = self
            .dev
            .read(layout::lock_offset(slot), BLOCK)
            .map_err(|e| {
                Error::failed(format!("reading the lock table on {}: {e}", self.dev.path))
            })?;
        match Locks::decode(&b) {
            Ok(l) => Ok(l),
            Err(layout::BadBlock::Empty) => Ok(Locks::default()),
            Err(e) => Err(Error::failed(format!(
                "the lock table of {} on {} is {e}",
                if slot == self.my_slot {
                    &self.me
                } else {
                    &self.peer
                },
                self.dev.path
            ))),
        }
    }

    /// The other node's beat (writer, counter), if readable.
    fn peer_beat(&self) -> Option<(u64, u64)> {
        let b = self
            .dev
            .read(layout::beat_offset(self.peer_slot), BLOCK)
            .ok()?;
        Beat::decode(&b).ok().map(|b| (b.writer, b.counter))
    }

    /// The other node's last beat on the disk says it left with QUIT, its services (and
    /// their volumes) still on: its locks do not run out while that word stands, since
    /// nobody there renews them yet they are in use.
    fn peer_left_keeping(&self) -> bool {
        let Some(beat) = self
            .dev
            .read(layout::beat_offset(self.peer_slot), BLOCK)
            .ok()
            .and_then(|b| Beat::decode(&b).ok())
        else {
            return false;
        };
        // Its last beat, not its last frame: a report or a key step may follow the QUIT beat.
        let mut entries: Vec<(usize, layout::Entry)> = beat
            .entries
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, e)| e.number > 0)
            .collect();
        entries.sort_by_key(|(_, e)| std::cmp::Reverse(e.number));
        let key = crate::authkey::load_key(&self.home).ok();
        let wire = crate::frame::Wire::new(key.as_deref());
        for (i, e) in entries {
            let Ok(data) = self
                .dev
                .read(layout::entry_offset(self.peer_slot, i), e.len as usize)
            else {
                return false;
            };
            if crate::frame::crc32(&data) != e.crc {
                continue;
            }
            let Ok(f) = wire.check(&data) else { continue };
            if f.payload.first() == Some(&crate::frame::BEAT_KIND) {
                return crate::frame::says_keeping(&f.payload);
            }
        }
        false
    }

    /// Who holds the service's lock, from one read of both lock blocks (no watching).
    pub fn holder(&self, service: &str) -> Result<Holder> {
        let mine = self.read_locks(self.my_slot)?;
        let theirs = self.read_locks(self.peer_slot)?;
        Ok(judge(&mine, &theirs, service))
    }

    /// Takes the service's lock, waiting up to the lease for a silent holder's lease to run
    /// out. Returns the epoch.
    pub fn acquire(&self, service: &str, say: &mut dyn FnMut(&str)) -> Result<u32> {
        let _local = self.local_lock()?;
        let mine = self.read_locks(self.my_slot)?;
        let mut theirs = self.read_locks(self.peer_slot)?;
        if let Holder::Peer { epoch } = judge(&mine, &theirs, service) {
            if self.peer_left_keeping() {
                return Err(Error::failed(format!(
                    "service {service}: the volume is locked by {} (epoch {epoch}), which left with its services running (QUIT): its lock stands until its SureHA is back, or until the volume is unmounted there (havol umount releases it); not mounting it here",
                    self.peer
                )));
            }
            say(&format!(
                "service {service}: its volume lock is held by {} (epoch {epoch}); waiting up to {} for that lease to run out",
                self.peer,
                crate::clock::human(self.lease.as_millis() as u64)
            ));
            let first = self.peer_beat();
            let already = already_still(&self.home, &self.link, first);
            if !already.is_zero() {
                say(&format!(
                    "service {service}: {}'s heartbeat on the disk has stood still for {} already",
                    self.peer,
                    crate::clock::human(already.as_millis() as u64)
                ));
            }
            let since = Instant::now() - already.min(self.lease);
            loop {
                std::thread::sleep(Duration::from_millis(
                    (self.lease.as_millis() as u64 / 20).clamp(10, 200),
                ));
                theirs = self.read_locks(self.peer_slot)?;
                if !matches!(judge(&mine, &theirs, service), Holder::Peer { .. }) {
                    break;
                }
                let now_beat = self.peer_beat();
                if now_beat.is_some() && now_beat != first {
                    return Err(Error::failed(format!(
                        "service {service}: the volume is locked by {} (epoch {epoch}), which is alive on the disk link; not mounting it here",
                        self.peer
                    )));
                }
                if since.elapsed() >= self.lease {
                    say(&format!(
                        "service {service}: the volume lock of {} ran out ({} without a beat on {}); taking it",
                        self.peer,
                        crate::clock::human(self.lease.as_millis() as u64),
                        self.dev.path
                    ));
                    break;
                }
            }
        }
        let epoch = mine
            .claim(service)
            .map_or(0, |c| c.epoch)
            .max(theirs.claim(service).map_or(0, |c| c.epoch))
            .wrapping_add(1)
            .max(1);
        let before = theirs.claim(service).cloned();
        let mut updated = mine.clone();
        set_claim(&mut updated, &self.me, service, epoch, true);
        self.write_locks(&updated)?;
        // Did the other node claim it while we did?
        let after = self.read_locks(self.peer_slot)?;
        let now = after.claim(service);
        if now.is_some_and(|c| c.held) && now != before.as_ref() {
            set_claim(&mut updated, &self.me, service, epoch, false);
            let _ = self.write_locks(&updated);
            return Err(Error::failed(format!(
                "service {service}: {} took the volume lock at the same moment; not mounting it here",
                self.peer
            )));
        }
        Ok(epoch)
    }

    /// Marks our claim released (nothing to do when we hold none).
    pub fn release(&self, service: &str) -> Result<()> {
        let _local = self.local_lock()?;
        let mut mine = self.read_locks(self.my_slot)?;
        let Some(c) = mine.claim(service) else {
            return Ok(());
        };
        if !c.held {
            return Ok(());
        }
        let epoch = c.epoch;
        set_claim(&mut mine, &self.me, service, epoch, false);
        self.write_locks(&mine)
    }

    fn write_locks(&self, locks: &Locks) -> Result<()> {
        let b = locks.encode().map_err(Error::failed)?;
        self.dev
            .write(layout::lock_offset(self.my_slot), &b)
            .map_err(|e| Error::failed(format!("writing the lock table on {}: {e}", self.dev.path)))
    }

    /// Two havol runs of this node (two services starting) must not interleave their
    /// read-modify-write of our lock block.
    fn local_lock(&self) -> Result<std::fs::File> {
        let path = self.home.tmp().join("volume-locks");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::failed(format!("cannot open {}: {e}", path.display())))?;
        crate::sys::lock_wait(&f)
            .map_err(|e| Error::failed(format!("cannot lock {}: {e}", path.display())))?;
        Ok(f)
    }
}

fn set_claim(locks: &mut Locks, me: &str, service: &str, epoch: u32, held: bool) {
    locks.node = me.to_string();
    match locks.claims.iter_mut().find(|c| c.service == service) {
        Some(c) => {
            c.epoch = epoch;
            c.held = held;
        }
        None => locks.claims.push(Claim {
            service: service.to_string(),
            epoch,
            held,
        }),
    }
    // Released claims of long ago make room for new ones.
    while locks.claims.len() > layout::MAX_LOCKS {
        match locks.claims.iter().position(|c| !c.held) {
            Some(i) => {
                locks.claims.remove(i);
            }
            None => break,
        }
    }
}

/// Who holds a lock, from both lock blocks: a held claim counts unless the other side holds
/// one with a higher epoch (it took the lock after this one ran out).
pub fn judge(mine: &Locks, theirs: &Locks, service: &str) -> Holder {
    let m = mine.claim(service).filter(|c| c.held);
    let t = theirs.claim(service).filter(|c| c.held);
    match (m, t) {
        (Some(m), Some(t)) if m.epoch >= t.epoch => Holder::Me { epoch: m.epoch },
        (_, Some(t)) => Holder::Peer { epoch: t.epoch },
        (Some(m), None) => Holder::Me { epoch: m.epoch },
        (None, None) => Holder::Free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks(node: &str, claims: &[(&str, u32, bool)]) -> Locks {
        Locks {
            node: node.into(),
            claims: claims
                .iter()
                .map(|(s, e, h)| Claim {
                    service: s.to_string(),
                    epoch: *e,
                    held: *h,
                })
                .collect(),
        }
    }

    #[test]
    fn the_newer_claim_wins_and_a_released_one_counts_for_nothing() {
        let none = Locks::default();
        assert_eq!(judge(&none, &none, "db"), Holder::Free);
        let a = locks("a", &[("db", 3, true)]);
        let b_old = locks("b", &[("db", 2, true)]);
        let b_new = locks("b", &[("db", 4, true)]);
        let b_rel = locks("b", &[("db", 9, false)]);
        assert_eq!(judge(&a, &b_old, "db"), Holder::Me { epoch: 3 });
        assert_eq!(judge(&a, &b_new, "db"), Holder::Peer { epoch: 4 });
        assert_eq!(judge(&none, &b_new, "db"), Holder::Peer { epoch: 4 });
        assert_eq!(judge(&none, &b_rel, "db"), Holder::Free);
        assert_eq!(judge(&a, &b_new, "web"), Holder::Free);
    }
}
