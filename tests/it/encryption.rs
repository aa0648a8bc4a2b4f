//! Nothing in clear between the nodes or to the admin door: every link type and the door
//! tapped while the configuration, the license and the services change, and frames changed
//! or replayed on a real line refused.

use crate::disk_rig::DiskCluster;
use crate::harness::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
static CAPTURES: AtomicUsize = AtomicUsize::new(0);

/// tcpdump on one interface of a namespace, everything it sees written to a file. Killed
/// (by PID) and the file removed on drop, whatever the test did.
pub struct Capture {
    pid: u32,
    child: std::process::Child,
    file: PathBuf,
}

impl Capture {
    pub fn start(ns: &str, dev: &str) -> Capture {
        let file = std::env::temp_dir().join(format!(
            "sureha-cap-{}-{}-{dev}.pcap",
            std::process::id(),
            CAPTURES.fetch_add(1, Ordering::SeqCst)
        ));
        // `ip netns exec` becomes tcpdump (it execs): the PID is tcpdump's.
        let child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-i", dev, "-U", "-s", "0", "-w",
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump must be installed (tests/install-deps.sh installs it)");
        let c = Capture {
            pid: child.id(),
            child,
            file,
        };
        // The file's header is written once it captures.
        let began = Instant::now();
        while std::fs::metadata(&c.file).map_or(0, |m| m.len()) < 24 {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "tcpdump did not start on {dev} in {ns}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    /// Waits until the tap has caught a packet (tcpdump writes its file's header before
    /// it captures), calling `poke` to make some traffic.
    pub fn wait_live(&self, poke: impl Fn()) {
        let began = Instant::now();
        while std::fs::metadata(&self.file).map_or(0, |m| m.len()) <= 24 {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "tcpdump caught nothing in 10 s"
            );
            poke();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything captured, once tcpdump has written it out.
    pub fn stop(mut self) -> Vec<u8> {
        let _ = sureha::sys::kill(self.pid, libc::SIGINT);
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read(&self.file).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = sureha::sys::kill(self.pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// What must never cross in clear: the names of the nodes and services, configuration
/// lines, the license.
const SECRETS: [&str; 9] = [
    "alpha",
    "beta",
    "payroll-ledger",
    "active_server",
    "standby_server",
    "svc.start",
    "SERIAL-7731",
    "LICENSEKEY-QX9",
    "[service",
];

/// What is wrong with a tap's bytes: a secret seen, or too few encrypted frames to tell.
fn in_clear(what: &str, bytes: &[u8]) -> Option<String> {
    let seen: Vec<&str> = SECRETS
        .into_iter()
        .filter(|s| count(bytes, s.as_bytes()) > 0)
        .collect();
    let frames = count(bytes, b"SH\x02") + count(bytes, b"SH\x03");
    if !seen.is_empty() {
        Some(format!("{what}: {seen:?} crossed in clear"))
    } else if frames < 5 {
        Some(format!(
            "{what}: only {frames} encrypted frames seen ({} bytes): the tap saw nothing",
            bytes.len()
        ))
    } else {
        None
    }
}

/// A link's counters on a node, from its status line.
fn counter(n: &Node, link: &str, name: &str) -> u64 {
    let status = n.ok(&["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("LINK {link} ")))
        .unwrap_or_default()
        .to_string();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether a link says it encrypts, on a node.
fn counter_word(n: &Node, link: &str) -> String {
    let status = n.ok(&["status"]);
    status
        .lines()
        .find(|l| l.starts_with(&format!("LINK {link} ")))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("encrypted="))
        })
        .unwrap_or_default()
        .to_string()
}

/// The whole frame that starts at `at` in a tapped stream.
fn frame_at(bytes: &[u8], at: usize) -> Vec<u8> {
    let n = sureha::frame::frame_len(&bytes[at..])
        .ok()
        .flatten()
        .expect("a frame header");
    bytes[at..at + n].to_vec()
}

#[test]
fn no_name_configuration_or_license_crosses_any_link_in_clear_and_forged_frames_are_refused() {
    let line = SerialLine::new();
    // The serial section names a type: the rig then leaves the scripts to us.
    let extra = format!(
        "start = svc.start\nstop = svc.stop\nstart_timeout = 3s\n{}",
        line.privnet("ser", "200ms")
    );
    let c = DiskCluster::new("200ms", &extra);
    c.start_all();
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link up", T, || {
            n.ok(&["privnet", "state", "ser"]).trim() == "OK"
        });
    }
    let udp = Capture::start(&c.topo.ns("a"), "priv0");
    // The beats flow by themselves.
    udp.wait_live(|| {});
    line.record();

    // The service runs, the configuration and the license change: all of it crosses.
    c.alpha.ok(&["service", "bringin", "db"]);
    c.alpha.wait_state("db", "ACTIVE", T);
    c.alpha.ok(&[
        "service",
        "create",
        "payroll-ledger",
        "active_server=alpha",
        "standby_server=beta",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    c.beta.wait_for("the new service on beta", T, || {
        c.beta
            .haadm(&["service", "state", "payroll-ledger"])
            .stdout
            .starts_with("OUT")
    });
    c.alpha.ok(&[
        "license",
        "alpha",
        "SERIAL-7731",
        "2030-01-01",
        "LICENSEKEY-QX9",
    ]);
    c.beta.wait_for("the license on beta", T, || {
        c.beta.ok(&["license"]).contains("SERIAL-7731")
    });
    std::thread::sleep(Duration::from_secs(1));

    let tapped_udp = udp.stop();
    let tapped_serial = line.recorded();
    let lease = sureha::disk::device::Device::open(&c.rig.lease_b.dev).expect("the lease disk");
    let mut on_disk = Vec::new();
    for slot in 0..2 {
        let entries = sureha::disk::layout::entry_offset(slot, 0);
        let size = sureha::disk::layout::ENTRIES * sureha::disk::layout::ENTRY_SIZE;
        on_disk.extend(lease.read(entries, size).expect("the frame entries"));
    }
    let wrong: Vec<String> = [
        in_clear("socket link (tcpdump on priv0)", &tapped_udp),
        in_clear("serial line", &tapped_serial),
        in_clear("disk link (frame entries of both slots)", &on_disk),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for n in [&c.alpha, &c.beta] {
        assert!(!n.log().contains("unencrypted"), "{}", n.log());
        let status = n.ok(&["status"]);
        for link in ["priv", "ser", "dlink"] {
            assert!(
                status.contains(&format!("LINK {link} ")) && counter_word(n, link) == "yes",
                "{status}"
            );
        }
    }

    // A tapped frame played back on the line is a replay; one with a byte of its
    // ciphertext changed (and its CRC made good again) fails its tag.
    let at = tapped_serial
        .windows(3)
        .position(|w| w == b"SH\x02" || w == b"SH\x03")
        .expect("a frame on the line");
    let old = frame_at(&tapped_serial, at);
    let mut changed = old.clone();
    changed[40] ^= 0x01;
    let n = changed.len() - 4;
    let crc = sureha::frame::crc32(&changed[..n]).to_be_bytes();
    changed[n..].copy_from_slice(&crc);
    let (replays, tags) = (
        counter(&c.beta, "ser", "replay"),
        counter(&c.beta, "ser", "tag"),
    );
    line.inject(&old);
    line.inject(&changed);
    c.beta.wait_for("the played-back frames counted", T, || {
        counter(&c.beta, "ser", "replay") > replays && counter(&c.beta, "ser", "tag") > tags
    });
    assert_eq!(c.words("db"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(c.beta.ok(&["privnet", "state", "ser"]).trim(), "OK");
}

/// haadm -H from the client namespace, the password on standard input.
fn remote(c: &NsCluster, password: &str, words: &[&str]) -> Ran {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &c.topo.ns("c"),
        env!("CARGO_BIN_EXE_haadm"),
    ])
    .args(["-H", "192.0.2.1", "-u", "admin"])
    .args(words)
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    with_stdin(cmd, &format!("{password}\n"))
}

#[test]
fn the_admin_doors_requests_and_replies_cross_encrypted() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    for n in [&c.alpha, &c.beta] {
        let r = with_stdin(n.cmd("NewPass"), "admin\ndoor-secret\ndoor-secret\n");
        assert_eq!(r.code, 0, "{r:?}");
    }
    c.start();
    let until = Instant::now() + T;
    while remote(&c, "door-secret", &["status"]).code != 0 {
        assert!(Instant::now() < until, "alpha's door never opened");
        std::thread::sleep(Duration::from_millis(300));
    }
    let tap = Capture::start(&c.topo.ns("c"), "eth0");
    tap.wait_live(|| {
        remote(&c, "door-secret", &["status"]);
    });
    for words in [
        vec!["service", "bringin", "web"],
        vec![
            "service",
            "create",
            "payroll-ledger",
            "active_server=alpha",
            "standby_server=beta",
            "start=svc.start",
            "stop=svc.stop",
        ],
        vec![
            "license",
            "alpha",
            "SERIAL-7731",
            "2030-01-01",
            "LICENSEKEY-QX9",
        ],
        vec!["license"],
        vec!["status"],
        vec!["service", "review", "payroll-ledger"],
    ] {
        let r = remote(&c, "door-secret", &words);
        assert_eq!(r.code, 0, "{words:?}: {r:?}");
        assert!(!r.stderr.contains("not encrypted"), "{r:?}");
    }
    let status = remote(&c, "door-secret", &["status"]);
    assert!(
        status.stdout.contains("SERVICE payroll-ledger"),
        "{status:?}"
    );
    let tapped = tap.stop();
    // What the door's replies said (the status names both nodes and every service, the
    // configuration every line) is nowhere in what crossed.
    let seen: Vec<&str> = SECRETS
        .into_iter()
        .filter(|s| count(&tapped, s.as_bytes()) > 0)
        .collect();
    assert!(seen.is_empty(), "the door: {seen:?} crossed in clear");
    let hex_seen: Vec<&str> = SECRETS
        .into_iter()
        .filter(|s| count(&tapped, sureha::auth::hex(s.as_bytes()).as_bytes()) > 0)
        .collect();
    assert!(hex_seen.is_empty(), "the door: {hex_seen:?} crossed in hex");
    assert!(
        count(&tapped, b"REQ ") >= 7 && count(&tapped, b"REP ") >= 7,
        "the tap saw too few requests ({} bytes: {} REQ, {} REP, {} WELCOME)",
        tapped.len(),
        count(&tapped, b"REQ "),
        count(&tapped, b"REP "),
        count(&tapped, b"WELCOME")
    );
}

/// A node down while its peer's key changed comes back with the old one: the peer's frames
/// fail their tag. It must not take the peer's services for orphans (they run there), and
/// must say what to do; given the key (`haadm authkey install`), it joins, nothing moved.
#[test]
fn a_node_that_missed_a_key_change_takes_nothing_over_and_joins_once_given_the_key() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c.beta.ok(&["stop"]);
    c.beta
        .wait_for("beta's SureHA gone", T, || c.beta.pid("hamond").is_none());
    // While beta is down, alpha's key changes; a running hasvrd takes it within a second.
    let key = c.alpha.path("new-authkey");
    std::fs::write(
        &key,
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n",
    )
    .unwrap();
    let out = c
        .alpha
        .ok(&["authkey", "install", &key.display().to_string()]);
    assert!(out.contains("installed"), "{out}");
    c.alpha.wait_for("alpha's links on the new key", T, || {
        c.alpha
            .log()
            .contains("the keys changed; the links take them")
    });
    // beta comes back with the old key: it hears frames it cannot read, and takes nothing.
    c.beta.start();
    c.beta.wait_for("the mismatch seen", T, || {
        c.beta.ok(&["status"]).contains("CLUSTER KEY-MISMATCH")
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(c.alpha.state("web").starts_with("ACTIVE"));
    assert!(
        !c.beta.state("web").starts_with("ACTIVE"),
        "{}",
        c.beta.log()
    );
    assert!(
        !c.topo.has_vip_on("beta", "eth0"),
        "the address on beta too"
    );
    let log = c.beta.log();
    assert!(
        log.contains("authkey differs") && log.contains("haadm authkey install FILE"),
        "{log}"
    );
    // `haadm check` shows each key's fingerprint: they differ.
    let print = |n: &Node| {
        let out = n.ok(&["check"]);
        out.split_whitespace()
            .skip_while(|w| *w != "fingerprint")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(print(&c.alpha), print(&c.beta));
    // Given the key, beta joins; nothing moves.
    c.beta
        .ok(&["authkey", "install", &key.display().to_string()]);
    assert_eq!(print(&c.alpha), print(&c.beta));
    assert!(!print(&c.alpha).is_empty());
    c.beta.wait_for("beta in contact again", T, || {
        let s = c.beta.ok(&["status"]);
        s.contains("NODE alpha UP") && !s.contains("KEY-MISMATCH")
    });
    c.wait_words("web", "ACTIVE", "STANDBY", T);
}

fn fingerprint(n: &Node) -> String {
    let out = n.ok(&["check"]);
    out.split_whitespace()
        .skip_while(|w| *w != "fingerprint")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// `haadm authkey rotate` while the service answers clients: the new key reaches the peer
/// under the old one, both switch, the old one is refused; no link falls silent, nothing
/// moves, the clients see no gap.
#[test]
fn the_authkey_changes_on_both_nodes_while_a_service_runs_without_a_pause() {
    let c = NsCluster::new(&ns_config("100ms", &web_service("")));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(20));
    probe.wait_for("alpha", T);
    let before = fingerprint(&c.alpha);
    assert_eq!(before, fingerprint(&c.beta));
    let old_key = std::fs::read(c.alpha.path("etc/authkey")).unwrap();
    let began = Instant::now();
    let out = c.alpha.ok(&["authkey", "rotate"]);
    assert!(out.contains("a new key goes to beta"), "{out}");
    c.alpha.wait_for("alpha done", T, || {
        c.alpha.log().contains("both nodes use the new key")
    });
    c.beta.wait_for("beta done", T, || {
        c.beta
            .log()
            .contains("as alpha says; the old one is refused")
    });
    let took = began.elapsed();
    let after = fingerprint(&c.alpha);
    assert_ne!(after, before);
    assert_eq!(after, fingerprint(&c.beta));
    for n in [&c.alpha, &c.beta] {
        for ext in ["next", "prev"] {
            assert!(
                !n.path(&format!("etc/authkey.{ext}")).exists(),
                "{ext} left"
            );
        }
        let log = n.log();
        assert!(!log.contains("link priv: ERR"), "a link fell silent: {log}");
        assert!(!log.contains("KEY-MISMATCH") && !log.contains("authkey differs"));
    }
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    let outage = probe.outage_since(began);
    assert!(
        outage < Duration::from_millis(200),
        "clients waited {outage:?}"
    );
    // The old key is refused now: a frame under it, from alpha's address, fails its tag.
    let tags = |n: &Node| {
        n.ok(&["status"])
            .lines()
            .find(|l| l.starts_with("LINK priv "))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("tag=")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before_tags = tags(&c.beta);
    let ns = format!("/run/netns/{}", c.topo.ns("a"));
    std::thread::spawn(move || {
        sureha::sys::enter_netns(std::path::Path::new(&ns)).unwrap();
        let key = old_key.trim_ascii().to_vec();
        let payload = sureha::frame::Message::Report {
            sender: "alpha".into(),
            text: String::new(),
        }
        .encode();
        let v1 = sureha::frame::seal(Some(&key), u64::MAX / 2, 1 << 40, &payload).unwrap();
        let frame = sureha::frame::Wire::new(Some(&key)).outgoing(&v1).unwrap();
        let s = std::net::UdpSocket::bind("198.51.100.1:0").unwrap();
        for _ in 0..3 {
            s.send_to(&frame, "198.51.100.2:3000").unwrap();
        }
    })
    .join()
    .unwrap();
    c.beta
        .wait_for("the old key refused", T, || tags(&c.beta) > before_tags);
    eprintln!("authkey rotated in {took:?}; clients' longest wait {outage:?}");
}
