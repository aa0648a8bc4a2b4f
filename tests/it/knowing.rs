//! Knowing before it matters (DESIGN §13): `haadm why`, `haadm drill`, standby readiness and
//! drift, and calm switch-back, on two nodes in their namespaces with the demo service.

use crate::harness::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn cluster(extra: &str) -> NsCluster {
    let c = NsCluster::new(&ns_config("100ms", &web_service(extra)));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c
}

/// Waits until `node`'s status has a line starting with `line`; returns the status.
fn wait_status(node: &Node, line: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let st = node.haadm(&["status"]).stdout;
        if st.lines().any(|l| l.starts_with(line)) {
            return st;
        }
        assert!(
            Instant::now() < end,
            "{}: no status line '{line}' within {limit:?}:\n{st}",
            node.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn why_says_take_over_in_a_healthy_pair_and_not_while_partitioned() {
    let c = cluster("");
    wait_status(&c.beta, "READY web beta yes", T);
    let why = c.beta.ok(&["why", "web"]);
    assert!(why.starts_with("take over\n"), "{why}");
    assert!(
        why.contains("clients would wait about ")
            && why.contains("300ms of silence to notice, then the start (")
            && why.contains("when it last started on alpha)"),
        "{why}"
    );
    assert!(why.contains("link priv (socket): OK"), "{why}");
    // Quiet there while the private link carries beats; asked the moment it falls late.
    assert!(
        why.contains("public network: alpha is asked there (192.0.2.1) once every link is late"),
        "{why}"
    );
    assert!(
        why.contains("NICs here for its addresses: eth0 OK"),
        "{why}"
    );
    assert!(why.contains("ready here: yes"), "{why}");
    assert!(c
        .alpha
        .ok(&["why", "web"])
        .starts_with("keep it: it runs here\n"));
    assert_eq!(
        c.words("web"),
        ("ACTIVE".into(), "STANDBY".into()),
        "why changes nothing"
    );
    // Every private link cut (the only one): alpha still answers on the public network.
    c.topo.set_link("alpha", "priv0", false);
    wait_status(&c.beta, "CLUSTER PARTITIONED", T);
    let why = c.beta.ok(&["why", "web"]);
    assert!(
        why.starts_with("not: peer answers on the public network\n"),
        "{why}"
    );
    assert!(why.contains("link priv (socket): ERR"), "{why}");
    let r = c.beta.haadm(&["why", "nosuch"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no service named 'nosuch'"),
        "{}",
        r.stderr
    );
    c.topo.set_link("alpha", "priv0", true);
    wait_status(&c.beta, "NODE alpha UP", T);
    assert_eq!(c.alpha.state("web"), "ACTIVE");
}

#[test]
fn a_drill_moves_the_demo_service_there_and_back_and_times_it() {
    let c = cluster("");
    wait_status(&c.alpha, "READY web beta yes", T);
    let out = c.alpha.ok(&["drill", "web", &format!("{VIP}:8080")]);
    println!("{out}");
    for want in [
        "drill web: alpha → beta → alpha, probing 192.0.2.100:8080 every 10 ms",
        "move 1, alpha → beta: haadm service failover web returned after",
        "  alpha: MOVE web out (",
        "  beta: MOVE web in (",
        "move 2, beta → alpha: haadm service takeover web returned after",
        "drill web: done; it runs on alpha (alpha=ACTIVE beta=STANDBY), where it began",
    ] {
        assert!(out.contains(want), "'{want}' missing from:\n{out}");
    }
    assert_eq!(out.matches("  client outage: ").count(), 2, "{out}");
    assert!(out.contains("addresses on"), "the phases: {out}");
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    // From beta, where it does not run: takeover there first, then back.
    let out = c.beta.ok(&["drill", "web"]);
    assert!(
        out.contains("move 1, alpha → beta: haadm service takeover web"),
        "{out}"
    );
    assert!(out.contains("where it began"), "{out}");
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    // Bad input says what is wrong; the lock holds a drill back like any move.
    let r = c.alpha.haadm(&["drill", "web", "nowhere"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not HOST:PORT"), "{}", r.stderr);
    c.alpha.ok(&["lock"]);
    wait_status(&c.beta, "LOCKED", T);
    let r = c.alpha.haadm(&["drill", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("FAILED") && r.stderr.contains("locked by"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("it runs on alpha"),
        "says where: {}",
        r.stderr
    );
    c.alpha.ok(&["unlock"]);
}

#[test]
fn a_missing_stop_script_makes_the_standby_unready_and_a_changed_one_is_drift() {
    let c = cluster("");
    wait_status(&c.alpha, "READY web beta yes", T);
    let stop = c.beta.path("bin/demo-web.stop");
    let kept = std::fs::read(&stop).unwrap();
    std::fs::remove_file(&stop).unwrap();
    let why = format!(
        "READY web beta no stop script {} is missing",
        stop.display()
    );
    wait_status(&c.alpha, &why, T);
    wait_status(&c.beta, &why, T);
    assert!(
        c.beta.log().contains(&format!(
            "WARNING service web: this node is not ready to run it: stop script {} is missing",
            stop.display()
        )),
        "{}",
        c.beta.log()
    );
    let r = c.alpha.haadm(&["drill", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("drill refused: beta is not ready to run web: stop script"),
        "{}",
        r.stderr
    );
    assert_eq!(
        c.alpha.state("web"),
        "ACTIVE",
        "a refused drill moves nothing"
    );
    std::fs::write(&stop, &kept).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stop, std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_status(&c.alpha, "READY web beta yes", T);
    assert!(c
        .beta
        .log()
        .contains("service web: this node is ready to run it again"));
    // A start script changed on alpha only: drift, shown on both nodes and in review.
    let start = c.alpha.path("bin/demo-web.start");
    let mut text = std::fs::read_to_string(&start).unwrap();
    text.push_str("# tuned on alpha only\n");
    std::fs::write(&start, text).unwrap();
    let st = wait_status(&c.beta, "DRIFT web ", T);
    let drift = st.lines().find(|l| l.starts_with("DRIFT web ")).unwrap();
    assert!(drift.ends_with(" start script: demo-web.start"), "{drift}");
    wait_status(&c.alpha, "DRIFT web ", T);
    wait_status(
        &c.beta,
        "READY web beta no start script: demo-web.start differs from alpha's",
        T,
    );
    let review = c.beta.ok(&["service", "review", "web"]);
    assert!(review.contains("# DRIFT web "), "{review}");
    assert_eq!(c.alpha.state("web"), "ACTIVE");
}

#[test]
fn a_flapping_node_waits_for_switchback_delay_and_switchback_max_keeps_it_away() {
    let c = cluster("switchback = yes\nswitchback_delay = 3s\nswitchback_max = 1\n");
    let crash_alpha = || {
        c.crash("alpha");
        c.beta.wait_state("web", "ACTIVEACT", T);
    };
    crash_alpha();
    c.revive("alpha");
    c.alpha.wait_state("web", "STANDBY", T);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        c.beta.state("web"),
        "ACTIVESTB",
        "alpha up for 1.5 s of 3 s"
    );
    // Dies again before its 3 s, and comes back: the 3 s count from this return.
    crash_alpha();
    // From the moment alpha begins to come back (`revive` returns once its SureHA runs,
    // by when beta may have heard it for a few ms already).
    let back = Instant::now();
    c.revive("alpha");
    c.alpha.wait_state("web", "ACTIVE", T);
    let waited = back.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "switched back after {waited:?}"
    );
    assert!(c
        .beta
        .log()
        .contains("service web: alpha is back; it switches back once alpha has been able to run it for 3s (switchback_delay)"));
    // A third return within the hour: past switchback_max = 1 it stays on beta.
    crash_alpha();
    c.revive("alpha");
    c.alpha.wait_state("web", "STANDBY", T);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(c.beta.state("web"), "ACTIVESTB");
    assert!(
        c.beta.log().contains(
            "WARNING service web: stays on beta: 1 switch-back to alpha in the last hour reached switchback_max = 1"
        ),
        "{}",
        c.beta.log()
    );
    let why = c.beta.ok(&["why", "web"]);
    assert!(why.contains("switch-back given up"), "{why}");
}

#[test]
fn both_nodes_running_the_service_is_an_alarm_on_both_and_one_copy_stops() {
    let c = cluster("");
    // Every path between the nodes cut, their NICs up: each takes the other for dead.
    c.topo.set_link("alpha", "priv0", false);
    c.topo.isolate_nodes(true);
    c.beta.wait_state("web", "ACTIVEACT", T);
    assert!(c.alpha.state("web").starts_with("ACTIVE"));
    c.topo.isolate_nodes(false);
    c.topo.set_link("alpha", "priv0", true);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the both-claim alarm", T, || {
            n.log().contains("ERROR service web: BOTH NODES RUN IT")
        });
        let log = n.log();
        let line = log
            .lines()
            .find(|l| l.contains("BOTH NODES RUN IT"))
            .unwrap_or_default();
        assert!(
            line.contains("link ") && line.contains("sequence"),
            "{line}"
        );
        assert!(line.contains("stops"), "the resolution: {line}");
    }
    // One copy stops; the other keeps running it.
    let end = Instant::now() + T;
    loop {
        let (a, b) = c.words("web");
        if a.starts_with("ACTIVE") != b.starts_with("ACTIVE") && (a == "STANDBY" || b == "STANDBY")
        {
            break;
        }
        assert!(Instant::now() < end, "still {a} / {b}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(c.beta.log().contains("service web: runs on one node again"));
    for n in [&c.alpha, &c.beta] {
        for l in n
            .log()
            .lines()
            .filter(|l| l.contains("BOTH") || l.contains("one node again"))
        {
            println!("{l}");
        }
    }
}
