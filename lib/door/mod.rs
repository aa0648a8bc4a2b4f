//! The admin door (DESIGN §9): how a remote `haadm` (or the console) logs in to hamond over
//! TCP and has its requests run on that node, exactly as local ones.
//!
//! One line each way at a time, fields separated by single spaces, binary fields in hex:
//!
//! ```text
//! client: SUREHA-ADMIN/1 USER CNONCE
//! server: CHALLENGE SALT ITERATIONS SNONCE          (or DENIED reason)
//! client: PROOF PROOF
//! server: WELCOME SERVER-SIGNATURE                  (or DENIED reason, after a delay)
//! client: REQ SEQ SEALED                            (version 2: `sealed`, encrypted)
//! server: REP SEQ SEALED
//! ```
//!
//! The login is SCRAM-like (`auth`): the password never crosses the wire, a proof is worth
//! nothing for another login. After it, requests and replies are encrypted and authenticated
//! under a key derived from the session key (`sealed`); SEQ counts from 1, so a line
//! changed, dropped, reordered or replayed is refused and the connection closed.
//!
//! Version 1 (the release before, `SUREHA-ADMIN/1`) is still spoken, signed but in clear,
//! with a WARNING on both sides: `REQ SEQ MAC WORDS` (WORDS: hex of the command words joined
//! by NUL), `REP SEQ STATUS MAC BODY`, each MAC `HMAC(session key, direction, SEQ, fields)`.

pub mod client;
pub mod sealed;
pub mod server;

use crate::auth::{hex, hmac};

/// The hello of the release before: its sessions are signed, not encrypted.
pub const HELLO: &str = "SUREHA-ADMIN/1";
pub const HELLO_2: &str = "SUREHA-ADMIN/2";
/// The longest line either side reads (a status of 256 services, in hex, fits many times).
pub const MAX_LINE: usize = 4 << 20;
pub const DEFAULT_PORT: u16 = 7011;

pub fn request_mac(key: &[u8; 32], seq: u64, words: &str) -> String {
    hex(&hmac(
        key,
        &[b"req ", seq.to_string().as_bytes(), b" ", words.as_bytes()],
    ))
}

pub fn reply_mac(key: &[u8; 32], seq: u64, status: i32, body: &str) -> String {
    hex(&hmac(
        key,
        &[
            b"rep ",
            seq.to_string().as_bytes(),
            b" ",
            status.to_string().as_bytes(),
            b" ",
            body.as_bytes(),
        ],
    ))
}

/// Reads one line of at most `MAX_LINE` bytes, without its newline; `None` at end of input.
pub fn read_line(r: &mut impl std::io::BufRead) -> std::io::Result<Option<String>> {
    read_line_limited(r, MAX_LINE)
}

/// Reads one line of at most `limit` bytes (a longer one is an error, not a wait).
pub fn read_line_limited(
    r: &mut impl std::io::BufRead,
    limit: usize,
) -> std::io::Result<Option<String>> {
    use std::io::{BufRead, Read};
    let mut buf = Vec::new();
    let n = r.take(limit as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or cut short",
        ));
    }
    buf.pop();
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

/// The words of a request as they travel: hex of the words joined by NUL.
pub fn encode_words(words: &[String]) -> String {
    hex(words.join("\0").as_bytes())
}

pub fn decode_words(field: &str) -> Option<Vec<String>> {
    let b = crate::auth::unhex(field)?;
    let s = String::from_utf8(b).ok()?;
    if s.is_empty() {
        return Some(Vec::new());
    }
    Some(s.split('\0').map(str::to_string).collect())
}
