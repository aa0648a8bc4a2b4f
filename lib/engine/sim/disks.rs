//! The shared disk of a simulated pair, when the configuration has a disk link: each node's
//! path to the lease device (which the faults cut), its claims on services' volumes, its
//! last heartbeat on the disk, and what it has mounted. `havol` is played as it works: a
//! mount takes the lock when it is free, released, ours, or once the holder's heartbeat has
//! stood still for the lease (the earliest the real one could: counted from the holder's
//! last write); it fails when the holder's heartbeat moves or the device cannot be read. A
//! fence reboots the node. A volume device's data path can fail or hang. Invariant 7: a
//! volume is never mounted on both nodes.

use super::{Sim, NAMES};
use crate::clock::Millis;
use crate::engine::{Input, Step};
use std::collections::BTreeMap;
#[derive(Default)]
pub struct DiskWorld {
    /// The disk link's name and the lease, when there is one.
    pub link: Option<(String, Millis)>,
    pub path_ok: [bool; 2],
    claims: [BTreeMap<String, (u32, bool)>; 2],
    renewed: [Option<Millis>; 2],
    /// Volumes mounted, per node and service.
    mounted: [BTreeMap<String, usize>; 2],
    /// Mounts under way: node, task, service, when havol began, when its step is done.
    pending: Vec<(usize, u64, String, Millis, Millis)>,
    /// Unmount steps under way: (node, task) → service.
    pub umounts: BTreeMap<(usize, u64), String>,
    /// Volume devices whose data path is bad, per node: failing reads, or a read that
    /// hangs since then.
    data: [BTreeMap<String, DataFault>; 2],
    /// When a node's data path watch reports next (a read turning into a hung one).
    data_reports: Vec<(Millis, usize)>,
    /// The last frame each node wrote in its slot (what a hahb-disk that had looked before
    /// reads on from), and its last beat (what a starting one and a lock's taker judge).
    slot: [Option<(u64, u64, Vec<u8>)>; 2],
    slot_beat: [Option<(u64, u64, Vec<u8>)>; 2],
    /// Frames written after that beat: past `layout::ENTRIES - 1` the ring has lost it.
    after_beat: [usize; 2],
    /// Each node's hahb-disk has read the peer's slot since it started.
    pub(super) looked: [bool; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFault {
    Fails,
    HangsSince(Millis),
}

impl DiskWorld {
    pub fn of(config: &crate::config::Config) -> DiskWorld {
        DiskWorld {
            link: crate::disk::lease::lock_link(config)
                .map(|l| (l.name.clone(), crate::disk::lease::lease_of(l))),
            path_ok: [true, true],
            ..DiskWorld::default()
        }
    }

    /// Node `n`'s last beat, if its slot's ring still holds it.
    fn last_beat(&self, n: usize) -> Option<&(u64, u64, Vec<u8>)> {
        self.slot_beat[n]
            .as_ref()
            .filter(|_| self.after_beat[n] < crate::disk::layout::ENTRIES)
    }

    fn holder(&self, n: usize, svc: &str) -> Option<u32> {
        let mine = self.claims[n].get(svc).filter(|c| c.1).map(|c| c.0);
        let theirs = self.claims[1 - n].get(svc).filter(|c| c.1).map(|c| c.0);
        match (mine, theirs) {
            (Some(m), Some(t)) if m >= t => None,
            (_, t) => t,
        }
    }

    fn take(&mut self, n: usize, svc: &str) {
        let epoch = [0, 1]
            .iter()
            .filter_map(|&m| self.claims[m].get(svc).map(|c| c.0))
            .max()
            .unwrap_or(0)
            + 1;
        self.claims[n].insert(svc.to_string(), (epoch, true));
    }
}

impl Sim {
    /// A frame written on the disk link by node `n`: its lease renewed, the peer reads it.
    pub(super) fn disk_send(&mut self, n: usize, payload: Vec<u8>) {
        let Some((link, _)) = self.disk.link.clone() else {
            return;
        };
        if !self.hosts[n].up || !self.disk.path_ok[n] {
            return;
        }
        self.disk.renewed[n] = Some(self.now);
        self.seq[n] += crate::frame::SEQ_STRIDE;
        let seq = self.seq[n];
        self.disk.slot[n] = Some((self.boot[n], seq, payload.clone()));
        if payload.first() == Some(&crate::frame::BEAT_KIND) {
            self.disk.slot_beat[n] = Some((self.boot[n], seq, payload.clone()));
            self.disk.after_beat[n] = 0;
        } else {
            self.disk.after_beat[n] += 1;
        }

        if self.disk.path_ok[1 - n] {
            // Read at the peer's next look at the disk.
            let delay = match &mut self.rng {
                Some(r) => 1 + r.below(100),
                None => 50,
            };
            self.wire.push((
                self.now + delay,
                1 - n,
                link.clone(),
                self.boot[n],
                seq,
                payload,
            ));
        }
        self.feed(n, Input::LeaseRenewed { link, took: 0 });
    }

    /// A mount or unmount step of a service with volumes, played against the disk.
    /// Returns false when the step is not one (the caller plays it as any step).
    pub(super) fn disk_step(
        &mut self,
        n: usize,
        task: u64,
        svc: &str,
        step: Step,
        done_at: Millis,
        result: &Result<(), String>,
    ) -> bool {
        match step {
            Step::Mount(_) if result.is_ok() && self.disk.link.is_some() => {
                self.disk
                    .pending
                    .push((n, task, svc.to_string(), self.now, done_at));
                true
            }
            Step::Mount(_) if result.is_ok() => {
                *self.disk.mounted[n].entry(svc.to_string()).or_default() += 1;
                false
            }
            Step::Umount(_) if result.is_ok() => {
                // Played when the step ends (`disk_unmounted`): until then it is mounted.
                self.disk.umounts.insert((n, task), svc.to_string());
                false
            }
            _ => false,
        }
    }

    /// A starting hahb-disk on node `n` reads what the peer last wrote in its slot, and
    /// passes it up only if it says the peer left with QUIT.
    pub(super) fn disk_read_slot(&mut self, n: usize) {
        let Some((link, _)) = self.disk.link.clone() else {
            return;
        };
        if !self.disk.path_ok[n] || self.disk.looked[n] || !self.hosts[n].up {
            return;
        }
        self.disk.looked[n] = true;
        let Some((boot, seq, payload)) = self.disk.last_beat(1 - n).cloned() else {
            return;
        };
        // As `link::disk::read_peer` at its first look.
        if crate::frame::says_keeping(&payload) {
            self.wire.push((self.now + 50, n, link, boot, seq, payload));
        }
    }

    /// An unmount step ended well: the volume is off, and with its last one the lock goes.
    pub(super) fn disk_unmounted(&mut self, n: usize, svc: &str) {
        let left = match self.disk.mounted[n].get_mut(svc) {
            Some(c) => {
                *c = c.saturating_sub(1);
                *c
            }
            None => 0,
        };
        if left == 0 {
            self.disk.mounted[n].remove(svc);
            if self.disk.path_ok[n] {
                if let Some(c) = self.disk.claims[n].get_mut(svc) {
                    c.1 = false;
                }
            }
        }
    }

    /// Mounts whose step has run its time: taken, refused, or still waiting for a lease.
    pub(super) fn settle_mounts(&mut self) {
        let now = self.now;
        let Some((_, lease)) = self.disk.link.clone() else {
            return;
        };
        let pending = std::mem::take(&mut self.disk.pending);
        let mut done = Vec::new();
        for (n, task, svc, since, at) in pending {
            if !self.hosts[n].up {
                continue;
            }
            if at > now {
                self.disk.pending.push((n, task, svc, since, at));
                continue;
            }
            let result = if !self.disk.path_ok[n] {
                Err("cannot read the lease device".to_string())
            } else {
                let kept = self
                    .disk
                    .last_beat(1 - n)
                    .is_some_and(|s| crate::frame::says_keeping(&s.2));
                match self.disk.holder(n, &svc) {
                    None => Ok(()),
                    // As `LeaseDisk::acquire`: a holder that left with QUIT keeps its lock.
                    Some(_) if kept => Err(format!("locked by {} (left with QUIT)", NAMES[1 - n])),
                    Some(_) => {
                        let other = self.disk.renewed[1 - n];
                        if other.is_some_and(|t| t > since) {
                            Err(format!("locked by {}", NAMES[1 - n]))
                        } else if now >= other.unwrap_or(0) + lease {
                            Ok(())
                        } else {
                            // Still watching the holder's heartbeat.
                            self.disk.pending.push((n, task, svc, since, at));
                            continue;
                        }
                    }
                }
            };
            if result.is_ok() {
                self.disk.take(n, &svc);
                *self.disk.mounted[n].entry(svc.clone()).or_default() += 1;
                self.trace.push(format!("{now} {} mounts {svc}", NAMES[n]));
            }
            done.push((n, task, result));
        }
        for (n, task, result) in done {
            self.feed(n, Input::TaskDone { task, result });
        }
    }

    /// When a waiting mount may decide next.
    pub(super) fn disk_due(&self) -> Option<Millis> {
        let (_, lease) = self.disk.link.clone()?;
        self.disk
            .pending
            .iter()
            .map(|(n, _, _, _, at)| {
                if *at > self.now {
                    *at
                } else {
                    self.disk.renewed[1 - n].unwrap_or(0) + lease
                }
            })
            .min()
    }

    /// A crash or fence: the node's mounts are gone with its kernel; its claims stay on the
    /// disk.
    pub(super) fn disk_crash(&mut self, n: usize) {
        self.disk.looked[n] = false;
        self.disk.mounted[n].clear();
        self.disk.pending.retain(|p| p.0 != n);
        self.disk.umounts.retain(|k, _| k.0 != n);
    }

    pub fn set_disk_path(&mut self, n: usize, ok: bool) {
        let back = ok && !self.disk.path_ok[n] && self.disk.looked[n];
        self.disk.path_ok[n] = ok;
        // A hahb-disk that could not read the device yet has its first look now.
        self.disk_read_slot(n);
        // One that had looked before reads on where it left off: what the peer wrote
        // meanwhile goes up (its last frame here: a QUIT beat among them must not be lost).
        if back && self.hosts[n].up {
            if let (Some((link, _)), Some((boot, seq, payload))) =
                (self.disk.link.clone(), self.disk.slot[1 - n].clone())
            {
                self.wire.push((self.now + 50, n, link, boot, seq, payload));
            }
        }
        self.trace.push(format!(
            "{} {} disk path {}",
            self.now,
            NAMES[n],
            if ok { "up" } else { "CUT" }
        ));
    }

    /// A volume device's data path on node `n` goes bad (reads fail, or hang), or heals.
    /// The watch reports a failed read at once, a hung one when it has hung for the limit.
    pub fn set_data_path(&mut self, n: usize, device: &str, fault: Option<DataFault>) {
        self.trace.push(format!(
            "{} {} data path {device} {}",
            self.now,
            NAMES[n],
            match fault {
                None => "good".to_string(),
                Some(f) => format!("{f:?}"),
            }
        ));
        match fault {
            Some(f) => {
                self.disk.data[n].insert(device.to_string(), f);
            }
            None => {
                self.disk.data[n].remove(device);
            }
        }
        if let Some(DataFault::HangsSince(t)) = fault {
            let at = t + self.hang_limit(n);
            self.disk.data_reports.push((at, n));
        } else if let Some(report) = self.data_report(n) {
            self.feed(n, report);
        }
    }

    /// This node's volume devices, as the configuration names them.
    pub fn devices_of(&self, n: usize) -> Vec<String> {
        crate::disk::data_path::devices_of(self.engines[n].config(), NAMES[n])
    }

    pub fn data_fault_of(&self, n: usize, device: &str) -> Option<DataFault> {
        self.disk.data[n].get(device).copied()
    }

    /// Every data path of node `n` good again.
    pub fn heal_data_paths(&mut self, n: usize) {
        let bad: Vec<String> = self.disk.data[n].keys().cloned().collect();
        for d in bad {
            self.set_data_path(n, &d, None);
        }
    }

    /// When hasvrd's watch calls a read that has not returned hung.
    fn hang_limit(&self, n: usize) -> Millis {
        crate::disk::data_path::watch_timing(self.engines[n].config()).1
    }

    /// This node's volume devices as its watch sees them now (`None`: it has none).
    pub(super) fn data_report(&self, n: usize) -> Option<Input> {
        let config = self.engines[n].shared_config();
        let mut paths: Vec<crate::engine::DataPath> = Vec::new();
        for s in &config.services {
            if s.active_server != NAMES[n] && s.standby_server != NAMES[n] {
                continue;
            }
            for v in &s.volumes {
                let device = s.device_on(v, NAMES[n]);
                if paths.iter().any(|p| p.device == device) {
                    continue;
                }
                let (ok, why) = match self.disk.data[n].get(device) {
                    Some(DataFault::Fails) => (false, "read: Input/output error".to_string()),
                    Some(DataFault::HangsSince(t)) if self.now >= t + self.hang_limit(n) => {
                        (false, "a read has hung".to_string())
                    }
                    _ => (true, String::new()),
                };
                paths.push(crate::engine::DataPath {
                    device: device.to_string(),
                    ok,
                    why,
                });
            }
        }
        (!paths.is_empty()).then_some(Input::DataPaths(paths))
    }

    /// Reports of reads that have now hung for the limit.
    pub(super) fn data_reports_due(&mut self) {
        let now = self.now;
        let due: Vec<usize> = self
            .disk
            .data_reports
            .extract_if(.., |(t, _)| *t <= now)
            .map(|(_, n)| n)
            .collect();
        for n in due {
            if let Some(report) = self.data_report(n) {
                self.feed(n, report);
            }
        }
    }

    pub(super) fn data_reports_at(&self) -> Option<Millis> {
        self.disk.data_reports.iter().map(|r| r.0).min()
    }

    /// havol mounting volume `i` of `svc` on node `n`: a bad data path fails it.
    pub(super) fn data_fault(&self, n: usize, svc: &str, i: usize) -> Option<String> {
        let config = self.engines[n].shared_config();
        let s = config.service(svc)?;
        let device = s.device_on(s.volumes.get(i)?, NAMES[n]);
        self.disk.data[n]
            .contains_key(device)
            .then(|| format!("cannot read {device}"))
    }

    /// Invariant 7, after every step.
    pub(super) fn check_disks(&self) {
        if self.disk.link.is_none() {
            return;
        }
        for svc in self.disk.mounted[0].keys() {
            if self.disk.mounted[1].contains_key(svc) {
                self.fail(format!(
                    "invariant 7: the volumes of {svc} are mounted on both nodes"
                ));
            }
        }
    }
}
