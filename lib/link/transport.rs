//! The one loop of every link process (hahb-sock, hahb-serial, hahb-disk). Each turn: open
//! the medium if it is closed (again every second while it fails), sleep until hasvrd, the
//! medium or a timer wakes it, send what hasvrd gave, pass up what the peer sent and checks
//! out, repeat the standing beat (`Relay`), and report the counters. A transport says only
//! how its medium opens, sends and receives.

use super::relay::{sooner, timeout_until, Relay};
use super::{reload_keys, tell_version, Counters, Given, Upstream, LATE};
use crate::error::Result;
use crate::frame::{Opened, ReplayGuard, Wire};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys::PollSet;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// A closed or failed medium is tried again this often.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Counters held back by the twice-a-second limit are looked at again this soon.
const REPORT_PACE: Duration = Duration::from_millis(500);

/// What a transport may use in a turn besides its own state.
pub(crate) struct Turn<'a> {
    pub up: &'a mut Upstream,
    pub log: &'a mut Logger,
    pub counters: &'a mut Counters,
    pub wire: &'a mut Wire,
    pub guard: &'a mut ReplayGuard,
}

/// How one kind of link reaches the peer.
pub(crate) trait Transport {
    /// The open socket, line or device.
    type Medium;

    /// Opens the medium; the error (`cannot open …`) is logged once until it changes.
    fn open(&mut self) -> std::result::Result<Self::Medium, String>;

    /// What to log once the medium is open, if anything.
    fn opened(&mut self, medium: &Self::Medium) -> Option<String>;

    /// The descriptor to wake on when the peer sends, if the medium has one.
    fn fd(medium: &Self::Medium) -> Option<RawFd>;

    /// When the transport needs a turn of its own (a read on a timer, half a frame).
    fn wake(&self, medium: Option<&Self::Medium>) -> Option<Instant>;

    /// hasvrd's frames as it gave them, before they are sealed.
    fn given(&mut self, _frames: &[Given]) {}

    /// Sends sealed frames; `false`: the medium failed and is opened afresh.
    fn send(
        &mut self,
        medium: &mut Self::Medium,
        frames: &[Vec<u8>],
        turn: &mut Turn,
    ) -> Result<bool>;

    /// The peer's frames that checked out (the bad ones counted); `false`: the medium failed.
    fn receive(
        &mut self,
        medium: &mut Self::Medium,
        set: &PollSet,
        turn: &mut Turn,
    ) -> Result<(Vec<Opened>, bool)>;

    /// hasvrd is gone, its last frames sent.
    fn hasvrd_gone(&mut self, _medium: Option<&mut Self::Medium>, _turn: &mut Turn) {}
}

/// Runs link `name` over `transport` until hasvrd closes its end. `relay` repeats the
/// standing beat and passes up news only; without it (the disk) every frame goes up.
pub(crate) fn run<T: Transport>(
    home: &Home,
    name: &str,
    mut transport: T,
    mut wire: Wire,
    mut relay: Option<Relay>,
    mut log: Logger,
) -> Result<()> {
    let mut up = Upstream::new(name)?;
    let mut medium: Option<T::Medium> = None;
    let mut open_error: Option<String> = None;
    let mut next_open = Instant::now();
    let mut guard = ReplayGuard::default();
    let mut counters = Counters::default();
    let mut buf = vec![0u8; 70_000];
    macro_rules! turn {
        () => {
            &mut Turn {
                up: &mut up,
                log: &mut log,
                counters: &mut counters,
                wire: &mut wire,
                guard: &mut guard,
            }
        };
    }
    loop {
        if medium.is_none() && Instant::now() >= next_open {
            match transport.open() {
                Ok(m) => {
                    if let Some(line) = transport.opened(&m) {
                        log.info(&format!("link {name}: {line}"));
                    }
                    open_error = None;
                    medium = Some(m);
                }
                Err(msg) => {
                    if open_error.as_deref() != Some(msg.as_str()) {
                        log.warning(&format!("link {name}: {msg}; retrying every second"));
                        open_error = Some(msg);
                    }
                    next_open = Instant::now() + REOPEN_EVERY;
                }
            }
        }
        let mut set = PollSet::default();
        set.read(up.fd()).read(medium.as_ref().and_then(T::fd));
        // Asleep until hasvrd or the peer sends, the standing beat is due, the peer turns
        // late, the transport or a closed medium wants a turn, or held-back counters are due.
        let mut wake = sooner(
            relay.as_ref().and_then(Relay::wake),
            transport.wake(medium.as_ref()),
        );
        if medium.is_none() {
            wake = sooner(wake, Some(next_open));
        }
        if up.report_due(&counters) {
            wake = sooner(wake, Some(Instant::now() + REPORT_PACE));
        }
        let _ = set.wait(timeout_until(wake, Instant::now()));

        // Frames from hasvrd go out; once hasvrd is gone, so are we.
        let (frames, closed) = if set.ready(up.fd()) {
            up.frames(&mut log, &mut buf)?
        } else {
            (Vec::new(), false)
        };
        reload_keys(&mut up, home, &mut wire, relay.as_mut(), &mut log, name);
        transport.given(&frames);
        let out: Vec<Vec<u8>> = frames
            .into_iter()
            .filter(|(standing, f)| relay.as_mut().is_none_or(|r| r.given(*standing, f)))
            .filter_map(|(_, f)| wire.outgoing(&f))
            .collect();
        let mut failed = !send(&mut transport, medium.as_mut(), &out, turn!())?;
        if closed {
            transport.hasvrd_gone(medium.as_mut(), turn!());
            return Ok(());
        }

        // Frames from the peer come in, checked; only news goes up.
        if let Some(m) = medium.as_mut() {
            let (got, ok) = transport.receive(m, &set, turn!())?;
            failed |= !ok;
            for f in got {
                counters.rx += 1;
                let news = match relay.as_mut() {
                    Some(r) => r.arrived(f),
                    None => Some(f),
                };
                if let Some(news) = news {
                    counters.up += 1;
                    up.deliver(&news)?;
                }
            }
        }
        tell_version(&mut wire, &mut counters, &mut log, name);
        if let Some(r) = relay.as_mut() {
            let (repeats, late) = r.end_turn(wire.short_repeats());
            let out: Vec<Vec<u8>> = repeats.iter().filter_map(|f| wire.outgoing(f)).collect();
            failed |= !send(&mut transport, medium.as_mut(), &out, turn!())?;
            if late {
                up.write(LATE, b"")?;
            }
        }
        if failed {
            // Opened afresh in a second: the address may come back, the device be replaced.
            medium = None;
            next_open = Instant::now() + REOPEN_EVERY;
        }
        up.report(&counters, &mut log)?;
    }
}

/// Sends `frames`, counted as failed while the medium is closed.
fn send<T: Transport>(
    transport: &mut T,
    medium: Option<&mut T::Medium>,
    frames: &[Vec<u8>],
    turn: &mut Turn,
) -> Result<bool> {
    if frames.is_empty() {
        return Ok(true);
    }
    match medium {
        Some(m) => transport.send(m, frames, turn),
        None => {
            turn.counters.txerr += frames.len() as u64;
            Ok(true)
        }
    }
}
