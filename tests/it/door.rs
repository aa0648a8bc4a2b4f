//! The admin door (DESIGN §9, issue "Administration as the manual describes it"): NewPass,
//! SetPass, hostid, and remote haadm from the client namespace, against login replays,
//! altered requests and password guessing.

use crate::harness::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::time::Duration;

fn newpass(n: &Node, user: &str, password: &str) -> Ran {
    with_stdin(
        n.cmd("NewPass"),
        &format!("{user}\n{password}\n{password}\n"),
    )
}

/// haadm -H from the client namespace, the password on standard input.
fn remote(c: &NsCluster, host: &str, password: &str, words: &[&str]) -> Ran {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &c.topo.ns("c"),
        env!("CARGO_BIN_EXE_haadm"),
    ])
    .args(["-H", host, "-u", "admin"])
    .args(words)
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    with_stdin(cmd, &format!("{password}\n"))
}

#[test]
fn newpass_creates_the_first_user_and_goes_setpass_changes_it_hostid_is_stable() {
    let n = Node::new("alpha", &base_config());
    let r = newpass(&n, "admin", "first-secret");
    assert_eq!(r.code, 0, "{r:?}");
    let passwd = std::fs::read_to_string(n.path("etc/passwd")).unwrap();
    assert!(passwd.contains("admin:pbkdf2-sha256:"), "{passwd}");
    assert!(
        !passwd.contains("first-secret"),
        "a clear password in etc/passwd"
    );
    assert!(!n.path("bin/NewPass").exists(), "NewPass deleted itself");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(n.path("etc/passwd"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Two different passwords, or a bad name: nothing changes.
    let r = with_stdin(n.cmd("SetPass"), "admin\nnew-secret\nother-secret\n");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("differ"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(n.path("etc/passwd")).unwrap(),
        passwd
    );
    let r = with_stdin(n.cmd("SetPass"), "admin\nnew-secret\nnew-secret\n");
    assert_eq!(r.code, 0, "{r:?}");
    let changed = std::fs::read_to_string(n.path("etc/passwd")).unwrap();
    assert_ne!(changed, passwd);
    assert!(!changed.contains("new-secret"));
    let a = n.run("hostid", &[]);
    let b = n.run("hostid", &[]);
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
    let id = a.stdout.trim();
    assert!(
        id.len() == 8
            && id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{id:?}"
    );
}

#[test]
fn remote_haadm_logs_in_runs_commands_as_locally_and_refuses_guesses_replays_and_tampering() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    // beta's first user comes while it runs: its door opens on NewPass's write, with no
    // timer polling etc/passwd in between.
    assert_eq!(newpass(&c.alpha, "admin", "door-secret").code, 0);
    c.start();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!c.beta.log().contains("admin door: listening"));
    assert_eq!(newpass(&c.beta, "admin", "door-secret").code, 0);
    c.beta.wait_for("beta's door", Duration::from_secs(2), || {
        c.beta.log().contains("admin door: listening")
    });
    let alpha = "192.0.2.1";
    // The door opens once the user exists.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let mut r = remote(&c, alpha, "door-secret", &["status"]);
    while r.code != 0 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(300));
        r = remote(&c, alpha, "door-secret", &["status"]);
    }
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("not encrypted"), "{r:?}");
    let local = c.alpha.haadm(&["status"]).stdout;
    let kinds = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("NODE") || l.starts_with("SERVICE") || l.starts_with("NIC"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(kinds(&r.stdout), kinds(&local));

    // Remote operations: the same exit status and messages as locally.
    for (host, verb, a, b) in [
        (alpha, "bringin", "ACTIVE", "STANDBY"),
        ("192.0.2.2", "takeover", "STANDBY", "ACTIVE"),
        ("192.0.2.2", "failover", "ACTIVE", "STANDBY"),
    ] {
        let r = remote(&c, host, "door-secret", &["service", verb, "web"]);
        assert_eq!(r.code, 0, "{verb} on {host}: {r:?}");
        c.wait_words("web", a, b, Duration::from_secs(20));
    }
    let here = c.alpha.haadm(&["service", "state", "nosuch"]);
    let there = remote(&c, alpha, "door-secret", &["service", "state", "nosuch"]);
    assert_eq!(
        (there.code, there.stderr.clone()),
        (here.code, here.stderr.clone())
    );
    let usage = remote(&c, alpha, "door-secret", &["service", "frobnicate", "web"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    let file = remote(&c, alpha, "door-secret", &["check", "/etc/shadow"]);
    assert_eq!(file.code, 2, "{file:?}");

    // A wrong password: exit 1, and the log names the source address.
    let r = remote(&c, alpha, "guess", &["status"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("wrong user or password"), "{r:?}");
    assert!(
        c.alpha
            .log()
            .contains("failed login for admin from 192.0.2.10"),
        "{}",
        c.alpha.log()
    );

    // A captured login replayed, and a request changed in transit, from the client namespace.
    let ns = format!("/run/netns/{}", c.topo.ns("c"));
    let outcome = std::thread::spawn(move || {
        sureha::sys::enter_netns(std::path::Path::new(&ns)).unwrap();
        replay_and_tamper("192.0.2.1:7011", "admin", "door-secret")
    })
    .join()
    .unwrap();
    assert_eq!(outcome, Ok(()), "{outcome:?}");
    assert!(c.alpha.log().contains("altered, replayed or out of order"));
    // The hand-made logins of the release before were served, and said to be in clear.
    assert!(
        c.alpha.log().contains(
            "with a client of the release before: this session is signed but not encrypted"
        ),
        "{}",
        c.alpha.log()
    );
    // The node is unharmed: the tampered request ("stop") did not run.
    assert_eq!(c.alpha.state("web"), "ACTIVE");

    // The menus from the client: Tools > Connect (the password as the next line), then
    // Status runs there; Tools > Disconnect.
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &c.topo.ns("c"),
        env!("CARGO_BIN_EXE_haadm"),
    ])
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    .env("HAHOME", "/nonexistent");
    let r = with_stdin(cmd, "1\n1\n192.0.2.1\nadmin\ndoor-secret\n4\n1\n6\n0\n");
    assert!(
        r.stdout.contains("connected to 192.0.2.1 as admin"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("SERVICE web WWW alpha=ACTIVE beta=STANDBY"),
        "{r:?}"
    );
    assert!(r.stdout.contains("disconnected"), "{r:?}");

    // Guessing: five failures in a row lock the address out, even for the right password.
    for _ in 0..5 {
        assert_eq!(remote(&c, alpha, "guess", &["status"]).code, 1);
    }
    let r = remote(&c, alpha, "door-secret", &["status"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("too many failed logins"), "{r:?}");
    // The other node's door is not affected.
    assert_eq!(remote(&c, "192.0.2.2", "door-secret", &["status"]).code, 0);
}

fn line(r: &mut BufReader<std::net::TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end().to_string()
}

/// Logs in by hand as a client of the release before would (version 1: signed, in clear);
/// returns the login's proof line and a live session.
fn login(
    addr: &str,
    user: &str,
    password: &str,
    cnonce: &str,
    proof: Option<&str>,
) -> (String, String, BufReader<std::net::TcpStream>, [u8; 32]) {
    login_as("SUREHA-ADMIN/1", addr, user, password, cnonce, proof)
}

fn login_as(
    hello: &str,
    addr: &str,
    user: &str,
    password: &str,
    cnonce: &str,
    proof: Option<&str>,
) -> (String, String, BufReader<std::net::TcpStream>, [u8; 32]) {
    use sureha::auth;
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    writeln!(w, "{hello} {user} {cnonce}").unwrap();
    let ch = line(&mut r);
    let f: Vec<&str> = ch.split(' ').collect();
    let salt = auth::unhex(f[1]).unwrap();
    let it: u32 = f[2].parse().unwrap();
    let salted = auth::salted(password, &salt, it);
    let am = auth::auth_message(user, cnonce, f[3], &salt, it);
    let mine = format!("PROOF {}", auth::hex(&auth::proof(&salted, &am)));
    writeln!(w, "{}", proof.unwrap_or(&mine)).unwrap();
    let answer = line(&mut r);
    let key = auth::session_key(&auth::client_key(&salted), &am);
    (mine, answer, r, key)
}

fn replay_and_tamper(addr: &str, user: &str, password: &str) -> Result<(), String> {
    use std::io::Read;
    use sureha::door;
    // A host that opens connections and says nothing holds four places at most: each newer
    // one closes its oldest idle one (and an administrator from it still gets in, below).
    let mut idle: Vec<std::net::TcpStream> = (0..6)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = idle
        .iter_mut()
        .map(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            matches!(s.read(&mut [0u8; 1]), Ok(0))
        })
        .filter(|&gone| gone)
        .count();
    if closed != 2 {
        return Err(format!(
            "{closed} of six idle connections from one address were closed, not two"
        ));
    }
    // Garbage, and a line far longer than a login needs: refused, nothing else.
    for junk in [b"GET / HTTP/1.0\r\n\r\n".to_vec(), vec![b'A'; 100_000]] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&junk);
        let _ = s.write_all(b"\n");
        let mut said = String::new();
        let _ = s.read_to_string(&mut said);
        if said.starts_with("CHALLENGE") || said.starts_with("WELCOME") {
            return Err(format!("junk was answered: {said:?}"));
        }
    }
    let (proof, answer, _, _) = login(addr, user, password, "c0ffee", None);
    if !answer.starts_with("WELCOME") {
        return Err(format!("the real login failed: {answer}"));
    }
    drop(idle);
    // The same client nonce and proof again: the server's nonce differs, so it fails.
    let (_, answer, _, _) = login(addr, user, "not-needed", "c0ffee", Some(&proof));
    if !answer.starts_with("DENIED") {
        return Err(format!("a replayed login was accepted: {answer}"));
    }
    // A request whose words were changed after they were signed.
    let (_, answer, mut r, key) = login(addr, user, password, "beef", None);
    if !answer.starts_with("WELCOME") {
        return Err(format!("login failed: {answer}"));
    }
    let signed = door::encode_words(&["status".to_string()]);
    let changed = door::encode_words(&["stop".to_string()]);
    let mac = door::request_mac(&key, 1, &signed);
    let mut w = r.get_ref().try_clone().unwrap();
    writeln!(w, "REQ 1 {mac} {changed}").unwrap();
    let reply = line(&mut r);
    if !reply.starts_with("DENIED") {
        return Err(format!("an altered request was answered: {reply}"));
    }
    // Version 2: the request encrypted. It runs; the same line again (a replay), or one
    // with a character of its ciphertext changed, closes the session.
    let words = ["status".to_string()];
    for tamper in [false, true] {
        let (_, answer, mut r, key) = login_as(door::HELLO_2, addr, user, password, "cafe", None);
        if !answer.starts_with("WELCOME") {
            return Err(format!("login failed: {answer}"));
        }
        let sealer = door::sealed::Sealer::new(&key);
        let mut w = r.get_ref().try_clone().unwrap();
        let request = sealer.seal_request(1, &words);
        if tamper {
            let mut b = request.into_bytes();
            let i = b.len() - 20;
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            writeln!(w, "{}", String::from_utf8(b).unwrap()).unwrap();
            let reply = line(&mut r);
            if !reply.starts_with("DENIED") {
                return Err(format!("an altered sealed request was answered: {reply}"));
            }
            continue;
        }
        writeln!(w, "{request}").unwrap();
        let reply = line(&mut r);
        match sealer.open_reply(1, &reply) {
            Some((0, body)) if body.contains("NODE alpha") => {}
            other => return Err(format!("a sealed status did not come back: {other:?}")),
        }
        writeln!(w, "{request}").unwrap();
        let reply = line(&mut r);
        if !reply.starts_with("DENIED") {
            return Err(format!("a replayed sealed request was answered: {reply}"));
        }
    }
    Ok(())
}

/// `haadm lock` on one node refuses changes on both (a fault still moves the service);
/// unlock restores them. `haadm license` keeps both hosts' lines on both nodes; an expired one
/// warns and stops nothing.
#[test]
fn lock_and_license_hold_on_both_nodes_and_never_block_a_failover() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", Duration::from_secs(20));
    let out = c.alpha.ok(&["lock"]);
    assert!(out.contains("locked by root@alpha"), "{out}");
    c.beta
        .wait_for("the lock on beta", Duration::from_secs(10), || {
            c.beta
                .haadm(&["status"])
                .stdout
                .contains("LOCKED root@alpha ")
        });
    for (n, words) in [
        (&c.beta, vec!["service", "failover", "web"]),
        (&c.alpha, vec!["service", "bringout", "web"]),
        (
            &c.beta,
            vec![
                "service",
                "create",
                "x",
                "active_server=alpha",
                "standby_server=beta",
                "start=svc.start",
                "stop=svc.stop",
            ],
        ),
        (&c.alpha, vec!["license", "alpha", "S1", "2030-01-01", "K1"]),
        (&c.beta, vec!["stop"]),
    ] {
        let r = n.haadm(&words);
        assert_eq!(r.code, 1, "haadm {words:?} while locked: {r:?}");
        assert!(r.stderr.contains("locked by root@alpha since"), "{r:?}");
    }
    // Reading still works.
    assert_eq!(c.beta.haadm(&["service", "review", "web"]).code, 0);
    // A fault moves the service all the same: its server dies.
    let pid = std::fs::read_to_string(c.alpha.path("tmp/web.web.pid")).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    c.wait_words("web", "ERRORACT", "ACTIVEACT", Duration::from_secs(20));
    // Unlocked from the other node: changes work again, on both.
    assert!(c.beta.ok(&["unlock"]).contains("unlocked"));
    c.alpha
        .wait_for("the unlock on alpha", Duration::from_secs(10), || {
            !c.alpha.haadm(&["status"]).stdout.contains("LOCKED")
        });
    c.alpha.ok(&["service", "bringin", "web"]);

    // Licenses: stored on one node, shown on both; an expired one warns.
    c.alpha
        .ok(&["license", "alpha", "SN-A", "2099-12-31", "KEY-A"]);
    c.beta
        .ok(&["license", "beta", "SN-B", "2001-01-01", "KEY-B"]);
    let want = "LICENSE alpha SN-A 2099-12-31 OK\nLICENSE beta SN-B 2001-01-01 EXPIRED\n";
    for n in [&c.alpha, &c.beta] {
        n.wait_for("both license lines", Duration::from_secs(10), || {
            n.haadm(&["license"]).stdout == want
        });
        assert!(n
            .haadm(&["status"])
            .stdout
            .contains("LICENSE beta SN-B 2001-01-01 EXPIRED"));
        let file = std::fs::read_to_string(n.path("etc/license")).unwrap();
        assert!(
            file.contains("license alpha SN-A 2099-12-31 KEY-A"),
            "{file}"
        );
    }
    assert!(c
        .beta
        .log()
        .lines()
        .any(|l| l.contains("WARNING") && l.contains("license: beta EXPIRED")));
    let bad = c
        .alpha
        .haadm(&["license", "alpha", "SN", "2030-02-30", "K"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("not a date"), "{bad:?}");
    // Nothing stopped because of it.
    assert!(matches!(
        c.beta.state("web").as_str(),
        "ACTIVE" | "ACTIVESTB" | "ACTIVEACT"
    ));
}

/// One stranger on the admin network: from `src`, it connects to `dst` again and again and
/// does `what` with each connection (nothing, a byte a second, or garbage), until `stop`.
pub(crate) fn stranger(
    ns: String,
    src: std::net::Ipv4Addr,
    dst: std::net::SocketAddrV4,
    what: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::os::fd::FromRawFd;
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        sureha::sys::enter_netns(std::path::Path::new(&format!("/run/netns/{ns}"))).unwrap();
        let sockaddr = |a: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
            sin_zero: [0; 8],
        };
        let began = std::time::Instant::now();
        while !stop.load(Ordering::SeqCst) && began.elapsed() < Duration::from_secs(120) {
            // SAFETY: a socket bound to `src` and connected to `dst`, then owned by a TcpStream.
            let stream = unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let from = sockaddr(src, 0);
                let to = sockaddr(*dst.ip(), dst.port());
                let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                if fd < 0
                    || libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len) != 0
                    || libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len) != 0
                {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                std::net::TcpStream::from_raw_fd(fd)
            };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut s = stream;
            let mut buf = [0u8; 256];
            // Hold the connection until the door closes it (or the flood ends).
            while !stop.load(Ordering::SeqCst) {
                let said: &[u8] = match what {
                    "slow" => b"S",
                    "garbage" => b"\x00\xffGET / HTTP/1.0 garbage garbage\r\n",
                    _ => b"",
                };
                if !said.is_empty() && s.write_all(said).is_err() {
                    break;
                }
                match std::io::Read::read(&mut s, &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(if what == "slow" { 800 } else { 50 }));
            }
            // Closed by the door: back ten times a second (80 strangers: 800 a second).
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn strangers_flooding_the_door_never_keep_an_administrator_out() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    assert_eq!(newpass(&c.alpha, "admin", "door-secret").code, 0);
    c.start();
    c.alpha
        .wait_for("alpha's door", Duration::from_secs(5), || {
            c.alpha.log().contains("admin door: listening")
        });
    // Forty addresses on the admin network, each a stranger.
    let ns = c.topo.ns("c");
    let sources: Vec<std::net::Ipv4Addr> = (150..190)
        .map(|i| std::net::Ipv4Addr::new(192, 0, 2, i))
        .collect();
    for a in &sources {
        let out = Command::new("ip")
            .args(["-n", &ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let door = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 1), 7011);
    for what in ["idle", "slow", "garbage"] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Two connections from each address, held and renewed.
        let flood: Vec<_> = sources
            .iter()
            .flat_map(|&a| [a, a])
            .map(|a| stranger(ns.clone(), a, door, what, stop.clone()))
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        let took = std::time::Instant::now();
        let r = remote(&c, "192.0.2.1", "door-secret", &["status"]);
        let took = took.elapsed();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in flood {
            let _ = t.join();
        }
        assert_eq!(r.code, 0, "{what} flood: {r:?}");
        assert!(r.stdout.contains("SERVICE web"), "{r:?}");
        assert!(
            took < Duration::from_secs(5),
            "{what} flood: the login took {took:?}"
        );
        eprintln!("door under an {what} flood of 80 connections from 40 addresses: a login and status took {took:?}");
    }
}
