//! Heartbeat link processes (one per `[privnet]`), and the records they exchange with hasvrd
//! over their stdin and stdout: `u8 kind`, `u32 length`, data. Kind `F` is a sealed frame
//! (hasvrd → link: send it; link → hasvrd: a checked frame from the peer); kind `B` (hasvrd
//! → link) is this node's beat, to send now and repeat every interval (`relay`); kind `L`
//! (link → hasvrd, empty) says the peer is late; kind `S` is a line of counters from the
//! link (`rx=… up=… crc=… tag=… unsigned=… replay=… malformed=… foreign=… txerr=…`), sent
//! when they change.
//!
//! The link process is a transport: it sends what hasvrd gives it and repeats the standing
//! beat, encrypted on the way out (`frame::wire`); it passes up, decrypted, only frames whose
//! CRC, tag and sequence check out and that say something new (`relay::Inbound`); everything
//! else is dropped and counted.

use crate::config::{Link, LinkKind};
use crate::error::{Context, Error, Result};
use crate::frame::{self, Bad, Wire};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// From hasvrd: a frame to send, sealed.
pub const FRAME: u8 = b'F';
/// To hasvrd: a frame of the peer, checked and opened here (`frame_record`).
pub const PEER: u8 = b'P';
pub const STATS: u8 = b'S';
/// From hasvrd: this node's beat, repeated by the link every interval.
pub const BEAT: u8 = b'B';
/// To hasvrd: no good frame from the peer for an interval and a half.
pub const LATE: u8 = b'L';
/// From hasvrd, empty: the key files changed (a change of key, or one installed by hand);
/// read them again.
pub const KEYS: u8 = b'K';
/// From hahb-disk: this node's beat is on the shared disk (the volume locks are renewed);
/// the data is how long the write took, in milliseconds, as text.
pub const RENEWED: u8 = b'R';

/// A peer's frame as the link process passes it up, opened once: its boot and sequence
/// (8 bytes each, big endian), then its payload. hasvrd trusts its own link processes.
pub fn frame_record(f: &frame::Opened) -> Vec<u8> {
    let mut r = Vec::with_capacity(16 + f.payload.len());
    r.extend_from_slice(&f.boot.to_be_bytes());
    r.extend_from_slice(&f.seq.to_be_bytes());
    r.extend_from_slice(&f.payload);
    r
}

/// The frame of a `PEER` record, or `None` if it is too short to be one.
pub fn read_frame_record(data: &[u8]) -> Option<frame::Opened> {
    let boot = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
    Some(frame::Opened {
        boot,
        seq,
        payload: data[16..].to_vec(),
    })
}

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
        if !matches!(kind, FRAME | PEER | STATS | RENEWED | BEAT | LATE | KEYS)
            || len > frame::MAX_FRAME + 64
        {
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

/// At rest, the frames received go up this often (they ride with any frame before).
pub const RX_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What a link process counts.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub rx: u64,
    /// Frames passed up to hasvrd (the others repeated what it knew).
    pub up: u64,
    pub txerr: u64,
    pub foreign: u64,
    pub bad: BTreeMap<&'static str, u64>,
    /// What goes to the peer is encrypted (it speaks protocol version 2).
    pub encrypted: bool,
}

impl Counters {
    pub fn line(&self) -> String {
        let b = |k: &str| self.bad.get(k).copied().unwrap_or(0);
        format!(
            "rx={} up={} crc={} tag={} unsigned={} replay={} malformed={} foreign={} txerr={} encrypted={}",
            self.rx,
            self.up,
            b("crc"),
            b("tag"),
            b("unsigned"),
            b("replay"),
            b("malformed"),
            self.foreign,
            self.txerr,
            if self.encrypted { "yes" } else { "no" }
        )
    }
    pub fn count(&mut self, bad: Bad) {
        *self.bad.entry(bad.word()).or_default() += 1;
    }
}

/// The keys again, when hasvrd said they changed: the wire takes them in place (nothing
/// of what it knows of the peer is lost, no frame is missed), and so do the repeats.
pub(crate) fn reload_keys(
    up: &mut Upstream,
    home: &Home,
    wire: &mut Wire,
    beats: Option<&mut Relay>,
    log: &mut Logger,
    name: &str,
) {
    if !std::mem::take(&mut up.keys_changed) {
        return;
    }
    match crate::authkey::load_keys(home) {
        Ok((key, also)) => {
            wire.set_keys(Some(&key), &also);
            if let Some(b) = beats {
                b.set_key(Some(key));
            }
        }
        Err(e) => log.error(&format!(
            "link {name}: the key files changed but cannot be used ({}); keeping the keys it has",
            e.message
        )),
    }
}

/// Logs a change in what the peer speaks on link `name` (encrypted or not), and counts it.
pub fn tell_version(wire: &mut Wire, counters: &mut Counters, log: &mut Logger, name: &str) {
    counters.encrypted = wire.encrypting();
    match wire.news() {
        Some((true, what)) => log.warning(&format!("link {name}: {what}")),
        Some((false, what)) => log.info(&format!("link {name}: {what}")),
        None => {}
    }
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
    Ok((SocketAddr::new(*a, *port), SocketAddr::new(*b, *port)))
}

/// What may wait for a busy hasvrd (a few hundred beats of 256 services).
const BACKLOG_MAX: usize = 4 << 20;

/// A frame hasvrd gave a link process: whether it is the standing beat, and the frame.
pub(crate) type Given = (bool, Vec<u8>);

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
    /// Records hasvrd has not taken yet (it is busy, or hung), the first `head` bytes of
    /// the first already written. The pipe does not block: a busy hasvrd must never stop
    /// this link from repeating the beat (the peer would take this node for dead).
    backlog: std::collections::VecDeque<Vec<u8>>,
    head: usize,
    /// Bytes dropped from the backlog since it last emptied (logged once a stretch).
    dropped: usize,
    pub(crate) reported: Counters,
    last_report: std::time::Instant,
    /// Counters that would have ridden with a frame but came too soon after the last report.
    ride_missed: bool,
    /// hasvrd said the key files changed.
    pub(crate) keys_changed: bool,
}

impl Upstream {
    pub(crate) fn new(name: &str) -> Result<Upstream> {
        let stdin = std::io::stdin();
        sys::set_nonblock(&stdin, true).context("stdin")?;
        let stdout = std::io::stdout();
        sys::set_nonblock(&stdout, true).context("stdout")?;
        Ok(Upstream {
            name: name.to_string(),
            stdin,
            stdout,
            records: Records::default(),
            pending: Vec::new(),
            backlog: std::collections::VecDeque::new(),
            head: 0,
            dropped: 0,
            reported: Counters::default(),
            // The first change goes up at once: a peer whose frames all fail their tag
            // must be known before hasvrd's start-up grace ends.
            last_report: std::time::Instant::now()
                .checked_sub(std::time::Duration::from_millis(500))
                .unwrap_or_else(std::time::Instant::now),
            ride_missed: false,
            keys_changed: false,
        })
    }

    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.stdin.as_raw_fd()
    }

    /// The frames hasvrd wants sent (with whether each is the standing beat), and whether
    /// hasvrd is gone (stdin closed): its last frames (the beat saying its services stopped)
    /// still go out.
    pub(crate) fn frames(
        &mut self,
        log: &mut Logger,
        buf: &mut [u8],
    ) -> Result<(Vec<Given>, bool)> {
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
                Ok(Some((FRAME, f))) => frames.push((false, f)),
                Ok(Some((BEAT, f))) => frames.push((true, f)),
                Ok(Some((KEYS, _))) => self.keys_changed = true,
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

    /// Sends what the turn gathered, in one write, after what hasvrd has not taken yet.
    /// Whatever the pipe does not take now waits for the next turn (at least one an
    /// interval); past `BACKLOG_MAX` the oldest whole records go (the peer's next beat says
    /// it all again).
    fn send_pending(&mut self, log: &mut Logger) -> Result<()> {
        if !self.pending.is_empty() {
            self.backlog.push_back(std::mem::take(&mut self.pending));
        }
        while let Some(front) = self.backlog.front() {
            match sys::write_some(&self.stdout, &front[self.head..]) {
                Ok(n) => {
                    self.head += n;
                    if self.head == front.len() {
                        self.backlog.pop_front();
                        self.head = 0;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    return Err(Error::failed(format!(
                        "link {}: writing to hasvrd: {e}",
                        self.name
                    )))
                }
            }
        }
        let mut queued: usize = self.backlog.iter().map(Vec::len).sum();
        while queued > BACKLOG_MAX && self.backlog.len() > 1 {
            // The first may be half written: the second goes.
            if let Some(old) = self.backlog.remove(1) {
                queued -= old.len();
                if self.dropped == 0 {
                    log.warning(&format!(
                        "link {}: hasvrd takes nothing; dropping what the peer sends until it does (the beat goes on)",
                        self.name
                    ));
                }
                self.dropped += old.len();
            }
        }
        if self.backlog.is_empty() && self.dropped > 0 {
            log.info(&format!(
                "link {}: hasvrd takes frames again ({} bytes were dropped)",
                self.name, self.dropped
            ));
            self.dropped = 0;
        }
        Ok(())
    }

    /// Passes a checked frame from the peer up (with the turn's other records).
    pub(crate) fn deliver(&mut self, frame: &frame::Opened) -> Result<()> {
        self.write(PEER, &frame_record(frame))
    }

    /// Whether the counters wait for a timer: something other than the frames received
    /// changed (bad or foreign frames, send errors), or they could not ride with the last
    /// frame delivered. A new `rx` alone rides with the next frame delivered, or goes up
    /// once `RX_EVERY` has passed (at rest, where nothing else goes up, its figure stays
    /// recent enough for `haadm metrics` at one wake of hasvrd a link each time).
    pub(crate) fn report_due(&self, counters: &Counters) -> bool {
        counters.txerr != self.reported.txerr
            || counters.encrypted != self.reported.encrypted
            || counters.foreign != self.reported.foreign
            || counters.bad != self.reported.bad
            || (self.ride_missed && *counters != self.reported)
            || (counters.rx != self.reported.rx && self.last_report.elapsed() >= RX_EVERY)
    }

    /// Ends a turn: the counters when they changed (at most twice a second, and a new `rx`
    /// only with a frame going up), then everything in one write.
    pub(crate) fn report(&mut self, counters: &Counters, log: &mut Logger) -> Result<()> {
        let riding = !self.pending.is_empty();
        let changed = *counters != self.reported;
        let soon = self.last_report.elapsed() < std::time::Duration::from_millis(500);
        if changed && riding && soon {
            self.ride_missed = true;
        }
        if changed && (riding || self.report_due(counters)) && !soon {
            self.ride_missed = false;
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
        self.send_pending(log)
    }
}

mod disk;
mod orphan;
mod relay;
mod serial;
mod socket;
mod transport;
pub use disk::run_disk;
pub use relay::{Inbound, Relay, Standing};
pub use serial::{run_serial, Found, StreamFramer, MAX_SERIAL_FRAME};
pub use socket::run_socket;

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
}
