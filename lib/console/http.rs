//! The console's HTTP/1.1 server, bounded: at most `MAX_OPEN` connections (`MAX_PER_ADDRESS`
//! from one address), a request head of at most `MAX_HEAD` bytes and `MAX_HEADERS` headers,
//! whole within `READ_WITHIN`, one request a connection (`Connection: close`). One thread
//! reads every connection's request at once (poll), so slow or idle clients hold no worker;
//! `WORKERS` threads answer whole requests. Heads are parsed by `httparse` (hyper's parser).
//! (tiny_http, used before, kept a thread per open connection and read any number of
//! headers: 500 idle connections were 511 threads.)

use super::reply::{self, Reply};
use super::routes::{self, Incoming};
use super::Console;
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections open at once, and from one address.
pub const MAX_OPEN: usize = 64;
pub const MAX_PER_ADDRESS: usize = 16;
/// The request head's bounds.
pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 48;
/// A request must be whole within this after its connection opened.
pub const READ_WITHIN: Duration = Duration::from_secs(10);
/// Requests answered at once; a command that waits for a service holds one.
const WORKERS: usize = 8;

/// A connection whose request is still arriving.
struct Reading {
    stream: TcpStream,
    ip: IpAddr,
    since: Instant,
    buf: Vec<u8>,
}

/// What a connection's bytes so far make.
enum Parsed {
    More,
    Whole(Incoming),
    Refused(u16, &'static str),
}

/// Serves until the process is killed.
pub fn serve(console: Console, listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| Error::failed(format!("cannot listen on {listen}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::failed(format!("{listen}: {e}")))?;
    let console = Arc::new(console);
    let (tx, rx) = mpsc::sync_channel::<(TcpStream, Incoming)>(WORKERS * 4);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..WORKERS {
        let (c, rx) = (Arc::clone(&console), Arc::clone(&rx));
        std::thread::spawn(move || loop {
            let job = match rx.lock() {
                Ok(r) => r.recv(),
                Err(_) => return,
            };
            let Ok((stream, incoming)) = job else { return };
            answer(stream, routes::route(&c, &incoming));
        });
    }
    read_requests(&listener, &tx);
    Ok(())
}

/// The reading thread: accepts within the bounds, gathers each request, hands whole ones
/// to the workers.
fn read_requests(listener: &TcpListener, tx: &mpsc::SyncSender<(TcpStream, Incoming)>) {
    let mut open: Vec<Reading> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let mut set = crate::sys::PollSet::default();
        set.read(listener.as_raw_fd());
        for r in &open {
            set.read(r.stream.as_raw_fd());
        }
        let _ = set.wait(1000);
        let mut ready: Vec<bool> = open
            .iter()
            .map(|r| set.ready(r.stream.as_raw_fd()))
            .collect();
        if set.ready(listener.as_raw_fd()) {
            accept_new(listener, &mut open, &mut ready);
        }
        // Those just taken are read at once (their request is usually there already).
        ready.resize(open.len(), true);
        let now = Instant::now();
        let mut i = 0;
        while i < open.len() {
            let r = &mut open[i];
            let mut parsed = Parsed::More;
            if ready[i] {
                match r.stream.read(&mut buf) {
                    Ok(0) => parsed = Parsed::Refused(0, "closed"),
                    Ok(n) => {
                        r.buf.extend_from_slice(&buf[..n]);
                        parsed = parse(&r.buf);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => parsed = Parsed::Refused(0, "failed"),
                }
            }
            if matches!(parsed, Parsed::More) && now.duration_since(r.since) > READ_WITHIN {
                parsed = Parsed::Refused(408, "the request did not arrive in time");
            }
            match parsed {
                Parsed::More => i += 1,
                Parsed::Whole(incoming) => {
                    let r = open.swap_remove(i);
                    ready.swap_remove(i);
                    let _ = r.stream.set_nonblocking(false);
                    if let Err(mpsc::TrySendError::Full((s, _))) = tx.try_send((r.stream, incoming))
                    {
                        answer(s, reply::error(503, "the console is busy; try again"));
                    }
                }
                Parsed::Refused(status, why) => {
                    let r = open.swap_remove(i);
                    ready.swap_remove(i);
                    if status != 0 {
                        let _ = r.stream.set_nonblocking(false);
                        answer(r.stream, reply::error(status, why));
                    }
                }
            }
        }
    }
}

/// Takes the connections waiting, within the bounds; others are closed at once.
fn accept_new(listener: &TcpListener, open: &mut Vec<Reading>, ready: &mut Vec<bool>) {
    for _ in 0..64 {
        let Ok((stream, from)) = listener.accept() else {
            return;
        };
        let ip = from.ip();
        let mine = open.iter().filter(|r| r.ip == ip).count();
        if open.len() >= MAX_OPEN || mine >= MAX_PER_ADDRESS {
            // Room for the newcomer: the stalest idle connection from the busiest place goes
            // first, so a flood from one address cannot keep others out.
            let busiest = open
                .iter()
                .enumerate()
                .max_by_key(|(_, r)| {
                    (
                        open.iter().filter(|x| x.ip == r.ip).count(),
                        std::cmp::Reverse(r.since),
                    )
                })
                .map(|(i, r)| (i, r.ip));
            match busiest {
                Some((i, busy_ip)) if mine < MAX_PER_ADDRESS || busy_ip == ip => {
                    open.swap_remove(i);
                    if i < ready.len() {
                        ready.swap_remove(i);
                    }
                }
                _ => continue,
            }
        }
        if stream.set_nonblocking(true).is_ok() {
            open.push(Reading {
                stream,
                ip,
                since: Instant::now(),
                buf: Vec::new(),
            });
        }
    }
}

/// A request from its bytes so far.
fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD => {
            return Parsed::Refused(431, "request head too large")
        }
        Ok(httparse::Status::Partial) => return Parsed::More,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(431, "too many header fields")
        }
        Err(_) => return Parsed::Refused(400, "not an HTTP request"),
    };
    if head_len > MAX_HEAD {
        return Parsed::Refused(431, "request head too large");
    }
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let field = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if field("transfer-encoding").is_some() {
        return Parsed::Refused(411, "a body needs a Content-Length");
    }
    let length = match field("content-length").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= routes::MAX_BODY => n,
        Some(Ok(_)) => return Parsed::Refused(413, "request too large"),
        Some(Err(_)) => return Parsed::Refused(400, "a bad Content-Length"),
    };
    if bytes.len() < head_len + length {
        return Parsed::More;
    }
    Parsed::Whole(Incoming {
        method: req.method.unwrap_or("").to_ascii_uppercase(),
        url: req.path.unwrap_or("/").to_string(),
        headers,
        body: bytes[head_len..head_len + length].to_vec(),
    })
}

/// Writes the reply and closes the connection.
fn answer(mut stream: TcpStream, r: Reply) {
    let _ = stream.set_write_timeout(Some(READ_WITHIN));
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (k, v) in [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    // A cookie never carries a line break (sessions make it); one that did is left out.
    if let Some(c) = r.cookie.filter(|c| !c.contains(['\r', '\n'])) {
        head.push_str(&format!("Set-Cookie: {c}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&r.body);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_taken_whole_within_their_bounds() {
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: a"), Parsed::More));
        match parse(b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc") {
            Parsed::Whole(i) => {
                assert_eq!((i.method.as_str(), i.url.as_str()), ("POST", "/api/x"));
                assert_eq!(i.body, b"abc");
                assert!(i.headers.contains(&("host".into(), "a".into())));
            }
            _ => panic!("a whole request"),
        }
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"),
            Parsed::More
        ));
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(req.as_bytes()), Parsed::Refused(431, _)));
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD + 1));
        assert!(matches!(parse(long.as_bytes()), Parsed::Refused(431, _)));
        assert!(matches!(
            parse(b"\x00\x01garbage\r\n\r\n"),
            Parsed::Refused(400, _)
        ));
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            routes::MAX_BODY + 1
        );
        assert!(matches!(parse(big.as_bytes()), Parsed::Refused(413, _)));
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Refused(411, _)
        ));
    }
}
