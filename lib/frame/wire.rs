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
//! Version 3 has version 2's layout; its byte 3 names the versions the sender speaks (the
//! lowest in the high nibble, the highest in the low one: a newer release says so without
//! being refused), and its payload may be a link process's short repeat of its standing
//! beat (`frame::REPEAT_KIND`). Only the link processes of socket and serial links speak it;
//! the public network and the disk link stay at version 2, where it would add nothing.
//!
//! Versions: a node sends the newest version it speaks unless the peer's newest frames (by
//! boot id) came in an older one, the mark of an older release, which drops newer versions
//! as malformed: then it sends that one. Once the peer sends a newer version, so does this
//! node; a forged downgrade needs the authkey, and a replayed old frame loses to the peer's
//! next one.

use super::{crc32, open, Bad, Opened, ReplayGuard, HEADER, MAX_PAYLOAD, TAG};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

pub const VERSION_2: u8 = 2;
pub const VERSION_3: u8 = 3;
/// The oldest version any release speaks.
const OLDEST: u8 = 1;
const SALT: usize = 8;
/// Bytes a version 2 frame adds to its payload.
pub const OVERHEAD_2: usize = HEADER + SALT + TAG + 4;

/// Whether frames of version `v` are encrypted (version 2's layout).
pub fn encrypted_version(v: u8) -> bool {
    v == VERSION_2 || v == VERSION_3
}

/// Byte 3 of a version 3 frame: the versions its sender speaks.
fn speaks_byte(newest: u8) -> u8 {
    (OLDEST << 4) | newest
}

/// The newest version the sender of a frame of version `version` and byte 3 `flags` speaks,
/// if the pair is valid.
fn sender_newest(version: u8, flags: u8) -> Option<u8> {
    match version {
        VERSION_2 => (flags == 0).then_some(VERSION_2),
        VERSION_3 => {
            let (lowest, newest) = (flags >> 4, flags & 0x0f);
            (lowest <= VERSION_3 && newest >= VERSION_3).then_some(newest)
        }
        _ => None,
    }
}

/// The length of the version 2 or 3 frame whose header starts `bytes` (at least `HEADER`
/// long).
pub(super) fn frame_len_2(bytes: &[u8]) -> Result<usize, Bad> {
    if sender_newest(bytes[2], bytes[3]).is_none() {
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

/// What the peer was last heard speaking: the newest version both speak, from this boot id
/// of its hasvrd on (`None`: nothing heard yet, the newest this end speaks goes).
pub type PeerSpeaks = Option<(u8, u64)>;

/// One process's end of the wire: the keys, its salt, and what the peer speaks.
pub struct Wire {
    /// The authkey, for version 1 tags.
    authkey: Option<Vec<u8>>,
    cipher: Option<XChaCha20Poly1305>,
    /// Keys also taken during a change of key (`engine::keys`): the next one, or the one
    /// before; never used to seal.
    also: Vec<(Vec<u8>, XChaCha20Poly1305)>,
    salt: [u8; SALT],
    /// The newest version this end speaks.
    newest: u8,
    peer: PeerSpeaks,
    /// A change of version not yet told, and since when.
    /// (what, since, whether it is a WARNING)
    news: Option<(String, std::time::Instant, bool)>,
    /// A fall to an older version was told (its end will be too).
    warned: bool,
}

/// A fallback to version 1 is told once it has lasted this long: two upgraded nodes, one
/// of which still spoke version 1 to the release before, meet at version 2 within a beat.
pub const FALLBACK_SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

impl Wire {
    pub fn new(authkey: Option<&[u8]>) -> Wire {
        Wire::with_keys(authkey, &[])
    }

    /// Sealing with `authkey`, and taking frames under any of `also` too; up to version 2
    /// (the public network, the disk link).
    pub fn with_keys(authkey: Option<&[u8]>, also: &[Vec<u8>]) -> Wire {
        Wire::speaking(VERSION_2, authkey, also)
    }

    /// As `with_keys`, for the link process of a socket or serial link: up to version 3,
    /// short repeats.
    pub fn for_link(authkey: Option<&[u8]>, also: &[Vec<u8>]) -> Wire {
        Wire::speaking(VERSION_3, authkey, also)
    }

    fn speaking(newest: u8, authkey: Option<&[u8]>, also: &[Vec<u8>]) -> Wire {
        Wire {
            also: also.iter().map(|k| (k.clone(), link_key(k))).collect(),
            authkey: authkey.map(<[u8]>::to_vec),
            cipher: authkey.map(link_key),
            salt: crate::auth::random_bytes::<SALT>(),
            newest,
            peer: None,
            news: None,
            warned: false,
        }
    }

    /// New keys (a change of key): what is known of the peer, and the salt, stay.
    pub fn set_keys(&mut self, authkey: Option<&[u8]>, also: &[Vec<u8>]) {
        let fresh = Wire::speaking(self.newest, authkey, also);
        self.authkey = fresh.authkey;
        self.cipher = fresh.cipher;
        self.also = fresh.also;
    }

    pub fn peer_speaks(&self) -> PeerSpeaks {
        self.peer
    }

    /// The version this end sends.
    pub fn sending(&self) -> u8 {
        self.peer.map_or(self.newest, |(v, _)| v.min(self.newest))
    }

    /// Whether what this end sends is encrypted.
    pub fn encrypting(&self) -> bool {
        self.cipher.is_some() && self.sending() >= VERSION_2
    }

    /// Whether a standing beat's repeats may go short (`frame::REPEAT_KIND`): the peer's
    /// link process speaks version 3.
    pub fn short_repeats(&self) -> bool {
        self.encrypting() && self.sending() >= VERSION_3
    }

    /// A frame as hasvrd built it (version 1), as it goes on the wire: encrypted unless the
    /// peer speaks only version 1 (or there is no key, and nothing to encrypt with). `None`:
    /// it must not go at all (a step of a change of key, which carries a key, in clear).
    pub fn outgoing(&self, frame: &[u8]) -> Option<Vec<u8>> {
        // hasvrd's own frame, checked by whoever passed it here.
        let Ok(f) = open(None, frame) else {
            return Some(frame.to_vec());
        };
        // A short repeat means nothing to an older release.
        if super::between_links(&f.payload) && !self.short_repeats() {
            return None;
        }
        let Some(cipher) = self.cipher.as_ref().filter(|_| self.encrypting()) else {
            return (f.payload.first() != Some(&super::KEY_KIND)).then(|| frame.to_vec());
        };
        let mut out = Vec::with_capacity(OVERHEAD_2 + f.payload.len());
        out.extend_from_slice(&frame[..HEADER]);
        out[2] = self.sending();
        out[3] = if out[2] == VERSION_2 {
            0
        } else {
            speaks_byte(self.newest)
        };
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
        if !encrypted_version(bytes[2]) {
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
    /// peer speaks (a change waits in `news`). Gives it opened: the one time a frame on
    /// its way in is opened (the link process and hasvrd read what this gives).
    pub fn accept(&mut self, bytes: &[u8], guard: &mut ReplayGuard) -> Result<Opened, Bad> {
        let f = self.check(bytes)?;
        guard.accept(f.boot, f.seq)?;
        let newest = sender_newest(bytes[2], bytes[3]).unwrap_or(bytes[2]);
        if let Some((n, warning)) = self.heard(newest, f.boot) {
            self.news = Some((n, std::time::Instant::now(), warning));
        }
        Ok(f)
    }

    /// A change in what the peer speaks since last asked, to log (a WARNING when frames go
    /// unencrypted, INFO when encrypted again).
    pub fn news(&mut self) -> Option<(bool, String)> {
        self.news_at(std::time::Instant::now())
    }

    /// `news` as of `now`: a fall to an older version once it has lasted `FALLBACK_SETTLE`
    /// (two upgraded nodes, one of which still spoke the older version to an older release,
    /// meet within a beat), the return only if the fall was told.
    pub fn news_at(&mut self, now: std::time::Instant) -> Option<(bool, String)> {
        let (_, since, _) = self.news.as_ref()?;
        let fallen = self.sending() < self.newest;
        if fallen && now.duration_since(*since) < FALLBACK_SETTLE {
            return None;
        }
        let (text, _, warning) = self.news.take()?;
        if fallen {
            self.warned = true;
            return Some((warning, text));
        }
        std::mem::replace(&mut self.warned, false).then_some((false, text))
    }

    /// Notes the newest version the sender of a checked frame of the peer's hasvrd `boot`
    /// speaks; says what changed. A newer version counts from any boot; an older one only
    /// from a newer boot (a replayed old frame does not downgrade).
    fn heard(&mut self, version: u8, boot: u64) -> Option<(String, bool)> {
        let was = self.sending();
        let was_encrypting = self.encrypting();
        let version = version.min(self.newest);
        self.peer = Some(match self.peer {
            Some((v, b)) if version == v => (v, b.max(boot)),
            Some((v, b)) if version < v && boot <= b => (v, b),
            _ => (version, boot),
        });
        match (was_encrypting, self.encrypting()) {
            (true, false) => Some((
                "the peer speaks only protocol version 1 (a release before encryption): frames go signed but unencrypted until both nodes are upgraded".into(),
                true,
            )),
            (false, true) if self.cipher.is_some() => Some((
                format!(
                    "the peer speaks protocol version {}: frames are encrypted again",
                    self.sending()
                ),
                false,
            )),
            _ if self.sending() != was && self.encrypting() => Some((
                format!(
                    "the peer speaks protocol version {}{}",
                    self.sending(),
                    if self.sending() < VERSION_3 {
                        " (a release before short repeats): repeats of the beat go whole"
                    } else {
                        ": repeats of the beat go short"
                    }
                ),
                false,
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::seal;

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
            clear,
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
        assert_eq!(new.peer_speaks(), Some((1, 3)));
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
    fn link_processes_meet_at_version_3_and_fall_back_to_2_for_the_release_before() {
        let repeat = |seq| v1(b"key", 1, seq, &crate::frame::short_repeat(7));
        let (a, mut b) = (
            Wire::for_link(Some(b"key"), &[]),
            Wire::for_link(Some(b"key"), &[]),
        );
        assert!(a.short_repeats());
        let out = a.outgoing(&repeat(8)).unwrap();
        assert_eq!((out[2], out[3]), (VERSION_3, 0x13), "speaks 1 to 3");
        let clear = b.accept(&out, &mut ReplayGuard::default()).unwrap();
        assert_eq!(clear.payload, crate::frame::short_repeat(7));
        assert_eq!((b.sending(), b.news()), (VERSION_3, None));
        // A newer release says it speaks 4 in a version 3 frame: taken, and 3 it is.
        let mut four = Wire::speaking(4, Some(b"key"), &[]);
        four.peer = Some((VERSION_3, 1));
        let mut newer = four.outgoing(&repeat(9)).unwrap();
        assert_eq!((newer[2], newer[3]), (VERSION_3, 0x14));
        assert!(b.check(&newer).is_ok());
        let n = newer.len() - 4;
        // Byte 3 that does not speak 3 is not version 3.
        newer[3] = 0x12;
        let crc = crc32(&newer[..n]).to_be_bytes();
        newer[n..].copy_from_slice(&crc);
        assert_eq!(b.check(&newer), Err(Bad::Malformed));
        // The release before speaks 2 (and drops version 3 as malformed; `make
        // upgrade-check` runs it): 2 it gets, and whole repeats; a short one never goes to it.
        let old = Wire::with_keys(Some(b"key"), &[]);
        let from_old = old.outgoing(&v1(b"key", 4, 1, b"old")).unwrap();
        assert_eq!((from_old[2], from_old[3]), (VERSION_2, 0));
        let mut guard = ReplayGuard::default();
        b.accept(&from_old, &mut guard).unwrap();
        assert!(b.encrypting() && !b.short_repeats());
        assert_eq!(b.news(), None, "told once it lasts");
        let later = std::time::Instant::now() + FALLBACK_SETTLE;
        let (warn, news) = b.news_at(later).unwrap();
        assert!(
            !warn && news.contains("version 2") && news.contains("go whole"),
            "{news}"
        );
        assert_eq!(b.outgoing(&repeat(9)), None);
        assert_eq!(
            b.outgoing(&v1(b"key", 1, 10, b"beat")).unwrap()[2],
            VERSION_2
        );
        // A version 3 frame upgrades (it cannot be forged); a version 2 one of the same boot
        // does not take it back, one of a newer boot does.
        b.accept(&a.outgoing(&v1(b"key", 5, 1, b"up")).unwrap(), &mut guard)
            .unwrap();
        assert!(b.short_repeats());
        b.accept(
            &old.outgoing(&v1(b"key", 5, 2, b"old")).unwrap(),
            &mut guard,
        )
        .unwrap();
        assert!(b.short_repeats(), "same boot: no downgrade");
        b.accept(
            &old.outgoing(&v1(b"key", 6, 1, b"old")).unwrap(),
            &mut guard,
        )
        .unwrap();
        assert!(!b.short_repeats(), "a newer boot speaks 2");
    }

    #[test]
    fn salts_differ_between_processes() {
        let (a, b) = (Wire::new(Some(b"key")), Wire::new(Some(b"key")));
        let f = v1(b"key", 1, 1, b"same");
        assert_ne!(a.outgoing(&f).unwrap(), b.outgoing(&f).unwrap());
    }
}
