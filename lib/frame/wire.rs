//! Frames as they travel between the nodes: encrypted (protocol version 2), or, while the
//! peer runs a release that speaks only version 1, signed in clear.
//!
//! Inside a node (hasvrd and its link processes, over pipes) frames stay version 1. A link
//! process (and hasvrd on the public network) turns each into version 2 as it leaves and back
//! as it arrives, so one place decides what crosses the wire.
//!
//! Version 2, big-endian:
//!
//! ```text
//!  0  'S' 'H'            magic
//!  2  u8   version       2
//!  3  u8   flags         0
//!  4  u64  boot id       as in version 1
//! 12  u64  sequence      as in version 1
//! 20  u16  length        of the payload
//! 22  [8]  salt          the sealing process's, random at its start
//! 30  ...  ciphertext    the payload, XChaCha20 under the link key
//!  n  [16] tag           Poly1305 over the ciphertext and bytes 0..30
//! n+16 u32 CRC-32        of bytes 0..n+16 (line noise is told from forgery cheaply)
//! ```
//!
//! The nonce is salt ‖ boot id ‖ sequence: a process never seals two frames with the same
//! (boot id, sequence), and two processes differ in salt. The link key is
//! HMAC-SHA256(authkey, "sureha link key v2"); the replay guard works on the authenticated
//! boot id and sequence as before.
//!
//! Versions: a node sends version 2 unless the peer's newest frames (by boot id) came only
//! in version 1, the mark of a release before encryption, which drops version 2 as
//! malformed. Once the peer sends version 2, so does this node; a forged downgrade needs the
//! authkey, and a replayed old frame loses to the peer's next one.

use super::{crc32, open, seal, Bad, Opened, ReplayGuard, HEADER, MAX_PAYLOAD, TAG};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

pub const VERSION_2: u8 = 2;
const SALT: usize = 8;
/// Bytes a version 2 frame adds to its payload.
pub const OVERHEAD_2: usize = HEADER + SALT + TAG + 4;

/// The length of the version 2 frame whose header starts `bytes` (at least `HEADER` long).
pub(super) fn frame_len_2(bytes: &[u8]) -> Result<usize, Bad> {
    if bytes[3] != 0 {
        return Err(Bad::Malformed);
    }
    let len = u16::from_be_bytes([bytes[20], bytes[21]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(Bad::Malformed);
    }
    Ok(OVERHEAD_2 + len)
}

/// The link key: derived, so the authkey itself never keys a cipher.
fn link_key(authkey: &[u8]) -> XChaCha20Poly1305 {
    let k = crate::auth::hmac(authkey, &[b"sureha link key v2"]);
    XChaCha20Poly1305::new_from_slice(&k)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 gives 32 bytes, the key size"))
}

fn nonce(salt: &[u8], boot: u64, seq: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..SALT].copy_from_slice(salt);
    n[8..16].copy_from_slice(&boot.to_be_bytes());
    n[16..].copy_from_slice(&seq.to_be_bytes());
    XNonce::from(n)
}

/// What the peer was last heard speaking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSpeaks {
    /// Nothing heard yet: this node speaks version 2.
    Unknown,
    /// Version 1 only, from this boot id of its hasvrd on.
    Only1(u64),
    /// Version 2, from this boot id of its hasvrd on.
    Both(u64),
}

/// One process's end of the wire: the keys, its salt, and what the peer speaks.
pub struct Wire {
    /// The authkey, for version 1 tags.
    authkey: Option<Vec<u8>>,
    cipher: Option<XChaCha20Poly1305>,
    /// Keys also taken during a change of key (`engine::keys`): the next one, or the one
    /// before; never used to seal.
    also: Vec<(Vec<u8>, XChaCha20Poly1305)>,
    salt: [u8; SALT],
    peer: PeerSpeaks,
    /// A change of version not yet told, and since when.
    news: Option<(String, std::time::Instant)>,
    /// The fallback to version 1 was told (its end will be too).
    warned: bool,
}

/// A fallback to version 1 is told once it has lasted this long: two upgraded nodes, one
/// of which still spoke version 1 to the release before, meet at version 2 within a beat.
pub const FALLBACK_SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

impl Wire {
    pub fn new(authkey: Option<&[u8]>) -> Wire {
        Wire::with_keys(authkey, &[])
    }

    /// Sealing with `authkey`, and taking frames under any of `also` too.
    pub fn with_keys(authkey: Option<&[u8]>, also: &[Vec<u8>]) -> Wire {
        Wire {
            also: also.iter().map(|k| (k.clone(), link_key(k))).collect(),
            authkey: authkey.map(<[u8]>::to_vec),
            cipher: authkey.map(link_key),
            salt: crate::auth::random_bytes::<SALT>(),
            peer: PeerSpeaks::Unknown,
            news: None,
            warned: false,
        }
    }

    /// New keys (a change of key): what is known of the peer, and the salt, stay.
    pub fn set_keys(&mut self, authkey: Option<&[u8]>, also: &[Vec<u8>]) {
        let fresh = Wire::with_keys(authkey, also);
        self.authkey = fresh.authkey;
        self.cipher = fresh.cipher;
        self.also = fresh.also;
    }

    pub fn peer_speaks(&self) -> PeerSpeaks {
        self.peer
    }

    /// Whether what this end sends is encrypted.
    pub fn encrypting(&self) -> bool {
        self.cipher.is_some() && !matches!(self.peer, PeerSpeaks::Only1(_))
    }

    /// A frame as hasvrd built it (version 1), as it goes on the wire: encrypted unless the
    /// peer speaks only version 1 (or there is no key, and nothing to encrypt with). `None`:
    /// it must not go at all (a step of a change of key, which carries a key, in clear).
    pub fn outgoing(&self, frame: &[u8]) -> Option<Vec<u8>> {
        // hasvrd's own frame, checked by whoever passed it here.
        let Ok(f) = open(None, frame) else {
            return Some(frame.to_vec());
        };
        let Some(cipher) = self.cipher.as_ref().filter(|_| self.encrypting()) else {
            return (f.payload.first() != Some(&super::KEY_KIND)).then(|| frame.to_vec());
        };
        let mut out = Vec::with_capacity(OVERHEAD_2 + f.payload.len());
        out.extend_from_slice(&frame[..HEADER]);
        out[2] = VERSION_2;
        out[3] = 0;
        out.extend_from_slice(&self.salt);
        let body = out.len();
        out.extend_from_slice(&f.payload);
        let (aad, text) = out.split_at_mut(body);
        let n = nonce(&self.salt, f.boot, f.seq);
        let Ok(tag) = cipher.encrypt_inout_detached(&n, aad, text.into()) else {
            // Only a payload beyond the cipher's limit (gigabytes) fails: not sent in clear.
            return None;
        };
        out.extend_from_slice(&tag);
        let c = crc32(&out);
        out.extend_from_slice(&c.to_be_bytes());
        Some(out)
    }

    /// Checks a frame from the wire (either version): CRC, then tag or decryption.
    pub fn check(&self, bytes: &[u8]) -> Result<Opened, Bad> {
        if bytes.len() < HEADER || &bytes[..2] != b"SH" {
            return Err(Bad::Malformed);
        }
        if bytes[2] != VERSION_2 {
            let first = open(self.authkey.as_deref(), bytes);
            if first != Err(Bad::Tag) {
                return first;
            }
            return self
                .also
                .iter()
                .map(|(k, _)| open(Some(k), bytes))
                .find(Result::is_ok)
                .unwrap_or(first);
        }
        if frame_len_2(bytes)? != bytes.len() {
            return Err(Bad::Malformed);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32(body).to_be_bytes() != crc {
            return Err(Bad::Crc);
        }
        let Some(cipher) = &self.cipher else {
            // Without a key nothing encrypted can be read.
            return Err(Bad::Tag);
        };
        let boot = u64::from_be_bytes(bytes[4..12].try_into().map_err(|_| Bad::Malformed)?);
        let seq = u64::from_be_bytes(bytes[12..20].try_into().map_err(|_| Bad::Malformed)?);
        let aad = &bytes[..HEADER + SALT];
        let (text, tag) = body[HEADER + SALT..].split_at(body.len() - HEADER - SALT - TAG);
        let tag = chacha20poly1305::Tag::try_from(tag).map_err(|_| Bad::Malformed)?;
        let n = nonce(&bytes[HEADER..HEADER + SALT], boot, seq);
        for c in std::iter::once(cipher).chain(self.also.iter().map(|(_, c)| c)) {
            let mut payload = text.to_vec();
            if c.decrypt_inout_detached(&n, aad, payload.as_mut_slice().into(), &tag)
                .is_ok()
            {
                return Ok(Opened { boot, seq, payload });
            }
        }
        Err(Bad::Tag)
    }

    /// Takes a frame from the peer: checked, new (`guard`), and noted for the version the
    /// peer speaks (a change waits in `news`). Gives the frame as hasvrd reads it (version
    /// 1, in clear: it stays in this node).
    pub fn accept(&mut self, bytes: &[u8], guard: &mut ReplayGuard) -> Result<Vec<u8>, Bad> {
        let f = self.check(bytes)?;
        guard.accept(f.boot, f.seq)?;
        if let Some(n) = self.heard(bytes[2], f.boot) {
            self.news = Some((n, std::time::Instant::now()));
        }
        if bytes[2] == VERSION_2 {
            seal(None, f.boot, f.seq, &f.payload).map_err(|_| Bad::Malformed)
        } else {
            Ok(bytes.to_vec())
        }
    }

    /// A change in what the peer speaks since last asked, to log (a WARNING when frames go
    /// unencrypted, INFO when encrypted again).
    pub fn news(&mut self) -> Option<(bool, String)> {
        self.news_at(std::time::Instant::now())
    }

    /// `news` as of `now`: a fallback once it has lasted `FALLBACK_SETTLE`, its end only if
    /// it was told.
    pub fn news_at(&mut self, now: std::time::Instant) -> Option<(bool, String)> {
        let (_, since) = self.news.as_ref()?;
        let clear = !self.encrypting();
        if clear && now.duration_since(*since) < FALLBACK_SETTLE {
            return None;
        }
        let (text, _) = self.news.take()?;
        if clear {
            self.warned = true;
            return Some((true, text));
        }
        std::mem::replace(&mut self.warned, false).then_some((false, text))
    }

    /// Notes the version of a checked frame of the peer's hasvrd `boot`; says what changed.
    fn heard(&mut self, version: u8, boot: u64) -> Option<String> {
        let was_encrypting = self.encrypting();
        self.peer = match (self.peer, version == VERSION_2) {
            (PeerSpeaks::Both(b), false) if boot <= b => PeerSpeaks::Both(b),
            (PeerSpeaks::Only1(b), false) => PeerSpeaks::Only1(b.max(boot)),
            (_, false) => PeerSpeaks::Only1(boot),
            (PeerSpeaks::Both(b), true) => PeerSpeaks::Both(b.max(boot)),
            (_, true) => PeerSpeaks::Both(boot),
        };
        match (was_encrypting, self.encrypting()) {
            (true, false) => Some(
                "the peer speaks only protocol version 1 (a release before encryption): frames go signed but unencrypted until both nodes are upgraded".into(),
            ),
            (false, true) if matches!(self.peer, PeerSpeaks::Both(_)) && self.cipher.is_some() => {
                Some("the peer speaks protocol version 2: frames are encrypted again".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(key: &[u8], boot: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
        seal(Some(key), boot, seq, payload).unwrap()
    }

    #[test]
    fn a_frame_crosses_encrypted_and_arrives_as_hasvrd_sent_it() {
        let (a, mut b) = (Wire::new(Some(b"key")), Wire::new(Some(b"key")));
        let secret = b"service www-secret is ACTIVE";
        let wire = a.outgoing(&v1(b"key", 5, 7, secret)).unwrap();
        assert_eq!(wire[2], VERSION_2);
        assert!(!wire.windows(10).any(|w| w == &secret[..10]), "in clear");
        assert_eq!(wire.len(), secret.len() + OVERHEAD_2);
        let clear = b.accept(&wire, &mut ReplayGuard::default()).unwrap();
        assert_eq!(b.news(), None);
        assert_eq!(
            open(None, &clear).unwrap(),
            Opened {
                boot: 5,
                seq: 7,
                payload: secret.to_vec()
            }
        );
        assert_eq!(super::super::frame_len(&wire), Ok(Some(wire.len())));
    }

    #[test]
    fn a_changed_replayed_reordered_or_foreign_frame_is_refused() {
        let a = Wire::new(Some(b"key"));
        let mut b = Wire::new(Some(b"key"));
        let mut guard = ReplayGuard::default();
        let first = a.outgoing(&v1(b"key", 5, 7, b"one")).unwrap();
        let second = a.outgoing(&v1(b"key", 5, 8, b"two")).unwrap();
        // Every byte changed in turn (CRC fixed up, so the AEAD itself must refuse).
        for i in 0..first.len() - 4 {
            let mut bad = first.clone();
            bad[i] ^= 0x20;
            let n = bad.len() - 4;
            let c = crc32(&bad[..n]).to_be_bytes();
            bad[n..].copy_from_slice(&c);
            assert!(b.check(&bad).is_err(), "byte {i} changed, accepted");
        }
        assert!(b.accept(&second, &mut guard).is_ok());
        assert_eq!(b.accept(&first, &mut guard), Err(Bad::Replay), "reordered");
        assert_eq!(b.accept(&second, &mut guard), Err(Bad::Replay), "replayed");
        let other = Wire::new(Some(b"other key"));
        let forged = other.outgoing(&v1(b"other key", 5, 9, b"three")).unwrap();
        assert_eq!(b.accept(&forged, &mut guard), Err(Bad::Tag));
        // Noise on the line: the CRC says so before any cryptography.
        let mut noisy = a.outgoing(&v1(b"key", 5, 10, b"four")).unwrap();
        noisy[25] ^= 1;
        assert_eq!(b.check(&noisy), Err(Bad::Crc));
        // No key: nothing encrypted is read.
        assert_eq!(Wire::new(None).check(&second), Err(Bad::Tag));
    }

    #[test]
    fn a_peer_of_the_release_before_gets_signed_clear_frames_until_it_speaks_version_2() {
        let mut new = Wire::new(Some(b"key"));
        let mut guard = ReplayGuard::default();
        assert!(new.encrypting(), "version 2 from the start");
        // The old release sends version 1, and drops our version 2 as malformed.
        new.accept(&v1(b"key", 3, 1, b"old"), &mut guard).unwrap();
        assert_eq!(new.news(), None, "told once it lasts");
        let later = std::time::Instant::now() + FALLBACK_SETTLE;
        let (warn, news) = new.news_at(later).unwrap();
        assert!(warn && news.contains("unencrypted until both nodes are upgraded"));
        assert_eq!(new.peer_speaks(), PeerSpeaks::Only1(3));
        let out = new.outgoing(&v1(b"key", 9, 1, b"x")).unwrap();
        assert_eq!(open(Some(b"key"), &out).unwrap().payload, b"x", "signed v1");
        // Upgraded, the peer restarts (a newer boot) and speaks version 2.
        let upgraded = Wire::new(Some(b"key"));
        let v2 = upgraded.outgoing(&v1(b"key", 4, 1, b"new")).unwrap();
        new.accept(&v2, &mut guard).unwrap();
        let (warn, news) = new.news_at(later).unwrap();
        assert!(!warn && news.contains("encrypted again"));
        assert!(new.encrypting());
        // A version 1 frame of the old boot, replayed past the guard (a fresh process):
        // no downgrade.
        let mut fresh_guard = ReplayGuard::default();
        new.accept(&v1(b"key", 3, 2, b"old"), &mut fresh_guard)
            .unwrap();
        assert!(new.encrypting());
        // Two new nodes, one still in the fallback: each sends version 2 as soon as it
        // hears it, so they meet there.
        let mut a = Wire::new(Some(b"key"));
        a.accept(&v1(b"key", 1, 1, b"old"), &mut ReplayGuard::default())
            .unwrap();
        let b = Wire::new(Some(b"key"));
        a.accept(
            &b.outgoing(&v1(b"key", 2, 1, b"b")).unwrap(),
            &mut ReplayGuard::default(),
        )
        .unwrap();
        assert!(a.encrypting());
        // That fallback lasted less than a beat: nothing was told, either way.
        assert_eq!(a.news_at(later), None);
    }

    #[test]
    fn during_a_change_of_key_frames_under_either_are_taken_and_sealed_under_one() {
        let old = Wire::new(Some(b"old key"));
        let new = Wire::new(Some(b"new key"));
        let mut both = Wire::with_keys(Some(b"new key"), &[b"old key".to_vec()]);
        let mut guard = ReplayGuard::default();
        assert!(both
            .accept(
                &old.outgoing(&v1(b"old key", 1, 1, b"a")).unwrap(),
                &mut guard
            )
            .is_ok());
        assert!(both
            .accept(
                &new.outgoing(&v1(b"new key", 1, 2, b"b")).unwrap(),
                &mut guard
            )
            .is_ok());
        assert!(
            both.accept(&v1(b"old key", 1, 3, b"c"), &mut guard).is_ok(),
            "version 1"
        );
        // It seals with the first key only.
        let sealed = both.outgoing(&v1(b"new key", 2, 1, b"d")).unwrap();
        assert!(new.check(&sealed).is_ok() && old.check(&sealed).is_err());
        // Neither key: refused.
        let other = Wire::new(Some(b"other"));
        assert_eq!(
            both.accept(
                &other.outgoing(&v1(b"other", 1, 4, b"e")).unwrap(),
                &mut guard
            ),
            Err(Bad::Tag)
        );
    }

    #[test]
    fn a_step_of_a_change_of_key_never_goes_in_clear() {
        let mut w = Wire::new(Some(b"key"));
        let step = crate::frame::Message::Key {
            sender: "alpha".into(),
            step: 1,
            data: b"0123456789abcdef0123456789abcdef".to_vec(),
        }
        .encode();
        assert!(w.outgoing(&v1(b"key", 1, 1, &step)).is_some(), "encrypted");
        w.accept(&v1(b"key", 3, 1, b"old"), &mut ReplayGuard::default())
            .unwrap();
        assert!(!w.encrypting());
        assert_eq!(w.outgoing(&v1(b"key", 1, 2, &step)), None);
        assert!(w.outgoing(&v1(b"key", 1, 3, b"beat")).is_some());
    }

    #[test]
    fn salts_differ_between_processes() {
        let (a, b) = (Wire::new(Some(b"key")), Wire::new(Some(b"key")));
        let f = v1(b"key", 1, 1, b"same");
        assert_ne!(a.outgoing(&f).unwrap(), b.outgoing(&f).unwrap());
    }
}
