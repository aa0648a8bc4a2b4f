//! The key files of a change of key (`engine::keys`): etc/authkey seals, etc/authkey.next
//! and etc/authkey.prev are also taken while the change is under way. Each change is made
//! atomically, then the links restart with the keys as they now are (`check_authkey`).

use super::*;
use crate::engine::keys;
use crate::engine::KeyFiles;

impl Hasvrd {
    pub(super) fn key_files(&mut self, now: Millis, files: KeyFiles) {
        let main = self.home.authkey();
        let next = main.with_extension("next");
        let prev = main.with_extension("prev");
        let write = |path: &std::path::Path, key: &[u8]| {
            let mut data = key.to_vec();
            data.push(b'\n');
            files::write_atomic(path, &data, 0o600)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        let done = match files {
            KeyFiles::Make => {
                let key = crate::auth::hex(&crate::auth::random_bytes::<32>()).into_bytes();
                Some((keys::OFFER, write(&next, &key).map(|_| fingerprinted(key))))
            }
            KeyFiles::Store(key) => {
                let sound = key.iter().all(|b| b.is_ascii_graphic());
                let r = if sound {
                    write(&next, &key).map(|_| fingerprinted(key))
                } else {
                    Err("the peer's new key is not printable text; not kept".into())
                };
                Some((keys::HELD, r))
            }
            KeyFiles::Switch(fp) => Some((keys::SWITCHED, switch(&main, &next, &prev, &fp))),
            KeyFiles::DropOld => {
                let _ = std::fs::remove_file(&prev);
                None
            }
            KeyFiles::DropNext => {
                let _ = std::fs::remove_file(&next);
                None
            }
        };
        if let Some((step, result)) = done {
            self.inputs.push_back(Input::KeyFiles { step, result });
        }
        self.check_authkey(now);
    }
}

/// The key files as they are, for the engine at start.
pub(super) fn keys_on_disk(home: &crate::paths::Home) -> Option<Input> {
    let main = home.authkey();
    let fp = |p: &std::path::Path| {
        files::read_regular(p, 4096)
            .ok()
            .map(|k| crate::auth::key_fingerprint(k.trim_ascii()))
    };
    Some(Input::KeysOnDisk {
        main: fp(&main)?,
        next: fp(&main.with_extension("next")),
        prev: fp(&main.with_extension("prev")),
    })
}

fn fingerprinted(key: Vec<u8>) -> (Vec<u8>, String) {
    let fp = crate::auth::key_fingerprint(&key);
    (key, fp)
}

/// The next key (it must be the one named) becomes the key; the key, the one before.
fn switch(
    main: &std::path::Path,
    next: &std::path::Path,
    prev: &std::path::Path,
    fp: &str,
) -> std::result::Result<(Vec<u8>, String), String> {
    let read = |p: &std::path::Path| files::read_regular(p, 4096).map(|k| k.trim_ascii().to_vec());
    // Already switched (this hasvrd restarted, or the peer's word came again).
    if let Ok(key) = read(main) {
        if crate::auth::key_fingerprint(&key) == fp {
            return Ok(fingerprinted(key));
        }
    }
    let key = read(next).map_err(|e| format!("cannot read {}: {e}", next.display()))?;
    if crate::auth::key_fingerprint(&key) != fp {
        return Err(format!(
            "{} is not the key {fp} the change is about",
            next.display()
        ));
    }
    std::fs::rename(main, prev)
        .and_then(|_| std::fs::rename(next, main))
        .map_err(|e| format!("cannot put the new key in place: {e}"))?;
    Ok(fingerprinted(key))
}
