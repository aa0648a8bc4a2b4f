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
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// hasvrd's end of the request FIFO.
pub struct FifoServer {
    read: OwnedFd,
    /// Device and inode of the FIFO, to see cheaply that `tmp/` is still in place.
    identity: Option<(u64, u64)>,
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
        let identity = sys::file_identity(&read).ok();
        Ok(FifoServer {
            read,
            identity,
            _write: write,
            buf: Vec::new(),
            discarding: false,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Whether `path` is still this FIFO (tmp/ may have been removed or moved away).
    pub fn still_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let here = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        here.is_some() && here == self.identity
    }

    /// Reads what is there, up to a budget, so a writer flooding the FIFO cannot hold the
    /// loop: heartbeats and timers come first, the rest is read on the next turn.
    ///
    /// Every client writes a whole line at once (shorter than PIPE_BUF, so atomic): once the
    /// FIFO is drained, bytes without their newline are a stray write, not the start of a
    /// request. They are dropped there, at that clear boundary, and the next request is
    /// read whole.
    pub fn read_lines(&mut self) -> Lines {
        let mut chunk = [0u8; 8192];
        let mut out = Lines::default();
        let mut budget = READ_BUDGET;
        let drained = loop {
            if budget == 0 {
                break false;
            }
            match sys::read_some(&self.read, &mut chunk) {
                Ok(0) => break true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        };
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + pos];
            start += pos + 1;
            if std::mem::take(&mut self.discarding) {
                continue;
            }
            if line.len() + 1 > request::MAX_LINE {
                out.overlong += 1;
                continue;
            }
            out.lines.push(line.to_vec());
        }
        self.buf.drain(..start);
        if drained && !self.buf.is_empty() {
            if !self.discarding {
                out.partial += 1;
            }
            self.buf.clear();
            self.discarding = false;
        } else if self.buf.len() > request::MAX_LINE {
            self.buf.clear();
            if !self.discarding {
                out.overlong += 1;
            }
            self.discarding = true;
        }
        out.more = !drained;
        out
    }
}

/// How much the loop reads from the FIFO in one turn.
const READ_BUDGET: usize = 64 * 1024;

/// What one turn read from the request FIFO.
#[derive(Default, Debug)]
pub struct Lines {
    pub lines: Vec<Vec<u8>>,
    /// Lines longer than `request::MAX_LINE`, dropped.
    pub overlong: usize,
    /// Bytes without a newline left once the FIFO was drained, dropped.
    pub partial: usize,
    /// The budget ran out: more is waiting.
    pub more: bool,
}

/// A reply still being written to a slow client.
struct Pending {
    fd: OwnedFd,
    data: Vec<u8>,
    pos: usize,
    deadline: Instant,
}

/// What hasvrd writes to a client's reply FIFO as soon as it has read the request: the client
/// then knows it was taken, and waits for the answer (which may come much later: a bring-in,
/// a paced `apiok`) instead of giving up.
pub const TAKEN: &[u8] = b"TAKEN\n";

/// Reply FIFOs held open between the acknowledgement and the answer; past this many, the
/// oldest is closed (its client sees hasvrd drop the request, and says so).
const MAX_HELD: usize = 1024;

/// Replies hasvrd writes to clients, never blocking on them.
#[derive(Default)]
pub struct Outbox {
    pending: Vec<Pending>,
    held: VecDeque<(String, OwnedFd)>,
}

fn open_reply(home: &Home, name: &str) -> std::io::Result<OwnedFd> {
    let fd = sys::open(&home.reply(name), sys::O_WRONLY | sys::O_NONBLOCK)?;
    if !sys::is_fifo(&fd)? {
        return Err(std::io::Error::other("reply path is not a FIFO"));
    }
    Ok(fd)
}

impl Outbox {
    /// Tells the client its request was taken, and holds its FIFO open for the answer.
    pub fn acknowledge(&mut self, home: &Home, name: &str) -> std::io::Result<()> {
        let fd = open_reply(home, name)?;
        sys::write_some(&fd, TAKEN)?;
        if self.held.len() >= MAX_HELD {
            self.held.pop_front();
        }
        self.held.push_back((name.to_string(), fd));
        Ok(())
    }

    /// Starts delivering `reply` to the client's FIFO `name`. A client that went away is not
    /// an error worth more than a return value.
    pub fn send(&mut self, home: &Home, name: &str, reply: &Reply) -> std::io::Result<()> {
        let fd = match self.held.iter().position(|(n, _)| n == name) {
            Some(i) => match self.held.remove(i) {
                Some((_, fd)) => fd,
                None => open_reply(home, name)?,
            },
            None => open_reply(home, name)?,
        };
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
    /// Give up when hasvrd has not taken the request (`TAKEN`) within this long.
    pub taken: Duration,
    /// Once taken, give up after this long without the answer (None: as long as hasvrd
    /// lives; it answers every request it took within the request's own deadline).
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
        match call_once(home, words, patience) {
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
    patience: Patience,
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
    read_reply(home, &reply, patience, server)
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
    patience: Patience,
    server: Option<u32>,
) -> std::result::Result<Reply, Gone> {
    let started = Instant::now();
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut set = sys::PollSet::default();
        set.read(reply.fd.as_raw_fd());
        // Until hasvrd takes the request, look after it every second. Once taken, it holds
        // our FIFO open until it answers, and its death closes it: sleep until either (a
        // paced apiok costs no wake-up meanwhile).
        let wait = match (data.is_empty(), patience.reply) {
            (true, _) => 1000,
            (false, None) => -1,
            (false, Some(t)) => t
                .saturating_sub(started.elapsed())
                .as_millis()
                .clamp(1, 60_000) as i32,
        };
        let _ = set.wait(wait);
        loop {
            match sys::read_some(&reply.fd, &mut chunk) {
                Ok(0) if !data.is_empty() => {
                    let answer = data.strip_prefix(TAKEN).unwrap_or(&data);
                    if answer.is_empty() {
                        // Taken, then the FIFO closed without an answer: that hasvrd is gone.
                        return Err(Gone::DiedWaiting);
                    }
                    let text = String::from_utf8_lossy(answer);
                    return Reply::parse(&text).map_err(|e| Gone::Failed(Error::failed(e)));
                }
                Ok(0) => break,
                Ok(n) if data.len() + n <= MAX_REPLY => data.extend_from_slice(&chunk[..n]),
                Ok(_) => {
                    return Err(Gone::Failed(Error::failed(format!(
                        "the reply of hasvrd is longer than {MAX_REPLY} bytes"
                    ))))
                }
                Err(_) => break,
            }
        }
        if data.is_empty() && !set.ready(reply.fd.as_raw_fd()) {
            // A new hasvrd may already read the FIFO; it never saw our request.
            let asked_died = server.is_some_and(|p| !files::process_alive(p, 0));
            if asked_died || !server_running(home) {
                return Err(Gone::DiedWaiting);
            }
        } else if set.events(reply.fd.as_raw_fd()) & sys::POLLHUP != 0 && data.is_empty() {
            // Some systems report hang-up before any writer came; do not spin on it.
            std::thread::sleep(Duration::from_millis(10));
        }
        let waited = started.elapsed();
        if data.is_empty() && waited > patience.taken {
            return Err(Gone::Failed(Error::failed(format!(
                "hasvrd did not take the request within {}s (it is overloaded, or the request \
                 was lost); see {}",
                patience.taken.as_secs(),
                home.log().display()
            ))));
        }
        if patience.reply.is_some_and(|t| waited > t) {
            return Err(Gone::Failed(Error::failed(format!(
                "hasvrd took the request but did not answer within {}s; see {}",
                patience.reply.map_or(0, |t| t.as_secs()),
                home.log().display()
            ))));
        }
    }
}

/// The longest reply a client reads (a status of 256 services is far shorter).
const MAX_REPLY: usize = 1 << 20;
