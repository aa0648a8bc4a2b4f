//! Shared disks in the engine: the volume lock's renewal (hahb-disk's writes), the data path
//! of each volume device, and the fence.
//!
//! | situation | what happens |
//! | --- | --- |
//! | no renewal for a third of the lease (the disk link's `interval × maxmiss`) | ERROR; services with volumes are unable here: they stop (and move when the peer can take them) |
//! | still holding volumes at five sixths of the lease | fence: the peer may mount once the lease runs out |
//! | a volume device of a service fails its direct read | ERROR; the service is unable here and moves to a peer whose path is good |
//! | a volume will not unmount (havol already killed its users) | fence, unless `fence = none`: then ERROR, and the service stays |

use super::interface::{log, Action};
use super::{Engine, Phase, Svc};
use crate::clock::{human, Millis};
use crate::config;
use crate::config::{AlertEvent, Config, Service};
use crate::disk::lease;
use crate::log::Level;
use std::collections::BTreeMap;

/// One volume device's data path on this node, as the executor last read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPath {
    pub device: String,
    pub ok: bool,
    pub why: String,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Disks {
    /// When this node's beat was last written on the lock link (the write's start).
    renewed: Option<Millis>,
    /// The engine's start: a renewal is expected within a third of the lease from then.
    since: Millis,
    lease_lost: bool,
    /// Since when this node has been on the disk without a break (its beat renewed again
    /// after a loss, or the engine's start): the peer's silence there is seen only since.
    on_disk_since: Millis,
    /// Since when the peer has heard this node by no path, the disk included.
    isolated_since: Option<Millis>,
    pub paths: Vec<DataPath>,
    fenced: bool,
    /// A fence was due but the site turned fencing off (said once).
    fence_refused: bool,
    /// Every network link is down and only a disk link carries frames.
    pub disk_only: bool,
}

impl Disks {
    pub(super) fn new(now: Millis) -> Disks {
        Disks {
            since: now,
            on_disk_since: now,
            ..Disks::default()
        }
    }

    /// This node's beat has not reached the disk for a third of the lease.
    pub(super) fn lease_lost(&self) -> bool {
        self.lease_lost
    }

    /// The engine's start: silence on the disk is counted from then at the earliest.
    pub(super) fn started(&self) -> Millis {
        self.since
    }

    /// Since when this node has been on the disk without a break.
    pub(super) fn on_disk_since(&self) -> Millis {
        self.on_disk_since
    }

    /// Whether this node is now cut off from the peer and the disk; `since` says from when,
    /// given the last renewal (asked only as it begins: this runs on every input).
    pub(super) fn note_cut_off(&mut self, cut_off: bool, since: impl FnOnce(Millis) -> Millis) {
        match (cut_off, self.isolated_since) {
            (true, None) => self.isolated_since = Some(since(self.last_renewal())),
            (false, Some(_)) => self.isolated_since = None,
            _ => {}
        }
    }

    /// When this node's beat last reached the lock link, or the engine's start.
    pub(super) fn last_renewal(&self) -> Millis {
        self.renewed.unwrap_or(self.since)
    }

    /// hahb-disk wrote this node's beat on `link`, `took` ago: a renewal if it is the lock
    /// link.
    pub(super) fn renewed(
        &mut self,
        link: &str,
        lock: Option<Lock>,
        took: Millis,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        if lock.is_none_or(|(lock_link, _)| lock_link != link) {
            return;
        }
        let at = now.saturating_sub(took);
        self.renewed = Some(self.renewed.map_or(at, |r| r.max(at)));
        if self.lease_lost {
            self.lease_lost = false;
            self.on_disk_since = at;
            log(
                out,
                Level::Info,
                format!(
                    "disk link {link}: this node's beat is on the disk again; volume locks renewed"
                ),
            );
        }
    }

    /// The executor read the data paths again; `users` names the services of a device.
    pub(super) fn paths_changed<'a>(
        &mut self,
        paths: Vec<DataPath>,
        users: impl Fn(&str) -> Vec<&'a str>,
        out: &mut Vec<Action>,
    ) {
        for p in &paths {
            let before = self.paths.iter().find(|x| x.device == p.device);
            match (before.map(|b| b.ok), p.ok) {
                (Some(true) | None, false) => {
                    let users = users(&p.device);
                    log(
                        out,
                        Level::Error,
                        format!(
                            "DISK {}: data path failed ({}); {} cannot run here while it lasts",
                            p.device,
                            p.why,
                            if users.is_empty() {
                                "no service".to_string()
                            } else {
                                users.join(", ")
                            }
                        ),
                    )
                }
                (Some(false), true) => log(
                    out,
                    Level::Info,
                    format!("DISK {}: data path OK again", p.device),
                ),
                _ => {}
            }
        }
        self.paths = paths;
    }

    /// When a node cut off from everything must have given its services up, while not
    /// fenced: five sixths of the lease after it learnt so, which is at most a beat after
    /// the peer did (see `Engine::takeover_wait`).
    pub(super) fn isolation_deadline(&self, lock: Option<Lock>) -> Option<Millis> {
        let (_, lease) = lock?;
        let since = self.isolated_since?;
        (!self.fenced).then_some(since + lease * 5 / 6)
    }

    /// On every input: notices a lease that can no longer be renewed, and fences the node
    /// if volumes are still on (`holding` names their services) when the peer could soon
    /// take them.
    pub(super) fn check_lease(
        &mut self,
        (link, lease): Lock,
        now: Millis,
        holding: impl Fn() -> Vec<String>,
        fence: &config::Fence,
        out: &mut Vec<Action>,
    ) {
        let silent = now.saturating_sub(self.last_renewal());
        if !self.lease_lost && silent > lease / 3 {
            self.lease_lost = true;
            let holding = holding();
            log(out, Level::Error, format!(
                "disk link {link}: this node's beat has not reached the disk for {}; its volume locks run out {} after the last one{}",
                human(silent),
                human(lease),
                if holding.is_empty() {
                    String::new()
                } else {
                    format!("; stopping {} here before then", holding.join(", "))
                }
            ));
        }
        if self.lease_lost && silent >= lease * 5 / 6 && !self.fenced {
            let holding = holding();
            if !holding.is_empty() {
                self.fence(
                    format!(
                        "the volume locks of {} could not be renewed for {} and the volumes are still mounted; the peer may mount them once the lease runs out",
                        holding.join(", "),
                        human(silent)
                    ),
                    fence,
                    out,
                );
            }
        }
    }

    /// When the lease needs a look next; `keeping_since`: a QUIT waiting for its word to
    /// reach the disk, which gives up a third of the lease later.
    pub(super) fn lease_wakeup(
        &self,
        (_, lease): Lock,
        keeping_since: Option<Millis>,
        now: Millis,
    ) -> Option<Millis> {
        let r = self.last_renewal();
        let giving_up = keeping_since.map(|since| since + lease / 3);
        let at = if self.lease_lost {
            (!self.fenced).then_some(r + lease * 5 / 6)
        } else {
            Some(r + lease / 3 + 1)
        };
        // Past every mark and holding nothing, only a renewal (an input) changes anything:
        // a look due in the past would wake hasvrd at once, again and again.
        [at, giving_up]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
    }

    /// Fences this node (once), unless the site turned fencing off (said once).
    pub(super) fn fence(&mut self, reason: String, fence: &config::Fence, out: &mut Vec<Action>) {
        if self.fenced {
            return;
        }
        if *fence == config::Fence::Nothing {
            if !self.fence_refused {
                self.fence_refused = true;
                log(out, Level::Error, format!("fence = none: not fencing, although {reason}; the volume may end up mounted on both nodes"));
            }
            return;
        }
        self.fenced = true;
        log(
            out,
            Level::Error,
            format!("fencing this node ({}): {reason}", fence_word(fence)),
        );
        out.push(Action::Fence { reason });
    }

    /// Whether only disk links (`disks`) carry frames now; said when that changes.
    pub(super) fn note_disk_only(&mut self, disks: Vec<String>, peer: &str, out: &mut Vec<Action>) {
        let now = !disks.is_empty();
        if now == self.disk_only {
            return;
        }
        self.disk_only = now;
        if now {
            log(out, Level::Error, format!(
                "every network link to {peer} is down; the nodes are in contact only through disk link {}: nothing moves, fix the network",
                disks.join(", ")
            ));
        } else {
            log(
                out,
                Level::Info,
                format!("in contact with {peer} over a network link again"),
            );
        }
    }
}

/// The volume locks' link and their lease.
pub(super) type Lock<'a> = (&'a str, Millis);

/// Services whose volumes may still be mounted here.
fn holding_volumes(config: &Config, services: &BTreeMap<String, Svc>) -> Vec<String> {
    config
        .services
        .iter()
        .filter(|c| !c.volumes.is_empty())
        .filter(|c| {
            services
                .get(&c.name)
                .is_some_and(|s| s.phase != Phase::Stopped || s.volumes_stuck)
        })
        .map(|c| c.name.clone())
        .collect()
}

impl Engine {
    /// The lease of the volume locks, and the link that holds them (asked on every input:
    /// nothing is copied).
    pub(super) fn lock_lease(&self) -> Option<(&str, Millis)> {
        lease::lock_link(&self.config).map(|l| (l.name.as_str(), lease::lease_of(l)))
    }

    pub(super) fn lock_link_name(&self) -> String {
        self.lock_lease()
            .map_or_else(String::new, |l| l.0.to_string())
    }

    /// How long a mount may wait for the other node's lease to run out.
    pub(super) fn lease_wait(&self) -> Millis {
        self.lock_lease().map_or(0, |l| l.1)
    }

    /// Volumes may be mounted here (what hasvrd tells hamond).
    pub fn holds_volumes(&self) -> bool {
        self.lock_lease().is_some() && !holding_volumes(&self.config, &self.services).is_empty()
    }

    /// Something here is what the peer takes once this node's lease runs out (what hasvrd
    /// tells hamond, which fences the node for a hasvrd frozen past the lease): volumes may be
    /// mounted, or this node's beat is not reaching the disk while a service is not stopped.
    /// Cut off like that, only this loop can learn that the peer no longer hears the node
    /// and give the services up; frozen, it cannot.
    pub fn lease_at_stake(&self) -> bool {
        self.holds_volumes()
            || (self.lock_lease().is_some()
                && self.disks.lease_lost
                && self.services.values().any(|s| s.phase != Phase::Stopped))
    }

    /// When this node's beat last reached the lock link (what hasvrd tells hamond).
    pub fn lease_renewed_at(&self) -> Option<Millis> {
        self.disks.renewed
    }

    pub(super) fn last_renewal(&self) -> Millis {
        self.disks.last_renewal()
    }

    pub(super) fn lease_renewed(&mut self, link: &str, took: Millis) {
        let lock = lease::lock_link(&self.config).map(|l| (l.name.as_str(), lease::lease_of(l)));
        self.disks
            .renewed(link, lock, took, self.now, &mut self.out);
    }

    pub(super) fn paths_changed(&mut self, paths: Vec<DataPath>) {
        let (config, node) = (&self.config, &self.node);
        let users = |device: &str| -> Vec<&str> {
            config
                .services
                .iter()
                .filter(|s| s.volumes.iter().any(|v| s.device_on(v, node) == device))
                .map(|s| s.name.as_str())
                .collect()
        };
        self.disks.paths_changed(paths, users, &mut self.out);
    }

    /// The device a volume has on this node.
    pub(super) fn device_here<'a>(&self, s: &'a Service, v: &'a config::Volume) -> &'a str {
        s.device_on(v, &self.node)
    }

    /// Why the service's volumes cannot be held here, if they cannot.
    pub(super) fn disk_unable(&self, name: &str) -> Option<String> {
        let s = self.config.service(name)?;
        if s.volumes.is_empty() {
            return None;
        }
        if self.disks.lease_lost {
            let link = self.lock_link_name();
            return Some(format!(
                "its volume lock cannot be renewed (this node's beat is not reaching disk link {link})"
            ));
        }
        s.volumes.iter().find_map(|v| {
            let dev = self.device_here(s, v);
            self.disks
                .paths
                .iter()
                .find(|p| p.device == dev && !p.ok)
                .map(|p| format!("the data path to {dev} failed ({})", p.why))
        })
    }

    /// Called on every input: notices a lease that can no longer be renewed, and fences the
    /// node if its volumes are still on when the peer could soon take them.
    pub(super) fn check_lease(&mut self) {
        let config = &self.config;
        let Some(lock) = lease::lock_link(config).map(|l| (l.name.as_str(), lease::lease_of(l)))
        else {
            return;
        };
        let services = &self.services;
        let holding = || holding_volumes(config, services);
        self.disks
            .check_lease(lock, self.now, holding, &config.admin.fence, &mut self.out);
    }

    /// Leaving with QUIT while volumes are mounted here: nobody will renew their locks,
    /// so the peer must find on the disk that they stay (the beat that says so, written
    /// there), or a peer starting later would take them once the locks ran out. Until it
    /// is written, hasvrd stays; if it cannot be within a third of the lease (the disk is
    /// out of reach), the QUIT is refused and hasvrd goes on guarding the volumes.
    pub(super) fn keeping_recorded(&mut self) -> bool {
        let Some(since) = self.leaving.keeping_since() else {
            return true;
        };
        let Some((link, lease)) = self.lock_lease() else {
            return true;
        };
        // Any service left running, not only one with volumes: a peer that did not learn
        // it stays would take it over once this node's beat stood still for the lease.
        let running = self.services.values().any(|s| s.phase != Phase::Stopped);
        // A renewal after the pass that gave the word out (one of the same moment may be of
        // a write that began before).
        if !running || self.disks.renewed.is_some_and(|r| r > since) {
            return true;
        }
        // Cut off from the peer and the disk, the services must be given up, not kept.
        if self.now >= since + lease / 3 || self.isolated_unable().is_some() {
            let link = link.to_string();
            self.leaving.refuse_quit();
            self.log(Level::Error, format!(
                "QUIT refused: this node's beat cannot reach disk link {link}, so the peer could not know that the services (and volumes) stay here and might take them; SureHA stays and guards them (stop the services first, or fix the disk path, then QUIT again)"
            ));
        }
        false
    }

    /// When the lease needs a look next.
    pub(super) fn lease_wakeup(&self) -> Option<Millis> {
        self.disks
            .lease_wakeup(self.lock_lease()?, self.leaving.keeping_since(), self.now)
    }

    /// The node is being fenced because of this service's volume.
    pub(super) fn fencing_for(&self, name: &str) -> bool {
        self.disks.fenced && self.services.get(name).is_some_and(|s| s.volumes_stuck)
    }

    /// A volume of the service would not come off here: fence, unless the site said not to.
    /// True when fencing (the service then stays as it is: it holds the volume).
    pub(super) fn volume_stuck(&mut self, name: &str, why: &str) -> bool {
        if let Some(s) = self.services.get_mut(name) {
            s.volumes_stuck = true;
        }
        if self.config.admin.fence == config::Fence::Nothing {
            self.log_alert(Level::Error, AlertEvent::Error, name, format!("service {name}: {why}; the volume stays here, so the service is left in ERROR and will not move (fence = none)"));
            false
        } else {
            let reason = format!("service {name}: {why}; the volume cannot be freed for the peer");
            self.disks
                .fence(reason, &self.config.admin.fence, &mut self.out);
            true
        }
    }

    /// The disk links that carry frames now, when no network link does (and some exist).
    pub(super) fn only_disks_up(&self) -> Vec<String> {
        let up = |n: &str| self.peer.links.get(n).is_some_and(|l| l.alive(self.now));
        // Asked on every input: no allocation unless every network link is down.
        let disk = |l: &config::Link| l.type_name() == "disk";
        let links = &self.config.links;
        if links.iter().all(disk) || links.iter().any(|l| !disk(l) && up(&l.name)) {
            return vec![];
        }
        links
            .iter()
            .filter(|l| disk(l) && up(&l.name))
            .map(|l| l.name.clone())
            .collect()
    }

    pub(super) fn note_disk_only(&mut self) {
        let disks = self.only_disks_up();
        let peer = self.config.peer_of(&self.node).unwrap_or("peer");
        self.disks.note_disk_only(disks, peer, &mut self.out);
    }

    /// `DISK NODE DEVICE OK|ERR` for both nodes, and the warning of a cluster whose volumes
    /// have no lock.
    pub(super) fn disk_lines(&self) -> String {
        let mut t = String::new();
        let only = self.only_disks_up();
        if !only.is_empty() {
            t.push_str(&format!(
                "CLUSTER DISK-ONLY every network link down, in contact through {}\n",
                only.join(",")
            ));
        }
        let mut paths: Vec<(String, String, bool)> = self
            .disks
            .paths
            .iter()
            .map(|p| (self.node.clone(), p.device.clone(), p.ok))
            .collect();
        if let Some(p) = &self.peer.view {
            let peer = self.peer_name().to_string();
            paths.extend(p.disks.iter().map(|(d, ok)| (peer.clone(), d.clone(), *ok)));
        }
        for (node, dev, ok) in paths {
            t.push_str(&format!(
                "DISK {node} {dev} {}\n",
                if ok { "OK" } else { "ERR" }
            ));
        }
        let with_volumes: Vec<&str> = self
            .config
            .services
            .iter()
            .filter(|s| !s.volumes.is_empty())
            .map(|s| s.name.as_str())
            .collect();
        if !with_volumes.is_empty() {
            match self.lock_lease() {
                None => t.push_str(&format!(
                    "WARNING no disk link: volume exclusivity of {} rests on the network links\n",
                    with_volumes.join(",")
                )),
                Some((link, lease)) => t.push_str(&format!(
                    "LOCK {link} {} lease={}\n",
                    if self.disks.lease_lost {
                        "NOT-RENEWED"
                    } else {
                        "RENEWED"
                    },
                    human(lease)
                )),
            }
        }
        t
    }
}

pub fn fence_word(f: &config::Fence) -> String {
    match f {
        config::Fence::Reboot => "reboot".into(),
        config::Fence::Halt => "halt".into(),
        config::Fence::Nothing => "none".into(),
        config::Fence::Program(p) => p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, DataPath, Disks};
    use crate::config::Fence;
    use crate::log::Level;

    const LOCK: (&str, u64) = ("shared", 6000);

    fn said(out: &[Action]) -> Vec<(Level, String)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Log { level, text } => Some((*level, text.clone())),
                _ => None,
            })
            .collect()
    }

    fn fences(out: &[Action]) -> usize {
        out.iter()
            .filter(|a| matches!(a, Action::Fence { .. }))
            .count()
    }

    #[test]
    fn a_lease_not_renewed_for_a_third_is_lost_and_volumes_held_at_five_sixths_fence_once() {
        let mut d = Disks::new(0);
        let mut out = Vec::new();
        let holding = || vec!["db".to_string()];
        d.renewed("shared", Some(LOCK), 0, 1000, &mut out);
        // Another link's write is no renewal.
        d.renewed("other", Some(LOCK), 0, 2500, &mut out);
        assert_eq!(d.last_renewal(), 1000);
        assert_eq!(d.lease_wakeup(LOCK, None, 1000), Some(3001));
        d.check_lease(LOCK, 3000, holding, &Fence::Reboot, &mut out);
        assert!(!d.lease_lost() && out.is_empty());
        d.check_lease(LOCK, 3001, holding, &Fence::Reboot, &mut out);
        assert!(d.lease_lost());
        let lines = said(&out);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].1.contains("stopping db here before then"),
            "{lines:?}"
        );
        assert_eq!(d.lease_wakeup(LOCK, None, 3001), Some(6000));
        d.check_lease(LOCK, 5999, holding, &Fence::Reboot, &mut out);
        assert_eq!(fences(&out), 0);
        d.check_lease(LOCK, 6000, holding, &Fence::Reboot, &mut out);
        d.check_lease(LOCK, 7000, holding, &Fence::Reboot, &mut out);
        assert_eq!(fences(&out), 1, "fenced once");
        assert_eq!(
            d.lease_wakeup(LOCK, None, 7000),
            None,
            "fenced: nothing more to look at"
        );
        // Renewed again: the lease is back, said once.
        let mut out = Vec::new();
        d.renewed("shared", Some(LOCK), 100, 8000, &mut out);
        assert!(!d.lease_lost());
        assert_eq!(d.last_renewal(), 7900);
        assert_eq!(said(&out).len(), 1);
    }

    #[test]
    fn with_fence_none_nothing_is_fenced_and_it_is_said_once_and_nothing_held_fences_nothing() {
        let mut d = Disks::new(0);
        let mut out = Vec::new();
        d.check_lease(LOCK, 6000, Vec::new, &Fence::Reboot, &mut out);
        assert!(d.lease_lost());
        assert_eq!(fences(&out), 0, "nothing held");
        let holding = || vec!["db".to_string()];
        d.check_lease(LOCK, 6001, holding, &Fence::Nothing, &mut out);
        d.check_lease(LOCK, 6002, holding, &Fence::Nothing, &mut out);
        assert_eq!(fences(&out), 0);
        let refused = said(&out)
            .iter()
            .filter(|(_, t)| t.starts_with("fence = none"))
            .count();
        assert_eq!(refused, 1);
    }

    #[test]
    fn a_failed_data_path_is_said_with_its_services_and_its_return_once() {
        let mut d = Disks::new(0);
        let mut out = Vec::new();
        let path = |ok| DataPath {
            device: "/dev/loop3".into(),
            ok,
            why: "read timed out".into(),
        };
        let users = |dev: &str| {
            if dev == "/dev/loop3" {
                vec!["db", "web"]
            } else {
                vec![]
            }
        };
        d.paths_changed(vec![path(false)], users, &mut out);
        d.paths_changed(vec![path(false)], users, &mut out);
        d.paths_changed(vec![path(true)], users, &mut out);
        let lines = said(&out);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, Level::Error);
        assert!(lines[0]
            .1
            .contains("read timed out); db, web cannot run here"));
        assert_eq!(lines[1].1, "DISK /dev/loop3: data path OK again");
    }

    #[test]
    fn being_cut_off_is_noted_from_when_it_began_until_it_ends() {
        let mut d = Disks::new(0);
        let lock = Some(("d", 3000));
        assert_eq!(d.isolation_deadline(lock), None);
        d.note_cut_off(true, |_| 1000);
        d.note_cut_off(true, |_| panic!("noted once, as it begins"));
        assert_eq!(
            d.isolation_deadline(lock),
            Some(1000 + 2500),
            "five sixths of the lease"
        );
        assert_eq!(d.isolation_deadline(None), None, "no disk link, no lease");
        d.note_cut_off(false, |_| panic!("not asked as it ends"));
        assert_eq!(d.isolation_deadline(lock), None);
        d.note_cut_off(true, |renewed| {
            assert_eq!(renewed, 0, "no renewal yet: the engine's start");
            9000
        });
        assert_eq!(
            d.isolation_deadline(lock),
            Some(11_500),
            "a new episode, a new start"
        );
    }
}
