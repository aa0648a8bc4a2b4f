//! `haadm drill SERVICE [HOST:PORT]` (DESIGN §13): a planned move to the peer and back, while
//! a TCP probe every 10 ms measures what a client sees; prints both moves phase by phase (the
//! nodes' `MOVE` lines) and the client's outage, and leaves the service where it was.
//!
//! The moves are the administrator's own commands (`failover` on the node running it,
//! `takeover` on the other), so the lock and every check apply. It refuses when the node the
//! service would move to is not ready. Without HOST:PORT the probe aims at the service's
//! first address, and a refused connection counts as an answer: the address is up.

use crate::ask::send;
use crate::error::{Error, Result};
use crate::paths::Home;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(10);
const CONNECT_LIMIT: Duration = Duration::from_millis(25);
/// How long a move's other half may take to report its MOVE line.
const REPORT_WAIT: Duration = Duration::from_secs(5);
/// The longest drill: the probe stops by itself after this.
const PROBE_LIMIT: Duration = Duration::from_secs(600);

/// What the drill needs from `haadm status`.
#[derive(Debug, Default)]
struct Picture {
    here: String,
    peer: String,
    peer_up: bool,
    /// Node → state word of the service.
    words: Vec<(String, String)>,
    /// Node → `yes` or `no REASON`.
    ready: Vec<(String, String)>,
    move_here: Option<String>,
    move_peer: Option<String>,
}

fn picture(status: &str, name: &str) -> Picture {
    let mut p = Picture::default();
    for line in status.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["NODE", n, _, "local"] => p.here = n.to_string(),
            ["NODE", n, st] => {
                p.peer = n.to_string();
                p.peer_up = *st == "UP";
            }
            ["SERVICE", s, _, rest @ ..] if *s == name => {
                for nw in rest {
                    if let Some((n, word)) = nw.split_once('=') {
                        p.words.push((n.to_string(), word.to_string()));
                    }
                }
            }
            ["READY", s, n, rest @ ..] if *s == name => {
                p.ready.push((n.to_string(), rest.join(" ")));
            }
            ["MOVE", s, ..] if *s == name => p.move_here = Some(line["MOVE ".len()..].into()),
            ["PEERMOVE", _, s, ..] if *s == name => {
                p.move_peer = Some(w[2..].join(" "));
            }
            _ => {}
        }
    }
    p
}

impl Picture {
    fn runs_on(&self) -> Option<&str> {
        self.words
            .iter()
            .find(|(_, w)| w.starts_with("ACTIVE"))
            .map(|(n, _)| n.as_str())
    }
    fn where_now(&self) -> String {
        let words: Vec<String> = self.words.iter().map(|(n, w)| format!("{n}={w}")).collect();
        match self.runs_on() {
            Some(n) => format!("it runs on {n} ({})", words.join(" ")),
            None => format!("it runs nowhere ({})", words.join(" ")),
        }
    }
}

/// The longest stretch without an answer in `samples` (time since the probe began, answered):
/// from the last answer before the first failure of the stretch to the first answer after.
pub fn longest_outage(samples: &[(Duration, bool)]) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    let mut last_ok: Option<Duration> = None;
    let mut failing_since: Option<Duration> = None;
    for &(t, ok) in samples {
        if ok {
            if let Some(f) = failing_since.take() {
                let gap = t.saturating_sub(last_ok.unwrap_or(f));
                best = Some(best.map_or(gap, |b| b.max(gap)));
            }
            last_ok = Some(t);
        } else if failing_since.is_none() {
            failing_since = Some(t);
        }
    }
    // Still failing at the end: up to the last sample.
    if let (Some(f), Some(&(t, _))) = (failing_since, samples.last()) {
        let gap = t.saturating_sub(last_ok.unwrap_or(f));
        best = Some(best.map_or(gap, |b| b.max(gap)));
    }
    best
}

/// The client's view: one connection attempt every 10 ms, on a thread.
struct Probe {
    samples: Arc<Mutex<Vec<(Duration, bool)>>>,
    stop: Arc<AtomicBool>,
    began: Instant,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    fn start(to: SocketAddr, refused_counts: bool) -> Probe {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut next = Instant::now();
            while !st.load(Ordering::Relaxed) && began.elapsed() < PROBE_LIMIT {
                let at = began.elapsed();
                let ok = match TcpStream::connect_timeout(&to, CONNECT_LIMIT) {
                    Ok(_) => true,
                    Err(e) => refused_counts && e.kind() == std::io::ErrorKind::ConnectionRefused,
                };
                if let Ok(mut v) = s.lock() {
                    v.push((at, ok));
                }
                next += EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        Probe {
            samples,
            stop,
            began,
            thread: Some(thread),
        }
    }

    fn now(&self) -> Duration {
        self.began.elapsed()
    }

    /// The samples taken from `from` on.
    fn since(&self, from: Duration) -> Vec<(Duration, bool)> {
        self.samples
            .lock()
            .map(|v| v.iter().filter(|(t, _)| *t >= from).copied().collect())
            .unwrap_or_default()
    }

    /// Waits (bounded) until the probe is answered again after `from`.
    fn wait_answered(&self, from: Duration, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            let seen = self.since(from);
            if seen.len() >= 3 && seen.iter().rev().take(3).all(|(_, ok)| *ok) {
                return true;
            }
            std::thread::sleep(EVERY);
        }
        false
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn status(home: &Home, name: &str) -> Result<Picture> {
    Ok(picture(&send(home, &["status".to_string()])?, name))
}

/// The service's first address, from its configuration (`active_ip`; a range's first).
fn first_address(home: &Home, name: &str) -> Option<std::net::IpAddr> {
    let review = send(home, &["service".into(), "review".into(), name.into()]).ok()?;
    let value = review
        .lines()
        .find_map(|l| l.strip_prefix("active_ip = "))?;
    value
        .split(|c: char| c == '~' || c.is_whitespace())
        .find_map(|w| w.parse().ok())
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// One move, timed: the command, the MOVE lines both nodes logged, the client's outage.
fn one_move(
    home: &Home,
    name: &str,
    op: &str,
    probe: Option<&Probe>,
    title: &str,
    out: &mut String,
) -> Result<Option<(Duration, usize, usize)>> {
    let before = status(home, name)?;
    let from = probe.map(Probe::now).unwrap_or_default();
    let began = Instant::now();
    let done = send(home, &words(&["service", op, name]));
    let took = began.elapsed();
    if let Err(e) = done {
        let now = status(home, name)
            .map(|p| p.where_now())
            .unwrap_or_else(|e| format!("its state is unknown ({e})"));
        return Err(Error::failed(format!(
            "{out}{title}: FAILED: {e}\ndrill {name}: stopped; {now}"
        )));
    }
    out.push_str(&format!(
        "{title}: haadm service {op} {name} returned after {:.0} ms\n",
        took.as_secs_f64() * 1000.0
    ));
    if let Some(p) = probe {
        if !p.wait_answered(from, Duration::from_secs(30)) {
            out.push_str("  client: no answer within 30 s of the move\n");
        }
    }
    // Both halves' MOVE lines (the other node's travels in its report).
    let end = Instant::now() + REPORT_WAIT;
    let mut after = status(home, name)?;
    while Instant::now() < end
        && (after.move_here == before.move_here || after.move_peer == before.move_peer)
    {
        std::thread::sleep(Duration::from_millis(100));
        after = status(home, name)?;
    }
    for (node, line, old) in [
        (&after.here, &after.move_here, &before.move_here),
        (&after.peer, &after.move_peer, &before.move_peer),
    ] {
        match line {
            Some(l) if line != old => out.push_str(&format!("  {node}: MOVE {l}\n")),
            Some(l) => out.push_str(&format!("  {node}: MOVE {l} (no newer line within 5 s)\n")),
            None => out.push_str(&format!("  {node}: no MOVE line reported\n")),
        }
    }
    let mut seen = None;
    if let Some(p) = probe {
        let samples = p.since(from);
        let failed = samples.iter().filter(|(_, ok)| !ok).count();
        let outage = longest_outage(&samples);
        seen = Some((outage.unwrap_or_default(), samples.len(), failed));
        match outage {
            Some(d) => out.push_str(&format!(
                "  client outage: {:.1} ms ({failed} of {} probes unanswered)\n",
                d.as_secs_f64() * 1000.0,
                samples.len()
            )),
            None => out.push_str(&format!(
                "  client outage: none seen ({} probes, one every 10 ms, all answered)\n",
                samples.len()
            )),
        }
    }
    Ok(seen)
}

/// `haadm drill SERVICE [HOST:PORT]`.
pub fn run(home: &Home, args: &[String]) -> Result<String> {
    let (name, target) = match args {
        [n] => (n.as_str(), None),
        [n, t] => (n.as_str(), Some(t.as_str())),
        _ => return Err(Error::usage("usage: haadm drill SERVICE [HOST:PORT]")),
    };
    if !crate::config::valid_name(name) {
        return Err(Error::usage(format!(
            "'{}' is not a valid service name",
            crate::config::shown(name)
        )));
    }
    let target: Option<(SocketAddr, bool)> = match target {
        Some(t) => Some((
            t.parse().map_err(|_| {
                Error::usage(format!(
                    "'{}' is not HOST:PORT (an address and a port: 192.0.2.100:80 or [2001:db8::100]:80)",
                    crate::config::shown(t)
                ))
            })?,
            false,
        )),
        None => first_address(home, name).map(|a| (SocketAddr::from((a, 7)), true)),
    };
    let p = status(home, name)?;
    if p.words.is_empty() {
        return Err(Error::failed(format!("no service named '{name}'")));
    }
    if !p.peer_up {
        return Err(Error::failed(format!(
            "drill refused: the peer {} is not up",
            p.peer
        )));
    }
    let Some(start) = p.runs_on().map(str::to_string) else {
        return Err(Error::failed(format!(
            "drill refused: {name} does not run ({}); bring it in first",
            p.where_now()
        )));
    };
    let other = if start == p.here { &p.peer } else { &p.here };
    match p.ready.iter().find(|(n, _)| n == other).map(|(_, r)| r.as_str()) {
        Some("yes") => {}
        Some(r) => {
            return Err(Error::failed(format!(
                "drill refused: {other} is not ready to run {name}: {}",
                r.trim_start_matches("no ")
            )))
        }
        None => {
            return Err(Error::failed(format!(
                "drill refused: {other}'s readiness for {name} is not known yet; try again in a few seconds"
            )))
        }
    }
    let (first, second) = if start == p.here {
        ("failover", "takeover")
    } else {
        ("takeover", "failover")
    };
    let mut out = format!("drill {name}: {start} → {other} → {start}");
    let probe = target.map(|(to, refused)| {
        out.push_str(&format!(
            ", probing {to} every 10 ms{}\n",
            if refused {
                " (the address: a refused connection counts as an answer)"
            } else {
                ""
            }
        ));
        Probe::start(to, refused)
    });
    if probe.is_none() {
        out.push_str("; no address to probe (give HOST:PORT)\n");
    }
    // The probe sees the service before anything moves.
    if let Some(p) = &probe {
        if !p.wait_answered(Duration::ZERO, Duration::from_secs(5)) {
            out.push_str("  (the probe gets no answer even before the drill)\n");
        }
    }
    let away = one_move(
        home,
        name,
        first,
        probe.as_ref(),
        &format!("move 1, {start} → {other}"),
        &mut out,
    )?;
    let back = one_move(
        home,
        name,
        second,
        probe.as_ref(),
        &format!("move 2, {other} → {start}"),
        &mut out,
    )?;
    // The outages, for `haadm metrics`.
    let moves: Vec<crate::scrape::DrillMove> = [("away", away), ("back", back)]
        .into_iter()
        .filter_map(|(leg, seen)| {
            seen.map(|(outage, probes, unanswered)| crate::scrape::DrillMove {
                leg,
                outage,
                probes,
                unanswered,
            })
        })
        .collect();
    if !moves.is_empty() {
        if let Err(e) = crate::scrape::record_drill(home, name, &moves) {
            out.push_str(&format!(
                "  (the outages could not be kept for haadm metrics: {e})\n"
            ));
        }
    }
    let end = status(home, name)?;
    if end.runs_on() != Some(start.as_str()) {
        return Err(Error::failed(format!(
            "{out}drill {name}: it did not end where it began: {}",
            end.where_now()
        )));
    }
    out.push_str(&format!(
        "drill {name}: done; {}, where it began\n",
        end.where_now()
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[(u64, bool)]) -> Vec<(Duration, bool)> {
        v.iter()
            .map(|&(t, ok)| (Duration::from_millis(t), ok))
            .collect()
    }

    #[test]
    fn the_outage_runs_from_the_last_answer_to_the_next() {
        assert_eq!(longest_outage(&ms(&[(0, true), (10, true)])), None);
        assert_eq!(
            longest_outage(&ms(&[(0, true), (10, false), (20, false), (30, true)])),
            Some(Duration::from_millis(30))
        );
        assert_eq!(
            longest_outage(&ms(&[
                (0, true),
                (10, false),
                (20, true),
                (30, false),
                (40, false),
                (50, false),
                (60, true)
            ])),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            longest_outage(&ms(&[(0, false), (10, false)])),
            Some(Duration::from_millis(10))
        );
    }

    #[test]
    fn status_gives_the_picture() {
        let st = "NODE alpha UP local\nNODE beta UP\nSERVICE web USERDEF alpha=STANDBY beta=ACTIVE\nREADY web alpha yes\nREADY web beta no stop script x is missing\nMOVE web out (x): stop script 1ms; total 2ms\nPEERMOVE beta web in (y): total 3ms\n";
        let p = picture(st, "web");
        assert_eq!(
            (p.here.as_str(), p.peer.as_str(), p.peer_up),
            ("alpha", "beta", true)
        );
        assert_eq!(p.runs_on(), Some("beta"));
        assert_eq!(p.ready[1].1, "no stop script x is missing");
        assert_eq!(
            p.move_here.as_deref(),
            Some("web out (x): stop script 1ms; total 2ms")
        );
        assert_eq!(p.move_peer.as_deref(), Some("web in (y): total 3ms"));
        assert!(picture(st, "db").words.is_empty());
    }
}
