//! Shared disks in the engine: the volume lock's renewal (hahb-disk's writes), the data path
//! of each volume device, and the fence.
//!
//! | situation | what happens |
//! | --- | --- |
//! | no renewal for a third of the lease (the disk link's `interval × maxmiss`) | ERROR; services with volumes are unable here: they stop (and move when the peer can take them) |
//! | still holding volumes at five sixths of the lease | fence: the peer may mount once the lease runs out |
//! | a volume device of a service fails its direct read | ERROR; the service is unable here and moves to a peer whose path is good |
//! | a volume will not unmount (havol already killed its users) | fence, unless `fence = none`: then ERROR, and the service stays |

use super::*;
use crate::disk::lease;

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
            ..Disks::default()
        }
    }

    /// This node's beat has not reached the disk for a third of the lease.
    pub(super) fn lease_lost(&self) -> bool {
        self.lease_lost
    }
}

impl Engine {
    /// The lease of the volume locks, and the link that holds them (asked on every input:
    /// nothing is copied).
    fn lock_lease(&self) -> Option<(&str, Millis)> {
        lease::lock_link(&self.config).map(|l| (l.name.as_str(), lease::lease_of(l)))
    }

    fn lock_link_name(&self) -> String {
        self.lock_lease()
            .map_or_else(String::new, |l| l.0.to_string())
    }

    /// How long a mount may wait for the other node's lease to run out.
    pub(super) fn lease_wait(&self) -> Millis {
        self.lock_lease().map_or(0, |l| l.1)
    }

    /// Volumes may be mounted here (what hasvrd tells hamond).
    pub fn holds_volumes(&self) -> bool {
        self.lock_lease().is_some() && !self.holding_volumes().is_empty()
    }

    /// When this node's beat last reached the lock link (what hasvrd tells hamond).
    pub fn lease_renewed_at(&self) -> Option<Millis> {
        self.disks.renewed
    }

    fn last_renewal(&self) -> Millis {
        self.disks.renewed.unwrap_or(self.disks.since)
    }

    pub(super) fn lease_renewed(&mut self, link: &str, took: Millis) {
        if self
            .lock_lease()
            .is_none_or(|(lock_link, _)| lock_link != link)
        {
            return;
        }
        let at = self.now.saturating_sub(took);
        self.disks.renewed = Some(self.disks.renewed.map_or(at, |r| r.max(at)));
        if self.disks.lease_lost {
            self.disks.lease_lost = false;
            self.log(
                Level::Info,
                format!(
                    "disk link {link}: this node's beat is on the disk again; volume locks renewed"
                ),
            );
        }
    }

    pub(super) fn paths_changed(&mut self, paths: Vec<DataPath>) {
        for p in &paths {
            let before = self.disks.paths.iter().find(|x| x.device == p.device);
            let users: Vec<&str> = self
                .config
                .services
                .iter()
                .filter(|s| s.volumes.iter().any(|v| self.device_here(s, v) == p.device))
                .map(|s| s.name.as_str())
                .collect();
            match (before.map(|b| b.ok), p.ok) {
                (Some(true) | None, false) => self.log(
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
                ),
                (Some(false), true) => self.log(
                    Level::Info,
                    format!("DISK {}: data path OK again", p.device),
                ),
                _ => {}
            }
        }
        self.disks.paths = paths;
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
        let Some((_, lease)) = self.lock_lease() else {
            return;
        };
        let silent = self.now.saturating_sub(self.last_renewal());
        if !self.disks.lease_lost && silent > lease / 3 {
            self.disks.lease_lost = true;
            let holding = self.holding_volumes();
            let link = self.lock_link_name();
            self.log(Level::Error, format!(
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
        if self.disks.lease_lost && silent >= lease * 5 / 6 && !self.disks.fenced {
            let holding = self.holding_volumes();
            if !holding.is_empty() {
                self.fence(format!(
                    "the volume locks of {} could not be renewed for {} and the volumes are still mounted; the peer may mount them once the lease runs out",
                    holding.join(", "),
                    human(silent)
                ));
            }
        }
    }

    /// Services whose volumes may still be mounted here.
    fn holding_volumes(&self) -> Vec<String> {
        self.config
            .services
            .iter()
            .filter(|c| !c.volumes.is_empty())
            .filter(|c| {
                self.services
                    .get(&c.name)
                    .is_some_and(|s| s.phase != Phase::Stopped || s.volumes_stuck)
            })
            .map(|c| c.name.clone())
            .collect()
    }

    /// Leaving with QUIT while volumes are mounted here: nobody will renew their locks,
    /// so the peer must find on the disk that they stay (the beat that says so, written
    /// there), or a peer starting later would take them once the locks ran out. Until it
    /// is written, hasvrd stays; if it cannot be within a third of the lease (the disk is
    /// out of reach), the QUIT is refused and hasvrd goes on guarding the volumes.
    pub(super) fn keeping_recorded(&mut self) -> bool {
        let Some(since) = self.keeping_since else {
            return true;
        };
        let Some((link, lease)) = self.lock_lease() else {
            return true;
        };
        if self.holding_volumes().is_empty() || self.disks.renewed.is_some_and(|r| r >= since) {
            return true;
        }
        if self.now >= since + lease / 3 {
            let link = link.to_string();
            self.keeping_since = None;
            self.shutting_down = None;
            self.log(Level::Error, format!(
                "QUIT refused: this node's beat cannot reach disk link {link}, so the peer could not know that the volumes stay mounted here and might take them; SureHA stays and guards them (stop the services first, or fix the disk path, then QUIT again)"
            ));
        }
        false
    }

    /// When the lease needs a look next.
    pub(super) fn lease_wakeup(&self) -> Option<Millis> {
        let (_, lease) = self.lock_lease()?;
        let r = self.last_renewal();
        // A QUIT waiting for its word to reach the disk gives up then.
        let giving_up = self.keeping_since.map(|since| since + lease / 3);
        let at = if self.disks.lease_lost {
            (!self.disks.fenced).then_some(r + lease * 5 / 6)
        } else {
            Some(r + lease / 3 + 1)
        };
        // Past every mark and holding nothing, only a renewal (an input) changes anything:
        // a look due in the past would wake hasvrd at once, again and again.
        [at, giving_up]
            .into_iter()
            .flatten()
            .filter(|&t| t > self.now)
            .min()
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
            self.log(Level::Error, format!("service {name}: {why}; the volume stays here, so the service is left in ERROR and will not move (fence = none)"));
            false
        } else {
            self.fence(format!(
                "service {name}: {why}; the volume cannot be freed for the peer"
            ));
            true
        }
    }

    fn fence(&mut self, reason: String) {
        if self.disks.fenced {
            return;
        }
        if self.config.admin.fence == config::Fence::Nothing {
            if !self.disks.fence_refused {
                self.disks.fence_refused = true;
                self.log(Level::Error, format!("fence = none: not fencing, although {reason}; the volume may end up mounted on both nodes"));
            }
            return;
        }
        self.disks.fenced = true;
        self.log(
            Level::Error,
            format!(
                "fencing this node ({}): {reason}",
                fence_word(&self.config.admin.fence)
            ),
        );
        self.out.push(Action::Fence { reason });
    }

    /// The disk links that carry frames now, when no network link does (and some exist).
    pub(super) fn only_disks_up(&self) -> Vec<String> {
        let up = |n: &str| {
            self.links.get(n).is_some_and(|l| {
                l.last_rx
                    .is_some_and(|t| self.now.saturating_sub(t) < l.dead_after)
            })
        };
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
        let now = !disks.is_empty();
        if now == self.disks.disk_only {
            return;
        }
        self.disks.disk_only = now;
        let peer = self.peer_name().to_string();
        if now {
            self.log(Level::Error, format!(
                "every network link to {peer} is down; the nodes are in contact only through disk link {}: nothing moves, fix the network",
                disks.join(", ")
            ));
        } else {
            self.log(
                Level::Info,
                format!("in contact with {peer} over a network link again"),
            );
        }
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
        if let Some(p) = &self.peer {
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
