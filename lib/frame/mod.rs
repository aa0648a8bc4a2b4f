//! Heartbeat frames (DESIGN §7). Pure: building and checking bytes, no I/O.
//!
//! Envelope of protocol version 1, big-endian, as frames travel inside a node (and to a peer
//! of the release before encryption; `wire` gives version 2, encrypted, between nodes):
//!
//! ```text
//!  0  'S' 'H'            magic
//!  2  u8   version       1
//!  3  u8   flags         bit 0: an HMAC tag follows the CRC
//!  4  u64  boot id       the sender's hasvrd instance (grows across restarts)
//! 12  u64  sequence      grows with every frame of that instance: hasvrd's own frames
//!                        go in steps of `SEQ_STRIDE`; a link process repeating a standing
//!                        beat adds its repeat count (`link::Standing`)
//! 20  u16  length        of the payload
//! 22  ...  payload       a `Message`
//!  n  u32  CRC-32        (ISO-HDLC, as Ethernet) of bytes 0..n
//! n+4 [16] tag           first 16 bytes of HMAC-SHA256(authkey, bytes 0..n+4), if flagged
//! ```
//!
//! A receiver drops a frame whose CRC or tag is wrong, that is unsigned while it has a key, or
//! whose (boot id, sequence) is not newer than the last it accepted (`ReplayGuard`).
//!
//! Payload: `u8 kind`, then
//! - kind 1, beat: `str8 sender`, `u64 config generation`, `u32 config digest`, `u8 link
//!   flags` (bit 0: the sender hears the receiver, configuration changes need both ways; bit
//!   1: the sender is leaving on purpose, its services handed over), `u16 count`,
//!   then `count` service records of 12 bytes: `u16 index` (in the configuration, valid when
//!   the digests agree), `u8 state word` (`WORDS`), `u8 phase`, `u8 flags` (bit 0 protected,
//!   bit 1 error, bit 2 the error happened while active, bit 3 it cannot run on the
//!   sender, bit 4 the sender saw it running on both nodes), `u8 primary` (0: host1, 1: host2),
//!   `u8 runner` (who should run it now: 0 host1, 1 host2, 2 neither),
//!   `u32 epoch`, `u16 resets` (flags bit 3: it cannot run on the sender, no healthy NIC);
//!   then `u8 count` NIC records: `str8 name`, `u8 ok`, `u8 count`, that many `u32 IPv4`
//!   (the sender's own addresses: where to ask it over the public network); then `u8 count`
//!   data paths (`str8 device`, `u8 ok`); `u64 admin stamp`, `str8 admin by`; `u64 heard`:
//!   the boot id of the receiver's hasvrd whose frames the sender hears (0: none), so a beat
//!   sent before the receiver (re)started, delayed or left in a buffer, is not taken for
//!   two-way contact with it. The whole state is in every beat, so a lost beat loses
//!   nothing.
//! - kind 2, configuration: `str8 sender`, `u64 generation`, `str32 text`.
//! - kind 3, a piece of a configuration (for slow serial links, one with each beat):
//!   `str8 sender`, `u64 generation`, `u16 index`, `u16 count`, `u16 length`, the bytes.
//! - kind 4, administrative state (lock, licenses): `str8 sender`, `str32 text` (≤ 8 KiB).
//! - kind 5, report (readiness, file digests, last moves; `engine::readiness`): `str8
//!   sender`, `str32 text` (≤ 32 KiB).
//! - kind 6, a step of changing the authkey (`engine::keys`): `str8 sender`, `u8 step`,
//!   `u8 length`, the bytes (the new key, or its fingerprint).
//! - kind 7, a repeat of the standing beat (`link::relay`; only between link processes, in
//!   protocol version 3): `u64 sequence` of the whole beat it repeats. Never reaches hasvrd:
//!   the receiving link process passes up the beat it holds under that sequence, or nothing.
//! - kind 8, a link process asking the peer's for its whole beat (it got a short repeat of
//!   a beat it never got; version 3, between link processes only): `u64 sequence` of that
//!   beat.

use hmac::{KeyInit, Mac};

pub mod wire;
pub use wire::Wire;

pub const VERSION: u8 = 1;
/// hasvrd's sequence numbers go in these steps; a link's repeats of a beat fill the gap.
pub const SEQ_STRIDE: u64 = 1 << 20;
/// The payload kind of a beat.
pub const BEAT_KIND: u8 = 1;
/// The payload kind of a step of a change of key (it carries a key: never in clear).
pub const KEY_KIND: u8 = 6;
/// The payload kind of a link process's short repeat of its standing beat.
pub const REPEAT_KIND: u8 = 7;
/// The payload kind of a link process asking for the peer's whole beat.
pub const WANT_KIND: u8 = 8;
/// Repeats of a standing beat that go whole after each gift, however short the rest may go:
/// a beat lost on the way is made good at once.
const WHOLE_AFTER_GIFT: u64 = 3;
/// After those, every this many-th repeat goes whole.
const WHOLE_EVERY: u64 = 10;

/// Whether the repeat after `repeats` others of the same gift goes whole.
pub fn repeat_goes_whole(repeats: u64) -> bool {
    repeats < WHOLE_AFTER_GIFT || repeats.is_multiple_of(WHOLE_EVERY)
}

/// The payload of a short repeat of the beat hasvrd gave under sequence `gift`.
pub fn short_repeat(gift: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(9);
    p.push(REPEAT_KIND);
    p.extend_from_slice(&gift.to_be_bytes());
    p
}

/// The gift sequence a short repeat names (`None`: not one).
pub fn repeated_gift(payload: &[u8]) -> Option<u64> {
    match payload {
        [REPEAT_KIND, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The payload asking the peer's link process for the whole beat of gift `gift`.
pub fn want_whole(gift: u64) -> Vec<u8> {
    let mut p = short_repeat(gift);
    p[0] = WANT_KIND;
    p
}

/// Whether a payload is of a kind only link processes speak (never for hasvrd, never to a
/// peer below version 3).
pub fn between_links(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(&REPEAT_KIND) | Some(&WANT_KIND))
}
const HEADER: usize = 22;
const TAG: usize = 16;
/// The largest frame: a UDP datagram's worth.
pub const MAX_FRAME: usize = 65_000;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

fn tag(key: &[u8], bytes: &[u8]) -> [u8; TAG] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(bytes);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG];
    out.copy_from_slice(&full[..TAG]);
    out
}

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    Malformed,
    Crc,
    Tag,
    Unsigned,
    Replay,
}

impl Bad {
    pub fn word(self) -> &'static str {
        match self {
            Bad::Malformed => "malformed",
            Bad::Crc => "crc",
            Bad::Tag => "tag",
            Bad::Unsigned => "unsigned",
            Bad::Replay => "replay",
        }
    }
}

/// A checked frame's header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub boot: u64,
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// The largest payload: what fits a frame of `MAX_FRAME` bytes in either version. Larger
/// messages (a big configuration) travel in pieces.
pub const MAX_PAYLOAD: usize = MAX_FRAME - wire::OVERHEAD_2;

/// Builds a frame; signed when there is a key. A payload over `MAX_PAYLOAD` is refused: its
/// length would not fit the header.
pub fn seal(key: Option<&[u8]>, boot: u64, seq: u64, payload: &[u8]) -> Result<Vec<u8>, String> {
    if payload.len() > MAX_PAYLOAD {
        return Err(format!(
            "a message of {} bytes does not fit a frame (at most {MAX_PAYLOAD})",
            payload.len()
        ));
    }
    let mut f = Vec::with_capacity(HEADER + payload.len() + 4 + TAG);
    f.extend_from_slice(b"SH");
    f.push(VERSION);
    f.push(key.is_some() as u8);
    f.extend_from_slice(&boot.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(payload);
    let c = crc32(&f);
    f.extend_from_slice(&c.to_be_bytes());
    if let Some(k) = key {
        let t = tag(k, &f);
        f.extend_from_slice(&t);
    }
    Ok(f)
}

/// The length of the whole frame that starts `bytes`, once its header is there (for byte
/// streams); `None` if the header is incomplete, `Err` if it cannot be a frame.
pub fn frame_len(bytes: &[u8]) -> Result<Option<usize>, Bad> {
    if bytes.len() < HEADER {
        return Ok(None);
    }
    if &bytes[..2] == b"SH" && wire::encrypted_version(bytes[2]) {
        return wire::frame_len_2(bytes).map(Some);
    }
    if &bytes[..2] != b"SH" || bytes[2] != VERSION || bytes[3] > 1 {
        return Err(Bad::Malformed);
    }
    let len = u16::from_be_bytes([bytes[20], bytes[21]]) as usize;
    Ok(Some(
        HEADER + len + 4 + if bytes[3] & 1 == 1 { TAG } else { 0 },
    ))
}

/// Checks a frame.
pub fn open(key: Option<&[u8]>, bytes: &[u8]) -> Result<Opened, Bad> {
    let total = frame_len(bytes)?.ok_or(Bad::Malformed)?;
    if bytes.len() != total {
        return Err(Bad::Malformed);
    }
    let signed = bytes[3] & 1 == 1;
    let body_end = total - 4 - if signed { TAG } else { 0 };
    let crc = u32::from_be_bytes(
        bytes[body_end..body_end + 4]
            .try_into()
            .map_err(|_| Bad::Malformed)?,
    );
    if crc32(&bytes[..body_end]) != crc {
        return Err(Bad::Crc);
    }
    match (key, signed) {
        (Some(_), false) => return Err(Bad::Unsigned),
        (Some(k), true) => {
            let mut mac =
                <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(k).map_err(|_| Bad::Tag)?;
            mac.update(&bytes[..body_end + 4]);
            mac.verify_truncated_left(&bytes[body_end + 4..])
                .map_err(|_| Bad::Tag)?;
        }
        // Without a key of our own a signature cannot be checked: only CRC protects.
        (None, _) => {}
    }
    let boot = u64::from_be_bytes(bytes[4..12].try_into().map_err(|_| Bad::Malformed)?);
    let seq = u64::from_be_bytes(bytes[12..20].try_into().map_err(|_| Bad::Malformed)?);
    Ok(Opened {
        boot,
        seq,
        payload: bytes[HEADER..body_end].to_vec(),
    })
}

/// Accepts only frames newer than the last accepted: a replay, or a frame of an older hasvrd
/// instance (stale boot id), is refused.
#[derive(Default, Clone, Debug)]
pub struct ReplayGuard {
    last: Option<(u64, u64)>,
}

impl ReplayGuard {
    pub fn accept(&mut self, boot: u64, seq: u64) -> Result<(), Bad> {
        if self.last.is_some_and(|last| (boot, seq) <= last) {
            return Err(Bad::Replay);
        }
        self.last = Some((boot, seq));
        Ok(())
    }
}

/// The state words of DESIGN §4, by their code in a beat.
pub const WORDS: [&str; 9] = [
    "UNKNOWN",
    "ACTIVE",
    "ACTIVESTB",
    "ACTIVEACT",
    "STANDBY",
    "OUTACT",
    "OUTSTB",
    "ERRORACT",
    "ERRORSTB",
];

pub fn word_code(w: &str) -> u8 {
    WORDS.iter().position(|x| *x == w).unwrap_or(0) as u8
}

pub fn word_of(code: u8) -> &'static str {
    WORDS.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// One service as its sender sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub index: u16,
    pub word: u8,
    /// 0 stopped, 1 starting, 2 running, 3 stopping.
    pub phase: u8,
    pub protected: bool,
    pub error: bool,
    pub error_was_active: bool,
    /// It cannot run on the sender (no healthy NIC for its addresses).
    pub unable: bool,
    /// The sender saw it running on both nodes and stops its own copy or keeps it (the
    /// both-claim alarm, so the peer raises it too even if it never saw both at once).
    pub both: bool,
    /// 0: the first link's host1, 1: its host2.
    pub primary: u8,
    /// Who should run it now: 0 host1, 1 host2, 2 neither.
    pub runner: u8,
    pub epoch: u32,
    pub resets: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    pub sender: String,
    pub generation: u64,
    pub digest: u32,
    /// The sender hears the receiver (two-way contact, for configuration changes).
    pub hears_you: bool,
    /// The sender's SureHA is stopping on purpose (`haadm stop`, TERM): its silence that
    /// follows is a departure, not a crash.
    pub leaving: bool,
    /// The sender's SureHA leaves its services running (QUIT, for an upgrade): its silence
    /// that follows is not a reason to take them over.
    pub keeping: bool,
    pub services: Vec<ServiceRecord>,
    pub nics: Vec<NicRecord>,
    /// The sender's volume devices and whether their data path reads (`disk` module).
    pub disks: Vec<(String, bool)>,
    /// The stamp of the sender's administrative state (lock, licenses), and who made it.
    pub admin: (u64, String),
    /// The boot id of the receiver's hasvrd whose frames the sender hears (0: none).
    pub heard: u64,
}

/// The largest readiness report (`Message::Report`) taken from the peer.
pub const MAX_REPORT: usize = 32 * 1024;

/// One NIC of the sender, with its IPv4 addresses (the IPv6 ones travel in the readiness
/// report, which a release without IPv6 reads past: a beat it could not decode would be the
/// peer's silence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicRecord {
    pub name: String,
    pub ok: bool,
    pub addrs: Vec<std::net::Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Beat(Beat),
    Config {
        sender: String,
        generation: u64,
        text: String,
    },
    ConfigPart {
        sender: String,
        generation: u64,
        index: u16,
        count: u16,
        data: Vec<u8>,
    },
    /// The sender's administrative state (lock, licenses), as `admin_state` writes it.
    Admin {
        sender: String,
        text: String,
    },
    /// What the sender found about its readiness, files and moves (`engine::readiness`).
    Report {
        sender: String,
        text: String,
    },
    /// A step of changing the authkey (`engine::keys`): the new key (offer), or the
    /// fingerprint it is known by (held, switched, done). Only ever sent encrypted.
    Key {
        sender: String,
        step: u8,
        data: Vec<u8>,
    },
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let s = self.b.get(self.at..self.at + n).ok_or(Bad::Malformed)?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Bad> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().map_err(|_| Bad::Malformed)?,
        ))
    }
    fn u32(&mut self) -> Result<u32, Bad> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().map_err(|_| Bad::Malformed)?,
        ))
    }
    fn u64(&mut self) -> Result<u64, Bad> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().map_err(|_| Bad::Malformed)?,
        ))
    }
    fn str8(&mut self) -> Result<String, Bad> {
        let n = self.u8()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Bad::Malformed)
    }
    fn str32(&mut self) -> Result<String, Bad> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Bad::Malformed)
    }
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

impl Message {
    /// About how many bytes `encode` writes (a beat is encoded on every pass of the engine:
    /// one allocation, not a dozen).
    fn encoded_size_hint(&self) -> usize {
        match self {
            Message::Beat(b) => {
                64 + b.sender.len()
                    + 14 * b.services.len()
                    + b.nics
                        .iter()
                        .map(|n| 3 + n.name.len() + 4 * n.addrs.len())
                        .sum::<usize>()
                    + b.disks.iter().map(|(d, _)| 2 + d.len()).sum::<usize>()
                    + b.admin.1.len()
            }
            Message::Config { text, .. } => 32 + text.len(),
            Message::ConfigPart { data, .. } => 48 + data.len(),
            Message::Admin { text, .. } | Message::Report { text, .. } => 48 + text.len(),
            Message::Key { data, .. } => 40 + data.len(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(self.encoded_size_hint());
        match self {
            Message::Beat(b) => {
                o.push(BEAT_KIND);
                put_str8(&mut o, &b.sender);
                o.extend_from_slice(&b.generation.to_be_bytes());
                o.extend_from_slice(&b.digest.to_be_bytes());
                o.push(b.hears_you as u8 | (b.leaving as u8) << 1 | (b.keeping as u8) << 2);
                o.extend_from_slice(&(b.services.len() as u16).to_be_bytes());
                for s in &b.services {
                    o.extend_from_slice(&s.index.to_be_bytes());
                    o.push(s.word);
                    o.push(s.phase);
                    o.push(
                        s.protected as u8
                            | (s.error as u8) << 1
                            | (s.error_was_active as u8) << 2
                            | (s.unable as u8) << 3
                            | (s.both as u8) << 4,
                    );
                    o.push(s.primary);
                    o.push(s.runner);
                    o.extend_from_slice(&s.epoch.to_be_bytes());
                    o.extend_from_slice(&s.resets.to_be_bytes());
                }
                o.push(b.nics.len().min(255) as u8);
                for n in b.nics.iter().take(255) {
                    put_str8(&mut o, &n.name);
                    o.push(n.ok as u8);
                    o.push(n.addrs.len().min(255) as u8);
                    for a in n.addrs.iter().take(255) {
                        o.extend_from_slice(&a.octets());
                    }
                }
                o.push(b.disks.len().min(255) as u8);
                for (d, ok) in b.disks.iter().take(255) {
                    put_str8(&mut o, d);
                    o.push(*ok as u8);
                }
                o.extend_from_slice(&b.admin.0.to_be_bytes());
                put_str8(&mut o, &b.admin.1);
                o.extend_from_slice(&b.heard.to_be_bytes());
            }
            Message::Config {
                sender,
                generation,
                text,
            } => {
                o.push(2);
                put_str8(&mut o, sender);
                o.extend_from_slice(&generation.to_be_bytes());
                o.extend_from_slice(&(text.len() as u32).to_be_bytes());
                o.extend_from_slice(text.as_bytes());
            }
            Message::ConfigPart {
                sender,
                generation,
                index,
                count,
                data,
            } => {
                o.push(3);
                put_str8(&mut o, sender);
                o.extend_from_slice(&generation.to_be_bytes());
                o.extend_from_slice(&index.to_be_bytes());
                o.extend_from_slice(&count.to_be_bytes());
                o.extend_from_slice(&(data.len().min(u16::MAX as usize) as u16).to_be_bytes());
                o.extend_from_slice(data);
            }
            Message::Admin { sender, text } | Message::Report { sender, text } => {
                o.push(if matches!(self, Message::Admin { .. }) {
                    4
                } else {
                    5
                });
                put_str8(&mut o, sender);
                o.extend_from_slice(&(text.len() as u32).to_be_bytes());
                o.extend_from_slice(text.as_bytes());
            }
            Message::Key { sender, step, data } => {
                o.push(KEY_KIND);
                put_str8(&mut o, sender);
                o.push(*step);
                o.push(data.len().min(255) as u8);
                o.extend_from_slice(&data[..data.len().min(255)]);
            }
        }
        o
    }

    pub fn decode(p: &[u8]) -> Result<Message, Bad> {
        let mut r = Reader { b: p, at: 0 };
        let m = match r.u8()? {
            1 => {
                let sender = r.str8()?;
                let generation = r.u64()?;
                let digest = r.u32()?;
                let link_flags = r.u8()?;
                let (hears_you, leaving, keeping) = (
                    link_flags & 1 != 0,
                    link_flags & 2 != 0,
                    link_flags & 4 != 0,
                );
                let n = r.u16()? as usize;
                let mut services = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    let index = r.u16()?;
                    let word = r.u8()?;
                    let phase = r.u8()?;
                    let flags = r.u8()?;
                    let primary = r.u8()?;
                    let runner = r.u8()?;
                    let epoch = r.u32()?;
                    let resets = r.u16()?;
                    if phase > 3 || primary > 1 || runner > 2 || word as usize >= WORDS.len() {
                        return Err(Bad::Malformed);
                    }
                    services.push(ServiceRecord {
                        index,
                        word,
                        phase,
                        protected: flags & 1 != 0,
                        error: flags & 2 != 0,
                        error_was_active: flags & 4 != 0,
                        unable: flags & 8 != 0,
                        both: flags & 16 != 0,
                        primary,
                        runner,
                        epoch,
                        resets,
                    });
                }
                let mut nics = Vec::new();
                for _ in 0..r.u8()? {
                    let name = r.str8()?;
                    let ok = r.u8()? != 0;
                    let mut addrs = Vec::new();
                    for _ in 0..r.u8()? {
                        addrs.push(std::net::Ipv4Addr::from(r.u32()?));
                    }
                    nics.push(NicRecord { name, ok, addrs });
                }
                let mut disks = Vec::new();
                for _ in 0..r.u8()? {
                    let d = r.str8()?;
                    disks.push((d, r.u8()? != 0));
                }
                let admin = (r.u64()?, r.str8()?);
                // Releases before `heard` end the beat here (`beat_without_heard`).
                let heard = if r.at == p.len() { 0 } else { r.u64()? };
                Message::Beat(Beat {
                    sender,
                    generation,
                    digest,
                    hears_you,
                    leaving,
                    keeping,
                    services,
                    nics,
                    disks,
                    admin,
                    heard,
                })
            }
            2 => Message::Config {
                sender: r.str8()?,
                generation: r.u64()?,
                text: r.str32()?,
            },
            3 => {
                let (sender, generation, index, count) = (r.str8()?, r.u64()?, r.u16()?, r.u16()?);
                let n = r.u16()? as usize;
                let data = r.take(n)?.to_vec();
                if index >= count {
                    return Err(Bad::Malformed);
                }
                Message::ConfigPart {
                    sender,
                    generation,
                    index,
                    count,
                    data,
                }
            }
            4 => {
                let sender = r.str8()?;
                let text = r.str32()?;
                if text.len() > 8192 {
                    return Err(Bad::Malformed);
                }
                Message::Admin { sender, text }
            }
            5 => {
                let sender = r.str8()?;
                let text = r.str32()?;
                if text.len() > MAX_REPORT {
                    return Err(Bad::Malformed);
                }
                Message::Report { sender, text }
            }
            KEY_KIND => {
                let sender = r.str8()?;
                let step = r.u8()?;
                let n = r.u8()? as usize;
                let data = r.take(n)?.to_vec();
                Message::Key { sender, step, data }
            }
            _ => return Err(Bad::Malformed),
        };
        // What a later release adds to a message rides after the fields this one knows, as
        // tag-length-value entries (tag u8, length u8): skipped here, so the two releases
        // still understand each other. Anything else after the fields is damage.
        while r.at < p.len() {
            let _tag = r.u8()?;
            let n = r.u8()? as usize;
            r.take(n)?;
        }
        Ok(m)
    }
}

/// Whether a beat's payload came without its last field, `heard`, as releases before it
/// send it (they also refuse a beat that has it: `beat_without_heard`).
pub fn beat_lacks_heard(b: &Beat, payload: &[u8]) -> bool {
    Message::Beat(b.clone()).encode().len() == payload.len() + 8
}

/// A beat's payload without its last field, `heard`, for a peer of a release before it.
pub fn beat_without_heard(payload: &mut Vec<u8>) {
    if payload.first() == Some(&BEAT_KIND) && payload.len() >= 8 {
        payload.truncate(payload.len() - 8);
    }
}

/// A beat that says its sender left with QUIT, its services running: the last words on a
/// disk link that a starting peer must not pass over (a crashed peer's last beat it may).
pub fn says_keeping(payload: &[u8]) -> bool {
    payload.first() == Some(&BEAT_KIND)
        && matches!(Message::decode(payload), Ok(Message::Beat(b)) if b.keeping)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat() -> Message {
        Message::Beat(Beat {
            sender: "alpha".into(),
            generation: 7,
            digest: 0xdead_beef,
            hears_you: true,
            leaving: false,
            keeping: false,
            services: vec![ServiceRecord {
                index: 3,
                word: 1,
                phase: 2,
                protected: true,
                error: false,
                error_was_active: true,
                unable: true,
                both: false,
                primary: 1,
                runner: 0,
                epoch: 42,
                resets: 2,
            }],
            nics: vec![NicRecord {
                name: "eth0".into(),
                ok: true,
                addrs: vec!["192.0.2.1".parse().unwrap()],
            }],
            disks: vec![("/dev/sdb1".into(), false)],
            admin: (0, String::new()),
            heard: 0,
        })
    }

    #[test]
    fn messages_round_trip() {
        for m in [
            beat(),
            Message::Config {
                sender: "beta".into(),
                generation: 9,
                text: "[privnet x]\n".into(),
            },
            Message::ConfigPart {
                sender: "beta".into(),
                generation: 9,
                index: 1,
                count: 3,
                data: b"[priv".to_vec(),
            },
        ] {
            assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn sealed_frames_open_with_the_key_only() {
        let key = b"secret".as_slice();
        let p = beat().encode();
        let f = seal(Some(key), 5, 6, &p).unwrap();
        assert_eq!(
            open(Some(key), &f),
            Ok(Opened {
                boot: 5,
                seq: 6,
                payload: p.clone()
            })
        );
        assert_eq!(open(Some(b"other"), &f), Err(Bad::Tag), "wrong key");
        let unsigned = seal(None, 5, 6, &p).unwrap();
        assert_eq!(open(Some(key), &unsigned), Err(Bad::Unsigned));
        assert!(open(None, &unsigned).is_ok());
        assert_eq!(frame_len(&f), Ok(Some(f.len())));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let key = b"k".as_slice();
        let f = seal(Some(key), 1, 2, &beat().encode()).unwrap();
        for i in 0..f.len() * 8 {
            let mut g = f.clone();
            g[i / 8] ^= 1 << (i % 8);
            assert!(open(Some(key), &g).is_err(), "bit {i} flipped and accepted");
        }
        let f = seal(None, 1, 2, &beat().encode()).unwrap();
        for i in 0..f.len() * 8 {
            let mut g = f.clone();
            g[i / 8] ^= 1 << (i % 8);
            assert!(
                open(None, &g).is_err(),
                "bit {i} flipped and accepted (CRC only)"
            );
        }
    }

    #[test]
    fn a_beat_of_a_release_before_heard_is_read_and_one_is_written_for_it() {
        let Message::Beat(mut b) = beat() else {
            unreachable!()
        };
        b.heard = 77;
        let full = Message::Beat(b.clone()).encode();
        let mut short = full.clone();
        beat_without_heard(&mut short);
        assert_eq!(short.len(), full.len() - 8);
        let Ok(Message::Beat(read)) = Message::decode(&short) else {
            panic!("a short beat is read")
        };
        assert_eq!(read.heard, 0, "not told");
        assert!(beat_lacks_heard(&read, &short));
        assert!(!beat_lacks_heard(&b, &full));
        // Fewer than 8 bytes where `heard` goes is damage.
        assert_eq!(
            Message::decode(&full[..full.len() - 3]),
            Err(Bad::Malformed)
        );
    }

    #[test]
    fn fields_a_later_release_appends_are_skipped() {
        for m in [
            beat(),
            Message::Config {
                sender: "beta".into(),
                generation: 9,
                text: "[privnet x]\n".into(),
            },
        ] {
            let mut p = m.encode();
            // Two entries of a release to come: tag 7 with 3 bytes, tag 200 empty.
            p.extend_from_slice(&[7, 3, 0xaa, 0xbb, 0xcc, 200, 0]);
            assert_eq!(Message::decode(&p), Ok(m));
        }
    }

    #[test]
    fn malformed_payloads_and_truncations_are_refused_not_panicked_on() {
        let p = beat().encode();
        // Every cut but the one that leaves a beat of a release before `heard`.
        for n in (0..p.len()).filter(|&n| n != p.len() - 8) {
            assert!(Message::decode(&p[..n]).is_err(), "{n}");
        }
        let f = seal(None, 1, 2, &p).unwrap();
        for n in 0..f.len() {
            assert!(open(None, &f[..n]).is_err());
        }
        let mut junk = p.clone();
        junk.push(0);
        assert_eq!(
            Message::decode(&junk),
            Err(Bad::Malformed),
            "a trailing byte that is not a whole entry"
        );
        junk.extend_from_slice(&[3, 1, 2]);
        assert_eq!(
            Message::decode(&junk),
            Err(Bad::Malformed),
            "length past the end"
        );
        assert_eq!(Message::decode(&[9]), Err(Bad::Malformed), "unknown kind");
        // A bad state word, phase or primary.
        for (at, v) in [(24, 200u8), (25, 9), (27, 5), (28, 7)] {
            let mut q = p.clone();
            q[at] = v;
            assert_eq!(Message::decode(&q), Err(Bad::Malformed), "byte {at}");
        }
        // Pseudo-random garbage never panics.
        let mut rng = crate::engine::sim::Rng::new(1);
        for _ in 0..2000 {
            let len = rng.below(80) as usize;
            let g: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = Message::decode(&g);
            let _ = open(Some(b"k"), &g);
        }
    }

    #[test]
    fn replays_and_stale_boot_ids_are_refused() {
        let mut g = ReplayGuard::default();
        assert!(g.accept(10, 1).is_ok());
        assert!(g.accept(10, 2).is_ok());
        assert_eq!(g.accept(10, 2), Err(Bad::Replay));
        assert_eq!(g.accept(10, 1), Err(Bad::Replay));
        assert_eq!(g.accept(9, 100), Err(Bad::Replay), "stale boot id");
        assert!(g.accept(11, 1).is_ok(), "a restarted sender");
    }

    #[test]
    fn a_beat_of_fifty_services_fits_a_one_second_interval_at_9600_baud() {
        let services = (0..50)
            .map(|i| ServiceRecord {
                index: i,
                word: 1,
                phase: 2,
                protected: true,
                error: false,
                error_was_active: false,
                unable: false,
                both: false,
                primary: 0,
                runner: 0,
                epoch: 1000,
                resets: 3,
            })
            .collect();
        let nics = (0..2)
            .map(|i| NicRecord {
                name: format!("eth{i}"),
                ok: true,
                addrs: vec!["192.0.2.1".parse().unwrap()],
            })
            .collect();
        let beat = Message::Beat(Beat {
            sender: "alpha-server-01".into(),
            generation: 12,
            digest: 1,
            hears_you: true,
            leaving: false,
            keeping: false,
            services,
            nics,
            disks: vec![],
            admin: (0, String::new()),
            heard: 0,
        })
        .encode();
        let frame = seal(Some(b"key"), 1, 1, &beat).unwrap();
        // 9600 baud with start and stop bits: 960 bytes a second.
        assert!(frame.len() < 960, "{} bytes", frame.len());
    }
}
