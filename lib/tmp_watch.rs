//! Says when something under `$HAHOME/tmp` is removed or moved away, or tmp/ itself, without
//! waking on a timer (inotify on tmp/): hamond and hasvrd put back what they keep there at
//! once, and otherwise sleep. Where inotify is missing the daemons look on a short timer.

use crate::paths::Home;
use std::os::fd::RawFd;

pub struct TmpWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    inotify: Option<nix::sys::inotify::Inotify>,
}

impl TmpWatch {
    pub fn new(home: &Home) -> TmpWatch {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
            let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                .ok()
                .filter(|i| {
                    i.add_watch(
                        &home.tmp(),
                        AddWatchFlags::IN_DELETE
                            | AddWatchFlags::IN_MOVED_FROM
                            | AddWatchFlags::IN_DELETE_SELF
                            | AddWatchFlags::IN_MOVE_SELF,
                    )
                    .is_ok()
                });
            TmpWatch { inotify }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = home;
            TmpWatch {}
        }
    }

    /// Whether it watches (else the caller looks on a timer).
    pub fn watching(&self) -> bool {
        self.fd().is_some()
    }

    /// The descriptor to poll for reading.
    pub fn fd(&self) -> Option<RawFd> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::fd::{AsFd, AsRawFd};
            self.inotify.as_ref().map(|i| i.as_fd().as_raw_fd())
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        None
    }

    /// Reads what happened (a bounded number of reads); true when anything did: look now.
    pub fn fired(&mut self) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(i) = &self.inotify {
            let mut any = false;
            for _ in 0..64 {
                match i.read_events() {
                    // A file written in place of another (`files::write_atomic`) is not a
                    // loss: its temporary name moving away is no news.
                    Ok(ev) if !ev.is_empty() => {
                        any |= ev.iter().any(|e| {
                            e.name
                                .as_ref()
                                .is_none_or(|n| !n.to_string_lossy().ends_with(".new"))
                        })
                    }
                    _ => break,
                }
            }
            return any;
        }
        false
    }

    /// Watches tmp/ afresh (after it was put back: the old one is gone).
    pub fn rearm(&mut self, home: &Home) {
        *self = TmpWatch::new(home);
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn a_file_removed_from_tmp_or_tmp_moved_away_is_seen_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("sureha-tmpwatch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("tmp/hamond.lock"), "").unwrap();
        let home = Home {
            root: dir.clone(),
            node: "alpha".into(),
        };
        let mut w = TmpWatch::new(&home);
        assert!(w.watching());
        assert!(!w.fired(), "nothing yet");
        std::fs::write(dir.join("tmp/hamond.lock"), "x").unwrap();
        assert!(!w.fired(), "a write is not a removal");
        crate::files::write_atomic(&dir.join("tmp/state"), b"s", 0o600).unwrap();
        assert!(!w.fired(), "nor is a file written in place");
        std::fs::remove_file(dir.join("tmp/hamond.lock")).unwrap();
        assert!(w.fired());
        std::fs::rename(dir.join("tmp"), dir.join("tmp.away")).unwrap();
        assert!(w.fired());
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        w.rearm(&home);
        std::fs::remove_dir_all(dir.join("tmp")).unwrap();
        assert!(w.fired());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
