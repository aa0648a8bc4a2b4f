//! havol — shared volumes of a service.
//!
//! Synopsis: `havol mount DEVICE MOUNT-POINT` · `havol umount DEVICE MOUNT-POINT` ·
//! `havol check DEVICE MOUNT-POINT`
//!
//! `mount` checks the file system (`fsck -p`) and mounts it; `umount` unmounts it; both are
//! done when there is nothing to do. `check` exits 0 when it is mounted there. hasvrd runs
//! these in the order of the service's plan, never on both nodes at once.
//!
//! Exit status: 0 done (check: mounted), 1 failed (check: not mounted), 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::volume;

fn run(args: &[String]) -> Result<()> {
    match args {
        [_, verb, dev, mp] => match verb.as_str() {
            "mount" => volume::mount(dev, mp),
            "umount" => volume::umount(mp),
            "check" if volume::mounted_device(mp).is_some() => Ok(()),
            "check" => Err(Error::failed(format!("{mp} is not mounted"))),
            _ => Err(Error::usage(
                "usage: havol mount|umount|check DEVICE MOUNT-POINT",
            )),
        },
        _ => Err(Error::usage(
            "usage: havol mount|umount|check DEVICE MOUNT-POINT",
        )),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("havol", run(&args))
}
