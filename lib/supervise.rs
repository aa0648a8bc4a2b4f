//! Mutual supervision of hamond and hasvrd. Each watches the other through a pair of
//! "lifeline" pipes: each holds the write end of one pipe whose read end the other polls, so
//! the death of either shows at once as a hang-up, whichever is parent. The survivor starts
//! a new partner (handing it a fresh pair) unless `tmp/shutdown` says the leave was on
//! purpose. A partner that keeps dying young is restarted with growing back-off; one that
//! exits for a bad configuration is not restarted at all.

use crate::child::{self, Spec};
use crate::clock::Millis;
use crate::error::{exit, Context, Error, Result};
use crate::paths::{Daemon, Home};
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// The option that hands a new partner its lifeline descriptors: `--partner R,W`.
pub const PARTNER_OPT: &str = "partner";

/// The option that tells a new hasvrd when its predecessor last renewed the volume locks,
/// as that one said in its last answer to hamond (`sys::boottime_millis`): `--renewed-at MS`.
pub const RENEWED_OPT: &str = "renewed-at";

/// A partner that lived shorter than this died young.
const YOUNG: Millis = 10_000;
const MAX_BACKOFF: Millis = 30_000;

/// What the lifeline carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Lifeline {
    Quiet,
    /// Bytes: a ping (to hasvrd) or answers (to hamond).
    Spoke(Vec<u8>),
    /// The partner is gone.
    HungUp,
}

/// hasvrd's answer to a ping, a line: when it last renewed the volume locks (0: never, or
/// no lock link) and whether volumes may be mounted here (1) or not (0).
pub fn answer(renewed_at: u64, holding: bool) -> Vec<u8> {
    format!("{renewed_at} {}\n", u8::from(holding)).into_bytes()
}

/// The last whole answer in what hamond read (`None`: no whole line of that form).
pub fn last_answer(bytes: &[u8]) -> Option<(u64, bool)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let whole = text.rsplit_once('\n')?.0;
    let line = whole.rsplit('\n').next()?;
    let (at, holding) = line.trim().split_once(' ')?;
    Some((at.parse().ok()?, holding == "1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_whole_and_the_last_one_counts() {
        assert_eq!(last_answer(&answer(1234, true)), Some((1234, true)));
        let mut two = answer(1, false);
        two.extend(answer(99, true));
        assert_eq!(last_answer(&two), Some((99, true)));
        two.extend(b"12 1");
        assert_eq!(last_answer(&two), Some((99, true)), "a torn line waits");
        assert_eq!(last_answer(b"p\n"), None);
        assert_eq!(last_answer(b"\xff\n"), None);
        assert_eq!(last_answer(b""), None);
    }
}

/// What became of the partner.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// It died; a new one was started (pid).
    Restarted(u32, String),
    /// It died; a new one will be started at this time.
    Delayed(Millis, String),
    /// It left on purpose (shutdown marker) or for a bad configuration: so do we.
    Left(String),
}

pub struct Partner {
    pub daemon: Daemon,
    pid: Option<u32>,
    is_child: bool,
    from_partner: Option<OwnedFd>,
    to_partner: Option<OwnedFd>,
    spawned_at: Millis,
    young_deaths: u32,
    respawn_at: Option<Millis>,
    exit_status: Option<sys::ExitStatus>,
}

impl Partner {
    /// No partner yet (hamond at first start).
    pub fn none(daemon: Daemon) -> Partner {
        Partner {
            daemon,
            pid: None,
            is_child: false,
            from_partner: None,
            to_partner: None,
            spawned_at: 0,
            young_deaths: 0,
            respawn_at: None,
            exit_status: None,
        }
    }

    /// The partner that started us, from `--partner R,W`.
    pub fn inherited(daemon: Daemon, spec: &str) -> Result<Partner> {
        let bad = || {
            Error::usage(format!(
                "--{PARTNER_OPT} wants two descriptor numbers R,W, not '{spec}'"
            ))
        };
        let (r, w) = spec.split_once(',').ok_or_else(bad)?;
        let r: RawFd = r.parse().map_err(|_| bad())?;
        let w: RawFd = w.parse().map_err(|_| bad())?;
        let from = sys::adopt_inherited_fd(r).context("lifeline from the partner")?;
        sys::set_nonblock(&from, true).context("lifeline from the partner")?;
        let to = sys::adopt_inherited_fd(w).context("lifeline to the partner")?;
        // Never blocks: a frozen partner that reads nothing must not freeze us too.
        sys::set_nonblock(&to, true).context("lifeline to the partner")?;
        let mut p = Partner::none(daemon);
        p.pid = Some(sys::getppid());
        p.from_partner = Some(from);
        p.to_partner = Some(to);
        Ok(p)
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid.filter(|_| self.from_partner.is_some())
    }

    /// The descriptor that hangs up when the partner dies.
    pub fn fd(&self) -> Option<RawFd> {
        self.from_partner.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn program(&self, home: &Home) -> PathBuf {
        // The partner of the same build first, so a test tree and an installed tree never mix.
        let name = self.daemon.name();
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join(name)))
            .filter(|p| p.exists())
            .unwrap_or_else(|| home.bin().join(name))
    }

    /// Starts a new partner with a fresh lifeline pair.
    pub fn spawn(&mut self, home: &Home, now: Millis, extra: &[&str]) -> Result<u32> {
        let (their_read, our_write) = sys::pipe().context("lifeline pipe")?;
        let (our_read, their_write) = sys::pipe().context("lifeline pipe")?;
        let mut spec = Spec::new(self.program(home));
        spec.args = extra.iter().map(|s| s.to_string()).collect();
        spec.args.push(format!("--{PARTNER_OPT}"));
        spec.args.push(format!(
            "{},{}",
            their_read.as_raw_fd(),
            their_write.as_raw_fd()
        ));
        spec.env = child::base_env(home);
        spec.keep_fds = vec![their_read.as_raw_fd(), their_write.as_raw_fd()];
        let pid =
            child::spawn(&spec).context(format!("cannot start {}", spec.program.display()))?;
        self.pid = Some(pid);
        self.is_child = true;
        sys::set_nonblock(&our_read, true).ok();
        sys::set_nonblock(&our_write, true).ok();
        self.from_partner = Some(our_read);
        self.to_partner = Some(our_write);
        self.spawned_at = now;
        self.respawn_at = None;
        self.exit_status = None;
        Ok(pid)
    }

    /// Our child ended: remember how (a configuration error is not worth a restart).
    pub fn reaped(&mut self, pid: u32, status: sys::ExitStatus) -> bool {
        if self.is_child && self.pid == Some(pid) {
            self.exit_status = Some(status);
            true
        } else {
            false
        }
    }

    /// A child partner whose lifeline hung up but whose exit was not reaped yet: the kernel
    /// closes a dying process's descriptors a moment before it can be reaped.
    pub fn awaiting_status(&self) -> bool {
        self.is_child && self.exit_status.is_none()
    }

    /// What the lifeline carried (after poll said it is readable or hung up): hamond's
    /// pings, hasvrd's answers, or the hang-up of a partner that died.
    pub fn read_lifeline(&self) -> Lifeline {
        let Some(fd) = &self.from_partner else {
            return Lifeline::Quiet;
        };
        let mut buf = [0u8; 64];
        let mut got: Option<Vec<u8>> = None;
        // Bounded: a partner cannot keep this loop reading.
        for _ in 0..16 {
            match sys::read_some(fd, &mut buf) {
                Ok(0) => return Lifeline::HungUp,
                Ok(n) => got
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        got.map_or(Lifeline::Quiet, Lifeline::Spoke)
    }

    /// A word to the partner: hamond's ping, or hasvrd's answer to it (a line); the pipe
    /// is non-blocking.
    pub fn send(&self, word: &[u8]) {
        if let Some(fd) = &self.to_partner {
            let _ = sys::write_some(fd, word);
        }
    }

    /// The partner died: decide what to do, and do it if it is time.
    pub fn died(&mut self, home: &Home, now: Millis, extra: &[&str]) -> Event {
        let how = match self.exit_status {
            Some(st) => st.to_string(),
            None => "lifeline closed".to_string(),
        };
        let name = self.daemon.name();
        self.from_partner = None;
        self.to_partner = None;
        if home.shutdown_marker().exists() {
            return Event::Left(format!("{name} left on purpose ({how})"));
        }
        if self.exit_status == Some(sys::ExitStatus::Code(exit::CONFIG)) {
            return Event::Left(format!(
                "{name} refused the configuration ({how}); fix it and start SureHA again"
            ));
        }
        if self.spawned_at > 0 && now.saturating_sub(self.spawned_at) < YOUNG {
            self.young_deaths += 1;
        } else {
            self.young_deaths = 0;
        }
        let delay = if self.young_deaths <= 1 {
            0
        } else {
            (250u64 << self.young_deaths.min(8)).min(MAX_BACKOFF)
        };
        if delay == 0 {
            match self.spawn(home, now, extra) {
                Ok(pid) => Event::Restarted(pid, how),
                Err(e) => {
                    self.respawn_at = Some(now + 1000);
                    Event::Delayed(now + 1000, format!("{how}; restart failed: {e}"))
                }
            }
        } else {
            self.respawn_at = Some(now + delay);
            Event::Delayed(now + delay, how)
        }
    }

    /// When a delayed restart is due.
    pub fn respawn_due(&self) -> Option<Millis> {
        self.respawn_at
    }

    /// Performs a delayed restart.
    pub fn respawn(&mut self, home: &Home, now: Millis, extra: &[&str]) -> Result<u32> {
        match self.spawn(home, now, extra) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                self.respawn_at = Some(now + 1000);
                Err(e)
            }
        }
    }
}
