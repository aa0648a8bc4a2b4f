//! The door's client side: `haadm -H HOST [-u USER] COMMAND...` (and the console).

use super::sealed::Sealer;
use super::*;
use crate::auth;
use crate::error::{Error, Result};
use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub struct Session {
    r: BufReader<TcpStream>,
    w: TcpStream,
    key: [u8; 32],
    /// Version 2: requests and replies encrypted. `None`: the door there is of the release
    /// before (version 1, signed in clear).
    sealer: Option<Sealer>,
    seq: u64,
    pub host: String,
}

/// What the first answer to a hello said.
enum Greeted {
    Session(Session),
    /// The door there does not know version 2: a release before.
    Older,
}

fn io(host: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::failed(format!("{host}: {e}"))
}

/// `HOST` or `HOST:PORT` (the door's port, 7011, by default).
pub fn address(host: &str) -> Result<std::net::SocketAddr> {
    let with_port = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| Error::failed(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| Error::failed(format!("{host}: no address")))
}

impl Session {
    /// Connects and logs in; the password is used only here, to derive the proof. A door of
    /// the release before gets a session of its version (signed, in clear): `encrypted`
    /// says so, and the caller warns.
    pub fn login(host: &str, user: &str, password: &str) -> Result<Session> {
        match Session::login_with(host, user, password, HELLO_2)? {
            Greeted::Session(s) => Ok(s),
            Greeted::Older => match Session::login_with(host, user, password, HELLO)? {
                Greeted::Session(s) => Ok(s),
                Greeted::Older => Err(Error::failed(format!(
                    "{host}: the admin door there speaks no version this haadm knows"
                ))),
            },
        }
    }

    /// Whether requests and replies cross encrypted (the door there is of this release).
    pub fn encrypted(&self) -> bool {
        self.sealer.is_some()
    }

    /// The warning for a session that is not encrypted, if it is not.
    pub fn clear_warning(&self) -> Option<String> {
        (!self.encrypted()).then(|| {
            format!(
                "WARNING: {}: the admin door there is of the release before; this session is signed but not encrypted until that node is upgraded",
                self.host
            )
        })
    }

    fn login_with(host: &str, user: &str, password: &str, hello: &str) -> Result<Greeted> {
        let addr = address(host)?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| {
            Error::failed(format!(
                "cannot reach the admin door of {host} ({addr}): {e}"
            ))
        })?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io(host))?;
        let mut r = BufReader::new(stream.try_clone().map_err(io(host))?);
        let mut w = stream;
        let cnonce = auth::hex(&auth::random_bytes::<16>());
        w.write_all(format!("{hello} {user} {cnonce}\n").as_bytes())
            .map_err(io(host))?;
        let line = expect_line(&mut r, host)?;
        if hello == HELLO_2 && line.starts_with("DENIED not a SureHA admin client") {
            return Ok(Greeted::Older);
        }
        let f: Vec<&str> = line.split(' ').collect();
        let (salt, iterations, snonce) = match f.as_slice() {
            ["CHALLENGE", salt, it, snonce] => (
                auth::unhex(salt),
                it.parse::<u32>()
                    .ok()
                    .filter(|&n| (1..=10_000_000).contains(&n)),
                *snonce,
            ),
            _ => return Err(refused(host, &line)),
        };
        let (Some(salt), Some(iterations)) = (salt, iterations) else {
            return Err(Error::failed(format!("{host}: a malformed challenge")));
        };
        let salted = auth::salted(password, &salt, iterations);
        let am = auth::auth_message(user, &cnonce, snonce, &salt, iterations);
        w.write_all(format!("PROOF {}\n", auth::hex(&auth::proof(&salted, &am))).as_bytes())
            .map_err(io(host))?;
        let line = expect_line(&mut r, host)?;
        let sig = match line.strip_prefix("WELCOME ") {
            Some(s) => auth::unhex(s).unwrap_or_default(),
            None => return Err(refused(host, &line)),
        };
        // The server proves it knows this user too: not an impostor collecting proofs.
        if !auth::same(
            &sig,
            &auth::server_signature(&auth::server_key(&salted), &am),
        ) {
            return Err(Error::failed(format!(
                "{host}: the server could not prove it knows user {user}; not sending anything"
            )));
        }
        let key = auth::session_key(&auth::client_key(&salted), &am);
        // A request may wait for a service to start or stop; hasvrd bounds that.
        r.get_ref()
            .set_read_timeout(Some(Duration::from_secs(3600)))
            .map_err(io(host))?;
        Ok(Greeted::Session(Session {
            r,
            w,
            key,
            sealer: (hello == HELLO_2).then(|| Sealer::new(&key)),
            seq: 0,
            host: host.to_string(),
        }))
    }

    /// How long a reply may take before the call fails (a node that died answers nothing).
    pub fn set_reply_timeout(&mut self, t: Duration) -> Result<()> {
        self.r
            .get_ref()
            .set_read_timeout(Some(t))
            .map_err(io(&self.host))
    }

    /// Runs command words there: the body on exit status 0, else the error with its status.
    pub fn call(&mut self, words: &[String]) -> Result<String> {
        match self.call_status(words)? {
            (0, body) => Ok(body),
            (status, message) => Err(Error { status, message }),
        }
    }

    /// Runs command words there: the exit status and the body (or error line). An error
    /// here is the door's: the connection failed, or a reply did not check out.
    pub fn call_status(&mut self, words: &[String]) -> Result<(i32, String)> {
        self.seq += 1;
        let request = match &self.sealer {
            Some(s) => s.seal_request(self.seq, words),
            None => {
                let enc = encode_words(words);
                let mac = request_mac(&self.key, self.seq, &enc);
                format!("REQ {} {mac} {enc}", self.seq)
            }
        };
        self.w
            .write_all(format!("{request}\n").as_bytes())
            .map_err(io(&self.host))?;
        let line = expect_line(&mut self.r, &self.host)?;
        let f: Vec<&str> = line.split(' ').collect();
        let reply = match f.as_slice() {
            _ if self.sealer.is_some() => self
                .sealer
                .as_ref()
                .and_then(|s| s.open_reply(self.seq, &line)),
            ["REP", n, status, mac, body] if n.parse() == Ok(self.seq) => {
                match (
                    status.parse::<i32>(),
                    auth::unhex(body).map(String::from_utf8),
                ) {
                    (Ok(st), Some(Ok(body)))
                        if auth::same(
                            mac.as_bytes(),
                            reply_mac(&self.key, self.seq, st, &body).as_bytes(),
                        ) =>
                    {
                        Some((st, body))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match reply {
            Some(r) => Ok(r),
            None if line.starts_with("DENIED") => Err(refused(&self.host, &line)),
            None => Err(Error::failed(format!(
                "{}: a reply that does not check out (altered in transit?); not trusting it",
                self.host
            ))),
        }
    }
}

fn expect_line(r: &mut BufReader<TcpStream>, host: &str) -> Result<String> {
    match read_line(r) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(Error::failed(format!(
            "{host}: the admin door closed the connection"
        ))),
        Err(e) => Err(Error::failed(format!("{host}: {e}"))),
    }
}

fn refused(host: &str, line: &str) -> Error {
    let why = line.strip_prefix("DENIED ").unwrap_or(line);
    Error::failed(format!("{host}: {}", crate::config::shown(why)))
}

/// The password: from the terminal without echo, or one line of standard input.
pub fn read_password(prompt: &str) -> Result<String> {
    if let Some(r) = crate::sys::read_hidden_line(prompt) {
        return r.map_err(|e| Error::failed(format!("cannot read the password: {e}")));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::failed(format!("cannot read the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
