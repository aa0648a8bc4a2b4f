//! A node that left with QUIT: its services run on unwatched, and the peer moves only what
//! an administrator tells it to.

use super::super::sim::*;
use super::super::PeerStatus;

#[test]
fn a_take_over_while_the_peer_left_its_services_running_moves_that_service_alone() {
    let mut s = Sim::new(&config_text(&(service("web", "") + &service("db", ""))));
    s.run(300);
    for svc in ["web", "db"] {
        s.command(ALPHA, &format!("service bringin {svc}"), None);
    }
    s.run(2000);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    assert_eq!(s.running_on("db"), vec!["alpha"]);
    s.quit(ALPHA);
    s.run(2000);
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Frozen);
    // The administrator says web stopped there (it did not: the sim keeps it running, as
    // alpha's host does) and takes it over: web starts on beta, db does not.
    s.command(BETA, "service takeover web", None);
    s.run(3000);
    assert!(s.running_on("web").contains(&"beta"));
    assert_eq!(s.running_on("db"), vec!["alpha"], "db moved too");
    assert_eq!(s.engines[BETA].peer_status(), PeerStatus::Frozen);
    // alpha's SureHA back: web stays on beta (the newer intent), db on alpha.
    s.restart(ALPHA);
    s.run(5000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(s.running_on("db"), vec!["alpha"]);
}
