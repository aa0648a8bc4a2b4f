//! IPv6 (DESIGN §14): a service's IPv6 address beside its IPv4 one, reached by a client
//! through a crash and a planned move, and a pair whose only links are IPv6.

use crate::harness::*;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const VIP6: &str = "2001:db8::100";

fn vip6() -> IpAddr {
    VIP6.parse().unwrap()
}

/// Whether the node's eth0 holds the IPv6 floating address.
fn holds_vip6(c: &NsCluster, node: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args([
            "-n",
            &c.topo.node_ns(node),
            "-6",
            "addr",
            "show",
            "dev",
            "eth0",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!("{VIP6}/64"))
}

#[test]
fn a_clients_ipv6_address_follows_the_service_through_a_crash_and_a_planned_move() {
    let c = NsCluster::new(&ns_config(
        "100ms",
        &web_service("prefixlen = 64\n").replace(
            &format!("active_ip = {VIP}\n"),
            &format!("active_ip = {VIP} {VIP6}\n"),
        ),
    ));
    c.topo.add_ipv6();
    c.start();
    let probe = Probe::start_at(&c.topo.ns("c"), vip6(), Duration::from_millis(10));
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);
    assert!(holds_vip6(&c, "alpha") && !holds_vip6(&c, "beta"));
    assert!(c.topo.has_vip("alpha"), "the IPv4 address too");
    let network = c.alpha.ok(&["network"]);
    assert!(
        network
            .lines()
            .any(|l| l.starts_with("NIC alpha eth0 OK") && l.contains(VIP6)),
        "{network}"
    );
    assert!(
        c.alpha.log().contains(&format!("{VIP6}/64 added on eth0")),
        "{}",
        c.alpha.log()
    );

    // A crash: beta takes the address over and tells the segment (a neighbour
    // advertisement), so the client's cached neighbour entry does not keep it waiting.
    let t0 = Instant::now();
    c.crash("alpha");
    probe.wait_since("beta", t0, T);
    let crash = probe.outage_since(t0);
    assert!(holds_vip6(&c, "beta"));

    // alpha back, then a planned move home.
    c.revive("alpha");
    c.wait_words("web", "STANDBY", "ACTIVE", T);
    // The client's segment, tapped during the planned move.
    let tap = crate::encryption::Capture::start(&c.topo.ns("c"), "eth0");
    tap.wait_live(|| {}); // the probe's own packets
    let t1 = Instant::now();
    c.alpha.ok(&["service", "takeover", "web"]);
    probe.wait_since("alpha", t1, T);
    let planned = probe.outage_since(t1);
    std::thread::sleep(Duration::from_millis(200));
    let seen = tap.stop();
    // An unsolicited neighbour advertisement of the address: ICMPv6 type 136, flags
    // Override only (not solicited, not a router), target 2001:db8::100.
    let target: std::net::Ipv6Addr = VIP6.parse().unwrap();
    let mut na = vec![0x20, 0, 0, 0];
    na.extend_from_slice(&target.octets());
    let adverts = seen
        .windows(na.len() + 4)
        .filter(|w| w[0] == 136 && w[1] == 0 && w[4..] == na[..])
        .count();
    assert!(
        adverts >= 1,
        "no neighbour advertisement of {VIP6} seen by the client ({} bytes captured)",
        seen.len()
    );
    assert!(holds_vip6(&c, "alpha") && !holds_vip6(&c, "beta"));
    eprintln!("IPv6 client outage: crash {crash:?}, planned move {planned:?}");
    // Without the advertisement the client would wait for neighbour unreachability
    // detection (seconds) after the planned move.
    assert!(planned < Duration::from_secs(1), "{planned:?}");
    assert_eq!(probe.answered_by(t1), vec!["beta", "alpha"]);
}

#[test]
fn a_pair_whose_only_links_are_ipv6_hears_each_other_and_moves_a_service() {
    let config = ns_config("100ms", &web_service(""))
        .replace("ip1 = 198.51.100.1", "ip1 = fd00:51::1")
        .replace("ip2 = 198.51.100.2", "ip2 = fd00:51::2");
    let c = NsCluster::new(&config);
    c.topo.add_ipv6();
    c.start();
    let status = c.alpha.ok(&["status"]);
    assert!(status.contains("LINK priv socket OK"), "{status}");
    assert!(
        c.alpha
            .log()
            .contains("listening on [fd00:51::1]:3000, peer [fd00:51::2]:3000"),
        "{}",
        c.alpha.log()
    );
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c.beta.ok(&["service", "takeover", "web"]);
    c.wait_words("web", "STANDBY", "ACTIVE", T);
    // The public network IPv6 alone: its check asks the peer there.
    for (node, addr) in [("alpha", "192.0.2.1/24"), ("beta", "192.0.2.2/24")] {
        let out = std::process::Command::new("ip")
            .args([
                "-n",
                &c.topo.node_ns(node),
                "addr",
                "del",
                addr,
                "dev",
                "eth0",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    std::thread::sleep(Duration::from_secs(1));
    // The private link's cable goes: the peer still answers on the public network (over
    // IPv6), so it is a partition, and nothing moves.
    c.topo.set_link("alpha", "priv0", false);
    c.beta.wait_for("the partition", T, || {
        c.beta.ok(&["status"]).contains("CLUSTER PARTITIONED")
    });
    assert_eq!(c.beta.ok(&["privnet", "state", "priv"]).trim(), "ERR");
    assert!(
        !c.beta.log().contains("peer alpha is down"),
        "{}",
        c.beta.log()
    );
    assert!(
        !c.alpha.log().contains("peer beta is down"),
        "{}",
        c.alpha.log()
    );
    c.topo.set_link("alpha", "priv0", true);
    c.beta.wait_for("the link back", T, || {
        c.beta.ok(&["privnet", "state", "priv"]).trim() == "OK"
    });
    assert_eq!(c.words("web"), ("STANDBY".into(), "ACTIVE".into()));
}
