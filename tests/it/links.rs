//! Redundant links: a socket link and an RS-232 line (two pseudo-terminals joined by the
//! harness, which can cut the line or corrupt it). Not tested here: real serial hardware and
//! real baud rates (a pty ignores them; the framer is unit-tested on noisy streams).

use crate::harness::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn link_state(n: &Node, link: &str) -> String {
    n.ok(&["privnet", "state", link]).trim().to_string()
}

#[test]
fn one_of_two_links_cut_moves_nothing_and_its_return_is_seen() {
    let line = SerialLine::new();
    let c = NsCluster::new(&(ns_config("100ms", &web_service("")) + &line.privnet("ser", "100ms")));
    c.start();
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link up", T, || link_state(n, "ser") == "OK");
    }
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);

    // The socket link's cable pulled on alpha.
    c.topo.set_link("alpha", "priv0", false);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the socket link down", T, || link_state(n, "priv") == "ERR");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        c.words("web"),
        ("ACTIVE".into(), "STANDBY".into()),
        "one link left: nothing moves"
    );
    assert!(c.beta.ok(&["status"]).contains("NODE alpha UP"));
    assert_eq!(probe.last().as_deref(), Some("alpha"));
    c.topo.set_link("alpha", "priv0", true);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the socket link back", T, || link_state(n, "priv") == "OK");
    }

    // The serial line cut.
    line.cut(true);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link down", T, || link_state(n, "ser") == "ERR");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    line.cut(false);
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link back", T, || link_state(n, "ser") == "OK");
    }
    assert!(
        c.alpha.log().contains("WARNING link ser: ERR"),
        "{}",
        c.alpha.log()
    );
    assert!(c.alpha.log().contains("INFO link ser: OK"));
}

#[test]
fn noise_and_bit_flips_on_the_serial_line_are_dropped_and_counted_and_the_link_stays_up() {
    let line = SerialLine::new();
    let c =
        Cluster::new(&(base_config() + &line.privnet("ser", "100ms") + &service("web", None, "")));
    c.start();
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link up", T, || link_state(n, "ser") == "OK");
    }
    c.alpha.ok(&["service", "bringin", "web"]);
    line.flip_every(700);
    for _ in 0..20 {
        line.inject(b"\x00\xffSH\x01\x00garbage on the line SH");
        let mut junk = vec![0u8; 300];
        for (i, b) in junk.iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8;
        }
        line.inject(&junk);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            link_state(&c.beta, "ser"),
            "OK",
            "enough good frames keep the link up"
        );
    }
    c.beta.wait_for("the counters", T, || {
        let s = c.beta.ok(&["status"]);
        s.lines().any(|l| {
            l.starts_with("LINK ser rs232 OK")
                && !l.contains("malformed=0")
                && !l.contains(" crc=0")
        })
    });
    line.flip_every(0);
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert!(
        c.beta
            .processes()
            .iter()
            .any(|&p| Node::cmdline(p).contains("hahb-serial ser")),
        "no crash"
    );
    assert!(c
        .beta
        .log()
        .contains("WARNING link ser: dropped bad frames"));
}

pub(crate) fn web_cluster(extra: &str, second_nic: bool) -> NsCluster {
    let services = if second_nic {
        web_service(extra).replace("active_nic = eth0", "active_nic = eth0 eth1")
    } else {
        web_service(extra)
    };
    let c = NsCluster::new(&ns_config("100ms", &services));
    if second_nic {
        c.topo.add_second_nic();
    }
    c.start();
    c
}

#[test]
fn every_private_link_cut_is_a_partition_nothing_moves_then_a_crash_is_taken_over() {
    let c = web_cluster("", false);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);
    // The peers learn each other's public addresses from the beats.
    c.alpha.wait_for("beta's NICs", T, || {
        c.alpha
            .ok(&["network"])
            .contains("NIC beta eth0 OK 192.0.2.2")
    });
    assert!(c
        .beta
        .ok(&["network"])
        .contains("NIC alpha eth0 OK 192.0.2.1"));
    // AutoGet: every NIC of both servers, not only those the services name; status keeps
    // to the named ones.
    let net = c.beta.ok(&["network"]);
    assert!(
        net.contains("NIC alpha priv0 OK 198.51.100.1")
            && net.contains("NIC beta priv0 OK 198.51.100.2"),
        "{net}"
    );
    assert!(!c.beta.ok(&["status"]).contains("priv0"));

    c.topo.set_link("alpha", "priv0", false);
    for (n, peer) in [(&c.alpha, "beta"), (&c.beta, "alpha")] {
        n.wait_for("the partition", T, || {
            n.ok(&["status"])
                .contains(&format!("NODE {peer} PARTITIONED\nCLUSTER PARTITIONED"))
        });
        // Logged once the public network has carried the peer for longer than a beat.
        n.wait_for("the partition ERROR", T, || {
            n.log().contains("ERROR private network down")
        });
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(probe.last().as_deref(), Some("alpha"));
    assert!(
        c.topo.has_vip("alpha") && !c.topo.has_vip("beta"),
        "no takeover during a partition"
    );
    assert_eq!(c.beta.state("web"), "STANDBY");

    // Now the active node really dies: nothing answers anywhere, the standby takes over.
    c.crash("alpha");
    probe.wait_for("beta", T);
    assert_eq!(c.beta.state("web"), "ACTIVEACT");
}

#[test]
fn the_active_nodes_public_cable_pulled_hands_the_service_over_and_it_returns_with_switchback() {
    let c = web_cluster("switchback = yes\n", false);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);
    c.topo.set_cable("pa", false);
    probe.wait_for("beta", T);
    c.alpha.wait_for("the NIC error", T, || {
        c.alpha.ok(&["status"]).contains("NIC alpha eth0 ERR")
    });
    assert!(
        c.beta.ok(&["status"]).contains("NIC alpha eth0 ERR"),
        "the peer sees it too"
    );
    assert_eq!(c.beta.state("web"), "ACTIVEACT");
    c.topo.set_cable("pa", true);
    probe.wait_for("alpha", T);
    assert_eq!(
        (c.alpha.state("web"), c.beta.state("web")),
        ("ACTIVE".into(), "STANDBY".into())
    );
    assert!(c.alpha.log().contains("NIC eth0: OK again"));
}

#[test]
fn a_nic_losing_carrier_moves_the_address_to_the_next_nic_without_failover() {
    let c = web_cluster("", true);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);
    assert!(c.topo.has_vip_on("alpha", "eth0"));
    // Steady state: the first announcements are over (a client ignores a new ARP claim
    // within its 1 s locktime).
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = std::time::Instant::now();
    c.topo.set_cable("pa", false);
    c.alpha.wait_for("the address on eth1", T, || {
        c.topo.has_vip_on("alpha", "eth1")
    });
    probe.wait_since("alpha", std::time::Instant::now(), T);
    eprintln!(
        "client outage on a local NIC failover: {:?}",
        probe.outage_since(t0)
    );
    assert!(!c.topo.has_vip_on("alpha", "eth0"));
    assert_eq!(
        (c.alpha.state("web"), c.beta.state("web")),
        ("ACTIVE".into(), "STANDBY".into()),
        "no failover"
    );
    assert_eq!(probe.answered_by(t0), vec!["alpha"]);
    assert!(c
        .alpha
        .log()
        .contains("moving its addresses to eth1 (local NIC failover)"));
}

#[test]
fn over_a_serial_line_alone_a_configuration_change_arrives_in_pieces() {
    let line = SerialLine::new();
    let mut cfg = line.privnet("ser", "100ms");
    for i in 0..4 {
        cfg.push_str(&service(
            &format!("svc{i}"),
            None,
            "path = /a/rather/long/path/so/that/the/configuration/needs/several/pieces\n",
        ));
    }
    let c = Cluster::new(&cfg);
    c.alpha.start();
    c.beta.start();
    for n in [&c.alpha, &c.beta] {
        n.wait_for("the serial link up", T, || link_state(n, "ser") == "OK");
    }
    c.beta.ok(&[
        "service",
        "create",
        "db",
        "active_server=beta",
        "standby_server=alpha",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    c.alpha.wait_for("the new service on alpha", T, || {
        c.alpha.haadm(&["service", "state", "db"]).stdout == "OUTSTB\n"
    });
    let log = c.beta.log();
    assert!(log.contains("pieces over link ser"), "{log}");
    assert_eq!(link_state(&c.alpha, "ser"), "OK", "beats kept flowing");
    assert!(c.alpha.ok(&["status"]).contains("CONFIG generation=2 SAME"));
}

/// The payload lengths of the encrypted frames (version 3) in a capture or a line's bytes.
fn v3_payloads(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(22)
        .filter(|w| w[..3] == *b"SH\x03")
        .map(|w| u16::from_be_bytes([w[20], w[21]]) as usize)
        .collect()
}

#[test]
fn at_rest_the_beat_of_many_services_is_repeated_short_on_socket_and_serial_links() {
    // 60 services: a whole beat is over 700 bytes; a short repeat names it in 9.
    let services: String = (0..60)
        .map(|i| service(&format!("s{i}"), None, ""))
        .collect();
    let line = SerialLine::new();
    let c = NsCluster::new(&(ns_config("100ms", &services) + &line.privnet("ser", "100ms")));
    c.start();
    for n in [&c.alpha, &c.beta] {
        n.wait_for("both links up", T, || {
            link_state(n, "ser") == "OK" && link_state(n, "priv") == "OK"
        });
    }
    c.alpha.ok(&["service", "bringin", "s0"]);
    c.alpha.wait_state("s0", "ACTIVE", T);
    let udp = crate::encryption::Capture::start(&c.topo.ns("a"), "priv0");
    udp.wait_live(|| {});
    line.record();
    std::thread::sleep(Duration::from_secs(3));
    let on_wire = [
        ("socket link", v3_payloads(&udp.stop())),
        ("serial line", v3_payloads(&line.recorded())),
    ];
    for (what, lens) in on_wire {
        let short = lens.iter().filter(|&&l| l == 9).count();
        let whole = lens.iter().filter(|&&l| l > 700).count();
        eprintln!(
            "{what}: {short} short, {whole} whole of {} frames",
            lens.len()
        );
        // Both nodes' beats, 10 a second each way: about 60 frames; at rest one in ten
        // repeats goes whole (and the three after each new beat).
        assert!(
            lens.len() >= 30,
            "{what}: only {} frames in 3 s: {lens:?}",
            lens.len()
        );
        assert!(
            short * 2 >= lens.len() && whole * 4 <= lens.len(),
            "{what}: {short} short, {whole} whole of {}: {lens:?}",
            lens.len()
        );
    }
    // And nothing was lost for it: each node's view of the other is whole and current.
    assert_eq!(c.words("s0"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(c.words("s59"), ("OUTACT".into(), "OUTSTB".into()));
    for n in [&c.alpha, &c.beta] {
        assert!(
            !n.log().contains("repeats of the beat go whole"),
            "{}",
            n.log()
        );
    }
}
