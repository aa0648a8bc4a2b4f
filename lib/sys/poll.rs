//! poll(2), and the poll set every loop builds: the descriptors it waits on, then which
//! of them are ready.

use std::io;
use std::os::fd::RawFd;

pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;
pub const POLLHUP: i16 = libc::POLLHUP;
pub const POLLERR: i16 = libc::POLLERR;

/// One entry of a poll set.
#[derive(Clone, Copy, Debug)]
pub struct PollFd {
    pub fd: RawFd,
    pub events: i16,
    pub revents: i16,
}

/// poll(2); EINTR counts as "nothing ready".
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd,
            events: p.events,
            revents: 0,
        })
        .collect();
    // SAFETY: `raw` is a valid array of `raw.len()` pollfd structures.
    let n = unsafe { libc::poll(raw.as_mut_ptr(), raw.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    for (p, r) in fds.iter_mut().zip(raw.iter()) {
        p.revents = r.revents;
    }
    Ok(n as usize)
}

/// The descriptors a loop waits on this turn: added one by one (an absent one skipped),
/// waited on once, then asked which are ready.
#[derive(Debug, Default)]
pub struct PollSet {
    fds: Vec<PollFd>,
}

impl PollSet {
    /// Waits for `fd` to be readable (or hung up), if there is one.
    pub fn read(&mut self, fd: impl Into<Option<RawFd>>) -> &mut PollSet {
        self.add(fd.into(), POLLIN)
    }

    /// Waits for `fd` to be writable, if there is one.
    pub fn write(&mut self, fd: impl Into<Option<RawFd>>) -> &mut PollSet {
        self.add(fd.into(), POLLOUT)
    }

    fn add(&mut self, fd: Option<RawFd>, events: i16) -> &mut PollSet {
        if let Some(fd) = fd {
            self.fds.push(PollFd {
                fd,
                events,
                revents: 0,
            });
        }
        self
    }

    /// poll(2) for at most `timeout_ms` (-1: no limit); the error of poll itself.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        poll(&mut self.fds, timeout_ms)
    }

    /// Whether `fd` had anything happen (readable, writable, hung up, error) in the wait.
    pub fn ready(&self, fd: RawFd) -> bool {
        self.fds.iter().any(|p| p.fd == fd && p.revents != 0)
    }

    /// What happened on `fd` in the wait (0: nothing, or not in the set).
    pub fn events(&self, fd: RawFd) -> i16 {
        self.fds
            .iter()
            .filter(|p| p.fd == fd)
            .fold(0, |e, p| e | p.revents)
    }

    /// Every descriptor with something to take.
    pub fn ready_fds(&self) -> Vec<RawFd> {
        self.fds
            .iter()
            .filter(|p| p.revents != 0)
            .map(|p| p.fd)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_set_says_which_of_its_descriptors_are_ready() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut set = PollSet::default();
        set.read(a.as_raw_fd()).read(c.as_raw_fd()).read(None);
        assert_eq!(set.wait(0).unwrap(), 0, "nothing yet");
        b.write_all(b"x").unwrap();
        assert_eq!(set.wait(1000).unwrap(), 1);
        assert!(set.ready(a.as_raw_fd()) && !set.ready(c.as_raw_fd()));
        assert_eq!(set.events(a.as_raw_fd()) & POLLIN, POLLIN);
        assert_eq!(set.ready_fds(), vec![a.as_raw_fd()]);
        let mut w = PollSet::default();
        w.write(c.as_raw_fd());
        assert_eq!(w.wait(0).unwrap(), 1, "a socket with room is writable");
    }
}
