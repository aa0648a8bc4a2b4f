//! Two real nodes on loopback (alpha 127.0.0.1, beta 127.0.0.2), heartbeats over UDP, no
//! root needed. Not tested here: floating addresses and clients (see the namespace cluster
//! tests), serial links.

use crate::harness::*;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Two nodes started, their agents reporting OK (the test agent looks for `tmp/agent.web`).
fn started(config: &str) -> Cluster {
    let c = Cluster::new(config);
    for n in [&c.alpha, &c.beta] {
        std::fs::write(n.path("tmp/agent.web"), "").unwrap();
    }
    c.start();
    c
}

fn web() -> String {
    base_config() + &service("web", Some("ha_ag_tmp.sh"), "")
}

#[test]
fn two_nodes_see_each_other_and_move_a_service_both_ways() {
    let c = started(&web());
    let status = c.alpha.ok(&["status"]);
    assert!(
        status.starts_with("NODE alpha UP local\nNODE beta UP\nLINK lan socket OK"),
        "{status}"
    );
    assert!(status.contains("CONFIG generation=1 SAME"), "{status}");
    c.beta.ok(&["service", "bringin", "web"]);
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(c.alpha.events(), vec!["start web"]);
    assert!(c.beta.events().is_empty());
    assert!(c
        .alpha
        .ok(&["status"])
        .contains("SERVICE web USERDEF alpha=ACTIVE beta=STANDBY"));
    assert_eq!(c.alpha.ok(&["privnet", "state", "lan"]), "OK\n");

    c.alpha.ok(&["service", "failover", "web"]);
    assert_eq!(c.words("web"), ("STANDBY".into(), "ACTIVE".into()));
    assert_eq!(c.alpha.events(), vec!["start web", "stop web"]);
    assert_eq!(c.beta.events(), vec!["start web"]);
    // Each half of the move, timed by phase, in the log and in status.
    let out = c.alpha.ok(&["status"]);
    assert!(
        out.contains("MOVE web out (it belongs on beta): agent stopped"),
        "{out}"
    );
    c.beta.wait_for("beta's MOVE line", T, || {
        c.beta
            .ok(&["status"])
            .contains("MOVE web in (protected; the peer stands by): start script")
    });
    eprintln!(
        "{}",
        [&c.alpha, &c.beta]
            .iter()
            .flat_map(|n| n
                .ok(&["status"])
                .lines()
                .filter(|l| l.starts_with("MOVE"))
                .map(String::from)
                .collect::<Vec<_>>())
            .collect::<Vec<_>>()
            .join("\n")
    );
    c.alpha.ok(&["service", "takeover", "web"]);
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(c.beta.events(), vec!["start web", "stop web"]);
    c.beta.ok(&["service", "bringout", "web"]);
    assert_eq!(c.words("web"), ("OUTACT".into(), "OUTSTB".into()));
    assert_eq!(c.alpha.events().last().unwrap(), "stop web");
}

#[test]
fn a_crashed_node_is_taken_over_and_roles_stay_swapped_without_switchback() {
    let c = started(&web());
    c.alpha.ok(&["service", "bringin", "web"]);
    Cluster::crash(&c.alpha);
    c.beta.wait_state("web", "ACTIVEACT", T);
    assert!(
        c.beta.log().contains("ERROR peer alpha is down"),
        "{}",
        c.beta.log()
    );
    assert!(c
        .beta
        .ok(&["status"])
        .contains("NODE alpha DOWN\nLINK lan socket ERR"));
    // alpha comes back (its services died with it; the state file says it ran web).
    c.alpha.start();
    c.wait_words("web", "STANDBY", "ACTIVE", T);
}

#[test]
fn configuration_changes_reach_the_peer_and_need_it() {
    let c = Cluster::new(&base_config());
    c.start();
    c.beta.ok(&[
        "service",
        "create",
        "db",
        "type=oracle",
        "active_server=beta",
        "standby_server=alpha",
        "start=svc.start",
        "stop=svc.stop",
        "sid=ORCL",
        "username=scott",
    ]);
    c.alpha.wait_for("the new service on alpha", T, || {
        c.alpha.haadm(&["service", "state", "db"]).stdout == "OUTSTB\n"
    });
    let conf = std::fs::read_to_string(c.alpha.path("etc/sureha.conf")).unwrap();
    assert!(
        conf.contains("[service db]\ntype = oracle\nactive_server = beta\n"),
        "{conf}"
    );
    assert!(
        c.alpha
            .log()
            .contains("configuration: generation 2 received from beta"),
        "{}",
        c.alpha.log()
    );
    let review = c.alpha.ok(&["service", "review", "db"]);
    assert!(review.contains("sid = ORCL"), "{review}");
    let r = c.alpha.haadm(&[
        "service",
        "create",
        "db2",
        "active_server=alpha",
        "check_interval=5ms",
        "start=svc.start",
        "stop=svc.stop",
        "standby_server=beta",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("check_interval: 5ms is out of range 100ms–120s"),
        "{r:?}"
    );
    c.alpha.ok(&["service", "remove", "db"]);
    c.beta.wait_for("the removal on beta", T, || {
        c.beta.haadm(&["service", "state", "db"]).code == 1
    });
    // A NIC that does not exist on its server is refused at create.
    let r = c.alpha.haadm(&[
        "service",
        "create",
        "v",
        "active_server=alpha",
        "standby_server=beta",
        "active_ip=192.0.2.200",
        "active_nic=nosuch0",
        "standby_nic=nosuch0",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("NIC nosuch0 does not exist on alpha"),
        "{r:?}"
    );
    // Back to back, as a script makes them: each waits for the one before to reach the
    // peer, none is refused for it.
    for name in ["s1", "s2", "s3"] {
        let r = c.alpha.haadm(&[
            "service",
            "create",
            name,
            "active_server=alpha",
            "standby_server=beta",
            "start=svc.start",
            "stop=svc.stop",
        ]);
        assert_eq!(r.code, 0, "{name}: {r:?}");
    }
    c.beta.wait_for("the three services on beta", T, || {
        c.beta.haadm(&["service", "state", "s3"]).code == 0
    });
    // With the peer gone, changes are refused.
    Cluster::crash(&c.beta);
    c.alpha.wait_for("beta down", T, || {
        c.alpha.ok(&["status"]).contains("NODE beta DOWN")
    });
    let r = c.alpha.haadm(&[
        "service",
        "create",
        "x",
        "active_server=alpha",
        "standby_server=beta",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("peer beta is not reachable"), "{r:?}");
}

#[test]
fn forged_corrupted_unsigned_and_replayed_frames_change_nothing_and_are_counted() {
    use sureha::frame::{seal, Beat, Message};
    let cfg = web();
    let port: u16 = cfg
        .lines()
        .find_map(|l| l.strip_prefix("port = "))
        .unwrap()
        .parse()
        .unwrap();
    let c = started(&cfg);
    c.alpha.ok(&["service", "bringin", "web"]);
    // Frames "from alpha" (127.0.0.1) to beta, each saying alpha has stopped everything.
    let lie = Message::Beat(Beat {
        sender: "alpha".into(),
        generation: 99,
        digest: 0,
        hears_you: true,
        leaving: false,
        keeping: false,
        services: vec![],
        nics: vec![],
        disks: vec![],
        admin: (0, String::new()),
        heard: 0,
    })
    .encode();
    let key = AUTHKEY.trim().as_bytes();
    let good_boot = u64::MAX / 2;
    let mut flipped = seal(Some(key), good_boot, 1, &lie).unwrap();
    flipped[30] ^= 0x10;
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"hello, I am alpha".to_vec()),
        ("tag", seal(Some(b"wrong key"), good_boot, 1, &lie).unwrap()),
        ("unsigned", seal(None, good_boot, 1, &lie).unwrap()),
        ("crc", flipped),
        ("replay", seal(Some(key), 1, 1, &lie).unwrap()),
    ];
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for (_, f) in &frames {
        for _ in 0..3 {
            sock.send_to(f, ("127.0.0.2", port)).unwrap();
        }
    }
    c.beta.wait_for("the counters", T, || {
        let s = c.beta.ok(&["status"]);
        ["crc=3", "tag=3", "unsigned=3", "replay=3", "malformed=3"]
            .iter()
            .all(|k| s.contains(k))
    });
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert!(
        c.beta.ok(&["status"]).contains("CONFIG generation=1 SAME"),
        "the lie of generation 99 was not believed"
    );
    assert!(
        c.beta
            .log()
            .contains("WARNING link lan: dropped bad frames"),
        "{}",
        c.beta.log()
    );
}

#[test]
fn heartbeats_keep_flowing_while_a_slow_start_script_runs() {
    let c = Cluster::new(&(base_config() + &service("web", None, "")));
    c.alpha
        .write_script("web.start-hook", "#!/bin/sh\nsleep 2\n");
    c.start();
    let started = std::time::Instant::now();
    let bringin = c
        .alpha
        .cmd("haadm")
        .args(["service", "bringin", "web"])
        .spawn()
        .unwrap();
    let mut seen_down = false;
    while started.elapsed() < Duration::from_millis(1800) {
        seen_down |= !c.beta.ok(&["status"]).contains("NODE alpha UP");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = bringin.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        !seen_down,
        "a 2 s start script made alpha look dead with 300 ms detection"
    );
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
}

#[test]
fn a_link_created_on_one_node_runs_on_both() {
    let c = Cluster::new(&base_config());
    c.start();
    let port = unique_port().to_string();
    c.alpha.ok(&[
        "privnet",
        "create-socket",
        "lan2",
        "host1=alpha",
        "host2=beta",
        "ip1=127.0.0.1",
        "ip2=127.0.0.2",
        &format!("port={port}"),
        "interval=100ms",
        "priority=80",
    ]);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the new link up", T, || {
            n.ok(&["status"]).contains("LINK lan2 socket OK")
        });
        assert_eq!(n.ok(&["privnet", "state", "lan2"]), "OK\n");
    }
    assert!(c
        .beta
        .ok(&["privnet", "review", "lan2"])
        .contains("priority = 80"));
    c.beta.ok(&["privnet", "remove", "lan2"]);
    c.alpha.wait_for("the link gone", T, || {
        !c.alpha.ok(&["status"]).contains("lan2")
    });
}

/// The counters of a link from `status`: (frames received, frames passed up to hasvrd).
fn rx_up(n: &Node) -> (u64, u64) {
    let status = n.ok(&["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("LINK lan "))
        .unwrap_or_else(|| panic!("no LINK line: {status}"))
        .to_string();
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    (field("rx="), field("up="))
}

#[test]
fn at_rest_the_links_repeat_the_beats_and_hasvrd_hears_only_news() {
    let c = started(&web());
    c.alpha.ok(&["service", "bringin", "web"]);
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    // Counters ride up with a frame passed up, at most twice a second: a change (here an
    // unlock on alpha, 600 ms after its lock) brings them.
    let sample = |c: &Cluster| {
        c.alpha.ok(&["lock"]);
        std::thread::sleep(Duration::from_millis(600));
        c.alpha.ok(&["unlock"]);
        std::thread::sleep(Duration::from_millis(300));
        rx_up(&c.beta)
    };
    let (rx0, up0) = sample(&c);
    std::thread::sleep(Duration::from_secs(3));
    let (rx1, up1) = sample(&c);
    // 100 ms beats: about 30 in 3 s, repeated by alpha's hahb-sock; beta's passes up the
    // lock's and the unlock's, little else.
    assert!(rx1 - rx0 >= 25, "received {}", rx1 - rx0);
    assert!(up1 - up0 <= 8, "passed up {} of {}", up1 - up0, rx1 - rx0);
    // Nothing was lost to that: a crash is still seen and taken over.
    Cluster::crash(&c.alpha);
    c.beta.wait_for("beta takes over", T, || {
        c.beta.state("web") == "ACTIVEACT" || c.beta.state("web") == "ACTIVE"
    });
}

/// The web service running on alpha; alpha's hasvrd, and how many events alpha had then.
fn web_on_alpha() -> (Cluster, u32, usize) {
    let c = started(&web());
    c.alpha.ok(&["service", "bringin", "web"]);
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    let hasvrd = c.alpha.pid("hasvrd").expect("alpha's hasvrd");
    let events = c.alpha.events().len();
    (c, hasvrd, events)
}

#[test]
fn a_hung_hasvrd_is_replaced_by_hamond_within_5s_and_the_peer_moves_nothing() {
    let (c, hasvrd, events) = web_on_alpha();
    // Frozen, not dead: its lifeline stays open and alpha's hahb-sock goes on repeating its
    // last beat. hamond's pings go unanswered: it kills it and starts a new one.
    let stopped = std::time::Instant::now();
    sureha::sys::kill(hasvrd, libc::SIGSTOP).unwrap();
    let mut beta_words = Vec::new();
    c.alpha
        .wait_for("a new hasvrd on alpha", Duration::from_secs(15), || {
            beta_words.push(c.beta.state("web"));
            c.alpha.pid("hasvrd").is_some_and(|p| p != hasvrd) && c.alpha.state("web") == "ACTIVE"
        });
    let healed = stopped.elapsed();
    // 5 s is the bound (a ping every 1.25 s, the kill 3.75 s after an unanswered one); the
    // rest is this loop's and the new hasvrd's start on a shared machine.
    assert!(healed <= Duration::from_secs(8), "healed after {healed:?}");
    let log = c.alpha.log();
    assert!(log.contains("has answered nothing for"), "{log}");
    assert!(log.contains("adopted, running since before"), "{log}");
    // The peer moved nothing, and the service was never stopped or started again.
    std::thread::sleep(Duration::from_secs(3));
    beta_words.push(c.beta.state("web"));
    assert!(
        beta_words.iter().all(|w| w == "STANDBY"),
        "beta showed {beta_words:?}"
    );
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(
        &c.alpha.events()[events..],
        &[] as &[String],
        "alpha's service was touched"
    );
}

#[test]
fn a_hasvrd_blocked_in_a_write_is_replaced_by_hamond_and_the_peer_moves_nothing() {
    let (c, hasvrd, events) = web_on_alpha();
    // hasvrd's log becomes a pipe nobody reads (a log on a stuck pipe or server): hamond
    // keeps the file it has open (kept under another name), hasvrd reopens on SIGHUP.
    let log = c.alpha.home.join("etc/sureha.log");
    let kept = c.alpha.home.join("etc/sureha.log.kept");
    std::fs::hard_link(&log, &kept).unwrap();
    let fifo = c.alpha.home.join("etc/sureha.log.fifo");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: plain mkfifo/open/fcntl on a path and descriptor of this test.
    let reader = unsafe {
        assert_eq!(libc::mkfifo(cpath.as_ptr(), 0o600), 0);
        let fd = libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
        assert!(fd >= 0);
        libc::fcntl(fd, libc::F_SETPIPE_SZ, 4096);
        fd
    };
    std::fs::rename(&fifo, &log).unwrap();
    let stopped = std::time::Instant::now();
    sureha::sys::kill(hasvrd, libc::SIGHUP).unwrap();
    // Lines to log until the pipe is full: requests that are not requests.
    let requests = c.alpha.home.join("tmp/hasvrd.fifo");
    for _ in 0..200 {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&requests)
        {
            use std::io::Write;
            let _ = f.write_all(b"not a request\n");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut beta_words = Vec::new();
    c.alpha
        .wait_for("a new hasvrd on alpha", Duration::from_secs(15), || {
            beta_words.push(c.beta.state("web"));
            c.alpha.pid("hasvrd").is_some_and(|p| p != hasvrd)
        });
    let healed = stopped.elapsed();
    // A regular log again (the new hasvrd reopens on SIGHUP), and the pipe drained.
    std::fs::rename(&kept, &log).unwrap();
    if let Some(p) = c.alpha.pid("hasvrd") {
        let _ = sureha::sys::kill(p, libc::SIGHUP);
    }
    let mut buf = [0u8; 4096];
    // SAFETY: reading into our buffer from our descriptor, then closing it.
    unsafe {
        while libc::read(reader, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
        libc::close(reader);
    }
    c.alpha.wait_for("alpha's service ACTIVE again", T, || {
        c.alpha.state("web") == "ACTIVE"
    });
    assert!(healed <= Duration::from_secs(10), "healed after {healed:?}");
    let text = c.alpha.log();
    assert!(text.contains("has answered nothing for"), "{text}");
    std::thread::sleep(Duration::from_secs(2));
    beta_words.push(c.beta.state("web"));
    assert!(
        beta_words.iter().all(|w| w == "STANDBY"),
        "beta showed {beta_words:?}"
    );
    assert_eq!(
        &c.alpha.events()[events..],
        &[] as &[String],
        "alpha's service was touched"
    );
}
