//! Atomic file writes (`NAME.new`, fsync, rename), pid files and instance locks.

use crate::error::{Context, Error, Result};
use crate::paths::{Daemon, Home};
use crate::sys;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Replaces `path` with `data` so readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    replace(path, data, mode, true)
}

/// Replaces `path` with `data` at once for readers (a new file renamed over it), without
/// waiting for the disk: for hints that matter only until the next boot, written from a
/// loop a slow disk must not stall.
pub fn replace_unsynced(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    replace(path, data, mode, false)
}

/// A new file beside `path`, renamed over it; with `sync`, on the disk before and after.
fn replace(path: &Path, data: &[u8], mode: u32, sync: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if let (true, Some(dir)) = (sync, path.parent()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads a regular file of at most `max` bytes. The open never blocks (a FIFO put in the
/// file's place) and never reads without end (`/dev/zero`): anything but a regular file, or
/// a larger one, is an error that says so.
pub fn read_regular(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let fd = sys::open(path, sys::O_RDONLY | sys::O_NONBLOCK)?;
    let (kind, size) = sys::file_kind_and_size(&fd)?;
    if kind != sys::S_IFREG {
        return Err(std::io::Error::other("not a regular file"));
    }
    if size > max as u64 {
        return Err(std::io::Error::other(format!(
            "{size} bytes, more than the {max} allowed"
        )));
    }
    let mut data = Vec::new();
    File::from(fd).take(max as u64 + 1).read_to_end(&mut data)?;
    if data.len() > max {
        return Err(std::io::Error::other(format!(
            "grew past the {max} bytes allowed while being read"
        )));
    }
    Ok(data)
}

/// `read_regular` for text.
pub fn read_regular_text(path: &Path, max: usize) -> std::io::Result<String> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| std::io::Error::other("not UTF-8 text"))
}

/// The pid a daemon's pid file names, if the file exists and that process lives.
pub fn running_pid(home: &Home, daemon: Daemon) -> Option<u32> {
    let text = std::fs::read_to_string(home.pid_file(daemon)).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    // A pid file alone proves nothing: the lock says whether the daemon still runs.
    (sys::pid_exists(pid) && lock_is_held(home, daemon)).then_some(pid)
}

/// Whether some process holds the daemon's instance lock.
pub fn lock_is_held(home: &Home, daemon: Daemon) -> bool {
    let Ok(f) = sys::open(&home.lock_file(daemon), sys::O_RDONLY) else {
        return false;
    };
    match sys::try_lock(&f) {
        Ok(true) => false, // we got it, so nobody had it; dropping `f` releases it
        _ => true,
    }
}

/// A held instance lock; released when the process ends.
pub struct InstanceLock {
    _file: File,
    /// Device and inode of the lock file, to see cheaply that it is still in place.
    identity: Option<(u64, u64)>,
}

impl InstanceLock {
    /// Whether the lock file is still the one we hold: one `stat`, the canary of `tmp/`.
    pub fn in_place(&self, home: &Home, daemon: Daemon) -> bool {
        self.identity.is_some() && identity(&home.lock_file(daemon)) == self.identity
    }
}

/// Device and inode of a path (not following a final symlink), if it exists.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Device and inode of an open file.
pub fn identity_of(file: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// Puts back what a running daemon keeps under `tmp/` after somebody removed or moved it:
/// the directory, the instance lock (so no second instance starts) and the pid file. Returns
/// what was restored, for the log; empty when all was in place.
pub fn restore_tmp(home: &Home, daemon: Daemon, lock: &mut InstanceLock) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    if !home.tmp().is_dir() {
        ensure_dirs(home)?;
        restored.push(format!("{}/", home.tmp().display()));
    }
    if !lock.in_place(home, daemon) {
        *lock = InstanceLock::acquire(home, daemon)?;
        restored.push(format!("{}", home.lock_file(daemon).display()));
    }
    let pid_ok = std::fs::read_to_string(home.pid_file(daemon))
        .is_ok_and(|t| t.trim() == sys::getpid().to_string());
    if !pid_ok {
        write_pid(home, daemon)?;
        restored.push(format!("{}", home.pid_file(daemon).display()));
    }
    Ok(restored)
}

impl InstanceLock {
    pub fn acquire(home: &Home, daemon: Daemon) -> Result<InstanceLock> {
        let path = home.lock_file(daemon);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .context(format!("cannot open {}", path.display()))?;
        if !sys::try_lock(&file).context(format!("cannot lock {}", path.display()))? {
            let pid = std::fs::read_to_string(home.pid_file(daemon)).unwrap_or_default();
            return Err(Error::failed(format!(
                "{} is already running for {} (pid {})",
                daemon.name(),
                home.root.display(),
                pid.trim()
            )));
        }
        let identity = identity_of(&file);
        Ok(InstanceLock {
            _file: file,
            identity,
        })
    }
}

/// Makes `$HAHOME/tmp` (0700) and `$HAHOME/etc` if missing.
pub fn ensure_dirs(home: &Home) -> Result<()> {
    for (dir, mode) in [(home.etc(), 0o755), (home.tmp(), 0o700)] {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).context(format!("cannot create {}", dir.display()))?;
        }
        if dir == home.tmp() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .context(format!("cannot set the mode of {}", dir.display()))?;
        }
    }
    Ok(())
}

pub fn write_pid(home: &Home, daemon: Daemon) -> Result<()> {
    let path = home.pid_file(daemon);
    write_atomic(&path, format!("{}\n", sys::getpid()).as_bytes(), 0o644)
        .context(format!("cannot write {}", path.display()))
}

/// Removes our pid file, if it is still ours.
pub fn remove_pid(home: &Home, daemon: Daemon) {
    let path = home.pid_file(daemon);
    if std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == sys::getpid().to_string()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The kernel's id of this boot (Linux); elsewhere a constant, so state is always adopted.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// What tells a process from a later one with the same pid: its start time (Linux).
pub fn process_token(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// Whether the process `pid` with `token` (0: unknown) still lives. A zombie does not:
/// its parent may be slow to reap it, but it will never report again.
pub fn process_alive(pid: u32, token: u64) -> bool {
    if !sys::pid_exists(pid) {
        return false;
    }
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        {
            return false;
        }
    }
    token == 0 || process_token(pid) == token
}

/// The pid in a daemon's pid file, alive or not.
pub fn recorded_pid(home: &Home, daemon: Daemon) -> Option<u32> {
    std::fs::read_to_string(home.pid_file(daemon))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `path` is a regular file someone may execute; if not, why not.
pub fn executable(path: &Path) -> std::result::Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("does not exist".into()),
        Err(e) => Err(format!("cannot be read: {e}")),
        Ok(m) if !m.is_file() => Err("is not a regular file".into()),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err("is not executable".into()),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("sureha-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert!(!dir.join("f.new").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_process_token_is_stable() {
        let me = std::process::id();
        let t = process_token(me);
        if cfg!(target_os = "linux") {
            assert!(t > 0);
        }
        assert!(process_alive(me, t));
        assert_eq!(process_token(me), t);
    }
}
