//! havol — shared volumes of a service, and the disk link's device.
//!
//! Synopsis: `havol mount DEVICE MOUNT-POINT` · `havol umount DEVICE MOUNT-POINT` ·
//! `havol check DEVICE MOUNT-POINT` · `havol lock SERVICE` · `havol unlock SERVICE` ·
//! `havol init [--force] DEVICE`
//!
//! `mount` checks what it is given (a block device or a volume file, a directory that holds
//! no other mount, a device not mounted elsewhere), takes the service's volume lock on the
//! disk link (waiting for a silent holder's lease to run out; refusing one that is alive),
//! checks the file system (`fsck -p`) and mounts it. `umount` unmounts, stopping whatever
//! holds the mount when it is busy, then releases the lock. `check` exits 0 when it is
//! mounted there and says who holds the lock. `lock`/`unlock` take and release a lock by
//! hand. `init` prepares a device for a disk link (refused on a disk in use unless --force).
//! The service is `HA_NAME` when hasvrd runs havol, else the one whose volume this is.
//!
//! Exit status: 0 done (check: mounted), 1 failed or refused (check: not mounted), 2 usage,
//! 3 configuration.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;
use sureha::volume;

const USAGE: &str = "usage: havol mount|umount|check DEVICE MOUNT-POINT | lock|unlock SERVICE | init [--force] DEVICE";

fn run(args: &[String]) -> Result<()> {
    let home = Home::from_env();
    let mut say = |s: &str| println!("{s}");
    let a: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match a.as_slice() {
        ["mount", dev, mp] => volume::mount(&home, dev, mp, &mut say),
        ["umount", dev, mp] => volume::umount(&home, dev, mp, &mut say),
        ["check", dev, mp] => volume::check(&home, dev, mp).map(|t| print!("{t}")),
        ["lock", svc] => volume::lock_by_hand(&home, svc, true, &mut say),
        ["unlock", svc] => volume::lock_by_hand(&home, svc, false, &mut say),
        ["init", dev] | ["init", "--force", dev] => {
            let id = sureha::disk::init(dev, a.len() == 3)?;
            println!("{dev}: SureHA disk {id:016x} ready for a disk link");
            Ok(())
        }
        _ => Err(Error::usage(USAGE)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("havol", run(&args))
}
