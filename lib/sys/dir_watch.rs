//! Says when anything in a set of directories changes (inotify), so that a caller who looks
//! at files there looks only then, and on a slow timer for what inotify cannot see (a file
//! changed through a symbolic link from elsewhere). Where inotify is missing, or a directory
//! cannot be watched, `watching` says no and the caller looks on its short timer.

use std::os::fd::RawFd;
use std::path::PathBuf;

#[derive(Default)]
pub struct DirWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    inotify: Option<nix::sys::inotify::Inotify>,
    dirs: Vec<PathBuf>,
    /// Every directory of `dirs` is watched.
    whole: bool,
}

impl DirWatch {
    /// Watches exactly `dirs` from now on (the same set again costs nothing).
    pub fn set(&mut self, mut dirs: Vec<PathBuf>) {
        dirs.sort();
        dirs.dedup();
        if dirs == self.dirs && (self.whole || dirs.is_empty()) {
            return;
        }
        self.dirs = dirs;
        self.whole = false;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
            let flags = AddWatchFlags::IN_ATTRIB
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF;
            self.inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
            if let Some(i) = &self.inotify {
                self.whole = self.dirs.iter().all(|d| i.add_watch(d, flags).is_ok());
            }
        }
    }

    /// Whether every directory set is watched (else the caller looks on its short timer).
    pub fn watching(&self) -> bool {
        self.whole && self.fd().is_some()
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
    /// A directory gone or moved is watched no more: the caller looks on its timer until
    /// the next `set` watches it again.
    pub fn fired(&mut self) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(i) = &self.inotify {
            use nix::sys::inotify::AddWatchFlags;
            let mut any = false;
            for _ in 0..64 {
                match i.read_events() {
                    Ok(ev) if !ev.is_empty() => {
                        any = true;
                        if ev.iter().any(|e| {
                            e.mask.intersects(
                                AddWatchFlags::IN_DELETE_SELF
                                    | AddWatchFlags::IN_MOVE_SELF
                                    | AddWatchFlags::IN_IGNORED,
                            )
                        }) {
                            self.whole = false;
                        }
                    }
                    _ => break,
                }
            }
            return any;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_in_a_watched_directory_fires_and_its_removal_stops_the_watch() {
        let dir = std::env::temp_dir().join(format!("sureha-dirwatch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = DirWatch::default();
        w.set(vec![dir.clone(), dir.clone()]);
        assert!(w.watching());
        assert!(!w.fired(), "nothing yet");
        std::fs::write(dir.join("svc.start"), "#!/bin/sh\n").unwrap();
        assert!(w.fired());
        assert!(!w.fired(), "drained");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(w.fired());
        assert!(!w.watching(), "the directory went");
        // A directory that is not there is not watched.
        w.set(vec![dir.clone()]);
        assert!(!w.watching());
    }
}
