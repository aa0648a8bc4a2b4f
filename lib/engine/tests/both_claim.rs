//! The both-claim alarm: both nodes ran a service while deaf to each other; once they hear
//! each other again both say so and one copy stops.

use super::two_nodes::cluster;
use crate::engine::sim::*;

/// Every private frame and the public network lost until each node, taking the other for
/// dead, runs web.
fn both_run_it_deaf(s: &mut Sim) {
    s.cut = true;
    for d in 0..2 {
        s.paths[1][d].up = false;
    }
    s.run(600);
    assert_eq!(s.running_on("web"), vec!["alpha", "beta"]);
}

#[test]
fn both_nodes_running_a_service_raises_the_alarm_on_both_and_one_stops() {
    let mut s = cluster("");
    s.run(500);
    let alarms = |s: &Sim, n: usize| {
        s.log(n)
            .iter()
            .filter(|l| l.contains("BOTH NODES RUN IT"))
            .count()
    };
    assert_eq!(
        (alarms(&s, ALPHA), alarms(&s, BETA)),
        (0, 0),
        "no alarm while one runs it"
    );
    both_run_it_deaf(&mut s);
    s.cut = false;
    for d in 0..2 {
        s.paths[1][d].up = true;
    }
    s.run(600);
    for n in [ALPHA, BETA] {
        let line = s
            .log(n)
            .iter()
            .find(|l| l.contains("BOTH NODES RUN IT"))
            .unwrap_or_else(|| panic!("{}: {:?}", NAMES[n], s.log(n)));
        assert!(line.contains("sequence"), "the evidence: {line}");
        assert!(line.contains("stops"), "the resolution: {line}");
    }
    assert_eq!(s.running_on("web").len(), 1);
    assert!(s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("runs on one node again")));
    // Raised once an episode, not at every beat.
    s.run(1000);
    assert_eq!((alarms(&s, ALPHA), alarms(&s, BETA)), (1, 1));
}

#[test]
fn the_node_that_stops_its_copy_before_the_peer_heard_it_run_still_tells_it() {
    // Healed one way first: one node hears the other, raises the alarm and stops its copy
    // before its own frames get through. The other must still hear of the episode.
    for first in [ALPHA, BETA] {
        let mut s = cluster("");
        s.run(500);
        both_run_it_deaf(&mut s);
        // Only the other node's frames reach `first`, long enough for a stop to end.
        s.cut = false;
        s.paths[0][first].up = false;
        s.paths[1][1 - first].up = true;
        s.run(1500);
        s.paths[0][first].up = true;
        s.paths[1][first].up = true;
        s.run(1500);
        for n in [ALPHA, BETA] {
            assert!(
                s.log(n).iter().any(|l| l.contains("BOTH NODES RUN IT")),
                "{} heard first; {} never raised the alarm: {:?}",
                NAMES[first],
                NAMES[n],
                s.log(n)
            );
        }
        assert_eq!(s.running_on("web").len(), 1);
        for n in [ALPHA, BETA] {
            assert!(
                s.log(n)
                    .iter()
                    .any(|l| l.contains("runs on one node again")),
                "{}: {:?}",
                NAMES[n],
                s.log(n)
            );
        }
    }
}
