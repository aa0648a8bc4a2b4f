//! hamond's loop: keep hasvrd running (and be kept running by it), pass signals on. The
//! admin door (`door::server`) runs beside it in threads of its own, so no client can hold
//! this loop up.

use crate::child::Children;
use crate::clock::{human, Clock, Millis};
use crate::error::{Error, Result};
use crate::files;
use crate::log::Logger;
use crate::paths::{Daemon, Home};
use crate::request;
use crate::signals::Signals;
use crate::supervise::{Event, Lifeline, Partner};
use crate::sys;
use crate::watchdog::{Verdict, Watchdog};

/// How often hamond looks whether tmp/ is still there when it cannot be told (no inotify);
/// told, it looks once a minute anyway, in case a change was missed.
const TMP_CHECK: Millis = 5000;
const TMP_SAFETY: Millis = 60_000;

pub struct Hamond {
    home: Home,
    clock: Clock,
    log: Logger,
    signals: Signals,
    partner: Partner,
    children: Children<()>,
    leaving: bool,
    lock: files::InstanceLock,
    next_tmp_check: Millis,
    next_tmp_sweep: Millis,
    tmp_watch: crate::tmp_watch::TmpWatch,
    watchdog: Watchdog,
    /// When hasvrd last renewed the volume locks, as its last answer to a ping said
    /// (`sys::boottime_millis`): a new hasvrd is told.
    renewed_at: Option<u64>,
    /// Its last answer said the lease is at stake here (`Engine::lease_at_stake`): volumes
    /// may be mounted, or services run while its beat misses the disk.
    holding: bool,
    /// When a frozen holder is fenced: its locks renewed this long ago (ms), if a lock link.
    fence_after: Option<u64>,
    lease_fenced: bool,
    /// The fence, when a frozen hasvrd that will not die may hold volume locks.
    fence: Option<crate::config::Fence>,
}

impl Hamond {
    /// Takes the instance lock, writes the pid file, and starts (or adopts) hasvrd.
    pub fn start(home: Home, partner: Option<Partner>, echo: bool) -> Result<Hamond> {
        let mut log = Logger::new(home.log(), &home.node, "hamond");
        log.echo = echo;
        files::ensure_dirs(&home)?;
        let lock = files::InstanceLock::acquire(&home, Daemon::Hamond)?;
        let signals = Signals::new(&crate::signals::DAEMON)?;
        files::write_pid(&home, Daemon::Hamond)?;
        let clock = Clock::new();
        let mut children = Children::default();
        let partner = match partner {
            Some(p) => {
                log.info(&format!(
                    "hamond started (pid {}) by hasvrd (pid {}), which it now watches",
                    sys::getpid(),
                    p.pid().unwrap_or(0)
                ));
                p
            }
            None => {
                let _ = std::fs::remove_file(home.shutdown_marker());
                let mut p = Partner::none(Daemon::Hasvrd);
                let pid = p.spawn(&home, clock.now().max(1), &[])?;
                children.add(pid, (), None);
                log.info(&format!(
                    "hamond started (pid {}); started hasvrd (pid {pid})",
                    sys::getpid()
                ));
                p
            }
        };
        crate::door::server::start(&home);
        let tmp_watch = crate::tmp_watch::TmpWatch::new(&home);
        let (limit, period, fence, fence_after) = watch_settings(&home);
        let watchdog = Watchdog::with_period(limit, period, clock.now());
        Ok(Hamond {
            watchdog,
            renewed_at: None,
            holding: false,
            fence_after,
            lease_fenced: false,
            fence,
            tmp_watch,
            home,
            clock,
            log,
            signals,
            partner,
            children,
            leaving: false,
            lock,
            next_tmp_check: 0,
            next_tmp_sweep: 0,
        })
    }

    pub fn hasvrd_pid(&self) -> Option<u32> {
        self.partner.pid()
    }

    pub fn run(mut self) -> Result<()> {
        loop {
            let now = self.clock.now();
            // Everything hamond does comes through a descriptor (signals, the lifeline, the
            // tmp/ watch) except a due respawn and the slow look at tmp/: wake for those only.
            let mut timeout: Millis = self.next_tmp_check.saturating_sub(now).max(1);
            if let Some(t) = self.partner.respawn_due() {
                timeout = timeout.min(t.saturating_sub(now));
            }
            if self.partner.pid().is_some() {
                timeout = timeout.min(self.watchdog.due().saturating_sub(now).max(1));
                if let Some(t) = self.lease_fence_in() {
                    timeout = timeout.min(t.max(1));
                }
            }
            let mut set = sys::PollSet::default();
            set.read(self.signals.fd())
                .read(self.partner.fd())
                .read(self.tmp_watch.fd());
            let _ = set.wait(timeout.min(i32::MAX as Millis) as i32);
            // Only what poll says is ready is read; children are reaped on SIGCHLD.
            let ready = |fd: Option<i32>| fd.is_some_and(|fd| set.ready(fd));
            if ready(Some(self.signals.fd())) {
                let mut child_exited = false;
                for sig in self.signals.take() {
                    child_exited |= sig == sys::SIGCHLD;
                    self.signal(sig);
                }
                if child_exited {
                    for ended in self.children.reap() {
                        self.partner.reaped(ended.pid, ended.status);
                    }
                }
            }
            let now = self.clock.now();
            if ready(self.tmp_watch.fd()) && self.tmp_watch.fired() {
                self.next_tmp_check = now;
            }
            // The lock file is the canary of tmp/; the rest once a minute.
            if now >= self.next_tmp_check {
                self.next_tmp_check = now
                    + if self.tmp_watch.watching() {
                        TMP_SAFETY
                    } else {
                        TMP_CHECK
                    };
                if !self.lock.in_place(&self.home, Daemon::Hamond) || now >= self.next_tmp_sweep {
                    self.next_tmp_sweep = now + 60_000;
                    match files::restore_tmp(&self.home, Daemon::Hamond, &mut self.lock) {
                        Ok(r) if !r.is_empty() => {
                            self.log.warning(&format!(
                                "{} had disappeared (removed or moved away); recreated it",
                                r.join(", ")
                            ));
                            self.tmp_watch.rearm(&self.home);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.log.error(&format!("{}; retrying", e.message));
                            self.next_tmp_check = now + TMP_CHECK;
                        }
                    }
                }
            }
            let heard = if ready(self.partner.fd()) {
                self.partner.read_lifeline()
            } else {
                Lifeline::Quiet
            };
            if let Lifeline::Spoke(words) = &heard {
                self.watchdog.answered();
                if let Some((at, holding)) = crate::supervise::last_answer(words) {
                    self.renewed_at = (at > 0).then_some(at).or(self.renewed_at);
                    self.holding = holding;
                    self.lease_fenced = false;
                }
            }
            if heard == Lifeline::HungUp {
                self.watchdog.new_partner(now);
                for _ in 0..20 {
                    if !self.partner.awaiting_status() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    for ended in self.children.reap() {
                        self.partner.reaped(ended.pid, ended.status);
                    }
                }
                let renewed = self.renewed_args();
                let renewed: Vec<&str> = renewed.iter().map(String::as_str).collect();
                match self.partner.died(&self.home, now, &renewed) {
                    Event::Restarted(pid, how) => {
                        self.children.add(pid, (), None);
                        self.log.warning(&format!("hasvrd died ({how}); started a new one (pid {pid}), which adopts the running services"));
                    }
                    Event::Delayed(at, how) => self.log.warning(&format!(
                        "hasvrd died ({how}) soon after its start; restarting it in {}",
                        human(at - now)
                    )),
                    Event::Left(why) => {
                        self.log.info(&format!("{why}; hamond leaves too"));
                        break;
                    }
                }
            } else if self.partner.fd().is_none() && self.leaving {
                break;
            } else if self.partner.respawn_due().is_some_and(|t| now >= t) {
                self.watchdog.new_partner(now);
                let renewed = self.renewed_args();
                let renewed: Vec<&str> = renewed.iter().map(String::as_str).collect();
                match self.partner.respawn(&self.home, now, &renewed) {
                    Ok(pid) => {
                        self.children.add(pid, (), None);
                        self.log.info(&format!("started a new hasvrd (pid {pid})"));
                    }
                    Err(e) => self
                        .log
                        .error(&format!("cannot start hasvrd: {e}; retrying")),
                }
            } else if self.partner.pid().is_some() {
                self.watch(now);
            }
        }
        files::remove_pid(&self.home, Daemon::Hamond);
        Ok(())
    }

    fn renewed_args(&self) -> Vec<String> {
        self.renewed_at.map_or_else(Vec::new, |at| {
            vec![
                format!("--{}", crate::supervise::RENEWED_OPT),
                at.to_string(),
            ]
        })
    }

    /// How long until a frozen hasvrd's volume locks are where hasvrd itself would fence
    /// (`None`: nothing at stake).
    fn lease_fence_in(&self) -> Option<Millis> {
        if !self.holding || self.lease_fenced {
            return None;
        }
        let at = self.renewed_at? + self.fence_after?;
        Some(at.saturating_sub(sys::boottime_millis()))
    }

    /// Pings hasvrd, and replaces one whose loop stands still (`watchdog`); fences the node
    /// when a frozen one holds what the peer takes once the lease runs out (it cannot).
    fn watch(&mut self, now: Millis) {
        let Some(pid) = self.partner.pid() else {
            return;
        };
        if self.lease_fence_in() == Some(0) && self.watchdog.unanswered_for(now) >= 50 {
            self.lease_fenced = true;
            if let Some(how) = self.fence.clone() {
                let reason = format!(
                    "hasvrd (pid {pid}) answers nothing while volumes may be mounted here, or services run while its beat misses the disk, and the lease was last renewed {} ago: the peer may take them over soon",
                    human(sys::boottime_millis().saturating_sub(self.renewed_at.unwrap_or(0)))
                );
                self.log.error(&format!("fencing this node: {reason}"));
                crate::fence::fence(&self.home, &how, &reason, &mut self.log);
            }
        }
        match self.watchdog.turn(now) {
            Verdict::Nothing => {}
            Verdict::Ping => self.partner.send(b"p"),
            Verdict::Kill(silent) => {
                self.log.error(&format!(
                    "hasvrd (pid {pid}) has answered nothing for {}: its loop stands still (stopped, blocked or deadlocked); killing it, and a new one adopts the running services (the peer moves nothing)",
                    human(silent)
                ));
                let _ = sys::kill(pid, sys::SIGKILL);
            }
            Verdict::Fence(since) => match &self.fence {
                Some(how) => {
                    let reason = format!(
                        "hasvrd (pid {pid}) was killed {} ago and is still there (stuck in the kernel), so the volume locks it holds cannot be renewed",
                        human(since)
                    );
                    self.log.error(&format!("fencing this node: {reason}"));
                    crate::fence::fence(&self.home, how, &reason, &mut self.log);
                }
                None => self.log.error(&format!(
                    "hasvrd (pid {pid}) was killed {} ago and is still there (stuck in the kernel); no volume lock is at stake, so the node is left up: look at it now",
                    human(since)
                )),
            },
        }
    }

    fn signal(&mut self, sig: i32) {
        let pid = self.partner.pid();
        match sig {
            sys::SIGTERM | sys::SIGINT => {
                self.log
                    .info("asked to stop: telling hasvrd to stop the services here and leave");
                self.leaving = true;
                if let Ok(line) = request::encode(None, sys::getpid(), &["stop".to_string()]) {
                    if let Ok(fifo) = sys::open(&self.home.fifo(), sys::O_WRONLY | sys::O_NONBLOCK)
                    {
                        let _ = sys::without_sigpipe(|| sys::write_some(&fifo, line.as_bytes()));
                    }
                }
            }
            sys::SIGQUIT => {
                self.log
                    .info("SIGQUIT: hasvrd and hamond leave; services keep running");
                self.leaving = true;
                if let Some(p) = pid {
                    let _ = sys::kill(p, sys::SIGQUIT);
                }
            }
            sys::SIGHUP => {
                self.log.reopen();
                let (limit, period, fence, fence_after) = watch_settings(&self.home);
                self.watchdog.set_limit(limit, period, self.clock.now());
                self.fence = fence;
                self.fence_after = fence_after;
                if let Some(p) = pid {
                    let _ = sys::kill(p, sys::SIGHUP);
                }
            }
            sys::SIGUSR1 => self.log.info(&format!(
                "dump: hamond pid {} watching hasvrd pid {:?}",
                sys::getpid(),
                pid
            )),
            _ => {}
        }
    }
}

/// How long hasvrd may stand still and how often it is pinged (`disk::lease`), the fence
/// when volume locks are at stake, and when a frozen holder is fenced; as the configuration
/// says, or the defaults when it cannot be read (hasvrd then refuses it anyway).
fn watch_settings(home: &Home) -> (Millis, Millis, Option<crate::config::Fence>, Option<u64>) {
    use crate::disk::lease;
    let Ok((config, _)) = crate::config::read(&home.config()) else {
        return (5000, 1250, None, None);
    };
    let lock = lease::lock_link(&config);
    let at_stake = lock.is_some() && config.services.iter().any(|s| !s.volumes.is_empty());
    (
        lease::freeze_limit(&config),
        lease::ping_period(&config),
        at_stake.then(|| config.admin.fence.clone()),
        lock.map(lease::fence_after),
    )
}

/// Waits up to `limit` for hasvrd to serve its FIFO, or for `child` to die first.
pub fn wait_ready(home: &Home, child: u32, limit: std::time::Duration) -> Result<()> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if crate::fifo::server_running(home) {
            return Ok(());
        }
        if let Some((pid, st)) = sys::reap_any() {
            if pid == child {
                return Err(Error::failed(format!(
                    "hamond ended during start-up ({st}); see {}",
                    home.log().display()
                )));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(Error::failed(format!(
        "hasvrd did not start within {}s; see {}",
        limit.as_secs(),
        home.log().display()
    )))
}
