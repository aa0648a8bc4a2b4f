//! The request FIFO: hasvrd's server end, the clients' end, and reply delivery.
//!
//! Server: the FIFO is created 0600; an existing path must be a FIFO; hasvrd keeps a write end
//! of its own open so reads never see end of file. Clients open write-only and non-blocking,
//! so "no reader" means "hasvrd is not running", said plainly. Each client makes its own reply
//! FIFO under `tmp/` and removes it afterwards.

use crate::error::{Context, Error, Result};
use crate::files;
use crate::paths::{Daemon, Home};
use crate::request::{self, Reply};
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// hasvrd's end of the request FIFO.
pub struct FifoServer {
    read: OwnedFd,
    _write: OwnedFd,
    buf: Vec<u8>,
    discarding: bool,
}

impl FifoServer {
    pub fn open(path: &Path) -> Result<FifoServer> {
        sys::mkfifo(path, 0o600).context(format!("cannot create {}", path.display()))?;
        let read = sys::open(path, sys::O_RDONLY | sys::O_NONBLOCK)
            .context(format!("cannot open {}", path.display()))?;
        if !sys::is_fifo(&read).context(path.display())? {
            return Err(Error::failed(format!(
                "{} exists and is not a FIFO; remove it",
                path.display()
            )));
        }
        let write = sys::open(path, sys::O_WRONLY | sys::O_NONBLOCK)
            .context(format!("cannot open {} for writing", path.display()))?;
        Ok(FifoServer {
            read,
            _write: write,
            buf: Vec::new(),
            discarding: false,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Reads what is there; returns complete lines, and a note for each overlong one dropped.
    pub fn read_lines(&mut self) -> (Vec<Vec<u8>>, usize) {
        let mut chunk = [0u8; 8192];
        let mut dropped = 0;
        let mut lines = Vec::new();
        loop {
            match sys::read_some(&self.read, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if line.len() > request::MAX_LINE {
                dropped += 1;
                continue;
            }
            lines.push(line[..line.len() - 1].to_vec());
        }
        if self.buf.len() > request::MAX_LINE {
            self.buf.clear();
            if !self.discarding {
                dropped += 1;
            }
            self.discarding = true;
        }
        (lines, dropped)
    }
}

/// A reply still being written to a slow client.
struct Pending {
    fd: OwnedFd,
    data: Vec<u8>,
    pos: usize,
    deadline: Instant,
}

/// Replies hasvrd writes to clients, never blocking on them.
#[derive(Default)]
pub struct Outbox {
    pending: Vec<Pending>,
}

impl Outbox {
    /// Starts delivering `reply` to the client's FIFO `name`. A client that went away is not
    /// an error worth more than a return value.
    pub fn send(&mut self, home: &Home, name: &str, reply: &Reply) -> std::io::Result<()> {
        let path = home.reply(name);
        let fd = sys::open(&path, sys::O_WRONLY | sys::O_NONBLOCK)?;
        if !sys::is_fifo(&fd)? {
            return Err(std::io::Error::other("reply path is not a FIFO"));
        }
        let mut p = Pending {
            fd,
            data: reply.to_text().into_bytes(),
            pos: 0,
            deadline: Instant::now() + Duration::from_secs(5),
        };
        if !Self::push(&mut p) {
            self.pending.push(p);
        }
        Ok(())
    }

    /// Writes what fits; true when done (or hopeless).
    fn push(p: &mut Pending) -> bool {
        while p.pos < p.data.len() {
            match sys::write_some(&p.fd, &p.data[p.pos..]) {
                Ok(n) => p.pos += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
        true
    }

    /// Descriptors waiting to be writable.
    pub fn fds(&self) -> Vec<RawFd> {
        self.pending.iter().map(|p| p.fd.as_raw_fd()).collect()
    }

    /// Continues every pending reply; drops those past their deadline.
    pub fn flush(&mut self) {
        let now = Instant::now();
        self.pending
            .retain_mut(|p| !Self::push(p) && p.deadline > now);
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Removes reply FIFOs whose client died without cleaning up (an agent killed mid-call).
pub fn sweep_stale_replies(home: &Home) -> usize {
    let Ok(dir) = std::fs::read_dir(home.tmp()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !crate::paths::is_reply_name(&name) {
            continue;
        }
        let pid: Option<u32> = name.split('.').nth(1).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| !files::process_alive(p, 0))
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Removes the reply FIFO however the request ends.
struct ReplyFifo {
    path: PathBuf,
    fd: OwnedFd,
    name: String,
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How long a client waits and what it does while hasvrd is away.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Give up after this long without a reply (None: wait as long as hasvrd lives).
    pub reply: Option<Duration>,
    /// Keep retrying this long while hasvrd is not running (it restarts within a second).
    pub while_down: Duration,
    /// Ask the next hasvrd again if the one asked died before answering (for idempotent
    /// requests such as `apiok`; an administrator's command is not repeated behind their back).
    pub ask_again: bool,
}

/// Whether anyone reads the request FIFO now.
pub fn server_running(home: &Home) -> bool {
    sys::open(&home.fifo(), sys::O_WRONLY | sys::O_NONBLOCK).is_ok()
}

fn not_running(home: &Home) -> Error {
    Error::failed(format!(
        "hasvrd is not running on this node (nobody reads {}); start it with hamond",
        home.fifo().display()
    ))
}

/// Sends one request and waits for its reply.
pub fn call(home: &Home, words: &[String], patience: Patience) -> Result<Reply> {
    let mut down_since = Instant::now();
    loop {
        match call_once(home, words, patience.reply) {
            Err(Gone::NotRunning) if down_since.elapsed() < patience.while_down => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(Gone::NotRunning) => return Err(not_running(home)),
            Err(Gone::DiedWaiting) if patience.ask_again => down_since = Instant::now(),
            Err(Gone::DiedWaiting) => {
                return Err(Error::failed("hasvrd exited before answering; see the log"))
            }
            Err(Gone::Failed(e)) => return Err(e),
            Ok(r) => return Ok(r),
        }
    }
}

enum Gone {
    NotRunning,
    DiedWaiting,
    Failed(Error),
}

fn call_once(
    home: &Home,
    words: &[String],
    timeout: Option<Duration>,
) -> std::result::Result<Reply, Gone> {
    let pid = sys::getpid();
    let name = crate::paths::reply_name(pid, SEQ.fetch_add(1, Ordering::Relaxed));
    let path = home.reply(&name);
    let _ = std::fs::remove_file(&path);
    if let Err(e) = sys::mkfifo(&path, 0o600) {
        return Err(if e.kind() == std::io::ErrorKind::NotFound {
            Gone::NotRunning
        } else {
            Gone::Failed(Error::failed(format!(
                "cannot create {}: {e}",
                path.display()
            )))
        });
    }
    let fd = sys::open(&path, sys::O_RDONLY | sys::O_NONBLOCK).map_err(|e| {
        Gone::Failed(Error::failed(format!(
            "cannot open {}: {e}",
            path.display()
        )))
    })?;
    let reply = ReplyFifo { path, fd, name };
    let line = request::encode(Some(&reply.name), pid, words)
        .map_err(|e| Gone::Failed(Error::usage(e)))?;
    // hasvrd writes its pid file before it opens the FIFO, so this is the one we ask.
    let server = files::recorded_pid(home, Daemon::Hasvrd);
    send_line(home, &line)?;
    read_reply(home, &reply, timeout, server)
}

fn send_line(home: &Home, line: &str) -> std::result::Result<(), Gone> {
    let fifo =
        sys::open(&home.fifo(), sys::O_WRONLY | sys::O_NONBLOCK).map_err(|_| Gone::NotRunning)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A line under PIPE_BUF is written whole or not at all.
        match sys::without_sigpipe(|| sys::write_some(&fifo, line.as_bytes())) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(Gone::NotRunning),
            Err(e) => {
                return Err(Gone::Failed(Error::failed(format!(
                    "cannot write to {}: {e}",
                    home.fifo().display()
                ))))
            }
        }
    }
}

fn read_reply(
    home: &Home,
    reply: &ReplyFifo,
    timeout: Option<Duration>,
    server: Option<u32>,
) -> std::result::Result<Reply, Gone> {
    let started = Instant::now();
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut fds = [sys::PollFd {
            fd: reply.fd.as_raw_fd(),
            events: sys::POLLIN,
            revents: 0,
        }];
        let _ = sys::poll(&mut fds, 1000);
        loop {
            match sys::read_some(&reply.fd, &mut chunk) {
                Ok(0) if !data.is_empty() => {
                    let text = String::from_utf8_lossy(&data);
                    return Reply::parse(&text).map_err(|e| Gone::Failed(Error::failed(e)));
                }
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        if data.is_empty() && fds[0].revents == 0 {
            // A new hasvrd may already read the FIFO; it never saw our request.
            let asked_died = server.is_some_and(|p| !files::process_alive(p, 0));
            if asked_died || !server_running(home) {
                return Err(Gone::DiedWaiting);
            }
            if timeout.is_some_and(|t| started.elapsed() > t) {
                return Err(Gone::Failed(Error::failed(format!(
                    "no answer from hasvrd within {}s",
                    timeout.map_or(0, |t| t.as_secs())
                ))));
            }
        } else if fds[0].revents & sys::POLLHUP != 0 && data.is_empty() {
            // Some systems report hang-up before any writer came; do not spin on it.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
