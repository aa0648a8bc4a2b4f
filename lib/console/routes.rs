//! Each request the console takes: the page and its assets, the API the page calls. Every
//! request is checked before it is served: the Host it names (a page elsewhere cannot rebind
//! a name to us), the session cookie, and, for anything that changes something, the Origin
//! and the session's CSRF token. Pure: a request in, a reply out; the server does the I/O.

use super::actions;
use super::reply::{error, json, Reply};
use super::sessions::{self, Session};
use super::Console;
use std::sync::Arc;

/// The largest request body taken (the create form is the biggest).
pub const MAX_BODY: usize = 16 * 1024;
pub const CSRF_HEADER: &str = "x-sureha-csrf";

pub struct Incoming {
    pub method: String,
    /// The path and query, as sent.
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn route(c: &Console, req: &Incoming) -> Reply {
    if !c.host_allowed(req.header("host")) {
        return error(
            421,
            "this console answers only to the address it was started on",
        );
    }
    let (path, query) = req.url.split_once('?').unwrap_or((&req.url, ""));
    let token = req.header("cookie").and_then(sessions::token_of);
    let session = token.and_then(|t| c.sessions.get(t));
    match (req.method.as_str(), path) {
        ("GET", "/" | "/index.html") => {
            let mut r = c.asset("index.html");
            if session.is_none() {
                let (token, _) = c.sessions.create();
                r.cookie = Some(sessions::set_cookie(&token));
            }
            r
        }
        ("GET", "/console.js" | "/console.css" | "/favicon.svg") => c.asset(&path[1..]),
        ("GET", "/metrics") => match &c.metrics_home {
            Some(home) => Reply {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: crate::scrape::report(home).0.into_bytes(),
                cookie: None,
            },
            None => error(
                404,
                "/metrics is served by a console listening on a loopback address only",
            ),
        },
        ("GET", p) if p.starts_with("/api/") => match session {
            None => error(401, "no session (or it expired): reload the page"),
            Some(s) => actions::read(c, &s, p, query),
        },
        ("POST", p) if p.starts_with("/api/") => {
            let Some(s) = session else {
                return error(401, "no session (or it expired): reload the page");
            };
            if let Err(why) = may_change(c, req, &s) {
                return error(403, why);
            }
            let Some(form) = form(&req.body) else {
                return error(400, "the request body is not a form (each field once)");
            };
            if p == "/api/disconnect" {
                if let Some(t) = token {
                    c.sessions.remove(t);
                }
                let (token, _) = c.sessions.create();
                let mut r = json(200, r#"{"ok":true,"text":"disconnected"}"#.into());
                r.cookie = Some(sessions::set_cookie(&token));
                return r;
            }
            actions::change(c, &s, p, &form)
        }
        ("GET" | "POST", _) => error(404, "no such page"),
        _ => error(405, "only GET and POST"),
    }
}

/// A request that changes something comes from our own page: same origin, the session's
/// CSRF token, a form body.
fn may_change(c: &Console, req: &Incoming, s: &Arc<Session>) -> Result<(), &'static str> {
    if let Some(origin) = req.header("origin") {
        let host = req.header("host").unwrap_or("");
        if origin != format!("http://{host}") || !c.host_allowed(Some(host)) {
            return Err("a request from another site");
        }
    }
    if req
        .header("sec-fetch-site")
        .is_some_and(|v| v != "same-origin")
    {
        return Err("a request from another site");
    }
    let token = req.header(CSRF_HEADER).unwrap_or("");
    if !crate::auth::same(token.as_bytes(), s.csrf.as_bytes()) {
        return Err("missing or wrong CSRF token: reload the page");
    }
    let ct = req.header("content-type").unwrap_or("");
    if !req.body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err("the body must be a form (application/x-www-form-urlencoded)");
    }
    Ok(())
}

/// The fields of a form body; None when a field comes twice or the body is too big.
pub fn form(body: &[u8]) -> Option<Vec<(String, String)>> {
    if body.len() > MAX_BODY {
        return None;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.iter().any(|(x, _)| *x == k) {
            return None;
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console() -> Console {
        let gui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gui");
        Console::new(&gui, "127.0.0.1:7012".parse().unwrap()).unwrap()
    }

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Incoming {
        Incoming {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_our_own_page_with_its_session_and_token_changes_anything() {
        let c = console();
        let host = ("host", "127.0.0.1:7012");
        assert_eq!(
            route(&c, &req("GET", "/", &[("host", "evil.example")], "")).status,
            421
        );
        let page = route(&c, &req("GET", "/", &[host], ""));
        assert_eq!(page.status, 200);
        let set = page.cookie.expect("a session cookie");
        let token = set
            .split(';')
            .next()
            .unwrap()
            .split('=')
            .nth(1)
            .unwrap()
            .to_string();
        let cookie = format!("{}={token}", sessions::COOKIE);
        let csrf = c.sessions.get(&token).unwrap().csrf.clone();
        let form = ("content-type", "application/x-www-form-urlencoded");
        let body = "verb=bringout&service=web";
        let post =
            |h: &[(&str, &str)], body: &str| route(&c, &req("POST", "/api/op", h, body)).status;
        assert_eq!(post(&[host, form], body), 401, "no session");
        assert_eq!(
            post(&[host, form, ("cookie", &cookie)], body),
            403,
            "no token"
        );
        assert_eq!(
            post(
                &[host, form, ("cookie", &cookie), (CSRF_HEADER, "00")],
                body
            ),
            403,
            "a wrong token"
        );
        let good = [
            host,
            form,
            ("cookie", cookie.as_str()),
            (CSRF_HEADER, csrf.as_str()),
        ];
        let mut cross = good.to_vec();
        cross.push(("sec-fetch-site", "cross-site"));
        assert_eq!(post(&cross, body), 403, "another site");
        let mut other = good.to_vec();
        other.push(("origin", "http://evil.example"));
        assert_eq!(post(&other, body), 403, "another origin");
        assert_eq!(post(&good, "verb=a&verb=b"), 400, "a field twice");
        assert_eq!(post(&good, body), 409, "all checks pass: not connected yet");
        assert_eq!(
            route(&c, &req("GET", "/../etc/passwd", &[host], "")).status,
            404
        );
        assert_eq!(route(&c, &req("DELETE", "/", &[host], "")).status, 405);
    }
}
