//! Shared volumes: check, mount and unmount a service's file systems. The engine's start
//! and stop order (volumes first in, last out) and its handshake (a node starts only once
//! the peer reports the service stopped) keep a volume from being mounted on both nodes.

use crate::error::{Error, Result};
use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::failed(format!("cannot run {program}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::failed(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The device mounted on `mount_point`, if any (from /proc/mounts).
pub fn mounted_device(mount_point: &str) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (dev, mp) = (f.next()?, f.next()?);
        (mp == mount_point).then(|| dev.to_string())
    })
}

/// Checks the file system (fsck -p: repairs what is safe), then mounts it. Already mounted
/// there: done.
pub fn mount(dev: &str, mount_point: &str) -> Result<()> {
    if mounted_device(mount_point).is_some() {
        return Ok(());
    }
    if !Path::new(dev).exists() {
        return Err(Error::failed(format!("{dev}: no such device")));
    }
    std::fs::create_dir_all(mount_point)
        .map_err(|e| Error::failed(format!("cannot create {mount_point}: {e}")))?;
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
    run("mount", &[dev, mount_point]).map(|_| ())
}

/// Unmounts; not mounted: done.
pub fn umount(mount_point: &str) -> Result<()> {
    if mounted_device(mount_point).is_none() {
        return Ok(());
    }
    run("umount", &[mount_point]).map(|_| ())
}
