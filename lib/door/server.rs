//! The door's server side, in hamond: a thread that listens on `[admin] port` once
//! `etc/passwd` has a user, and a thread per connection (at most `MAX_CLIENTS`), so a slow or
//! silent client never holds up hamond's watch over hasvrd. Requests run as local haadm's do
//! (`admin::run`), through hasvrd's FIFO.

use super::*;
use crate::auth::{self, User};
use crate::log::Logger;
use crate::paths::Home;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_CLIENTS: usize = 16;
/// Connections from one address at once: a host that opens many and says nothing cannot
/// keep the others out. A console holds two a node; two consoles fit, with a haadm.
const MAX_PER_ADDRESS: usize = 6;
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

struct Shared {
    home: Home,
    /// For the challenges of unknown users: they look like real ones.
    secret: [u8; 32],
    fails: Mutex<HashMap<IpAddr, Fails>>,
    clients: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Starts the door's thread. It waits for a user in `etc/passwd` (the door is closed until
/// then), then listens.
pub fn start(home: &Home) {
    let shared = Arc::new(Shared {
        home: home.clone(),
        secret: auth::random_bytes::<32>(),
        fails: Mutex::new(HashMap::new()),
        clients: AtomicUsize::new(0),
        per_address: Mutex::new(HashMap::new()),
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
            let admin = crate::executor::load_config(&shared.home)
                .map(|(c, _)| c.admin)
                .unwrap_or_default();
            let addrs: Vec<IpAddr> = if admin.listen.is_empty() {
                vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
            } else {
                admin.listen.iter().map(|a| IpAddr::V4(*a)).collect()
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
        let mut s = stream;
        if shared.clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
            let _ = s.write_all(b"DENIED too many administrators connected; try again later\n");
            continue;
        }
        let from_there = shared
            .per_address
            .lock()
            .map(|m| m.get(&ip).copied().unwrap_or(0))
            .unwrap_or(0);
        if from_there >= MAX_PER_ADDRESS {
            let _ = s.write_all(
                format!(
                    "DENIED {MAX_PER_ADDRESS} connections from {ip} already; close one first\n"
                )
                .as_bytes(),
            );
            continue;
        }
        shared.clients.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut m) = shared.per_address.lock() {
            *m.entry(ip).or_default() += 1;
        }
        let sh = Arc::clone(&shared);
        let done = move |sh: &Shared| {
            sh.clients.fetch_sub(1, Ordering::SeqCst);
            if let Ok(mut m) = sh.per_address.lock() {
                if let Some(n) = m.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        m.remove(&ip);
                    }
                }
            }
        };
        let spawned = std::thread::Builder::new()
            .name("admin-client".into())
            .spawn(move || {
                let mut log = Logger::new(sh.home.log(), &sh.home.node, "hamond");
                if let Err(e) = serve(&sh, s, ip, &mut log) {
                    log.warning(&format!("admin door: client {ip}: {e}"));
                }
                done(&sh);
            });
        if spawned.is_err() {
            done(&shared);
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

fn serve(shared: &Shared, stream: TcpStream, ip: IpAddr, log: &mut Logger) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.set_write_timeout(Some(Duration::from_secs(15)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    let say = |w: &mut TcpStream, line: &str| w.write_all(format!("{line}\n").as_bytes());
    let Some(hello) = read_line_limited(&mut r, LOGIN_LINE)? else {
        return Ok(());
    };
    let f: Vec<&str> = hello.split(' ').collect();
    let (user, cnonce) = match f.as_slice() {
        [HELLO, user, cnonce]
            if auth::valid_user(user)
                && !cnonce.is_empty()
                && cnonce.len() <= 64
                && cnonce.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (user.to_string(), cnonce.to_string())
        }
        _ => {
            say(
                &mut w,
                "DENIED not a SureHA admin client (expected SUREHA-ADMIN/1 USER NONCE)",
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
    let snonce = auth::hex(&auth::random_bytes::<16>());
    say(
        &mut w,
        &format!("CHALLENGE {} {iterations} {snonce}", auth::hex(&salt)),
    )?;
    // The client derives its key from the password now: give it time.
    w.set_read_timeout(Some(Duration::from_secs(60)))?;
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
    say(
        &mut w,
        &format!(
            "WELCOME {}",
            auth::hex(&auth::server_signature(&u.server_key, &am))
        ),
    )?;
    log.info(&format!("admin door: {user} logged in from {ip}"));
    let key = auth::session_key(&ck, &am);
    w.set_read_timeout(Some(Duration::from_secs(600)))?;
    // Replies may wait for a service to start; the engine bounds that wait.
    w.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut seq = 0u64;
    while let Some(line) = read_line(&mut r)? {
        seq += 1;
        let f: Vec<&str> = line.split(' ').collect();
        let words = match f.as_slice() {
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
            say(
                &mut w,
                "DENIED request altered or replayed; connection closed",
            )?;
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
        say(
            &mut w,
            &format!(
                "REP {seq} {status} {} {}",
                reply_mac(&key, seq, status, &body),
                auth::hex(body.as_bytes())
            ),
        )?;
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
        // hamond itself leaves with the node: answer once hasvrd has taken the order.
        Some("stop") if words.len() == 1 => {
            return match crate::admin::send(home, words) {
                Ok(out) => (0, out),
                Err(e) => (e.status, e.message),
            }
        }
        _ => {}
    }
    match crate::admin::run(home, words) {
        Ok(out) => (0, out),
        Err(e) => (e.status, e.message),
    }
}
