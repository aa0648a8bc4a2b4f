//! The messages frames carry (DESIGN §7), encoded and decoded. Payload: `u8 kind`, then
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

use super::{Bad, BEAT_KIND, KEY_KIND};

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
