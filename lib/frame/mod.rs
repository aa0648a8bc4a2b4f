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
//! Payload: a `Message` (`message`, where its kinds are laid out).

use hmac::{KeyInit, Mac};

mod message;
pub mod wire;
pub use message::*;
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
