//! The graphical console (DESIGN §11): a small blocking web server (`haconsole`, started by
//! `$HAHOME/gui/gui.sh`) that serves one page and its assets from `$HAHOME/gui` and talks to
//! the cluster's admin doors on the administrator's behalf. The page polls `/api/state`
//! every half second; everything it changes goes through `/api/*` POSTs.
//!
//! Request flow: `http::serve` (HTTP, bounded) → `routes` (checks: Host, cookie, Origin, CSRF) →
//! `actions` (API) → `doors` (admin door sessions) → `view` (status text to JSON).

mod actions;
mod doors;
mod http;
pub mod json;
pub mod reply;
pub mod routes;
pub mod sessions;
pub mod view;

use crate::error::{Error, Result};
pub use http::serve;
use reply::Reply;
use std::net::SocketAddr;
use std::path::Path;

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
    /// This node, whose figures `/metrics` serves (a console on a loopback address only:
    /// a scrape has no login).
    pub metrics_home: Option<crate::paths::Home>,
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
            metrics_home: None,
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
            None => reply::error(404, "no such page"),
        }
    }
}
