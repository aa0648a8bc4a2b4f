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
