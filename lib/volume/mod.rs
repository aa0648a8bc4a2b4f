//! Shared volumes: check what havol is given (`checks`), take the volume lock on the disk
//! link (`disk::lease`), check and mount the file system; unmount it, killing what holds it
//! when it is busy (`holders`), then release the lock.
//!
//! The engine's order (volumes first in, last out) and handshake keep a volume on one node
//! while the nodes talk; the lock keeps it there when they cannot.

pub mod checks;
pub mod holders;

use crate::config::Config;
use crate::disk::lease::{self, Holder, LeaseDisk};
use crate::error::{Error, Result};
use crate::paths::Home;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::failed(format!("cannot run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The cluster's view of a volume: which service owns it, and the lock device.
pub struct Cluster {
    pub service: Option<String>,
    pub disk: Option<LeaseDisk>,
    /// The service's other volumes on this node: (device, mount point).
    pub others: Vec<(String, String)>,
}

/// Finds the service a volume belongs to (`HA_NAME` when hasvrd runs havol; else the
/// configuration's volume with this device and mount point) and opens the lock device.
pub fn cluster_of(home: &Home, dev: &str, point: &str) -> Result<Cluster> {
    let config: Option<Config> = match crate::config::read(&home.config()) {
        Ok((c, _)) => Some(c),
        Err(_) if !home.config().exists() => None,
        Err(e) => return Err(Error::config(e)),
    };
    let Some(config) = config else {
        return Ok(Cluster {
            service: None,
            disk: None,
            others: Vec::new(),
        });
    };
    let service = std::env::var("HA_NAME")
        .ok()
        .filter(|n| config.service(n).is_some())
        .or_else(|| {
            config
                .services
                .iter()
                .find(|s| {
                    s.volumes.iter().any(|v| {
                        v.mount_point == point && (v.active_dev == dev || v.backup_dev == dev)
                    })
                })
                .map(|s| s.name.clone())
        });
    let disk = match (&service, lease::lock_link(&config)) {
        (Some(_), Some(link)) => Some(LeaseDisk::open(home, link)?),
        _ => None,
    };
    let others = service
        .as_deref()
        .and_then(|n| config.service(n))
        .map(|s| {
            s.volumes
                .iter()
                .filter(|v| v.mount_point != point)
                .map(|v| {
                    (
                        s.device_on(v, &home.node).to_string(),
                        v.mount_point.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Cluster {
        service,
        disk,
        others,
    })
}

/// Takes the lock, checks the file system (fsck -p: repairs what is safe), and mounts it.
pub fn mount(home: &Home, dev: &str, point: &str, say: &mut dyn FnMut(&str)) -> Result<()> {
    checks::check_device(dev)?;
    let already = checks::check_mount(dev, point)?;
    let cluster = cluster_of(home, dev, point)?;
    if let (Some(disk), Some(svc)) = (&cluster.disk, &cluster.service) {
        let epoch = disk.acquire(svc, say)?;
        say(&format!(
            "service {svc}: volume lock taken on {} (epoch {epoch})",
            disk.dev.path
        ));
    }
    if already {
        return Ok(());
    }
    let result = mount_checked(dev, point);
    if result.is_err() {
        release_with_last_volume(&cluster, say);
    }
    result
}

/// Releases the service's lock unless another of its volumes is still mounted here: the
/// lock covers them all, so it goes with the last one.
fn release_with_last_volume(c: &Cluster, say: &mut dyn FnMut(&str)) {
    let (Some(svc), Some(disk)) = (&c.service, &c.disk) else {
        return;
    };
    let still: Vec<&str> = c
        .others
        .iter()
        .filter(|(d, p)| checks::mounted_on(p).is_some_and(|src| checks::same_device(&src, d)))
        .map(|(_, p)| p.as_str())
        .collect();
    if !still.is_empty() {
        say(&format!(
            "service {svc}: volume lock kept: {} still mounted here",
            still.join(", ")
        ));
    } else if let Err(e) = disk.release(svc) {
        say(&format!(
            "WARNING: service {svc}: the volume lock was not released ({e}); it runs out by itself"
        ));
    }
}

fn mount_checked(dev: &str, point: &str) -> Result<()> {
    std::fs::create_dir_all(point)
        .map_err(|e| Error::failed(format!("cannot create {point}: {e}")))?;
    // What this kernel cached of the device may predate the other node's last writes.
    let _ = crate::disk::device::drop_cached_blocks(dev);
    // fsck exits 1 when it repaired something: that is fine; 4 and above is not.
    let st = Command::new("fsck")
        .args(["-p", dev])
        .status()
        .map_err(|e| Error::failed(format!("cannot run fsck: {e}")))?;
    if st.code().is_none_or(|c| c >= 4) {
        return Err(Error::failed(format!(
            "fsck -p {dev} failed ({st}); repair it by hand"
        )));
    }
    run("mount", &[dev, point])
}

/// Unmounts; when busy, stops what holds it and tries again, then forces it; then releases
/// the lock. Not mounted: only the release.
pub fn umount(home: &Home, dev: &str, point: &str, say: &mut dyn FnMut(&str)) -> Result<()> {
    if !point.starts_with('/') {
        return Err(Error::failed(format!("{point}: not an absolute path")));
    }
    let mounted = checks::mounted_on(point).is_some_and(|src| checks::same_device(&src, dev));
    if mounted {
        if let Err(first) = run("umount", &[point]) {
            let found = holders::kill_holders(
                std::path::Path::new(point),
                std::time::Duration::from_secs(3),
            );
            say(&format!(
                "{first}; stopped the processes holding it ({})",
                if found.is_empty() {
                    "none found".to_string()
                } else {
                    found
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            ));
            if run("umount", &[point]).is_err() {
                run("umount", &["-f", point]).map_err(|e| {
                    Error::failed(format!("{point} will not unmount, even forced: {e}"))
                })?;
                say(&format!("{point}: unmounted by force"));
            }
        }
    } else if let Some(other) = checks::mounted_on(point) {
        if !checks::same_device(&other, dev) {
            return Err(Error::failed(format!(
                "{point}: {other} is mounted there, not {dev}; leaving it alone"
            )));
        }
    }
    release_bounded(home, dev, point, say);
    Ok(())
}

/// Releases the lock once the volume is off, but waits for the disk link's device only a
/// tenth of the lease: a device that hangs (its path frozen) must not hold up the stop, or
/// hasvrd, seeing the unmount unfinished, would fence a node whose volume is already off.
/// The release goes on in a child of its own and lands when the device answers; a lock
/// not released runs out by itself. (Each node writes only its own lock block, so a late
/// release touches nothing of the peer's.)
fn release_bounded(home: &Home, dev: &str, point: &str, say: &mut dyn FnMut(&str)) {
    const RELEASED: i32 = 0;
    const FAILED: i32 = 1;
    const KEPT: i32 = 3;
    let patience = crate::config::read(&home.config())
        .ok()
        .and_then(|(c, _)| lease::lock_link(&c).map(lease::lease_of))
        .map_or(1000, |l| (l / 10).clamp(50, 1000));
    let child = match crate::sys::fork() {
        Ok(crate::sys::Forked::Child) => {
            let _ = crate::sys::detach();
            let code = match cluster_of(home, dev, point) {
                Ok(c) => {
                    let mut kept = false;
                    let mut failed = false;
                    release_with_last_volume(&c, &mut |m: &str| {
                        kept |= m.contains("volume lock kept");
                        failed |= m.starts_with("WARNING");
                    });
                    if failed {
                        FAILED
                    } else if kept {
                        KEPT
                    } else {
                        RELEASED
                    }
                }
                Err(_) => FAILED,
            };
            // SAFETY: _exit ends this forked child without running the parent's exit code.
            unsafe { libc::_exit(code) }
        }
        Ok(crate::sys::Forked::Parent(pid)) => pid,
        Err(e) => {
            // No child: release here, unbounded, as before.
            say(&format!(
                "cannot fork to release the volume lock ({e}); releasing it here"
            ));
            match cluster_of(home, dev, point) {
                Ok(c) => release_with_last_volume(&c, say),
                Err(e) => say(&format!(
                    "WARNING: the volume lock was not released ({e}); it runs out by itself"
                )),
            }
            return;
        }
    };
    let until = std::time::Instant::now() + std::time::Duration::from_millis(patience);
    loop {
        match crate::sys::reap(child) {
            Some(crate::sys::ExitStatus::Code(RELEASED)) => return,
            Some(crate::sys::ExitStatus::Code(KEPT)) => {
                say("volume lock kept: another volume of the service is still mounted here");
                return;
            }
            Some(st) => {
                say(&format!(
                    "WARNING: the volume lock was not released ({st}); it runs out by itself"
                ));
                return;
            }
            None if std::time::Instant::now() >= until => {
                say(&format!(
                    "WARNING: the disk link's device has not answered for {patience}ms; the volume is off, and its lock is released when the device answers, or runs out by itself"
                ));
                return;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}

/// `havol check`: mounted there (Ok), and who holds the lock.
pub fn check(home: &Home, dev: &str, point: &str) -> Result<String> {
    let mounted = checks::mounted_on(point).is_some_and(|src| checks::same_device(&src, dev));
    let mut text = String::new();
    if let Ok(Cluster {
        service: Some(svc),
        disk: Some(disk),
        ..
    }) = cluster_of(home, dev, point)
    {
        text = match disk.holder(&svc)? {
            Holder::Free => format!("service {svc}: volume lock free\n"),
            Holder::Me { epoch } => format!(
                "service {svc}: volume lock held by {} (epoch {epoch})\n",
                disk.me
            ),
            Holder::Peer { epoch } => format!(
                "service {svc}: volume lock held by {} (epoch {epoch})\n",
                disk.peer
            ),
        };
    }
    if mounted {
        Ok(text)
    } else {
        Err(Error::failed(
            format!("{text}{point} is not mounted here")
                .trim()
                .to_string(),
        ))
    }
}

/// `havol lock SERVICE` / `havol unlock SERVICE`: the lock by hand.
pub fn lock_by_hand(
    home: &Home,
    service: &str,
    take: bool,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let (config, _) = crate::config::read(&home.config()).map_err(Error::config)?;
    if config.service(service).is_none() {
        return Err(Error::failed(format!("no service named '{service}'")));
    }
    let link = lease::lock_link(&config).ok_or_else(|| {
        Error::failed("no disk link in the configuration: there is no volume lock".to_string())
    })?;
    let disk = LeaseDisk::open(home, link)?;
    if take {
        let epoch = disk.acquire(service, say)?;
        say(&format!(
            "service {service}: volume lock taken (epoch {epoch})"
        ));
        Ok(())
    } else {
        disk.release(service)
    }
}
