//! `haadm` alone: the manual's menus, fed by a script and used at a terminal.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_script_creates_and_brings_in_a_service_through_the_menus_each_answer_checked() {
    let c = Cluster::new(&base_config());
    c.start();
    // Services > Create, every key asked in turn (empty: the default); one bad answer is
    // refused at once and asked again; then Services > Bring In, Status, Exit.
    let answers = [
        "3",
        "1",
        "web2", // Services, Create, name
        "",
        "",
        "", // type, active_server, standby_server: defaults
        "",
        "",
        "",
        "", // active_ip, active_nic, standby_nic, subnetmask
        "no-such.start",
        "svc.start",
        "svc.stop",
        "", // start (missing, then right), stop, agent
        "5ms",
        "1s", // check_interval: out of range, then right
        "",
        "",
        "maybe",
        "yes",
        "",
        "", // start_timeout, restart_times, switchback x2, groupid, volume
        "",
        "",
        "",
        "", // sid, server_name, username, path: USERDEF needs none
        "3",
        "2",
        "web2", // Services, Bring In
        "4",
        "0", // Status, Exit
    ];
    let r = with_stdin(c.alpha.cmd("haadm"), &(answers.join("\n") + "\n"));
    assert_eq!(r.code, 0, "{r:?}");
    for said in [
        "check_interval (100ms–120s) [20s]>",
        "error: [service web2]: check_interval: 5ms is out of range 100ms–120s",
        "error: refused: start script",
        "error: [service web2]: switchback:",
        "service web2 created",
        "SERVICE web2 USERDEF alpha=ACTIVE beta=STANDBY",
    ] {
        assert!(r.stdout.contains(said), "{said:?} not in:\n{}", r.stdout);
    }
    c.beta
        .wait_for("web2 on beta", Duration::from_secs(10), || {
            c.beta.state("web2") == "STANDBY"
        });
    let review = c.beta.ok(&["service", "review", "web2"]);
    assert!(
        review.contains("check_interval = 1s") && review.contains("switchback = yes"),
        "{review}"
    );
}

#[test]
fn at_a_terminal_the_menus_lock_and_unlock_the_configuration() {
    let c = Cluster::new(&base_config());
    c.start();
    let at_terminal = |input: &str| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &c.alpha.path("bin/haadm").display().to_string(),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HAHOME", c.alpha.path(""))
        .env("HANODE", "alpha");
        with_stdin(cmd, input)
    };
    // Tools > Lock, then Exit.
    let r = at_terminal("1\n4\n0\n");
    assert!(r.stdout.contains("locked by"), "{r:?}");
    c.beta
        .wait_for("the lock on beta", Duration::from_secs(10), || {
            c.beta.ok(&["status"]).contains("LOCKED ")
        });
    // Tools > Unlock.
    let r = at_terminal("1\n5\n0\n");
    assert!(r.stdout.contains("unlocked"), "{r:?}");
    c.beta
        .wait_for("the unlock on beta", Duration::from_secs(10), || {
            !c.beta.ok(&["status"]).contains("LOCKED ")
        });
}

/// The manual's order, on two fresh servers, through the menus only: NewPass, the license
/// on each, the socket link on alpha (ERR: beta has no side yet) then on beta (the nodes
/// join, beta taking alpha's configuration), AutoGet, then the service created once on
/// alpha and brought in. No file is edited by hand.
#[test]
fn a_fresh_pair_is_set_up_through_the_menus_alone_in_the_manuals_order() {
    let c = NsCluster::new("");
    for n in [&c.alpha, &c.beta] {
        let r = with_stdin(n.cmd("NewPass"), "admin\nfirst-secret\nfirst-secret\n");
        assert_eq!(r.code, 0, "{r:?}");
        n.start();
    }
    let menus = |n: &Node, answers: &[&str]| {
        let r = with_stdin(n.cmd("haadm"), &(answers.join("\n") + "\n"));
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout
    };
    // Tools > License on each server.
    for (n, serial) in [(&c.alpha, "SN-A"), (&c.beta, "SN-B")] {
        let out = menus(n, &["1", "2", &n.name, serial, "2099-12-31", "KEY", "0"]);
        assert!(out.contains("stored on both nodes"), "{out}");
    }
    // PrivateNet > Create Socket on alpha: host1 (this node), host2, ip1, ip2, port,
    // interval, maxmiss, priority.
    let out = menus(
        &c.alpha,
        &[
            "2",
            "2",
            "lan",
            "",
            "beta",
            "198.51.100.1",
            "198.51.100.2",
            "",
            "200ms",
            "",
            "",
            "0",
        ],
    );
    assert!(out.contains("privnet lan created"), "{out}");
    assert_eq!(c.alpha.ok(&["privnet", "state", "lan"]), "ERR\n");
    // Then on beta, from its own side.
    let out = menus(
        &c.beta,
        &[
            "2",
            "2",
            "lan",
            "",
            "alpha",
            "198.51.100.2",
            "198.51.100.1",
            "",
            "200ms",
            "",
            "",
            "0",
        ],
    );
    assert!(out.contains("privnet lan created"), "{out}");
    for n in [&c.alpha, &c.beta] {
        n.wait_for(
            "the link to join the nodes",
            Duration::from_secs(20),
            || {
                let s = n.ok(&["status"]);
                s.contains("LINK lan socket OK") && s.contains("CONFIG generation=1 SAME")
            },
        );
    }
    // Tools > Network (AutoGet): both servers' NICs.
    let out = menus(&c.alpha, &["1", "3", "0"]);
    assert!(
        out.contains("NIC beta eth0 OK 192.0.2.2") && out.contains("NIC alpha eth0 OK 192.0.2.1"),
        "{out}"
    );
    // Services > Create on alpha only, then Bring In.
    let out = menus(
        &c.alpha,
        &[
            "3",
            "1",
            "web",
            "WWW",
            "",
            "",
            VIP,
            "eth0",
            "eth0",
            "",
            "demo-web.start",
            "demo-web.stop",
            "demo-web.agent",
            "1s",
            "10s",
            "",
            "",
            "",
            "", // keys
            "",
            "",
            "",
            "",
            "/var/www", // sid, server_name, username; path: WWW needs it (asked again)
            "3",
            "2",
            "web",
            "4",
            "0",
        ],
    );
    assert!(out.contains("service web created"), "{out}");
    assert!(
        out.contains("error: path is required"),
        "WWW needs its path: {out}"
    );
    c.wait_words("web", "ACTIVE", "STANDBY", Duration::from_secs(20));
    // Both licenses on both servers.
    for n in [&c.alpha, &c.beta] {
        n.wait_for("both licenses", Duration::from_secs(10), || {
            let l = n.ok(&["license"]);
            l.contains("LICENSE alpha SN-A 2099-12-31 OK")
                && l.contains("LICENSE beta SN-B 2099-12-31 OK")
        });
    }
    assert_eq!(
        std::fs::read_to_string(c.alpha.path("etc/sureha.conf")).unwrap(),
        std::fs::read_to_string(c.beta.path("etc/sureha.conf")).unwrap()
    );
}
