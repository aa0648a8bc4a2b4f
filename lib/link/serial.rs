//! hahb-serial: a heartbeat link over an RS-232 line, and finding frames in its byte stream.

use super::*;

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
    let (key, also) = load_keys(home)?;
    let key = Some(key);
    let name = &link.name;
    let mut up = Upstream::new(name)?;
    let interval = std::time::Duration::from_millis(link.interval);
    let mut beats = Relay::new(key.clone(), interval);
    let mut wire = Wire::for_link(key.as_deref(), &also);
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
        let mut set = sys::PollSet::default();
        set.read(up.fd()).read(port.as_ref().map(|p| p.as_raw_fd()));
        // Asleep until bytes come, the standing beat is due or the peer turns late; a
        // closed device, half a frame or held-back counters are looked at five times a
        // second.
        let mut wake = beats.wake();
        if port.is_none() || framer.pending() > 0 || up.report_due(&counters) {
            wake = relay::sooner(
                wake,
                Some(std::time::Instant::now() + std::time::Duration::from_millis(200)),
            );
        }
        let _ = set.wait(relay::timeout_until(wake, std::time::Instant::now()));
        // Frames from hasvrd go out; once hasvrd is gone, so are we.
        let (frames, closed) = up.frames(&mut log, &mut buf)?;
        reload_keys(&mut up, home, &mut wire, Some(&mut beats), &mut log, name);
        for (is_beat, f) in frames {
            if beats.given(is_beat, &f) {
                if let Some(out) = wire.outgoing(&f) {
                    write_frame(&port, &out, byte_time, &mut counters);
                }
            }
        }
        if closed {
            return Ok(());
        }
        // A hang-up (the other end of a pty gone, a USB adapter unplugged) reads as end of
        // file: close the device and open it again in a second, instead of spinning.
        let hung_up = port
            .as_ref()
            .is_some_and(|p| set.events(p.as_raw_fd()) & (sys::POLLHUP | sys::POLLERR) != 0);
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
        while let Some(found) = framer.next_found(&mut wire, &mut guard) {
            match found {
                Found::Frame(f) => {
                    counters.rx += 1;
                    if let Some(news) = beats.arrived(f) {
                        counters.up += 1;
                        up.deliver(&news)?;
                    }
                }
                Found::Bad(b) => counters.count(b),
            }
        }
        tell_version(&mut wire, &mut counters, &mut log, name);
        let (frames, late) = beats.end_turn(wire.short_repeats());
        for f in frames {
            if let Some(out) = wire.outgoing(&f) {
                write_frame(&port, &out, byte_time, &mut counters);
            }
        }
        if late {
            up.write(LATE, b"")?;
        }
        up.report(&counters, &mut log)?;
    }
}

/// Writes one frame to the line, giving up after twice its time on the wire.
fn write_frame(
    port: &Option<serialport::TTYPort>,
    f: &[u8],
    byte_time: std::time::Duration,
    counters: &mut Counters,
) {
    let limit = byte_time * f.len() as u32 * 2 + std::time::Duration::from_millis(200);
    match port {
        Some(p) if write_all_bounded(p, f, limit) => {}
        _ => counters.txerr += 1,
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
