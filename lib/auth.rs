//! Administrators' credentials (`etc/passwd`) and the login of the admin door, and the host
//! identity (`hostid`).
//!
//! A password is never stored and never crosses the wire. `etc/passwd` (0600) holds one user
//! a line: `USER:pbkdf2-sha256:ITERATIONS:SALT:STORED-KEY:SERVER-KEY` (hex), as SCRAM
//! (RFC 5802) keeps them: `salted = PBKDF2-HMAC-SHA256(password, salt, iterations)`,
//! `client_key = HMAC(salted, "Client Key")`, `stored_key = SHA256(client_key)`,
//! `server_key = HMAC(salted, "Server Key")`. At login both sides know the auth message (user,
//! both nonces, salt, iterations); the client sends `proof = client_key XOR HMAC(stored_key,
//! auth)`, which the server checks against `stored_key` and which is worth nothing for another
//! login (the server's nonce is new each time). The server answers `HMAC(server_key, auth)`,
//! proving it knows the user too. The session key is `HMAC(client_key, "session" auth)`:
//! every later request and reply carries an HMAC under it and a sequence number.

use crate::error::{Error, Result};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const ITERATIONS: u32 = 100_000;
const SCHEME: &str = "pbkdf2-sha256";

type HmacSha256 = hmac::Hmac<Sha256>;

pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 1 << 24 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s)?.try_into().ok()
}

/// A short name of a key, to compare two nodes' authkeys (and follow a change of key)
/// without showing them.
pub fn key_fingerprint(key: &[u8]) -> String {
    hex(&hmac(key, &[b"sureha key fingerprint"])[..6])
}

/// Equal, in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        // Without /dev/urandom: time and pid, hashed (nonces must still differ each time).
        let seed = format!(
            "{} {} {:?}",
            crate::clock::unix_millis(),
            crate::sys::getpid(),
            std::time::Instant::now()
        );
        let h = Sha256::digest(seed.as_bytes());
        for (i, x) in b.iter_mut().enumerate() {
            *x = h[i % 32];
        }
    }
    b
}

pub fn salted(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

pub fn client_key(salted: &[u8; 32]) -> [u8; 32] {
    hmac(salted, &[b"Client Key"])
}

/// One user of `etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl User {
    pub fn new(name: &str, password: &str, iterations: u32) -> User {
        let salt = random_bytes::<16>().to_vec();
        let s = salted(password, &salt, iterations);
        User {
            name: name.to_string(),
            iterations,
            stored_key: Sha256::digest(client_key(&s)).into(),
            server_key: hmac(&s, &[b"Server Key"]),
            salt,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}:{SCHEME}:{}:{}:{}:{}",
            self.name,
            self.iterations,
            hex(&self.salt),
            hex(&self.stored_key),
            hex(&self.server_key)
        )
    }

    fn parse(line: &str) -> Option<User> {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            [name, SCHEME, it, salt, stored, server] if valid_user(name) => Some(User {
                name: name.to_string(),
                iterations: it.parse().ok().filter(|&n| (1..=10_000_000).contains(&n))?,
                salt: unhex(salt).filter(|s| !s.is_empty() && s.len() <= 64)?,
                stored_key: unhex32(stored)?,
                server_key: unhex32(server)?,
            }),
            _ => None,
        }
    }
}

/// User names: what fits a log line and a passwd field.
pub fn valid_user(name: &str) -> bool {
    crate::config::valid_name(name)
}

/// The users of a passwd file; a line that is not a user is an error naming its line.
pub fn parse_passwd(file: &str, text: &str) -> Result<Vec<User>> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match User::parse(t) {
            Some(u) => users.push(u),
            None => {
                return Err(Error::failed(format!(
                    "{file}:{}: not a user line (USER:{SCHEME}:ITERATIONS:SALT:STORED-KEY:SERVER-KEY); a clear password is never accepted",
                    i + 1
                )))
            }
        }
    }
    Ok(users)
}

pub fn load_passwd(home: &crate::paths::Home) -> Result<Vec<User>> {
    let path = home.passwd();
    match crate::files::read_regular_text(&path, 1 << 20) {
        Ok(t) => parse_passwd(&path.display().to_string(), &t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

pub fn save_passwd(home: &crate::paths::Home, users: &[User]) -> Result<()> {
    let mut text =
        String::from("# SureHA administrators (NewPass, SetPass): never a clear password\n");
    for u in users {
        text.push_str(&u.line());
        text.push('\n');
    }
    let path = home.passwd();
    crate::files::write_atomic(&path, text.as_bytes(), 0o600)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

/// User, password and the password again, for NewPass and SetPass: from the terminal (the
/// passwords without echo), or three lines of standard input.
pub fn ask_user_and_password() -> Result<(String, String)> {
    let next = |prompt: &str, hidden: bool| -> Result<String> {
        if hidden {
            if let Some(r) = crate::sys::read_hidden_line(prompt) {
                return r.map_err(|e| Error::failed(format!("cannot read: {e}")));
            }
        } else if crate::sys::is_terminal_stdin() {
            eprint!("{prompt}");
        }
        let mut l = String::new();
        match std::io::stdin().read_line(&mut l) {
            Ok(n) if n > 0 => Ok(l.trim_end_matches(['\n', '\r']).to_string()),
            _ => Err(Error::failed(format!(
                "no answer for '{}' (three lines: user, password, password again)",
                prompt.trim_end_matches(": ")
            ))),
        }
    };
    let user = next("User: ", false)?.trim().to_string();
    if !valid_user(&user) {
        return Err(Error::failed(format!(
            "'{}' is not a valid user name (1 to 32 letters, digits, '_' or '-')",
            crate::config::shown(&user)
        )));
    }
    let password = next("Password: ", true)?;
    let again = next("Password again: ", true)?;
    if password != again {
        return Err(Error::failed("the two passwords differ; nothing changed"));
    }
    if password.chars().count() < 6 {
        return Err(Error::failed(
            "a password has at least 6 characters; nothing changed",
        ));
    }
    Ok((user, password))
}

/// What both sides sign at login.
pub fn auth_message(
    user: &str,
    cnonce: &str,
    snonce: &str,
    salt: &[u8],
    iterations: u32,
) -> String {
    format!("{user},{cnonce},{snonce},{},{iterations}", hex(salt))
}

/// The client's proof, from its salted password.
pub fn proof(salted: &[u8; 32], auth: &str) -> [u8; 32] {
    let ck = client_key(salted);
    let stored: [u8; 32] = Sha256::digest(ck).into();
    let sig = hmac(&stored, &[auth.as_bytes()]);
    let mut p = [0u8; 32];
    for i in 0..32 {
        p[i] = ck[i] ^ sig[i];
    }
    p
}

/// The server's check of a proof; the client key (for the session key) when it holds.
pub fn verify(user: &User, auth: &str, proof: &[u8]) -> Option<[u8; 32]> {
    if proof.len() != 32 {
        return None;
    }
    let sig = hmac(&user.stored_key, &[auth.as_bytes()]);
    let mut ck = [0u8; 32];
    for i in 0..32 {
        ck[i] = proof[i] ^ sig[i];
    }
    let stored: [u8; 32] = Sha256::digest(ck).into();
    same(&stored, &user.stored_key).then_some(ck)
}

pub fn server_signature(server_key: &[u8; 32], auth: &str) -> [u8; 32] {
    hmac(server_key, &[auth.as_bytes()])
}

/// The server key as the client computes it, to check the server's signature.
pub fn server_key(salted: &[u8; 32]) -> [u8; 32] {
    hmac(salted, &[b"Server Key"])
}

pub fn session_key(client_key: &[u8; 32], auth: &str) -> [u8; 32] {
    hmac(client_key, &[b"session ", auth.as_bytes()])
}

/// This host's identity: 8 lowercase hex digits, the same on every run (gethostid(3), which
/// reads /etc/hostid or derives it from the host's address).
pub fn hostid() -> String {
    format!("{:08x}", crate::sys::hostid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_proves_the_password_without_showing_it_and_cannot_be_replayed() {
        let u = User::new("admin", "s3cret", 1000);
        let line = u.line();
        assert!(!line.contains("s3cret"));
        assert_eq!(parse_passwd("p", &line).unwrap(), vec![u.clone()]);
        let auth = auth_message("admin", "c1", "s1", &u.salt, u.iterations);
        let s = salted("s3cret", &u.salt, u.iterations);
        let p = proof(&s, &auth);
        let ck = verify(&u, &auth, &p).expect("the right password");
        assert_eq!(ck, client_key(&s));
        assert_eq!(
            server_signature(&u.server_key, &auth),
            server_signature(&server_key(&s), &auth)
        );
        // A wrong password, or the same proof for another server nonce, fails.
        let bad = proof(&salted("guess", &u.salt, u.iterations), &auth);
        assert!(verify(&u, &auth, &bad).is_none());
        let auth2 = auth_message("admin", "c1", "s2", &u.salt, u.iterations);
        assert!(verify(&u, &auth2, &p).is_none());
        assert!(parse_passwd("p", "admin:s3cret\n")
            .unwrap_err()
            .message
            .contains("p:1: not a user line"));
        assert_eq!(unhex("0aff"), Some(vec![10, 255]));
        assert_eq!(unhex("0g"), None);
    }
}
