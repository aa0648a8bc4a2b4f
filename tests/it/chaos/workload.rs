//! The run's clients, in the client namespace for the whole run: a writer that inserts
//! numbered rows into PostgreSQL through its floating address, one round trip each on one
//! connection, up to a thousand a second (each acknowledged number remembered), and an
//! HTTP probe of the web service every 10 ms (each outage recorded). They speak the wire protocols themselves (PostgreSQL's
//! simple query protocol, HTTP/1.0), so a write costs a round trip, not a process.

use super::history::History;
use crate::harness::pace;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One PostgreSQL connection (trust authentication, user postgres).
pub struct Pg {
    s: TcpStream,
}

/// What the server said to a query: its rows (first column, as text), or its error.
pub type PgResult = Result<Vec<String>, String>;

impl Pg {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Pg, String> {
        let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(3)));
        let _ = s.set_nodelay(true);
        let mut pg = Pg { s };
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for kv in ["user", "postgres", "database", "postgres"] {
            body.extend_from_slice(kv.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend(body);
        pg.s.write_all(&msg).map_err(|e| format!("startup: {e}"))?;
        pg.until_ready().map(|_| pg)
    }

    fn message(&mut self) -> Result<(u8, Vec<u8>), String> {
        let mut head = [0u8; 5];
        self.s
            .read_exact(&mut head)
            .map_err(|e| format!("read: {e}"))?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(4..=1 << 24).contains(&len) {
            return Err(format!("bad message length {len}"));
        }
        let mut body = vec![0u8; len - 4];
        self.s
            .read_exact(&mut body)
            .map_err(|e| format!("read: {e}"))?;
        Ok((head[0], body))
    }

    /// Reads up to ReadyForQuery: the first column of each row, or the first error.
    fn until_ready(&mut self) -> PgResult {
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (kind, body) = self.message()?;
            match kind {
                b'R' if body.len() >= 4 && body[..4] != [0, 0, 0, 0] => {
                    return Err("authentication other than trust".into())
                }
                b'E' => {
                    error.get_or_insert_with(|| String::from_utf8_lossy(&body).replace('\0', " "));
                }
                b'D' if body.len() >= 6 => {
                    let n = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                    if n >= 0 && body.len() >= 6 + n as usize {
                        rows.push(String::from_utf8_lossy(&body[6..6 + n as usize]).into_owned());
                    }
                }
                b'Z' => return error.map_or(Ok(rows), Err),
                _ => {}
            }
        }
    }

    pub fn query(&mut self, sql: &str) -> PgResult {
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
        msg.extend_from_slice(sql.as_bytes());
        msg.push(0);
        self.s.write_all(&msg).map_err(|e| format!("write: {e}"))?;
        self.until_ready()
    }
}

fn in_netns(ns: &str) {
    let path = PathBuf::from(format!("/run/netns/{ns}"));
    sureha::sys::enter_netns(&path).expect("cannot enter the client namespace");
}

/// The writer: numbered rows, each number tried once; the acknowledged ones remembered.
pub struct Writer {
    stop: Arc<AtomicBool>,
    pub acked: Arc<Mutex<Vec<u64>>>,
    /// When each acknowledgement came (parallel to `acked`).
    pub acked_at: Arc<Mutex<Vec<Instant>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub fn start(client_ns: &str, addr: SocketAddr, history: History) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let acked_at = Arc::new(Mutex::new(Vec::new()));
        let (s, a, at, ns) = (
            stop.clone(),
            acked.clone(),
            acked_at.clone(),
            client_ns.to_string(),
        );
        let handle = std::thread::spawn(move || {
            in_netns(&ns);
            let until = Instant::now() + Duration::from_secs(6 * 3600);
            let mut n = 0u64;
            let mut last = Instant::now();
            // A run of acknowledged numbers on one connection is one history line.
            let mut run: Option<(u64, u64, f64)> = None;
            let flush = |run: &mut Option<(u64, u64, f64)>| {
                if let Some((first, last, t0)) = run.take() {
                    history.record_at(
                        t0,
                        "client",
                        json!({"client": "writer", "result": "acked", "first": first, "last": last, "until": history.t()}),
                    );
                }
            };
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let mut pg = match Pg::connect(addr, Duration::from_millis(500)) {
                    Ok(pg) => pg,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                };
                while !s.load(Ordering::SeqCst) && Instant::now() < until {
                    // At most a thousand a second: a long run's rows must fit the volume.
                    std::thread::sleep(Duration::from_micros(
                        1000u64.saturating_sub(last.elapsed().as_micros() as u64),
                    ));
                    last = Instant::now();
                    n += 1;
                    match pg.query(&format!("INSERT INTO t VALUES ({n})")) {
                        Ok(_) => {
                            a.lock().unwrap().push(n);
                            at.lock().unwrap().push(Instant::now());
                            match &mut run {
                                Some((_, last, _)) => *last = n,
                                None => run = Some((n, n, history.t())),
                            }
                        }
                        Err(e) => {
                            flush(&mut run);
                            history.record(
                                "client",
                                json!({"client": "writer", "result": "failed", "n": n, "error": e}),
                            );
                            break;
                        }
                    }
                }
                flush(&mut run);
            }
        });
        Writer {
            stop,
            acked,
            acked_at,
            handle: Some(handle),
        }
    }

    pub fn acked(&self) -> Vec<u64> {
        self.acked.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Gaps between acknowledgements longer than `min`: (from, to).
    pub fn gaps(&self, min: Duration) -> Vec<(Instant, Instant)> {
        let at = self.acked_at.lock().unwrap();
        at.windows(2)
            .filter(|w| w[1] - w[0] > min)
            .map(|w| (w[0], w[1]))
            .collect()
    }

    pub fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A query from the client namespace on a fresh connection (a few tries, bounded).
pub fn query_once(client_ns: &str, addr: SocketAddr, sql: &str) -> PgResult {
    let (ns, sql) = (client_ns.to_string(), sql.to_string());
    std::thread::spawn(move || {
        in_netns(&ns);
        let mut last = Err("not tried".to_string());
        for _ in 0..20 {
            last = Pg::connect(addr, Duration::from_secs(1)).and_then(|mut pg| pg.query(&sql));
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        last
    })
    .join()
    .unwrap()
}

/// A GET of `/` answered 200 with a body: the body (the node that served it).
pub fn http_get(addr: SocketAddr, connect: Duration, read: Duration) -> Result<String, String> {
    let mut c = TcpStream::connect_timeout(&addr, connect).map_err(|e| format!("connect: {e}"))?;
    let _ = c.set_read_timeout(Some(read));
    let _ = c.set_write_timeout(Some(read));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut s = String::new();
    c.read_to_string(&mut s).map_err(|e| format!("read: {e}"))?;
    match s.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200") => {
            Ok(body.trim().to_string())
        }
        _ => Err(format!("answer: {}", s.lines().next().unwrap_or("none"))),
    }
}

/// The web probe: a GET every 10 ms; each outage (from the last answer before it to the
/// first after) is recorded.
pub struct WebProbe {
    stop: Arc<AtomicBool>,
    pub outages: Arc<Mutex<Vec<(Instant, Instant)>>>,
    pub answered: Arc<Mutex<(u64, u64)>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl WebProbe {
    pub fn start(client_ns: &str, addr: SocketAddr, history: History) -> WebProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let outages = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new((0u64, 0u64)));
        let (s, o, a, ns) = (
            stop.clone(),
            outages.clone(),
            answered.clone(),
            client_ns.to_string(),
        );
        let handle = std::thread::spawn(move || {
            in_netns(&ns);
            let until = Instant::now() + Duration::from_secs(6 * 3600);
            let every = Duration::from_millis(10);
            let mut last_ok: Option<Instant> = None;
            let mut down_since: Option<(Instant, String)> = None;
            let mut next = Instant::now();
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let at = Instant::now();
                let r = http_get(addr, Duration::from_millis(20), Duration::from_millis(200));
                {
                    let mut g = a.lock().unwrap();
                    g.1 += 1;
                    if r.is_ok() {
                        g.0 += 1;
                    }
                }
                match r {
                    Ok(_) => {
                        if let Some((_, why)) = down_since.take() {
                            let from = last_ok.unwrap_or(history.began());
                            o.lock().unwrap().push((from, at));
                            history.record_at(
                                history.at(from),
                                "client",
                                json!({"client": "web", "result": "outage", "until": history.at(at), "seconds": (at - from).as_secs_f64(), "first_error": why}),
                            );
                        }
                        last_ok = Some(at);
                    }
                    Err(e) => {
                        if down_since.is_none() {
                            down_since = Some((at, e));
                        }
                    }
                }
                pace(&mut next, every);
            }
        });
        WebProbe {
            stop,
            outages,
            answered,
            handle: Some(handle),
        }
    }

    pub fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for WebProbe {
    fn drop(&mut self) {
        self.finish();
    }
}
