//! The graphical console (DESIGN §11): a small blocking web server (`haconsole`, started by
//! `$HAHOME/gui/gui.sh`) that serves one page and its assets from `$HAHOME/gui` and talks to
//! the cluster's admin doors on the administrator's behalf. The page polls `/api/state`
//! every half second; everything it changes goes through `/api/*` POSTs.
//!
//! Request flow: `serve` (HTTP, threads) → `routes` (checks: Host, cookie, Origin, CSRF) →
//! `actions` (API) → `doors` (admin door sessions) → `view` (status text to JSON).

mod actions;
mod doors;
pub mod json;
pub mod routes;
pub mod sessions;
pub mod view;

use crate::error::{Error, Result};
use routes::{Incoming, Reply};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Requests served at once; a command that waits for a service holds one.
const WORKERS: usize = 8;

/// The files of the page, read once at start: a request never touches the file system.
const ASSETS: [(&str, &str); 4] = [
    ("index.html", "text/html; charset=utf-8"),
    ("console.js", "text/javascript; charset=utf-8"),
    ("console.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
];

pub struct Console {
    pub sessions: sessions::Sessions,
    assets: Vec<(&'static str, &'static str, Vec<u8>)>,
    /// The Host headers taken (None: listening on every address, any name).
    hosts: Option<Vec<String>>,
}

impl Console {
    pub fn new(gui: &Path, listen: SocketAddr) -> Result<Console> {
        let mut assets = Vec::new();
        for (name, ctype) in ASSETS {
            let p = gui.join(name);
            let body = std::fs::read(&p)
                .map_err(|e| Error::failed(format!("cannot read {}: {e}", p.display())))?;
            assets.push((name, ctype, body));
        }
        let port = listen.port();
        let hosts = (!listen.ip().is_unspecified()).then(|| {
            let mut h = vec![listen.to_string()];
            if listen.ip().is_loopback() {
                h.push(format!("localhost:{port}"));
            }
            h
        });
        Ok(Console {
            sessions: sessions::Sessions::default(),
            assets,
            hosts,
        })
    }

    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        match (&self.hosts, host) {
            (None, _) => true,
            (Some(list), Some(h)) => list.iter().any(|x| x.eq_ignore_ascii_case(h)),
            (Some(_), None) => false,
        }
    }

    pub fn asset(&self, name: &str) -> Reply {
        match self.assets.iter().find(|(n, _, _)| *n == name) {
            Some((_, ctype, body)) => Reply {
                status: 200,
                content_type: ctype,
                body: body.clone(),
                cookie: None,
            },
            None => routes::error(404, "no such page"),
        }
    }
}

/// Serves until the process is killed.
pub fn serve(console: Console, listen: SocketAddr) -> Result<()> {
    let server = tiny_http::Server::http(listen)
        .map_err(|e| Error::failed(format!("cannot listen on {listen}: {e}")))?;
    let server = Arc::new(server);
    let console = Arc::new(console);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (s, c) = (Arc::clone(&server), Arc::clone(&console));
            std::thread::spawn(move || loop {
                match s.recv() {
                    Ok(req) => answer(&c, req),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn answer(c: &Console, mut req: tiny_http::Request) {
    let mut body = Vec::new();
    let too_big = req.body_length().is_some_and(|n| n > routes::MAX_BODY)
        || req
            .as_reader()
            .take(routes::MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .is_err()
        || body.len() > routes::MAX_BODY;
    let reply = if too_big {
        routes::error(413, "request too large")
    } else {
        let incoming = Incoming {
            method: req.method().as_str().to_ascii_uppercase(),
            url: req.url().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.as_str().to_string(),
                    )
                })
                .collect(),
            body,
        };
        routes::route(c, &incoming)
    };
    let _ = req.respond(response(reply));
}

fn header(k: &str, v: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok()
}

fn response(r: Reply) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut resp = tiny_http::Response::from_data(r.body).with_status_code(r.status);
    let headers = [
        ("Content-Type", r.content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    ];
    for (k, v) in headers {
        if let Some(h) = header(k, v) {
            resp.add_header(h);
        }
    }
    if let Some(h) = r.cookie.as_deref().and_then(|c| header("Set-Cookie", c)) {
        resp.add_header(h);
    }
    resp
}
