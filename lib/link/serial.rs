//! hahb-serial: a heartbeat link over an RS-232 line, and finding frames in its byte stream.

use super::transport::{self, Transport, Turn};
use super::Relay;
use crate::authkey::load_keys;
use crate::config::{Link, LinkKind};
use crate::error::{Error, Result};
use crate::frame::{self, Bad, Opened, ReplayGuard, Wire};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys::{self, PollSet};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

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
    Frame(frame::Opened),
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
    pub fn next_found(&mut self, wire: &mut Wire, guard: &mut ReplayGuard) -> Option<Found> {
        let start = self.buf.windows(3).position(is_magic);
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
            if let Some(next) = self.good_frame_after_start(wire) {
                self.buf.drain(..next);
                self.in_noise = false;
                return Some(Found::Bad(Bad::Malformed));
            }
            return None;
        }
        let candidate: Vec<u8> = self.buf[..len].to_vec();
        match wire.accept(&candidate, guard) {
            Ok(f) => {
                self.buf.drain(..len);
                Some(Found::Frame(f))
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
    fn good_frame_after_start(&self, wire: &Wire) -> Option<usize> {
        let mut at = 1;
        while let Some(p) = self.buf[at..].windows(3).position(is_magic) {
            let q = at + p;
            if let Ok(Some(n)) = frame::frame_len(&self.buf[q..]) {
                if n <= MAX_SERIAL_FRAME
                    && q + n <= self.buf.len()
                    && wire.check(&self.buf[q..q + n]).is_ok()
                {
                    return Some(q);
                }
            }
            at = q + 1;
        }
        None
    }
}

/// Where a frame of either version may begin.
fn is_magic(w: &[u8]) -> bool {
    w[..2] == *b"SH" && (w[2] == frame::VERSION || frame::wire::encrypted_version(w[2]))
}

/// After opening the line, bytes are discarded this long: what a relay or modem still
/// carries from before (a dead peer instance's frames) is not taken as live.
const SETTLE: Duration = Duration::from_millis(100);

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
    let log = Logger::new(home.log(), &home.node, "hahb-serial");
    let (key, also) = load_keys(home)?;
    let relay = Relay::new(Some(key.clone()), Duration::from_millis(link.interval));
    let wire = Wire::for_link(Some(&key), &also);
    let line = Line {
        name: link.name.clone(),
        device: device.clone(),
        baudrate: *baudrate,
        // Ten bits a byte on the line.
        byte_time: Duration::from_micros(10_000_000 / u64::from(*baudrate)),
        framer: StreamFramer::default(),
        opened: Instant::now(),
        last_rx: Instant::now(),
        buf: vec![0u8; 8192],
    };
    transport::run(home, &link.name, line, wire, Some(relay), log)
}

/// An RS-232 line and the stream read from it.
struct Line {
    name: String,
    device: String,
    baudrate: u32,
    byte_time: Duration,
    framer: StreamFramer,
    opened: Instant,
    last_rx: Instant,
    buf: Vec<u8>,
}

impl Transport for Line {
    type Medium = serialport::TTYPort;

    fn open(&mut self) -> std::result::Result<serialport::TTYPort, String> {
        let p = serialport::new(self.device.as_str(), self.baudrate)
            .open_native()
            .map_err(|e| format!("cannot open {}: {e}", self.device))?;
        let _ = sys::set_nonblock(&p, true);
        // Whatever waited in the input buffer was sent to an earlier session.
        let _ = serialport::SerialPort::clear(&p, serialport::ClearBuffer::Input);
        self.opened = Instant::now();
        self.framer = StreamFramer::default();
        Ok(p)
    }

    fn opened(&mut self, _: &serialport::TTYPort) -> Option<String> {
        Some(format!("{} open at {} baud", self.device, self.baudrate))
    }

    fn fd(port: &serialport::TTYPort) -> Option<RawFd> {
        Some(port.as_raw_fd())
    }

    fn wake(&self, _: Option<&serialport::TTYPort>) -> Option<Instant> {
        // Half a frame is looked at five times a second.
        (self.framer.pending() > 0).then(|| Instant::now() + Duration::from_millis(200))
    }

    fn send(
        &mut self,
        port: &mut serialport::TTYPort,
        frames: &[Vec<u8>],
        turn: &mut Turn,
    ) -> Result<bool> {
        for f in frames {
            // Given up after twice its time on the wire.
            let limit = self.byte_time * f.len() as u32 * 2 + Duration::from_millis(200);
            if !write_all_bounded(port, f, limit) {
                turn.counters.txerr += 1;
            }
        }
        Ok(true)
    }

    fn receive(
        &mut self,
        port: &mut serialport::TTYPort,
        set: &PollSet,
        turn: &mut Turn,
    ) -> Result<(Vec<Opened>, bool)> {
        let (name, device) = (&self.name, &self.device);
        // A hang-up (the other end of a pty gone, a USB adapter unplugged) reads as end of
        // file: the device is closed and opened again in a second, instead of spinning.
        let hung_up = set.events(port.as_raw_fd()) & (sys::POLLHUP | sys::POLLERR) != 0;
        let mut open = true;
        loop {
            match sys::read_some(&*port, &mut self.buf) {
                Ok(0) => {
                    if hung_up {
                        turn.log.warning(&format!(
                            "link {name}: {device} hung up; reopening it every second"
                        ));
                        open = false;
                    }
                    break;
                }
                // What arrives as the line settles belongs to an earlier session.
                Ok(_) if self.opened.elapsed() < SETTLE => {}
                Ok(n) => {
                    self.framer.push(&self.buf[..n]);
                    self.last_rx = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    turn.log
                        .warning(&format!("link {name}: reading {device}: {e}; reopening"));
                    open = false;
                    break;
                }
            }
        }
        // A frame that stops half-way (a corrupted length) is given up after twice its time.
        if self.framer.pending() > 0
            && self.last_rx.elapsed()
                > self.byte_time * MAX_SERIAL_FRAME as u32 * 2 + Duration::from_millis(500)
        {
            if let Some(Found::Bad(b)) = self.framer.skip_stalled() {
                turn.counters.count(b);
            }
            self.last_rx = Instant::now();
        }
        let mut got = Vec::new();
        while let Some(found) = self.framer.next_found(turn.wire, turn.guard) {
            match found {
                Found::Frame(f) => got.push(f),
                Found::Bad(b) => turn.counters.count(b),
            }
        }
        Ok((got, open))
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
                let _ = sys::PollSet::default()
                    .write(fd.as_raw_fd())
                    .wait(left.as_millis().max(1) as i32);
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

    /// Frames as the peer puts them on the line: version 2 (encrypted), or version 1 (a
    /// peer of the release before).
    fn on_line(encrypted: bool, seq: u64, payload: &[u8]) -> Vec<u8> {
        let v1 = crate::frame::seal(Some(b"k"), 7, seq, payload).unwrap();
        let sender = Wire::new(Some(b"k"));
        if encrypted {
            sender.outgoing(&v1).unwrap()
        } else {
            v1
        }
    }

    #[test]
    fn a_corrupted_length_costs_one_frame_not_dozens() {
        for encrypted in [false, true] {
            let payload = vec![9u8; 60];
            let good = |seq| on_line(encrypted, seq, &payload);
            let mut broken = good(1);
            broken[20] = 0x0f; // length 3900-odd: the receiver would wait for ~40 beats
            let mut f = StreamFramer::default();
            let mut g = ReplayGuard::default();
            let mut wire = Wire::new(Some(b"k"));
            f.push(&broken);
            assert!(matches!(
                f.next_found(&mut wire, &mut g),
                None | Some(Found::Bad(_))
            ));
            // The very next beat is delivered as soon as it is whole.
            f.push(&good(2));
            let mut got = Vec::new();
            while let Some(x) = f.next_found(&mut wire, &mut g) {
                got.push(x);
            }
            let delivered = got.iter().find_map(|x| match x {
                Found::Frame(f) => Some(f.clone()),
                Found::Bad(_) => None,
            });
            assert_eq!(
                delivered.map(|o| (o.seq, o.payload)),
                Some((2, payload.clone())),
                "{got:?}"
            );
        }
    }

    #[test]
    fn a_stream_with_noise_and_bit_flips_yields_every_good_frame_and_counts_the_bad() {
        stream_with_noise(false);
        stream_with_noise(true);
    }

    fn stream_with_noise(encrypted: bool) {
        let mut wire = Wire::new(Some(b"k"));
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
            heard: 0,
        })
        .encode();
        let good = |seq| on_line(encrypted, seq, &payload);
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
            while let Some(x) = f.next_found(&mut wire, &mut g) {
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
        while let Some(found) = f.next_found(&mut wire, &mut g) {
            assert!(!matches!(found, Found::Frame(_)));
        }
    }
}
