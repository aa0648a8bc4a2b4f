//! The engine with link processes that repeat its beat and pass up only news (`link::relay`,
//! as `sim::relay` plays them): an idle pair hardly wakes its engines, and nothing it used
//! to see on every beat is lost.

use super::super::sim::*;
use super::super::PeerStatus;

fn pair() -> Sim {
    // Addresses, so that each node knows where to ask the other on the public network.
    let mut s = Sim::new(&config_text(&service(
        "web",
        "active_nic = eth0\nstandby_nic = eth0\nactive_ip = 192.0.2.100\n",
    )));
    s.run(300);
    s.command(ALPHA, "service bringin web", None);
    s.run(2000);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    s
}

#[test]
fn an_idle_pair_repeats_its_beats_on_the_link_and_its_engines_hear_almost_nothing() {
    let mut s = pair();
    let before = [s.link_frames(ALPHA), s.link_frames(BETA)];
    let public = [s.public_frames(ALPHA), s.public_frames(BETA)];
    s.run(10_000);
    for n in [ALPHA, BETA] {
        let (sent, passed) = s.link_frames(n);
        // 100 ms beats: about a hundred on the wire in 10 s, by the link process alone.
        assert!(
            sent - before[n].0 >= 95,
            "{} sent {}",
            NAMES[n],
            sent - before[n].0
        );
        // The agent's reports change nothing in the beat; nothing goes up.
        assert!(
            passed - before[n].1 <= 2,
            "{} passed up {}",
            NAMES[n],
            passed - before[n].1
        );
        assert_eq!(s.public_frames(n), public[n], "the public network is quiet");
        assert_eq!(s.engines[n].peer_status(), PeerStatus::Up);
    }
    // Still every change goes at once, and the peer acts on it.
    s.command(ALPHA, "service failover web", Some("f"));
    s.run(300);
    assert_eq!(s.running_on("web"), vec!["beta"]);
}

#[test]
fn a_crash_is_still_seen_within_the_links_deadline() {
    let mut s = pair();
    s.run(1000);
    let t0 = s.now;
    s.crash(ALPHA);
    // Silence: beta's link says "late" after 150 ms, beta asks over the public network
    // (nobody answers), and at 300 ms the link is down: beta takes over.
    s.run(300 + 50);
    assert_eq!(
        s.engines[BETA].peer_status(),
        PeerStatus::Down,
        "at {}",
        s.now - t0
    );
    assert!(
        s.public_frames(BETA) > 0,
        "beta asked over the public network first"
    );
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
}

/// `pair()` whose private link is a direct cable on a NIC of its own (priv0).
fn cabled_pair() -> Sim {
    let mut s = pair();
    s.direct_cable = true;
    for n in [ALPHA, BETA] {
        s.set_nic(n, true);
    }
    s.run(1000);
    s
}

#[test]
fn a_peer_that_loses_power_takes_the_carrier_and_is_taken_over_without_waiting_for_silence() {
    let mut s = cabled_pair();
    let t0 = s.now;
    s.crash(ALPHA);
    // The carrier goes with alpha; beta asks over the public network, nobody answers
    // within 50 ms: alpha is down long before the link's 300 ms.
    s.run(70);
    assert_eq!(
        s.engines[BETA].peer_status(),
        PeerStatus::Down,
        "at {}: {:#?}",
        s.now - t0,
        s.log(BETA).iter().rev().take(10).collect::<Vec<_>>()
    );
    assert!(
        s.log(BETA)
            .iter()
            .any(|l| l.contains("lost power or crashed")),
        "{:#?}",
        s.log(BETA)
    );
    s.run(100);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    // alpha back: the cable carries frames again, and the peer is up.
    s.boot(ALPHA);
    s.run(3000);
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Up);
    assert_eq!(s.engines[ALPHA].peer_status(), PeerStatus::Up);
    assert_eq!(s.running_on("web"), vec!["beta"]);
}

#[test]
fn a_pulled_cable_while_the_peer_answers_on_the_public_network_moves_nothing() {
    let mut s = cabled_pair();
    s.pull_cable(true);
    s.run(70);
    for n in [ALPHA, BETA] {
        assert_eq!(s.engines[n].peer_status(), PeerStatus::Up, "{}", NAMES[n]);
        assert!(
            s.log(n)
                .iter()
                .any(|l| l.contains("a cable or port failed; nothing moves")),
            "{:#?}",
            s.log(n)
        );
    }
    s.run(3000);
    for n in [ALPHA, BETA] {
        assert_eq!(s.engines[n].peer_status(), PeerStatus::Partitioned);
    }
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    s.pull_cable(false);
    s.run(1000);
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Up);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    // A carrier that comes back, or a NIC report with no carrier lost, asks nothing.
    s.set_nic(BETA, true);
    let asked = s
        .log(BETA)
        .iter()
        .filter(|l| l.contains("asking alpha"))
        .count();
    assert_eq!(asked, 1, "{:#?}", s.log(BETA));
}

#[test]
fn a_carrier_question_judged_late_is_asked_again_not_taken_for_an_answer_never_given() {
    // beta asks when the cable goes, then its hasvrd stands still for 200 ms (not long
    // enough to count as a stall): the answer waits unread behind the pass that judges.
    let mut s = cabled_pair();
    s.pull_cable(true);
    let t = s.now;
    s.hang(BETA, t + 200);
    s.run(400);
    for n in [ALPHA, BETA] {
        assert!(
            !s.log(n).iter().any(|l| l.contains("lost power")),
            "{}: {:#?}",
            NAMES[n],
            s.log(n)
        );
    }
    assert_eq!(s.running_on("web"), vec!["alpha"]);
}

#[test]
fn a_pulled_cable_with_the_public_network_cut_too_is_judged_as_silence_is() {
    // Both nodes see no carrier and no answer: each takes the other for dead, at once,
    // as a full partition without a tie-breaker does after the links' silence.
    let mut s = cabled_pair();
    s.paths[1] = [Path {
        up: false,
        ..Path::default()
    }; 2];
    s.pull_cable(true);
    s.run(70);
    for n in [ALPHA, BETA] {
        assert_eq!(s.engines[n].peer_status(), PeerStatus::Down, "{}", NAMES[n]);
    }
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["alpha", "beta"]);
    // The cable back and out again before a frame came: said, but nobody to ask (the peer
    // counts as down already).
    let asked = |s: &Sim| {
        s.log(BETA)
            .iter()
            .filter(|l| l.contains("asking alpha over the public network"))
            .count()
    };
    let before = asked(&s);
    s.pull_cable(false);
    assert_eq!(
        s.log(BETA).last().map(String::as_str),
        Some("link lan: carrier back")
    );
    s.pull_cable(true);
    assert_eq!(
        s.log(BETA).last().map(String::as_str),
        Some("link lan: no carrier")
    );
    assert_eq!(asked(&s), before);
    // Healed: the peers meet again and one copy stops.
    s.paths[1] = [Path::default(); 2];
    s.pull_cable(false);
    s.run(5000);
    assert_eq!(s.running_on("web").len(), 1, "{:?}", s.running_on("web"));
}

#[test]
fn a_private_link_lost_one_way_is_answered_over_the_public_network_and_nothing_moves() {
    let mut s = pair();
    s.run(1000);
    // alpha → beta lost on the private link only: beta hears nothing there; alpha still
    // hears beta's beats, so only beta asks, and alpha must answer for beta to know.
    s.paths[0][ALPHA].up = false;
    s.run(3000);
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Partitioned);
    assert_eq!(
        s.running_on("web"),
        vec!["alpha"],
        "nothing moved: {:#?}",
        s.trace.iter().rev().take(40).collect::<Vec<_>>()
    );
    assert!(
        s.public_frames(ALPHA) > 0,
        "alpha answered on the public network"
    );
    s.paths[0][ALPHA].up = true;
    s.run(1000);
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Up);
    // Back to quiet: no more public beats once the link carries them again.
    let public = [s.public_frames(ALPHA), s.public_frames(BETA)];
    s.run(3000);
    assert_eq!([s.public_frames(ALPHA), s.public_frames(BETA)], public);
}

#[test]
fn a_node_that_takes_the_peers_configuration_reads_the_peers_last_beat_again() {
    // beta creates a service; alpha takes the configuration. alpha's own beat does not
    // change afterwards, so beta must not need another copy of it to see alpha's view.
    let mut s = Sim::new(&config_text(""));
    s.run(300);
    s.command(
        BETA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        None,
    );
    s.run(1500);
    s.command(BETA, "service bringin db", None);
    s.run(1000);
    assert_eq!(s.running_on("db"), vec!["beta"]);
    assert_eq!(s.word(ALPHA, "db"), "STANDBY");
    assert_eq!(s.word(BETA, "db"), "ACTIVE");
}
