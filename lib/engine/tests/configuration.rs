//! One engine's configuration and status: edits that need the peer, conflicts, what status lists, what a restart keeps.

use super::*;

#[test]
fn configuration_edits_need_the_peer() {
    let mut t = running("");
    let r = replies(&t.cmd(
        2000,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("x"),
    ));
    assert!(
        matches!(&r[0].1, Status::Err(m) if m.contains("peer beta is not reachable")),
        "{r:?}"
    );
    // A reload that drops a protected service is refused whole.
    let r = t.at(
        2000,
        Input::Reload(Ok((config::parse("t", BASE).unwrap(), BASE.into()))),
    );
    assert!(r.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("keeping the running one"))));
    assert_eq!(t.state(), "ACTIVEACT");
}

#[test]
fn status_lists_nodes_links_and_services() {
    let t = running("");
    assert_eq!(t.e.status_text(), "NODE alpha UP local\nNODE beta DOWN\nLINK lan socket ERR\nLICENSE alpha - - MISSING\nLICENSE beta - - MISSING\nCONFIG generation=1 UNKNOWN\nSERVICE web USERDEF alpha=ACTIVEACT beta=UNKNOWN\n");
}

#[test]
fn a_configuration_conflict_is_reported_not_merged() {
    use super::sim::*;
    let text = config_text(&service("web", ""));
    let mut s = Sim::new(&text);
    s.run(100);
    // Each node changes its own file by hand and reloads: both reach generation 2.
    for (n, extra) in [(ALPHA, "# alpha's edit\n"), (BETA, "# beta's edit\n")] {
        let t = format!("{text}{extra}");
        let cfg = crate::config::parse("t", &t).unwrap();
        // Through the simulated executor: the new beat must reach the link.
        s.input(n, Input::Reload(Ok((cfg, t))));
        assert!(s.log(n).iter().any(|l| l.contains("generation 2")));
    }
    s.run(300);
    assert!(
        s.engines[ALPHA]
            .status_text()
            .contains("CONFIG generation=2 CONFLICT"),
        "{}",
        s.engines[ALPHA].status_text()
    );
    assert!(s
        .log(ALPHA)
        .iter()
        .any(|l| l.contains("configuration conflict: this node and beta both have generation 2")));
    s.command(ALPHA, "service bringin web", Some("in"));
    s.run(300);
    assert!(
        s.running_on("web").is_empty(),
        "nothing moves while the nodes disagree"
    );
}

#[test]
fn configuration_changes_need_two_way_contact() {
    use super::sim::*;
    let mut s = Sim::new(&config_text(""));
    s.run(200);
    // alpha's frames no longer reach beta; alpha still hears beta.
    s.paths[0][ALPHA].up = false;
    s.paths[1][ALPHA].up = false;
    s.run(600);
    s.command(
        ALPHA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c"),
    );
    // It waits a while for contact (the last change may still be syncing), then says why.
    s.run(5_000);
    assert!(s.reply(ALPHA, "c").is_none());
    s.run(5_500);
    match s.reply(ALPHA, "c").map(|r| r.status) {
        Some(Status::Err(m)) => assert!(m.contains("beta does not hear this node"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    s.paths[0][ALPHA].up = true;
    s.paths[1][ALPHA].up = true;
    s.run(600);
    s.command(
        ALPHA,
        "service create db active_server=beta standby_server=alpha start=a stop=b",
        Some("c2"),
    );
    assert!(matches!(
        s.reply(ALPHA, "c2").map(|r| r.status),
        Some(Status::Ok)
    ));
}

#[test]
fn a_restarted_engine_still_knows_where_to_ask_the_peer_over_the_public_network() {
    use super::sim::*;
    let text = config_text(&service(
        "web",
        "active_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\n",
    ));
    let mut s = Sim::new(&text);
    s.run(300);
    let saved = s.engines[ALPHA].persisted();
    assert_eq!(
        saved.peer_public,
        vec![std::net::Ipv4Addr::new(192, 0, 2, 2)]
    );
    let parsed = crate::state::parse(&crate::state::file_text("b", &saved.to_text()), "b").unwrap();
    let mut e = Engine::new(
        "alpha",
        config::parse("t", &text).unwrap(),
        text,
        Some(parsed),
        0,
    );
    let acts = e.handle(0, Input::Tick);
    assert!(
        acts.iter().any(|a| matches!(a, Action::SendPublic { to, .. } if to == &vec![std::net::Ipv4Addr::new(192, 0, 2, 2)])),
        "{acts:?}"
    );
}

#[test]
fn a_running_service_without_a_saved_agent_pid_is_cleaned_up_not_adopted() {
    let t = running("");
    let mut saved = t.e.persisted();
    saved.services[0].agent_pid = None;
    let text = svc("");
    let mut e = Engine::new(
        "alpha",
        config::parse("t", &text).unwrap(),
        text,
        Some(saved),
        0,
    );
    let acts = e.handle(0, Input::Tick);
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Action::Run {
                step: Step::StopScript,
                ..
            }
        )),
        "{acts:?}"
    );
    assert!(acts.iter().any(|a| matches!(a, Action::Log { text, .. } if text.contains("in the middle of starting or stopping"))));
}

#[test]
fn a_stopping_node_refuses_changes_and_a_move_that_never_ends_is_given_up_in_time() {
    let mut t = running("");
    t.cmd(2000, "stop", Some("s"));
    let r = replies(&t.cmd(2001, "service bringout web", Some("b")));
    assert_eq!(
        r[0].1,
        Status::Err("SureHA is stopping on this node".into())
    );
    // A bring-in whose start never finishes: its caller hears within the waiting limit.
    let mut t = T::new(&svc("restart_times = 1\n"));
    t.cmd(0, "service bringin web", Some("in"));
    t.at(1000, Input::Tick);
    // Two start timeouts (10 s) for each of its tries and the stop between, and 30 s more.
    let limit = 2 * 10_000 * (1 + 2) + 30_000;
    assert_eq!(
        crate::config::waiting_limit(t.e.config().service("web")),
        limit
    );
    assert_eq!(crate::config::waiting_limit(None), 60_000);
    assert!(replies(&t.at(limit - 1, Input::Tick)).is_empty());
    let r = replies(&t.at(limit, Input::Tick));
    assert!(
        matches!(&r[..], [x] if matches!(&x.1, Status::Err(m) if m.contains("not done in the time allowed"))),
        "{r:?}"
    );
}

/// A beat of beta over `link` that hears us and runs our configuration as it is now.
fn beat_in_sync(e: &Engine, link: &str, seq: u64) -> Input {
    beat_of_beta(link, seq, (e.generation, e.digest), 0)
}

/// beta's beats every 100 ms after `t.now` up to `until`: what each brought.
fn beats_until(t: &mut T, until: Millis) -> Vec<Action> {
    let mut acts = Vec::new();
    let mut at = t.now + 100;
    while at <= until {
        let b = beat_in_sync(&t.e, "lan", at);
        acts.extend(t.at(at, b));
        at += 100;
    }
    acts
}

fn writes(acts: &[Action]) -> usize {
    acts.iter()
        .filter(|a| matches!(a, Action::WriteConfig { .. }))
        .count()
}

/// The text of the configuration being written, if one is.
fn written(acts: &[Action]) -> &str {
    acts.iter()
        .find_map(|a| match a {
            Action::WriteConfig { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

const CREATE: &str = "service create NAME active_server=beta standby_server=alpha start=a stop=b";

#[test]
fn edits_behind_a_write_wait_their_turn_in_order_and_give_up_saying_why() {
    let mut t = T::new(&svc(""));
    beats_until(&mut t, 200);
    let acts = t.cmd(250, &CREATE.replace("NAME", "db1"), Some("c1"));
    assert_eq!(writes(&acts), 1, "{acts:?}");
    // Two more while the first is being written: they wait, in order.
    for (i, at) in [(2, 260), (3, 270)] {
        let acts = t.cmd(
            at,
            &CREATE.replace("NAME", &format!("db{i}")),
            Some(&format!("c{i}")),
        );
        assert!(replies(&acts).is_empty() && writes(&acts) == 0, "{acts:?}");
    }
    // The write done and the peer in step again: the next one goes, then the last.
    let acts = t.at(280, Input::ConfigWritten(Ok(())));
    assert_eq!(replies(&acts), vec![ok("c1", 280)]);
    let acts = beats_until(&mut t, 380);
    assert_eq!(
        writes(&acts),
        1,
        "db2 goes once the peer runs db1: {acts:?}"
    );
    assert!(written(&acts).contains("[service db2]") && !written(&acts).contains("db3"));
    t.at(390, Input::ConfigWritten(Ok(())));
    let acts = beats_until(&mut t, 490);
    assert_eq!(writes(&acts), 1, "then db3");
    assert!(written(&acts).contains("[service db3]"));
    // A write that never ends: the edits behind it give up after ten seconds, saying why.
    t.cmd(500, &CREATE.replace("NAME", "db4"), Some("c4"));
    let acts = beats_until(&mut t, 10_400);
    assert!(replies(&acts).is_empty(), "{:?}", replies(&acts));
    let acts = beats_until(&mut t, 10_600);
    match &replies(&acts)[..] {
        [(to, Status::Err(m), _)] if to == "c4" => {
            assert!(
                m.contains("another configuration change is still reaching the peer"),
                "{m}"
            );
        }
        other => panic!("expected c4's refusal, got {other:?}"),
    }
}

#[test]
fn an_edit_is_refused_when_its_name_exists_or_the_service_is_protected_or_a_nic_is_missing() {
    // alpha is web's standby: web in protection but stopped here.
    let text = svc("").replace(
        "active_server = alpha\nstandby_server = beta",
        "active_server = beta\nstandby_server = alpha",
    );
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", Some("in"));
    beats_until(&mut t, 1500);
    assert_eq!(t.e.services["web"].phase, Phase::Stopped);
    let err = |t: &mut T, at, words: &str| match &replies(&t.cmd(at, words, Some("x")))[..] {
        [(_, Status::Err(m), _)] => m.clone(),
        other => panic!("{words}: expected a refusal, got {other:?}"),
    };
    let m = err(&mut t, 1600, &CREATE.replace("NAME", "web"));
    assert_eq!(m, "service 'web' already exists");
    let m = err(
        &mut t,
        1600,
        "privnet create-socket lan host1=alpha host2=beta ip1=10.0.0.1 ip2=10.0.0.2",
    );
    assert_eq!(m, "privnet 'lan' already exists");
    let m = err(&mut t, 1600, "service remove web");
    assert_eq!(
        m,
        "service web is in protection (STANDBY); bring it out first"
    );
    let m = err(&mut t, 1600, "service remove nosuch");
    assert_eq!(m, "no service named 'nosuch'");
    // This node's NICs are known: a service naming one it lacks here is refused.
    beats_until(&mut t, 1700);
    t.at(
        1700,
        Input::Nics(vec![NicState {
            name: "eth0".into(),
            ok: true,
            addrs: vec![],
        }]),
    );
    let m = err(
        &mut t,
        1800,
        "service create db active_server=alpha standby_server=beta start=a stop=b active_ip=192.0.2.9 active_nic=eth9 standby_nic=eth9",
    );
    assert_eq!(
        m,
        "refused: NIC eth9 does not exist on alpha (its NICs: eth0)"
    );
}

#[test]
fn a_reload_takes_each_links_new_timing_and_priority_and_keeps_what_it_heard() {
    let two = format!("{BASE}priority = 1\n\n[privnet lan2]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.1.1\nip2 = 10.0.1.2\ninterval = 100ms\npriority = 2\n");
    let mut t = T::new(&two);
    for at in (100..=500).step_by(100) {
        for link in ["lan", "lan2"] {
            let b = beat_in_sync(&t.e, link, at * 2 + u64::from(link == "lan2"));
            t.at(at, b);
        }
    }
    assert_eq!(t.e.peer.best_link(t.e.now).as_deref(), Some("lan2"));
    let heard = t.e.peer.links["lan"].last_rx;
    let text = two.replacen(
        "interval = 100ms\npriority = 1",
        "interval = 1s\npriority = 3",
        1,
    );
    t.at(
        550,
        Input::Reload(Ok((config::parse("t", &text).unwrap(), text.clone()))),
    );
    let lan = &t.e.peer.links["lan"];
    assert_eq!(
        (lan.interval, lan.late_after, lan.priority),
        (1000, 1500, 3)
    );
    assert_eq!(lan.last_rx, heard, "what was heard is kept");
    assert_eq!(t.e.peer.best_link(t.e.now).as_deref(), Some("lan"));
    assert!(lan.relays);
    // The same name, now a disk link: its frames are not repeated by a relay any more.
    let text = two.replacen(
        "type = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n",
        "type = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/sdx\ndevice2 = /dev/sdy\n",
        1,
    );
    t.at(
        600,
        Input::Reload(Ok((config::parse("t", &text).unwrap(), text.clone()))),
    );
    assert!(!t.e.peer.links["lan"].relays);
}

/// A beat of beta over lan with another configuration than ours, of our generation, and
/// without services.
fn stale_beat(e: &Engine, seq: u64) -> Input {
    beat_of_beta("lan", seq, (e.generation, e.digest ^ 1), 0)
}

fn configs_sent(acts: &[Action]) -> usize {
    acts.iter()
        .filter(|a| match a {
            Action::Send { payload, .. } => matches!(
                crate::frame::Message::decode(payload),
                Ok(crate::frame::Message::Config { .. })
            ),
            _ => false,
        })
        .count()
}

#[test]
fn our_configuration_goes_to_a_peer_that_lacks_it_but_not_while_it_is_being_written() {
    let mut t = T::new(&svc(""));
    beats_until(&mut t, 200);
    // In step: nothing to send, nothing to wake for.
    assert_eq!(t.e.sync_wakeup(), None);
    t.cmd(250, &CREATE.replace("NAME", "db"), Some("c"));
    let b = stale_beat(&t.e, 1000);
    let acts = t.at(300, b);
    assert_eq!(configs_sent(&acts), 0, "our file is in between: {acts:?}");
    // Written: it goes at once, the peer's last beat having shown it lacks it.
    let acts = t.at(350, Input::ConfigWritten(Ok(())));
    assert_eq!(configs_sent(&acts), 1, "{acts:?}");
    // Again a second later at most, as long as the peer lacks it.
    let b = stale_beat(&t.e, 1001);
    assert_eq!(configs_sent(&t.at(400, b)), 0);
    assert_eq!(t.e.sync_wakeup(), Some(1350));
    let b = stale_beat(&t.e, 1002);
    assert_eq!(configs_sent(&t.at(1350, b)), 1);
}

#[test]
fn over_a_serial_line_our_configuration_goes_one_piece_an_interval_round_and_round() {
    let text = svc("").replace(
        "type = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n",
        "type = rs232\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/ttyS0\ndevice2 = /dev/ttyS0\nbaudrate = 115200\n",
    );
    let mut t = T::new(&text);
    let count = text
        .len()
        .div_ceil(crate::engine::config_sync::CONFIG_PIECE);
    assert!(count >= 2, "{}", text.len());
    let mut pieces = Vec::new();
    let mut told = 0;
    let mut told_before = Vec::new();
    for at in (100..=100 * (count as u64 + 1) * 2).step_by(100) {
        let b = stale_beat(&t.e, at);
        for a in t.at(at, b) {
            match a {
                Action::Send { link, payload } => {
                    assert_eq!(link.as_deref(), Some("lan"));
                    match crate::frame::Message::decode(&payload) {
                        Ok(crate::frame::Message::ConfigPart {
                            index, count: c, ..
                        }) => {
                            assert_eq!(c as usize, count);
                            pieces.push(index as usize);
                        }
                        other => panic!("only pieces go over a serial line: {other:?}"),
                    }
                }
                Action::Log { text, .. } if text.contains("sending ours in") => {
                    // Said as a round begins: the next piece is the first.
                    told += 1;
                    told_before.push(pieces.len());
                }
                _ => {}
            }
        }
    }
    // One an interval (the first beat only makes the peer known), round and round; told once a round.
    let expected: Vec<usize> = (0..pieces.len()).map(|i| i % count).collect();
    assert_eq!(pieces, expected);
    assert!(pieces.len() >= 2 * count, "{pieces:?}");
    assert_eq!(told, pieces.len().div_ceil(count));
    assert!(
        told_before.iter().all(|&i| pieces[i] == 0),
        "{told_before:?} {pieces:?}"
    );
}

#[test]
fn a_configuration_that_fits_one_frame_goes_whole_and_a_byte_more_goes_in_pieces() {
    let fits = crate::frame::MAX_PAYLOAD - 300;
    for (len, whole) in [(fits, true), (fits + 1, false)] {
        let base = svc("");
        // Comment lines of 64 bytes, then one of what is left (at least "#\n").
        let mut text = base.clone();
        while len - text.len() > 66 {
            text.push_str(&format!("#{}\n", "x".repeat(62)));
        }
        let left = len - text.len();
        text.push_str(&format!("#{}\n", "x".repeat(left - 2)));
        assert_eq!(text.len(), len);
        let mut t = T::new(&text);
        let b = stale_beat(&t.e, 1);
        let mut acts = t.at(100, b);
        let b = stale_beat(&t.e, 2);
        acts.extend(t.at(200, b));
        let pieces = acts
            .iter()
            .filter(|a| matches!(a, Action::Send { payload, .. } if matches!(crate::frame::Message::decode(payload), Ok(crate::frame::Message::ConfigPart { .. }))))
            .count();
        assert_eq!(
            (configs_sent(&acts), pieces == 2),
            (usize::from(whole), !whole),
            "{len}"
        );
    }
}

#[test]
fn a_change_of_key_needs_the_peer_up_hearing_this_node_and_every_link_encrypted() {
    let mut t = T::new(&svc(""));
    let refusal = |t: &mut T, at| match &replies(&t.cmd(at, "authkey rotate", Some("k")))[..] {
        [(_, Status::Err(m), _)] => m.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refusal(&mut t, 100).starts_with("beta must be up and hear this node"));
    // Up, but deaf to this node.
    for at in [200, 300] {
        let mut b = beat_in_sync(&t.e, "lan", at);
        if let Input::Frame { payload, .. } = &mut b {
            let Ok(crate::frame::Message::Beat(mut beat)) = crate::frame::Message::decode(payload)
            else {
                unreachable!()
            };
            beat.hears_you = false;
            *payload = crate::frame::Message::Beat(beat).encode();
        }
        t.at(at, b);
    }
    assert_eq!(t.e.peer_status(), PeerStatus::Up);
    assert!(refusal(&mut t, 350).starts_with("beta must be up and hear this node"));
    beats_until(&mut t, 500);
    t.at(
        500,
        Input::LinkStats {
            link: "lan".into(),
            line: "rx=9 up=9 encrypted=no".into(),
        },
    );
    assert!(refusal(&mut t, 550).starts_with("link lan is not encrypted"));
    t.at(
        600,
        Input::LinkStats {
            link: "lan".into(),
            line: "rx=10 up=10 encrypted=yes".into(),
        },
    );
    let acts = t.cmd(650, "authkey rotate", Some("k"));
    assert_eq!(replies(&acts)[0].1, Status::Ok);
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Key(KeyFiles::Make))));
}

#[test]
fn a_new_link_is_written_with_its_type_first_and_once() {
    let mut t = T::new(&svc(""));
    beats_until(&mut t, 200);
    let acts = t.cmd(
        250,
        "privnet create-socket lan2 host1=alpha host2=beta ip1=10.0.1.1 ip2=10.0.1.2 type=socket",
        Some("c"),
    );
    let text = written(&acts);
    assert!(
        text.contains("[privnet lan2]\ntype = socket\nhost1 = alpha\n"),
        "{text}"
    );
    assert_eq!(text.matches("type = socket").count(), 2, "lan's and lan2's");
}

/// A beat of beta over lan with `generation` and a digest other than ours.
fn beat_of_generation(e: &Engine, generation: u64, seq: u64) -> Input {
    beat_of_beta("lan", seq, (generation, e.digest ^ 1), 0)
}

#[test]
fn status_says_whose_configuration_is_newer_what_was_refused_and_who_is_ready() {
    let text = format!(
        "{}\n[service db]\nactive_server = alpha\nstandby_server = beta\nstart = db.start\nstop = db.stop\n",
        svc("")
    );
    let mut t = T::new(&text);
    let config_word = |t: &T| {
        let s = t.e.status_text();
        s.lines()
            .find(|l| l.starts_with("CONFIG "))
            .unwrap_or_default()
            .to_string()
    };
    beats_until(&mut t, 200);
    assert_eq!(config_word(&t), "CONFIG generation=1 SAME");
    let b = beat_of_generation(&t.e, 2, 300);
    let acts = t.at(300, b);
    assert_eq!(config_word(&t), "CONFIG generation=1 PEER-NEWER");
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Log { text, .. } if text.contains("conflict"))),
        "a newer configuration is no conflict: {acts:?}"
    );
    t.e.generation = 3;
    let b = beat_of_generation(&t.e, 2, 400);
    t.at(400, b);
    assert_eq!(config_word(&t), "CONFIG generation=3 PEER-OLDER");
    // Readiness: this node's verdicts, and the peer's as its report says.
    let facts = crate::engine::LocalFacts {
        files: vec![],
        devices: vec![],
    };
    t.at(600, Input::Readiness(facts));
    let report = crate::frame::Message::Report {
        sender: "beta".into(),
        text: "READY web yes\nREADY db no start /opt/db.start is missing\nMOVE web out (moved): total 12ms\n".into(),
    }
    .encode();
    t.e.generation = 1;
    beats_until(&mut t, 700);
    t.at(
        700,
        Input::Frame {
            link: "lan".into(),
            boot: 3,
            seq: 10_000,
            payload: report,
        },
    );
    beats_until(&mut t, 800);
    let s = t.e.status_text();
    for line in [
        "READY web alpha yes\n",
        "READY web beta yes\n",
        "READY db alpha yes\n",
        "READY db beta no start /opt/db.start is missing\n",
        "PEERMOVE beta web out (moved): total 12ms\n",
    ] {
        assert!(s.contains(line), "{line}{s}");
    }
    let r = t.cmd(800, "service review db", Some("r"));
    let body = reply_body(&r);
    assert!(
        body.contains("# READY db beta no") && !body.contains("web"),
        "{body}"
    );
    let mut m = crate::metrics::Metrics::default();
    t.e.metrics(&mut m);
    let m = m.text();
    for (svc, node, v) in [("web", "beta", 1), ("db", "beta", 0), ("db", "alpha", 1)] {
        let sample = format!("sureha_service_ready{{service=\"{svc}\",node=\"{node}\"}} {v}\n");
        assert!(m.contains(&sample), "{sample}{m}");
    }
}

#[test]
fn status_says_how_many_request_lines_were_dropped_and_agent_calls_refused() {
    let mut t = running("");
    // As many lines dropped as agent calls refused: both are said.
    t.at(2000, Input::RequestsDropped(2));
    let cmd = |w: &str| {
        let w: Vec<String> = w.split(' ').map(str::to_string).collect();
        crate::request::parse_command(&w).unwrap()
    };
    for _ in 0..2 {
        t.at(
            2000,
            Input::Command {
                cmd: cmd("apiok web"),
                reply: None,
                caller: Some(99_999),
            },
        );
    }
    let s = t.e.status_text();
    assert!(s.contains("REQUESTS dropped=2 refused=2\n"), "{s}");
}

#[test]
fn a_reload_that_drops_a_service_in_protection_is_refused_even_where_it_is_stopped() {
    // In ERROR here: stopped, still in protection.
    let mut t = running("");
    let acts = t.cmd(2000, "apierr web", None);
    t.run_plan(2000, acts);
    assert_eq!(t.state(), "ERRORACT");
    assert_eq!(t.e.services["web"].phase, Phase::Stopped);
    let acts = t.at(
        2100,
        Input::Reload(Ok((config::parse("t", BASE).unwrap(), BASE.into()))),
    );
    assert!(acts.iter().any(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("service web is in protection"))), "{acts:?}");
    assert!(t.e.services.contains_key("web"));
}
