//! Two engines on the simulated network, scenario by scenario.

use crate::engine::sim::*;
use crate::request::Status;

pub(super) fn ok(s: &Sim, n: usize, to: &str) {
    match s.reply(n, to) {
        Some(r) if r.status == Status::Ok => {}
        other => panic!(
            "reply {to} on {}: {other:?}\n{}",
            NAMES[n],
            s.trace.join("\n")
        ),
    }
}

pub(super) fn words(s: &Sim, svc: &str) -> (&'static str, &'static str) {
    (s.word(ALPHA, svc), s.word(BETA, svc))
}

/// Two nodes, web brought in on alpha and running there.
pub(super) fn cluster(extra: &str) -> Sim {
    let mut s = Sim::new(&config_text(&service("web", extra)));
    s.run(100);
    assert_eq!(s.engines[0].peer_status(), super::super::PeerStatus::Up);
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(100);
    ok(&s, ALPHA, "in");
    assert_eq!(words(&s, "web"), ("ACTIVE", "STANDBY"));
    s
}

#[test]
fn bring_in_on_the_standby_starts_it_on_the_active_server() {
    let mut s = Sim::new(&config_text(&service("web", "")));
    s.run(100);
    s.command(BETA, "service bringin web", Some("in"));
    s.run(100);
    ok(&s, BETA, "in");
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    assert_eq!(words(&s, "web"), ("ACTIVE", "STANDBY"));
    s.command(BETA, "service bringout web", Some("out"));
    s.run(100);
    ok(&s, BETA, "out");
    assert_eq!(words(&s, "web"), ("OUTACT", "OUTSTB"));
    assert!(s.running_on("web").is_empty());
}

#[test]
fn planned_moves_stop_first_then_start_and_swap_roles() {
    let mut s = cluster("");
    s.command(ALPHA, "service failover web", Some("fo"));
    s.run(100);
    ok(&s, ALPHA, "fo");
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
    // The stop on alpha ended before the start on beta began (the invariant checked every
    // tick says never both; the trace says the order).
    let stop = s
        .trace
        .iter()
        .position(|l| l.contains("alpha web StopScript"))
        .unwrap();
    let start = s
        .trace
        .iter()
        .position(|l| l.contains("beta web StartScript"))
        .unwrap();
    assert!(stop < start);
    s.command(ALPHA, "service takeover web", Some("to"));
    s.run(100);
    ok(&s, ALPHA, "to");
    assert_eq!(words(&s, "web"), ("ACTIVE", "STANDBY"));
    // Refusals say why.
    s.command(BETA, "service failover web", Some("bad"));
    assert!(
        matches!(s.reply(BETA, "bad").map(|r| r.status), Some(Status::Err(m)) if m.contains("does not run here (STANDBY)"))
    );
}

#[test]
fn a_service_handed_over_by_a_stopping_peer_says_so_where_it_starts() {
    let mut s = cluster("switchback = yes\n");
    s.command(ALPHA, "stop", Some("stop"));
    s.run(200);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert!(
        s.log(BETA)
            .iter()
            .any(|l| l == "service web: starting here (alpha is stopping: taking it over)"),
        "{:?}",
        s.log(BETA)
    );
}

#[test]
fn an_orderly_stop_hands_every_service_over_at_once() {
    let mut s = cluster("");
    s.command(ALPHA, "stop", Some("stop"));
    // Well within the 300 ms a silent peer takes to be declared down.
    s.run(200);
    assert_eq!(s.running_on("web"), vec!["beta"], "{}", s.trace.join("\n"));
    assert!(s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("handed over to beta")));
    assert!(!s.log(BETA).iter().any(|l| l.contains("peer alpha is down")));
    assert_eq!(
        s.word(BETA, "web"),
        "ACTIVE",
        "without switchback the roles swap"
    );
    s.run(500);
    assert!(s.log(BETA).iter().any(|l| l.contains("peer alpha left")));
    assert!(!s.log(BETA).iter().any(|l| l.contains("peer alpha is down")));
}

#[test]
fn a_crashed_node_is_replaced_and_without_switchback_the_roles_stay_swapped() {
    let mut s = cluster("");
    s.crash(ALPHA);
    s.run(400);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(s.word(BETA, "web"), "ACTIVEACT");
    assert!(s.log(BETA).iter().any(|l| l.contains("peer alpha is down")));
    // The takeover is timed from the peer's last frame: detection comes first (the line
    // is complete at the agent's first report).
    s.run(600);
    assert!(
        s.log(BETA)
            .iter()
            .any(|l| l.starts_with("MOVE web in (protected, and the peer is down): detection 3")),
        "{:?}",
        s.log(BETA)
    );
    s.boot(ALPHA);
    s.run(1500);
    assert_eq!(s.running_on("web"), vec!["beta"], "no switchback");
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
}

#[test]
fn with_switchback_the_service_returns_to_its_active_server() {
    let mut s = cluster("switchback = yes\n");
    s.crash(ALPHA);
    s.run(400);
    assert_eq!(s.word(BETA, "web"), "ACTIVEACT");
    // alpha stays its primary: beta says whose it takes.
    assert!(
        s.log(BETA)
            .iter()
            .any(|l| l == "service web: starting here (alpha is down: taking it over)"),
        "{:?}",
        s.log(BETA)
    );
    s.boot(ALPHA);
    s.run(1500);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    assert_eq!(words(&s, "web"), ("ACTIVE", "STANDBY"));
}

#[test]
fn a_failed_service_goes_to_the_peer_and_comes_back_by_hand() {
    let mut s = cluster("restart_times = 1\n");
    s.sick.push((ALPHA, "web".into()));
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(words(&s, "web"), ("ERRORACT", "ACTIVEACT"));
    assert_eq!(
        s.steps(ALPHA)
            .iter()
            .filter(|(_, st)| *st == super::super::Step::StartScript)
            .count(),
        2,
        "one local restart first"
    );
    s.sick.clear();
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(200);
    ok(&s, ALPHA, "in");
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
    s.command(ALPHA, "service takeover web", Some("to"));
    s.run(200);
    ok(&s, ALPHA, "to");
    assert_eq!(words(&s, "web"), ("ACTIVE", "STANDBY"));
}

#[test]
fn services_of_a_group_move_together() {
    let text = config_text(
        &(service("web", "groupid = g\n") + &service("db", "groupid = g\n") + &service("solo", "")),
    );
    let mut s = Sim::new(&text);
    s.run(100);
    for svc in ["web", "db", "solo"] {
        s.command(ALPHA, &format!("service bringin {svc}"), None);
    }
    s.run(200);
    assert_eq!(
        (s.running_on("web"), s.running_on("db")),
        (vec!["alpha"], vec!["alpha"])
    );
    s.command(ALPHA, "service failover web", Some("fo"));
    s.run(200);
    ok(&s, ALPHA, "fo");
    assert_eq!(
        (
            s.running_on("web"),
            s.running_on("db"),
            s.running_on("solo")
        ),
        (vec!["beta"], vec!["beta"], vec!["alpha"])
    );
    s.sick.push((BETA, "db".into()));
    s.run(1000);
    assert_eq!(
        (s.running_on("web"), s.running_on("db")),
        (vec!["alpha"], vec!["alpha"]),
        "db failed on beta: the whole group moves"
    );
    assert_eq!(s.word(BETA, "db"), "ERRORACT");
    assert_eq!(s.word(BETA, "web"), "STANDBY");
}

#[test]
fn a_configuration_too_big_for_one_frame_reaches_the_peer_in_pieces() {
    // 300 KB of comments: five times what one frame carries.
    let big = format!(
        "{}{}",
        config_text(""),
        "# padding padding padding\n".repeat(12_000)
    );
    assert!(big.len() > 4 * crate::frame::MAX_PAYLOAD);
    let mut s = Sim::new(&big);
    s.run(100);
    s.command(
        BETA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c"),
    );
    s.run(500);
    ok(&s, BETA, "c");
    assert!(s.engines[ALPHA].config().service("db").is_some());
    assert!(s.engines[ALPHA]
        .status_text()
        .contains("CONFIG generation=2 SAME"));
}

#[test]
fn configuration_changes_reach_the_peer() {
    let mut s = Sim::new(&config_text(""));
    s.run(100);
    s.command(
        BETA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c"),
    );
    s.run(100);
    ok(&s, BETA, "c");
    assert!(
        s.engines[ALPHA].config().service("db").is_some(),
        "alpha took beta's newer configuration"
    );
    assert!(s.engines[ALPHA]
        .status_text()
        .contains("CONFIG generation=2 SAME"));
    assert_eq!(words(&s, "db"), ("OUTSTB", "OUTACT"));
    s.command(ALPHA, "service remove db", Some("r"));
    s.run(100);
    ok(&s, ALPHA, "r");
    assert!(s.engines[BETA].config().service("db").is_none());
}

#[test]
fn a_flapping_node_gets_the_service_back_only_when_calm_and_not_too_often() {
    let mut s = cluster("switchback = yes\nswitchback_delay = 1s\nswitchback_max = 2\n");
    let back_after_crash = |s: &mut Sim| {
        s.crash(ALPHA);
        s.run(400);
        assert_eq!(s.running_on("web"), vec!["beta"]);
        s.boot(ALPHA);
    };
    back_after_crash(&mut s);
    s.run(700);
    assert_eq!(s.running_on("web"), vec!["beta"], "alpha up for 0.7s of 1s");
    s.run(800);
    assert_eq!(s.running_on("web"), vec!["alpha"], "{}", s.trace.join("\n"));
    // Back, dies before the second is up, back again: the second counts from the return.
    back_after_crash(&mut s);
    s.run(600);
    back_after_crash(&mut s);
    s.run(700);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    s.run(800);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    // A third return within the hour: switchback_max = 2 keeps it on beta.
    back_after_crash(&mut s);
    s.run(3000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert!(
        s.log(BETA).iter().any(|l| l.contains(
            "stays on beta: 2 switch-backs to alpha in the last hour reached switchback_max = 2"
        )),
        "{:?}",
        s.log(BETA)
    );
    assert!(s
        .log(BETA)
        .iter()
        .any(|l| l.contains("switches back once alpha has been able to run it for 1s")));
    // The administrator moves it back; that is not a switch-back and resets the count.
    s.command(ALPHA, "service takeover web", Some("to"));
    s.run(300);
    ok(&s, ALPHA, "to");
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    back_after_crash(&mut s);
    s.run(1500);
    assert_eq!(s.running_on("web"), vec!["alpha"], "switching back again");
}

fn facts(svc: &str, stop_digest: Result<(String, bool), String>) -> crate::engine::LocalFacts {
    use crate::engine::{FileFact, LocalFacts};
    let f = |role, path: &str, digest| FileFact {
        service: svc.into(),
        role,
        name: path.rsplit('/').next().unwrap_or(path).into(),
        path: path.into(),
        digest,
        must_execute: true,
    };
    LocalFacts {
        files: vec![
            f("start script", "/ha/bin/a", Ok(("00aa".into(), true))),
            f("stop script", "/ha/bin/b", stop_digest),
        ],
        devices: vec![],
    }
}

#[test]
fn readiness_and_drift_travel_between_the_nodes() {
    use crate::engine::Input;
    let mut s = cluster("");
    let same = || Ok(("00bb".to_string(), true));
    s.input(ALPHA, Input::Readiness(facts("web", same())));
    s.input(BETA, Input::Readiness(facts("web", same())));
    s.run(300);
    let st = s.engines[ALPHA].status_text();
    assert!(
        st.contains("READY web alpha yes\nREADY web beta yes\n"),
        "{st}"
    );
    assert!(!st.contains("DRIFT"));
    // The stop script gone on the standby: no there, and a WARNING there.
    s.input(
        BETA,
        Input::Readiness(facts("web", Err("is missing".into()))),
    );
    s.run(300);
    let st = s.engines[ALPHA].status_text();
    assert!(
        st.contains("READY web beta no stop script /ha/bin/b is missing"),
        "{st}"
    );
    assert!(s
        .log(BETA)
        .iter()
        .any(|l| l
            .contains("web: this node is not ready to run it: stop script /ha/bin/b is missing")));
    // Back, but different: drift on both, and the standby is not ready.
    s.input(
        BETA,
        Input::Readiness(facts("web", Ok(("00cc".into(), true)))),
    );
    s.run(300);
    for n in [ALPHA, BETA] {
        let st = s.engines[n].status_text();
        assert!(st.contains("DRIFT web "), "{st}");
        assert!(st.contains("stop script: b"), "{st}");
        assert!(
            st.contains("READY web beta no stop script: b differs from alpha's"),
            "{st}"
        );
        assert!(st.contains("READY web alpha yes"), "{st}");
    }
    s.input(BETA, Input::Readiness(facts("web", same())));
    s.run(300);
    assert!(s.engines[ALPHA]
        .status_text()
        .contains("READY web beta yes"));
    assert!(s
        .log(BETA)
        .iter()
        .any(|l| l.contains("this node is ready to run it again")));
}

fn why(s: &mut Sim, n: usize) -> String {
    let to = format!("why{}", s.now);
    s.command(n, "why web", Some(&to));
    match s.reply(n, &to) {
        Some(r) if r.status == Status::Ok => r.body,
        other => panic!("why on {}: {other:?}", NAMES[n]),
    }
}

#[test]
fn why_answers_with_the_engines_own_reasoning() {
    // An address, so that the nodes know each other's on the public network.
    let mut s = cluster("active_nic = eth0\nstandby_nic = eth0\nactive_ip = 192.0.2.100\n");
    let b = why(&mut s, BETA);
    assert!(
        b.starts_with("take over\nbecause: protected, and the peer is down\n"),
        "{b}"
    );
    assert!(
        b.contains("clients would wait 300ms of silence to notice"),
        "{b}"
    );
    assert!(b.contains("link lan (socket): OK"), "{b}");
    assert!(b.contains("lock: not locked"), "{b}");
    assert!(b.contains("state here: STANDBY, protected"), "{b}");
    assert!(why(&mut s, ALPHA).starts_with("keep it: it runs here\n"));
    // Asking changed nothing: the copy of the engine decided, not the engine.
    s.run(200);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    // Every private link cut, the public network still there: a partition.
    s.cut = true;
    s.run(600);
    let b = why(&mut s, BETA);
    assert!(
        b.starts_with("not: peer answers on the public network\n"),
        "{b}"
    );
    assert!(b.contains("a partition, so nothing moves"), "{b}");
    s.cut = false;
    s.run(600);
    // In ERROR on the standby: not there.
    s.command(ALPHA, "service failover web", None);
    s.run(300);
    s.sick.push((BETA, "web".into()));
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    let b = why(&mut s, BETA);
    assert!(
        b.starts_with("not: it, or a service of its group, failed here\n"),
        "{b}"
    );
    assert!(b.contains("last move here: web "), "{b}");
    s.command(BETA, "why nosuch", Some("x"));
    assert!(
        matches!(s.reply(BETA, "x").map(|r| r.status), Some(Status::Err(m)) if m.contains("no service named 'nosuch'"))
    );
}

#[test]
fn a_copy_too_many_stops_even_while_only_the_public_network_joins_the_nodes() {
    let mut s = cluster("active_nic = eth0\nstandby_nic = eth0\nactive_ip = 192.0.2.100\n");
    s.cut = true;
    for d in 0..2 {
        s.paths[1][d].up = false;
    }
    s.run(600);
    assert_eq!(s.running_on("web"), vec!["alpha", "beta"]);
    // The public network back, every private link still cut: a partition, where nothing
    // starts, but the copy the agreed intent does not want stops.
    for d in 0..2 {
        s.paths[1][d].up = true;
    }
    s.run(1500);
    assert_eq!(
        s.engines[ALPHA].peer_status(),
        super::super::PeerStatus::Partitioned
    );
    assert_eq!(s.running_on("web"), vec!["beta"], "{}", s.trace.join("\n"));
    for n in [ALPHA, BETA] {
        assert!(
            s.log(n).iter().any(|l| l.contains("BOTH NODES RUN IT")),
            "{:?}",
            s.log(n)
        );
    }
    assert!(s.log(ALPHA).iter().any(
        |l| l.contains("stopping here (both nodes ran it; it belongs on beta, which runs it)")
    ));
    s.cut = false;
    s.run(1000);
    assert_eq!(s.running_on("web"), vec!["beta"]);
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
}

#[test]
fn a_lock_taken_on_one_node_holds_on_both_and_either_lifts_it() {
    let mut s = cluster("");
    s.command(ALPHA, "lock admin 2026-12-06T03:00:00", Some("l"));
    s.run(100);
    ok(&s, ALPHA, "l");
    assert!(s
        .log(BETA)
        .iter()
        .any(|l| l
            .contains("configuration locked by admin since 2026-12-06T03:00:00 (from the peer)")));
    // Settled: taken once, not sent back and forth.
    s.run(2000);
    let from_peer = |n: usize| {
        s.log(n)
            .iter()
            .filter(|l| l.ends_with("(from the peer)"))
            .count()
    };
    assert_eq!(
        (from_peer(ALPHA), from_peer(BETA)),
        (0, 1),
        "{:?}",
        s.log(ALPHA)
    );
    s.command(BETA, "service takeover web", Some("t"));
    s.run(100);
    assert!(
        matches!(s.reply(BETA, "t").map(|r| r.status), Some(Status::Err(m)) if m.contains("locked by admin")),
        "{:?}",
        s.reply(BETA, "t")
    );
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    s.command(BETA, "unlock admin", Some("u"));
    s.run(100);
    ok(&s, BETA, "u");
    assert!(s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("configuration unlocked (from the peer)")));
    s.command(ALPHA, "service failover web", Some("f"));
    s.run(100);
    ok(&s, ALPHA, "f");
    assert_eq!(s.running_on("web"), vec!["beta"]);
}

#[test]
fn licenses_entered_on_each_node_apart_are_all_kept_once_they_meet() {
    let mut s = cluster("");
    s.crash(BETA);
    s.command(ALPHA, "license alpha SN1 2027-01-01 K1", Some("la"));
    s.run(100);
    ok(&s, ALPHA, "la");
    s.crash(ALPHA);
    s.boot(BETA);
    s.run(100);
    s.command(BETA, "license beta SN2 never K2", Some("lb"));
    s.run(100);
    ok(&s, BETA, "lb");
    s.boot(ALPHA);
    s.run(3000);
    for n in [ALPHA, BETA] {
        s.command(n, "license", Some("show"));
        let body = s.reply(n, "show").map(|r| r.body).unwrap_or_default();
        assert!(
            body.contains("LICENSE alpha SN1 2027-01-01")
                && body.contains("LICENSE beta SN2 never"),
            "{}: {body}\n{}",
            NAMES[n],
            s.trace.join("\n")
        );
    }
}

#[test]
fn an_error_is_cleared_by_bringing_the_service_in_on_either_node() {
    let mut s = cluster("restart_times = 0\n");
    s.sick.push((ALPHA, "web".into()));
    s.run(1000);
    assert_eq!(words(&s, "web"), ("ERRORACT", "ACTIVEACT"));
    s.sick.clear();
    // On the peer: the reset travels with the intent and clears alpha's ERROR.
    s.command(BETA, "service bringin web", Some("in"));
    s.run(200);
    ok(&s, BETA, "in");
    assert_eq!(words(&s, "web"), ("STANDBY", "ACTIVE"));
    assert!(!s.engines[ALPHA].in_error("web"));
}

#[test]
fn an_orderly_stop_hands_over_only_what_it_runs_and_only_to_a_peer_able_to() {
    let nic = "active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\n";
    let text = config_text(&(service("web", "") + &service("idle", "") + &service("net", nic)));
    let mut s = Sim::new(&text);
    s.run(100);
    for svc in ["web", "net"] {
        s.command(ALPHA, &format!("service bringin {svc}"), None);
    }
    s.run(300);
    assert_eq!(
        (s.running_on("web"), s.running_on("net")),
        (vec!["alpha"], vec!["alpha"])
    );
    // beta's NIC fails: it could not hold net's address.
    s.set_nic(BETA, false);
    s.run(300);
    s.command(ALPHA, "stop", Some("stop"));
    s.run(200);
    assert_eq!(s.running_on("web"), vec!["beta"], "{}", s.trace.join("\n"));
    assert!(s.running_on("net").is_empty());
    let handed = |svc: &str| {
        s.log(ALPHA)
            .iter()
            .any(|l| l.starts_with(&format!("service {svc}: handed over to beta")))
    };
    assert!(handed("web") && !handed("net") && !handed("idle"));
    assert_eq!(
        s.engines[BETA].primary_ref("idle"),
        "alpha",
        "out of protection: untouched"
    );
}

#[test]
fn a_node_in_error_stays_in_error_when_the_peer_changes_the_intent() {
    let mut s = cluster("restart_times = 0\n");
    s.sick.push((ALPHA, "web".into()));
    s.run(1000);
    assert_eq!(words(&s, "web"), ("ERRORACT", "ACTIVEACT"));
    s.sick.clear();
    // The peer moves the intent on (a failover asked of it) without a reset: alpha's ERROR
    // is not cleared by it, so the service does not go back to a node that failed it.
    s.command(BETA, "service failover web", Some("fo"));
    s.run(500);
    assert!(s.engines[ALPHA].in_error("web"), "{}", s.trace.join("\n"));
    assert_eq!(s.running_on("web"), vec!["beta"]);
    // Nor by bringing it out of protection (only bringing it in is a reset).
    s.command(BETA, "service bringout web", Some("out"));
    s.run(500);
    assert!(s.engines[ALPHA].in_error("web"), "bringing out is no reset");
}

fn refused(s: &Sim, n: usize, to: &str) -> String {
    match s.reply(n, to).map(|r| r.status) {
        Some(Status::Err(m)) => m,
        other => panic!("{to} on {}: {other:?}", NAMES[n]),
    }
}

#[test]
fn moves_are_refused_with_their_reason_and_repeats_say_where_it_runs() {
    let mut s = cluster("restart_times = 0\n");
    // Already in: said, nothing moves.
    s.command(BETA, "service bringin web", Some("again"));
    s.run(100);
    let body = s.reply(BETA, "again").map(|r| r.body).unwrap_or_default();
    assert_eq!(
        body,
        "service web is already in protection and runs on alpha\n"
    );
    s.command(ALPHA, "service takeover web", Some("here"));
    s.run(100);
    let body = s.reply(ALPHA, "here").map(|r| r.body).unwrap_or_default();
    assert_eq!(body, "service web already runs here\n");
    // In ERROR on alpha: a takeover there is refused, and so is a failover to it.
    s.sick.push((ALPHA, "web".into()));
    s.run(1000);
    s.sick.clear();
    assert_eq!(words(&s, "web"), ("ERRORACT", "ACTIVEACT"));
    s.command(ALPHA, "service takeover web", Some("t1"));
    s.command(BETA, "service failover web", Some("f1"));
    s.run(100);
    assert_eq!(
        refused(&s, ALPHA, "t1"),
        "cannot takeover service web: it is in ERROR here; bring it in again first"
    );
    assert_eq!(
        refused(&s, BETA, "f1"),
        "cannot failover service web: it is in ERROR on alpha; bring it in again first"
    );
    // Out of protection: no takeover.
    s.command(BETA, "service bringout web", Some("out"));
    s.run(300);
    ok(&s, BETA, "out");
    s.command(BETA, "service takeover web", Some("t2"));
    s.run(100);
    assert_eq!(
        refused(&s, BETA, "t2"),
        "cannot takeover service web: it is out of protection; bring it in first"
    );
    // With the peer down: no move at all.
    s.command(BETA, "service bringin web", Some("in"));
    s.run(300);
    s.crash(ALPHA);
    s.run(500);
    s.command(BETA, "service failover web", Some("f2"));
    s.run(100);
    assert_eq!(
        refused(&s, BETA, "f2"),
        "cannot failover service web: peer alpha is not reachable"
    );
}

#[test]
fn a_move_of_a_group_says_so() {
    let text = config_text(&(service("web", "groupid = g\n") + &service("db", "groupid = g\n")));
    let mut s = Sim::new(&text);
    s.run(100);
    s.command(ALPHA, "service bringin web", None);
    s.run(300);
    s.command(ALPHA, "service failover web", Some("fo"));
    s.run(300);
    ok(&s, ALPHA, "fo");
    assert!(s.log(ALPHA).iter().any(|l| l
        == "service web: failing over to beta at the administrator's request (with its group: web db)"));
    let solo = cluster("");
    assert!(solo
        .log(ALPHA)
        .iter()
        .any(|l| l == "service web: brought into protection by the administrator"));
}

/// Runs the world a millisecond at a time until `to`'s reply on node `n` comes.
fn when_replied(s: &mut Sim, n: usize, to: &str) -> crate::request::Reply {
    for _ in 0..5000 {
        if let Some(r) = s.reply(n, to) {
            return r;
        }
        s.run(1);
    }
    panic!("no reply to {to} on {} within 5 s", NAMES[n]);
}

#[test]
fn each_move_replies_once_it_is_done_and_not_before() {
    use super::super::Phase::{Running, Stopped};
    let mut s = Sim::new(&config_text(&service("web", "restart_times = 0\n")));
    // Steps that take long enough for an early reply to show.
    s.step_time = 50;
    s.run(100);
    let phases = |s: &Sim| {
        (
            s.engines[ALPHA].phase_of("web"),
            s.engines[BETA].phase_of("web"),
        )
    };
    for (n, words, want) in [
        (ALPHA, "service bringin web", (Running, Stopped)),
        (ALPHA, "service failover web", (Stopped, Running)),
        (ALPHA, "service takeover web", (Running, Stopped)),
        (BETA, "service bringout web", (Stopped, Stopped)),
        (BETA, "service bringin web", (Running, Stopped)),
    ] {
        s.command(n, words, Some(words));
        let r = when_replied(&mut s, n, words);
        assert_eq!(r.status, Status::Ok, "{words}: {r:?}");
        assert_eq!(phases(&s), want, "{words}: replied before it was done");
    }
}

#[test]
fn in_a_configuration_conflict_no_move_is_asked_or_handed_over() {
    let mut s = cluster("");
    // beta's hasvrd comes back with a file of the same generation but other contents.
    s.crash(BETA);
    s.run(500);
    s.text.push_str("# edited on beta alone\n");
    s.boot(BETA);
    s.run(500);
    assert!(
        s.log(ALPHA)
            .iter()
            .any(|l| l.starts_with("configuration conflict:")),
        "{:?}",
        s.log(ALPHA)
    );
    assert_eq!(s.running_on("web"), vec!["alpha"]);
    s.command(ALPHA, "service failover web", Some("fo"));
    s.run(100);
    assert_eq!(
        refused(&s, ALPHA, "fo"),
        "cannot failover service web: the configuration differs from beta's; wait for it to be synchronised"
    );
    // An orderly stop hands nothing over to a peer whose configuration differs.
    s.command(ALPHA, "stop", None);
    s.run(300);
    assert!(!s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("handed over to beta")));
}

/// The gaps between alpha's sends over the public network from `from` on.
fn public_gaps(s: &Sim, from: crate::clock::Millis) -> Vec<crate::clock::Millis> {
    let t: Vec<crate::clock::Millis> = s
        .public_sent(ALPHA)
        .iter()
        .copied()
        .filter(|&t| t >= from)
        .collect();
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn over_the_public_network_a_late_peer_is_asked_four_times_an_interval_and_a_partitioned_one_once()
{
    let mut s = cluster("active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\n");
    s.run(1000);
    let quiet = s.public_sent(ALPHA).len();
    s.run(1000);
    assert_eq!(
        s.public_sent(ALPHA).len(),
        quiet,
        "nothing goes there at rest"
    );
    let cut = s.now;
    s.paths[0] = [Path {
        up: false,
        ..Path::default()
    }; 2];
    s.run(2000);
    // Late (no frame for an interval and a half): asked before the silence limit, every
    // quarter interval; partitioned (it answers there): once an interval.
    let first = s.public_sent(ALPHA).iter().copied().find(|&t| t >= cut);
    assert!(first.is_some_and(|t| t - cut <= 150), "{first:?}");
    let gaps = public_gaps(&s, cut);
    let quick = gaps.iter().take_while(|&&g| g == 25).count();
    assert!((4..=7).contains(&quick), "{gaps:?}");
    assert!(gaps[quick..].iter().all(|&g| g == 100), "{gaps:?}");
    assert!(gaps.len() - quick >= 15, "{gaps:?}");
    assert_eq!(
        s.engines[ALPHA].peer_status(),
        super::super::PeerStatus::Partitioned
    );
    // The cable back: nothing goes over the public network any more.
    s.paths[0] = [Path::default(); 2];
    s.run(500);
    let back = s.public_sent(ALPHA).len();
    s.run(1000);
    assert_eq!(s.public_sent(ALPHA).len(), back);
}
