//! The door's server side, in hamond: a thread that listens on `[admin] port` once
//! `etc/passwd` has a user, and a thread per connection (at most `MAX_PENDING` not logged in,
//! `MAX_SESSIONS` logged in), so a slow or silent client never holds up hamond's watch over
//! hasvrd, and strangers never keep an administrator out. Requests run as local haadm's do
//! (`admin::command`, `drill`), through hasvrd's FIFO.

use super::sealed::Sealer;
use super::*;
use crate::auth::{self, User};
use crate::log::Logger;
use crate::paths::Home;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Logged-in sessions at once (a console holds two a node). Connections that have not
/// logged in never take one, and never push one out.
const MAX_SESSIONS: usize = 16;
/// Connections not yet logged in, and from one address among them. A newcomer is never
/// turned away for lack of room: the stalest of them goes instead (the one that has not said
/// hello yet, from the address that holds the most, the oldest), so idle, slow or garbage
/// connections, from however many addresses, cannot keep an administrator out.
const MAX_PENDING: usize = 32;
const MAX_PENDING_PER_ADDRESS: usize = 4;
/// New connections from one address in a second, past which more are closed at once,
/// before a thread or a byte is spent on them (a host reconnecting as fast as it can).
const NEW_PER_SECOND: u32 = 4;
/// The hello must be whole within this (a byte a second does not hold a place).
const HELLO_WITHIN: Duration = Duration::from_secs(5);
/// The longest line before login (the hello and the proof are short).
const LOGIN_LINE: usize = 4096;
/// Failed logins from one address before it is locked out, and for how long.
const MAX_FAILS: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(300);
/// A failed login is answered this much later: guessing is slow.
const FAIL_DELAY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Fails {
    count: u32,
    locked_until: Option<Instant>,
}

/// A connection that has not logged in yet.
struct Pending {
    id: u64,
    ip: IpAddr,
    since: Instant,
    /// It said a proper hello (an administrator's client on its way).
    greeted: bool,
    /// To close it from the accepting thread.
    stream: TcpStream,
}

struct Shared {
    home: Home,
    /// For the challenges of unknown users: they look like real ones.
    secret: [u8; 32],
    fails: Mutex<HashMap<IpAddr, Fails>>,
    sessions: AtomicUsize,
    pending: Mutex<Vec<Pending>>,
    next_id: AtomicU64,
    /// New connections per address in the current second (the accepting thread's own).
    recent: Mutex<(Instant, HashMap<IpAddr, u32>)>,
}

impl Shared {
    /// Whether `ip` has opened too many connections this second.
    fn too_fast(&self, ip: IpAddr) -> bool {
        let Ok(mut r) = self.recent.lock() else {
            return false;
        };
        if r.0.elapsed() >= Duration::from_secs(1) {
            *r = (Instant::now(), HashMap::new());
        }
        let n = r.1.entry(ip).or_default();
        *n += 1;
        *n > NEW_PER_SECOND
    }

    /// A login from `ip` succeeded: its connection does not count against the address (an
    /// administrator's script may run haadm -H many times a second; a flood never logs in).
    fn logged_in(&self, ip: IpAddr) {
        if let Ok(mut r) = self.recent.lock() {
            if let Some(n) = r.1.get_mut(&ip) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Makes room for a connection from `ip` among those not logged in, closing the
    /// stalest when there is none, and registers it.
    fn admit(&self, ip: IpAddr, stream: &TcpStream) -> Option<u64> {
        let copy = stream.try_clone().ok()?;
        let mut p = self.pending.lock().ok()?;
        let from_there = p.iter().filter(|x| x.ip == ip).count();
        let victim = if from_there >= MAX_PENDING_PER_ADDRESS {
            p.iter()
                .enumerate()
                .filter(|(_, x)| x.ip == ip)
                .min_by_key(|(_, x)| (x.greeted, x.since))
                .map(|(i, _)| i)
        } else if p.len() >= MAX_PENDING {
            let count = |ip: IpAddr| p.iter().filter(|x| x.ip == ip).count();
            p.iter()
                .enumerate()
                .min_by_key(|(_, x)| (x.greeted, std::cmp::Reverse(count(x.ip)), x.since))
                .map(|(i, _)| i)
        } else {
            None
        };
        if let Some(i) = victim {
            let gone = p.swap_remove(i);
            let _ = gone.stream.shutdown(std::net::Shutdown::Both);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        p.push(Pending {
            id,
            ip,
            since: Instant::now(),
            greeted: false,
            stream: copy,
        });
        Some(id)
    }

    fn greeted(&self, id: u64) {
        if let Ok(mut p) = self.pending.lock() {
            if let Some(x) = p.iter_mut().find(|x| x.id == id) {
                x.greeted = true;
            }
        }
    }

    /// No longer pending (logged in, or gone); whether it still was (not closed to make room).
    fn settled(&self, id: u64) -> bool {
        let Ok(mut p) = self.pending.lock() else {
            return false;
        };
        match p.iter().position(|x| x.id == id) {
            Some(i) => {
                p.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

/// Starts the door's thread. It waits for a user in `etc/passwd` (the door is closed until
/// then), then listens.
pub fn start(home: &Home) {
    let shared = Arc::new(Shared {
        home: home.clone(),
        secret: auth::random_bytes::<32>(),
        fails: Mutex::new(HashMap::new()),
        sessions: AtomicUsize::new(0),
        pending: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(1),
        recent: Mutex::new((Instant::now(), HashMap::new())),
    });
    let _ = std::thread::Builder::new()
        .name("admin-door".into())
        .spawn(move || listen(shared));
}

/// Waits, without waking on a timer, for a file of `etc/` to be written or renamed (NewPass
/// writing the first user): an idle node with no administrator yet costs nothing. Where
/// inotify is missing, the door looks at `etc/passwd` every 2 s instead.
struct EtcWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    inotify: Option<nix::sys::inotify::Inotify>,
}

impl EtcWatch {
    fn new(home: &Home) -> EtcWatch {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
            let inotify = Inotify::init(InitFlags::IN_CLOEXEC).ok().filter(|i| {
                i.add_watch(
                    &home.etc(),
                    AddWatchFlags::IN_CLOSE_WRITE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_ATTRIB,
                )
                .is_ok()
            });
            EtcWatch { inotify }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = home;
            EtcWatch {}
        }
    }

    /// Blocks until something in `etc/` changed; false at once when it cannot watch.
    fn wait(&mut self) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(i) = &self.inotify {
            return i.read_events().is_ok();
        }
        false
    }
}

fn listen(shared: Arc<Shared>) {
    let mut log = Logger::new(shared.home.log(), &shared.home.node, "hamond");
    let mut said: Option<String> = None;
    let mut passwd_changes = EtcWatch::new(&shared.home);
    let listeners = loop {
        let has_user = auth::load_passwd(&shared.home).is_ok_and(|u| !u.is_empty());
        if has_user {
            let admin = crate::config::read(&shared.home.config())
                .map(|(c, _)| c.admin)
                .unwrap_or_default();
            let addrs: Vec<IpAddr> = if admin.listen.is_empty() {
                vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
            } else {
                admin.listen.clone()
            };
            let bound: std::result::Result<Vec<TcpListener>, String> = addrs
                .iter()
                .map(|a| {
                    TcpListener::bind(SocketAddr::new(*a, admin.port))
                        .map_err(|e| format!("cannot listen on {a}:{}: {e}", admin.port))
                })
                .collect();
            match bound {
                Ok(l) => {
                    log.info(&format!(
                        "admin door: listening on port {} ({})",
                        admin.port,
                        addrs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    break l;
                }
                Err(e) => {
                    if said.as_deref() != Some(e.as_str()) {
                        log.warning(&format!("admin door: {e}; retrying every 5s"));
                        said = Some(e);
                    }
                }
            }
        }
        if has_user || !passwd_changes.wait() {
            std::thread::sleep(Duration::from_secs(if has_user { 5 } else { 2 }));
        }
    };
    let mut threads = Vec::new();
    for l in listeners {
        let s = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || accept(s, l)));
    }
    for t in threads {
        let _ = t.join();
    }
}

fn accept(shared: Arc<Shared>, listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let Ok(ip) = stream.peer_addr().map(|a| a.ip()) else {
            continue;
        };
        if shared.too_fast(ip) {
            continue;
        }
        let Some(id) = shared.admit(ip, &stream) else {
            continue;
        };
        let sh = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("admin-client".into())
            .spawn(move || {
                let mut log = Logger::new(sh.home.log(), &sh.home.node, "hamond");
                if let Err(e) = serve(&sh, stream, ip, id, &mut log) {
                    log.warning(&format!("admin door: client {ip}: {e}"));
                }
                sh.settled(id);
            });
        if spawned.is_err() {
            shared.settled(id);
        }
    }
}

fn locked_out(shared: &Shared, ip: IpAddr) -> Option<Duration> {
    let mut f = shared.fails.lock().ok()?;
    let e = f.get_mut(&ip)?;
    match e.locked_until {
        Some(t) if t > Instant::now() => Some(t - Instant::now()),
        Some(_) => {
            f.remove(&ip);
            None
        }
        None => None,
    }
}

/// Counts a failed login; true when the address is locked out by it.
fn failed(shared: &Shared, ip: IpAddr) -> bool {
    let Ok(mut f) = shared.fails.lock() else {
        return false;
    };
    let e = f.entry(ip).or_default();
    e.count += 1;
    if e.count >= MAX_FAILS {
        e.locked_until = Some(Instant::now() + LOCKOUT);
        e.count = 0;
        return true;
    }
    false
}

fn serve(
    shared: &Shared,
    stream: TcpStream,
    ip: IpAddr,
    id: u64,
    log: &mut Logger,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(HELLO_WITHIN))?;
    stream.set_write_timeout(Some(Duration::from_secs(15)))?;
    let mut r = BufReader::new(Deadline {
        stream: stream.try_clone()?,
        by: Instant::now() + HELLO_WITHIN,
    });
    let mut w = stream;
    let Some(hello) = read_line_limited(&mut r, LOGIN_LINE)? else {
        return Ok(());
    };
    let f: Vec<&str> = hello.split(' ').collect();
    let (user, cnonce, encrypted) = match f.as_slice() {
        [hello @ (HELLO | HELLO_2), user, cnonce]
            if auth::valid_user(user)
                && !cnonce.is_empty()
                && cnonce.len() <= 64
                && cnonce.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (user.to_string(), cnonce.to_string(), *hello == HELLO_2)
        }
        _ => {
            say(
                &mut w,
                "DENIED not a SureHA admin client (expected SUREHA-ADMIN/2 USER NONCE)",
            )?;
            return Ok(());
        }
    };
    if let Some(left) = locked_out(shared, ip) {
        say(
            &mut w,
            &format!(
                "DENIED too many failed logins from {ip}; try again in {}s",
                left.as_secs() + 1
            ),
        )?;
        log.warning(&format!(
            "admin door: login of {user} from {ip} refused: the address is locked out"
        ));
        return Ok(());
    }
    let users = auth::load_passwd(&shared.home).unwrap_or_default();
    let known: Option<&User> = users.iter().find(|u| u.name == user);
    let (salt, iterations) = match known {
        Some(u) => (u.salt.clone(), u.iterations),
        None => (
            auth::hmac(&shared.secret, &[user.as_bytes()])[..16].to_vec(),
            auth::ITERATIONS,
        ),
    };
    shared.greeted(id);
    let snonce = auth::hex(&auth::random_bytes::<16>());
    say(
        &mut w,
        &format!("CHALLENGE {} {iterations} {snonce}", auth::hex(&salt)),
    )?;
    // The client derives its key from the password now: give it time.
    r.get_mut().by = Instant::now() + Duration::from_secs(60);
    let Some(line) = read_line_limited(&mut r, LOGIN_LINE)? else {
        return Ok(());
    };
    let am = auth::auth_message(&user, &cnonce, &snonce, &salt, iterations);
    let proof = line
        .strip_prefix("PROOF ")
        .and_then(auth::unhex)
        .unwrap_or_default();
    let checked = known.and_then(|u| auth::verify(u, &am, &proof).map(|ck| (u, ck)));
    let Some((u, ck)) = checked else {
        std::thread::sleep(FAIL_DELAY);
        let locked = failed(shared, ip);
        log.warning(&format!(
            "admin door: failed login for {user} from {ip}{}",
            if locked {
                format!(
                    "; {MAX_FAILS} failures in a row: {ip} is locked out for {}s",
                    LOCKOUT.as_secs()
                )
            } else {
                String::new()
            }
        ));
        say(&mut w, "DENIED wrong user or password")?;
        return Ok(());
    };
    if let Ok(mut f) = shared.fails.lock() {
        f.remove(&ip);
    }
    shared.logged_in(ip);
    // A session of its own from now on, if there is room (and it was not closed to make
    // room for a newer connection meanwhile).
    if !shared.settled(id) {
        return Ok(());
    }
    if shared.sessions.fetch_add(1, Ordering::SeqCst) >= MAX_SESSIONS {
        shared.sessions.fetch_sub(1, Ordering::SeqCst);
        say(
            &mut w,
            &format!("DENIED {MAX_SESSIONS} administrators are logged in already; try again later"),
        )?;
        return Ok(());
    }
    let who = Who {
        user: &user,
        ip,
        encrypted,
    };
    let result = session(shared, &mut r, &mut w, &who, u, &ck, &am, log);
    shared.sessions.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Who is logged in, from where, and whether the session is encrypted (version 2).
struct Who<'a> {
    user: &'a str,
    ip: IpAddr,
    encrypted: bool,
}

/// A logged-in administrator's requests, until it leaves.
#[allow(clippy::too_many_arguments)]
fn session(
    shared: &Shared,
    r: &mut BufReader<Deadline>,
    w: &mut TcpStream,
    who: &Who,
    u: &User,
    ck: &[u8; 32],
    am: &str,
    log: &mut Logger,
) -> std::io::Result<()> {
    let (user, ip) = (who.user, who.ip);
    say(
        w,
        &format!(
            "WELCOME {}",
            auth::hex(&auth::server_signature(&u.server_key, am))
        ),
    )?;
    if who.encrypted {
        log.info(&format!("admin door: {user} logged in from {ip}"));
    } else {
        log.warning(&format!("admin door: {user} logged in from {ip} with a client of the release before: this session is signed but not encrypted (upgrade haadm there)"));
    }
    let key = auth::session_key(ck, am);
    let sealer = Sealer::new(&key);
    // Replies may wait for a service to start; the engine bounds that wait.
    w.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut seq = 0u64;
    loop {
        // An idle session ends after ten minutes.
        r.get_mut().by = Instant::now() + Duration::from_secs(600);
        let Some(line) = read_line(r)? else { break };
        seq += 1;
        let f: Vec<&str> = line.split(' ').collect();
        let words = match f.as_slice() {
            _ if who.encrypted => sealer.open_request(seq, &line),
            ["REQ", n, mac, words]
                if n.parse() == Ok(seq)
                    && auth::same(mac.as_bytes(), request_mac(&key, seq, words).as_bytes()) =>
            {
                decode_words(words)
            }
            _ => None,
        };
        let Some(words) = words else {
            log.warning(&format!("admin door: a request of {user} from {ip} was altered, replayed or out of order; connection closed"));
            say(w, "DENIED request altered or replayed; connection closed")?;
            return Ok(());
        };
        // The lock says who locked: the user logged in here, from where.
        let words = match words.first().map(String::as_str) {
            Some(v @ ("lock" | "unlock")) => crate::admin::lock_words(v, &format!("{user}@{ip}")),
            _ => words,
        };
        let (status, body) = execute(&shared.home, &words);
        // What only looks (a console polls twice a second) is not worth a log line.
        let looks = matches!(words.first().map(String::as_str), Some("events" | "help"))
            || crate::request::parse_command(&words).is_ok_and(|c| !c.changes_anything());
        if !looks || status != 0 {
            log.info(&format!(
                "admin door: {user}@{ip}: haadm {} (exit status {status})",
                crate::config::shown(&words.join(" "))
            ));
        }
        let reply = if who.encrypted {
            sealer.seal_reply(seq, status, &body)
        } else {
            format!(
                "REP {seq} {status} {} {}",
                reply_mac(&key, seq, status, &body),
                auth::hex(body.as_bytes())
            )
        };
        say(w, &reply)?;
    }
    Ok(())
}

/// A request as local haadm would run it here: the same output and exit status. The menus
/// run on the administrator's side, and a file named by the client is not read here.
fn execute(home: &Home, words: &[String]) -> (i32, String) {
    match words.first().map(String::as_str) {
        None => {
            return (
                crate::error::exit::USAGE,
                "give a command: the menus run on your side".into(),
            )
        }
        Some("check") if words.len() > 1 => {
            return (
                crate::error::exit::USAGE,
                "remotely, check takes no FILE: it checks this node's configuration".into(),
            )
        }
        // A key is never carried through the door (nor read from a file it names).
        Some("authkey") if words.get(1).map(String::as_str) != Some("rotate") => {
            return (
                crate::error::exit::USAGE,
                "authkey install runs only on the node itself (copy the key there, then run it locally)".into(),
            )
        }
        // hamond itself leaves with the node: answer once hasvrd has taken the order.
        Some("stop") if words.len() == 1 => {
            return match crate::ask::send(home, words) {
                Ok(out) => (0, out),
                Err(e) => (e.status, e.message),
            }
        }
        _ => {}
    }
    let done = match words.first().map(String::as_str) {
        Some("drill") => crate::drill::run(home, &words[1..]),
        _ => crate::admin::command(home, words),
    };
    match done {
        Ok(out) => (0, out),
        Err(e) => (e.status, e.message),
    }
}

/// A stream whose reads end at a deadline, however the bytes trickle in.
struct Deadline {
    stream: TcpStream,
    by: Instant,
}

impl std::io::Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.by.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// One protocol line to the client.
fn say(w: &mut TcpStream, line: &str) -> std::io::Result<()> {
    w.write_all(format!("{line}\n").as_bytes())
}
