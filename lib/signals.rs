//! Signals through signal-hook's self-pipe: handlers only set a flag and wake the poll loop.

use crate::error::{Context, Result};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The signals hamond and hasvrd both handle (each says what it does with them), registered
/// before either writes its pid file.
pub const DAEMON: [i32; 6] = [
    crate::sys::SIGTERM,
    crate::sys::SIGINT,
    crate::sys::SIGHUP,
    crate::sys::SIGQUIT,
    crate::sys::SIGUSR1,
    crate::sys::SIGCHLD,
];

pub struct Signals {
    wake: UnixStream,
    flags: Vec<(i32, Arc<AtomicBool>)>,
}

impl Signals {
    pub fn new(list: &[i32]) -> Result<Signals> {
        let (read, write) = UnixStream::pair().context("cannot create the signal pipe")?;
        read.set_nonblocking(true).context("signal pipe")?;
        let mut flags = Vec::new();
        for &sig in list {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .context(format!("cannot handle signal {sig}"))?;
            let w = write.try_clone().context("signal pipe")?;
            signal_hook::low_level::pipe::register(sig, w)
                .context(format!("cannot handle signal {sig}"))?;
            flags.push((sig, flag));
        }
        Ok(Signals { wake: read, flags })
    }

    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The signals that arrived since the last call.
    pub fn take(&mut self) -> Vec<i32> {
        let mut buf = [0u8; 64];
        while crate::sys::read_some(&self.wake, &mut buf).is_ok_and(|n| n > 0) {}
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }
}
