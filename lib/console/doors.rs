//! The console's way into a cluster: after Connect, logged-in admin door sessions to the node
//! named and, with the same user and password, to its peer; then the password is dropped.
//! Two sessions a node: one the page's polls read through, one for commands, so a command
//! that waits for a service to start never holds up the picture. When a node's door goes
//! silent (the node died), the picture comes through the other one.

use super::view;
use crate::door::client::{self, Session};
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The door closes a session idle for 10 minutes; a command session is kept alive before.
const KEEP_ALIVE: Duration = Duration::from_secs(240);
const WATCH_REPLY: Duration = Duration::from_secs(10);
/// Events the console keeps for its pages.
const EVENTS_KEPT: usize = 300;

pub struct Door {
    /// Node name, as its status says.
    pub node: String,
    /// Where its door answered.
    pub addr: String,
    watch: Mutex<Option<Session>>,
    act: Mutex<Option<(Session, Instant)>>,
    /// Offset of the node's log already read (`haadm events`).
    at: Mutex<Option<u64>>,
    /// Its sessions failed: it is not used again.
    lost: AtomicBool,
}

/// What one door said to a poll.
enum Asked {
    /// Status's exit status and text, and the new log lines.
    Answered(i32, String, Vec<view::Event>),
    Lost(String),
    Busy,
}

pub struct Cluster {
    pub user: String,
    /// The node Connect named first, then its peer when its door let us in.
    pub doors: Vec<Door>,
    events: Mutex<(u64, VecDeque<String>)>,
}

fn login_pair(addr: &str, user: &str, password: &str) -> Result<(Session, Session)> {
    let mut watch = Session::login(addr, user, password)?;
    // A status comes at once; a node that stopped answering must not hold up the page.
    watch.set_reply_timeout(WATCH_REPLY)?;
    let act = Session::login(addr, user, password)?;
    Ok((watch, act))
}

fn local_name(status: &str) -> Option<String> {
    status.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        match f.as_slice() {
            ["NODE", n, "UP", "local"] => Some(n.to_string()),
            _ => None,
        }
    })
}

/// The peer's name and where its door may be: its addresses as `haadm network` lists them.
fn peer_addresses(network: &str, me: &str, port: u16) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in network.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if let ["NIC", node, _nic, "OK", addrs @ ..] = f.as_slice() {
            if *node == me {
                continue;
            }
            for a in addrs {
                let ip = a.split('/').next().unwrap_or(a);
                if ip.parse::<std::net::Ipv4Addr>().is_ok() {
                    out.push((node.to_string(), format!("{ip}:{port}")));
                }
            }
        }
    }
    out
}

impl Cluster {
    /// Logs in to `host` and then to its peer; what happened to the peer is said as an event.
    pub fn connect(host: &str, user: &str, password: &str) -> Result<Cluster> {
        let addr = client::address(host)?;
        let (mut watch, act) = login_pair(host, user, password)?;
        let status = watch.call(&["status".to_string()])?;
        let me = local_name(&status)
            .ok_or_else(|| Error::failed(format!("{host}: a status without this node")))?;
        let network = watch.call(&["network".to_string()]).unwrap_or_default();
        let mut c = Cluster {
            user: user.to_string(),
            doors: vec![Door::new(&me, host, watch, act)],
            events: Mutex::new((0, VecDeque::new())),
        };
        let mut peer_said = None;
        for (peer, at) in peer_addresses(&network, &me, addr.port()) {
            if c.doors.iter().any(|d| d.node == peer) {
                continue;
            }
            match login_pair(&at, user, password) {
                Ok((w, a)) => {
                    c.doors.push(Door::new(&peer, &at, w, a));
                    peer_said = Some(format!("INFO console: connected to {peer} too, at {at}"));
                }
                Err(e) => {
                    peer_said = Some(format!(
                        "WARNING console: {peer}'s admin door ({at}): {}; commands that must run there go through {me}",
                        e.message
                    ))
                }
            }
        }
        c.note(&format!("INFO console: {user} connected to {me} at {host}"));
        if let Some(s) = peer_said {
            c.note(&s);
        }
        Ok(c)
    }

    /// A line of the console's own for the message bar: `LEVEL text`.
    pub fn note(&self, line: &str) {
        let (level, text) = line.split_once(' ').unwrap_or(("INFO", line));
        let e = view::Event {
            time: crate::clock::local_timestamp(),
            node: "console".into(),
            level: level.into(),
            text: text.into(),
        };
        self.push(e);
    }

    fn push(&self, e: view::Event) {
        if let Ok(mut ev) = self.events.lock() {
            ev.0 += 1;
            let j = e.json(ev.0);
            ev.1.push_back(j);
            while ev.1.len() > EVENTS_KEPT {
                ev.1.pop_front();
            }
        }
    }

    /// Events after `since`, as JSON objects, and the last sequence number.
    pub fn events_after(&self, since: u64) -> (Vec<String>, u64) {
        let Ok(ev) = self.events.lock() else {
            return (Vec::new(), since);
        };
        let first = ev.0 + 1 - ev.1.len() as u64;
        let skip = since.saturating_sub(first - 1) as usize;
        (ev.1.iter().skip(skip).cloned().collect(), ev.0)
    }

    /// The cluster's status through the first door (in Connect's order) that answers, and
    /// new log lines of every door. Doors are asked at once, each in a thread: a node that
    /// died holds up its own thread, not the page. A door that fails is said once and not
    /// used again.
    pub fn poll(self: &Arc<Self>) -> Result<(String, String)> {
        let (tx, rx) = mpsc::channel();
        for i in 0..self.doors.len() {
            let (cl, to_poll) = (Arc::clone(self), tx.clone());
            let spawned = std::thread::Builder::new()
                .name("console-poll".into())
                .spawn(move || {
                    let _ = to_poll.send((i, cl.ask(i)));
                });
            if spawned.is_err() {
                let _ = tx.send((i, Asked::Busy));
            }
        }
        drop(tx);
        let mut answers: Vec<(usize, Asked)> = Vec::new();
        let began = Instant::now();
        // The first answer may take a door's whole patience; the others get a moment more.
        let mut deadline = began + WATCH_REPLY + Duration::from_secs(1);
        while answers.len() < self.doors.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(a) => {
                    if matches!(a.1, Asked::Answered(..)) {
                        deadline = deadline.min(Instant::now() + Duration::from_millis(300));
                    }
                    answers.push(a);
                }
                Err(_) => break,
            }
        }
        answers.sort_by_key(|(i, _)| *i);
        let mut fresh = Vec::new();
        let mut picture = None;
        let mut refusal = None;
        for (i, a) in answers {
            let node = &self.doors[i].node;
            match a {
                Asked::Answered(st, status, events) => {
                    fresh.extend(events);
                    if st == 0 {
                        picture.get_or_insert((status, node.clone()));
                    } else if refusal.is_none() {
                        refusal = Some(format!("{node}: {}", status.trim()));
                    }
                }
                Asked::Lost(why) => self.note(&format!(
                    "ERROR console: lost the admin door of {node} ({why}); Connect again to use it"
                )),
                Asked::Busy => {}
            }
        }
        // Both nodes' lines in the order they happened.
        fresh.sort_by(|a, b| a.time.cmp(&b.time));
        for e in fresh {
            self.push(e);
        }
        picture.ok_or_else(|| {
            Error::failed(refusal.unwrap_or_else(|| {
                "no admin door of the cluster answers; Connect again".to_string()
            }))
        })
    }

    /// One door's status and new log lines.
    fn ask(&self, i: usize) -> Asked {
        let d = &self.doors[i];
        // Still busy with the last poll (a slow node): skip it this time.
        let Ok(mut w) = d.watch.try_lock() else {
            return Asked::Busy;
        };
        let Some(s) = w.as_mut() else {
            return Asked::Busy;
        };
        // A refusal (hasvrd restarting, say) is an answer: the door itself is fine.
        let got = s.call_status(&["status".to_string()]).and_then(|status| {
            let at = d.at.lock().ok().and_then(|a| *a);
            let mut words = vec!["events".to_string()];
            words.extend(at.map(|a| a.to_string()));
            s.call_status(&words).map(|ev| (status, ev))
        });
        let asked = match got {
            Ok(((st, status), (ev_st, events))) => {
                let events = if ev_st == 0 {
                    take_events(d, &events)
                } else {
                    Vec::new()
                };
                Asked::Answered(st, status, events)
            }
            Err(e) => {
                *w = None;
                d.lost.store(true, Ordering::SeqCst);
                if let Ok(mut a) = d.act.try_lock() {
                    *a = None;
                }
                Asked::Lost(e.message)
            }
        };
        drop(w);
        d.keep_alive();
        asked
    }

    /// Runs command words on `node`'s door (or the first live one when `node` is None).
    pub fn run(&self, node: Option<&str>, words: &[String]) -> Result<String> {
        let d = self
            .doors
            .iter()
            .filter(|d| node.is_none_or(|n| d.node == n))
            .find(|d| !d.lost.load(Ordering::SeqCst))
            .ok_or_else(|| {
                Error::failed(match node {
                    Some(n) => format!("not connected to {n}'s admin door"),
                    None => "not connected to any admin door".to_string(),
                })
            })?;
        let mut a = d.act.try_lock().map_err(|_| {
            Error::failed(format!(
                "a command is still running on {}; wait for it",
                d.node
            ))
        })?;
        let Some((s, used)) = a.as_mut() else {
            return Err(Error::failed(format!("lost the admin door of {}", d.node)));
        };
        *used = Instant::now();
        s.call(words)
    }

    /// Whether a live door leads to `node`.
    pub fn reaches(&self, node: &str) -> bool {
        self.doors
            .iter()
            .any(|d| d.node == node && !d.lost.load(Ordering::SeqCst))
    }
}

/// The new log lines of a door's `events` reply; the door remembers where it is.
fn take_events(d: &Door, text: &str) -> Vec<view::Event> {
    let mut lines = text.lines();
    let at = lines
        .next()
        .and_then(|l| l.strip_prefix("AT "))
        .and_then(|n| n.parse().ok());
    if let (Some(at), Ok(mut a)) = (at, d.at.lock()) {
        *a = Some(at);
    }
    lines.filter_map(view::event).collect()
}

impl Door {
    fn new(node: &str, addr: &str, watch: Session, act: Session) -> Door {
        Door {
            node: node.to_string(),
            addr: addr.to_string(),
            watch: Mutex::new(Some(watch)),
            act: Mutex::new(Some((act, Instant::now()))),
            at: Mutex::new(None),
            lost: AtomicBool::new(false),
        }
    }

    /// A harmless request on an idle command session, so the door does not close it.
    fn keep_alive(&self) {
        let Ok(mut a) = self.act.try_lock() else {
            return;
        };
        let idle = a
            .as_ref()
            .is_some_and(|(_, used)| used.elapsed() > KEEP_ALIVE);
        if idle {
            if let Some((s, used)) = a.as_mut() {
                *used = Instant::now();
                if s.call_status(&["status".to_string()]).is_err() {
                    *a = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peers_door_is_looked_for_at_its_addresses() {
        let net = "NIC alpha eth0 OK 192.0.2.1/24\nNIC beta eth0 OK 192.0.2.2/24 10.0.0.2/8\nNIC beta eth1 ERR 10.1.0.2/8\n";
        assert_eq!(
            peer_addresses(net, "alpha", 7011),
            [
                ("beta".to_string(), "192.0.2.2:7011".to_string()),
                ("beta".to_string(), "10.0.0.2:7011".to_string())
            ]
        );
        assert_eq!(
            local_name("NODE beta UP local\nNODE alpha DOWN\n").as_deref(),
            Some("beta")
        );
    }
}
