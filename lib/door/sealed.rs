//! The door's requests and replies after login, version 2: encrypted and authenticated with
//! XChaCha20-Poly1305 under a key derived from the session key (new for every login).
//!
//! ```text
//! client: REQ SEQ SEALED        (the command words joined by NUL)
//! server: REP SEQ SEALED        (the exit status in decimal, a space, then the body)
//! ```
//!
//! SEALED is the ciphertext and its tag, in hex. The nonce is the direction and SEQ, the
//! associated data the same: a line changed, dropped, reordered, replayed or sent back the
//! other way does not open, and the connection is closed.

use crate::auth::{hex, hmac, unhex};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Request = 1,
    Reply = 2,
}

/// One session's cipher.
pub struct Sealer {
    aead: XChaCha20Poly1305,
}

const TAG: usize = 16;

impl Sealer {
    pub fn new(session_key: &[u8; 32]) -> Sealer {
        let k = hmac(session_key, &[b"sureha door encryption v2"]);
        Sealer {
            aead: XChaCha20Poly1305::new_from_slice(&k)
                .unwrap_or_else(|_| unreachable!("HMAC-SHA256 gives 32 bytes, the key size")),
        }
    }

    fn nonce_and_aad(dir: Direction, seq: u64) -> (XNonce, [u8; 9]) {
        let mut aad = [0u8; 9];
        aad[0] = dir as u8;
        aad[1..].copy_from_slice(&seq.to_be_bytes());
        let mut n = [0u8; 24];
        n[..9].copy_from_slice(&aad);
        (XNonce::from(n), aad)
    }

    /// The hex of `plain` sealed for `dir` and `seq`.
    pub fn seal(&self, dir: Direction, seq: u64, plain: &[u8]) -> String {
        let (nonce, aad) = Self::nonce_and_aad(dir, seq);
        let mut buf = plain.to_vec();
        match self
            .aead
            .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
        {
            Ok(tag) => {
                buf.extend_from_slice(&tag);
                hex(&buf)
            }
            // Only a message beyond the cipher's limit (gigabytes) fails: it never opens.
            Err(_) => String::new(),
        }
    }

    /// What `sealed` (hex) says, if it was sealed with this key for `dir` and `seq`.
    pub fn open(&self, dir: Direction, seq: u64, sealed: &str) -> Option<Vec<u8>> {
        let mut buf = unhex(sealed)?;
        if buf.len() < TAG {
            return None;
        }
        let tag = Tag::try_from(&buf[buf.len() - TAG..]).ok()?;
        buf.truncate(buf.len() - TAG);
        let (nonce, aad) = Self::nonce_and_aad(dir, seq);
        self.aead
            .decrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into(), &tag)
            .ok()?;
        Some(buf)
    }

    pub fn seal_request(&self, seq: u64, words: &[String]) -> String {
        format!(
            "REQ {seq} {}",
            self.seal(Direction::Request, seq, words.join("\0").as_bytes())
        )
    }

    /// The words of request line `line`, if it is request `seq` of this session.
    pub fn open_request(&self, seq: u64, line: &str) -> Option<Vec<String>> {
        let f: Vec<&str> = line.split(' ').collect();
        let ["REQ", n, sealed] = f.as_slice() else {
            return None;
        };
        if n.parse() != Ok(seq) {
            return None;
        }
        let text = String::from_utf8(self.open(Direction::Request, seq, sealed)?).ok()?;
        if text.is_empty() {
            return Some(Vec::new());
        }
        Some(text.split('\0').map(str::to_string).collect())
    }

    pub fn seal_reply(&self, seq: u64, status: i32, body: &str) -> String {
        format!(
            "REP {seq} {}",
            self.seal(Direction::Reply, seq, format!("{status} {body}").as_bytes())
        )
    }

    /// The exit status and body of reply line `line`, if it answers request `seq`.
    pub fn open_reply(&self, seq: u64, line: &str) -> Option<(i32, String)> {
        let f: Vec<&str> = line.split(' ').collect();
        let ["REP", n, sealed] = f.as_slice() else {
            return None;
        };
        if n.parse() != Ok(seq) {
            return None;
        }
        let text = String::from_utf8(self.open(Direction::Reply, seq, sealed)?).ok()?;
        let (status, body) = text.split_once(' ')?;
        Some((status.parse().ok()?, body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_open_only_as_sent() {
        let s = Sealer::new(&[7u8; 32]);
        let words = vec!["license".to_string(), "alpha".into(), "SECRET-1".into()];
        let req = s.seal_request(1, &words);
        assert!(!req.contains(&hex(b"SECRET-1")) && !req.contains("SECRET"));
        assert_eq!(s.open_request(1, &req), Some(words.clone()));
        assert_eq!(
            s.open_request(2, &req),
            None,
            "replayed as the next request"
        );
        let rep = s.seal_reply(1, 0, "LICENSE alpha SECRET-1\n");
        assert_eq!(
            s.open_reply(1, &rep),
            Some((0, "LICENSE alpha SECRET-1\n".into()))
        );
        // A reply sent back as a request, or a request as a reply: the direction differs.
        assert_eq!(s.open_request(1, &rep.replacen("REP", "REQ", 1)), None);
        assert_eq!(s.open_reply(1, &req.replacen("REQ", "REP", 1)), None);
        // Any character of the sealed part changed: refused.
        let head = "REQ 1 ".len();
        for i in head..req.len() {
            let mut b = req.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(b).unwrap();
            assert_eq!(s.open_request(1, &changed), None, "char {i}");
        }
        // Another session's key: refused.
        assert_eq!(Sealer::new(&[8u8; 32]).open_request(1, &req), None);
        assert_eq!(s.open_request(1, "REQ 1 zz"), None);
        assert_eq!(s.open_request(1, "REQ 1"), None);
    }
}
