//! Nothing from outside knocks the engine over. A running two-node cluster on loopback takes,
//! one after the other, what a stray program, a careless operator or a hostile peer can send
//! it; after each, the service still runs on alpha only, was never restarted, and haadm
//! answers. Not tested here: forged and replayed frames (heartbeat.rs), serial noise (links.rs
//! and the framer's unit tests), a real clock step (the instance file stands for it).

use crate::harness::*;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

/// An agent that only reports: its health does not depend on anything under tmp/.
const AGENT: &str = "#!/bin/sh\n\"$HAHOME/bin/APIOPEN.x\" \"$1\" || exit 0\nwhile \"$HAHOME/bin/APIOK.x\" \"$1\"; do :; done\n";

fn cluster() -> Cluster {
    let c = Cluster::new(&(base_config() + &service("web", Some("ok.agent"), "")));
    for n in [&c.alpha, &c.beta] {
        n.write_script("ok.agent", AGENT);
    }
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c
}

/// The service runs on alpha only, started once, and both nodes still see each other.
fn healthy(c: &Cluster, starts: usize, after: &str) {
    assert_eq!(
        c.words("web"),
        ("ACTIVE".into(), "STANDBY".into()),
        "after {after}"
    );
    let ev = c.alpha.events();
    assert_eq!(
        ev.iter().filter(|e| e.as_str() == "start web").count(),
        starts,
        "after {after}, alpha ran: {ev:?}\n{}",
        c.alpha.log()
    );
    assert!(
        c.beta.events().is_empty(),
        "after {after}: beta ran a script"
    );
    for n in [&c.alpha, &c.beta] {
        assert!(
            !n.log().contains("is down"),
            "after {after}: {} lost its peer\n{}",
            n.name,
            n.log()
        );
    }
}

fn write_fifo(n: &Node, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(n.path("tmp/hasvrd.fifo"))
        .unwrap();
    let _ = f.write(bytes);
}

#[test]
fn a_running_cluster_survives_everything_a_stray_program_or_operator_sends() {
    let c = cluster();
    healthy(&c, 1, "start");
    assert!(
        !c.alpha.log().contains("partitioned") && !c.beta.log().contains("partitioned"),
        "a false partition at start"
    );

    // 1. A stray byte without a newline, then a request: the request is answered.
    write_fifo(&c.alpha, b"x");
    let t = Instant::now();
    assert!(c.alpha.ok(&["status"]).contains("SERVICE web"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Glued in one write: stray bytes, then a whole request line.
    write_fifo(&c.alpha, b"junk sureha1 - 1 dump\n");
    c.alpha.wait_for("the glued request to be read", T, || {
        c.alpha.log().contains("stray byte(s) before a request")
    });

    // 2. Extra API callers: told plainly at once, the agent keeps its pace.
    for _ in 0..20 {
        let r = c.alpha.run("APIOK.x", &["web"]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("only the service's agent"), "{r:?}");
    }
    let r = c.alpha.run("APIERROR.x", &["web"]);
    assert!(r.stderr.contains("only the service's agent"), "{r:?}");
    std::thread::sleep(Duration::from_secs(4)); // longer than 3 × check_interval
    healthy(&c, 1, "extra API callers");
    // Status tells what was refused.
    let status = c.alpha.ok(&["status"]);
    assert!(status.contains("REQUESTS dropped="), "{status}");
    assert!(status.contains(" refused=21\n"), "{status}");

    // 3. A flood on the FIFO for 3 s: haadm still answers, beats keep their pace.
    let fifo = c.alpha.path("tmp/hasvrd.fifo");
    let flood = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        let line = b"sureha1 - 1 status\nnot a request at all\n".repeat(50);
        let until = Instant::now() + Duration::from_secs(3);
        let mut n = 0u64;
        while Instant::now() < until && n < 10_000_000 {
            if f.write_all(&line).is_err() {
                break;
            }
            n += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    c.alpha.ok(&["service", "state", "web"]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    flood.join().unwrap();
    healthy(&c, 1, "a flood on the FIFO");

    // 4. Files that are not configurations: refused at once, never read without end.
    let t = Instant::now();
    let r = c.alpha.haadm(&["check", "/dev/zero"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not a regular file"), "{r:?}");
    let fifo_conf = c.alpha.path("fifo.conf");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo_conf)
        .status()
        .unwrap()
        .success());
    let r = c.alpha.haadm(&["check", fifo_conf.to_str().unwrap()]);
    assert!(r.stderr.contains("not a regular file"), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));

    // 5. A huge configuration: refused quickly with the limit, the running one kept.
    let good = std::fs::read_to_string(c.alpha.path("etc/sureha.conf")).unwrap();
    let mut huge = good.clone();
    for i in 0..80_000 {
        huge.push_str(&format!("[service s{i}]\nstart = a\n"));
    }
    let huge_path = c.alpha.path("huge.conf");
    std::fs::write(&huge_path, &huge).unwrap();
    let t = Instant::now();
    let r = c.alpha.haadm(&["check", huge_path.to_str().unwrap()]);
    assert!(r.stderr.contains("more than the"), "{r:?}");
    std::fs::write(c.alpha.path("etc/sureha.conf"), &huge).unwrap();
    let r = c.alpha.haadm(&["reload"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    std::fs::write(c.alpha.path("etc/sureha.conf"), &good).unwrap();
    // Just under the limit in bytes but too many sections: refused by count, linearly.
    let many: String = good.clone()
        + &(0..20_000)
            .map(|i| format!("[service s{i}]\n"))
            .collect::<String>();
    std::fs::write(&huge_path, &many).unwrap();
    let t = Instant::now();
    let r = c.alpha.haadm(&["check", huge_path.to_str().unwrap()]);
    assert!(r.stderr.contains("at most 256 services"), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    healthy(&c, 1, "huge configurations");

    // 6. tmp/ moved away for 6 s: hasvrd puts it back, the service is neither failed nor
    // started twice.
    let away = c.alpha.path("tmp.away");
    std::fs::rename(c.alpha.path("tmp"), &away).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(c.alpha.state("web"), "ACTIVE");
    assert!(c.alpha.path("tmp/hasvrd.fifo").exists());
    assert!(c.alpha.log().contains("had disappeared"));
    let mut all = c.alpha.events();
    all.extend(
        std::fs::read_to_string(away.join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string),
    );
    assert_eq!(all, vec!["start web"], "{}", c.alpha.log());
    assert!(c.beta.events().is_empty());
    // A second hamond is still refused: the lock was put back too.
    let r = c.alpha.run("hamond", &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("already running"), "{r:?}");
    std::fs::remove_dir_all(&away).unwrap();
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));

    // 7. The peer restarts after its clock was stepped back: its previous instance id is
    // ahead of the wall clock now. It is recognised as restarted, not refused as a replay.
    let ahead = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64)
        + 3_600_000;
    Cluster::crash(&c.beta);
    std::fs::write(c.beta.path("tmp/hasvrd.instance"), format!("{ahead}\n")).unwrap();
    c.beta.start();
    c.beta.wait_state("web", "STANDBY", T);
    c.alpha.wait_for("beta to be heard again", T, || {
        c.alpha.haadm(&["status"]).stdout.contains("NODE beta UP")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(c.alpha.haadm(&["status"]).stdout.contains("NODE beta UP"));
    assert_eq!(c.alpha.state("web"), "ACTIVE");
    let instance: u64 = std::fs::read_to_string(c.beta.path("tmp/hasvrd.instance"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(instance > ahead);

    // 8. No authkey: the node refuses to join, says how to fix it, and nothing moves.
    c.beta.ok(&["stop"]);
    std::fs::remove_file(c.beta.path("etc/authkey")).unwrap();
    let r = c.beta.run("hamond", &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("authkey is missing"), "{r:?}");
    let r = c.beta.haadm(&["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("authkey is missing"), "{r:?}");
    c.alpha.wait_state("web", "ACTIVEACT", T);
    // Never started again since tmp/ (and the events written there before) went away.
    assert!(!c.alpha.events().iter().any(|e| e == "start web"));
}

/// `web` running on alpha with 1 s beats, then `haadm stop` on alpha: returns once beta
/// started it, having checked that took far less than the 3 s a silent peer takes to be
/// declared down.
fn stop_hands_over(extra: &str) -> Cluster {
    let c = Cluster::new(
        &(base_config().replace("interval = 100ms", "interval = 1s")
            + &service("web", Some("ok.agent"), extra)),
    );
    for n in [&c.alpha, &c.beta] {
        n.write_script("ok.agent", AGENT);
    }
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    let t = Instant::now();
    c.alpha.ok(&["stop"]);
    c.beta.wait_for("web to start on beta", T, || {
        c.beta.events() == vec!["start web".to_string()]
    });
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    c
}

#[test]
fn haadm_stop_on_the_active_node_hands_its_services_over_at_once() {
    let c = stop_hands_over("");
    assert!(c.alpha.log().contains("handed over to beta"));
    assert!(!c
        .beta
        .log()
        .contains("peer alpha is down: every link is silent"));
    assert_eq!(
        c.beta.state("web"),
        "ACTIVE",
        "the roles swapped, as for a FailOver"
    );
    // Its silence that follows is a departure, told as such, not a crash.
    c.beta.wait_for("the departure in the log", T, || {
        c.beta.log().contains("INFO peer alpha left")
    });
    assert!(!c.beta.log().contains("ERROR peer alpha is down"));
    c.beta.wait_state("web", "ACTIVEACT", T);
}

/// With switchback, a service handed over by `haadm stop` is not proposed back to the node
/// that is leaving (found by `make bench`: the peer waited for its silence instead).
#[test]
fn haadm_stop_hands_over_at_once_with_switchback_too_and_it_comes_back_after() {
    let c = stop_hands_over("switchback = yes\n");
    assert!(c.beta.log().contains("taking it over"));
    // Alpha back: the service returns to its active server.
    c.alpha.start();
    c.wait_words("web", "ACTIVE", "STANDBY", T);
}

/// QUIT leaves the services running for the next hasvrd (an upgrade): the peer must not take
/// them over on the silence that follows, or they would run on both nodes. It waits, says so,
/// keeps waiting across its own restart, and moves them only when told.
#[test]
fn a_peer_that_left_its_services_running_is_not_taken_over_until_told() {
    let c = Cluster::new(&(base_config() + &service("web", Some("ok.agent"), "")));
    for n in [&c.alpha, &c.beta] {
        n.write_script("ok.agent", AGENT);
    }
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    let hamond = c.alpha.pid("hamond").unwrap();
    let _ = sureha::sys::kill(hamond, libc::SIGQUIT);
    c.beta.wait_for("the frozen peer", T, || {
        let s = c.beta.ok(&["status"]);
        s.contains("NODE alpha LEFT-RUNNING") && s.contains("CLUSTER FROZEN")
    });
    // Far past detection (100 ms × 3): nothing moved, and beta's own restart changes nothing.
    std::thread::sleep(Duration::from_secs(1));
    let hasvrd = c.beta.pid("hasvrd").unwrap();
    Node::kill9(hasvrd);
    c.beta.wait_for("a new hasvrd", T, || {
        c.beta.pid("hasvrd").is_some_and(|p| p != hasvrd) && c.beta.haadm(&["status"]).code == 0
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(c.beta.state("web"), "STANDBY");
    assert!(c.beta.ok(&["status"]).contains("CLUSTER FROZEN"));
    assert!(c.beta.log().contains("left with its services running"));
    assert!(c.beta.events().is_empty(), "{:?}", c.beta.events());
    // Alpha's SureHA back: it adopts what runs, the pair is whole again.
    c.alpha.start();
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    assert_eq!(c.alpha.events(), vec!["start web".to_string()]);
    // Left again, and this time the administrator moves the service by hand.
    let _ = sureha::sys::kill(c.alpha.pid("hamond").unwrap(), libc::SIGQUIT);
    c.beta.wait_for("the frozen peer", T, || {
        c.beta.ok(&["status"]).contains("CLUSTER FROZEN")
    });
    c.alpha.kill_all();
    c.beta.ok(&["service", "takeover", "web"]);
    assert!(matches!(
        c.beta.state("web").as_str(),
        "ACTIVESTB" | "ACTIVEACT" | "ACTIVE"
    ));
}

/// Found by `make chaos` (seed 6006): an administrator's take-over of one service while the
/// peer had left its services running (QUIT) made the peer count as down for all of them,
/// and this node started the others too, beside the copies still running there. Only the
/// service named (and its group) moves.
#[test]
fn a_take_over_while_the_peer_left_its_services_running_moves_that_service_alone() {
    let c = Cluster::new(
        &(base_config()
            + &service("web", Some("ok.agent"), "")
            + &service("other", Some("ok.agent"), "")),
    );
    for n in [&c.alpha, &c.beta] {
        n.write_script("ok.agent", AGENT);
    }
    c.start();
    for s in ["web", "other"] {
        c.alpha.ok(&["service", "bringin", s]);
        c.wait_words(s, "ACTIVE", "STANDBY", T);
    }
    let _ = sureha::sys::kill(c.alpha.pid("hamond").unwrap(), libc::SIGQUIT);
    c.beta.wait_for("the frozen peer", T, || {
        c.beta.ok(&["status"]).contains("CLUSTER FROZEN")
    });
    c.beta.ok(&["service", "takeover", "web"]);
    assert!(matches!(
        c.beta.state("web").as_str(),
        "ACTIVESTB" | "ACTIVEACT" | "ACTIVE"
    ));
    // Well past detection: the other service was not touched here.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.beta.events(), vec!["start web".to_string()]);
    assert!(c.beta.ok(&["status"]).contains("CLUSTER FROZEN"));
    assert!(
        c.beta
            .log()
            .contains("alpha's other services stay where they run"),
        "{}",
        c.beta.log()
    );
    // alpha's SureHA back: it stops its copy of web (beta's intent is newer) and keeps
    // running the other.
    c.alpha.start();
    c.wait_words("web", "STANDBY", "ACTIVE", T);
    c.wait_words("other", "ACTIVE", "STANDBY", T);
}
