//! The key files of a change of key on each node, as the executor keeps them
//! (`executor::keys`; they outlive crashes and restarts), and invariant 12: no node ever
//! seals with a key its peer does not take, so a change of key never silences a link.

use super::{Sim, NAMES};
use crate::engine::keys;
use crate::engine::Input;
use crate::engine::KeyFiles;

/// etc/authkey, etc/authkey.next and etc/authkey.prev of one node.
#[derive(Clone, Debug)]
pub(super) struct KeyFilesOf {
    main: Vec<u8>,
    next: Option<Vec<u8>>,
    prev: Option<Vec<u8>>,
}

impl Default for KeyFilesOf {
    fn default() -> KeyFilesOf {
        KeyFilesOf {
            main: b"the pair's first key, 32 bytes..".to_vec(),
            next: None,
            prev: None,
        }
    }
}

impl KeyFilesOf {
    fn takes(&self, key: &[u8]) -> bool {
        self.main == key || self.next.as_deref() == Some(key) || self.prev.as_deref() == Some(key)
    }
}

impl Sim {
    /// What the executor does with `Action::Key` (at once: its files are local).
    pub(super) fn key_files(&mut self, n: usize, files: KeyFiles) {
        let fp = |k: &[u8]| crate::auth::key_fingerprint(k);
        let f = &mut self.keys[n];
        let done = match files {
            KeyFiles::Make => {
                self.keys_made += 1;
                let key = format!("key {:>28}", self.keys_made).into_bytes();
                f.next = Some(key.clone());
                Some((keys::OFFER, Ok((key.clone(), fp(&key)))))
            }
            KeyFiles::Store(key) => {
                f.next = Some(key.clone());
                Some((keys::HELD, Ok((key.clone(), fp(&key)))))
            }
            KeyFiles::Switch(want) => {
                let r = if fp(&f.main) == want {
                    Ok((f.main.clone(), want))
                } else if f.next.as_deref().is_some_and(|k| fp(k) == want) {
                    let next = f.next.take().unwrap_or_default();
                    f.prev = Some(std::mem::replace(&mut f.main, next));
                    Ok((f.main.clone(), want))
                } else {
                    Err(format!("no key {want} here"))
                };
                Some((keys::SWITCHED, r))
            }
            KeyFiles::DropOld => {
                f.prev = None;
                None
            }
            KeyFiles::DropNext => {
                f.next = None;
                None
            }
        };
        self.trace.push(format!(
            "{} {} keys main={} next={} prev={}",
            self.now,
            NAMES[n],
            fp(&self.keys[n].main),
            self.keys[n].next.as_deref().map_or("-".into(), fp),
            self.keys[n].prev.as_deref().map_or("-".into(), fp)
        ));
        if let Some((step, result)) = done {
            self.feed(n, Input::KeyFiles { step, result });
        }
    }

    /// What a starting hasvrd is told of its key files.
    pub(super) fn keys_on_disk(&self, n: usize) -> Input {
        let fp = |k: &[u8]| crate::auth::key_fingerprint(k);
        let f = &self.keys[n];
        Input::KeysOnDisk {
            main: fp(&f.main),
            next: f.next.as_deref().map(fp),
            prev: f.prev.as_deref().map(fp),
        }
    }

    /// Invariant 12: each node's sealing key is one its peer takes.
    pub(super) fn key_check(&mut self) {
        for n in 0..2 {
            if !self.keys[1 - n].takes(&self.keys[n].main) {
                self.fail(format!(
                    "invariant 12: {} seals with key {} and {} does not take it",
                    NAMES[n],
                    crate::auth::key_fingerprint(&self.keys[n].main),
                    NAMES[1 - n]
                ));
            }
        }
    }
}
