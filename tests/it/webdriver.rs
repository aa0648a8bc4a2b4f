//! A small W3C WebDriver client for the console test: Debian's chromedriver driving headless
//! Chromium, both started in the client's network namespace. Each call is one HTTP request
//! made from a thread inside that namespace (a namespace belongs to a thread, not the test).

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request from inside `netns` to 127.0.0.1:`port`: (status, headers, body).
pub fn http(
    netns: &str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    try_http(netns, port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} 127.0.0.1:{port}{path}: {e}"))
}

pub fn try_http(
    netns: &str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // A browser session may take a while to start.
    try_http_to(
        netns,
        to,
        Duration::from_secs(120),
        method,
        path,
        headers,
        body,
    )
}

/// The same to any address, with `patience` to connect and for the reply.
pub fn try_http_to(
    netns: &str,
    to: std::net::SocketAddr,
    patience: Duration,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let request = {
        let mut r = format!(
            "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        r.push_str(body);
        r
    };
    let ns = PathBuf::from(format!("/run/netns/{netns}"));
    let raw = std::thread::scope(|s| {
        s.spawn(|| {
            sureha::sys::enter_netns(&ns).expect("cannot enter the client namespace");
            let mut c = std::net::TcpStream::connect_timeout(&to, patience)?;
            c.set_read_timeout(Some(patience))?;
            c.write_all(request.as_bytes())?;
            read_reply(&mut c)
        })
        .join()
        .unwrap()
    })?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, head.to_string(), body))
}

/// One reply: by its Content-Length, or its chunks, or to the end (chromedriver keeps the
/// connection open whatever the request says).
fn read_reply(c: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
        let body = out.len() - end - 4;
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        match length {
            Some(len) if body >= len => return Ok(out),
            None if head.contains("transfer-encoding: chunked") && out.ends_with(b"0\r\n\r\n") => {
                return Ok(out)
            }
            _ => {}
        }
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub struct Browser {
    netns: String,
    port: u16,
    session: String,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// chromedriver and a headless Chromium of `width`×`height` in `netns`.
    pub fn start(netns: &str, port: u16, width: u32, height: u32) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("sureha-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "chromedriver",
                &format!("--port={port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) must be installed");
        let mut b = Browser {
            netns: netns.to_string(),
            port,
            session: String::new(),
            driver,
            profile,
        };
        let began = Instant::now();
        let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     format!("--window-size={width},{height}"),
                     format!("--user-data-dir={}", b.profile.display())]
        }}}});
        loop {
            // chromedriver needs a moment to listen.
            let ready = try_http(netns, port, "GET", "/status", &[], "");
            if matches!(&ready, Ok((200, _, body)) if body.contains("\"ready\":true")) {
                break;
            }
            assert!(
                began.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let v = b.raw("POST", "/session", Some(caps));
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {v}"))
            .to_string();
        b
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (_, _, text) = http(
            &self.netns,
            self.port,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self.raw(method, &format!("/session/{}{path}", self.session), body);
        if v["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element of a CSS selector (the first one).
    pub fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Types into a field, replacing what it held.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Keys sent to an element, as a person at the keyboard (e.g. "\u{E007}" is Enter).
    pub fn keys(&self, css: &str, keys: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": keys })),
        );
    }

    /// Runs a script in the page and returns what it returns.
    pub fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits (bounded) until the JavaScript expression `cond` is true; how long it took.
    pub fn wait(&self, what: &str, limit: Duration, cond: &str) -> Duration {
        let began = Instant::now();
        let script = format!("return !!({cond});");
        loop {
            if self.js(&script) == Value::Bool(true) {
                return began.elapsed();
            }
            if began.elapsed() > limit {
                let page = self.js("return document.body.innerText");
                panic!(
                    "the page did not show {what} within {limit:?}; it shows:\n{}",
                    page.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// A PNG of the page, saved to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let v = self.call("GET", "/screenshot", None);
        let png = base64(v.as_str().unwrap_or(""));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(|| {
                self.raw("DELETE", &format!("/session/{}", self.session), None)
            });
        }
        // `ip netns exec` execs chromedriver: this pid is the driver's.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Any browser process left behind: the ones with our profile, by pid.
        let mark = format!("--user-data-dir={}", self.profile.display());
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&mark) {
                // SAFETY: a plain kill(2) of a process we started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
