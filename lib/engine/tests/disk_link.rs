//! Two engines with a disk link: cut off from everything, a node gives its services up
//! before the peer takes them; on the disk alone, nothing moves.

use super::two_nodes::words;
use crate::engine::sim::*;

const DISK_LINK: &str = "\n[privnet disk]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/lease\ndevice2 = /dev/lease\ninterval = 100ms\nmaxmiss = 3\n";

/// Two nodes with a disk link, web (no volumes) asked into protection on alpha.
fn web_with_disk_link() -> Sim {
    let mut s = Sim::new(&config_text(&format!("{DISK_LINK}{}", service("web", ""))));
    s.run(100);
    s.command(ALPHA, "service bringin web", Some("in"));
    s
}

/// When a logged line first appeared on a node.
fn first_log(s: &Sim, n: usize, what: &str) -> Option<crate::clock::Millis> {
    let name = NAMES[n];
    s.trace.iter().find_map(|l| {
        let (t, rest) = l.split_once(' ')?;
        (rest.starts_with(&format!("{name} log")) && rest.contains(what)).then(|| t.parse().ok())?
    })
}

#[test]
fn a_node_its_peer_hears_by_no_path_gives_up_every_service_before_the_peer_takes_them() {
    // A service without volumes: only the disk link breaks the tie.
    let mut s = web_with_disk_link();
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    // alpha loses the disk and every link: alive, but cut off from everything.
    let cut = s.now;
    s.cut = true;
    s.set_disk_path(ALPHA, false);
    s.run(5000);
    // The simulator checked after every step that web never ran on both (invariant 10).
    assert_eq!(s.running_on("web"), vec!["beta"], "{}", s.trace.join("\n"));
    let gave_up = first_log(
        &s,
        ALPHA,
        "service web: stopping here (beta hears this node by no path",
    )
    .expect("alpha gives web up");
    let stopped = first_log(&s, ALPHA, "service web: stopped here").unwrap();
    let took = first_log(&s, BETA, "service web: starting here").unwrap();
    assert!(
        gave_up < stopped && stopped < took,
        "{gave_up} {stopped} {took}"
    );
    // beta waited a lease (3 × 300 ms) and a beat after alpha fell silent (a beat before
    // the cut, plus the silence limit).
    assert!(
        took >= cut + 300 + 900,
        "beta took web {}ms after the cut",
        took - cut
    );
    // Back in touch: alpha stands by, web stays on beta.
    s.cut = false;
    s.set_disk_path(ALPHA, true);
    s.run(3000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
}

#[test]
fn a_node_that_still_reaches_the_disk_keeps_its_services_when_every_network_link_is_cut() {
    let mut s = web_with_disk_link();
    s.run(1000);
    s.cut = true;
    s.run(5000);
    assert_eq!(s.running_on("web"), vec!["alpha"], "{}", s.trace.join("\n"));
    assert!(first_log(&s, ALPHA, "by no path").is_none());
}

#[test]
fn at_rest_a_tick_a_lease_renewal_and_a_repeated_beat_make_no_pass_and_news_does() {
    use crate::engine::Input;
    let mut s = web_with_disk_link();
    s.run(3000);
    let e = &mut s.engines[BETA];
    let now = e.now + 1;
    assert!(
        now < e.pace.quiet_until,
        "at rest until {}",
        e.pace.quiet_until
    );
    let held = e
        .peer
        .view
        .as_ref()
        .map(|p| (p.boot, p.seq, p.payload.clone()));
    let (boot, seq, payload) = held.expect("alpha's beat");
    let passes = e.passes;
    e.handle(now, Input::Tick);
    e.handle(
        now,
        Input::LeaseRenewed {
            link: "disk".into(),
            took: 1,
        },
    );
    let again = |seq| Input::Frame {
        link: "lan".into(),
        boot,
        seq,
        payload: payload.clone(),
    };
    e.handle(now, again(seq + 1));
    assert_eq!(e.passes, passes, "routine inputs make no pass");
    // A message that is not a beat (a report) is news: it makes a pass.
    let report = crate::frame::Message::Report {
        sender: "alpha".into(),
        text: "READY web yes".into(),
    }
    .encode();
    e.handle(
        now,
        Input::Frame {
            link: "lan".into(),
            boot,
            seq: seq + 2,
            payload: report,
        },
    );
    assert_eq!(e.passes, passes + 1, "a report is news");
}
