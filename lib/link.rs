//! Heartbeat link processes (one per `[privnet]`), and the records they exchange with hasvrd
//! over their stdin and stdout: `u8 kind`, `u32 length`, data. Kind `F` is a sealed frame
//! (hasvrd → link: send it; link → hasvrd: a checked frame from the peer); kind `S` is a line
//! of counters from the link (`rx=… crc=… tag=… unsigned=… replay=… malformed=… foreign=…
//! txerr=…`), sent when they change.
//!
//! The link process is a dumb transport: it sends what hasvrd gives it, and passes up only
//! frames whose CRC, tag and sequence check out; everything else is dropped and counted.

use crate::config::{Link, LinkKind};
use crate::error::{Context, Error, Result};
use crate::frame::{self, Bad, ReplayGuard};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys;
use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

pub const FRAME: u8 = b'F';
pub const STATS: u8 = b'S';
/// From hahb-disk: this node's beat is on the shared disk (the volume locks are renewed);
/// the data is how long the write took, in milliseconds, as text.
pub const RENEWED: u8 = b'R';

pub fn record(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(5 + data.len());
    r.push(kind);
    r.extend_from_slice(&(data.len() as u32).to_be_bytes());
    r.extend_from_slice(data);
    r
}

/// Splits a byte stream into records.
#[derive(Default)]
pub struct Records {
    buf: Vec<u8>,
}

impl Records {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record; `Err` when the stream cannot be records (then it is reset).
    pub fn next_record(&mut self) -> std::result::Result<Option<(u8, Vec<u8>)>, String> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if !matches!(kind, FRAME | STATS | RENEWED) || len > frame::MAX_FRAME + 64 {
            self.buf.clear();
            return Err(format!("bad record (kind {kind}, length {len})"));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let data = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Ok(Some((kind, data)))
    }
}

/// The authentication key, `$HAHOME/etc/authkey`. Without it there is no cluster traffic at
/// all (frames could be forged), so a missing, empty or world-readable key is a configuration
/// error that says how to fix it.
pub fn load_key(home: &Home) -> Result<Vec<u8>> {
    let path = home.authkey();
    let shown = path.display();
    let mode = match sys::mode_of(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::config(format!(
                "{shown} is missing: heartbeats cannot be authenticated, so this node takes no \
                 part in the cluster; 'make install' creates one (or run: umask 077; od -An -tx1 \
                 -N32 /dev/urandom | tr -d ' \\n' > {shown}), then copy it to the other server"
            )))
        }
        Err(e) => return Err(Error::config(format!("cannot read {shown}: {e}"))),
    };
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{shown} is readable by others (mode {mode:o}); run: chmod 600 {shown}"
        )));
    }
    let text = crate::files::read_regular(&path, 4096)
        .map_err(|e| Error::config(format!("cannot read {shown}: {e}")))?;
    let key: Vec<u8> = text.trim_ascii().to_vec();
    if key.is_empty() {
        return Err(Error::config(format!("{shown} is empty")));
    }
    Ok(key)
}

/// What a link process counts.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub rx: u64,
    pub txerr: u64,
    pub foreign: u64,
    pub bad: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn line(&self) -> String {
        let b = |k: &str| self.bad.get(k).copied().unwrap_or(0);
        format!(
            "rx={} crc={} tag={} unsigned={} replay={} malformed={} foreign={} txerr={}",
            self.rx,
            b("crc"),
            b("tag"),
            b("unsigned"),
            b("replay"),
            b("malformed"),
            self.foreign,
            self.txerr
        )
    }
    pub fn count(&mut self, bad: Bad) {
        *self.bad.entry(bad.word()).or_default() += 1;
    }
}

/// Checks a frame from the peer: CRC, tag, then sequence.
pub fn check(
    key: Option<&[u8]>,
    guard: &mut ReplayGuard,
    bytes: &[u8],
) -> std::result::Result<(), Bad> {
    let f = frame::open(key, bytes)?;
    guard.accept(f.boot, f.seq)
}

/// This node's and the peer's address on a socket link.
pub fn socket_ends(link: &Link, node: &str) -> Result<(SocketAddr, SocketAddr)> {
    let LinkKind::Socket { ip1, ip2, port } = &link.kind else {
        return Err(Error::config(format!(
            "link {}: not a socket link",
            link.name
        )));
    };
    let (a, b) = if node == link.host1 {
        (ip1, ip2)
    } else if node == link.host2 {
        (ip2, ip1)
    } else {
        return Err(Error::config(format!(
            "link {}: node {node} is neither host1 nor host2",
            link.name
        )));
    };
    Ok((
        SocketAddr::V4(SocketAddrV4::new(*a, *port)),
        SocketAddr::V4(SocketAddrV4::new(*b, *port)),
    ))
}

/// A link process's side of its pipes to hasvrd: frames to send arrive on stdin; checked
/// frames from the peer and the counters go out on stdout, one write a turn, so hasvrd wakes
/// once for them.
pub(crate) struct Upstream {
    name: String,
    stdin: std::io::Stdin,
    stdout: std::io::Stdout,
    records: Records,
    /// What this turn sends up.
    pending: Vec<u8>,
    pub(crate) reported: Counters,
    last_report: std::time::Instant,
}

impl Upstream {
    pub(crate) fn new(name: &str) -> Result<Upstream> {
        let stdin = std::io::stdin();
        sys::set_nonblock(&stdin, true).context("stdin")?;
        Ok(Upstream {
            name: name.to_string(),
            stdin,
            stdout: std::io::stdout(),
            records: Records::default(),
            pending: Vec::new(),
            reported: Counters::default(),
            last_report: std::time::Instant::now(),
        })
    }

    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.stdin.as_raw_fd()
    }

    /// The frames hasvrd wants sent, and whether hasvrd is gone (stdin closed): its last
    /// frames (the beat saying its services stopped) still go out.
    pub(crate) fn frames(
        &mut self,
        log: &mut Logger,
        buf: &mut [u8],
    ) -> Result<(Vec<Vec<u8>>, bool)> {
        let mut closed = false;
        loop {
            match sys::read_some(&self.stdin, buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    self.records.push(&buf[..n]);
                    // A short read emptied the pipe; poll says when there is more.
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::failed(format!(
                        "link {}: reading from hasvrd: {e}",
                        self.name
                    )))
                }
            }
        }
        let mut frames = Vec::new();
        loop {
            match self.records.next_record() {
                Ok(Some((FRAME, f))) => frames.push(f),
                Ok(Some(_)) => {}
                Ok(None) => return Ok((frames, closed)),
                Err(e) => log.error(&format!("link {}: from hasvrd: {e}", self.name)),
            }
        }
    }

    pub(crate) fn write(&mut self, kind: u8, data: &[u8]) -> Result<()> {
        self.pending.extend(record(kind, data));
        Ok(())
    }

    /// Sends what the turn gathered, in one write (the pipe is blocking: hasvrd reads it).
    fn send_pending(&mut self) -> Result<()> {
        let mut left: &[u8] = &self.pending;
        while !left.is_empty() {
            match sys::write_some(&self.stdout, left) {
                Ok(n) => left = &left[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::failed(format!(
                        "link {}: writing to hasvrd: {e}",
                        self.name
                    )))
                }
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Passes a checked frame from the peer up (with the turn's other records).
    pub(crate) fn deliver(&mut self, frame: &[u8]) -> Result<()> {
        self.write(FRAME, frame)
    }

    /// Whether the counters wait for a timer: something other than the frames received
    /// changed (bad or foreign frames, send errors). A new `rx` alone rides with the next
    /// frame delivered, and never wakes anybody by itself.
    pub(crate) fn report_due(&self, counters: &Counters) -> bool {
        counters.txerr != self.reported.txerr
            || counters.foreign != self.reported.foreign
            || counters.bad != self.reported.bad
    }

    /// Ends a turn: the counters when they changed (at most twice a second, and a new `rx`
    /// only with a frame going up), then everything in one write.
    pub(crate) fn report(&mut self, counters: &Counters, log: &mut Logger) -> Result<()> {
        let riding = !self.pending.is_empty();
        if *counters != self.reported
            && (riding || self.report_due(counters))
            && self.last_report.elapsed() >= std::time::Duration::from_millis(500)
        {
            self.write(STATS, counters.line().as_bytes())?;
            if counters.bad.values().sum::<u64>() > self.reported.bad.values().sum::<u64>() {
                log.warning(&format!(
                    "link {}: dropped bad frames: {}",
                    self.name,
                    counters.line()
                ));
            }
            self.reported = counters.clone();
            self.last_report = std::time::Instant::now();
        }
        self.send_pending()
    }
}

/// hahb-sock: UDP between this node's and the peer's address of the link.
pub fn run_socket(home: &Home, link: &Link) -> Result<()> {
    let mut log = Logger::new(home.log(), &home.node, "hahb-sock");
    let key = Some(load_key(home)?);
    let (local, peer) = socket_ends(link, &home.node)?;
    let name = &link.name;
    let mut up = Upstream::new(name)?;
    let mut sock: Option<UdpSocket> = None;
    let mut bind_error: Option<String> = None;
    let mut next_bind = std::time::Instant::now();
    let mut guard = ReplayGuard::default();
    let mut counters = Counters::default();
    let mut buf = vec![0u8; 70_000];
    loop {
        if sock.is_none() && std::time::Instant::now() >= next_bind {
            match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
                Ok(s) => {
                    log.info(&format!("link {name}: listening on {local}, peer {peer}"));
                    bind_error = None;
                    sock = Some(s);
                }
                Err(e) => {
                    // The address may come back (an interface being brought up): retry.
                    let msg = e.to_string();
                    if bind_error.as_deref() != Some(msg.as_str()) {
                        log.warning(&format!(
                            "link {name}: cannot listen on {local}: {msg}; retrying every second"
                        ));
                        bind_error = Some(msg);
                    }
                    next_bind = std::time::Instant::now() + std::time::Duration::from_secs(1);
                }
            }
        }
        let mut fds = vec![sys::PollFd {
            fd: up.fd(),
            events: sys::POLLIN,
            revents: 0,
        }];
        if let Some(s) = &sock {
            fds.push(sys::PollFd {
                fd: s.as_raw_fd(),
                events: sys::POLLIN,
                revents: 0,
            });
        }
        // Asleep until a frame comes either way; awake only to bind again or to report
        // counters held back by the twice-a-second limit.
        let timeout = if sock.is_none() {
            1000
        } else if up.report_due(&counters) {
            500
        } else {
            -1
        };
        let _ = sys::poll(&mut fds, timeout);
        let from_hasvrd = fds[0].revents != 0;
        let from_peer = fds.get(1).is_some_and(|f| f.revents != 0);
        // Frames from hasvrd go out; once hasvrd is gone, so are we.
        let (frames, closed) = if from_hasvrd {
            up.frames(&mut log, &mut buf)?
        } else {
            (Vec::new(), false)
        };
        for f in frames {
            match &sock {
                Some(s) if s.send_to(&f, peer).is_ok() => {}
                _ => counters.txerr += 1,
            }
        }
        if closed {
            return Ok(());
        }
        // Frames from the peer come in, checked.
        if let Some(s) = sock.as_ref().filter(|_| from_peer) {
            // A bounded turn: a flood of datagrams cannot keep hasvrd's frames from going out.
            for _ in 0..256 {
                match s.recv_from(&mut buf) {
                    Ok((_, from)) if from.ip() != peer.ip() => counters.foreign += 1,
                    Ok((n, _)) => match check(key.as_deref(), &mut guard, &buf[..n]) {
                        Ok(()) => {
                            counters.rx += 1;
                            up.deliver(&buf[..n])?;
                        }
                        Err(bad) => counters.count(bad),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // The interface went away (e.g. address removed): bind again later.
                        sock = None;
                        next_bind = std::time::Instant::now() + std::time::Duration::from_secs(1);
                        break;
                    }
                }
            }
        }
        up.report(&counters, &mut log)?;
    }
}

/// The largest frame accepted from a serial stream: a corrupted length must not make the
/// receiver wait for a minute of bytes at 9600 baud.
pub const MAX_SERIAL_FRAME: usize = 4096;

/// Finds frames in a byte stream that may carry noise: scans for the magic, checks each
/// candidate, and on any failure skips one byte and looks again, so it regains sync at the
/// next frame whatever the line did.
#[derive(Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    in_noise: bool,
}

/// What came out of the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Frame(Vec<u8>),
    Bad(Bad),
}

impl StreamFramer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Gives up on a frame that never completes (a corrupted length): skips a byte.
    pub fn skip_stalled(&mut self) -> Option<Found> {
        if self.buf.is_empty() {
            return None;
        }
        self.buf.remove(0);
        Some(Found::Bad(Bad::Malformed))
    }

    /// The next frame or bad frame; `None` until more bytes arrive.
    pub fn next_found(&mut self, key: Option<&[u8]>, guard: &mut ReplayGuard) -> Option<Found> {
        let start = self
            .buf
            .windows(3)
            .position(|w| w == [b'S', b'H', frame::VERSION]);
        // Noise before a magic (or no magic at all: keep a possible partial one at the end).
        let drop = start.unwrap_or(self.buf.len().saturating_sub(2));
        if drop > 0 {
            self.buf.drain(..drop);
            if !self.in_noise {
                self.in_noise = true;
                return Some(Found::Bad(Bad::Malformed));
            }
        }
        start?;
        self.in_noise = false;
        let len = match frame::frame_len(&self.buf) {
            Ok(None) => return None,
            Ok(Some(n)) if n <= MAX_SERIAL_FRAME => n,
            _ => {
                self.buf.remove(0);
                self.in_noise = true;
                return Some(Found::Bad(Bad::Malformed));
            }
        };
        if self.buf.len() < len {
            // A corrupted length makes the candidate look long. Should a whole good frame
            // already stand after it, the candidate was noise: resynchronise there now
            // rather than wait for its false length to fill (dozens of beats on a slow line).
            if let Some(next) = self.good_frame_after_start(key) {
                self.buf.drain(..next);
                self.in_noise = false;
                return Some(Found::Bad(Bad::Malformed));
            }
            return None;
        }
        let candidate: Vec<u8> = self.buf[..len].to_vec();
        match frame::open(key, &candidate).and_then(|f| guard.accept(f.boot, f.seq)) {
            Ok(()) => {
                self.buf.drain(..len);
                Some(Found::Frame(candidate))
            }
            Err(bad) => {
                // Maybe a false magic inside noise: look again one byte further.
                self.buf.remove(0);
                self.in_noise = true;
                Some(Found::Bad(bad))
            }
        }
    }
}

impl StreamFramer {
    /// Where the first complete frame with a good CRC and tag begins after position 0.
    fn good_frame_after_start(&self, key: Option<&[u8]>) -> Option<usize> {
        let mut at = 1;
        while let Some(p) = self.buf[at..]
            .windows(3)
            .position(|w| w == [b'S', b'H', frame::VERSION])
        {
            let q = at + p;
            if let Ok(Some(n)) = frame::frame_len(&self.buf[q..]) {
                if n <= MAX_SERIAL_FRAME
                    && q + n <= self.buf.len()
                    && frame::open(key, &self.buf[q..q + n]).is_ok()
                {
                    return Some(q);
                }
            }
            at = q + 1;
        }
        None
    }
}

/// After opening the line, bytes are discarded this long: what a relay or modem still
/// carries from before (a dead peer instance's frames) is not taken as live.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// hahb-serial: the same frames over an RS-232 line (`device1`/`device2`, `baudrate`, raw
/// mode), found again in the byte stream by `StreamFramer`.
pub fn run_serial(home: &Home, link: &Link) -> Result<()> {
    let LinkKind::Rs232 {
        device1,
        device2,
        baudrate,
    } = &link.kind
    else {
        return Err(Error::config(format!(
            "link {}: not an rs232 link",
            link.name
        )));
    };
    let device = if home.node == link.host1 {
        device1
    } else if home.node == link.host2 {
        device2
    } else {
        return Err(Error::config(format!(
            "link {}: node {} is neither host1 nor host2",
            link.name, home.node
        )));
    };
    let mut log = Logger::new(home.log(), &home.node, "hahb-serial");
    let key = Some(load_key(home)?);
    let name = &link.name;
    let mut up = Upstream::new(name)?;
    let mut port: Option<serialport::TTYPort> = None;
    let mut open_error: Option<String> = None;
    let mut next_open = std::time::Instant::now();
    let mut framer = StreamFramer::default();
    let mut guard = ReplayGuard::default();
    let mut counters = Counters::default();
    let mut last_rx = std::time::Instant::now();
    let mut opened = std::time::Instant::now();
    let mut buf = vec![0u8; 8192];
    // Ten bits a byte on the line.
    let byte_time = std::time::Duration::from_micros(10_000_000 / *baudrate as u64);
    loop {
        if port.is_none() && std::time::Instant::now() >= next_open {
            match serialport::new(device.as_str(), *baudrate).open_native() {
                Ok(p) => {
                    let _ = sys::set_nonblock(&p, true);
                    // Whatever waited in the input buffer was sent to an earlier session.
                    let _ = serialport::SerialPort::clear(&p, serialport::ClearBuffer::Input);
                    opened = std::time::Instant::now();
                    framer = StreamFramer::default();
                    log.info(&format!("link {name}: {device} open at {baudrate} baud"));
                    open_error = None;
                    port = Some(p);
                }
                Err(e) => {
                    let msg = e.to_string();
                    if open_error.as_deref() != Some(msg.as_str()) {
                        log.warning(&format!(
                            "link {name}: cannot open {device}: {msg}; retrying every second"
                        ));
                        open_error = Some(msg);
                    }
                    next_open = std::time::Instant::now() + std::time::Duration::from_secs(1);
                }
            }
        }
        let mut fds = vec![sys::PollFd {
            fd: up.fd(),
            events: sys::POLLIN,
            revents: 0,
        }];
        if let Some(p) = &port {
            fds.push(sys::PollFd {
                fd: p.as_raw_fd(),
                events: sys::POLLIN,
                revents: 0,
            });
        }
        let _ = sys::poll(&mut fds, 200);
        // Frames from hasvrd go out; once hasvrd is gone, so are we.
        let (frames, closed) = up.frames(&mut log, &mut buf)?;
        for f in frames {
            let limit = byte_time * f.len() as u32 * 2 + std::time::Duration::from_millis(200);
            match &port {
                Some(p) if write_all_bounded(p, &f, limit) => {}
                _ => counters.txerr += 1,
            }
        }
        if closed {
            return Ok(());
        }
        // A hang-up (the other end of a pty gone, a USB adapter unplugged) reads as end of
        // file: close the device and open it again in a second, instead of spinning.
        let hung_up = fds
            .get(1)
            .is_some_and(|f| f.revents & (sys::POLLHUP | sys::POLLERR) != 0);
        if let Some(p) = &port {
            loop {
                match sys::read_some(p, &mut buf) {
                    Ok(0) => {
                        if hung_up {
                            log.warning(&format!(
                                "link {name}: {device} hung up; reopening it every second"
                            ));
                            port = None;
                            next_open =
                                std::time::Instant::now() + std::time::Duration::from_secs(1);
                        }
                        break;
                    }
                    Ok(_) if opened.elapsed() < SETTLE => {}
                    Ok(n) => {
                        framer.push(&buf[..n]);
                        last_rx = std::time::Instant::now();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log.warning(&format!("link {name}: reading {device}: {e}; reopening"));
                        port = None;
                        next_open = std::time::Instant::now() + std::time::Duration::from_secs(1);
                        break;
                    }
                }
            }
        }
        // A frame that stops half-way (a corrupted length) is given up after twice its time.
        if framer.pending() > 0
            && last_rx.elapsed()
                > byte_time * MAX_SERIAL_FRAME as u32 * 2 + std::time::Duration::from_millis(500)
        {
            if let Some(Found::Bad(b)) = framer.skip_stalled() {
                counters.count(b);
            }
            last_rx = std::time::Instant::now();
        }
        while let Some(found) = framer.next_found(key.as_deref(), &mut guard) {
            match found {
                Found::Frame(f) => {
                    counters.rx += 1;
                    up.deliver(&f)?;
                }
                Found::Bad(b) => counters.count(b),
            }
        }
        up.report(&counters, &mut log)?;
    }
}

/// Writes a whole frame to a non-blocking descriptor, waiting for room up to `limit`.
fn write_all_bounded(fd: &impl AsRawFd, mut data: &[u8], limit: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while !data.is_empty() {
        match sys::write_some(fd, data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return false;
                }
                let mut p = [sys::PollFd {
                    fd: fd.as_raw_fd(),
                    events: sys::POLLOUT,
                    revents: 0,
                }];
                let _ = sys::poll(&mut p, left.as_millis().max(1) as i32);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_a_stream_in_any_pieces() {
        let mut stream = record(FRAME, b"hello");
        stream.extend(record(STATS, b"rx=1"));
        let mut r = Records::default();
        let mut got = Vec::new();
        for b in &stream {
            r.push(&[*b]);
            while let Some(x) = r.next_record().unwrap() {
                got.push(x);
            }
        }
        assert_eq!(
            got,
            vec![(FRAME, b"hello".to_vec()), (STATS, b"rx=1".to_vec())]
        );
        let mut r = Records::default();
        r.push(b"Xjunkjunk");
        assert!(r.next_record().is_err());
    }

    #[test]
    fn a_corrupted_length_costs_one_frame_not_dozens() {
        let key = b"k".as_slice();
        let payload = vec![7u8; 60];
        let good = |seq| crate::frame::seal(Some(key), 7, seq, &payload).unwrap();
        let mut broken = good(1);
        broken[20] = 0x0f; // length 3900-odd: the receiver would wait for ~40 beats
        let mut f = StreamFramer::default();
        let mut g = ReplayGuard::default();
        f.push(&broken);
        assert!(matches!(
            f.next_found(Some(key), &mut g),
            None | Some(Found::Bad(_))
        ));
        // The very next beat is delivered as soon as it is whole.
        f.push(&good(2));
        let mut got = Vec::new();
        while let Some(x) = f.next_found(Some(key), &mut g) {
            got.push(x);
        }
        assert!(got.contains(&Found::Frame(good(2))), "{got:?}");
    }

    #[test]
    fn a_stream_with_noise_and_bit_flips_yields_every_good_frame_and_counts_the_bad() {
        let key = b"k".as_slice();
        let payload = crate::frame::Message::Beat(crate::frame::Beat {
            sender: "a".into(),
            generation: 1,
            digest: 2,
            hears_you: true,
            leaving: false,
            keeping: false,
            services: vec![],
            nics: vec![],
            disks: vec![],
            admin: (0, String::new()),
        })
        .encode();
        let good = |seq| crate::frame::seal(Some(key), 7, seq, &payload).unwrap();
        let mut stream = b"\x00\xffgarbage SH".to_vec();
        stream.extend(good(1));
        let mut flipped = good(2);
        flipped[25] ^= 0x04;
        stream.extend(&flipped);
        stream.extend(b"SH\x01noise");
        stream.extend(good(3));
        stream.extend(good(3)); // a replay
        stream.extend(good(4));
        let mut f = StreamFramer::default();
        let mut g = ReplayGuard::default();
        let mut frames = 0;
        let mut bad = Vec::new();
        // In pieces of every size, as a serial line delivers them.
        for chunk in stream.chunks(7) {
            f.push(chunk);
            while let Some(x) = f.next_found(Some(key), &mut g) {
                match x {
                    Found::Frame(_) => frames += 1,
                    Found::Bad(b) => bad.push(b),
                }
            }
        }
        assert_eq!(frames, 3, "frames 1, 3 and 4");
        assert!(
            bad.contains(&Bad::Crc) && bad.contains(&Bad::Replay) && bad.contains(&Bad::Malformed),
            "{bad:?}"
        );
        // Pure noise never panics and never yields a frame.
        let mut rng = crate::engine::sim::Rng::new(42);
        let noise: Vec<u8> = (0..20_000).map(|_| rng.next() as u8).collect();
        let mut f = StreamFramer::default();
        f.push(&noise);
        while let Some(found) = f.next_found(Some(key), &mut g) {
            assert!(!matches!(found, Found::Frame(_)));
        }
    }
}
