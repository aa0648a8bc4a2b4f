//! The files and volume devices each service uses, looked at for the engine's readiness and
//! drift (`engine::readiness`): when inotify says something changed in a directory that
//! holds one of them, and once a minute; every few seconds where that cannot be watched.
//! Each file is looked at once a look however many services use it, and hashed again only
//! when its inode, size or times changed, so a quiet node makes a few `stat`s a minute.
//!
//! Files on a service's volume are not looked at: the standby does not have them mounted,
//! and a dying volume must not hang the loop. Devices are only `stat`ed, for the same reason.

use super::Hasvrd;
use crate::clock::Millis;
use crate::config::Config;
use crate::engine::Input;
use crate::engine::{DeviceFact, FileFact, LocalFacts};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// How often the files are looked at where their directories cannot be watched.
const EVERY: Millis = 5000;
/// How often they are looked at anyway where they are watched.
const WATCHED_EVERY: Millis = 60_000;
/// The least time between two looks a change sets off (a script directory written to
/// in a loop must not make the loop hash files without rest).
const CHANGE_GAP: Millis = 500;
/// The most of a file hashed (an agent binary is a few MB at most).
const HASHED: u64 = 64 << 20;

/// What a file looked like when it was last hashed, and its digest.
type Seen = ((u64, u64, u64, i64, i64, i64, i64), String);

#[derive(Default)]
pub(super) struct FileWatch {
    seen: BTreeMap<std::path::PathBuf, Seen>,
    last: Option<LocalFacts>,
    next: Millis,
    looked_at: Millis,
    dirs: crate::sys::DirWatch,
}

fn hash(path: &Path) -> std::io::Result<String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = f.take(HASHED);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let d = h.finalize();
    Ok(d[..8].iter().map(|b| format!("{b:02x}")).collect())
}

impl FileWatch {
    fn file(&mut self, path: &Path) -> Result<(String, bool), String> {
        let m = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("is missing".into()),
            Err(e) => return Err(format!("cannot be read ({e})")),
        };
        if !m.is_file() {
            return Err("is not a regular file".into());
        }
        let executable = m.permissions().mode() & 0o111 != 0;
        let key = (
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        );
        if let Some((k, d)) = self.seen.get(path) {
            if *k == key {
                return Ok((d.clone(), executable));
            }
        }
        let d = hash(path).map_err(|e| format!("cannot be read ({e})"))?;
        self.seen.insert(path.to_path_buf(), (key, d.clone()));
        Ok((d, executable))
    }

    fn gather(&mut self, config: &Config, node: &str, bin: &Path) -> LocalFacts {
        let mounts: Vec<&str> = config
            .services
            .iter()
            .flat_map(|s| s.volumes.iter().map(|v| v.mount_point.as_str()))
            .collect();
        let mut facts = LocalFacts::default();
        // This look's answer for each file and device, however many services use it.
        let mut looked: HashMap<std::path::PathBuf, Result<(String, bool), String>> =
            HashMap::new();
        let mut devices: HashMap<&str, Option<String>> = HashMap::new();
        for s in &config.services {
            for (role, name, must_execute) in s.files_used() {
                let path = if Path::new(&name).is_absolute() {
                    std::path::PathBuf::from(&name)
                } else {
                    bin.join(&name)
                };
                let on_volume = mounts.iter().any(|m| path.starts_with(m));
                let digest = if on_volume {
                    Ok(("on-its-volume".to_string(), true))
                } else if let Some(d) = looked.get(&path) {
                    d.clone()
                } else {
                    let d = self.file(&path);
                    looked.insert(path.clone(), d.clone());
                    d
                };
                facts.files.push(FileFact {
                    service: s.name.clone(),
                    role,
                    name: name.clone(),
                    path: path.display().to_string(),
                    digest,
                    must_execute,
                });
            }
            for v in &s.volumes {
                let dev = s.device_on(v, node);
                let problem = devices.entry(dev).or_insert_with(|| device_problem(dev));
                facts.devices.push(DeviceFact {
                    service: s.name.clone(),
                    device: dev.to_string(),
                    problem: problem.clone(),
                });
            }
        }
        // Forget what no service uses any more; watch where the rest lives.
        self.seen.retain(|p, _| looked.contains_key(p));
        self.dirs.set(
            looked
                .keys()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect(),
        );
        facts
    }
}

/// What is wrong with a volume's device, if anything (only `stat`ed: a dying disk must not
/// hang the loop).
fn device_problem(dev: &str) -> Option<String> {
    match std::fs::metadata(dev) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("is missing".to_string()),
        Err(e) => Some(format!("cannot be read ({e})")),
        Ok(m) if !(m.file_type().is_block_device() || m.is_file()) => {
            Some("is not a block device".to_string())
        }
        Ok(m) if m.permissions().mode() & 0o444 == 0 => Some("is not readable".to_string()),
        Ok(_) => None,
    }
}

impl Hasvrd {
    /// When the files are looked at next.
    pub(super) fn readiness_due(&self) -> Millis {
        self.files.next
    }

    /// The descriptor that says a watched directory changed.
    pub(super) fn readiness_fd(&self) -> Option<std::os::fd::RawFd> {
        self.files.dirs.fd()
    }

    /// The files and devices, to the engine when anything changed: when a watched
    /// directory changed, and every minute (every few seconds where they are not watched).
    /// `changed`: the watch on the files' directories said something changed.
    pub(super) fn check_readiness(&mut self, now: Millis, changed: bool) {
        if changed && self.files.dirs.fired() {
            self.files.next = self.files.next.min(self.files.looked_at + CHANGE_GAP);
        }
        if now < self.files.next {
            return;
        }
        self.files.looked_at = now;
        let config = self.engine.shared_config();
        let node = self.engine.node().to_string();
        let facts = self.files.gather(&config, &node, &self.home.bin());
        let watched =
            self.files.dirs.watching() && !config.services.iter().any(|s| !s.volumes.is_empty());
        self.files.next = now + if watched { WATCHED_EVERY } else { EVERY };
        if self.files.last.as_ref() != Some(&facts) {
            self.files.last = Some(facts.clone());
            self.feed(Input::Readiness(facts));
        }
    }
}
