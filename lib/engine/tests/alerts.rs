//! Alerts on two engines: which node tells which event, in which words.

use super::two_nodes::{cluster, ok};
use crate::engine::sim::*;

const ALERTS: &str = "\n[alert all]\nprogram = /usr/local/bin/tell\n";

/// The alerts told on node `n`, by event word and service.
fn told(s: &Sim, n: usize) -> Vec<String> {
    s.alerts(n)
        .iter()
        .map(|a| a.split(':').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn alerts_tell_each_node_its_side_of_a_crash_a_failure_and_a_switch_back() {
    let mut s = Sim::new(&format!(
        "{}{ALERTS}",
        config_text(&service("web", "switchback = yes\nrestart_times = 0\n"))
    ));
    s.run(100);
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(100);
    ok(&s, ALPHA, "in");
    assert_eq!(told(&s, ALPHA), ["node-up "], "bringing in is not an event");
    assert_eq!(told(&s, BETA), ["node-up "]);

    s.crash(ALPHA);
    s.run(400);
    assert_eq!(told(&s, BETA)[1..], ["node-down ", "takeover web"]);
    // The description is the log line, word for word.
    for a in s.alerts(BETA) {
        let desc = a.split_once(": ").map_or("", |x| x.1);
        assert!(s.log(BETA).iter().any(|l| l == desc), "{a}");
    }
    assert!(
        s.alerts(BETA)[2].ends_with("taking it over: alpha is down"),
        "{:?}",
        s.alerts(BETA)
    );

    s.boot(ALPHA);
    s.run(1500);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    assert_eq!(told(&s, BETA)[3..], ["node-up ", "switchback web"]);
    assert_eq!(told(&s, ALPHA), ["node-up ", "switchback web"]);

    s.sick.push((ALPHA, "web".into()));
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(told(&s, ALPHA)[2..], ["error web", "failover web"]);
    assert_eq!(told(&s, BETA)[5..], ["takeover web"]);
    assert!(s.alerts(BETA)[5].ends_with("taking it over: alpha cannot run it"));
}

#[test]
fn a_move_asked_on_one_node_is_told_on_the_other_as_asked_not_as_a_failure() {
    let mut s = Sim::new(&format!("{}{ALERTS}", config_text(&service("web", ""))));
    s.run(100);
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(100);
    ok(&s, ALPHA, "in");
    s.command(BETA, "service takeover web", Some("take"));
    s.run(300);
    ok(&s, BETA, "take");
    assert_eq!(s.running_on("web"), vec!["beta"]);
    let last = |s: &Sim, n| s.alerts(n).last().cloned().unwrap_or_default();
    assert!(
        last(&s, ALPHA).ends_with("failing over to beta: beta asks for it"),
        "{:?}",
        s.alerts(ALPHA)
    );
    s.command(BETA, "service failover web", Some("give"));
    s.run(300);
    ok(&s, BETA, "give");
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    assert!(
        last(&s, ALPHA).ends_with("taking it over: beta hands it over"),
        "{:?}",
        s.alerts(ALPHA)
    );
}

#[test]
fn alerts_are_made_only_for_the_events_some_section_wants() {
    let only = "\n[alert pager]\nprogram = /usr/local/bin/tell\nevents = node-down\n";
    let mut s = Sim::new(&format!("{}{only}", config_text(&service("web", ""))));
    s.run(100);
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(100);
    s.crash(ALPHA);
    s.run(400);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(told(&s, BETA), ["node-down "]);
    assert_eq!(s.alerts(ALPHA), Vec::<String>::new());
    let mut s = cluster("");
    s.crash(ALPHA);
    s.run(400);
    assert!(s.alerts(BETA).is_empty(), "no [alert]: no alert actions");
}
