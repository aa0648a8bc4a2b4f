//! The files and volume devices each service uses, looked at every few seconds for the
//! engine's readiness and drift (`engine::readiness`). A file is hashed again only when its
//! inode, size or times changed, so a quiet node makes a few `stat`s and nothing more.
//!
//! Files on a service's volume are not looked at: the standby does not have them mounted,
//! and a dying volume must not hang the loop. Devices are only `stat`ed, for the same reason.

use super::Hasvrd;
use crate::clock::Millis;
use crate::config::Config;
use crate::engine::readiness::{DeviceFact, FileFact, LocalFacts};
use crate::engine::Input;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// How often the files are looked at (the loop is awake at least this often anyway).
const EVERY: Millis = 5000;
/// The most of a file hashed (an agent binary is a few MB at most).
const HASHED: u64 = 64 << 20;

/// What a file looked like when it was last hashed, and its digest.
type Seen = ((u64, u64, u64, i64, i64, i64, i64), String);

#[derive(Default)]
pub(super) struct FileWatch {
    seen: BTreeMap<std::path::PathBuf, Seen>,
    last: Option<LocalFacts>,
    next: Millis,
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
        let mut looked = Vec::new();
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
                } else {
                    looked.push(path.clone());
                    self.file(&path)
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
                let problem = match std::fs::metadata(dev) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Some("is missing".to_string())
                    }
                    Err(e) => Some(format!("cannot be read ({e})")),
                    Ok(m) if !(m.file_type().is_block_device() || m.is_file()) => {
                        Some("is not a block device".to_string())
                    }
                    Ok(m) if m.permissions().mode() & 0o444 == 0 => {
                        Some("is not readable".to_string())
                    }
                    Ok(_) => None,
                };
                facts.devices.push(DeviceFact {
                    service: s.name.clone(),
                    device: dev.to_string(),
                    problem,
                });
            }
        }
        // Forget what no service uses any more.
        self.seen.retain(|p, _| looked.contains(p));
        facts
    }
}

impl Hasvrd {
    /// Every few seconds: the files and devices, to the engine when anything changed.
    pub(super) fn check_readiness(&mut self, now: Millis) {
        if now < self.files.next {
            return;
        }
        self.files.next = now + EVERY;
        let config = self.engine.shared_config();
        let node = self.engine.node().to_string();
        let facts = self.files.gather(&config, &node, &self.home.bin());
        if self.files.last.as_ref() != Some(&facts) {
            self.files.last = Some(facts.clone());
            self.feed(Input::Readiness(facts));
        }
    }
}
