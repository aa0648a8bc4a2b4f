//! The data path of this node's volume devices, watched by one thread a device (a read of a
//! dying disk can hang for minutes; the loop must not), and the fence.

use super::*;
use crate::engine::DataPath;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Probe {
    /// A read under way since then.
    started: Option<Instant>,
    last: Option<std::result::Result<(), String>>,
    stop: bool,
}

pub(super) struct PathWatch {
    device: String,
    probe: Arc<Mutex<Probe>>,
}

/// The watchers, their wake-up pipe, and what the engine was last told.
#[derive(Default)]
pub(super) struct DataPaths {
    watches: Vec<PathWatch>,
    wake: Option<(OwnedFd, Arc<OwnedFd>)>,
    reported: Vec<DataPath>,
    limit: Duration,
}

impl DataPaths {
    pub(super) fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.wake.as_ref().map(|(r, _)| r.as_raw_fd())
    }

    /// When a read under way turns into a hung one.
    pub(super) fn next_deadline(&self, clock_now: Millis) -> Option<Millis> {
        let now = Instant::now();
        self.watches
            .iter()
            .filter_map(|w| w.probe.lock().ok()?.started)
            .map(|s| {
                let due = (s + self.limit).saturating_duration_since(now);
                clock_now + due.as_millis() as Millis + 1
            })
            .min()
    }
}

fn watch_loop(device: String, probe: Arc<Mutex<Probe>>, wake: Arc<OwnedFd>, period: Duration) {
    let mut dev: Option<crate::disk::device::Device> = None;
    loop {
        if let Ok(mut p) = probe.lock() {
            if p.stop {
                return;
            }
            p.started = Some(Instant::now());
        }
        if dev.is_none() {
            dev = crate::disk::device::Device::open_read(&device).ok();
        }
        let result = match &dev {
            Some(d) => d
                .read(0, crate::disk::layout::BLOCK)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => crate::disk::device::Device::open_read(&device)
                .map(|_| ())
                .map_err(|e| format!("cannot open it: {e}")),
        };
        if result.is_err() {
            // Opened afresh next time: the device may have been replaced.
            dev = None;
        }
        let changed = match probe.lock() {
            Ok(mut p) => {
                p.started = None;
                let changed = p.last.as_ref() != Some(&result);
                p.last = Some(result);
                changed
            }
            Err(_) => return,
        };
        if changed {
            let _ = sys::write_some(&*wake, b"!");
        }
        std::thread::sleep(period);
    }
}

impl Hasvrd {
    /// Starts and stops watchers to match the configuration.
    pub(super) fn sync_data_paths(&mut self) {
        let config = self.engine.shared_config();
        let wanted = crate::disk::data_path::devices_of(&config, &self.home.node);
        let (period, limit) = crate::disk::data_path::watch_timing(&config);
        let period = Duration::from_millis(period);
        self.paths.limit = Duration::from_millis(limit);
        self.paths.watches.retain(|w| {
            let keep = wanted.contains(&w.device);
            if !keep {
                if let Ok(mut p) = w.probe.lock() {
                    p.stop = true;
                }
            }
            keep
        });
        if wanted.is_empty() {
            return;
        }
        if self.paths.wake.is_none() {
            match sys::pipe() {
                Ok((r, w)) => {
                    let _ = sys::set_nonblock(&r, true);
                    let _ = sys::set_nonblock(&w, true);
                    self.paths.wake = Some((r, Arc::new(w)));
                }
                Err(e) => {
                    self.log
                        .error(&format!("data path watch: cannot make a pipe: {e}"));
                    return;
                }
            }
        }
        let Some((_, wake)) = &self.paths.wake else {
            return;
        };
        for d in wanted {
            if self.paths.watches.iter().any(|w| w.device == d) {
                continue;
            }
            let probe = Arc::new(Mutex::new(Probe::default()));
            let (p, w, dev) = (Arc::clone(&probe), Arc::clone(wake), d.clone());
            let spawned = std::thread::Builder::new()
                .name("data-path".into())
                .spawn(move || watch_loop(dev, p, w, period));
            match spawned {
                Ok(_) => self.paths.watches.push(PathWatch { device: d, probe }),
                Err(e) => self
                    .log
                    .error(&format!("data path of {d}: cannot start its watch: {e}")),
            }
        }
    }

    /// Tells the engine when a device's data path changed (a result, or a read that hangs).
    pub(super) fn check_data_paths(&mut self, woken: bool) {
        if woken {
            if let Some((r, _)) = &self.paths.wake {
                let mut buf = [0u8; 64];
                while matches!(sys::read_some(r, &mut buf), Ok(n) if n > 0) {}
            }
        }
        let limit = self.paths.limit;
        // Every turn of the loop comes here: look only when a watcher said something
        // changed, or a read under way may have turned into a hung one.
        let hang_due = self.paths.watches.iter().any(|w| {
            w.probe
                .lock()
                .is_ok_and(|p| p.started.is_some_and(|s| s.elapsed() > limit))
        });
        if !woken && !hang_due && !self.paths.reported.iter().any(|r| !r.ok) {
            return;
        }
        let now: Vec<DataPath> = self
            .paths
            .watches
            .iter()
            .filter_map(|w| {
                let p = w.probe.lock().ok()?;
                let hung = p.started.is_some_and(|s| s.elapsed() > limit);
                let (ok, why) = match (&p.last, hung) {
                    (_, true) => (
                        false,
                        format!(
                            "a read has hung for more than {}",
                            crate::clock::human(limit.as_millis() as Millis)
                        ),
                    ),
                    (Some(Err(e)), _) => (false, e.clone()),
                    (Some(Ok(())), _) => (true, String::new()),
                    // Not read yet: nothing to say.
                    (None, _) => return None,
                };
                Some(DataPath {
                    device: w.device.clone(),
                    ok,
                    why,
                })
            })
            .collect();
        let same = now.len() == self.paths.reported.len()
            && now
                .iter()
                .zip(&self.paths.reported)
                .all(|(a, b)| a.device == b.device && a.ok == b.ok);
        if !same {
            self.paths.reported = now.clone();
            self.feed(Input::DataPaths(now));
        }
    }

    /// Takes this node down as `[admin] fence` says. The engine has logged why.
    pub(super) fn fence(&mut self, reason: &str) {
        let how = self.engine.config().admin.fence.clone();
        crate::fence::fence(&self.home, &how, reason, &mut self.log);
    }
}
